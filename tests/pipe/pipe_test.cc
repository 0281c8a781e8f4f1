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
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <set>
#include <stdexcept>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

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

// The test's own pipe, independent of the code under test.
struct RawPipe {
  int read_fd = -1, write_fd = -1;
  RawPipe() {
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0)
      throw std::system_error(errno, std::generic_category(), "pipe2");
    read_fd = fds[0];
    write_fd = fds[1];
  }
  ~RawPipe() {
    CloseRead();
    CloseWrite();
  }
  void CloseRead() {
    if (read_fd >= 0) close(std::exchange(read_fd, -1));
  }
  void CloseWrite() {
    if (write_fd >= 0) close(std::exchange(write_fd, -1));
  }
};

std::string RawReadAll(int fd) {
  std::string data;
  char buffer[65536];
  for (;;) {
    ssize_t n = read(fd, buffer, sizeof(buffer));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return data;
    data.append(buffer, static_cast<std::size_t>(n));
  }
}

bool RawWriteAll(int fd, std::string_view data) {
  while (!data.empty()) {
    ssize_t n = write(fd, data.data(), data.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    data.remove_prefix(static_cast<std::size_t>(n));
  }
  return true;
}

// Bytes that differ at every position mod 251, so a lost or repeated chunk
// shows up as a mismatch rather than going unnoticed.
std::string Pattern(std::size_t size) {
  std::string data(size, '\0');
  for (std::size_t i = 0; i < size; ++i)
    data[i] = static_cast<char>('!' + i % 251 % 90);
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
  ExitStatus status = kata::pipe::SendToChild("hello, child", [&](int fd) {
    received.Store(RawReadAll(fd));
    return 0;
  });
  EXPECT_EQ(received.Load(), "hello, child") << Hint(
      "the parent writes the message into the write end; the child reads the "
      "read end");
  EXPECT_TRUE(status.ok()) << "the child should exit with code 0, got "
                           << status.code;
}

// Tests that end of file reaches the child promptly after the message.
TEST(Stage2OneWay, ChildSeesEndOfFileAfterTheMessage) {
  kata::SharedText seen;
  kata::pipe::SendToChild("ping", [&](int fd) {
    std::string data;
    char buffer[64];
    for (;;) {
      pollfd entry{fd, POLLIN, 0};
      if (poll(&entry, 1, 2000) == 0) {
        seen.Store("no end of file after " + std::to_string(data.size()) +
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
  });
  EXPECT_EQ(seen.Load(), "ping<EOF>")
      << Hint(kChildHoldsWriteEnd, README "#stage-2-one-message-to-the-child");
}

// Tests that the child's exit code comes back to the parent.
TEST(Stage2OneWay, ChildExitCodeComesBack) {
  ExitStatus status = kata::pipe::SendToChild("", [](int) { return 42; });
  EXPECT_TRUE(status.exited);
  EXPECT_EQ(status.code, 42)
      << Hint("return WaitForChild(pid) for the child you forked");
}

// Tests that an empty message is simply end of file for the child.
TEST(Stage2OneWay, EmptyMessageIsJustEndOfFile) {
  kata::OnDeadlock(kChildHoldsWriteEnd);
  kata::SharedText received;
  received.Store("(child did not run)");
  kata::pipe::SendToChild("", [&](int fd) {
    received.Store(RawReadAll(fd));
    return 0;
  });
  EXPECT_EQ(received.Load(), "");
}

// Tests a message 16 times larger than the pipe: the parent blocks on the full
// pipe and continues as the child reads, and nothing is lost.
TEST(Stage2OneWay, MessageLargerThanThePipeArrivesWhole) {
  kata::OnDeadlock(kChildHoldsWriteEnd);
  const std::string message = Pattern(1 << 20);
  kata::SharedText received;
  kata::pipe::SendToChild(message, [&](int fd) {
    received.Store(RawReadAll(fd));
    return 0;
  });
  EXPECT_EQ(Difference(message, received.Load()), "") << Hint(
      "write() may write fewer bytes than asked: WriteAll loops until all are "
      "out");
}

// Tests that SendToChild really uses a pipe and a child process.
TEST(Stage2OneWay, UsesAPipeAndAFork) {
  kata::CallCounter calls;
  kata::pipe::SendToChild("x",
                          [](int fd) { return RawReadAll(fd) == "x" ? 0 : 1; });
  kata::ExpectUsed(calls, {"pipe", "pipe2"}, 1, "a pipe (pipe(2))");
  kata::ExpectUsed(calls, {"fork"}, 1, "a child process (fork(2))");
}

// Tests that the child ends with _exit() instead of returning into the caller
// (which here is the test runner: it would run the rest of the tests twice).
TEST(Stage2OneWay, ChildNeverReturnsIntoTheCaller) {
  kata::pipe::SendToChild("x", [](int fd) {
    RawReadAll(fd);
    return 0;
  });
  EXPECT_EQ(getpid(), kata::RunnerPid())
      << "a child returned from SendToChild"
      << Hint("end the child with _exit(child_main(fd))");
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

// =========================================================== Stage 4

constexpr char kOnePipeBothWays[] =
    "a round trip needs two pipes: with one pipe used for both directions, a "
    "process "
    "reads back its own bytes, or both wait for end of file from each other";

// Tests that the reply is computed by a child process and comes back.
TEST(Stage4RoundTrip, ReplyComesFromTheChild) {
  kata::OnDeadlock(kOnePipeBothWays);
  kata::SharedText service_pid;
  std::string reply =
      kata::pipe::RoundTrip("hello", [&](std::string_view request) {
        service_pid.Store(std::to_string(getpid()));
        std::string upper(request);
        std::transform(upper.begin(), upper.end(), upper.begin(), ::toupper);
        return upper;
      });
  EXPECT_EQ(reply, "HELLO");
  EXPECT_NE(service_pid.Load(), std::to_string(getpid()))
      << Hint("the service must run in the forked child, not in the parent");
}

// Tests that the parent reads the child's reply, not its own request.
TEST(Stage4RoundTrip, ReplyIsNotTheRequestEchoedBack) {
  kata::OnDeadlock(kOnePipeBothWays);
  std::string reply =
      kata::pipe::RoundTrip("question", [](std::string_view request) {
        return "answer to " + std::string(request);
      });
  EXPECT_EQ(reply, "answer to question") << Hint(kOnePipeBothWays);
}

// Tests a request and a reply both larger than a pipe holds.
TEST(Stage4RoundTrip, LargeRequestAndReply) {
  kata::OnDeadlock(kOnePipeBothWays);
  const std::string request = Pattern(256 << 10);
  std::string reply = kata::pipe::RoundTrip(request, [](std::string_view text) {
    return std::string(text.rbegin(), text.rend());
  });
  EXPECT_EQ(Difference(std::string(request.rbegin(), request.rend()), reply),
            "");
}

// Tests that a service that throws makes RoundTrip throw std::runtime_error.
TEST(Stage4RoundTrip, FailingServiceIsAnError) {
  EXPECT_THROW(
      kata::pipe::RoundTrip("x",
                            [](std::string_view) -> std::string {
                              throw std::runtime_error("service failed");
                            }),
      std::runtime_error)
      << Hint(
             "the child exits with code 1 when the service throws; check the "
             "exit status");
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
      [&](int fd) { return RawWriteAll(fd, output) ? 0 : 1; });
  EXPECT_EQ(Difference(output, captured.output), "") << Hint(kWaitBeforeDrain);
  EXPECT_TRUE(captured.status.ok());
}

// Tests that RunAndCapture returns the child's exit code with its output.
TEST(Stage6PipeCapacity, RunAndCaptureReportsTheExitCode) {
  kata::OnDeadlock(kWaitBeforeDrain);
  kata::pipe::Captured captured = kata::pipe::RunAndCapture([](int fd) {
    RawWriteAll(fd, "partial result");
    return 9;
  });
  EXPECT_EQ(captured.output, "partial result");
  EXPECT_EQ(captured.status.code, 9);
}

// =========================================================== Stage 7

// Tests that a record that might be split is refused, and one that fits goes
// through whole.
TEST(Stage7AtomicRecords, RejectsRecordsLongerThanPipeBuf) {
  RawPipe pipe;
  EXPECT_THROW(
      kata::pipe::WriteRecord(pipe.write_fd, std::string(PIPE_BUF + 1, 'x')),
      std::length_error)
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

// =========================================================== Stage 8

constexpr char kFeedAndDrain[] =
    "writing all input before reading any output deadlocks once both are "
    "larger than a "
    "pipe: the command blocks writing its full stdout while the parent blocks "
    "writing "
    "its stdin; feed stdin and drain stdout at the same time with poll()";

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

}  // namespace
