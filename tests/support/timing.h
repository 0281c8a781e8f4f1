// File: tests/support/timing.h
// -----------------------------------------------------------------------------
//
// Time as the katas' contracts use it: blocking without burning the CPU, and
// deadlines that hold. No test here asserts speed (that is bench/'s job); they
// assert behaviour with generous, stated tolerances.
//
//   kata::Child waiter([&] {
//     kata::ExpectNoBusyWaiting(kata::RunnerPid(), "Pop() on an empty ring");
//     ring->Push(message, 1s);  // then let the runner go on
//   });
//   ring->Pop(5s);
//
//   kata::SleepUntilBeforeSecondBoundary(std::chrono::milliseconds(5));
//   // now + 100 ms needs a carry from tv_nsec into tv_sec

#ifndef IPC_KATAS_TESTS_SUPPORT_TIMING_H_
#define IPC_KATAS_TESTS_SUPPORT_TIMING_H_

#include <sys/types.h>

#include <chrono>
#include <string>
#include <string_view>

namespace kata {

// Scaled()
//
// `duration` times KATA_TIME_SCALE (1 normally, 3 under sanitizers): use it
// for tolerances, so a slow build stretches them as it stretches deadlines.
std::chrono::milliseconds Scaled(std::chrono::milliseconds duration);

// Activity
//
// What the main thread of a process did during a window of time.
struct Activity {
  long cpu_ms = 0;   // user + system time it ran (10 ms resolution)
  long wakeups = 0;  // context switches: each time it was put to sleep or
                     // preempted, i.e. each time it woke up to do something
  long window_ms = 0;
  bool blocked = false;  // it was blocked in a system call when watched
  bool gone = false;     // it ended during the window
  std::string ToString() const;
};

// WatchActivity()
//
// Watches the main thread of `pid` for `window` (from /proc/<pid>/task/<pid>:
// stat's utime + stime, status's context switches).
Activity WatchActivity(pid_t pid, std::chrono::milliseconds window);

// ExpectNoBusyWaiting()
//
// For a call that must block until something happens: waits (up to 2 s) for
// the main thread of `pid` to be blocked in a system call, then watches it for
// 300 ms. Fails once, naming `what` and every sign seen, if it never blocked,
// ran for more than 30 ms or woke up more than 5 times: a loop that polls,
// sleeps and retries, or spins on a non-blocking call, instead of letting the
// kernel wake it.
// Returns the activity seen.
Activity ExpectNoBusyWaiting(pid_t pid, std::string_view what,
                             std::string_view hint = {});

// SleepUntilBeforeSecondBoundary()
//
// Sleeps until CLOCK_REALTIME is `before` short of its next whole second
// (e.g. 5 ms before 12:00:07.000), so that a deadline computed right after as
// now + timeout (timeout > before) must carry from tv_nsec into tv_sec. Code
// that adds nanoseconds without carrying builds a timespec with tv_nsec >=
// 1e9, which the kernel refuses (EINVAL).
void SleepUntilBeforeSecondBoundary(std::chrono::nanoseconds before);

}  // namespace kata

#endif  // IPC_KATAS_TESTS_SUPPORT_TIMING_H_
