// Signal state: capture, comparison, a caller's set-ups and signal storms.

#include "tests/support/signals.h"

#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <string>

#include "gtest/gtest.h"
#include "tests/support/internal.h"
#include "tests/support/kata.h"

namespace kata {
namespace {

// glibc sets SA_RESTORER on every handler it installs; it says nothing about
// what the program asked for.
constexpr int kRestorer = 0x04000000;

std::string HandlerName(void* handler) {
  if (handler == reinterpret_cast<void*>(SIG_DFL)) return "SIG_DFL";
  if (handler == reinterpret_cast<void*>(SIG_IGN)) return "SIG_IGN";
  return "a handler";
}

std::string FlagNames(int flags) {
  std::string text;
  auto add = [&](int flag, const char* name) {
    if (flags & flag) text += (text.empty() ? "" : "|") + std::string(name);
  };
  add(SA_RESTART, "SA_RESTART");
  add(SA_SIGINFO, "SA_SIGINFO");
  add(SA_NODEFER, "SA_NODEFER");
  add(SA_RESETHAND, "SA_RESETHAND");
  add(SA_ONSTACK, "SA_ONSTACK");
  add(SA_NOCLDSTOP, "SA_NOCLDSTOP");
  add(SA_NOCLDWAIT, "SA_NOCLDWAIT");
  return text.empty() ? "no flags" : text;
}

std::atomic<int> g_deliveries[NSIG];

void CountDelivery(int signal) {
  g_deliveries[signal].fetch_add(1, std::memory_order_relaxed);
}

}  // namespace

SignalState CaptureSignalState() {
  internal::Bypass quiet;
  SignalState state;
  for (int signal = 1; signal < NSIG; ++signal) {
    struct sigaction action{};
    if (signal == SIGKILL || signal == SIGSTOP ||
        sigaction(signal, nullptr, &action) != 0) {
      continue;
    }
    state.actions[signal].valid = true;
    state.actions[signal].flags = action.sa_flags & ~kRestorer;
    state.actions[signal].handler =
        (action.sa_flags & SA_SIGINFO)
            ? reinterpret_cast<void*>(action.sa_sigaction)
            : reinterpret_cast<void*>(action.sa_handler);
  }
  pthread_sigmask(SIG_BLOCK, nullptr, &state.blocked);
  sigpending(&state.pending);
  return state;
}

std::string SignalStateChanges(const SignalState& before,
                               const SignalState& after) {
  std::string text;
  auto add = [&](const std::string& clause) {
    text += (text.empty() ? "" : "; ") + clause;
  };
  for (int signal = 1; signal < NSIG; ++signal) {
    const SignalState::Action& was = before.actions[signal];
    const SignalState::Action& now = after.actions[signal];
    const std::string name = internal::SignalName(signal);
    // Flags only matter to a handler function (signal() sets SA_RESTART
    // even for SIG_DFL).
    const bool function = was.handler != reinterpret_cast<void*>(SIG_DFL) &&
                          was.handler != reinterpret_cast<void*>(SIG_IGN);
    if (was.valid && now.valid &&
        (was.handler != now.handler || (function && was.flags != now.flags))) {
      add(name + ": disposition " + HandlerName(was.handler) + " (" +
          FlagNames(was.flags) + ") -> " + HandlerName(now.handler) + " (" +
          FlagNames(now.flags) + ")");
    }
    const bool was_blocked = sigismember(&before.blocked, signal) == 1;
    const bool now_blocked = sigismember(&after.blocked, signal) == 1;
    if (was_blocked != now_blocked) {
      add(name + (now_blocked ? ": blocked, was not"
                              : ": unblocked, was "
                                "blocked"));
    }
    const bool was_pending = sigismember(&before.pending, signal) == 1;
    const bool now_pending = sigismember(&after.pending, signal) == 1;
    if (was_pending != now_pending) {
      add(name + (now_pending ? ": pending, was not"
                              : ": no longer pending (the caller's signal "
                                "was consumed)"));
    }
  }
  return text;
}

void RestoreSignalState(const SignalState& state) {
  internal::Bypass quiet;
  SignalState now = CaptureSignalState();
  for (int signal = 1; signal < NSIG; ++signal) {
    const SignalState::Action& was = state.actions[signal];
    const SignalState::Action& is = now.actions[signal];
    if (!was.valid || (was.handler == is.handler && was.flags == is.flags)) {
      continue;
    }
    struct sigaction action{};
    sigemptyset(&action.sa_mask);
    action.sa_flags = was.flags;
    if (was.flags & SA_SIGINFO) {
      action.sa_sigaction =
          reinterpret_cast<void (*)(int, siginfo_t*, void*)>(was.handler);
    } else {
      action.sa_handler = reinterpret_cast<void (*)(int)>(was.handler);
    }
    sigaction(signal, &action, nullptr);
  }
  // Take the new pending signals while they are blocked, then restore the
  // mask (unblocking them first would run their default action).
  sigset_t fresh;
  sigemptyset(&fresh);
  for (int signal = 1; signal < NSIG; ++signal) {
    if (sigismember(&now.pending, signal) == 1 &&
        sigismember(&state.pending, signal) != 1) {
      sigaddset(&fresh, signal);
    }
  }
  pthread_sigmask(SIG_BLOCK, &fresh, nullptr);
  const timespec no_wait{0, 0};
  while (sigtimedwait(&fresh, nullptr, &no_wait) > 0) {
  }
  pthread_sigmask(SIG_SETMASK, &state.blocked, nullptr);
}

// -------------------------------------------------- ExpectSignalStateKept

ExpectSignalStateKept::ExpectSignalStateKept(std::string call)
    : call_(std::move(call)), before_(CaptureSignalState()) {}

ExpectSignalStateKept::~ExpectSignalStateKept() {
  std::string changes = SignalStateChanges(before_, CaptureSignalState());
  EXPECT_EQ(changes, "")
      << call_ << " changed the caller's signal state"
      << Hint(
             "change a signal's disposition or mask only for the duration of "
             "the call, restore it before returning, and never take a signal "
             "that was pending before the call");
}

// ------------------------------------------------------------ CallerSignal

CallerSignal::CallerSignal(int signal, Setup setup)
    : signal_(signal), setup_(setup), active_(true) {
  internal::Bypass quiet;
  sigaction(signal, nullptr, &old_action_);
  pthread_sigmask(SIG_BLOCK, nullptr, &old_mask_);
  sigset_t only;
  sigemptyset(&only);
  sigaddset(&only, signal);
  switch (setup) {
    case Setup::kIgnored: {
      struct sigaction ignore{};
      ignore.sa_handler = SIG_IGN;
      sigemptyset(&ignore.sa_mask);
      sigaction(signal, &ignore, nullptr);
      break;
    }
    case Setup::kBlocked:
      pthread_sigmask(SIG_BLOCK, &only, nullptr);
      break;
    case Setup::kBlockedAndPending:
      pthread_sigmask(SIG_BLOCK, &only, nullptr);
      // A default action that would kill us must not run when we unblock:
      // the destructor consumes the signal first.
      raise(signal);
      break;
    case Setup::kHandled: {
      g_deliveries[signal] = 0;
      struct sigaction count{};
      count.sa_handler = CountDelivery;
      sigemptyset(&count.sa_mask);
      sigaction(signal, &count, nullptr);
      break;
    }
  }
}

CallerSignal CallerSignal::Ignored(int signal) {
  return CallerSignal(signal, Setup::kIgnored);
}
CallerSignal CallerSignal::Blocked(int signal) {
  return CallerSignal(signal, Setup::kBlocked);
}
CallerSignal CallerSignal::BlockedAndPending(int signal) {
  return CallerSignal(signal, Setup::kBlockedAndPending);
}
CallerSignal CallerSignal::Handled(int signal) {
  return CallerSignal(signal, Setup::kHandled);
}

CallerSignal::CallerSignal(CallerSignal&& other) noexcept
    : signal_(other.signal_),
      setup_(other.setup_),
      active_(std::exchange(other.active_, false)),
      old_action_(other.old_action_),
      old_mask_(other.old_mask_) {}

int CallerSignal::deliveries() const {
  return g_deliveries[signal_].load(std::memory_order_relaxed);
}

CallerSignal::~CallerSignal() {
  if (!active_) return;
  internal::Bypass quiet;
  const std::string name = internal::SignalName(signal_);
  struct sigaction now{};
  sigaction(signal_, nullptr, &now);
  sigset_t mask, pending;
  pthread_sigmask(SIG_BLOCK, nullptr, &mask);
  sigpending(&pending);
  const bool blocked = sigismember(&mask, signal_) == 1;
  const bool is_pending = sigismember(&pending, signal_) == 1;
  switch (setup_) {
    case Setup::kIgnored:
      EXPECT_EQ(now.sa_handler, SIG_IGN)
          << "the caller had set " << name
          << " to SIG_IGN, and the code under test changed that"
          << Hint(
                 "leave the caller's dispositions as you found them: save "
                 "the old action with sigaction() and put it back");
      break;
    case Setup::kHandled:
      EXPECT_EQ(now.sa_handler, CountDelivery)
          << "the caller had installed a handler for " << name
          << ", and the code under test replaced it"
          << Hint("never replace a handler the caller installed");
      break;
    case Setup::kBlocked:
    case Setup::kBlockedAndPending:
      EXPECT_TRUE(blocked)
          << "the caller had blocked " << name
          << ", and the code under test unblocked it"
          << Hint(
                 "restore the caller's mask exactly (SIG_SETMASK with the "
                 "mask you saved), never SIG_UNBLOCK a signal you did not "
                 "block yourself");
      break;
  }
  if (setup_ == Setup::kBlockedAndPending) {
    EXPECT_TRUE(is_pending || !blocked)
        << "the caller had one " << name
        << " pending (blocked), and the code under test consumed it"
        << Hint(
               "consume only a signal your own call raised: check "
               "sigpending() before the write, and take the signal "
               "(sigtimedwait) only if it was not pending already");
  } else if (setup_ == Setup::kBlocked) {
    // A pending signal here was raised by the call (a write to a pipe with
    // no reader raises SIGPIPE even when blocked); the caller who blocks it
    // will see it: that is the caller's business, not a mistake.
  }
  // Consume what is pending while still blocked, then restore.
  if (blocked) {
    sigset_t only;
    sigemptyset(&only);
    sigaddset(&only, signal_);
    const timespec no_wait{0, 0};
    while (sigtimedwait(&only, nullptr, &no_wait) == signal_) {
    }
  }
  sigaction(signal_, &old_action_, nullptr);
  pthread_sigmask(SIG_SETMASK, &old_mask_, nullptr);
}

// ------------------------------------------------------------- SignalStorm

SignalStorm::SignalStorm(pid_t target, int signal,
                         std::chrono::microseconds period)
    : signal_(signal) {
  internal::Bypass quiet;
  if (target == getpid()) {
    struct sigaction interrupt{};
    interrupt.sa_handler = [](int) {};
    sigemptyset(&interrupt.sa_mask);
    interrupt.sa_flags = 0;  // no SA_RESTART: blocked calls fail with EINTR
    sigaction(signal, &interrupt, &old_action_);
    own_handler_ = true;
  }
  const pid_t parent = getpid();
  sender_ = fork();
  if (sender_ == 0) {
    internal::MarkKataChild();
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    const timespec pause{static_cast<time_t>(period.count() / 1000000),
                         static_cast<long>(period.count() % 1000000) * 1000};
    while (getppid() == parent && kill(target, signal) == 0) {
      nanosleep(&pause, nullptr);
    }
    _exit(0);
  }
  if (sender_ < 0) {
    ADD_FAILURE() << "kata::SignalStorm could not fork its sender";
  }
}

SignalStorm::~SignalStorm() {
  internal::Bypass quiet;
  if (sender_ > 0) {
    kill(sender_, SIGKILL);
    while (waitpid(sender_, nullptr, 0) < 0 && errno == EINTR) {
    }
  }
  // Every signal the sender sent is delivered or pending by now; a pending
  // one runs the do-nothing handler as soon as it can, before we restore.
  if (own_handler_) sigaction(signal_, &old_action_, nullptr);
}

}  // namespace kata
