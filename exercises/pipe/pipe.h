// File: pipe/pipe.h
// -----------------------------------------------------------------------------
//
// The pipe kata: a parent and its child talking through pipe(2) after fork(2).
//
// A pipe is a one-way byte stream kept by the kernel: bytes written into the
// write end come out of the read end, in order, with no message boundaries. It
// has no name, so only processes that inherit its descriptors (a parent and the
// children it forks) can use it. Each stage of the kata adds one idea:
//
//   Stage 1  WaitForChild      reap a child and decode how it ended
//   Stage 2  MakePipe,         one message from parent to child; EOF arrives
//            SendToChild       only after every write end is closed
//   Stage 3  WriteAll, ReadAll short writes, short reads and EINTR
//   Stage 4  RoundTrip         two pipes, because one pipe goes one way
//   Stage 5  (WriteAll again)  the reader is gone: EPIPE, not a silent death;
//            SigpipeGuard      one guard held across many writes
//   Stage 6  MeasureCapacity,  a full pipe blocks the writer, so drain the
//            RunAndCapture     child's output before waiting for it
//   Stage 7  WriteRecord       writes up to PIPE_BUF bytes are atomic
//   Stage 8  RunCommand        a popen(3) that feeds stdin and reads stdout at
//                              the same time, so neither side can deadlock
//
// Example:
//
//   kata::pipe::ExitStatus status = kata::pipe::SendToChild(
//       "hello, child", [](int read_fd) {
//         std::string message = kata::pipe::ReadAll(read_fd);
//         return message == "hello, child" ? 0 : 1;
//       });
//   // status.exited && status.code == 0
//
// Errors: a failed system call throws std::system_error whose what() names the
// call (for example "pipe2: Too many open files"); expected outcomes such as
// end of file are ordinary return values.
//
// Every function that forks flushes stdio's buffers first (fflush(nullptr)),
// so that output the caller has buffered but not yet written is not written
// a second time by a child that flushes its copy.
//
// The exercise and the solution share this header word for word; only the .cc
// file differs. See exercises/pipe/README.md for the stages and hints.

#ifndef IPC_KATAS_PIPE_PIPE_H_
#define IPC_KATAS_PIPE_PIPE_H_

#include <signal.h>
#include <sys/types.h>
#include <unistd.h>

#include <cstddef>
#include <functional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace kata::pipe {

// Fd
//
// Owns one file descriptor and closes it when destroyed (given: this is the
// RAII helper every stage uses, not part of the exercise). Move-only.
class [[nodiscard]] Fd {
 public:
  Fd() = default;
  explicit Fd(int fd) noexcept : fd_(fd) {}
  Fd(Fd&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  Fd& operator=(Fd&& other) noexcept {
    if (this != &other) reset(std::exchange(other.fd_, -1));
    return *this;
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() { reset(); }

  int get() const noexcept { return fd_; }
  bool valid() const noexcept { return fd_ >= 0; }
  explicit operator bool() const noexcept { return valid(); }

  // Gives up ownership without closing.
  int release() noexcept { return std::exchange(fd_, -1); }

  // Closes the descriptor now (if any) and owns `fd` instead. The result of
  // close() is ignored: after close() the descriptor is gone either way.
  void reset(int fd = -1) noexcept {
    if (fd_ >= 0) ::close(fd_);
    fd_ = fd;
  }

 private:
  int fd_ = -1;
};

// ExitStatus
//
// How a child process ended, decoded from the status that waitpid(2) reports.
struct ExitStatus {
  bool exited = false;    // WIFEXITED: the child called exit() or _exit().
  int code = -1;          // WEXITSTATUS, when `exited`.
  bool signaled = false;  // WIFSIGNALED: a signal ended the child.
  int signal = 0;         // WTERMSIG, when `signaled`.

  bool ok() const { return exited && code == 0; }
};

// -------------------------------------------------------------------- Stage 1

// WaitForChild()
//
// Waits until the child `pid` ends, reaps it (so no zombie is left behind) and
// returns how it ended. A signal that interrupts the wait (EINTR) does not
// end it: the wait is retried.
//
// Throws std::system_error naming "waitpid" if `pid` is not a child of this
// process (ECHILD) or the wait fails otherwise. See waitpid(2).
ExitStatus WaitForChild(pid_t pid);

// -------------------------------------------------------------------- Stage 2

// Pipe
//
// The two ends of one pipe. Bytes written to `write_end` are read from
// `read_end`.
struct Pipe {
  Fd read_end;
  Fd write_end;
};

// MakePipe()
//
// Creates a pipe whose two descriptors are close-on-exec (pipe2 with
// O_CLOEXEC), so that a program started later with exec does not inherit them
// by accident. Throws std::system_error naming "pipe2" on failure.
Pipe MakePipe();

// The code a child runs. It receives the descriptor it should use and returns
// the child's exit code. It must not throw.
using ChildMain = std::function<int(int fd)>;

// SendToChild()
//
// Creates a pipe and forks. The child runs `child_main(read_fd)` and ends with
// `_exit(child_main's result)`; it never returns into the caller. The parent
// writes all of `message` into the pipe, closes its write end, waits for the
// child and returns its exit status.
//
// Each process closes the end it does not use: the child would otherwise never
// see end of file (its own write end keeps the pipe open), and the parent
// would never learn that the reader is gone.
//
// Throws std::system_error if a call fails, including "write: Broken pipe"
// (EPIPE) when the child ends without reading everything; the child is reaped
// and no descriptor is left open even then.
ExitStatus SendToChild(std::string_view message, const ChildMain& child_main);

// -------------------------------------------------------------------- Stage 3

// WriteAll()
//
// Writes every byte of `data` to `fd`. write(2) may write fewer bytes than
// asked (a short write) or fail with EINTR; both are retried until all bytes
// are out. On a non-blocking descriptor, EAGAIN waits (poll) until the fd is
// writable again.
//
// Never kills the process with SIGPIPE: when no reader is left, throws
// std::system_error with code EPIPE ("write: Broken pipe") instead (Stage 5).
void WriteAll(int fd, std::string_view data);

// ReadAll()
//
// Reads from `fd` until end of file and returns everything read. read(2) may
// return fewer bytes than asked; EINTR is retried. Throws std::system_error
// naming "read" on failure.
std::string ReadAll(int fd);

// -------------------------------------------------------------------- Stage 4

// The service a child runs: it gets the whole request, returns the reply.
using Service = std::function<std::string(std::string_view request)>;

// RoundTrip()
//
// Sends `request` to a forked child over one pipe and returns the child's reply
// from a second pipe: the child reads the request until end of file, calls
// `service(request)`, writes the reply and ends with `_exit(0)`. The parent
// waits for the child before returning.
//
// If `service` throws, the child ends with exit code 1. Throws
// std::system_error on a failed call, and std::runtime_error if the child does
// not exit with code 0.
std::string RoundTrip(std::string_view request, const Service& service);

// -------------------------------------------------------------------- Stage 5

// SigpipeGuard
//
// Blocks SIGPIPE in the calling thread for as long as it lives, for a caller
// that writes many times. Every write in this header (WriteAll, SendToChild,
// RoundTrip, RunAndCapture, WriteRecord, RunCommand) blocks SIGPIPE for the
// length of one call and restores the mask after: two pthread_sigmask calls
// per call. While a guard lives in the calling thread they use it instead and
// make no system call beyond their writes, which matters when the writes are
// small (docs/benchmarks.md measures it).
//
// The guard keeps the caller's signal state as the calls do: its destructor
// unblocks SIGPIPE again unless the caller had blocked it before (other
// signals' places in the mask are the caller's, changed or not); a
// write that fails with EPIPE while it lives takes the SIGPIPE it raised
// (TakeRaisedSigpipe), so none is left pending to strike when the mask comes
// back; a SIGPIPE the caller already had pending stays pending. A child
// forked while a guard lives inherits the blocked SIGPIPE, except the program
// RunCommand starts, which gets the caller's own mask. Guards nest;
// create and destroy each in one thread, on the stack. Not copyable or
// movable.
//
// Example:
//
//   kata::pipe::SigpipeGuard no_sigpipe;  // one guard for the whole stream
//   for (const std::string& chunk : chunks) kata::pipe::WriteAll(fd, chunk);
class SigpipeGuard {
 public:
  SigpipeGuard();
  ~SigpipeGuard();
  SigpipeGuard(const SigpipeGuard&) = delete;
  SigpipeGuard& operator=(const SigpipeGuard&) = delete;

  // The innermost guard alive in the calling thread, or nullptr.
  static SigpipeGuard* InThisThread() noexcept;

  // Whether SIGPIPE is blocked in the calling thread only because guards
  // block it (the outermost found it unblocked). A forked child about to
  // exec a program unblocks it first (RunCommand does): a blocked signal
  // stays blocked across exec, and the program should start with the
  // caller's own mask.
  static bool OnlyGuardsBlockSigpipe() noexcept;

  // Called once a write has failed with EPIPE while this guard lives: takes
  // the SIGPIPE (or SIGPIPEs) that the writes raised, with sigtimedwait and a
  // zero timeout, unless the caller had one pending before the guard (then
  // the two cannot be told apart, and the caller's stays).
  void TakeRaisedSigpipe() noexcept;

 private:
  sigset_t sigpipe_;                     // just SIGPIPE
  bool caller_blocks_ = false;           // SIGPIPE was blocked already
  bool caller_had_one_pending_ = false;  // ... and one was pending
  SigpipeGuard* outer_ = nullptr;        // the guard this one is inside
};

// -------------------------------------------------------------------- Stage 6

// MeasureCapacity()
//
// Returns how many bytes a new, empty pipe accepts before a writer would block:
// fill it through a non-blocking write end (O_NONBLOCK) until write fails with
// EAGAIN. On Linux this is 65536 bytes unless changed with F_SETPIPE_SZ.
std::size_t MeasureCapacity();

// What a child wrote, and how it ended.
struct Captured {
  std::string output;
  ExitStatus status;
};

// RunAndCapture()
//
// Forks a child that runs `child_main(write_fd)` and ends with `_exit`, reads
// everything it writes until end of file, then reaps it. The output may be far
// larger than the pipe's capacity: the parent must drain the pipe before it
// waits, or the child blocks on a full pipe while the parent blocks in waitpid.
Captured RunAndCapture(const ChildMain& child_main);

// -------------------------------------------------------------------- Stage 7

// WriteRecord()
//
// Writes `record` with a single write(2) call, so that records from several
// processes writing into one pipe never interleave: POSIX makes writes of at
// most PIPE_BUF bytes (4096 on Linux) atomic. Retries EINTR.
//
// Throws std::length_error if `record` is longer than PIPE_BUF (such a write
// could be split), and std::system_error if write fails or writes less.
void WriteRecord(int fd, std::string_view record);

// -------------------------------------------------------------------- Stage 8

// What a command printed on its standard output, and how it ended.
struct CommandResult {
  std::string output;
  ExitStatus status;
};

// RunCommand()
//
// Runs the program `argv[0]` (searched in PATH, like execvp) with arguments
// `argv`, writes `input` to its standard input, closes it, collects everything
// it writes to standard output, reaps it and returns both. Standard error is
// inherited.
//
// The parent writes and reads at the same time (poll(2)), so neither side can
// block forever when input and output are both larger than a pipe, and
// whichever side finishes first releases the other:
//   * the exchange ends when the command's output ends (it closed its
//     standard output, or exited). Input not sent by then is dropped, and the
//     command's standard input is closed, so a command still reading sees end
//     of file instead of waiting for the rest;
//   * a command that stops reading its input (it closed it, or exited) is not
//     an error either: the rest of the input is dropped, and its output is
//     still read to the end.
// The result does not say how much of the input was sent. The command
// inherits none of the pipes' other descriptors.
//
// Throws std::invalid_argument if `argv` is empty, std::system_error naming
// "execvp(<program>)" with the child's errno if the program cannot be started
// (for example ENOENT), std::system_error naming the call if the child fails
// before exec (dup2), and std::system_error for any other failed call. If the
// child cannot even report why it failed, the command counts as started and
// its status is exit code 127. No descriptor is left open and no child is
// left unreaped, even on error.
CommandResult RunCommand(const std::vector<std::string>& argv,
                         std::string_view input);

}  // namespace kata::pipe

#endif  // IPC_KATAS_PIPE_PIPE_H_
