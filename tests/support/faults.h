// File: tests/support/faults.h
// -----------------------------------------------------------------------------
//
// Fault injection: make a chosen libc call fail, or move fewer bytes, in the
// code under test, so that every error path and every retry loop is exercised
// with real processes and real kernel objects.
//
// The test binary interposes the calls listed in interpose.h; an armed fault
// changes the calls it matches, in the runner and in every process forked
// after it was armed (the state lives in shared memory), until it is
// destroyed. Faults are disarmed at the end of every test.
//
//   // The second write() of the test fails with EIO.
//   kata::InjectedFault fault = kata::InjectedFault::Fail({"write"}, EIO, 2);
//   EXPECT_THROW(kata::pipe::WriteAll(fd, data), std::system_error);
//   EXPECT_EQ(fault.fired(), 1);
//
//   // Every blocking call is interrupted once before it gets through.
//   auto eintr = kata::InjectedFault::InterruptEach(kata::kBlockingCalls);
//
//   // Every read() and recv() moves at most 3 bytes.
//   auto short_reads = kata::InjectedFault::ShortTransfer(kata::kReadCalls, 3);
//
// What a fault does not see: the support library's own calls, code inside a
// kata::NotCounted scope, calls the C library makes internally (sem_open's
// open(), popen's pipe), and programs started with exec. Test code that does
// I/O of its own while a fault is armed either tolerates the fault (a retry
// loop that handles EINTR) or runs inside kata::NotCounted.

#ifndef IPC_KATAS_TESTS_SUPPORT_FAULTS_H_
#define IPC_KATAS_TESTS_SUPPORT_FAULTS_H_

#include <sys/types.h>

#include <cerrno>
#include <cstddef>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace kata {

// A set of call names, e.g. {"write", "send"}.
using Calls = std::vector<std::string_view>;

// Families of calls, for faults and counters: a fault on kReadCalls hits the
// code under test whichever of these it uses.
inline const Calls kReadCalls = {"read", "readv", "recv", "recvfrom",
                                 "recvmsg"};
inline const Calls kWriteCalls = {"write", "writev", "send", "sendto",
                                  "sendmsg"};
inline const Calls kWaitCalls = {"wait", "waitpid", "wait4", "waitid"};
inline const Calls kPollCalls = {"poll",    "ppoll",      "select",
                                 "pselect", "epoll_wait", "epoll_pwait"};
// Every call that can block and then fail with EINTR when a handler runs.
inline const Calls kBlockingCalls = {
    "read",          "readv",           "recv",        "recvfrom",
    "recvmsg",       "write",           "writev",      "send",
    "sendto",        "sendmsg",         "wait",        "waitpid",
    "wait4",         "waitid",          "poll",        "ppoll",
    "select",        "pselect",         "epoll_wait",  "epoll_pwait",
    "accept",        "accept4",         "msgsnd",      "msgrcv",
    "semop",         "semtimedop",      "mq_send",     "mq_timedsend",
    "mq_receive",    "mq_timedreceive", "sem_wait",    "sem_timedwait",
    "sem_clockwait", "sigtimedwait",    "sigwaitinfo", "nanosleep",
    "usleep"};

// InterposedCalls()
//
// The names of every call the test binary interposes (interpose.h): the calls
// a CallCounter counts and an InjectedFault can change.
std::vector<std::string_view> InterposedCalls();

// InjectedFault
//
// One armed fault; it stays armed until destroyed (or the test ends). At most
// eight can be armed at once. Move-only.
class [[nodiscard]] InjectedFault {
 public:
  // The `nth` call (counting from now, 1 = the next) of any of `calls` and
  // the `times - 1` matching calls after it (times < 0: all of them) are not
  // made: they return failure with errno `error` (-1, MAP_FAILED, SEM_FAILED,
  // (mqd_t)-1 or, for posix_spawn and pthread_*, the error number itself).
  static InjectedFault Fail(const Calls& calls, int error, long nth = 1,
                            long times = 1);

  // Every call of `calls` is interrupted once before it gets through: in
  // each process the 1st, 3rd, 5th... matching call fails with `error`
  // (EINTR unless given), the one after it is made. Code that retries gets
  // the same result as without the fault; code that gives up does not.
  static InjectedFault InterruptEach(const Calls& calls, int error = EINTR);

  // Matching calls from the `nth` on (`times` of them; < 0: all) are made
  // but move at most `bytes` bytes (>= 1): a short read or short write.
  static InjectedFault ShortTransfer(const Calls& calls, std::size_t bytes,
                                     long nth = 1, long times = -1);

  // The `nth` matching call is made, then reported as failing with `error`.
  // The kernel does this to connect(2): interrupted by a signal, it fails with
  // EINTR while the connection goes on being set up.
  static InjectedFault FailAfterCall(const Calls& calls, int error,
                                     long nth = 1);

  // Restricts the fault to calls made by process `pid` (for example
  // kata::RunnerPid()), or to every process but `pid`. Returns *this.
  InjectedFault& OnlyIn(pid_t pid);
  InjectedFault& ExceptIn(pid_t pid);

  InjectedFault(InjectedFault&& other) noexcept;
  InjectedFault& operator=(InjectedFault&&) = delete;
  InjectedFault(const InjectedFault&) = delete;
  InjectedFault& operator=(const InjectedFault&) = delete;
  ~InjectedFault();  // disarms

  // Matching calls seen since arming, and how many of them were changed.
  long seen() const;
  long fired() const;
  // "the 2nd write() fails with EIO", for messages.
  const std::string& description() const { return description_; }

 private:
  InjectedFault(int slot, std::string description)
      : slot_(slot), description_(std::move(description)) {}
  int slot_ = -1;
  std::string description_;
};

// NotCounted
//
// For the lifetime of this object, calls made by this thread are neither
// counted nor failed: test code's own I/O in the middle of an injected fault.
class NotCounted {
 public:
  NotCounted();
  ~NotCounted();
  NotCounted(const NotCounted&) = delete;
  NotCounted& operator=(const NotCounted&) = delete;
};

// FaultCase
//
// One run of ForEachInjectedFailure: which call failed, and how.
struct FaultCase {
  std::string call;  // e.g. "write"
  long nth = 0;      // its 1st, 2nd, ... call in the run
  int error = 0;     // the errno it failed with
  // "the 2nd write() failing with EIO (Input/output error)".
  std::string ToString() const;
};

// ForEachInjectedFailure()
//
// Runs `body(nullptr)` once with nothing injected, counting how often it
// calls each of `calls` (in every process); then once per call and per
// occurrence n (at most `max_per_call` of them, the first ones and the
// last), with the nth such call failing with `error`:
// `body(&fault_case)`. Each run gets a fresh deadline and is named in the
// deadlock report. Returns the cases that ran (a call `body` never makes has
// none); a fault that did not fire because a run made fewer calls than the
// first is skipped quietly.
std::vector<FaultCase> ForEachInjectedFailure(
    const Calls& calls, int error,
    const std::function<void(const FaultCase*)>& body, int max_per_call = 6);

// ExpectReportedOrRecovered()
//
// For the body of ForEachInjectedFailure: runs `call` and checks that the
// injected failure was either handled (the call returned normally and
// `recovered_is_fine`) or reported as the contract says: a
// std::system_error carrying the injected errno whose what() names the call
// that failed (or another member of its family: "pipe" for pipe2). Any other
// exception, or a silent return when recovery is not fine, fails with `hint`.
// Returns whether `call` threw.
bool ExpectReportedOrRecovered(const FaultCase& fault,
                               const std::function<void()>& call,
                               bool recovered_is_fine, std::string_view hint);

}  // namespace kata

#endif  // IPC_KATAS_TESTS_SUPPORT_FAULTS_H_
