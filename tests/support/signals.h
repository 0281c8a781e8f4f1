// File: tests/support/signals.h
// -----------------------------------------------------------------------------
//
// Signal state as a test sees it. A library call may change signals only for
// its own duration: a process-wide SIG_IGN, a mask left changed, or a signal
// the caller had pending and the call swallowed are all mistakes, because
// they change the caller's program. Every test runner checks its own state
// before and after each test automatically; these helpers let a test set up
// what a caller may have done and check it survived.
//
//   {
//     kata::CallerSignal pipe = kata::CallerSignal::BlockedAndPending(SIGPIPE);
//     kata::pipe::WriteAll(fd, "data");
//   }  // fails the test unless SIGPIPE is still blocked and still pending
//
//   kata::SignalStorm storm(kata::RunnerPid(), SIGUSR1);  // every 2 ms
//   auto message = queue.ReceiveFor(200ms);  // must still end on time

#ifndef IPC_KATAS_TESTS_SUPPORT_SIGNALS_H_
#define IPC_KATAS_TESTS_SUPPORT_SIGNALS_H_

#include <signal.h>
#include <sys/types.h>

#include <chrono>
#include <string>
#include <string_view>

namespace kata {

// SignalState
//
// Every signal's disposition (handler and flags), the calling thread's mask
// and the signals pending for it, captured at one moment.
struct SignalState {
  struct Action {
    void* handler = nullptr;  // SIG_DFL, SIG_IGN or a function
    int flags = 0;
    bool valid = false;  // sigaction() answered for this signal
  };
  Action actions[NSIG];
  sigset_t blocked;
  sigset_t pending;
};

SignalState CaptureSignalState();

// What changed from `before` to `after`, one clause per signal ("SIGPIPE:
// disposition SIG_DFL -> SIG_IGN"); "" if nothing did.
std::string SignalStateChanges(const SignalState& before,
                               const SignalState& after);

// RestoreSignalState()
//
// Puts back the dispositions and mask of `state` and discards signals that
// became pending since: how the runner recovers after a test that changed
// them, so one mistake does not leak into every later test.
void RestoreSignalState(const SignalState& state);

// ExpectSignalStateKept
//
// Fails the test when destroyed if this thread's signal state differs from
// the state at construction: wrap one call of the code under test.
class ExpectSignalStateKept {
 public:
  explicit ExpectSignalStateKept(std::string call);
  ~ExpectSignalStateKept();
  ExpectSignalStateKept(const ExpectSignalStateKept&) = delete;
  ExpectSignalStateKept& operator=(const ExpectSignalStateKept&) = delete;

 private:
  std::string call_;
  SignalState before_;
};

// CallerSignal
//
// Puts one signal in a state a caller of the code under test may have chosen,
// for the object's lifetime. When destroyed, it checks that the state is
// still the one set up (a failure names what changed), then restores the
// previous state (a pending signal it raised is consumed first).
class CallerSignal {
 public:
  static CallerSignal Ignored(int signal);            // SIG_IGN
  static CallerSignal Blocked(int signal);            // masked, none pending
  static CallerSignal BlockedAndPending(int signal);  // masked, one pending
  // A handler installed without SA_RESTART that counts its deliveries.
  static CallerSignal Handled(int signal);

  CallerSignal(CallerSignal&& other) noexcept;
  CallerSignal& operator=(CallerSignal&&) = delete;
  CallerSignal(const CallerSignal&) = delete;
  CallerSignal& operator=(const CallerSignal&) = delete;
  ~CallerSignal();

  // How often the Handled() handler ran.
  int deliveries() const;

 private:
  enum class Setup { kIgnored, kBlocked, kBlockedAndPending, kHandled };
  CallerSignal(int signal, Setup setup);

  int signal_ = 0;
  Setup setup_ = Setup::kIgnored;
  bool active_ = false;
  struct sigaction old_action_{};
  sigset_t old_mask_{};
};

// SignalStorm
//
// A helper process that sends `signal` to `target` every `period` until this
// object is destroyed: a blocking call in `target` keeps failing with EINTR
// (when the handler has no SA_RESTART). When `target` is this process, a
// do-nothing handler without SA_RESTART is installed for the storm's
// lifetime; another target must install its own (kata::InterruptingSignal).
// The runner's helper threads block every signal, so the storm always hits
// the thread running the test.
class SignalStorm {
 public:
  SignalStorm(pid_t target, int signal,
              std::chrono::microseconds period = std::chrono::milliseconds(2));
  ~SignalStorm();
  SignalStorm(const SignalStorm&) = delete;
  SignalStorm& operator=(const SignalStorm&) = delete;

 private:
  pid_t sender_ = -1;
  int signal_ = 0;
  bool own_handler_ = false;
  struct sigaction old_action_{};
};

}  // namespace kata

#endif  // IPC_KATAS_TESTS_SUPPORT_SIGNALS_H_
