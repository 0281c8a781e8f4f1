// Busy-wait detection and clock helpers (timing.h).

#include "tests/support/timing.h"

#include <time.h>
#include <unistd.h>

#include <fstream>
#include <sstream>
#include <string>
#include <thread>

#include "gtest/gtest.h"
#include "tests/support/internal.h"
#include "tests/support/kata.h"

namespace kata {
namespace {

struct ThreadSample {
  bool present = false;
  char state = '?';
  long ticks = 0;     // utime + stime, in clock ticks
  long switches = 0;  // voluntary + involuntary context switches
};

ThreadSample Sample(pid_t pid) {
  internal::Bypass quiet;
  ThreadSample sample;
  const std::string task =
      "/proc/" + std::to_string(pid) + "/task/" + std::to_string(pid);
  std::ifstream stat_file(task + "/stat");
  std::string stat;
  if (!std::getline(stat_file, stat)) return sample;
  std::size_t close = stat.rfind(')');
  if (close == std::string::npos) return sample;
  // After "(comm)": state is field 3; utime and stime are fields 14 and 15.
  std::istringstream fields(stat.substr(close + 2));
  std::string field;
  long utime = 0, stime = 0;
  for (int number = 3; fields >> field && number <= 15; ++number) {
    if (number == 3) sample.state = field[0];
    if (number == 14) utime = std::stol(field);
    if (number == 15) stime = std::stol(field);
  }
  sample.ticks = utime + stime;
  std::ifstream status(task + "/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("voluntary_ctxt_switches:", 0) == 0 ||
        line.rfind("nonvoluntary_ctxt_switches:", 0) == 0) {
      sample.switches += std::stol(line.substr(line.find(':') + 1));
    }
  }
  sample.present = sample.state != 'Z' && sample.state != 'X';
  return sample;
}

}  // namespace

std::chrono::milliseconds Scaled(std::chrono::milliseconds duration) {
  return std::chrono::milliseconds(static_cast<long>(
      static_cast<double>(duration.count()) * internal::TimeScale()));
}

std::string Activity::ToString() const {
  return std::to_string(cpu_ms) + " ms of CPU and " + std::to_string(wakeups) +
         " wake-ups in " + std::to_string(window_ms) + " ms" +
         (gone ? " (it ended meanwhile)" : "");
}

Activity WatchActivity(pid_t pid, std::chrono::milliseconds window) {
  static const long ticks_per_second = sysconf(_SC_CLK_TCK);
  Activity activity;
  ThreadSample first = Sample(pid);
  activity.blocked = first.state == 'S';
  auto start = std::chrono::steady_clock::now();
  std::this_thread::sleep_for(window);
  ThreadSample last = Sample(pid);
  activity.window_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                           std::chrono::steady_clock::now() - start)
                           .count();
  activity.gone = !last.present;
  if (first.present && last.present) {
    activity.cpu_ms = (last.ticks - first.ticks) * 1000 / ticks_per_second;
    activity.wakeups = last.switches - first.switches;
  }
  return activity;
}

Activity ExpectNoBusyWaiting(pid_t pid, std::string_view what,
                             std::string_view hint) {
  const bool blocked = WaitUntilBlocked(pid);
  Activity activity = WatchActivity(pid, std::chrono::milliseconds(300));
  const std::string advice(
      hint.empty() ? "block in the kernel until the event comes (a blocking "
                     "read, poll() without a timeout, sem_timedwait with the "
                     "deadline, msgrcv without IPC_NOWAIT); never loop on a "
                     "non-blocking call or sleep and retry"
                   : hint);
  if (activity.gone) {
    ADD_FAILURE() << what << " was expected to block, but process " << pid
                  << " ended while it was watched" << Hint(advice);
    return activity;
  }
  std::string problems;
  auto add = [&](const std::string& problem) {
    problems += (problems.empty() ? "" : "; ") + problem;
  };
  if (!blocked && !activity.blocked) {
    add("it never blocked in a system call within 2 s: it kept running");
  }
  if (activity.cpu_ms > 30) {
    add("it burns CPU while it waits (a blocked call uses none)");
  }
  if (activity.wakeups > 5) {
    add("it keeps waking up while it waits (a blocked call wakes once, when "
        "its event comes)");
  }
  EXPECT_EQ(problems, "") << what << " busy-waits: " << activity.ToString()
                          << Hint(advice);
  return activity;
}

void SleepUntilBeforeSecondBoundary(std::chrono::nanoseconds before) {
  internal::Bypass quiet;
  timespec now{};
  clock_gettime(CLOCK_REALTIME, &now);
  long target = 1000000000L - static_cast<long>(before.count());
  if (target < 0) target = 0;
  timespec until{now.tv_sec, target};
  // Too close to (or past) this second's target: aim at the next second's.
  if (now.tv_nsec >= target - 1000000L) ++until.tv_sec;
  while (clock_nanosleep(CLOCK_REALTIME, TIMER_ABSTIME, &until, nullptr) ==
         EINTR) {
  }
}

}  // namespace kata
