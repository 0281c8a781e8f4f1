// File: tests/support/kata.h
// -----------------------------------------------------------------------------
//
// The test-support library every kata test links. IPC code fails by hanging,
// by leaking and by forking; this library turns each of those into a readable
// test failure instead of a stuck or confused test run.
//
// What every test gets without asking (installed by tests/support/main.cc):
//
//   * a watchdog: a test that runs past its deadline (5 s unless changed with
//     OnDeadlock) is reported as "DEADLOCK?" with the likely cause, the state
//     and wait channel of every process involved and who holds which pipe end;
//     its children are killed and the run stops;
//   * a leak check after the test: descriptors opened and not closed, children
//     still running or never reaped (zombies), and IPC objects left behind in
//     /dev/shm, /dev/mqueue, /proc/sysvipc and socket files;
//   * detection of a forked child that returned into the test runner instead
//     of ending with _exit(), and of an exit() in the middle of the run;
//   * a stage table at the end, so the output reads as a path through a kata.
//
// What a test asks for explicitly:
//
//   TEST(Stage2OneWay, ChildReceivesTheMessage) {
//     kata::OnDeadlock("the child never saw end of file: close the write end");
//     kata::SharedText received;
//     kata::RunInChild([&] { received.Store("..."); EXPECT_EQ(1, 1); });
//     EXPECT_EQ(received.Load(), "...") << kata::Hint("...", "README.md#...");
//   }
//
// Test names are stages: suites are named `Stage<N><Idea>` so that
// `--test_filter='Stage1*'` runs one step; register each stage's README anchor
// with KATA_STAGE so that a failure points at the text to read.

#ifndef IPC_KATAS_TESTS_SUPPORT_KATA_H_
#define IPC_KATAS_TESTS_SUPPORT_KATA_H_

#include <signal.h>
#include <sys/types.h>

#include <chrono>
#include <cstddef>
#include <functional>
#include <initializer_list>
#include <string>
#include <string_view>
#include <vector>

namespace kata {

// ------------------------------------------------------------------- hints

// Hint()
//
// Formats one hint line to stream into a failing assertion:
//   EXPECT_EQ(a, b) << kata::Hint("close the write end", "README.md#stage-2");
// prints "hint: close the write end (read exercises/pipe/README.md#stage-2)".
std::string Hint(std::string_view advice, std::string_view where = {});

// KATA_STAGE(Suite, title, where)
//
// Registers what a stage is about and where to read about it. Any failing test
// of `Suite` ends with "stage: <title>, read <where>", and the end-of-run table
// lists the stage.
#define KATA_STAGE(suite, title, where)             \
  static const bool kata_stage_registered_##suite = \
      ::kata::RegisterStage(#suite, title, where)

bool RegisterStage(std::string_view suite, std::string_view title,
                   std::string_view where);

// ---------------------------------------------------------------- deadlines

// OnDeadlock()
//
// Names the likely cause the watchdog prints if the current test does not
// finish in time, and optionally changes the deadline (default 5 s, times
// KATA_TIME_SCALE from the environment, e.g. 3 under sanitizers). May be called
// again as the test moves on; both reset at the next test.
void OnDeadlock(std::string_view likely_cause,
                std::chrono::milliseconds deadline = std::chrono::seconds(5));

// --------------------------------------------------------------- children

// Child
//
// A forked process running `body`. The child always ends with _exit(), never
// returning into the test runner. GoogleTest failures and exceptions inside
// `body` travel back to the parent and are reported there as failures of the
// current test (with "[child <pid>]"), and so are a non-zero exit and a killing
// signal (with what that signal usually means), and so is an end before
// `body` returned (exit(0) called by the code under test looks like a pass
// otherwise), unless the body said it ends the process itself.
class Child {
 public:
  explicit Child(std::function<void()> body);
  Child(Child&& other) noexcept;
  Child& operator=(Child&&) = delete;
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;
  // Kills and reaps the child if Join() was not called.
  ~Child();

  pid_t pid() const { return pid_; }

  // Waits for the child, reaps it and reports what went wrong in it.
  void Join();

 private:
  pid_t pid_ = -1;
  int results_fd_ = -1;
};

// RunInChild()
//
// Child(body).Join(): runs `body` in a forked child and waits for it.
void RunInChild(std::function<void()> body);

// ChildEndsItself()
//
// Called in a Child's body just before it ends its process on purpose, with
// _exit() or by exec'ing a program: sends the failures so far and counts
// the end as the body's.
void ChildEndsItself();

// ExpectKilledBy()
//
// Runs `body` in a forked child and expects the child to die of `signal`.
void ExpectKilledBy(int signal, std::function<void()> body,
                    std::string_view hint = {});

// SharedText
//
// A buffer in MAP_SHARED anonymous memory, created before a fork, that a child
// fills and the parent reads: how a child shows the parent what it saw.
class SharedText {
 public:
  explicit SharedText(std::size_t capacity = std::size_t{4} << 20);
  ~SharedText();
  SharedText(const SharedText&) = delete;
  SharedText& operator=(const SharedText&) = delete;

  // Replaces the contents; fails the test if `text` does not fit.
  void Store(std::string_view text);
  // Appends; fails the test if it does not fit.
  void Append(std::string_view text);
  std::string Load() const;

 private:
  struct Block;
  Block* block_;
  std::size_t capacity_;
};

// ------------------------------------------------------------- processes

// The pid of the test runner (the process that runs GoogleTest).
pid_t RunnerPid();

// TakeChildThatCalledExit()
//
// The pid of a child forked by the code under test that ended with exit()
// instead of _exit() since the test began (0 if none), and forgets it: the
// runner reports such a child as a mistake when the test ends, unless a test
// that does it on purpose (to show what exit() does) takes it first.
pid_t TakeChildThatCalledExit();

// ProcessState()
//
// The state letter of `pid` in /proc/<pid>/stat: 'R' running, 'S' sleeping,
// 'D' uninterruptible, 'Z' zombie, 'T' stopped; '?' if there is no such
// process.
char ProcessState(pid_t pid);

// WaitUntilBlocked()
//
// Polls until the main thread of `pid` sleeps (state 'S'), i.e. it is blocked
// in a system call such as read(); returns false after `limit`, or as soon as
// the process has ended (so a child that failed early costs no waiting). Used
// to send a signal exactly while a call is blocked.
bool WaitUntilBlocked(
    pid_t pid, std::chrono::milliseconds limit = std::chrono::seconds(2));

// -------------------------------------------------------------- signals

// InterruptingSignal
//
// Installs a do-nothing handler for `signal` for the object's lifetime, with
// `flags` (0 by default: no SA_RESTART), so that a call blocked when the
// signal comes fails with EINTR: how a test checks that code retries EINTR.
// The previous disposition comes back on destruction. Declare it BEFORE any
// kata::Child that sends the signal, so the child is stopped first.
class InterruptingSignal {
 public:
  explicit InterruptingSignal(int signal, int flags = 0);
  InterruptingSignal(const InterruptingSignal&) = delete;
  InterruptingSignal& operator=(const InterruptingSignal&) = delete;
  ~InterruptingSignal();

 private:
  int signal_;
  struct sigaction old_{};
};

// InterruptRunnerWhenBlocked()
//
// For a child: waits until the test runner's main thread is blocked in a
// system call, sends it `signal`, and gives the interrupted call 50 ms to
// return. Fails the test if the runner never blocks (within 2 s).
void InterruptRunnerWhenBlocked(int signal);

// ----------------------------------------------------------------- data

// Difference()
//
// "" if the two are equal, else their sizes and the first byte where they
// differ: what a test prints about two large buffers instead of both.
std::string Difference(std::string_view expected, std::string_view actual);

// OpenDescriptors()
//
// The descriptor numbers open in this process right now, in increasing order.
std::vector<int> OpenDescriptors();

// InheritableDescriptors()
//
// The descriptors open in this process without close-on-exec: the ones a
// program started with exec would inherit.
std::vector<int> InheritableDescriptors();

// ChildProcesses()
//
// The pids of this process's children, zombies included.
std::vector<pid_t> ChildProcesses();

// ---------------------------------------------------------------- timeline

// RecordedCall
//
// One call the current test's processes made, as the timeline records it
// (interpose.h): the failing test prints them all ("what your code did").
struct RecordedCall {
  pid_t pid = 0;
  std::string call;
  long result = 0;
  int error = 0;
  std::string text;  // a name, or the first bytes moved
};

// The calls recorded so far in the current test (at most the last 2048).
std::vector<RecordedCall> RecordedCalls();

// The timeline as a failing test prints it.
std::string Timeline();

// ------------------------------------------------------------------ names

// UniqueName()
//
// A machine-wide unique IPC name for shm_open, sem_open or mq_open, e.g.
// "/kata-5f3a9c-4242-7-queue". Names carry the runner's pid, a number drawn at
// random once per run (Bazel's sandboxes give runners the same pids) and a
// counter, so that test targets running in parallel never collide and the
// leak check can tell this run's objects from others.
std::string UniqueName(std::string_view what);

// UniqueSocketPath()
//
// A short unique path for a Unix-domain socket, e.g.
// "/tmp/kata-5f3a9c-4242-8-echo".
// Bazel's TEST_TMPDIR is too long for sun_path's 108 bytes.
std::string UniqueSocketPath(std::string_view what);

// RunfilePath()
//
// Where a file of this repository that the test lists in `data` (a script, a
// demo binary) is, given its path from the workspace root, e.g.
// "tests/message_queue/sysv_ipc_peer.py": under $TEST_SRCDIR when Bazel runs
// the test; otherwise that path if it exists from the current directory (the
// workspace root), or else the same path under bazel-bin/ (a built binary).
std::string RunfilePath(std::string_view relative);

// UniqueSysvKey()
//
// A System V IPC key unique to this run (the run's random number, shifted
// left by 8 bits, plus a counter).
int UniqueSysvKey();

// ------------------------------------------------------ proof of mechanism

// CallCounter
//
// Counts calls to the IPC primitives below, made by this process and by its
// children, from construction on. A kata about pipes must use pipe(2):
//   kata::CallCounter calls;
//   RunCommand(...);
//   EXPECT_GE(calls.Count({"pipe", "pipe2"}), 2) << ...;
// Counted: every call listed in interpose.h (kata::InterposedCalls()), from
// pipe, fork and exec through read/write/send/recv, waits and polls, signals,
// System V and POSIX IPC to sockets and pthread_create. Calls the C library
// makes internally (glibc's mq_receive does not call mq_timedreceive through
// the symbol table) and the support library's own calls are not seen: ask for
// every name a correct solution may use.
class CallCounter {
 public:
  CallCounter();
  long Count(std::initializer_list<std::string_view> calls) const;

 private:
  std::vector<long> start_;
};

// ExpectUsed()
//
// Fails with "this kata asks for <mechanism>" unless at least `at_least` calls
// to any of `calls` were counted by `counter`.
void ExpectUsed(const CallCounter& counter,
                std::initializer_list<std::string_view> calls, long at_least,
                std::string_view mechanism);

}  // namespace kata

// The rest of the toolkit, each in its own header: fault injection, signal
// state, busy waiting and deadlines, descriptor kinds.
#include "tests/support/faults.h"     // IWYU pragma: export
#include "tests/support/mechanism.h"  // IWYU pragma: export
#include "tests/support/resources.h"  // IWYU pragma: export
#include "tests/support/signals.h"    // IWYU pragma: export
#include "tests/support/timing.h"     // IWYU pragma: export

#endif  // IPC_KATAS_TESTS_SUPPORT_KATA_H_
