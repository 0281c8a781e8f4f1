// Reference solution of the pipe kata. See pipe.h for each contract and
// exercises/pipe/README.md for the stages.

#include "pipe/pipe.h"

#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <iterator>
#include <optional>
#include <stdexcept>
#include <string>
#include <system_error>

namespace kata::pipe {
namespace {

[[noreturn]] void ThrowErrno(const std::string& call, int error = errno) {
  throw std::system_error(error, std::generic_category(), call);
}

// The innermost SigpipeGuard alive in this thread (each guard remembers the
// one it is inside, and puts it back when it goes).
thread_local SigpipeGuard* innermost_guard = nullptr;

// What each writing call holds for its length: nothing when the caller holds
// a SigpipeGuard in this thread (the common case of a stream costs no system
// call then), a guard of its own otherwise: two pthread_sigmask calls, or one
// when the caller already blocks SIGPIPE.
class GuardForOneCall {
 public:
  GuardForOneCall() {
    if (innermost_guard == nullptr) own_.emplace();
  }
  // After write() failed with EPIPE (see SigpipeGuard::TakeRaisedSigpipe).
  void TakeRaisedSigpipe() noexcept { innermost_guard->TakeRaisedSigpipe(); }

 private:
  std::optional<SigpipeGuard> own_;
};

void WaitUntilWritable(int fd) {
  pollfd entries[] = {{.fd = fd, .events = POLLOUT}};
  while (poll(entries, std::size(entries), -1) < 0) {
    if (errno != EINTR) ThrowErrno("poll");
  }
}

// Forks, flushing stdio first so that buffered output is not written twice
// (once by each process).
pid_t ForkOrThrow() {
  std::fflush(nullptr);
  pid_t pid = fork();
  if (pid < 0) ThrowErrno("fork");
  return pid;
}

}  // namespace

// ---------------------------------------------------------------- Stage 1

ExitStatus WaitForChild(pid_t pid) {
  int status = 0;
  while (waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) ThrowErrno("waitpid(" + std::to_string(pid) + ")");
  }
  ExitStatus result;
  if (WIFEXITED(status)) {
    result.exited = true;
    result.code = WEXITSTATUS(status);
  } else if (WIFSIGNALED(status)) {
    result.signaled = true;
    result.signal = WTERMSIG(status);
  }
  return result;
}

// ---------------------------------------------------------------- Stage 2

Pipe MakePipe() {
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) < 0) ThrowErrno("pipe2");
  return Pipe{Fd(fds[0]), Fd(fds[1])};
}

ExitStatus SendToChild(std::string_view message, const ChildMain& child_main) {
  Pipe pipe = MakePipe();
  pid_t pid = ForkOrThrow();
  if (pid == 0) {
    // Child: close our copy of the write end, or we never see end of file.
    pipe.write_end.reset();
    _exit(child_main(pipe.read_end.get()));
  }
  // Parent: close our copy of the read end, or a reader that quits early
  // goes unnoticed and we block forever on a full pipe instead of EPIPE.
  pipe.read_end.reset();
  try {
    WriteAll(pipe.write_end.get(), message);
  } catch (...) {
    pipe.write_end.reset();
    WaitForChild(pid);
    throw;
  }
  pipe.write_end.reset();  // the child's read() now returns 0: end of file
  return WaitForChild(pid);
}

// ---------------------------------------------------------------- Stage 3

void WriteAll(int fd, std::string_view data) {
  GuardForOneCall no_sigpipe;
  while (!data.empty()) {
    ssize_t written = write(fd, data.data(), data.size());
    if (written < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) {
        WaitUntilWritable(fd);
        continue;
      }
      const int error = errno;
      if (error == EPIPE) no_sigpipe.TakeRaisedSigpipe();
      ThrowErrno("write", error);
    }
    data.remove_prefix(static_cast<std::size_t>(written));  // short write
  }
}

std::string ReadAll(int fd) {
  std::string data;
  char buffer[64 * 1024];
  for (;;) {
    ssize_t n = read(fd, buffer, sizeof(buffer));
    if (n < 0) {
      if (errno == EINTR) continue;
      ThrowErrno("read");
    }
    if (n == 0) return data;  // every write end is closed
    data.append(buffer, static_cast<std::size_t>(n));
  }
}

// ---------------------------------------------------------------- Stage 4

std::string RoundTrip(std::string_view request, const Service& service) {
  // A pipe only goes one way: one for the request, one for the reply.
  Pipe to_child = MakePipe();
  Pipe from_child = MakePipe();
  pid_t pid = ForkOrThrow();
  if (pid == 0) {
    to_child.write_end.reset();
    from_child.read_end.reset();
    int code = 0;
    try {
      std::string reply = service(ReadAll(to_child.read_end.get()));
      WriteAll(from_child.write_end.get(), reply);
    } catch (...) {
      code = 1;
    }
    _exit(code);
  }
  to_child.read_end.reset();
  from_child.write_end.reset();
  std::string reply;
  try {
    WriteAll(to_child.write_end.get(), request);
    to_child.write_end.reset();
    reply = ReadAll(from_child.read_end.get());
  } catch (...) {
    to_child.write_end.reset();
    from_child.read_end.reset();
    WaitForChild(pid);
    throw;
  }
  ExitStatus status = WaitForChild(pid);
  if (!status.ok()) {
    throw std::runtime_error("RoundTrip: the service child failed (exit code " +
                             std::to_string(status.code) + ", signal " +
                             std::to_string(status.signal) + ")");
  }
  return reply;
}

// ---------------------------------------------------------------- Stage 5

SigpipeGuard::SigpipeGuard() : outer_(innermost_guard) {
  sigemptyset(&sigpipe_);
  sigaddset(&sigpipe_, SIGPIPE);
  sigset_t old_mask;
  pthread_sigmask(SIG_BLOCK, &sigpipe_, &old_mask);
  caller_blocks_ = sigismember(&old_mask, SIGPIPE) == 1;
  // Only a caller that blocks SIGPIPE itself can have one pending already
  // (an unblocked one would have been delivered); that one is not ours to
  // take.
  if (caller_blocks_) {
    sigset_t pending;
    sigpending(&pending);
    caller_had_one_pending_ = sigismember(&pending, SIGPIPE) == 1;
  }
  innermost_guard = this;
}

SigpipeGuard::~SigpipeGuard() {
  innermost_guard = outer_;
  // Unblock SIGPIPE alone rather than setting the whole saved mask back: a
  // caller may have changed other signals' places in the mask while the
  // guard lived, and those changes are theirs to keep.
  if (!caller_blocks_) pthread_sigmask(SIG_UNBLOCK, &sigpipe_, nullptr);
}

SigpipeGuard* SigpipeGuard::InThisThread() noexcept { return innermost_guard; }

bool SigpipeGuard::OnlyGuardsBlockSigpipe() noexcept {
  const SigpipeGuard* outermost = innermost_guard;
  while (outermost != nullptr && outermost->outer_ != nullptr) {
    outermost = outermost->outer_;
  }
  return outermost != nullptr && !outermost->caller_blocks_;
}

// Every SIGPIPE a write raised is pending now (a short write to a reader that
// then left raises one too, and the next write() is the EPIPE). Take it before
// SIGPIPE is unblocked, or it is delivered, and kills us, at that moment.
void SigpipeGuard::TakeRaisedSigpipe() noexcept {
  if (caller_had_one_pending_) return;  // indistinguishable from ours
  const timespec no_wait{};             // do not wait
  while (sigtimedwait(&sigpipe_, nullptr, &no_wait) == SIGPIPE) {
  }
}

// ---------------------------------------------------------------- Stage 6

std::size_t MeasureCapacity() {
  Pipe pipe = MakePipe();
  if (fcntl(pipe.write_end.get(), F_SETFL, O_NONBLOCK) < 0) {
    ThrowErrno("fcntl(F_SETFL, O_NONBLOCK)");
  }
  // Single bytes, so that the count is exact: a larger write is refused
  // whole once fewer than PIPE_BUF bytes are free.
  std::size_t total = 0;
  const char byte = 'x';
  for (;;) {
    ssize_t n = write(pipe.write_end.get(), &byte, 1);
    if (n == 1) {
      ++total;
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return total;
    ThrowErrno("write");
  }
}

Captured RunAndCapture(const ChildMain& child_main) {
  Pipe pipe = MakePipe();
  pid_t pid = ForkOrThrow();
  if (pid == 0) {
    pipe.read_end.reset();
    _exit(child_main(pipe.write_end.get()));
  }
  pipe.write_end.reset();
  Captured captured;
  try {
    // Drain first: a child writing more than the pipe holds blocks until we
    // read, so waiting for it first would deadlock.
    captured.output = ReadAll(pipe.read_end.get());
  } catch (...) {
    pipe.read_end.reset();
    WaitForChild(pid);
    throw;
  }
  captured.status = WaitForChild(pid);
  return captured;
}

// ---------------------------------------------------------------- Stage 7

void WriteRecord(int fd, std::string_view record) {
  if (record.size() > PIPE_BUF) {
    throw std::length_error("WriteRecord: " + std::to_string(record.size()) +
                            " bytes is more than PIPE_BUF (" +
                            std::to_string(PIPE_BUF) +
                            "); such a write may be split");
  }
  GuardForOneCall no_sigpipe;
  ssize_t written;
  do {
    written = write(fd, record.data(), record.size());
  } while (written < 0 && errno == EINTR);
  if (written < 0) {
    const int error = errno;
    if (error == EPIPE) no_sigpipe.TakeRaisedSigpipe();
    ThrowErrno("write", error);
  }
  if (static_cast<std::size_t>(written) != record.size()) {
    throw std::system_error(EIO, std::generic_category(),
                            "write: short write of a record");
  }
}

// ---------------------------------------------------------------- Stage 8

namespace {

// What a child that could not start the program tells its parent through
// the exec-error channel: the step that failed, and its errno.
struct StartFailure {
  int step;
  int error;
};
enum StartStep : int { kStarted, kDup2, kClearCloseOnExec, kExec };

std::string StepName(const StartFailure& failure, const std::string& program) {
  switch (failure.step) {
    case kDup2:
      return "dup2";
    case kClearCloseOnExec:
      return "fcntl(F_SETFD)";
    case kExec:
      return "execvp(" + program + ")";
  }
  return "read(exec-error channel)";
}

// In the child: put `fd` on `target` (0 or 1). dup2 clears close-on-exec on
// the copy; if the pipe end already is `target`, clear it by hand. Returns
// the step that failed, or kStarted.
int MoveTo(int fd, int target) {
  if (fd == target)
    return fcntl(fd, F_SETFD, 0) < 0 ? kClearCloseOnExec : kStarted;
  return dup2(fd, target) < 0 ? kDup2 : kStarted;
}

// In the child: tells the parent which step failed and why, then ends. If
// even this write fails, the parent sees end of file (as after a successful
// exec) and the exit code 127 tells the rest.
[[noreturn]] void ReportStartFailure(int channel, int step) {
  const StartFailure failure{step, errno};
  while (write(channel, &failure, sizeof(failure)) < 0 && errno == EINTR) {
  }
  _exit(127);
}

// Reads what the child reported through `channel`. End of file without data
// means exec succeeded: the close-on-exec write end closed.
std::optional<StartFailure> ReadStartFailure(int channel) {
  const std::string report = ReadAll(channel);
  if (report.empty()) return std::nullopt;
  StartFailure failure{kStarted, EPROTO};  // a report of the wrong size
  if (report.size() == sizeof(failure)) {
    std::memcpy(&failure, report.data(), sizeof(failure));
  }
  return failure;
}

// Feeds `input` to `to_child` while draining `from_child` into `output`. The
// exchange ends when the command's output ends: input left over by then is
// dropped. A command that stops reading (EPIPE) gets no more input; its
// output is still read to the end.
void Exchange(Fd& to_child, Fd& from_child, std::string_view input,
              std::string& output) {
  if (fcntl(to_child.get(), F_SETFL, O_NONBLOCK) < 0) ThrowErrno("fcntl");
  GuardForOneCall no_sigpipe;
  char buffer[64 * 1024];
  while (from_child) {
    if (input.empty()) to_child.reset();  // the command sees end of file
    pollfd entries[2] = {{.fd = from_child.get(), .events = POLLIN},
                         {.fd = to_child.get(), .events = POLLOUT}};
    if (poll(entries, std::size(entries), -1) < 0) {  // an fd of -1 is left out
      if (errno == EINTR) continue;
      ThrowErrno("poll");
    }
    // Room, or POLLERR when the command closed its input (write says EPIPE).
    if (entries[1].revents != 0) {
      ssize_t n = write(to_child.get(), input.data(), input.size());
      if (n > 0) {
        input.remove_prefix(static_cast<std::size_t>(n));
      } else if (errno == EPIPE) {
        no_sigpipe.TakeRaisedSigpipe();
        input = {};  // it stopped reading: drop the rest
      } else if (errno != EAGAIN && errno != EINTR) {
        ThrowErrno("write");
      }
    }
    // Data, or POLLHUP when the output ended (read returns 0).
    if (entries[0].revents != 0) {
      ssize_t n = read(from_child.get(), buffer, sizeof(buffer));
      if (n > 0) {
        output.append(buffer, static_cast<std::size_t>(n));
      } else if (n == 0) {
        from_child.reset();
      } else if (errno != EINTR && errno != EAGAIN) {
        ThrowErrno("read");
      }
    }
  }
  // The output ended first: stop sending and close the command's input, or
  // a command still reading it waits for more while we wait for it to exit.
  to_child.reset();
}

}  // namespace

CommandResult RunCommand(const std::vector<std::string>& argv,
                         std::string_view input) {
  if (argv.empty()) throw std::invalid_argument("RunCommand: empty argv");
  // Build execvp's argument array before fork: the child should only make
  // async-signal-safe calls.
  std::vector<char*> args;
  for (const std::string& arg : argv)
    args.push_back(const_cast<char*>(arg.c_str()));
  args.push_back(nullptr);

  Pipe stdin_pipe = MakePipe();
  Pipe stdout_pipe = MakePipe();
  Pipe exec_error = MakePipe();  // close-on-exec: closes itself on success
  pid_t pid = ForkOrThrow();
  if (pid == 0) {
    const int channel = exec_error.write_end.get();
    if (int step = MoveTo(stdin_pipe.read_end.get(), STDIN_FILENO)) {
      ReportStartFailure(channel, step);
    }
    if (int step = MoveTo(stdout_pipe.write_end.get(), STDOUT_FILENO)) {
      ReportStartFailure(channel, step);
    }
    if (SigpipeGuard::OnlyGuardsBlockSigpipe()) {
      // The caller's SigpipeGuard must not reach the command: a blocked
      // signal stays blocked across exec.
      sigset_t sigpipe;
      sigemptyset(&sigpipe);
      sigaddset(&sigpipe, SIGPIPE);
      sigprocmask(SIG_UNBLOCK, &sigpipe, nullptr);
    }
    execvp(args[0], args.data());
    ReportStartFailure(channel, kExec);
  }
  stdin_pipe.read_end.reset();
  stdout_pipe.write_end.reset();
  exec_error.write_end.reset();

  CommandResult result;
  try {
    if (std::optional<StartFailure> failure =
            ReadStartFailure(exec_error.read_end.get())) {
      throw std::system_error(failure->error, std::generic_category(),
                              StepName(*failure, argv[0]));
    }
    Exchange(stdin_pipe.write_end, stdout_pipe.read_end, input, result.output);
  } catch (...) {
    stdin_pipe.write_end.reset();
    stdout_pipe.read_end.reset();
    WaitForChild(pid);
    throw;
  }
  result.status = WaitForChild(pid);
  return result;
}

}  // namespace kata::pipe
