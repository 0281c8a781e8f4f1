// Interoperability with a System V peer that nobody in this project wrote:
// Debian's python3-sysv-ipc (tools/setup.sh installs it), driven by
// tests/message_queue/sysv_ipc_peer.py under Debian's /usr/bin/python3.
//
// The reference solution's SysvQueue and the peer exchange typed messages in
// both directions with each kind of type selection (msgrcv's msgtyp > 0, < 0
// and 0), and each side sees the queue removed under its blocked receive as
// a clear error: the kata's std::system_error naming msgrcv with EIDRM, the
// library's ExistentialError.

#include <dirent.h>
#include <sys/types.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "message_queue/message_queue.h"
#include "tests/support/kata.h"

namespace {

using kata::message_queue::Any;
using kata::message_queue::Exactly;
using kata::message_queue::LowestUpTo;
using kata::message_queue::Message;
using kata::message_queue::SysvQueue;
using ::testing::HasSubstr;
using namespace std::chrono_literals;

// A key of this process's own: the library attaches by key, not by id.
key_t FreshKey() {
  static int count = 0;
  return static_cast<key_t>(0x6b000000 | ((getpid() & 0xffff) << 8) |
                            (++count & 0xff));
}

// Runs the peer; returns its exit code and everything it printed.
std::pair<int, std::string> RunPeer(key_t key, const std::string& command) {
  const std::string line =
      "/usr/bin/python3 " +
      kata::RunfilePath("tests/message_queue/sysv_ipc_peer.py") + " " +
      std::to_string(key) + " " + command + " 2>&1";
  std::fflush(nullptr);
  FILE* pipe = popen(line.c_str(), "r");
  if (pipe == nullptr) return {-1, "popen failed"};
  std::string output;
  char buffer[512];
  std::size_t n;
  while ((n = std::fread(buffer, 1, sizeof(buffer), pipe)) > 0) {
    output.append(buffer, n);
  }
  const int status = pclose(pipe);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : 128, output};
}

constexpr char kPeerMissing[] =
    "the peer could not run: is python3-sysv-ipc installed? tools/setup.sh "
    "installs it";

// All processes below `pid`, from /proc.
std::vector<pid_t> Descendants(pid_t pid) {
  std::vector<pid_t> found, todo{pid};
  while (!todo.empty()) {
    const pid_t next = todo.back();
    todo.pop_back();
    std::ifstream in("/proc/" + std::to_string(next) + "/task/" +
                     std::to_string(next) + "/children");
    pid_t child;
    while (in >> child) {
      found.push_back(child);
      todo.push_back(child);
    }
  }
  return found;
}

// Waits until a process below `pid` sleeps in msgrcv (wchan do_msgrcv).
bool WaitForReceiverBelow(pid_t pid) {
  const auto until = std::chrono::steady_clock::now() + kata::Scaled(5s);
  while (std::chrono::steady_clock::now() < until) {
    for (pid_t process : Descendants(pid)) {
      std::ifstream in("/proc/" + std::to_string(process) + "/wchan");
      std::string wchan;
      if (in >> wchan && wchan == "do_msgrcv") return true;
    }
    std::this_thread::sleep_for(5ms);
  }
  return false;
}

// Tests the kata's receives of the peer's messages: by exact type (msgtyp
// 2), the lowest type up to 2 (msgtyp -2), then the oldest (msgtyp 0).
TEST(SysvIpcPeer, KataReceivesWhatThePeerSentByType) {
  const key_t key = FreshKey();
  SysvQueue queue = SysvQueue::Create(key);
  const auto [code, output] = RunPeer(key, "send");
  ASSERT_EQ(code, 0) << output << kPeerMissing;
  EXPECT_EQ(queue.Receive(Exactly(2)), (Message{2, "two"}));
  EXPECT_EQ(queue.Receive(LowestUpTo(2)), (Message{1, "one-a"}));
  EXPECT_EQ(queue.Receive(Any()), (Message{3, "three"}));
  EXPECT_EQ(queue.Receive(Any()), (Message{1, "one-b"}));
}

// Tests the peer's receives of the kata's messages, with the same choices.
TEST(SysvIpcPeer, PeerReceivesWhatTheKataSentByType) {
  const key_t key = FreshKey();
  SysvQueue queue = SysvQueue::Create(key);
  queue.Send(3, "three");
  queue.Send(1, "one-a");
  queue.Send(2, "two");
  queue.Send(1, "one-b");
  const auto [code, output] = RunPeer(key, "receive");
  ASSERT_EQ(code, 0) << output << kPeerMissing;
  EXPECT_EQ(output, "2 two\n1 one-a\n3 three\n1 one-b\n");
  EXPECT_EQ(queue.Status().messages, 0u);
}

// Tests the kata's blocked receive when the peer removes the queue: a
// std::system_error with EIDRM naming msgrcv, not a hang or a message.
TEST(SysvIpcPeer, KataReceiverSeesTheQueueRemovedByThePeer) {
  kata::OnDeadlock("the kata's receive went on waiting on a removed queue",
                   10s);
  const key_t key = FreshKey();
  SysvQueue queue = SysvQueue::Create(key);
  kata::Child remover([&] {
    ASSERT_TRUE(kata::WaitUntilBlocked(kata::RunnerPid()));
    const auto [code, output] = RunPeer(key, "remove");
    EXPECT_EQ(code, 0) << output << kPeerMissing;
  });
  try {
    const Message got = queue.Receive();
    ADD_FAILURE() << "received type " << got.type << " \"" << got.text
                  << "\" from a queue that was removed";
  } catch (const std::system_error& e) {
    EXPECT_EQ(e.code().value(), EIDRM) << e.what();
    EXPECT_THAT(e.what(), HasSubstr("msgrcv"));
  }
  remover.Join();
}

// Tests the peer's blocked receive when the kata removes the queue: the
// library raises its ExistentialError, the peer is not left waiting.
TEST(SysvIpcPeer, PeerReceiverSeesTheQueueRemovedByTheKata) {
  kata::OnDeadlock("the peer went on waiting on a removed queue", 10s);
  const key_t key = FreshKey();
  SysvQueue queue = SysvQueue::Create(key);
  kata::SharedText said;
  kata::Child waiter([&] {
    const auto [code, output] = RunPeer(key, "wait");
    said.Store(std::to_string(code) + ": " + output);
  });
  const bool blocked = WaitForReceiverBelow(waiter.pid());
  queue.Remove();
  waiter.Join();
  ASSERT_TRUE(blocked) << "the peer never blocked in msgrcv: " << said.Load()
                       << kPeerMissing;
  EXPECT_THAT(said.Load(), HasSubstr("0: ExistentialError"));
}

}  // namespace
