// Checks the message_queue demo with a real tool, util-linux's `ipcs -q`:
// while `demo --pause` holds its System V queue, ipcs lists the queue with
// the four messages the demo put in; after the demo ends, ipcs lists nothing
// for that key and the kernel holds no queue of the demo's, System V or
// POSIX. Proof that the reference solution's owner really removes its queues.
//
//   bazel test //tests/message_queue:demo_ipcs_test

#include <fcntl.h>
#include <mqueue.h>
#include <poll.h>
#include <sys/ipc.h>
#include <sys/msg.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <optional>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "tests/support/kata.h"

namespace {

using namespace std::chrono_literals;

// A program started with its stdin and stdout on pipes; reaped by Finish().
class Program {
 public:
  explicit Program(std::vector<std::string> argv) {
    int in[2], out[2];
    if (pipe2(in, O_CLOEXEC) != 0 || pipe2(out, O_CLOEXEC) != 0) {
      throw std::system_error(errno, std::generic_category(), "pipe2");
    }
    std::vector<char*> args;
    for (std::string& arg : argv) args.push_back(arg.data());
    args.push_back(nullptr);
    std::fflush(nullptr);
    pid_ = fork();
    if (pid_ == 0) {
      dup2(in[0], STDIN_FILENO);
      dup2(out[1], STDOUT_FILENO);
      execvp(args[0], args.data());
      _exit(127);
    }
    close(in[0]);
    close(out[1]);
    stdin_ = in[1];
    stdout_ = out[0];
  }
  Program(const Program&) = delete;
  Program& operator=(const Program&) = delete;
  ~Program() {
    CloseStdin();
    if (stdout_ >= 0) close(stdout_);
    if (pid_ > 0) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
  }

  // Reads output until `line_start` begins a line, or `limit` passes; returns
  // that line.
  std::optional<std::string> WaitForLine(const std::string& line_start,
                                         std::chrono::milliseconds limit) {
    const auto until = std::chrono::steady_clock::now() + limit;
    for (;;) {
      std::size_t at = output_.rfind("\n" + line_start);
      if (output_.rfind(line_start, 0) == 0) at = 0;
      if (at != std::string::npos) {
        if (at > 0) ++at;
        std::size_t end = output_.find('\n', at);
        if (end != std::string::npos) return output_.substr(at, end - at);
      }
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          until - std::chrono::steady_clock::now());
      if (left.count() <= 0 || !ReadSome(left)) return std::nullopt;
    }
  }

  void CloseStdin() {
    if (stdin_ >= 0) close(std::exchange(stdin_, -1));
  }
  void Write(const std::string& text) {
    if (write(stdin_, text.data(), text.size()) < 0) {
      ADD_FAILURE() << "write to the program: " << std::strerror(errno);
    }
  }

  // Reads the rest of the output and reaps the program; its exit code.
  int Finish() {
    CloseStdin();
    while (ReadSome(10s)) {
    }
    int status = 0;
    while (waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
    }
    pid_ = -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  }

  const std::string& output() const { return output_; }

 private:
  bool ReadSome(std::chrono::milliseconds limit) {
    pollfd entry{stdout_, POLLIN, 0};
    if (poll(&entry, 1, static_cast<int>(limit.count())) <= 0) return false;
    char buffer[4096];
    ssize_t n = read(stdout_, buffer, sizeof(buffer));
    if (n <= 0) return false;
    output_.append(buffer, static_cast<std::size_t>(n));
    return true;
  }

  pid_t pid_ = -1;
  int stdin_ = -1, stdout_ = -1;
  std::string output_;
};

// What `ipcs <args>` prints.
std::string Ipcs(std::vector<std::string> args) {
  args.insert(args.begin(), "ipcs");
  Program ipcs(args);
  const int code = ipcs.Finish();
  EXPECT_EQ(code, 0) << "ipcs failed (is util-linux installed?): "
                     << ipcs.output();
  return ipcs.output();
}

// The row `ipcs -q` prints for `key` ("0x4b00123a"), split into columns:
// key, msqid, owner, perms, used-bytes, messages.
std::optional<std::vector<std::string>> IpcsRow(const std::string& listing,
                                                const std::string& key) {
  std::istringstream lines(listing);
  std::string line;
  while (std::getline(lines, line)) {
    if (line.rfind(key, 0) != 0) continue;
    std::istringstream fields(line);
    std::vector<std::string> columns;
    for (std::string field; fields >> field;) columns.push_back(field);
    return columns;
  }
  return std::nullopt;
}

// The ids of all System V queues this test's IPC namespace holds.
std::set<int> SysvQueueIds() {
  std::ifstream in("/proc/sysvipc/msg");
  std::string line;
  std::getline(in, line);  // header
  std::set<int> ids;
  long key = 0;
  int id = 0;
  while (in >> key >> id) {
    ids.insert(id);
    std::getline(in, line);
  }
  return ids;
}

// Tests that ipcs -q shows the demo's queue, with the messages the demo
// sent, while the demo runs, and nothing of it once the demo has ended.
TEST(DemoIpcs, ShowsTheQueueWhileTheDemoRunsAndNothingAfter) {
  kata::OnDeadlock("the demo or ipcs did not finish", 20s);
  Program demo({kata::RunfilePath("solutions/message_queue/demo"), "--pause"});
  const std::optional<std::string> paused = demo.WaitForLine("paused:", 10s);
  ASSERT_TRUE(paused.has_value()) << "the demo never paused; it printed:\n"
                                  << demo.output();
  std::smatch match;
  const std::regex pattern("queue key (0x[0-9a-f]{8}) id ([0-9]+) holds 4");
  ASSERT_TRUE(std::regex_search(*paused, match, pattern)) << *paused;
  const std::string key = match[1];
  const int id = std::stoi(match[2]);

  // While the demo waits, a real tool asks the kernel.
  const std::string listing = Ipcs({"-q"});
  const std::optional<std::vector<std::string>> row = IpcsRow(listing, key);
  ASSERT_TRUE(row.has_value())
      << "ipcs -q lists no queue with key " << key << ":\n"
      << listing;
  ASSERT_EQ(row->size(), 6u) << listing;
  EXPECT_EQ((*row)[1], std::to_string(id)) << "msqid";
  EXPECT_EQ((*row)[3], "600") << "perms";
  EXPECT_EQ((*row)[4], "20") << "used-bytes: three + one + two + one again";
  EXPECT_EQ((*row)[5], "4") << "messages";
  EXPECT_NE(Ipcs({"-q", "-i", std::to_string(id)}).find("qnum=4"),
            std::string::npos);
  // The demo's own ipcs section agrees.
  EXPECT_TRUE(IpcsRow(demo.output().substr(0, demo.output().find("paused:")),
                      "    " + key)
                  .has_value())
      << demo.output();

  demo.Write("\n");
  const int code = demo.Finish();
  EXPECT_EQ(code, 0) << demo.output();
  EXPECT_FALSE(IpcsRow(Ipcs({"-q"}), key).has_value())
      << "ipcs -q still lists key " << key << " after the demo ended";
  msqid_ds info{};
  EXPECT_EQ(msgctl(id, IPC_STAT, &info), -1)
      << "queue id " << id << " outlived the demo";
  EXPECT_NE(demo.output().find("(no line for key " + key + ")"),
            std::string::npos)
      << "the demo's last ipcs -q should show its queue gone:\n"
      << demo.output();
}

// Tests that the demo, run straight through as `bazel run` does, ends well
// and leaves no queue of either kind behind.
TEST(DemoIpcs, RunsToTheEndAndLeavesNothing) {
  kata::OnDeadlock("the demo did not finish", 20s);
  const std::set<int> before = SysvQueueIds();
  Program demo({kata::RunfilePath("solutions/message_queue/demo")});
  const int code = demo.Finish();
  EXPECT_EQ(code, 0) << demo.output();
  EXPECT_EQ(SysvQueueIds(), before) << "System V queues left behind";
  std::smatch match;
  const std::regex posix("created (/kata-demo-[0-9]+):");
  ASSERT_TRUE(std::regex_search(demo.output(), match, posix)) << demo.output();
  const std::string name = match[1];
  mqd_t queue = mq_open(name.c_str(), O_RDONLY);
  EXPECT_EQ(queue, static_cast<mqd_t>(-1))
      << "the POSIX queue " << name << " is still there";
  if (queue != static_cast<mqd_t>(-1)) {
    mq_close(queue);
    mq_unlink(name.c_str());
  }
  EXPECT_NE(demo.output().find("each job exactly once"), std::string::npos);
}

}  // namespace
