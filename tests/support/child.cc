// kata::Child: run test code in a forked process and bring its failures home.

#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <exception>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>

#include "gtest/gtest-spi.h"
#include "gtest/gtest.h"
#include "tests/support/internal.h"
#include "tests/support/kata.h"

namespace kata {
namespace {

// Exit codes of a kata::Child, read by Join().
constexpr int kChildPassed = 0;
constexpr int kChildFailed = 1;

// The last thing a child writes on its results pipe once its test code has
// run to the end. Without it, exit code 0 would also be what a child shows
// when the code under test calls exit(0) halfway through the test.
constexpr char kBodyFinished[] =
    "\x06"
    "body finished";

// Why `pid` died of `signal`. A SIGPIPE has two stories that look alike from
// outside: the signal was neither blocked nor ignored when a write raised it,
// or it was blocked for the write but still pending when the mask came back
// (interpose.c notes a process that unblocks a pending SIGPIPE).
std::string DeathMeaning(pid_t pid, int signal) {
  if (signal == SIGPIPE && kata_interpose != nullptr) {
    pid_t noted = pid;
    if (__atomic_compare_exchange_n(&kata_interpose->sigpipe_unblocked_pid,
                                    &noted, 0, false, __ATOMIC_ACQ_REL,
                                    __ATOMIC_ACQUIRE)) {
      return "SIGPIPE was blocked for the write, but the one the write raised "
             "was still pending when the signal mask was restored, and was "
             "delivered then (Linux raises SIGPIPE for a short write to a "
             "pipe whose reader left, not only with EPIPE); before restoring "
             "the mask, take it with sigtimedwait() and a zero timeout "
             "whether write() failed with EPIPE or returned a short count";
    }
  }
  return internal::SignalMeaning(signal);
}

// A failure travels as: <file>\n<line>\n<message>\0
std::string Encode(const testing::TestPartResult& result) {
  std::string record = result.file_name() ? result.file_name() : "";
  record += "\n" + std::to_string(result.line_number()) + "\n";
  record += result.message();
  record.push_back('\0');
  return record;
}

void ReportFailures(const std::string& data, pid_t pid) {
  std::size_t start = 0;
  while (start < data.size()) {
    std::size_t end = data.find('\0', start);
    if (end == std::string::npos) end = data.size();
    std::string record = data.substr(start, end - start);
    start = end + 1;
    std::size_t first = record.find('\n');
    std::size_t second = record.find('\n', first + 1);
    std::string file = record.substr(0, first);
    int line = std::atoi(record.substr(first + 1, second - first - 1).c_str());
    std::string message = record.substr(second + 1);
    const char* where = file.empty() ? "unknown file" : file.c_str();
    ADD_FAILURE_AT(where, line < 0 ? 0 : line)
        << "[child " << pid << "] " << message;
  }
}

std::string ReadToEnd(int fd) {
  std::string data;
  char buffer[4096];
  for (;;) {
    ssize_t n = read(fd, buffer, sizeof(buffer));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    data.append(buffer, static_cast<std::size_t>(n));
  }
  return data;
}

// The running body's results, and how many of them went out already.
struct BodyResults {
  int fd = -1;
  testing::TestPartResultArray* results = nullptr;
  int sent = 0;
  bool failed = false;
};
BodyResults g_body;

// Writes the body's failures not yet sent, then the finished marker.
void SendResults() {
  for (; g_body.sent < g_body.results->size(); ++g_body.sent) {
    const testing::TestPartResult& result =
        g_body.results->GetTestPartResult(g_body.sent);
    if (result.failed()) {
      g_body.failed = true;
      internal::WriteRaw(g_body.fd, Encode(result));
    }
  }
  internal::WriteRaw(g_body.fd, kBodyFinished);
}

[[noreturn]] void RunBodyAndExit(const std::function<void()>& body,
                                 int results_fd) {
  internal::MarkKataChild();
  kata_bypass_reset();  // the body is test code: its calls count
  pid_t self = getpid();
  {
    testing::TestPartResultArray results;
    g_body = BodyResults{results_fd, &results};
    testing::ScopedFakeTestPartResultReporter reporter(
        testing::ScopedFakeTestPartResultReporter::INTERCEPT_ALL_THREADS,
        &results);
    try {
      body();
    } catch (const std::exception& e) {
      ADD_FAILURE() << "exception thrown in the child: " << e.what();
    } catch (...) {
      ADD_FAILURE() << "unknown exception thrown in the child";
    }
    if (getpid() != self) {
      // A process forked inside `body` returned all the way up here.
      internal::MarkKataChild();
      ADD_FAILURE() << "a process forked inside a test child (pid " << getpid()
                    << ") returned instead of ending with _exit()"
                    << Hint(
                           "end every forked child with _exit(), never return");
    }
    SendResults();
  }
  _exit(g_body.failed ? kChildFailed : kChildPassed);
}

}  // namespace

Child::Child(std::function<void()> body) {
  internal::Bypass quiet;
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) {
    throw std::system_error(errno, std::generic_category(),
                            "pipe2(kata::Child)");
  }
  internal::RegisterSupportObject(fds[0]);
  std::fflush(nullptr);  // or buffered output would be printed twice
  pid_ = fork();
  if (pid_ < 0) {
    int error = errno;
    close(fds[0]);
    close(fds[1]);
    throw std::system_error(error, std::generic_category(),
                            "fork(kata::Child)");
  }
  if (pid_ == 0) {
    close(fds[0]);
    RunBodyAndExit(body, fds[1]);
  }
  close(fds[1]);
  results_fd_ = fds[0];
}

Child::Child(Child&& other) noexcept
    : pid_(std::exchange(other.pid_, -1)),
      results_fd_(std::exchange(other.results_fd_, -1)) {}

Child::~Child() {
  internal::Bypass quiet;
  if (pid_ > 0) {
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
  }
  if (results_fd_ >= 0) close(results_fd_);
}

void Child::Join() {
  if (pid_ <= 0) return;
  internal::Bypass quiet;
  std::string failures = ReadToEnd(results_fd_);
  close(results_fd_);
  results_fd_ = -1;
  int status = 0;
  while (waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
  }
  pid_t pid = std::exchange(pid_, -1);
  const std::string_view finished = kBodyFinished;
  const bool body_finished = failures.ends_with(finished);
  // (A process forked in the body that returned into it wrote one too.)
  for (std::size_t at; (at = failures.find(finished)) != std::string::npos;) {
    failures.erase(at, finished.size());
  }
  ReportFailures(failures, pid);
  if (WIFSIGNALED(status)) {
    int signal = WTERMSIG(status);
    ADD_FAILURE() << "[child " << pid << "] was killed by "
                  << internal::SignalName(signal) << ": "
                  << DeathMeaning(pid, signal);
  } else if (WIFEXITED(status) && !body_finished) {
    ADD_FAILURE() << "[child " << pid << "] exited with code "
                  << WEXITSTATUS(status)
                  << " before its test code finished (exit() or _exit() "
                     "called inside the code under test?)"
                  << Hint(
                         "a library function reports a failure by throwing "
                         "or returning it; only a process it forked itself "
                         "may end with _exit()");
  } else if (WIFEXITED(status) && failures.empty() &&
             WEXITSTATUS(status) != kChildPassed) {
    ADD_FAILURE() << "[child " << pid << "] exited with code "
                  << WEXITSTATUS(status) << " and reported no failure";
  }
}

void RunInChild(std::function<void()> body) { Child(std::move(body)).Join(); }

void ChildEndsItself() {
  if (g_body.results != nullptr) SendResults();
}

void ExpectKilledBy(int signal, std::function<void()> body,
                    std::string_view hint) {
  internal::Bypass quiet;
  std::fflush(nullptr);
  pid_t pid = fork();
  ASSERT_GE(pid, 0) << "fork: " << std::strerror(errno);
  if (pid == 0) {
    internal::MarkKataChild();
    kata_bypass_reset();
    try {
      body();
    } catch (...) {
    }
    _exit(0);
  }
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (WIFSIGNALED(status)) {
    EXPECT_EQ(internal::SignalName(WTERMSIG(status)),
              internal::SignalName(signal))
        << "the child died of another signal than expected" << hint;
  } else {
    ADD_FAILURE() << "expected the child to be killed by "
                  << internal::SignalName(signal)
                  << ", but it exited with code " << WEXITSTATUS(status)
                  << hint;
  }
}

// ---------------------------------------------------------------- SharedText

struct SharedText::Block {
  std::atomic<std::size_t> size;
  char data[1];
};

SharedText::SharedText(std::size_t capacity) : capacity_(capacity) {
  internal::Bypass quiet;
  void* memory = mmap(nullptr, sizeof(Block) + capacity, PROT_READ | PROT_WRITE,
                      MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (memory == MAP_FAILED) {
    throw std::system_error(errno, std::generic_category(), "mmap(SharedText)");
  }
  block_ = static_cast<Block*>(memory);
  block_->size = 0;
}

SharedText::~SharedText() {
  internal::Bypass quiet;
  munmap(block_, sizeof(Block) + capacity_);
}

void SharedText::Store(std::string_view text) {
  block_->size = 0;
  Append(text);
}

void SharedText::Append(std::string_view text) {
  std::size_t size = block_->size;
  ASSERT_LE(size + text.size(), capacity_) << "SharedText is too small";
  std::memcpy(block_->data + size, text.data(), text.size());
  block_->size = size + text.size();
}

std::string SharedText::Load() const {
  return std::string(block_->data, block_->size);
}

// --------------------------------------------------------------- CallCounter

namespace {

long CountOf(int index) {
  return __atomic_load_n(&internal::Shared().interpose.calls[index],
                         __ATOMIC_RELAXED);
}

}  // namespace

CallCounter::CallCounter() {
  for (int i = 0; i < internal::kNumCountedCalls; ++i) {
    start_.push_back(CountOf(i));
  }
}

long CallCounter::Count(std::initializer_list<std::string_view> calls) const {
  long total = 0;
  for (std::string_view call : calls) {
    int i = internal::CallIndex(call);
    if (i < 0) {
      ADD_FAILURE() << "kata::CallCounter does not count " << call;
      continue;
    }
    total += CountOf(i) - start_[i];
  }
  return total;
}

void ExpectUsed(const CallCounter& counter,
                std::initializer_list<std::string_view> calls, long at_least,
                std::string_view mechanism) {
  long count = counter.Count(calls);
  std::string names;
  for (std::string_view call : calls) {
    names += (names.empty() ? "" : " or ") + std::string(call) + "()";
  }
  EXPECT_GE(count, at_least)
      << "this kata asks for " << mechanism << ": expected at least "
      << at_least << " call(s) to " << names << ", counted " << count
      << Hint("solve it with " + std::string(mechanism) +
              ", not with another mechanism");
}

}  // namespace kata
