// The per-test watchdog: a thread that wakes when a test overruns its
// deadline, reports what every process of the test is blocked on and why
// (deadlock.cc), and kills the test's children. Most hung tests then end by
// themselves (their runner was waiting for a child) and the run goes on; a
// runner that stays blocked is started again for the tests after the hung one
// (resume.cc). Either beats waiting for Bazel's 5-minute timeout.

#include <fcntl.h>
#include <mqueue.h>
#include <semaphore.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>

#include "tests/support/internal.h"
#include "tests/support/kata.h"

namespace kata::internal {
namespace {

using Clock = std::chrono::steady_clock;

constexpr char kDefaultCause[] =
    "a process is blocked for good: a read that never sees end of file "
    "(a write end still open somewhere), a write into a full pipe nobody "
    "drains, or a wait for a child that is itself blocked";

struct Watchdog {
  std::mutex mutex;
  std::condition_variable changed;
  bool armed = false;
  Clock::time_point deadline;
  std::chrono::milliseconds budget{0};
  std::string test;
  std::string cause;
  bool fired = false;   // the report is out; waiting for the test to end
  std::string summary;  // the cause, for the failure message
};

Watchdog& Dog() {
  static Watchdog* dog =
      new Watchdog;  // never destroyed: the thread outlives main
  return *dog;
}

// Semaphore values and queue depths of the objects the test created: a wait
// on a semaphore stuck at 0 or a receive on an empty queue shows up here.
std::string DescribeIpcObjects() {
  std::string text;
  SharedPage& page = Shared();
  int created = std::min(page.created_count.load(), 64);
  for (int i = 0; i < created; ++i) {
    const char* name = page.created_names[i];
    if (page.created_kind[i] == 's') {
      sem_t* sem = sem_open(name, 0);
      if (sem == SEM_FAILED) continue;
      int value = 0;
      sem_getvalue(sem, &value);
      sem_close(sem);
      text += "    semaphore " + std::string(name) + ": value " +
              std::to_string(value) + "\n";
    } else if (page.created_kind[i] == 'm') {
      mqd_t queue = mq_open(name, O_RDONLY | O_NONBLOCK);
      if (queue == static_cast<mqd_t>(-1)) continue;
      mq_attr attr{};
      mq_getattr(queue, &attr);
      mq_close(queue);
      text += "    POSIX queue " + std::string(name) + ": " +
              std::to_string(attr.mq_curmsgs) + " of " +
              std::to_string(attr.mq_maxmsg) + " messages\n";
    }
  }
  std::ifstream sysv("/proc/sysvipc/msg");
  std::string line;
  std::getline(sysv, line);  // header
  while (std::getline(sysv, line)) {
    std::istringstream row(line);
    long key = 0, id = 0, perms = 0, bytes = 0, messages = 0;
    row >> key >> id >> perms >> bytes >> messages;
    if (key != 0 && (static_cast<unsigned long>(key) >> 8) == RunId()) {
      text += "    System V queue id " + std::to_string(id) + ": " +
              std::to_string(messages) + " messages, " + std::to_string(bytes) +
              " bytes\n";
    }
  }
  return text;
}

std::string Report(const std::string& test, const std::string& cause,
                   std::chrono::milliseconds budget, std::string* summary) {
  DeadlockView view = ExamineDeadlock(cause);
  *summary = view.cause.substr(0, view.cause.find('\n'));
  SetBlockedCalls(view.blocked);
  std::string text = "\n[ DEADLOCK? ] " + test + " did not finish within " +
                     std::to_string(budget.count()) + " ms.\n";
  text += view.cause;
  text += "what the kernel says about each process of this test:\n";
  text += view.processes;
  if (!view.pipes.empty()) {
    text += "pipes and who holds their ends:\n" + view.pipes;
  }
  std::string objects = DescribeIpcObjects();
  if (!objects.empty()) text += "IPC objects of this test:\n" + objects;
  text +=
      "The test's children were killed; the run goes on with the next "
      "test.\n";
  return text;
}

std::chrono::milliseconds Scaled(std::chrono::milliseconds deadline) {
  return std::chrono::milliseconds(
      static_cast<long>(static_cast<double>(deadline.count()) * TimeScale()));
}

// Reports the hang and kills the test's children. Not reaped here: a runner
// blocked in waitpid() then sees its child end, and the test finishes.
void Fire(Watchdog& dog) {
  WriteRaw(STDOUT_FILENO,
           Report(dog.test, dog.cause, dog.budget, &dog.summary));
  SetHungTest(dog.test);
  for (pid_t pid : DescendantsOf(getpid())) kill(pid, SIGKILL);
}

void Run() {
  // The support library's own thread: its calls are not the test's, and it
  // takes no signal meant for the thread running the test.
  kata_bypass_enter();
  sigset_t all;
  sigfillset(&all);
  pthread_sigmask(SIG_BLOCK, &all, nullptr);
  Watchdog& dog = Dog();
  std::unique_lock<std::mutex> lock(dog.mutex);
  for (;;) {
    if (!dog.armed) {
      dog.changed.wait(lock);
      continue;
    }
    if (dog.changed.wait_until(lock, dog.deadline) != std::cv_status::timeout ||
        !dog.armed || Clock::now() < dog.deadline) {
      continue;
    }
    if (!dog.fired) {
      Fire(dog);
      dog.fired = true;
      // Time for the test to notice its children are gone and end.
      dog.deadline = Clock::now() + Scaled(std::chrono::seconds(2));
      continue;
    }
    // Still blocked: the runner's own thread waits for itself.
    WriteRaw(STDOUT_FILENO, "[  FAILED  ] " + dog.test +
                                " (deadline exceeded; the test runner stays "
                                "blocked, so the run starts again after "
                                "this test)\n");
    std::string suite = dog.test.substr(0, dog.test.find('.'));
    if (const Stage* stage = FindStage(suite)) {
      WriteRaw(STDOUT_FILENO, "hint: this is " + stage->title + ": read " +
                                  stage->where + "\n");
    }
    RestartAfterHang(dog.test, "deadline exceeded: " + dog.summary);
  }
}

}  // namespace

double TimeScale() {
  const char* scale = std::getenv("KATA_TIME_SCALE");
  double value = scale ? std::atof(scale) : 1.0;
  return value > 0 ? value : 1.0;
}

void StartWatchdog() { std::thread(Run).detach(); }

void ArmWatchdog(const std::string& test, std::chrono::milliseconds deadline) {
  Watchdog& dog = Dog();
  std::lock_guard<std::mutex> lock(dog.mutex);
  dog.armed = true;
  dog.fired = false;
  dog.test = test;
  dog.cause = kDefaultCause;
  dog.budget = Scaled(deadline);
  dog.deadline = Clock::now() + dog.budget;
  dog.changed.notify_all();
}

void SetDeadlockCause(std::string cause, std::chrono::milliseconds deadline) {
  Watchdog& dog = Dog();
  std::lock_guard<std::mutex> lock(dog.mutex);
  dog.cause = std::move(cause);
  if (dog.armed && !dog.fired) {
    dog.budget = Scaled(deadline);
    dog.deadline = Clock::now() + dog.budget;
    dog.changed.notify_all();
  }
}

void DisarmWatchdog() {
  Watchdog& dog = Dog();
  std::lock_guard<std::mutex> lock(dog.mutex);
  dog.armed = false;
  dog.fired = false;
  dog.changed.notify_all();
}

}  // namespace kata::internal

namespace kata {

void OnDeadlock(std::string_view likely_cause,
                std::chrono::milliseconds deadline) {
  internal::SetDeadlockCause(std::string(likely_cause), deadline);
}

}  // namespace kata
