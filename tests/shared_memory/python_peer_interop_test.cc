// Interoperability of the reference SharedCounter with a peer that nobody in
// this project wrote and that shares none of its code: Python's mmap of the
// POSIX object and glibc's sem_* reached through ctypes
// (tests/shared_memory/python_counter_peer.py, under Debian's
// /usr/bin/python3). The peer knows only the layout that the exercise README
// documents ("On the wire"): the lock at offset 0, the value at offset 32.
//
// Both sides increment one counter at the same time, each under its own
// reading of the lock, and no increment is lost; each side sees the lock the
// other holds as taken, and free once released.

#include <sys/wait.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <string>
#include <thread>
#include <utility>

#include "gtest/gtest.h"
#include "shared_memory/shared_memory.h"
#include "tests/support/kata.h"

namespace {

using kata::shm::AddUnderLock;
using kata::shm::SharedCounter;
using kata::shm::SharedObject;
using namespace std::chrono_literals;

constexpr char kLayout[] =
    "\n  Hint: the peer maps the object itself and uses the lock at offset 0 "
    "and the value at offset 32 (exercises/shared_memory/README.md, \"On the "
    "wire\")";

// The Python peer as a child process whose output this side reads.
class Peer {
 public:
  Peer(const std::string& name, const std::string& command) {
    const std::string line =
        "/usr/bin/python3 " +
        kata::RunfilePath("tests/shared_memory/python_counter_peer.py") + " " +
        name + " " + command + " 2>&1";
    std::fflush(nullptr);
    pipe_ = popen(line.c_str(), "r");
  }
  ~Peer() {
    if (pipe_ != nullptr) Finish();
  }
  Peer(const Peer&) = delete;
  Peer& operator=(const Peer&) = delete;

  bool started() const { return pipe_ != nullptr; }

  // The next line the peer prints, without its newline ("" at its end).
  std::string ReadLine() {
    std::string line;
    for (int c; pipe_ != nullptr && (c = std::fgetc(pipe_)) != EOF;) {
      if (c == '\n') break;
      line.push_back(static_cast<char>(c));
    }
    output_ += line + "\n";
    return line;
  }

  // Waits for the peer's end: its exit code and everything it printed.
  std::pair<int, std::string> Finish() {
    if (pipe_ == nullptr) return {-1, output_ + "(popen failed)"};
    char buffer[512];
    std::size_t n;
    while ((n = std::fread(buffer, 1, sizeof(buffer), pipe_)) > 0) {
      output_.append(buffer, n);
    }
    const int status = pclose(std::exchange(pipe_, nullptr));
    return {WIFEXITED(status) ? WEXITSTATUS(status) : 128, output_};
  }

 private:
  FILE* pipe_ = nullptr;
  std::string output_;
};

constexpr char kPeerMissing[] =
    "the Python peer could not run (Debian's /usr/bin/python3; tools/setup.sh "
    "installs python3)";

// Tests one counter incremented by the kata and the Python peer at the same
// time: the final value is the start plus both sides' increments, so the two
// used one lock, at the documented offset, and one value.
TEST(PythonPeer, BothSidesIncrementOneCounterUnderOneLock) {
  kata::OnDeadlock("the kata and the Python peer counted together", 30s);
  const std::string name = kata::UniqueName("py-counter");
  auto counter = SharedObject<SharedCounter>::Create(name);
  ASSERT_TRUE(AddUnderLock(*counter, 5, 1s));
  constexpr int kPeerAdds = 100000;
  std::atomic<bool> peer_done{false};
  std::pair<int, std::string> peer_result;
  std::thread peer([&] {
    Peer python(name, "add " + std::to_string(kPeerAdds));
    peer_result = python.Finish();
    peer_done = true;
  });
  // Increment for as long as the peer runs, and a little more, so that the
  // two sides overlap whatever the peer's start-up time.
  long ours = 0;
  bool ours_done = true;
  while (!peer_done && ours_done) {
    ours_done = AddUnderLock(*counter, 10, 5s);
    ours += 10;
  }
  peer.join();
  ASSERT_TRUE(ours_done) << "the kata's lock stayed taken for 5 s while the "
                            "peer counted"
                         << kLayout;
  ASSERT_EQ(peer_result.first, 0) << kPeerMissing << "\n" << peer_result.second;
  EXPECT_EQ(counter->value, 5 + ours + kPeerAdds)
      << "increments were lost: the kata added " << ours << ", the peer "
      << kPeerAdds << " (peer: " << peer_result.second << ")" << kLayout;
}

// Tests the lock in both directions: what one side holds, the other finds
// taken; once released, free.
TEST(PythonPeer, EachSideSeesTheLockTheOtherHolds) {
  kata::OnDeadlock("the kata and the Python peer took turns at the lock", 30s);
  const std::string name = kata::UniqueName("py-lock");
  auto counter = SharedObject<SharedCounter>::Create(name);

  ASSERT_TRUE(counter->lock.WaitFor(1s));
  {
    Peer python(name, "try");
    auto [code, output] = python.Finish();
    ASSERT_EQ(code, 0) << kPeerMissing << "\n" << output;
    EXPECT_EQ(output, "taken\n")
        << "the peer found the lock free while the kata held it" << kLayout;
  }
  counter->lock.Post();
  {
    Peer python(name, "try");
    auto [code, output] = python.Finish();
    ASSERT_EQ(code, 0) << output;
    EXPECT_EQ(output, "free\n") << kLayout;
  }

  Peer holder(name, "hold 1");
  ASSERT_TRUE(holder.started()) << kPeerMissing;
  ASSERT_EQ(holder.ReadLine(), "held") << holder.Finish().second;
  EXPECT_FALSE(AddUnderLock(*counter, 1, 100ms))
      << "the kata took the lock while the peer held it" << kLayout;
  auto [code, output] = holder.Finish();
  ASSERT_EQ(code, 0) << output;
  EXPECT_TRUE(AddUnderLock(*counter, 1, 1s))
      << "the lock stayed taken after the peer released it" << kLayout;
  EXPECT_EQ(counter->value, 1);
}

}  // namespace
