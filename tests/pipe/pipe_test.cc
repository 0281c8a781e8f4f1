// Tests of the pipe kata, stage by stage. The same file is built against the
// learner's stub (//exercises/pipe:pipe_test) and against the reference
// solution (//solutions/pipe:pipe_test).
//
// Every check here uses real processes and real pipes. Where a test needs a
// process to report what it saw, the child writes into kata::SharedText and
// the parent asserts on it, so each failure reads "expected X, the child saw
// Y". Test code never trusts the code under test to read or write for it: it
// uses its own raw system calls (RawReadAll, RawWriteAll) on the other side.

#include "pipe/pipe.h"

#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <climits>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

#include "gtest/gtest-spi.h"
#include "gtest/gtest.h"
#include "tests/support/kata.h"

namespace {

using kata::Difference;
using kata::Hint;
using kata::InterruptingSignal;
using kata::InterruptRunnerWhenBlocked;
using kata::pipe::ExitStatus;

#define README "exercises/pipe/README.md"

KATA_STAGE(Stage1ExitStatus, "Stage 1, wait for a child",
           README "#stage-1-wait-for-a-child");
KATA_STAGE(Stage2OneWay, "Stage 2, one message to the child",
           README "#stage-2-one-message-to-the-child");
KATA_STAGE(Stage3FullReadsAndWrites, "Stage 3, full reads and writes",
           README "#stage-3-full-reads-and-writes");
KATA_STAGE(Stage4RoundTrip, "Stage 4, a round trip over two pipes",
           README "#stage-4-a-round-trip-over-two-pipes");
KATA_STAGE(Stage5BrokenPipe, "Stage 5, when the reader is gone",
           README "#stage-5-when-the-reader-is-gone");
KATA_STAGE(Stage6PipeCapacity, "Stage 6, a full pipe blocks",
           README "#stage-6-a-full-pipe-blocks");
KATA_STAGE(Stage7AtomicRecords, "Stage 7, atomic records",
           README "#stage-7-atomic-records");
KATA_STAGE(Stage8CommandRunner,
           "Stage 8, a command runner that cannot deadlock",
           README "#stage-8-a-command-runner-that-cannot-deadlock");

// ----------------------------------------------------------------- helpers

// The test's own I/O goes straight to the kernel (syscall(2)): no call counter
// moves, and no fault or interruption injected into the code under test
// touches it.
ssize_t SysRead(int fd, void* buffer, std::size_t size) {
  return syscall(SYS_read, fd, buffer, size);
}
ssize_t SysWrite(int fd, const void* data, std::size_t size) {
  return syscall(SYS_write, fd, data, size);
}
void SysClose(int fd) { syscall(SYS_close, fd); }
int SysFcntl(int fd, int command, long argument = 0) {
  return static_cast<int>(syscall(SYS_fcntl, fd, command, argument));
}

// The test's own pipe, independent of the code under test.
struct RawPipe {
  int read_fd = -1, write_fd = -1;
  explicit RawPipe(int flags = O_CLOEXEC) {
    int fds[2];
    if (syscall(SYS_pipe2, fds, flags) != 0)
      throw std::system_error(errno, std::generic_category(), "pipe2");
    read_fd = fds[0];
    write_fd = fds[1];
  }
  RawPipe(const RawPipe&) = delete;
  RawPipe& operator=(const RawPipe&) = delete;
  ~RawPipe() {
    CloseRead();
    CloseWrite();
  }
  void CloseRead() {
    if (read_fd >= 0) SysClose(std::exchange(read_fd, -1));
  }
  void CloseWrite() {
    if (write_fd >= 0) SysClose(std::exchange(write_fd, -1));
  }
};

std::string RawReadAll(int fd) {
  std::string data;
  char buffer[65536];
  for (;;) {
    ssize_t n = SysRead(fd, buffer, sizeof(buffer));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return data;
    data.append(buffer, static_cast<std::size_t>(n));
  }
}

bool RawWriteAll(int fd, std::string_view data) {
  while (!data.empty()) {
    ssize_t n = SysWrite(fd, data.data(), data.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    data.remove_prefix(static_cast<std::size_t>(n));
  }
  return true;
}

// Waits for one byte on `fd`: how a test's child waits until it is told to go
// on.
void AwaitByte(int fd) {
  char byte;
  while (SysRead(fd, &byte, 1) < 0 && errno == EINTR) {
  }
}

// Fills the pipe of write end `fd` to the brim (through a moment of
// O_NONBLOCK) and returns how many bytes it took.
std::size_t FillPipe(int fd) {
  const int flags = SysFcntl(fd, F_GETFL);
  SysFcntl(fd, F_SETFL, flags | O_NONBLOCK);
  std::size_t total = 0;
  const std::string chunk(4096, '#');
  for (std::size_t size : {chunk.size(), std::size_t{1}}) {
    while (SysWrite(fd, chunk.data(), size) > 0) total += size;
  }
  SysFcntl(fd, F_SETFL, flags);
  return total;
}

// Whether descriptor `fd` of this process is open.
bool IsOpen(int fd) { return SysFcntl(fd, F_GETFD) >= 0; }

// The file status flags of `fd` (O_NONBLOCK, the access mode, ...).
int StatusFlags(int fd) { return SysFcntl(fd, F_GETFL); }

// Bytes that differ at every position mod 251, so a lost or repeated chunk
// shows up as a mismatch rather than going unnoticed.
std::string Pattern(std::size_t size) {
  std::string data(size, '\0');
  for (std::size_t i = 0; i < size; ++i)
    data[i] = static_cast<char>('!' + i % 251 % 90);
  return data;
}

// Every byte value, NUL included, over and over: data that a function
// treating bytes as C strings (strlen, c_str()) would cut short.
std::string AllByteValues(std::size_t size) {
  std::string data(size, '\0');
  for (std::size_t i = 0; i < size; ++i)
    data[i] = static_cast<char>(i * 7 % 256);
  return data;
}

// Runs `call`, expecting std::system_error with `error`, whose what() names
// `call_name`.
template <typename Call>
void ExpectSystemError(Call call, std::errc error, std::string_view call_name,
                       const std::string& hint) {
  try {
    call();
    ADD_FAILURE() << "expected std::system_error ("
                  << std::make_error_code(error).message()
                  << "), but nothing was thrown" << hint;
  } catch (const std::system_error& e) {
    EXPECT_EQ(e.code(), std::make_error_code(error))
        << "std::system_error carries the wrong error: " << e.what() << hint;
    EXPECT_NE(std::string(e.what()).find(call_name), std::string::npos)
        << "the message should name the failed call " << call_name
        << ", it says: " << e.what()
        << Hint(
               "std::system_error(errno, std::generic_category(), \"<call>\")");
  }
}

// ------------------------------------------------- parent and child roles

// The exit code a child's code returns when it finds itself in the test
// runner (see RunsInTheRunner).
constexpr int kRanInTheRunner = 97;

constexpr char kSwappedRoles[] =
    "fork() returns 0 in the child and the child's pid in the parent: run the "
    "child's part when it returns 0, the parent's part otherwise";

// Code meant for the forked child (a ChildMain or a Service) calls this
// first. If it runs in the test runner, the parent and the child swapped
// roles after fork(): the runner is about to end with _exit(), and its exit
// status is all that is left to report the mistake. Says so on the terminal
// and returns true, so the caller can make that status a failure.
bool RunsInTheRunner(std::string_view what) {
  if (getpid() != kata::RunnerPid()) return false;
  const std::string message =
      "\n[  FAILED  ] " + std::string(what) +
      " ran in the test runner itself (pid " + std::to_string(getpid()) +
      "), not in the forked child: the runner now ends with the child's exit "
      "code " +
      std::to_string(kRanInTheRunner) +
      " and the rest of the tests never run\n" + Hint(kSwappedRoles) + "\n";
  SysWrite(STDOUT_FILENO, message.data(), message.size());
  return true;
}

// A ChildMain that first checks that it runs in a forked child.
kata::pipe::ChildMain InChild(std::function<int(int)> body) {
  return [body = std::move(body)](int fd) {
    return RunsInTheRunner("child_main") ? kRanInTheRunner : body(fd);
  };
}

// A Service that first checks that it runs in a forked child.
kata::pipe::Service InChildService(
    std::function<std::string(std::string_view)> body) {
  return [body = std::move(body)](std::string_view request) -> std::string {
    if (RunsInTheRunner("the service")) {
      throw std::logic_error("the service ran in the test runner");
    }
    return body(request);
  };
}

// ------------------------------------------------------ injected failures

// Where an injected failure happens: in the caller's process (the one that
// calls the code under test) or in the children the code under test forks.
enum class Side { kCaller, kChildren };

kata::InjectedFault OnSide(kata::InjectedFault fault, Side side,
                           pid_t caller = getpid()) {
  if (side == Side::kCaller) {
    fault.OnlyIn(caller);
  } else {
    fault.ExceptIn(caller);
  }
  return fault;
}

// kata::ForEachInjectedFailure for one side only: runs `body(nullptr)` once
// and counts the calls of `calls` made on `side`; then runs `body(&case)`
// once per call and occurrence (the first three and the last), with that
// call failing with `error` on that side only.
std::vector<kata::FaultCase> ForEachFailureOn(
    Side side, const kata::Calls& calls, int error,
    const std::function<void(const kata::FaultCase*)>& body) {
  const pid_t caller = getpid();
  // At most eight faults can be armed at once: count eight calls per run.
  std::vector<long> counts;
  for (std::size_t first = 0; first < calls.size(); first += 8) {
    std::vector<kata::InjectedFault> counters;
    for (std::size_t i = first; i < calls.size() && i < first + 8; ++i) {
      counters.push_back(
          OnSide(kata::InjectedFault::Fail({calls[i]}, error, LONG_MAX), side,
                 caller));
    }
    body(nullptr);
    for (const kata::InjectedFault& counter : counters) {
      counts.push_back(counter.seen());
    }
  }
  std::vector<kata::FaultCase> cases;
  for (std::size_t i = 0; i < calls.size(); ++i) {
    for (long n = 1; n <= counts[i]; ++n) {
      if (n > 3 && n != counts[i]) continue;
      kata::FaultCase fault_case{std::string(calls[i]), n, error};
      const std::string where =
          side == Side::kCaller ? " in the caller" : " in the child";
      kata::OnDeadlock(
          "the test hung after " + fault_case.ToString() + where +
          ": an error path that waits for something that will never come (a "
          "child still holding a pipe end, or one never told to stop)");
      kata::InjectedFault fault =
          OnSide(kata::InjectedFault::Fail({calls[i]}, error, n), side, caller);
      SCOPED_TRACE(fault_case.ToString() + where);
      // A run may make fewer calls than the first one did (how often a
      // poll loop turns depends on timing): then nothing failed, and what
      // the body reports is not about a failure. Keep its reports until the
      // fault is known to have fired.
      testing::TestPartResultArray reports;
      {
        testing::ScopedFakeTestPartResultReporter keep(
            testing::ScopedFakeTestPartResultReporter::
                INTERCEPT_ONLY_CURRENT_THREAD,
            &reports);
        body(&fault_case);
      }
      if (fault.fired() == 0) continue;
      cases.push_back(fault_case);
      for (int r = 0; r < reports.size(); ++r) {
        const testing::TestPartResult& report = reports.GetTestPartResult(r);
        ADD_FAILURE_AT(report.file_name() ? report.file_name() : "?",
                       report.line_number())
            << report.message();
      }
    }
  }
  return cases;
}

bool IsWaitCall(const std::string& call) {
  return call == "wait" || call == "waitpid" || call == "wait4" ||
         call == "waitid";
}

// The check of a failure injected into the caller's side: `call` throws the
// std::system_error the contract names (or recovers, where that is fine),
// and leaves no descriptor open and no child behind. After a failed wait the
// child cannot be reaped: that one is cleaned up, not reported.
void ExpectReportedWithoutLeaks(const kata::FaultCase& fault,
                                const std::function<void()>& call,
                                std::string_view hint,
                                bool recovered_is_fine = false) {
  kata::ResourceSnapshot before;
  kata::ExpectReportedOrRecovered(fault, call, recovered_is_fine, hint);
  const std::string leaks = before.Leaks();
  if (!IsWaitCall(fault.call)) {
    EXPECT_EQ(leaks, "")
        << "after " << fault.ToString() << ", this was left behind"
        << Hint(
               "on every error path, close every descriptor (let Fd do it) "
               "and reap every child you forked before the exception leaves");
  }
}

// ------------------------------------------------------------ signal state

// How a caller may have set SIGPIPE up before calling the code under test.
enum class SigpipeSetup {
  kDefault,  // SIG_DFL and not blocked: a SIGPIPE kills the process
  kIgnored,
  kBlocked,
  kBlockedAndPending,
  kHandled,
};

constexpr SigpipeSetup kEverySigpipeSetup[] = {
    SigpipeSetup::kDefault, SigpipeSetup::kIgnored, SigpipeSetup::kBlocked,
    SigpipeSetup::kBlockedAndPending, SigpipeSetup::kHandled};

std::string Describe(SigpipeSetup setup) {
  switch (setup) {
    case SigpipeSetup::kDefault:
      return "at its default action (death)";
    case SigpipeSetup::kIgnored:
      return "ignored (SIG_IGN)";
    case SigpipeSetup::kBlocked:
      return "blocked";
    case SigpipeSetup::kBlockedAndPending:
      return "blocked and one already pending";
    case SigpipeSetup::kHandled:
      return "handled by a handler";
  }
  return "?";
}

std::optional<kata::CallerSignal> SetUpSigpipe(SigpipeSetup setup) {
  std::optional<kata::CallerSignal> caller;
  switch (setup) {
    case SigpipeSetup::kDefault:
      break;
    case SigpipeSetup::kIgnored:
      caller.emplace(kata::CallerSignal::Ignored(SIGPIPE));
      break;
    case SigpipeSetup::kBlocked:
      caller.emplace(kata::CallerSignal::Blocked(SIGPIPE));
      break;
    case SigpipeSetup::kBlockedAndPending:
      caller.emplace(kata::CallerSignal::BlockedAndPending(SIGPIPE));
      break;
    case SigpipeSetup::kHandled:
      caller.emplace(kata::CallerSignal::Handled(SIGPIPE));
      break;
  }
  return caller;
}

bool Pending(const kata::SignalState& state, int signal) {
  return sigismember(&state.pending, signal) == 1;
}

// Fills the stack below the caller with set bits, so that a variable the
// code under test forgets to initialise (a sigset_t never emptied, a mask
// never saved) holds garbage, as it would deep into a long-running program,
// rather than a fresh stack's zeros.
[[gnu::noinline]] void DirtyTheStack() {
  volatile unsigned char junk[32 * 1024];
  for (std::size_t i = 0; i < sizeof(junk); ++i) junk[i] = 0xff;
}

// Runs `call` in a child whose SIGPIPE the caller set up as `setup`, with a
// blocked SIGUSR2 pending as well, and checks that `call` left the signal
// state exactly as it found it: dispositions, mask, the caller's pending
// signals still pending, and no SIGPIPE of its own left pending. `call`
// catches what it expects to be thrown.
void ExpectSigpipeStateKept(SigpipeSetup setup, std::string_view what,
                            const std::function<void()>& call) {
  kata::RunInChild([&] {
    signal(SIGPIPE, SIG_DFL);
    std::optional<kata::CallerSignal> caller = SetUpSigpipe(setup);
    kata::CallerSignal other = kata::CallerSignal::BlockedAndPending(SIGUSR2);
    const kata::SignalState before = kata::CaptureSignalState();
    DirtyTheStack();
    call();
    const kata::SignalState after = kata::CaptureSignalState();
    std::string advice =
        "block SIGPIPE only for the write (pthread_sigmask with SIG_BLOCK, "
        "saving the old mask) and restore exactly the saved mask "
        "(SIG_SETMASK); never change the disposition for the whole process";
    if (Pending(after, SIGPIPE) && !Pending(before, SIGPIPE)) {
      advice =
          "the SIGPIPE your write raised is still pending, and it strikes as "
          "soon as the caller unblocks it: before restoring the mask, take it "
          "with sigtimedwait() and a zero timeout, whether write() failed "
          "with EPIPE or returned a short count";
    } else if (!Pending(after, SIGPIPE) && Pending(before, SIGPIPE)) {
      advice =
          "the caller's own pending SIGPIPE is gone: check sigpending() "
          "before the write and take a SIGPIPE afterwards only if none was "
          "pending before";
    } else if (!Pending(after, SIGUSR2)) {
      advice =
          "a signal the caller had pending (SIGUSR2) is gone: the set you "
          "block and wait on must hold SIGPIPE alone (sigemptyset, then "
          "sigaddset)";
    }
    EXPECT_EQ(kata::SignalStateChanges(before, after), "")
        << what << ", called with SIGPIPE " << Describe(setup)
        << ", changed the signal state"
        << Hint(advice, README "#stage-5-when-the-reader-is-gone");
  });
}

// ------------------------------------------------------------ other processes

// Starts `sleep 30` from a child of the code under test (fork, then exec),
// and returns its pid: a program that child leaves running after it ends. It
// keeps every descriptor it inherited that is not close-on-exec.
pid_t StartLingeringProgram() {
  pid_t pid = fork();
  if (pid == 0) {
    execlp("sleep", "sleep", "30", static_cast<char*>(nullptr));
    _exit(127);
  }
  return pid;
}

// Ends a program that StartLingeringProgram() started in a child that is gone:
// the test runner (a subreaper) inherited it.
void StopLingeringProgram(pid_t pid) {
  if (pid <= 0) return;
  kill(pid, SIGKILL);
  syscall(SYS_wait4, pid, nullptr, 0, nullptr);
}

bool IsRunning(pid_t pid) {
  const char state = kata::ProcessState(pid);
  return state != '?' && state != 'Z';
}

// The pipe ends that process `pid` holds, by pipe ("pipe:[inode]"): "r" for
// each read end, "w" for each write end.
std::map<std::string, std::string> PipeEndsHeldBy(pid_t pid) {
  std::map<std::string, std::string> ends;
  const std::filesystem::path proc = "/proc/" + std::to_string(pid);
  std::error_code error;
  for (const auto& entry :
       std::filesystem::directory_iterator(proc / "fd", error)) {
    const std::string target =
        std::filesystem::read_symlink(entry.path(), error).string();
    if (error || target.rfind("pipe:", 0) != 0) continue;
    std::ifstream info(proc / "fdinfo" / entry.path().filename());
    std::string key, value;
    while (info >> key >> value && key != "flags:") {
    }
    const bool write_end = key == "flags:" && (std::stoi(value, nullptr, 8) &
                                               O_ACCMODE) == O_WRONLY;
    ends[target] += write_end ? "w" : "r";
  }
  return ends;
}

// The pids of the children of `pid` (its main thread's), from /proc.
std::vector<pid_t> ChildrenOf(pid_t pid) {
  std::ifstream file("/proc/" + std::to_string(pid) + "/task/" +
                     std::to_string(pid) + "/children");
  std::vector<pid_t> children;
  for (pid_t child; file >> child;) children.push_back(child);
  return children;
}

// =========================================================== Stage 1

// Tests that the code a child passes to _exit() comes back.
TEST(Stage1ExitStatus, ReportsExitCode) {
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) _exit(7);
  ExitStatus status = kata::pipe::WaitForChild(pid);
  EXPECT_TRUE(status.exited)
      << Hint("WIFEXITED(status) says the child exited normally");
  EXPECT_EQ(status.code, 7) << Hint("the exit code is WEXITSTATUS(status)");
  EXPECT_FALSE(status.signaled);
}

// Tests that a child ended by a signal is reported as such, with the signal.
TEST(Stage1ExitStatus, ReportsKillingSignal) {
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    signal(SIGTERM, SIG_DFL);
    raise(SIGTERM);
    _exit(0);
  }
  ExitStatus status = kata::pipe::WaitForChild(pid);
  EXPECT_TRUE(status.signaled)
      << Hint("WIFSIGNALED(status) says a signal ended the child");
  EXPECT_EQ(status.signal, SIGTERM) << Hint("the signal is WTERMSIG(status)");
  EXPECT_FALSE(status.exited);
}

// Tests that after WaitForChild the child is gone, not a zombie.
TEST(Stage1ExitStatus, LeavesNoZombie) {
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) _exit(0);
  kata::pipe::WaitForChild(pid);
  EXPECT_EQ(kata::ProcessState(pid), '?')
      << "pid " << pid << " still exists in state " << kata::ProcessState(pid)
      << Hint(
             "waitpid() reaps the child; until then it stays a zombie (state "
             "Z)");
}

// Tests that a signal arriving during the wait does not end it (EINTR).
TEST(Stage1ExitStatus, RetriesWhenASignalInterrupts) {
  InterruptingSignal interrupt(SIGUSR1);
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    InterruptRunnerWhenBlocked(SIGUSR1);
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    _exit(5);
  }
  try {
    EXPECT_EQ(kata::pipe::WaitForChild(pid).code, 5);
  } catch (const std::system_error& e) {
    ADD_FAILURE()
        << "WaitForChild threw " << e.what()
        << Hint("EINTR only means a signal handler ran: call waitpid() again");
    kill(pid, SIGKILL);
    waitpid(pid, nullptr, 0);
  } catch (...) {
    // Unfinished code: stop the child before the handler above is removed,
    // or its SIGUSR1 would kill the test runner.
    kill(pid, SIGKILL);
    waitpid(pid, nullptr, 0);
    throw;
  }
}

// Tests that waiting for a process that is not our child is an error naming
// waitpid (ECHILD), not a hang or a made-up status.
TEST(Stage1ExitStatus, RejectsAProcessThatIsNotAChild) {
  ExpectSystemError([] { kata::pipe::WaitForChild(getppid()); },
                    std::errc::no_child_process, "waitpid",
                    Hint("throw std::system_error when waitpid() returns -1"));
}

// Tests every exit code from 0 to 255, both ends of the range included, as
// _exit() passed it.
TEST(Stage1ExitStatus, ReportsEveryExitCodeFromZeroTo255) {
  for (int code : {0, 1, 128, 254, 255}) {
    pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) _exit(code);
    ExitStatus status = kata::pipe::WaitForChild(pid);
    EXPECT_TRUE(status.exited && !status.signaled && status.code == code)
        << "a child that called _exit(" << code << ") was reported as exited "
        << status.exited << ", exit code " << status.code << ", signaled "
        << status.signaled
        << Hint("the exit code is WEXITSTATUS(status), from 0 to 255");
    EXPECT_EQ(status.ok(), code == 0);
  }
}

// Tests a child killed by SIGKILL, which no handler can catch.
TEST(Stage1ExitStatus, ReportsSigkill) {
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    for (;;) pause();
  }
  kill(pid, SIGKILL);
  ExitStatus status = kata::pipe::WaitForChild(pid);
  EXPECT_TRUE(status.signaled && status.signal == SIGKILL && !status.exited)
      << "a child killed by SIGKILL (9) was reported as signaled "
      << status.signaled << ", signal " << status.signal << ", exited "
      << status.exited
      << Hint("WIFSIGNALED(status), then WTERMSIG(status) is the signal");
}

// Tests that WaitForChild waits for the child it is given, not for whichever
// child ended first, and leaves that other child for its own wait.
TEST(Stage1ExitStatus, WaitsForTheGivenChildNotAnother) {
  constexpr char kWhichChild[] =
      "wait for the pid you were given: waitpid(pid, &status, 0); wait() and "
      "waitpid(-1, ...) take whichever child ended first";
  pid_t early = fork();
  ASSERT_GE(early, 0);
  if (early == 0) _exit(1);
  while (kata::ProcessState(early) != 'Z') {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  pid_t late = fork();
  ASSERT_GE(late, 0);
  if (late == 0) {
    kata::WaitUntilBlocked(kata::RunnerPid());  // the runner waits for us
    _exit(2);
  }
  ExitStatus status = kata::pipe::WaitForChild(late);
  EXPECT_EQ(status.code, 2)
      << "WaitForChild(" << late << ") returned exit code " << status.code
      << ", the code of another child (" << early << ") that ended first"
      << Hint(kWhichChild);
  EXPECT_EQ(kata::ProcessState(early), 'Z')
      << "the other child, which ended first, was reaped as well"
      << Hint(kWhichChild);
  syscall(SYS_wait4, early, nullptr, 0, nullptr);
  syscall(SYS_wait4, late, nullptr, 0, nullptr);
}

// Tests that a child that is stopped (SIGSTOP) and continued has not ended:
// the wait goes on until it exits.
TEST(Stage1ExitStatus, KeepsWaitingThroughAStop) {
  RawPipe tell;  // the runner tells the resumer the stopped child's pid
  kata::Child resumer([&] {
    tell.CloseWrite();
    pid_t stopped = 0;
    SysRead(tell.read_fd, &stopped, sizeof(stopped));
    kata::WaitUntilBlocked(kata::RunnerPid());
    kill(stopped, SIGCONT);
  });
  tell.CloseRead();
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    raise(SIGSTOP);
    _exit(4);
  }
  while (kata::ProcessState(pid) != 'T') {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  SysWrite(tell.write_fd, &pid, sizeof(pid));
  ExitStatus status = kata::pipe::WaitForChild(pid);
  resumer.Join();
  EXPECT_TRUE(status.exited && status.code == 4)
      << "a child that was stopped, continued and then exited with code 4 "
         "was reported as exited "
      << status.exited << ", exit code " << status.code << ", signaled "
      << status.signaled
      << Hint(
             "a stopped child has not ended: wait without WUNTRACED and "
             "WCONTINUED, so that waitpid() returns only when it exits or is "
             "killed");
  if (!status.exited && !status.signaled) {
    kill(pid, SIGKILL);
    syscall(SYS_wait4, pid, nullptr, 0, nullptr);
  }
}

// Tests that every interrupted wait is retried: each wait call fails once
// with EINTR before it gets through.
TEST(Stage1ExitStatus, RetriesEveryInterruptedWait) {
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) _exit(6);
  kata::InjectedFault eintr =
      kata::InjectedFault::InterruptEach(kata::kWaitCalls);
  try {
    EXPECT_EQ(kata::pipe::WaitForChild(pid).code, 6);
  } catch (const std::system_error& e) {
    ADD_FAILURE() << "WaitForChild threw " << e.what() << " when "
                  << eintr.description()
                  << Hint(
                         "EINTR only means a signal handler ran: call "
                         "waitpid() again");
    syscall(SYS_wait4, pid, nullptr, 0, nullptr);
  }
}

// Tests that a wait that fails (other than EINTR) is reported as
// std::system_error naming waitpid, with the errno of the failure.
TEST(Stage1ExitStatus, ReportsAFailedWait) {
  std::vector<kata::FaultCase> cases = ForEachFailureOn(
      Side::kCaller, kata::kWaitCalls, EINVAL,
      [](const kata::FaultCase* fault) {
        pid_t pid = fork();
        ASSERT_GE(pid, 0);
        if (pid == 0) _exit(0);
        if (fault == nullptr) {
          kata::pipe::WaitForChild(pid);
          return;
        }
        kata::ExpectReportedOrRecovered(
            *fault, [pid] { kata::pipe::WaitForChild(pid); }, false,
            "throw std::system_error(errno, std::generic_category(), "
            "\"waitpid\") when waitpid() fails with anything but EINTR");
        syscall(SYS_wait4, pid, nullptr, 0, nullptr);
      });
  EXPECT_FALSE(cases.empty()) << "WaitForChild made no wait call at all";
}

// Tests that the wait blocks in the kernel instead of burning CPU while the
// child is still running.
TEST(Stage1ExitStatus, WaitsWithoutBusyWaiting) {
  RawPipe go;
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    go.CloseWrite();
    AwaitByte(go.read_fd);
    _exit(0);
  }
  kata::Child watcher([&] {
    kata::ExpectNoBusyWaiting(
        kata::RunnerPid(), "WaitForChild while the child still runs",
        "let waitpid() block until the child ends; a loop of "
        "waitpid(WNOHANG) and short sleeps keeps waking up");
    SysWrite(go.write_fd, "g", 1);
  });
  EXPECT_TRUE(kata::pipe::WaitForChild(pid).ok());
  watcher.Join();
}

// =========================================================== Stage 2

constexpr char kChildHoldsWriteEnd[] =
    "the child never saw end of file: read() returns 0 only after EVERY write "
    "end is "
    "closed, and the child still holds its own copy of the write end (close it "
    "in the "
    "child), or the parent never closed its write end after writing";

// Tests the basic one-way message: the child receives exactly what was sent.
TEST(Stage2OneWay, ChildReceivesTheMessage) {
  kata::OnDeadlock(kChildHoldsWriteEnd);
  kata::SharedText received;
  ExitStatus status =
      kata::pipe::SendToChild("hello, child", InChild([&](int fd) {
                                received.Store(RawReadAll(fd));
                                return 0;
                              }));
  EXPECT_EQ(received.Load(), "hello, child") << Hint(
      "the parent writes the message into the write end; the child reads the "
      "read end");
  EXPECT_TRUE(status.ok()) << "the child should exit with code 0, got "
                           << status.code;
}

// Tests that end of file reaches the child promptly after the message.
TEST(Stage2OneWay, ChildSeesEndOfFileAfterTheMessage) {
  kata::SharedText seen;
  kata::pipe::SendToChild("ping", InChild([&](int fd) {
                            std::string data;
                            char buffer[64];
                            for (;;) {
                              pollfd entry{fd, POLLIN, 0};
                              if (poll(&entry, 1, 2000) == 0) {
                                seen.Store("no end of file after " +
                                           std::to_string(data.size()) +
                                           " bytes");
                                return 3;
                              }
                              ssize_t n = read(fd, buffer, sizeof(buffer));
                              if (n < 0 && errno == EINTR) continue;
                              if (n <= 0) break;
                              data.append(buffer, static_cast<std::size_t>(n));
                            }
                            seen.Store(data + "<EOF>");
                            return 0;
                          }));
  EXPECT_EQ(seen.Load(), "ping<EOF>")
      << Hint(kChildHoldsWriteEnd, README "#stage-2-one-message-to-the-child");
}

// Tests that the child's exit code comes back to the parent.
TEST(Stage2OneWay, ChildExitCodeComesBack) {
  ExitStatus status =
      kata::pipe::SendToChild("", InChild([](int) { return 42; }));
  EXPECT_TRUE(status.exited);
  EXPECT_EQ(status.code, 42)
      << Hint("return WaitForChild(pid) for the child you forked");
}

// Tests that an empty message is simply end of file for the child.
TEST(Stage2OneWay, EmptyMessageIsJustEndOfFile) {
  kata::OnDeadlock(kChildHoldsWriteEnd);
  kata::SharedText received;
  received.Store("(child did not run)");
  kata::pipe::SendToChild("", InChild([&](int fd) {
                            received.Store(RawReadAll(fd));
                            return 0;
                          }));
  EXPECT_EQ(received.Load(), "");
}

// Tests a message 16 times larger than the pipe: the parent blocks on the full
// pipe and continues as the child reads, and nothing is lost.
TEST(Stage2OneWay, MessageLargerThanThePipeArrivesWhole) {
  kata::OnDeadlock(kChildHoldsWriteEnd);
  const std::string message = Pattern(1 << 20);
  kata::SharedText received;
  kata::pipe::SendToChild(message, InChild([&](int fd) {
                            received.Store(RawReadAll(fd));
                            return 0;
                          }));
  EXPECT_EQ(Difference(message, received.Load()), "") << Hint(
      "write() may write fewer bytes than asked: WriteAll loops until all are "
      "out");
}

// Tests that SendToChild really uses a pipe and a child process.
TEST(Stage2OneWay, UsesAPipeAndAFork) {
  kata::CallCounter calls;
  kata::pipe::SendToChild(
      "x", InChild([](int fd) { return RawReadAll(fd) == "x" ? 0 : 1; }));
  kata::ExpectUsed(calls, {"pipe", "pipe2"}, 1, "a pipe (pipe(2))");
  kata::ExpectUsed(calls, {"fork"}, 1, "a child process (fork(2))");
}

// Tests that the child ends with _exit() instead of returning into the caller
// (which here is the test runner: it would run the rest of the tests twice).
TEST(Stage2OneWay, ChildNeverReturnsIntoTheCaller) {
  kata::pipe::SendToChild("x", InChild([](int fd) {
                            RawReadAll(fd);
                            return 0;
                          }));
  EXPECT_EQ(getpid(), kata::RunnerPid())
      << "a child returned from SendToChild"
      << Hint("end the child with _exit(child_main(fd))");
}

// Tests that MakePipe's two descriptors are the two ends of one pipe: bytes
// written to write_end come out of read_end, and neither is anything else.
TEST(Stage2OneWay, MakePipeConnectsTheWriteEndToTheReadEnd) {
  kata::pipe::Pipe pipe = kata::pipe::MakePipe();
  ASSERT_TRUE(pipe.read_end.valid() && pipe.write_end.valid())
      << "MakePipe returned descriptors " << pipe.read_end.get() << " and "
      << pipe.write_end.get();
  for (int fd : {pipe.read_end.get(), pipe.write_end.get()}) {
    EXPECT_EQ(kata::DescriptorKind(getpid(), fd), "pipe")
        << "descriptor " << fd << " is not a pipe"
        << Hint(
               "pipe2() makes the two ends; a socketpair or a file is not "
               "a pipe");
  }
  EXPECT_EQ(StatusFlags(pipe.read_end.get()) & O_ACCMODE, O_RDONLY)
      << "read_end is not the read end"
      << Hint(
             "pipe2(fds, ...) puts the read end in fds[0], the write end in "
             "fds[1]");
  EXPECT_EQ(StatusFlags(pipe.write_end.get()) & O_ACCMODE, O_WRONLY)
      << "write_end is not the write end";
  ASSERT_EQ(SysWrite(pipe.write_end.get(), "abc", 3), 3);
  char buffer[8];
  EXPECT_EQ(SysRead(pipe.read_end.get(), buffer, sizeof(buffer)), 3)
      << "the bytes written to write_end did not come out of read_end";
}

// Tests that both ends are close-on-exec and blocking, as the contract says:
// a program started later does not inherit them, and a read waits for data.
TEST(Stage2OneWay, MakePipeEndsAreCloseOnExecAndBlocking) {
  kata::pipe::Pipe pipe = kata::pipe::MakePipe();
  for (int fd : {pipe.read_end.get(), pipe.write_end.get()}) {
    EXPECT_NE(SysFcntl(fd, F_GETFD) & FD_CLOEXEC, 0)
        << "descriptor " << fd << " is not close-on-exec"
        << Hint("pipe2(fds, O_CLOEXEC) sets it on both ends at once");
    EXPECT_EQ(StatusFlags(fd) & (O_NONBLOCK | O_DIRECT), 0)
        << "descriptor " << fd << " has flags 0" << std::oct << StatusFlags(fd)
        << std::dec << ", O_NONBLOCK or O_DIRECT among them"
        << Hint("O_CLOEXEC is the only flag MakePipe asks for");
  }
}

// Tests MakePipe at the descriptor limit (RLIMIT_NOFILE): with room for one
// more descriptor than it needs, and for exactly two, it works; with room for
// one it throws EMFILE naming pipe2 and leaves nothing open.
TEST(Stage2OneWay, MakePipeAtTheDescriptorLimit) {
  kata::RunInChild([] {
    std::vector<int> free_fds;
    for (int fd = 0; free_fds.size() < 2; ++fd) {
      if (!IsOpen(fd)) free_fds.push_back(fd);
    }
    rlimit old{};
    getrlimit(RLIMIT_NOFILE, &old);
    auto room_below = [&](int limit) {
      rlimit room{static_cast<rlim_t>(limit), old.rlim_max};
      ASSERT_EQ(setrlimit(RLIMIT_NOFILE, &room), 0);
    };
    for (int extra : {2, 1}) {
      room_below(free_fds[1] + extra);
      kata::pipe::Pipe pipe = kata::pipe::MakePipe();
      EXPECT_TRUE(pipe.read_end.valid() && pipe.write_end.valid());
    }
    room_below(free_fds[1]);  // one free descriptor only
    ExpectSystemError([] { kata::pipe::Pipe pipe = kata::pipe::MakePipe(); },
                      std::errc::too_many_files_open, "pipe2",
                      Hint("throw std::system_error naming pipe2 when pipe2() "
                           "fails"));
    EXPECT_FALSE(IsOpen(free_fds[0]))
        << "descriptor " << free_fds[0] << " was left open by the failure";
    setrlimit(RLIMIT_NOFILE, &old);
  });
}

// Tests that a failed pipe2() is reported as std::system_error naming pipe2,
// with the errno of the failure, never as a pair of made-up descriptors.
TEST(Stage2OneWay, MakePipeReportsAFailedPipe2) {
  auto make = [] { kata::pipe::Pipe pipe = kata::pipe::MakePipe(); };
  ForEachFailureOn(Side::kCaller, {"pipe", "pipe2"}, ENFILE,
                   [&](const kata::FaultCase* fault) {
                     if (fault == nullptr) return make();
                     ExpectReportedWithoutLeaks(
                         *fault, make,
                         "throw std::system_error(errno, "
                         "std::generic_category(), \"pipe2\") when pipe2() "
                         "returns -1");
                   });
}

// Tests that SendToChild moves the message through a pipe: the child gets a
// pipe's read end, and no other kind of channel is opened.
TEST(Stage2OneWay, SendToChildMovesTheMessageThroughAPipe) {
  kata::OnDeadlock(kChildHoldsWriteEnd);
  kata::SharedText seen;
  kata::MechanismWatch watch;
  ExitStatus status = kata::pipe::SendToChild(
      "through a pipe", InChild([&](int fd) {
        const bool read_only = (StatusFlags(fd) & O_ACCMODE) == O_RDONLY;
        seen.Store(kata::DescriptorKind(getpid(), fd) +
                   (read_only ? " read end: " : " other: ") + RawReadAll(fd));
        return 0;
      }));
  kata::ExpectOnlyMechanism(watch, {"pipe"}, "a pipe");
  EXPECT_EQ(seen.Load(), "pipe read end: through a pipe")
      << Hint("give the child the read end of the pipe made by MakePipe");
  EXPECT_TRUE(status.ok());
}

// Tests messages around the pipe's capacity: one byte less than it holds,
// exactly that, and one byte more, every byte value included.
TEST(Stage2OneWay, MessagesAroundThePipesCapacityArriveWhole) {
  kata::OnDeadlock(kChildHoldsWriteEnd);
  RawPipe probe;
  const auto capacity =
      static_cast<std::size_t>(SysFcntl(probe.write_fd, F_GETPIPE_SZ));
  for (std::size_t size : {capacity - 1, capacity, capacity + 1}) {
    const std::string message = AllByteValues(size);
    kata::SharedText received;
    kata::pipe::SendToChild(message, InChild([&](int fd) {
                              received.Store(RawReadAll(fd));
                              return 0;
                            }));
    EXPECT_EQ(Difference(message, received.Load()), "")
        << "a message of " << size << " bytes"
        << Hint(
               "write every byte, NUL bytes too: the size is data.size(), "
               "never strlen()");
  }
}

// Tests that every blocking call of SendToChild is retried when it is
// interrupted: each fails once with EINTR before it gets through.
TEST(Stage2OneWay, SendToChildRetriesEveryInterruptedCall) {
  kata::OnDeadlock(kChildHoldsWriteEnd);
  const std::string message = Pattern(1 << 20);
  kata::SharedText received;
  ExitStatus status;
  kata::InjectedFault eintr =
      kata::InjectedFault::InterruptEach(kata::kBlockingCalls);
  try {
    status = kata::pipe::SendToChild(message, InChild([&](int fd) {
                                       received.Store(RawReadAll(fd));
                                       return 0;
                                     }));
  } catch (const std::system_error& e) {
    ADD_FAILURE() << "SendToChild threw " << e.what() << " when "
                  << eintr.description()
                  << Hint(
                         "EINTR only means a signal handler ran: make the "
                         "same call again (write, waitpid)");
  }
  EXPECT_EQ(Difference(message, received.Load()), "") << Hint(
      "a write() that fails with EINTR wrote nothing: write the same "
      "bytes again");
  EXPECT_TRUE(status.ok()) << "exit code " << status.code;
}

// Tests every error path of SendToChild: each of its calls failing in turn is
// reported as std::system_error naming that call, with no descriptor left
// open and the child reaped.
TEST(Stage2OneWay, SendToChildReportsEveryFailedCall) {
  const std::string message = Pattern(256 << 10);
  auto send = [&] {
    kata::pipe::SendToChild(message, InChild([](int fd) {
                              RawReadAll(fd);
                              return 0;
                            }));
  };
  ForEachFailureOn(
      Side::kCaller,
      {"pipe", "pipe2", "fork", "write", "wait", "waitpid", "wait4", "waitid"},
      EIO, [&](const kata::FaultCase* fault) {
        if (fault == nullptr) return send();
        ExpectReportedWithoutLeaks(
            *fault, send,
            "report a failed call as std::system_error naming it; before "
            "the exception leaves, close your write end (the child then sees "
            "end of file) and reap the child");
      });
}

// Tests that SendToChild blocks in the kernel, without burning CPU, while
// the pipe is full and the child has not started reading.
TEST(Stage2OneWay, SendToChildWaitsForTheReaderWithoutBusyWaiting) {
  kata::OnDeadlock(kChildHoldsWriteEnd);
  RawPipe go;
  const std::string message = Pattern(1 << 20);
  kata::SharedText received;
  kata::Child watcher([&] {
    kata::ExpectNoBusyWaiting(
        kata::RunnerPid(), "SendToChild writing into a full pipe",
        "a blocking write() waits in the kernel until the reader makes room; "
        "do not make the pipe non-blocking and retry in a loop");
    SysWrite(go.write_fd, "g", 1);
  });
  kata::pipe::SendToChild(message, InChild([&](int fd) {
                            AwaitByte(go.read_fd);
                            received.Store(RawReadAll(fd));
                            return 0;
                          }));
  watcher.Join();
  EXPECT_EQ(Difference(message, received.Load()), "");
}

// Runs `fork_and_flush(file)`, a call of the code under test whose forked
// child writes a line into `file` and flushes it, after the caller put a
// line of its own into `file`'s stdio buffer. Expects the caller's line once.
void ExpectCallersBufferedOutputWrittenOnce(
    std::string_view call, const std::function<void(FILE*)>& fork_and_flush) {
  RawPipe sink;
  FILE* file = fdopen(SysFcntl(sink.write_fd, F_DUPFD_CLOEXEC, 0), "w");
  ASSERT_NE(file, nullptr);
  sink.CloseWrite();
  setvbuf(file, nullptr, _IOFBF, 4096);
  std::fputs("caller's line\n", file);  // stays in the buffer for now
  fork_and_flush(file);
  std::fclose(file);
  EXPECT_EQ(RawReadAll(sink.read_fd), "caller's line\nchild's line\n")
      << call << " forked a child that printed the caller's buffered output "
      << "a second time"
      << Hint(
             "flush stdio (fflush(nullptr)) before fork(): the child gets a "
             "copy of every stdio buffer not yet written, and a child that "
             "flushes writes it again");
}

// Tests that output the caller buffered in stdio is written once, not once
// more by SendToChild's child when it flushes its copy.
TEST(Stage2OneWay, ChildDoesNotRepeatTheCallersBufferedOutput) {
  ExpectCallersBufferedOutputWrittenOnce("SendToChild", [](FILE* file) {
    kata::pipe::SendToChild("", InChild([file](int fd) {
                              RawReadAll(fd);
                              std::fputs("child's line\n", file);
                              std::fflush(file);
                              return 0;
                            }));
  });
}

// =========================================================== Stage 3

// Tests that ReadAll collects separate writes into one string, up to EOF.
TEST(Stage3FullReadsAndWrites, ReadAllJoinsEverythingUntilEndOfFile) {
  kata::OnDeadlock("ReadAll must stop when read() returns 0 (end of file)");
  RawPipe pipe;
  kata::Child writer([&] {
    pipe.CloseRead();
    for (const char* piece : {"one ", "two ", "three"}) {
      RawWriteAll(pipe.write_fd, piece);
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  });
  pipe.CloseWrite();  // the writer child now holds the only write end
  EXPECT_EQ(kata::pipe::ReadAll(pipe.read_fd), "one two three") << Hint(
      "one read() returns what is there now, not a whole message: loop until "
      "it returns 0");
  writer.Join();
}

// Tests that ReadAll of a pipe with no writer left returns the empty string.
TEST(Stage3FullReadsAndWrites, ReadAllOfAnEmptyPipeIsEmpty) {
  RawPipe pipe;
  pipe.CloseWrite();
  EXPECT_EQ(kata::pipe::ReadAll(pipe.read_fd), "");
}

// Tests WriteAll on a non-blocking pipe that is almost full: write() refuses
// (EAGAIN) or takes only part, and WriteAll must wait and continue.
TEST(Stage3FullReadsAndWrites, WriteAllFinishesAShortWrite) {
  RawPipe pipe;
  ASSERT_EQ(fcntl(pipe.write_fd, F_SETFL, O_NONBLOCK), 0);
  const int capacity = fcntl(pipe.write_fd, F_GETPIPE_SZ);
  const std::string prefill(static_cast<std::size_t>(capacity - 100), '#');
  ASSERT_TRUE(RawWriteAll(pipe.write_fd, prefill));
  const std::string data = Pattern(256 << 10);
  kata::SharedText received;
  kata::Child reader([&] {
    pipe.CloseWrite();
    std::this_thread::sleep_for(
        std::chrono::milliseconds(50));  // let the writer hit "full"
    received.Store(RawReadAll(pipe.read_fd));
  });
  pipe.CloseRead();
  try {
    kata::pipe::WriteAll(pipe.write_fd, data);
  } catch (const std::system_error& e) {
    ADD_FAILURE() << "WriteAll threw " << e.what()
                  << Hint(
                         "on a non-blocking fd, EAGAIN means the pipe is full: "
                         "poll() for POLLOUT "
                         "and write the rest");
  }
  pipe.CloseWrite();
  reader.Join();
  EXPECT_EQ(Difference(prefill + data, received.Load()), "") << Hint(
      "write() may write fewer bytes than asked: loop until every byte is out");
}

// Tests that ReadAll carries on after a signal interrupts a blocked read().
TEST(Stage3FullReadsAndWrites, ReadAllRetriesAfterASignal) {
  InterruptingSignal interrupt(SIGUSR1);
  RawPipe pipe;
  kata::Child writer([&] {
    pipe.CloseRead();
    InterruptRunnerWhenBlocked(SIGUSR1);
    RawWriteAll(pipe.write_fd, "after the signal");
  });
  pipe.CloseWrite();
  try {
    EXPECT_EQ(kata::pipe::ReadAll(pipe.read_fd), "after the signal");
  } catch (const std::system_error& e) {
    ADD_FAILURE() << "ReadAll threw " << e.what()
                  << Hint("EINTR: a signal interrupted the call; retry it");
  }
  writer.Join();
}

// Tests that WriteAll carries on after a signal interrupts a blocked write(),
// which then returns a short count (the bytes written so far).
TEST(Stage3FullReadsAndWrites, WriteAllRetriesAfterASignal) {
  InterruptingSignal interrupt(SIGUSR1);
  RawPipe pipe;
  const std::string data = Pattern(1 << 20);
  kata::SharedText received;
  kata::Child reader([&] {
    pipe.CloseWrite();
    InterruptRunnerWhenBlocked(
        SIGUSR1);  // the writer is blocked on a full pipe
    received.Store(RawReadAll(pipe.read_fd));
  });
  pipe.CloseRead();
  try {
    kata::pipe::WriteAll(pipe.write_fd, data);
  } catch (const std::system_error& e) {
    ADD_FAILURE() << "WriteAll threw " << e.what()
                  << Hint("EINTR: a signal interrupted the call; retry it");
  }
  pipe.CloseWrite();
  reader.Join();
  EXPECT_EQ(Difference(data, received.Load()), "") << Hint(
      "write() may write fewer bytes than asked: loop until every byte is out");
}

// Tests that a failing read() becomes a std::system_error naming "read".
TEST(Stage3FullReadsAndWrites, ReadAllRejectsABadDescriptor) {
  ExpectSystemError(
      [] { kata::pipe::ReadAll(-1); }, std::errc::bad_file_descriptor, "read",
      Hint("throw std::system_error when read() returns -1 (except EINTR)"));
}

// Tests that WriteAll retries a write() that a signal interrupted before a
// single byte moved (the pipe was full when the write began): such a write
// fails with EINTR instead of returning a short count.
TEST(Stage3FullReadsAndWrites, WriteAllRetriesAWriteInterruptedBeforeAnyByte) {
  InterruptingSignal interrupt(SIGUSR1);
  RawPipe pipe;
  const std::size_t prefill = FillPipe(pipe.write_fd);
  const std::string data = Pattern(100 << 10);
  kata::SharedText received;
  kata::Child reader([&] {
    pipe.CloseWrite();
    InterruptRunnerWhenBlocked(SIGUSR1);  // blocked on the full pipe
    received.Store(RawReadAll(pipe.read_fd));
  });
  pipe.CloseRead();
  try {
    kata::pipe::WriteAll(pipe.write_fd, data);
  } catch (const std::system_error& e) {
    ADD_FAILURE() << "WriteAll threw " << e.what()
                  << Hint(
                         "EINTR: a signal interrupted write() before any "
                         "byte moved; write the same bytes again");
  }
  pipe.CloseWrite();
  reader.Join();
  const std::string got = received.Load();
  EXPECT_EQ(Difference(data, got.substr(std::min(prefill, got.size()))), "");
}

// Writes 256 KiB through a non-blocking pipe that starts full, with every
// blocking call (write, poll) interrupted once, inside a SigpipeGuard or not;
// `who` and `hint` word the failure of the one case or the other.
void ExpectWriteAllRetriesEveryInterruptedCall(bool guarded,
                                               const std::string& who,
                                               const std::string& hint) {
  RawPipe pipe;
  SysFcntl(pipe.write_fd, F_SETFL, O_NONBLOCK);
  const std::size_t prefill = FillPipe(pipe.write_fd);
  const std::string data = Pattern(256 << 10);
  kata::SharedText received;
  kata::Child reader([&] {
    pipe.CloseWrite();
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    received.Store(RawReadAll(pipe.read_fd));
  });
  pipe.CloseRead();
  {
    std::optional<kata::pipe::SigpipeGuard> guard;
    if (guarded) guard.emplace();
    kata::InjectedFault eintr =
        kata::InjectedFault::InterruptEach(kata::kBlockingCalls);
    try {
      kata::pipe::WriteAll(pipe.write_fd, data);
    } catch (const std::system_error& e) {
      ADD_FAILURE() << who << " threw " << e.what() << " when "
                    << eintr.description() << Hint(hint);
    }
  }
  pipe.CloseWrite();
  reader.Join();
  const std::string got = received.Load();
  EXPECT_EQ(Difference(data, got.substr(std::min(prefill, got.size()))), "");
}

// Tests that WriteAll carries on when every call it makes is interrupted
// once: write() and, while the non-blocking pipe is full, poll().
TEST(Stage3FullReadsAndWrites, WriteAllRetriesEveryInterruptedCall) {
  ExpectWriteAllRetriesEveryInterruptedCall(
      false, "WriteAll",
      "EINTR only means a signal handler ran: make the same call again "
      "(write, poll)");
}

// Tests that WriteAll finishes when every write() moves only part of what it
// was asked to.
TEST(Stage3FullReadsAndWrites, WriteAllFinishesWhenEveryWriteIsShort) {
  RawPipe pipe;
  const std::string data = AllByteValues(200 << 10);
  kata::SharedText received;
  kata::Child reader([&] {
    pipe.CloseWrite();
    received.Store(RawReadAll(pipe.read_fd));
  });
  pipe.CloseRead();
  {
    kata::InjectedFault short_writes =
        kata::InjectedFault::ShortTransfer(kata::kWriteCalls, 1000);
    kata::pipe::WriteAll(pipe.write_fd, data);
  }
  pipe.CloseWrite();
  reader.Join();
  EXPECT_EQ(Difference(data, received.Load()), "")
      << Hint("write() returns how many bytes it took: go on from there");
}

// Tests that WriteAll waits for room on a full non-blocking pipe without
// burning CPU: EAGAIN means "wait with poll() for POLLOUT", not "try again".
TEST(Stage3FullReadsAndWrites, WriteAllWaitsForRoomWithoutBusyWaiting) {
  RawPipe pipe;
  SysFcntl(pipe.write_fd, F_SETFL, O_NONBLOCK);
  const std::size_t prefill = FillPipe(pipe.write_fd);
  const std::string data = Pattern(64 << 10);
  kata::SharedText received;
  kata::Child reader([&] {
    pipe.CloseWrite();
    kata::ExpectNoBusyWaiting(
        kata::RunnerPid(), "WriteAll on a full non-blocking pipe",
        "on EAGAIN, wait with poll() for POLLOUT; calling write() again at "
        "once spins and burns the CPU");
    received.Store(RawReadAll(pipe.read_fd));
  });
  pipe.CloseRead();
  kata::pipe::WriteAll(pipe.write_fd, data);
  pipe.CloseWrite();
  reader.Join();
  EXPECT_EQ(received.Load().size(), prefill + data.size());
}

// Tests every error path of WriteAll: a write() or a poll() that fails (other
// than EINTR and EAGAIN) is reported as std::system_error naming it.
TEST(Stage3FullReadsAndWrites, WriteAllReportsEveryFailedCall) {
  const std::string data = Pattern(128 << 10);
  ForEachFailureOn(
      Side::kCaller, {"write", "poll", "ppoll", "select", "pselect"}, EIO,
      [&](const kata::FaultCase* fault) {
        RawPipe pipe;
        SysFcntl(pipe.write_fd, F_SETFL, O_NONBLOCK);
        FillPipe(pipe.write_fd);  // so WriteAll has to wait for room
        kata::Child reader([&] {
          pipe.CloseWrite();
          std::this_thread::sleep_for(std::chrono::milliseconds(5));
          RawReadAll(pipe.read_fd);
        });
        pipe.CloseRead();
        auto write_all = [&] { kata::pipe::WriteAll(pipe.write_fd, data); };
        if (fault == nullptr) {
          write_all();
        } else {
          kata::ExpectReportedOrRecovered(
              *fault, write_all, false,
              "retry only EINTR, and wait with poll() only on EAGAIN; any "
              "other failure of write() or poll() is a std::system_error "
              "naming the call");
        }
        pipe.CloseWrite();
        reader.Join();
      });
}

// Tests that WriteAll and ReadAll leave the caller's descriptor as they found
// it: open, and blocking or non-blocking as before.
TEST(Stage3FullReadsAndWrites, DescriptorIsLeftAsItWas) {
  for (int flags : {0, O_NONBLOCK}) {
    RawPipe pipe;
    SysFcntl(pipe.write_fd, F_SETFL, flags);
    SysFcntl(pipe.read_fd, F_SETFL, flags);
    kata::pipe::WriteAll(pipe.write_fd, "kept");
    EXPECT_TRUE(IsOpen(pipe.write_fd))
        << "WriteAll closed the caller's descriptor"
        << Hint("the caller owns the descriptor: write to it, never close it");
    EXPECT_EQ(StatusFlags(pipe.write_fd) & O_NONBLOCK, flags)
        << "WriteAll changed O_NONBLOCK on the caller's descriptor"
        << Hint("leave the caller's file status flags as they were");
    pipe.CloseWrite();
    if (flags == 0) {
      EXPECT_EQ(kata::pipe::ReadAll(pipe.read_fd), "kept");
      EXPECT_TRUE(IsOpen(pipe.read_fd))
          << "ReadAll closed the caller's descriptor"
          << Hint("the caller owns the descriptor: read it, never close it");
    }
  }
}

// Tests that ReadAll returns every byte, NUL bytes included, at sizes on both
// sides of a page, of one read() call's worth and of the pipe's capacity.
TEST(Stage3FullReadsAndWrites, ReadAllKeepsEveryByteAtEverySize) {
  for (std::size_t size :
       {std::size_t{1}, std::size_t{4095}, std::size_t{4096}, std::size_t{4097},
        std::size_t{65535}, std::size_t{65536}, std::size_t{65537},
        std::size_t{200000}}) {
    RawPipe pipe;
    const std::string data = AllByteValues(size);
    kata::Child writer([&] {
      pipe.CloseRead();
      RawWriteAll(pipe.write_fd, data);
    });
    pipe.CloseWrite();
    const std::string got = kata::pipe::ReadAll(pipe.read_fd);
    writer.Join();
    EXPECT_EQ(Difference(data, got), "")
        << "with " << size << " bytes"
        << Hint(
               "append exactly the n bytes read() returned, NUL bytes too: "
               "data.append(buffer, n)");
  }
}

// Tests that ReadAll carries on when every read() is interrupted once.
TEST(Stage3FullReadsAndWrites, ReadAllRetriesEveryInterruptedCall) {
  RawPipe pipe;
  const std::string data = Pattern(300 << 10);
  kata::Child writer([&] {
    pipe.CloseRead();
    RawWriteAll(pipe.write_fd, data);
  });
  pipe.CloseWrite();
  kata::InjectedFault eintr =
      kata::InjectedFault::InterruptEach(kata::kBlockingCalls);
  try {
    EXPECT_EQ(Difference(data, kata::pipe::ReadAll(pipe.read_fd)), "");
  } catch (const std::system_error& e) {
    ADD_FAILURE() << "ReadAll threw " << e.what() << " when "
                  << eintr.description()
                  << Hint("EINTR: a signal interrupted the call; retry it");
  }
  writer.Join();
}

// Tests that ReadAll joins reads that each return only a few bytes.
TEST(Stage3FullReadsAndWrites, ReadAllJoinsShortReads) {
  RawPipe pipe;
  const std::string data = AllByteValues(20000);
  kata::Child writer([&] {
    pipe.CloseRead();
    RawWriteAll(pipe.write_fd, data);
  });
  pipe.CloseWrite();
  std::string got;
  {
    kata::InjectedFault short_reads =
        kata::InjectedFault::ShortTransfer(kata::kReadCalls, 7);
    got = kata::pipe::ReadAll(pipe.read_fd);
  }
  writer.Join();
  EXPECT_EQ(Difference(data, got), "") << Hint(
      "read() returning fewer bytes than asked is not end of file: "
      "only 0 is");
}

// Tests that a read() failing (other than EINTR) anywhere in the stream is
// reported as std::system_error naming read, with its errno.
TEST(Stage3FullReadsAndWrites, ReadAllReportsEveryFailedRead) {
  const std::string data = Pattern(200 << 10);
  ForEachFailureOn(Side::kCaller, kata::kReadCalls, EIO,
                   [&](const kata::FaultCase* fault) {
                     RawPipe pipe;
                     kata::Child writer([&] {
                       pipe.CloseRead();
                       signal(SIGPIPE, SIG_IGN);  // the reader may give up
                       RawWriteAll(pipe.write_fd, data);
                     });
                     pipe.CloseWrite();
                     auto read_all = [&] { kata::pipe::ReadAll(pipe.read_fd); };
                     if (fault == nullptr) {
                       read_all();
                     } else {
                       kata::ExpectReportedOrRecovered(
                           *fault, read_all, false,
                           "throw std::system_error when read() returns -1 "
                           "with anything but EINTR");
                     }
                     pipe.CloseRead();
                     writer.Join();
                   });
}

// Tests that ReadAll blocks in the kernel, without burning CPU, while no data
// has arrived yet.
TEST(Stage3FullReadsAndWrites, ReadAllWaitsForDataWithoutBusyWaiting) {
  RawPipe pipe;
  kata::Child writer([&] {
    pipe.CloseRead();
    kata::ExpectNoBusyWaiting(
        kata::RunnerPid(), "ReadAll on an empty pipe",
        "read() blocks until data or end of file comes; do not make the pipe "
        "non-blocking and retry in a loop");
    RawWriteAll(pipe.write_fd, "late");
  });
  pipe.CloseWrite();
  EXPECT_EQ(kata::pipe::ReadAll(pipe.read_fd), "late");
  writer.Join();
}

// =========================================================== Stage 4

constexpr char kOnePipeBothWays[] =
    "a round trip needs two pipes: with one pipe used for both directions, a "
    "process "
    "reads back its own bytes, or both wait for end of file from each other";

// Tests that the reply is computed by a child process and comes back.
TEST(Stage4RoundTrip, ReplyComesFromTheChild) {
  kata::OnDeadlock(kOnePipeBothWays);
  kata::SharedText service_pid;
  std::string reply = kata::pipe::RoundTrip(
      "hello", InChildService([&](std::string_view request) {
        service_pid.Store(std::to_string(getpid()));
        std::string upper(request);
        std::transform(upper.begin(), upper.end(), upper.begin(), ::toupper);
        return upper;
      }));
  EXPECT_EQ(reply, "HELLO");
  EXPECT_NE(service_pid.Load(), std::to_string(getpid()))
      << Hint("the service must run in the forked child, not in the parent");
}

// Tests that the parent reads the child's reply, not its own request.
TEST(Stage4RoundTrip, ReplyIsNotTheRequestEchoedBack) {
  kata::OnDeadlock(kOnePipeBothWays);
  std::string reply = kata::pipe::RoundTrip(
      "question", InChildService([](std::string_view request) {
        return "answer to " + std::string(request);
      }));
  EXPECT_EQ(reply, "answer to question") << Hint(kOnePipeBothWays);
}

// Tests a request and a reply both larger than a pipe holds.
TEST(Stage4RoundTrip, LargeRequestAndReply) {
  kata::OnDeadlock(kOnePipeBothWays);
  const std::string request = Pattern(256 << 10);
  std::string reply =
      kata::pipe::RoundTrip(request, InChildService([](std::string_view text) {
                              return std::string(text.rbegin(), text.rend());
                            }));
  EXPECT_EQ(Difference(std::string(request.rbegin(), request.rend()), reply),
            "");
}

// Tests that a service that throws makes RoundTrip throw std::runtime_error.
TEST(Stage4RoundTrip, FailingServiceIsAnError) {
  EXPECT_THROW(kata::pipe::RoundTrip(
                   "x", InChildService([](std::string_view) -> std::string {
                     throw std::runtime_error("service failed");
                   })),
               std::runtime_error)
      << Hint(
             "the child exits with code 1 when the service throws; check the "
             "exit status");
}

// Tests that RoundTrip moves the request and the reply through two pipes,
// opens no other kind of channel, and forks one child for the service.
TEST(Stage4RoundTrip, MovesRequestAndReplyThroughTwoPipes) {
  kata::OnDeadlock(kOnePipeBothWays);
  kata::CallCounter calls;
  kata::MechanismWatch watch;
  std::string reply = kata::pipe::RoundTrip(
      "ping", InChildService([](std::string_view request) {
        return std::string(request) + " pong";
      }));
  kata::ExpectOnlyMechanism(watch, {"pipe"}, "pipes");
  kata::ExpectUsed(calls, {"pipe", "pipe2"}, 2, "two pipes, one each way");
  kata::ExpectUsed(calls, {"fork"}, 1, "a child process (fork(2))");
  EXPECT_EQ(reply, "ping pong");
}

// Tests that the service sees the request byte for byte (NUL bytes too), and
// that an empty request and an empty reply travel as such.
TEST(Stage4RoundTrip, RequestAndReplyKeepEveryByte) {
  kata::OnDeadlock(kOnePipeBothWays);
  const std::string request = AllByteValues(70000);
  kata::SharedText seen;
  std::string reply =
      kata::pipe::RoundTrip(request, InChildService([&](std::string_view text) {
                              seen.Store(text);
                              return std::string(text.rbegin(), text.rend());
                            }));
  EXPECT_EQ(Difference(request, seen.Load()), "")
      << Hint("the service gets the whole request, every byte of it");
  EXPECT_EQ(Difference(std::string(request.rbegin(), request.rend()), reply),
            "");
  seen.Store("(the service did not run)");
  reply = kata::pipe::RoundTrip("", InChildService([&](std::string_view text) {
                                  seen.Store("[" + std::string(text) + "]");
                                  return std::string();
                                }));
  EXPECT_EQ(seen.Load(), "[]");
  EXPECT_EQ(reply, "");
}

// Tests that a service child ended by a signal is an error, not an empty
// reply.
TEST(Stage4RoundTrip, ServiceKilledByASignalIsAnError) {
  EXPECT_THROW(kata::pipe::RoundTrip(
                   "x", InChildService([](std::string_view) -> std::string {
                     signal(SIGTERM, SIG_DFL);
                     raise(SIGTERM);
                     return "never sent";
                   })),
               std::runtime_error)
      << Hint(
             "a child ended by a signal did not exit with code 0: check "
             "WIFSIGNALED as well");
}

// Tests that every blocking call on both sides is retried when it is
// interrupted: the child's reads and writes as well as the parent's.
TEST(Stage4RoundTrip, RetriesEveryInterruptedCall) {
  kata::OnDeadlock(kOnePipeBothWays);
  const std::string request = Pattern(256 << 10);
  std::string reply;
  kata::InjectedFault eintr =
      kata::InjectedFault::InterruptEach(kata::kBlockingCalls);
  try {
    reply = kata::pipe::RoundTrip(
        request, InChildService([](std::string_view text) {
          return std::string(text.rbegin(), text.rend());
        }));
  } catch (const std::exception& e) {
    ADD_FAILURE() << "RoundTrip threw " << e.what() << " when "
                  << eintr.description()
                  << Hint(
                         "EINTR only means a signal handler ran: retry the "
                         "call, in the child as well as in the parent");
  }
  EXPECT_EQ(Difference(std::string(request.rbegin(), request.rend()), reply),
            "");
}

// Tests every error path in the caller while the child is still busy with a
// reply larger than the pipe: each call failing in turn is reported as
// std::system_error naming it, no descriptor stays open, the child is
// reaped.
TEST(Stage4RoundTrip, ReportsEveryFailedCallInTheCaller) {
  const std::string big_reply = Pattern(256 << 10);
  auto trip = [&] {
    kata::pipe::RoundTrip("question", InChildService([&](std::string_view) {
                            return big_reply;
                          }));
  };
  ForEachFailureOn(
      Side::kCaller,
      {"pipe", "pipe2", "fork", "write", "read", "waitpid", "wait4", "waitid"},
      EIO, [&](const kata::FaultCase* fault) {
        if (fault == nullptr) return trip();
        ExpectReportedWithoutLeaks(
            *fault, trip,
            "report the failed call as std::system_error; "
            "before it leaves, close both of your pipe ends "
            "(the child then sees end of file, or EPIPE) and "
            "reap the child");
      });
}

// Tests failures in the child (its read of the request, its write of the
// reply): the child exits with code 1 and RoundTrip throws, never returning a
// made-up reply, and nothing is left behind.
TEST(Stage4RoundTrip, ReportsEveryFailedCallInTheChild) {
  // In a child of the runner with SIGPIPE at its default: the caller meets
  // EPIPE when the service's child fails, and a caller that lets SIGPIPE
  // through dies of it there, with a report, not the test runner.
  kata::RunInChild([] {
    signal(SIGPIPE, SIG_DFL);
    const std::string request = Pattern(1 << 20);
    const std::string big_reply = Pattern(256 << 10);
    auto trip = [&] {
      kata::pipe::RoundTrip(
          request, InChildService([&](std::string_view) { return big_reply; }));
    };
    ForEachFailureOn(
        Side::kChildren, {"read", "write"}, EIO,
        [&](const kata::FaultCase* fault) {
          if (fault == nullptr) return trip();
          kata::ResourceSnapshot before;
          try {
            trip();
            ADD_FAILURE() << "RoundTrip returned a reply although "
                          << fault->ToString() << " in the child"
                          << Hint(
                                 "the child exits with code 1 when its read or "
                                 "write fails: check the exit status and throw "
                                 "std::runtime_error");
          } catch (const std::runtime_error&) {
            // The child's failure (or the EPIPE the parent met writing to a
            // child that is gone): both are errors the contract allows.
          }
          EXPECT_EQ(before.Leaks(), "")
              << "after " << fault->ToString() << " in the child"
              << Hint(
                     "close every pipe end you do not use right after fork(), "
                     "so that a child that is gone shows up as EPIPE or end "
                     "of file instead of a wait that never ends");
        });
  });
}

// The exit code of the last child that exited, as SIGCHLD's siginfo tells.
std::atomic<int> g_exit_code_seen{-1};

// Tests that a child whose service throws ends with exit code 1, as the
// contract says (seen through the SIGCHLD the child's exit sends).
TEST(Stage4RoundTrip, FailingServiceEndsTheChildWithExitCode1) {
  struct sigaction watch{}, old{};
  watch.sa_sigaction = [](int, siginfo_t* info, void*) {
    if (info->si_code == CLD_EXITED) g_exit_code_seen = info->si_status;
  };
  watch.sa_flags = SA_SIGINFO | SA_RESTART;
  sigemptyset(&watch.sa_mask);
  sigaction(SIGCHLD, &watch, &old);
  g_exit_code_seen = -1;
  EXPECT_THROW(kata::pipe::RoundTrip(
                   "x", InChildService([](std::string_view) -> std::string {
                     throw std::runtime_error("service failed");
                   })),
               std::runtime_error);
  sigaction(SIGCHLD, &old, nullptr);
  EXPECT_EQ(g_exit_code_seen.load(), 1)
      << "the service threw, and its child exited with code "
      << g_exit_code_seen.load()
      << Hint("catch every exception in the child and end it with _exit(1)");
}

// Tests that the reply ends when the child ends, even if the service left a
// program running: the pipes are close-on-exec, so that program does not
// hold the reply pipe open.
TEST(Stage4RoundTrip, ReplyEndsWhenTheChildEndsEvenIfItsProgramLingers) {
  constexpr char kLingering[] =
      "the reply never ended: a program the service started (sleep 30) still "
      "holds the reply pipe's write end; make every pipe close-on-exec "
      "(pipe2 with O_CLOEXEC)";
  kata::OnDeadlock(kLingering);
  kata::SharedText lingering;
  std::string reply = kata::pipe::RoundTrip(
      "x", InChildService([&](std::string_view) {
        lingering.Store(std::to_string(StartLingeringProgram()));
        return std::string("done");
      }));
  const pid_t program = std::stoi(lingering.Load());
  EXPECT_TRUE(IsRunning(program))
      << "the reply came only after the program the service started had "
         "ended"
      << Hint(kLingering);
  EXPECT_EQ(reply, "done");
  StopLingeringProgram(program);
}

// Tests that RoundTrip waits for the reply in the kernel, without burning
// CPU, while the service is still at work.
TEST(Stage4RoundTrip, WaitsForTheReplyWithoutBusyWaiting) {
  kata::OnDeadlock(kOnePipeBothWays);
  RawPipe go;
  kata::Child watcher([&] {
    kata::ExpectNoBusyWaiting(
        kata::RunnerPid(), "RoundTrip waiting for the reply",
        "a blocking read() waits in the kernel until the reply comes");
    SysWrite(go.write_fd, "g", 1);
  });
  std::string reply =
      kata::pipe::RoundTrip("x", InChildService([&](std::string_view) {
                              AwaitByte(go.read_fd);
                              return std::string("late reply");
                            }));
  watcher.Join();
  EXPECT_EQ(reply, "late reply");
}

// Tests that output the caller buffered in stdio is written once, not once
// more by RoundTrip's child when it flushes its copy.
TEST(Stage4RoundTrip, ChildDoesNotRepeatTheCallersBufferedOutput) {
  ExpectCallersBufferedOutputWrittenOnce("RoundTrip", [](FILE* file) {
    kata::pipe::RoundTrip("", InChildService([file](std::string_view) {
                            std::fputs("child's line\n", file);
                            std::fflush(file);
                            return std::string();
                          }));
  });
}

// =========================================================== Stage 5
// These tests run inside a kata::Child with SIGPIPE at its default action, so
// code that lets SIGPIPE through kills that child, not the test runner.

constexpr char kParentHoldsReadEnd[] =
    "the parent is blocked writing into a full pipe whose reader has gone: the "
    "parent "
    "still holds its own copy of the read end, so the kernel never reports "
    "EPIPE (close "
    "the read end in the parent)";

// Tests that writing with no reader left is an EPIPE error, not death by
// SIGPIPE.
TEST(Stage5BrokenPipe, WriteAllWithNoReaderThrowsEpipe) {
  kata::RunInChild([] {
    signal(SIGPIPE, SIG_DFL);
    RawPipe pipe;
    pipe.CloseRead();  // before the write: nobody can ever read
    ExpectSystemError(
        [&] { kata::pipe::WriteAll(pipe.write_fd, "anyone there?"); },
        std::errc::broken_pipe, "write",
        Hint("report EPIPE as std::system_error"));
  });
}

// Tests that the process is intact after the EPIPE: SIGPIPE is not left
// blocked or pending, so the program behaves as before the failed write.
TEST(Stage5BrokenPipe, WriterSurvivesTheBrokenPipe) {
  kata::RunInChild([] {
    signal(SIGPIPE, SIG_DFL);
    RawPipe pipe;
    pipe.CloseRead();
    try {
      kata::pipe::WriteAll(pipe.write_fd, "anyone there?");
    } catch (const std::system_error&) {
    }
    sigset_t mask, pending;
    sigprocmask(SIG_BLOCK, nullptr, &mask);
    sigpending(&pending);
    EXPECT_FALSE(sigismember(&mask, SIGPIPE))
        << "SIGPIPE is still blocked"
        << Hint("restore the old signal mask after the write");
    EXPECT_FALSE(sigismember(&pending, SIGPIPE))
        << "a SIGPIPE is pending and will kill the process as soon as it is "
           "unblocked"
        << Hint(
               "consume the pending SIGPIPE (sigtimedwait) before unblocking "
               "it");
  });
}

// Tests that SendToChild reports a child that quit without reading instead of
// blocking forever on the full pipe.
TEST(Stage5BrokenPipe, SendToChildNoticesAChildThatStoppedReading) {
  kata::OnDeadlock(kParentHoldsReadEnd);
  kata::RunInChild([] {
    signal(SIGPIPE, SIG_DFL);
    ExpectSystemError(
        [] {
          kata::pipe::SendToChild(Pattern(1 << 20), [](int) { return 0; });
        },
        std::errc::broken_pipe, "write", Hint(kParentHoldsReadEnd));
  });
}

// Tests that the EPIPE path leaves no descriptor open and no child unreaped.
TEST(Stage5BrokenPipe, SendToChildCleansUpAfterEpipe) {
  kata::OnDeadlock(kParentHoldsReadEnd);
  kata::RunInChild([] {
    signal(SIGPIPE, SIG_DFL);
    const std::vector<int> before = kata::OpenDescriptors();
    try {
      kata::pipe::SendToChild(Pattern(1 << 20), [](int) { return 0; });
    } catch (const std::system_error&) {
    }
    EXPECT_EQ(kata::OpenDescriptors(), before)
        << "descriptors are left open after the error"
        << Hint("close both ends on the error path too (let Fd do it)");
    EXPECT_EQ(kata::ChildProcesses(), std::vector<pid_t>{})
        << Hint("reap the child (WaitForChild) before rethrowing the error");
  });
}

// Tests that WriteAll into a pipe with no reader throws EPIPE and leaves the
// caller's signal state as it was, however the caller had set SIGPIPE up.
TEST(Stage5BrokenPipe, WriteAllWithNoReaderKeepsTheCallersSignalState) {
  for (SigpipeSetup setup : kEverySigpipeSetup) {
    ExpectSigpipeStateKept(setup, "WriteAll into a pipe with no reader", [] {
      RawPipe pipe;
      pipe.CloseRead();
      ExpectSystemError(
          [&] { kata::pipe::WriteAll(pipe.write_fd, "anyone there?"); },
          std::errc::broken_pipe, "write",
          Hint("report EPIPE as std::system_error"));
    });
  }
}

// Tests a reader that leaves in the middle of a large write: write() returns
// a short count and still raises SIGPIPE, the next write() fails with EPIPE.
// WriteAll must throw EPIPE and leave no SIGPIPE of its own pending, however
// the caller had set SIGPIPE up.
TEST(Stage5BrokenPipe, ReaderLeavingMidWriteKeepsTheCallersSignalState) {
  for (SigpipeSetup setup : kEverySigpipeSetup) {
    ExpectSigpipeStateKept(
        setup, "WriteAll whose reader left in the middle of it", [] {
          RawPipe pipe;
          const pid_t writer = getpid();
          kata::Child reader([&] {
            pipe.CloseWrite();
            kata::WaitUntilBlocked(writer);  // on the full pipe
            char some[4096];
            SysRead(pipe.read_fd, some, sizeof(some));
          });
          pipe.CloseRead();
          ExpectSystemError(
              [&] { kata::pipe::WriteAll(pipe.write_fd, Pattern(1 << 20)); },
              std::errc::broken_pipe, "write",
              Hint("report EPIPE as std::system_error"));
          reader.Join();
        });
  }
}

// Tests that a WriteAll that succeeds leaves the caller's signal state alone,
// in particular a SIGPIPE the caller had pending: it is not the call's.
TEST(Stage5BrokenPipe, WriteAllThatSucceedsKeepsTheCallersSignalState) {
  for (SigpipeSetup setup : kEverySigpipeSetup) {
    ExpectSigpipeStateKept(setup, "WriteAll into a pipe with a reader", [] {
      RawPipe pipe;
      kata::pipe::WriteAll(pipe.write_fd, "fine");
      pipe.CloseWrite();
      EXPECT_EQ(RawReadAll(pipe.read_fd), "fine");
    });
  }
}

// Tests SendToChild's EPIPE path (a child that quits without reading) for
// every way the caller may have set SIGPIPE up.
TEST(Stage5BrokenPipe, SendToChildMeetingEpipeKeepsTheCallersSignalState) {
  kata::OnDeadlock(kParentHoldsReadEnd);
  for (SigpipeSetup setup : kEverySigpipeSetup) {
    ExpectSigpipeStateKept(
        setup, "SendToChild to a child that does not read", [] {
          ExpectSystemError(
              [] {
                kata::pipe::SendToChild(Pattern(1 << 20),
                                        InChild([](int) { return 0; }));
              },
              std::errc::broken_pipe, "write", Hint(kParentHoldsReadEnd));
        });
  }
}

// Tests that WriteAll inside a SigpipeGuard still turns a missing reader into
// EPIPE, twice in a row, and that the guard leaves the caller's signal state
// as it found it, however the caller had set SIGPIPE up.
TEST(Stage5BrokenPipe, GuardedWritesWithNoReaderKeepTheCallersSignalState) {
  for (SigpipeSetup setup : kEverySigpipeSetup) {
    ExpectSigpipeStateKept(
        setup, "a SigpipeGuard around two WriteAll with no reader", [] {
          RawPipe pipe;
          pipe.CloseRead();
          kata::pipe::SigpipeGuard guard;
          for (int attempt = 0; attempt < 2; ++attempt) {
            ExpectSystemError(
                [&] { kata::pipe::WriteAll(pipe.write_fd, "anyone there?"); },
                std::errc::broken_pipe, "write",
                Hint("inside a guard, an EPIPE is still a std::system_error, "
                     "and the guard takes the SIGPIPE it raised "
                     "(TakeRaisedSigpipe)"));
          }
        });
  }
}

// Tests the point of the guard: while one lives, WriteAll makes no system
// call but its writes (no pthread_sigmask, no sigtimedwait), and SIGPIPE is
// blocked in the thread the whole time.
TEST(Stage5BrokenPipe, GuardedWritesMakeNoSignalCalls) {
  kata::RunInChild([] {
    signal(SIGPIPE, SIG_DFL);
    RawPipe pipe;
    kata::pipe::SigpipeGuard guard;
    EXPECT_EQ(kata::pipe::SigpipeGuard::InThisThread(), &guard)
        << "InThisThread() is not the guard just made"
        << Hint("each guard makes itself the thread's innermost");
    {
      kata::CallCounter calls;
      for (int i = 0; i < 100; ++i) kata::pipe::WriteAll(pipe.write_fd, "x");
      EXPECT_EQ(calls.Count({"pthread_sigmask", "sigprocmask", "sigpending",
                             "sigtimedwait", "sigaction", "signal"}),
                0)
          << "100 WriteAll calls inside a SigpipeGuard made signal calls"
          << Hint(
                 "a writer that finds a guard in its thread uses it and "
                 "blocks nothing of its own");
    }
    sigset_t mask;
    sigprocmask(SIG_BLOCK, nullptr, &mask);
    EXPECT_TRUE(sigismember(&mask, SIGPIPE))
        << "SIGPIPE is not blocked while the guard lives"
        << Hint("block SIGPIPE in the guard's constructor");
    pipe.CloseWrite();
    EXPECT_EQ(RawReadAll(pipe.read_fd), std::string(100, 'x'));
  });
}

// Tests that a guarded WriteAll still retries every interrupted call (write,
// poll) and finishes: the guard changes which signal calls are made, not the
// write loop.
TEST(Stage5BrokenPipe, GuardedWritesRetryEveryInterruptedCall) {
  ExpectWriteAllRetriesEveryInterruptedCall(
      true, "WriteAll inside a SigpipeGuard",
      "a guarded write loop retries EINTR as the unguarded one does (write, "
      "poll)");
}

// Tests that guards nest: the inner one gives nothing back, the outer one
// gives SIGPIPE back; and that a guard gives back SIGPIPE alone, keeping the
// other changes its owner made to the mask while it lived.
TEST(Stage5BrokenPipe, GuardsNestAndGiveBackOnlySigpipe) {
  kata::RunInChild([] {
    signal(SIGPIPE, SIG_DFL);
    auto blocked = [](int signal) {
      sigset_t mask;
      sigprocmask(SIG_BLOCK, nullptr, &mask);
      return sigismember(&mask, signal) == 1;
    };
    {
      kata::pipe::SigpipeGuard outer;
      {
        kata::pipe::SigpipeGuard inner;
        EXPECT_EQ(kata::pipe::SigpipeGuard::InThisThread(), &inner)
            << Hint("the newest guard is the thread's innermost");
      }
      EXPECT_EQ(kata::pipe::SigpipeGuard::InThisThread(), &outer)
          << "after the inner guard ended, the outer one is not the "
             "innermost again"
          << Hint(
                 "each guard remembers the one it is inside and puts it "
                 "back when it ends");
      EXPECT_TRUE(blocked(SIGPIPE))
          << "the inner guard unblocked SIGPIPE, which the outer one blocks"
          << Hint("a guard that found SIGPIPE blocked gives nothing back");
      sigset_t usr1;
      sigemptyset(&usr1);
      sigaddset(&usr1, SIGUSR1);
      sigprocmask(SIG_BLOCK, &usr1, nullptr);  // the owner's own change
    }
    EXPECT_EQ(kata::pipe::SigpipeGuard::InThisThread(), nullptr)
        << Hint("the last guard to end leaves no innermost guard");
    EXPECT_FALSE(blocked(SIGPIPE))
        << "SIGPIPE is still blocked after the outermost guard ended"
        << Hint(
               "unblock SIGPIPE in the destructor of the guard that "
               "blocked it");
    EXPECT_TRUE(blocked(SIGUSR1))
        << "the guard undid a change its owner made to the mask while it "
           "lived (SIGUSR1 blocked)"
        << Hint(
               "give back SIGPIPE alone (SIG_UNBLOCK), not a whole mask "
               "saved long ago (SIG_SETMASK)");
  });
}

// Tests that a guard covers its own thread only: another thread's WriteAll
// guards itself, and survives a missing reader.
TEST(Stage5BrokenPipe, GuardCoversOnlyItsOwnThread) {
#ifdef __SANITIZE_THREAD__
  GTEST_SKIP() << "ThreadSanitizer cannot start a thread in a child forked "
                  "from a process that has threads (the watchdog's), and the "
                  "child is what keeps a SIGPIPE death from ending the suite";
#endif
  kata::RunInChild([] {
    signal(SIGPIPE, SIG_DFL);
    kata::pipe::SigpipeGuard guard;
    bool threw_epipe = false;
    bool other_thread_saw_a_guard = true;
    std::thread other([&] {
      // A new thread inherits its creator's mask: start from SIGPIPE
      // unblocked, as a thread the program made before the guard would.
      sigset_t sigpipe;
      sigemptyset(&sigpipe);
      sigaddset(&sigpipe, SIGPIPE);
      pthread_sigmask(SIG_UNBLOCK, &sigpipe, nullptr);
      other_thread_saw_a_guard =
          kata::pipe::SigpipeGuard::InThisThread() != nullptr;
      // Its WriteAll would trust that guard and die of SIGPIPE.
      if (other_thread_saw_a_guard) return;
      RawPipe pipe;
      pipe.CloseRead();
      try {
        kata::pipe::WriteAll(pipe.write_fd, "anyone there?");
      } catch (const std::system_error& error) {
        threw_epipe = error.code() == std::errc::broken_pipe;
      }
    });
    other.join();
    EXPECT_FALSE(other_thread_saw_a_guard)
        << "another thread sees this thread's guard"
        << Hint(
               "keep the innermost guard in a thread_local variable: a "
               "signal mask belongs to one thread");
    EXPECT_TRUE(threw_epipe)
        << "WriteAll in another thread did not throw EPIPE"
        << Hint("a thread without a guard guards each call itself");
  });
}

// The SIGPIPE bit of the blocked-signal mask ("SigBlk") in /proc/self/status
// as the command `cat` printed it.
bool CommandStartedWithSigpipeBlocked() {
  const std::string status =
      kata::pipe::RunCommand({"cat", "/proc/self/status"}, "").output;
  const std::size_t line = status.find("SigBlk:");
  if (line == std::string::npos) {
    ADD_FAILURE() << "no SigBlk line in /proc/self/status: " << status;
    return false;
  }
  const unsigned long long mask =
      std::stoull(status.substr(line + 7, 20), nullptr, 16);
  return (mask >> (SIGPIPE - 1) & 1) != 0;
}

// Tests that a command started inside a guard gets the caller's own mask: a
// blocked signal survives exec, and `yes | head` must still end by SIGPIPE.
TEST(Stage5BrokenPipe, CommandStartedInsideAGuardGetsTheCallersMask) {
  kata::RunInChild([] {
    signal(SIGPIPE, SIG_DFL);
    {
      kata::pipe::SigpipeGuard guard;
      EXPECT_FALSE(CommandStartedWithSigpipeBlocked())
          << "a command RunCommand started inside a SigpipeGuard has SIGPIPE "
             "blocked"
          << Hint(
                 "in the child, before exec, unblock SIGPIPE when only "
                 "guards block it (OnlyGuardsBlockSigpipe)");
    }
    sigset_t sigpipe;
    sigemptyset(&sigpipe);
    sigaddset(&sigpipe, SIGPIPE);
    sigprocmask(SIG_BLOCK, &sigpipe, nullptr);  // now the caller's own choice
    kata::pipe::SigpipeGuard guard;
    EXPECT_TRUE(CommandStartedWithSigpipeBlocked())
        << "the caller blocked SIGPIPE itself, but the command started "
           "inside a guard has it unblocked"
        << Hint(
               "OnlyGuardsBlockSigpipe asks the outermost guard whether "
               "SIGPIPE was blocked before it");
  });
}

// =========================================================== Stage 6

constexpr char kWaitBeforeDrain[] =
    "waitpid() before draining: the child is blocked writing into a full pipe "
    "(64 KiB) "
    "while the parent waits for it to exit; read everything first, then wait";

// Tests that the measured capacity is the one the kernel reports
// (F_GETPIPE_SZ).
TEST(Stage6PipeCapacity, CapacityIsWhatTheKernelReports) {
  RawPipe pipe;
  const int reported = fcntl(pipe.write_fd, F_GETPIPE_SZ);
  kata::CallCounter calls;
  EXPECT_EQ(kata::pipe::MeasureCapacity(), static_cast<std::size_t>(reported))
      << Hint(
             "write single bytes to an O_NONBLOCK write end until EAGAIN; a "
             "larger write is "
             "refused whole once less than PIPE_BUF is free");
  kata::ExpectUsed(calls, {"pipe", "pipe2"}, 1, "a pipe (pipe(2))");
}

// Tests capturing a child's output of 16 pipe-fulls.
TEST(Stage6PipeCapacity, RunAndCaptureDrainsBeforeWaiting) {
  kata::OnDeadlock(kWaitBeforeDrain);
  const std::string output = Pattern(1 << 20);
  kata::pipe::Captured captured = kata::pipe::RunAndCapture(
      InChild([&](int fd) { return RawWriteAll(fd, output) ? 0 : 1; }));
  EXPECT_EQ(Difference(output, captured.output), "") << Hint(kWaitBeforeDrain);
  EXPECT_TRUE(captured.status.ok());
}

// Tests that RunAndCapture returns the child's exit code with its output.
TEST(Stage6PipeCapacity, RunAndCaptureReportsTheExitCode) {
  kata::OnDeadlock(kWaitBeforeDrain);
  kata::pipe::Captured captured = kata::pipe::RunAndCapture(InChild([](int fd) {
    RawWriteAll(fd, "partial result");
    return 9;
  }));
  EXPECT_EQ(captured.output, "partial result");
  EXPECT_EQ(captured.status.code, 9);
}

// Tests that MeasureCapacity still gives the kernel's figure when every
// write() is interrupted once: an interrupted write wrote nothing.
TEST(Stage6PipeCapacity, CapacityIsRightWhenEveryWriteIsInterrupted) {
  RawPipe probe;
  const auto reported =
      static_cast<std::size_t>(SysFcntl(probe.write_fd, F_GETPIPE_SZ));
  kata::InjectedFault eintr =
      kata::InjectedFault::InterruptEach(kata::kBlockingCalls);
  try {
    EXPECT_EQ(kata::pipe::MeasureCapacity(), reported) << Hint(
        "a write() that fails with EINTR wrote nothing: try it "
        "again, and count only what write() reports");
  } catch (const std::system_error& e) {
    ADD_FAILURE() << "MeasureCapacity threw " << e.what() << " when "
                  << eintr.description()
                  << Hint("EINTR only means a signal handler ran: retry");
  }
}

// Tests every error path of MeasureCapacity: pipe2, fcntl and write failing
// in turn are reported as std::system_error naming the call (never as a
// capacity, never as a write that blocks forever), and the pipe is closed.
TEST(Stage6PipeCapacity, MeasureCapacityReportsEveryFailedCall) {
  auto measure = [] { (void)kata::pipe::MeasureCapacity(); };
  ForEachFailureOn(Side::kCaller, {"pipe", "pipe2", "fcntl", "write"}, EIO,
                   [&](const kata::FaultCase* fault) {
                     if (fault == nullptr) return measure();
                     ExpectReportedWithoutLeaks(
                         *fault, measure,
                         "only EAGAIN means the pipe is full; any other "
                         "failure of pipe2, fcntl or write is a "
                         "std::system_error naming the call");
                   });
}

// Tests that RunAndCapture moves the output through a pipe: the child gets a
// pipe's write end, and no other kind of channel is opened.
TEST(Stage6PipeCapacity, RunAndCaptureMovesTheOutputThroughAPipe) {
  kata::OnDeadlock(kWaitBeforeDrain);
  kata::MechanismWatch watch;
  kata::pipe::Captured captured = kata::pipe::RunAndCapture(InChild([](int fd) {
    const bool write_only = (StatusFlags(fd) & O_ACCMODE) == O_WRONLY;
    RawWriteAll(fd, kata::DescriptorKind(getpid(), fd) +
                        (write_only ? " write end" : " other"));
    return 0;
  }));
  kata::ExpectOnlyMechanism(watch, {"pipe"}, "a pipe");
  EXPECT_EQ(captured.output, "pipe write end")
      << Hint("give the child the write end of the pipe made by MakePipe");
}

// Tests outputs around the pipe's capacity (one byte less, exactly, one
// more), every byte value included, and no output at all.
TEST(Stage6PipeCapacity, RunAndCaptureKeepsEveryByteAroundThePipesCapacity) {
  kata::OnDeadlock(kWaitBeforeDrain);
  RawPipe probe;
  const auto capacity =
      static_cast<std::size_t>(SysFcntl(probe.write_fd, F_GETPIPE_SZ));
  for (std::size_t size :
       {std::size_t{0}, capacity - 1, capacity, capacity + 1}) {
    const std::string output = AllByteValues(size);
    kata::pipe::Captured captured = kata::pipe::RunAndCapture(
        InChild([&](int fd) { return RawWriteAll(fd, output) ? 0 : 1; }));
    EXPECT_EQ(Difference(output, captured.output), "")
        << "an output of " << size << " bytes" << Hint(kWaitBeforeDrain);
    EXPECT_TRUE(captured.status.ok());
  }
}

// Tests a child killed by a signal: its output up to then and the signal
// come back.
TEST(Stage6PipeCapacity, RunAndCaptureReportsAKillingSignal) {
  kata::pipe::Captured captured = kata::pipe::RunAndCapture(InChild([](int fd) {
    RawWriteAll(fd, "last words");
    signal(SIGTERM, SIG_DFL);
    raise(SIGTERM);
    return 0;
  }));
  EXPECT_EQ(captured.output, "last words");
  EXPECT_TRUE(captured.status.signaled && captured.status.signal == SIGTERM)
      << "a child killed by SIGTERM (15) was reported as signaled "
      << captured.status.signaled << ", signal " << captured.status.signal
      << Hint("return WaitForChild's status for the child you forked");
}

// Tests that every blocking call of RunAndCapture is retried when it is
// interrupted once.
TEST(Stage6PipeCapacity, RunAndCaptureRetriesEveryInterruptedCall) {
  kata::OnDeadlock(kWaitBeforeDrain);
  const std::string output = Pattern(1 << 20);
  kata::pipe::Captured captured;
  kata::InjectedFault eintr =
      kata::InjectedFault::InterruptEach(kata::kBlockingCalls);
  try {
    captured = kata::pipe::RunAndCapture(
        InChild([&](int fd) { return RawWriteAll(fd, output) ? 0 : 1; }));
  } catch (const std::system_error& e) {
    ADD_FAILURE() << "RunAndCapture threw " << e.what() << " when "
                  << eintr.description()
                  << Hint(
                         "EINTR only means a signal handler ran: make the "
                         "same call again (read, waitpid)");
  }
  EXPECT_EQ(Difference(output, captured.output), "");
  EXPECT_TRUE(captured.status.ok());
}

// Tests every error path of RunAndCapture while the child still has more
// output than the pipe holds: each call failing in turn is reported as
// std::system_error naming it, no descriptor stays open, the child is
// reaped.
TEST(Stage6PipeCapacity, RunAndCaptureReportsEveryFailedCall) {
  const std::string output = Pattern(1 << 20);
  auto capture = [&] {
    kata::pipe::RunAndCapture(
        InChild([&](int fd) { return RawWriteAll(fd, output) ? 0 : 1; }));
  };
  ForEachFailureOn(
      Side::kCaller,
      {"pipe", "pipe2", "fork", "read", "wait", "waitpid", "wait4", "waitid"},
      EIO, [&](const kata::FaultCase* fault) {
        if (fault == nullptr) return capture();
        ExpectReportedWithoutLeaks(
            *fault, capture,
            "report the failed call as std::system_error; "
            "before it leaves, close the read end (the child "
            "then meets EPIPE instead of a full pipe) and reap "
            "the child");
      });
}

// Tests that RunAndCapture waits for output in the kernel, without burning
// CPU, while the child is still at work.
TEST(Stage6PipeCapacity, RunAndCaptureWaitsWithoutBusyWaiting) {
  kata::OnDeadlock(kWaitBeforeDrain);
  RawPipe go;
  kata::Child watcher([&] {
    kata::ExpectNoBusyWaiting(
        kata::RunnerPid(), "RunAndCapture waiting for output",
        "a blocking read() waits in the kernel until output or end of file "
        "comes");
    SysWrite(go.write_fd, "g", 1);
  });
  kata::pipe::Captured captured =
      kata::pipe::RunAndCapture(InChild([&](int fd) {
        AwaitByte(go.read_fd);
        RawWriteAll(fd, "late output");
        return 0;
      }));
  watcher.Join();
  EXPECT_EQ(captured.output, "late output");
}

// Tests that the output ends when the child ends, even if the child left a
// program running: the pipe is close-on-exec, so that program does not keep
// the output open.
TEST(Stage6PipeCapacity, OutputEndsWhenTheChildEndsEvenIfItsProgramLingers) {
  constexpr char kLingering[] =
      "the output never ended: a program the child started (sleep 30) still "
      "holds the pipe's write end; make every pipe close-on-exec (pipe2 with "
      "O_CLOEXEC)";
  kata::OnDeadlock(kLingering);
  kata::SharedText lingering;
  kata::pipe::Captured captured =
      kata::pipe::RunAndCapture(InChild([&](int fd) {
        lingering.Store(std::to_string(StartLingeringProgram()));
        RawWriteAll(fd, "done");
        return 0;
      }));
  const pid_t program = std::stoi(lingering.Load());
  EXPECT_TRUE(IsRunning(program))
      << "the output ended only after the program the child started had "
         "ended"
      << Hint(kLingering);
  EXPECT_EQ(captured.output, "done");
  StopLingeringProgram(program);
}

// Tests that output the caller buffered in stdio is written once, not once
// more by RunAndCapture's child when it flushes its copy.
TEST(Stage6PipeCapacity, ChildDoesNotRepeatTheCallersBufferedOutput) {
  ExpectCallersBufferedOutputWrittenOnce("RunAndCapture", [](FILE* file) {
    kata::pipe::RunAndCapture(InChild([file](int) {
      std::fputs("child's line\n", file);
      std::fflush(file);
      return 0;
    }));
  });
}

// =========================================================== Stage 7

// Tests that a record that might be split is refused, and one that fits goes
// through whole.
TEST(Stage7AtomicRecords, RejectsRecordsLongerThanPipeBuf) {
  RawPipe pipe;
  EXPECT_THROW(
      kata::pipe::WriteRecord(pipe.write_fd, std::string(PIPE_BUF + 1, 'x')),
      std::length_error)
      << "a record of " << PIPE_BUF + 1 << " bytes; PIPE_BUF is " << PIPE_BUF
      << Hint(
             "only writes of at most PIPE_BUF bytes are atomic: refuse longer "
             "records");
  kata::pipe::WriteRecord(pipe.write_fd, std::string(PIPE_BUF, 'y'));
  pipe.CloseWrite();
  EXPECT_EQ(RawReadAll(pipe.read_fd), std::string(PIPE_BUF, 'y'));
}

// Tests that records of PIPE_BUF bytes from four writer processes never mix.
TEST(Stage7AtomicRecords, ConcurrentWritersNeverInterleave) {
  constexpr int kWriters = 4, kRecords = 256;
  RawPipe pipe;
  std::vector<kata::Child> writers;
  for (int w = 0; w < kWriters; ++w) {
    writers.emplace_back([&, w] {
      pipe.CloseRead();
      const std::string record(PIPE_BUF, static_cast<char>('A' + w));
      for (int r = 0; r < kRecords; ++r)
        kata::pipe::WriteRecord(pipe.write_fd, record);
    });
  }
  pipe.CloseWrite();
  const std::string data = RawReadAll(pipe.read_fd);
  for (kata::Child& writer : writers) writer.Join();
  ASSERT_EQ(data.size(), std::size_t{kWriters} * kRecords * PIPE_BUF);
  int mixed = 0;
  for (std::size_t at = 0; at < data.size(); at += PIPE_BUF) {
    std::string_view record(data.data() + at, PIPE_BUF);
    if (record.find_first_not_of(record[0]) != std::string_view::npos) ++mixed;
  }
  EXPECT_EQ(mixed, 0) << "records were interleaved"
                      << Hint(
                             "write each record with ONE write() call of at "
                             "most PIPE_BUF bytes");
}

// Tests the PIPE_BUF limit from both sides: an empty record, PIPE_BUF - 1 and
// PIPE_BUF bytes go through, each with a single write() call; PIPE_BUF + 1 is
// refused before anything is written.
TEST(Stage7AtomicRecords, RecordSizesAroundPipeBuf) {
  RawPipe pipe;
  SysFcntl(pipe.read_fd, F_SETFL, O_NONBLOCK);  // the test never waits
  for (std::size_t size :
       {std::size_t{0}, std::size_t{PIPE_BUF - 1}, std::size_t{PIPE_BUF}}) {
    const std::string record = AllByteValues(size);
    kata::CallCounter calls;
    try {
      kata::pipe::WriteRecord(pipe.write_fd, record);
    } catch (const std::exception& e) {
      ADD_FAILURE() << "a record of " << size
                    << " bytes was refused: " << e.what()
                    << Hint(
                           "records of 0 to PIPE_BUF bytes, both ends "
                           "included, are fine");
      continue;
    }
    if (size > 0) {
      EXPECT_EQ(calls.Count({"write", "writev", "send", "sendto", "sendmsg"}),
                1)
          << "a record of " << size << " bytes took several calls"
          << Hint(
                 "one write() call per record: a record split over several "
                 "writes can interleave with another writer's");
    }
    char buffer[PIPE_BUF + 1];
    const ssize_t n = SysRead(pipe.read_fd, buffer, sizeof(buffer));
    EXPECT_EQ(
        std::string(buffer, static_cast<std::size_t>(std::max<ssize_t>(n, 0))),
        record)
        << "a record of " << size << " bytes did not arrive whole";
  }
  kata::CallCounter calls;
  EXPECT_THROW(
      kata::pipe::WriteRecord(pipe.write_fd, std::string(PIPE_BUF + 1, 'x')),
      std::length_error)
      << "a record of " << PIPE_BUF + 1 << " bytes; PIPE_BUF is " << PIPE_BUF
      << Hint(
             "only writes of at most PIPE_BUF bytes are atomic: refuse "
             "longer records");
  EXPECT_EQ(calls.Count({"write", "writev", "send", "sendto", "sendmsg"}), 0)
      << "a record of PIPE_BUF + 1 bytes was refused, but written first"
      << Hint("check the length before writing anything");
}

// Tests that a write() that moves only part of a record is an error: it is
// not completed with a second write, which another writer's record could
// precede.
TEST(Stage7AtomicRecords, ShortWriteOfARecordIsAnError) {
  RawPipe pipe;
  kata::InjectedFault short_writes =
      kata::InjectedFault::ShortTransfer(kata::kWriteCalls, 100);
  try {
    kata::pipe::WriteRecord(pipe.write_fd, std::string(1000, 'r'));
    ADD_FAILURE() << "a record of 1000 bytes of which write() took 100 was "
                     "reported as written"
                  << Hint(
                         "a write that returns fewer bytes than the record "
                         "broke the promise of atomicity: throw "
                         "std::system_error, do not write the rest");
  } catch (const std::system_error&) {
  }
}

// Tests that an interrupted write() is retried and the record lands once,
// whole; the empty record as well.
TEST(Stage7AtomicRecords, InterruptedRecordIsWrittenOnce) {
  RawPipe pipe;
  const std::string record = Pattern(PIPE_BUF);
  {
    kata::InjectedFault eintr =
        kata::InjectedFault::InterruptEach(kata::kBlockingCalls);
    try {
      kata::pipe::WriteRecord(pipe.write_fd, record);
      kata::pipe::WriteRecord(pipe.write_fd, "");
    } catch (const std::system_error& e) {
      ADD_FAILURE() << "WriteRecord threw " << e.what() << " when "
                    << eintr.description()
                    << Hint(
                           "EINTR: the write wrote nothing; make the same "
                           "write again");
    }
  }
  pipe.CloseWrite();
  EXPECT_EQ(Difference(record, RawReadAll(pipe.read_fd)), "");
}

// Tests that a failed write() is reported as std::system_error naming write,
// with its errno.
TEST(Stage7AtomicRecords, ReportsAFailedWrite) {
  RawPipe pipe;
  auto write_record = [&] { kata::pipe::WriteRecord(pipe.write_fd, "r"); };
  ForEachFailureOn(Side::kCaller, kata::kWriteCalls, EIO,
                   [&](const kata::FaultCase* fault) {
                     if (fault == nullptr) return write_record();
                     kata::ExpectReportedOrRecovered(
                         *fault, write_record, false,
                         "throw std::system_error when write() returns -1 "
                         "with anything but EINTR");
                   });
}

// Tests that on a full non-blocking pipe WriteRecord reports EAGAIN instead
// of writing part of the record or spinning until there is room.
TEST(Stage7AtomicRecords, FullNonBlockingPipeIsReportedAsEagain) {
  RawPipe pipe;
  SysFcntl(pipe.write_fd, F_SETFL, O_NONBLOCK);
  FillPipe(pipe.write_fd);
  ExpectSystemError(
      [&] { kata::pipe::WriteRecord(pipe.write_fd, std::string(100, 'r')); },
      std::errc::resource_unavailable_try_again, "write",
      Hint("a non-blocking write that cannot take the whole record fails "
           "with EAGAIN: report it; a record is never written in parts"));
}

// Tests that WriteRecord on a full blocking pipe waits in the kernel for
// room, without burning CPU.
TEST(Stage7AtomicRecords, RecordWaitsForRoomWithoutBusyWaiting) {
  RawPipe pipe;
  const std::size_t prefill = FillPipe(pipe.write_fd);
  kata::SharedText received;
  kata::Child reader([&] {
    pipe.CloseWrite();
    kata::ExpectNoBusyWaiting(
        kata::RunnerPid(), "WriteRecord on a full pipe",
        "a blocking write() waits in the kernel until there is room");
    received.Store(RawReadAll(pipe.read_fd));
  });
  pipe.CloseRead();
  kata::pipe::WriteRecord(pipe.write_fd, "record");
  pipe.CloseWrite();
  reader.Join();
  EXPECT_EQ(received.Load().size(), prefill + 6);
}

// Tests WriteRecord with no reader (EPIPE) and with a reader, for every way
// the caller may have set SIGPIPE up: the signal state is left as found.
TEST(Stage7AtomicRecords, KeepsTheCallersSignalState) {
  for (SigpipeSetup setup : kEverySigpipeSetup) {
    ExpectSigpipeStateKept(setup, "WriteRecord into a pipe with no reader", [] {
      RawPipe pipe;
      pipe.CloseRead();
      ExpectSystemError([&] { kata::pipe::WriteRecord(pipe.write_fd, "r"); },
                        std::errc::broken_pipe, "write",
                        Hint("report EPIPE as std::system_error"));
    });
    ExpectSigpipeStateKept(setup, "WriteRecord into a pipe with a reader", [] {
      RawPipe pipe;
      kata::pipe::WriteRecord(pipe.write_fd, "r");
    });
  }
}

// =========================================================== Stage 8

constexpr char kFeedAndDrain[] =
    "writing all input before reading any output deadlocks once both are "
    "larger than a "
    "pipe: the command blocks writing its full stdout while the parent blocks "
    "writing "
    "its stdin; feed stdin and drain stdout at the same time with poll()";

// Tests that the command runs in a forked child, never in the test runner
// itself: if parent and child swapped roles after fork(), the runner would
// become the command, and its exit status would be the run's verdict.
TEST(Stage8CommandRunner, CommandRunsInAForkedChild) {
  const std::string runner = std::to_string(getpid());
  const std::string message =
      "[  FAILED  ] the command replaced the test runner (pid " + runner +
      "): the parent ran exec\n" + Hint(kSwappedRoles);
  kata::pipe::CommandResult result = kata::pipe::RunCommand(
      {"sh", "-c",
       "if [ $$ -eq " + runner + " ]; then printf '%s\\n' \"$1\" >&2; exit " +
           std::to_string(kRanInTheRunner) + "; fi; echo $PPID",
       "sh", message},
      "");
  EXPECT_EQ(result.output, runner + "\n")
      << "the command's parent is not the caller" << Hint(kSwappedRoles);
}

// Tests the simplest command: cat copies its input to its output.
TEST(Stage8CommandRunner, CatEchoesItsInput) {
  kata::OnDeadlock(kFeedAndDrain);
  kata::CallCounter calls;
  kata::pipe::CommandResult result =
      kata::pipe::RunCommand({"cat"}, "hello, cat\n");
  EXPECT_EQ(result.output, "hello, cat\n");
  EXPECT_TRUE(result.status.ok());
  kata::ExpectUsed(calls, {"pipe", "pipe2"}, 2,
                   "pipes for stdin and stdout (pipe(2))");
  kata::ExpectUsed(calls, {"fork"}, 1, "a child process (fork(2), then exec)");
}

// Tests a real filter with arguments.
TEST(Stage8CommandRunner, TrTransformsTheInput) {
  kata::OnDeadlock(kFeedAndDrain);
  kata::pipe::CommandResult result =
      kata::pipe::RunCommand({"tr", "a-z", "A-Z"}, "make it loud");
  EXPECT_EQ(result.output, "MAKE IT LOUD");
}

// Tests the deadlock case: 1 MiB in and 1 MiB out through cat.
TEST(Stage8CommandRunner, BothDirectionsLargerThanThePipe) {
  kata::OnDeadlock(kFeedAndDrain);
  const std::string input = Pattern(1 << 20);
  kata::pipe::CommandResult result = kata::pipe::RunCommand({"cat"}, input);
  EXPECT_EQ(Difference(input, result.output), "") << Hint(kFeedAndDrain);
  EXPECT_TRUE(result.status.ok());
}

// Tests that the command's exit status comes back.
TEST(Stage8CommandRunner, ReportsTheCommandsExitStatus) {
  kata::pipe::CommandResult result =
      kata::pipe::RunCommand({"sh", "-c", "echo partial; exit 3"}, "");
  EXPECT_EQ(result.output, "partial\n");
  EXPECT_TRUE(result.status.exited);
  EXPECT_EQ(result.status.code, 3);
}

// Tests that a command which never reads its input is not an error (and
// does not kill the caller with SIGPIPE).
TEST(Stage8CommandRunner, CommandThatIgnoresItsInputIsNotAnError) {
  kata::OnDeadlock(kFeedAndDrain);
  kata::RunInChild([] {
    signal(SIGPIPE, SIG_DFL);
    try {
      kata::pipe::CommandResult result = kata::pipe::RunCommand(
          {"sh", "-c", "echo ignored"}, Pattern(1 << 20));
      EXPECT_EQ(result.output, "ignored\n");
      EXPECT_TRUE(result.status.ok());
    } catch (const std::system_error& e) {
      ADD_FAILURE() << "RunCommand threw " << e.what()
                    << Hint(
                           "EPIPE while feeding input means the command "
                           "stopped reading: stop "
                           "writing, keep reading its output");
    }
  });
}

// Tests that a program that cannot be started is an error naming execvp.
TEST(Stage8CommandRunner, MissingProgramIsAnErrorNamingExecvp) {
  ExpectSystemError(
      [] { kata::pipe::RunCommand({"kata-no-such-program"}, "input"); },
      std::errc::no_such_file_or_directory, "execvp",
      Hint("exec fails in the child: send its errno to the parent through a "
           "close-on-exec pipe "
           "and throw there"));
}

// Tests that the command inherits only stdin, stdout and stderr (plus what
// the test runner itself leaves inheritable), none of the runner's pipe ends.
TEST(Stage8CommandRunner, CommandInheritsOnlyStandardDescriptors) {
  std::set<int> expected = {0, 1, 2};
  for (int fd : kata::InheritableDescriptors()) expected.insert(fd);
  // ls runs as a child of the shell and lists the shell's descriptors.
  kata::pipe::CommandResult result =
      kata::pipe::RunCommand({"sh", "-c", "ls /proc/$$/fd; exit 0"}, "");
  std::set<int> inherited;
  std::size_t start = 0;
  while (start < result.output.size()) {
    std::size_t end = result.output.find('\n', start);
    inherited.insert(std::stoi(result.output.substr(start, end - start)));
    start = end + 1;
  }
  std::string extra;
  for (int fd : inherited) {
    if (!expected.count(fd)) extra += std::to_string(fd) + " ";
  }
  EXPECT_EQ(extra, "")
      << "the command inherited these descriptors"
      << Hint(
             "create the pipes close-on-exec (pipe2 with O_CLOEXEC); dup2 "
             "onto 0 and 1 clears the flag on the copies only");
}

// Tests that an empty argv is rejected before anything is forked.
TEST(Stage8CommandRunner, EmptyArgvIsRejected) {
  kata::CallCounter calls;
  EXPECT_THROW(kata::pipe::RunCommand({}, ""), std::invalid_argument);
  EXPECT_EQ(calls.Count({"fork"}), 0)
      << Hint("check the arguments before you fork");
}

// Tests that the command's standard input and output are two pipes.
TEST(Stage8CommandRunner, CommandsStandardInputAndOutputArePipes) {
  kata::OnDeadlock(kFeedAndDrain);
  kata::pipe::CommandResult result = kata::pipe::RunCommand(
      {"sh", "-c", "readlink /proc/$$/fd/0 /proc/$$/fd/1"}, "");
  const std::size_t newline = result.output.find('\n');
  const std::string in = result.output.substr(0, newline);
  const std::string out =
      newline == std::string::npos ? "" : result.output.substr(newline + 1);
  EXPECT_TRUE(in.rfind("pipe:", 0) == 0 && out.rfind("pipe:", 0) == 0 &&
              in + "\n" != out)
      << "the command's standard input is " << in << " and its output " << out
      << Hint(
             "put the read end of one pipe on descriptor 0 and the write "
             "end of another on descriptor 1 (dup2), then exec");
}

// Tests that the arguments reach the program exactly as given, each its own
// argv entry: spaces, an empty argument and shell characters are neither
// split nor expanded.
TEST(Stage8CommandRunner, ArgumentsReachTheProgramUnchanged) {
  kata::pipe::CommandResult result = kata::pipe::RunCommand(
      {"printf", "[%s]", "two words", "", "*", "$HOME"}, "");
  EXPECT_EQ(result.output, "[two words][][*][$HOME]") << Hint(
      "pass argv to execvp as an array, one entry per argument; no "
      "shell in between");
}

// Tests a program given by its path, and that the command's standard error
// is not captured: only its standard output is.
TEST(Stage8CommandRunner, OnlyStandardOutputIsCaptured) {
  kata::pipe::CommandResult result = kata::pipe::RunCommand(
      {"/bin/sh", "-c",
       "echo out; echo '(a line on standard error, as the test expects)' >&2"},
      "");
  EXPECT_EQ(result.output, "out\n") << Hint(
      "put the output pipe on descriptor 1 only; standard error "
      "(2) is inherited");
}

// Tests inputs around the pipe's capacity (one byte less, exactly, one more)
// through cat, every byte value included.
TEST(Stage8CommandRunner, SizesAroundThePipesCapacity) {
  kata::OnDeadlock(kFeedAndDrain);
  RawPipe probe;
  const auto capacity =
      static_cast<std::size_t>(SysFcntl(probe.write_fd, F_GETPIPE_SZ));
  for (std::size_t size : {capacity - 1, capacity, capacity + 1}) {
    const std::string input = AllByteValues(size);
    kata::pipe::CommandResult result = kata::pipe::RunCommand({"cat"}, input);
    EXPECT_EQ(Difference(input, result.output), "")
        << "through cat, " << size << " bytes" << Hint(kFeedAndDrain);
  }
}

// Tests that every blocking call of RunCommand is retried when it is
// interrupted once, in the caller and in the child before exec; a missing
// program is still reported as such.
TEST(Stage8CommandRunner, RetriesEveryInterruptedCall) {
  kata::OnDeadlock(kFeedAndDrain);
  const std::string input = Pattern(1 << 20);
  kata::InjectedFault eintr =
      kata::InjectedFault::InterruptEach(kata::kBlockingCalls);
  try {
    kata::pipe::CommandResult result = kata::pipe::RunCommand({"cat"}, input);
    EXPECT_EQ(Difference(input, result.output), "");
    EXPECT_TRUE(result.status.ok()) << "exit code " << result.status.code;
  } catch (const std::system_error& e) {
    ADD_FAILURE() << "RunCommand threw " << e.what() << " when "
                  << eintr.description()
                  << Hint(
                         "EINTR only means a signal handler ran: make the "
                         "same call again (poll, read, write, waitpid)");
  }
  ExpectSystemError(
      [] { kata::pipe::RunCommand({"kata-no-such-program"}, "input"); },
      std::errc::no_such_file_or_directory, "execvp",
      Hint("retry EINTR on both sides of the exec-error channel: the child's "
           "write of errno and the parent's read"));
}

// Tests every error path in the caller: each call failing in turn is
// reported as std::system_error naming it, no descriptor stays open, the
// command is reaped.
TEST(Stage8CommandRunner, ReportsEveryFailedCallInTheCaller) {
  const std::string input = Pattern(256 << 10);
  auto run = [&] { kata::pipe::RunCommand({"cat"}, input); };
  ForEachFailureOn(
      Side::kCaller,
      {"pipe", "pipe2", "fork", "fcntl", "poll", "ppoll", "select", "read",
       "write", "wait", "waitpid", "wait4", "waitid"},
      EIO, [&](const kata::FaultCase* fault) {
        if (fault == nullptr) return run();
        ExpectReportedWithoutLeaks(
            *fault, run,
            "report the failed call as std::system_error; before it leaves, "
            "close both of your pipe ends (the command then sees end of file "
            "or EPIPE) and reap the command");
      });
}

// Tests failures in the child before exec: a dup2 or an exec that fails is
// reported by the parent as std::system_error naming that call, with its
// errno, and nothing is left behind.
TEST(Stage8CommandRunner, ReportsEveryFailedCallInTheChild) {
  auto run = [] { kata::pipe::RunCommand({"cat"}, "input"); };
  ForEachFailureOn(
      Side::kChildren,
      {"dup", "dup2", "dup3", "fcntl", "execvp", "execve", "execv", "execvpe"},
      EACCES, [&](const kata::FaultCase* fault) {
        if (fault == nullptr) return run();
        ExpectReportedWithoutLeaks(
            *fault, run,
            "a call that fails in the child between fork and exec must reach "
            "the parent: send the call and its errno through the close-on-"
            "exec channel, and throw there");
      });
}

// Tests the one failure a child cannot report: exec fails, and so does the
// write that would tell the parent why. The command then counts as started,
// and its exit code is 127.
TEST(Stage8CommandRunner, ExecFailureThatCannotBeReportedIsExitCode127) {
  kata::InjectedFault exec_fails =
      OnSide(kata::InjectedFault::Fail({"execvp", "execve", "execv", "execvpe"},
                                       ENOENT, 1, -1),
             Side::kChildren);
  kata::InjectedFault report_fails =
      OnSide(kata::InjectedFault::Fail(kata::kWriteCalls, EIO, 1, -1),
             Side::kChildren);
  kata::pipe::CommandResult result = kata::pipe::RunCommand({"cat"}, "input");
  EXPECT_TRUE(result.status.exited && result.status.code == 127)
      << "exited " << result.status.exited << ", exit code "
      << result.status.code
      << Hint(
             "after a failed exec the child ends with _exit(127), whether "
             "or not it could report the error");
}

// Tests RunCommand when the caller has closed its standard input or output
// (or both): a new pipe end may then already be descriptor 0 or 1, where dup2
// onto itself does not clear close-on-exec.
TEST(Stage8CommandRunner, WorksWhenTheCallerClosedStandardInputOrOutput) {
  for (std::vector<int> closed :
       {std::vector<int>{0}, std::vector<int>{1}, std::vector<int>{0, 1}}) {
    kata::RunInChild([closed] {
      for (int fd : closed) SysClose(fd);
      kata::pipe::CommandResult result =
          kata::pipe::RunCommand({"cat"}, "through cat");
      for (int fd : closed) {
        // Give the numbers back before anything is printed.
        if (!IsOpen(fd)) syscall(SYS_openat, AT_FDCWD, "/dev/null", O_RDWR);
      }
      EXPECT_EQ(result.output, "through cat")
          << "with descriptors " << closed.front()
          << (closed.size() > 1 ? " and 1" : "") << " closed by the caller"
          << Hint(
                 "a pipe end that already is descriptor 0 or 1 keeps "
                 "close-on-exec after dup2 onto itself: clear FD_CLOEXEC "
                 "with fcntl(fd, F_SETFD, 0) instead");
      EXPECT_TRUE(result.status.ok()) << "exit code " << result.status.code;
    });
  }
}

// Tests that RunCommand waits in the kernel, without burning CPU, while the
// command is quiet.
TEST(Stage8CommandRunner, WaitsForTheCommandWithoutBusyWaiting) {
  kata::OnDeadlock(kFeedAndDrain);
  RawPipe go(0);  // inheritable: the command waits for a byte on it
  kata::Child watcher([&] {
    kata::ExpectNoBusyWaiting(
        kata::RunnerPid(), "RunCommand while the command is quiet",
        "poll() with no timeout (-1) blocks until a pipe is ready; a zero "
        "timeout, or a non-blocking read in a loop, spins");
    SysWrite(go.write_fd, "g", 1);
  });
  kata::pipe::CommandResult result = kata::pipe::RunCommand(
      {"sh", "-c",
       "head -c 1 /proc/self/fd/" + std::to_string(go.read_fd) +
           " >/dev/null; echo done"},
      "");
  watcher.Join();
  EXPECT_EQ(result.output, "done\n");
}

// Tests a command that does not read its input (RunCommand meets EPIPE) for
// every way the caller may have set SIGPIPE up: the signal state is left as
// found.
TEST(Stage8CommandRunner, CommandIgnoringItsInputKeepsTheCallersSignalState) {
  kata::OnDeadlock(kFeedAndDrain);
  for (SigpipeSetup setup : kEverySigpipeSetup) {
    ExpectSigpipeStateKept(
        setup, "RunCommand with a command that does not read its input", [] {
          kata::pipe::CommandResult result = kata::pipe::RunCommand(
              {"sh", "-c", "exec <&-; echo ignored"}, Pattern(1 << 20));
          EXPECT_EQ(result.output, "ignored\n");
        });
  }
}

// Tests that while the command runs, the caller holds only its own ends of
// the command's pipes: no read end of the command's input (the caller would
// never notice a command that stops reading) and no write end of its output
// (the caller would never see the output end).
TEST(Stage8CommandRunner, CallerHoldsOnlyItsOwnEndsWhileTheCommandRuns) {
  kata::OnDeadlock(kFeedAndDrain);
  RawPipe go(0);  // inheritable: the command waits for a byte on it
  kata::Child watcher([&] {
    // Find the command once it runs its program (the shell has started
    // head): by then RunCommand has closed the ends it does not use, and it
    // waits in the exchange.
    pid_t command = 0;
    for (int tries = 0; tries < 2000; ++tries) {
      for (pid_t child : ChildrenOf(kata::RunnerPid())) {
        if (child != getpid() && !ChildrenOf(child).empty()) command = child;
      }
      if (command != 0) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    kata::WaitUntilBlocked(kata::RunnerPid());
    std::error_code error;
    const std::string in =
        std::filesystem::read_symlink(
            "/proc/" + std::to_string(command) + "/fd/0", error)
            .string();
    const std::string out =
        std::filesystem::read_symlink(
            "/proc/" + std::to_string(command) + "/fd/1", error)
            .string();
    std::map<std::string, std::string> ends = PipeEndsHeldBy(kata::RunnerPid());
    SysWrite(go.write_fd, "g", 1);
    EXPECT_EQ(ends[in].find('r'), std::string::npos)
        << "while the command runs, the caller still holds a read end of "
           "the command's input pipe"
        << Hint(
               "close the caller's copy of the read end of the input pipe "
               "right after fork: only the command reads it");
    EXPECT_EQ(ends[out].find('w'), std::string::npos)
        << "while the command runs, the caller still holds a write end of "
           "the command's output pipe"
        << Hint(
               "close the caller's copy of the write end of the output pipe "
               "right after fork: only the command writes it");
  });
  kata::pipe::CommandResult result = kata::pipe::RunCommand(
      {"sh", "-c",
       "head -c 1 /proc/self/fd/" + std::to_string(go.read_fd) +
           " >/dev/null; echo done"},
      "");
  watcher.Join();
  EXPECT_EQ(result.output, "done\n");
}

// Tests that once the command has stopped reading (EPIPE), RunCommand waits
// for the rest of its output in the kernel: a write end whose reader is gone
// is "ready" (POLLERR) at once, every time, so watching it further spins.
TEST(Stage8CommandRunner, WaitsWithoutBusyWaitingAfterTheCommandStopsReading) {
  kata::OnDeadlock(kFeedAndDrain);
  kata::RunInChild([] {
    signal(SIGPIPE, SIG_DFL);
    RawPipe go(0);  // inheritable: the command waits for a byte on it
    const pid_t caller = getpid();
    kata::Child watcher([&] {
      kata::ExpectNoBusyWaiting(
          caller, "RunCommand after the command closed its input",
          "after EPIPE, drop the rest of the input and close the input pipe: "
          "wait for the output alone");
      SysWrite(go.write_fd, "g", 1);
    });
    kata::pipe::CommandResult result = kata::pipe::RunCommand(
        {"sh", "-c",
         "exec <&-; head -c 1 /proc/self/fd/" + std::to_string(go.read_fd) +
             " >/dev/null; echo done"},
        Pattern(1 << 20));
    watcher.Join();
    EXPECT_EQ(result.output, "done\n");
  });
}

// Tests a failure in the child when a pipe end already is descriptor 0 (the
// caller closed its standard input): clearing close-on-exec fails, and the
// parent reports it as std::system_error naming the call.
TEST(Stage8CommandRunner, ReportsAFailureToClearCloseOnExecInTheChild) {
  kata::RunInChild([] {
    SysClose(STDIN_FILENO);
    auto run = [] { kata::pipe::RunCommand({"cat"}, "input"); };
    ForEachFailureOn(Side::kChildren, {"fcntl"}, EACCES,
                     [&](const kata::FaultCase* fault) {
                       if (fault == nullptr) return run();
                       ExpectReportedWithoutLeaks(
                           *fault, run,
                           "a call that fails in the child between fork and "
                           "exec must reach the parent: send the call and its "
                           "errno through the close-on-exec channel");
                     });
  });
}

constexpr char kOutputEndedFirst[] =
    "the command closed its output and still reads its input: when the "
    "command's output ends, stop sending and close its standard input, or it "
    "waits for the rest of its input while you wait for it to exit";

// Tests a command that stops reading its input and keeps writing: its input
// pipe stays full while 1 MiB of output must be drained, and the exchange
// ends with the output.
TEST(Stage8CommandRunner, CommandThatStopsReadingAndKeepsWritingIsDrained) {
  kata::OnDeadlock(
      "the command stopped reading its input and keeps writing: keep "
      "draining its output while its input pipe is full; waiting for room to "
      "write before reading more deadlocks");
  kata::RunInChild([] {
    signal(SIGPIPE, SIG_DFL);
    kata::pipe::CommandResult result = kata::pipe::RunCommand(
        {"sh", "-c", "head -c 10 >/dev/null; head -c 1048576 /dev/zero"},
        Pattern(1 << 20));
    EXPECT_EQ(Difference(std::string(1 << 20, '\0'), result.output), "")
        << Hint("keep reading the output while the input cannot move");
    EXPECT_TRUE(result.status.ok()) << "exit code " << result.status.code;
  });
}

// Tests a command that closes its output first and keeps reading its input:
// the exchange ends with the output, and the command must be told that its
// input ended too, or it waits for the rest while the caller waits for it.
TEST(Stage8CommandRunner, CommandThatClosesItsOutputAndKeepsReadingIsReleased) {
  kata::OnDeadlock(kOutputEndedFirst);
  kata::RunInChild([] {
    signal(SIGPIPE, SIG_DFL);
    kata::pipe::CommandResult result = kata::pipe::RunCommand(
        {"sh", "-c", "exec >/dev/null; cat"}, Pattern(1 << 20));
    EXPECT_EQ(result.output, "");
    EXPECT_TRUE(result.status.ok())
        << "exit code " << result.status.code << Hint(kOutputEndedFirst);
  });
}

// Tests a command that closes both its input and its output early and then
// lingers a moment: EPIPE on one side and end of file on the other, in
// either order, are no error, and its exit status comes back.
TEST(Stage8CommandRunner, CommandThatClosesBothEarlyIsReleased) {
  kata::OnDeadlock(kOutputEndedFirst);
  kata::RunInChild([] {
    signal(SIGPIPE, SIG_DFL);
    kata::pipe::CommandResult result = kata::pipe::RunCommand(
        {"sh", "-c", "exec <&- >&-; sleep 0.1; exit 5"}, Pattern(1 << 20));
    EXPECT_EQ(result.output, "");
    EXPECT_TRUE(result.status.exited && result.status.code == 5)
        << "exited " << result.status.exited << ", exit code "
        << result.status.code
        << Hint(
               "EPIPE on the input and end of file on the output both just "
               "end their side; then reap the command");
  });
}

}  // namespace
