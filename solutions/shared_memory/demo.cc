// bazel run //solutions/shared_memory:demo
//
// Shows the reference solution at work, each line tagged with the process
// (pid) that prints it:
//   1. a segment in /dev/shm, mapped by two processes;
//   2. the lost-update race: four processes increment one counter without a
//      lock, then with the semaphore (the race is shown, not asserted: how
//      many updates get lost changes from run to run);
//   3. four producers and four consumers moving 100,000 messages through a
//      ring buffer of 8 slots;
//   4. a consumer that dies: a timeout error instead of a hang.

#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <stdexcept>
#include <string>
#include <system_error>
#include <vector>

#include "shared_memory/shared_memory.h"

namespace {

namespace ks = kata::shm;

void Say(const char* who, const std::string& what) {
  std::printf("[%-8s pid %6d] %s\n", who, getpid(), what.c_str());
  std::fflush(stdout);
}

std::string DemoName(const char* what) {
  return "/kata-demo-" + std::to_string(getpid()) + "-" + what;
}

// The line of /proc/self/maps that shows where `name` is mapped.
std::string MapsLine(const std::string& name) {
  std::ifstream maps("/proc/self/maps");
  std::string line;
  while (std::getline(maps, line)) {
    if (line.find("/dev/shm" + name) != std::string::npos) return line;
  }
  return "(not mapped)";
}

void WaitForAll(const std::vector<pid_t>& children) {
  for (pid_t pid : children) {
    while (waitpid(pid, nullptr, 0) < 0 && errno == EINTR) {
    }
  }
}

// ------------------------------------------------------------------------ 1

void SegmentBetweenTwoProcesses() {
  std::printf("== 1. one segment, two processes ==\n");
  const std::string name = DemoName("segment");
  ks::SharedMemory segment = ks::SharedMemory::Create(name, 4096);
  Say("parent", "created " + name + ": it is the file /dev/shm" + name +
                    ", mapped here at");
  Say("parent", "  " + MapsLine(name));
  std::strcpy(static_cast<char*>(segment.data()), "hello from the parent");
  std::fflush(stdout);
  pid_t child = fork();
  if (child == 0) {
    ks::SharedMemory mine = ks::SharedMemory::Open(name, 4096);
    Say("child", "opened it by name; it reads \"" +
                     std::string(static_cast<char*>(mine.data())) + "\"");
    std::strcpy(static_cast<char*>(mine.data()), "and hello from the child");
    _exit(0);  // never returns into the parent's code, never unlinks
  }
  WaitForAll({child});
  Say("parent", "after the child ended it reads \"" +
                    std::string(static_cast<char*>(segment.data())) +
                    "\": no copy, no system call, the same pages");
  segment.Reset();
  Say("parent",
      "the owner removed the name (shm_unlink); /dev/shm" + name +
          (access(("/dev/shm" + name).c_str(), F_OK) == 0 ? " still exists"
                                                          : " is gone"));
}

// ------------------------------------------------------------------------ 2

// A counter updated with a plain load and a plain store: each one is atomic,
// but the read-modify-write as a whole is not, which is exactly the bug.
struct UnlockedCounter {
  std::atomic<bool> go{false};
  std::atomic<std::int64_t> value{0};
};

std::int64_t CountWithoutLock(int processes, std::int64_t times_each) {
  const std::string name = DemoName("unlocked");
  auto counter = ks::SharedObject<UnlockedCounter>::Create(name);
  std::vector<pid_t> children;
  for (int p = 0; p < processes; ++p) {
    std::fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
      while (!counter->go.load()) {
      }  // start together, so that the increments really overlap
      for (std::int64_t i = 0; i < times_each; ++i) {
        const std::int64_t seen =
            counter->value.load(std::memory_order_relaxed);
        counter->value.store(seen + 1, std::memory_order_relaxed);
      }
      _exit(0);
    }
    children.push_back(pid);
  }
  counter->go = true;
  WaitForAll(children);
  return counter->value.load();
}

void LostUpdates() {
  std::printf("\n== 2. the lost-update race, then the semaphore ==\n");
  constexpr int kProcesses = 4;
  constexpr std::int64_t kEach = 250000;
  const std::int64_t expected = kProcesses * kEach;
  Say("parent",
      "how many updates get lost changes from run to run, and a run "
      "that loses none proves nothing");
  for (int run = 1; run <= 3; ++run) {
    const std::int64_t got = CountWithoutLock(kProcesses, kEach);
    Say("parent", "run " + std::to_string(run) +
                      " without a lock: " + std::to_string(got) + " of " +
                      std::to_string(expected) + " (" +
                      std::to_string(expected - got) + " increments lost)");
  }
  const auto start = std::chrono::steady_clock::now();
  const std::int64_t locked =
      ks::CountWithProcesses(DemoName("locked"), kProcesses, kEach);
  const auto took = std::chrono::duration_cast<std::chrono::milliseconds>(
      std::chrono::steady_clock::now() - start);
  Say("parent", "with the semaphore:  " + std::to_string(locked) + " of " +
                    std::to_string(expected) + " (" +
                    std::to_string(took.count()) +
                    " ms: the lock is not free either)");
}

// ------------------------------------------------------------------------ 3

struct Tally {
  std::atomic<long> per_consumer[4];
};

void Pipeline() {
  std::printf("\n== 3. four producers, four consumers, 100,000 messages ==\n");
  auto tally = ks::SharedObject<Tally>::Create(DemoName("tally"));
  ks::PipelinePlan plan;
  plan.producers = 4;
  plan.consumers = 4;
  plan.messages_per_producer = 25000;
  const auto start = std::chrono::steady_clock::now();
  ks::RunPipeline(DemoName("ring"), plan,
                  [&](int consumer, const ks::Message&) {
                    tally->per_consumer[consumer]++;
                  });
  const auto took = std::chrono::duration_cast<std::chrono::milliseconds>(
      std::chrono::steady_clock::now() - start);
  long total = 0;
  for (int c = 0; c < 4; ++c) {
    total += tally->per_consumer[c];
    Say("parent", "consumer " + std::to_string(c) + " took " +
                      std::to_string(tally->per_consumer[c].load()) +
                      " messages");
  }
  Say("parent", std::to_string(total) + " messages in " +
                    std::to_string(took.count()) +
                    " ms; how they split between consumers is up to the "
                    "scheduler");
}

// ------------------------------------------------------------------------ 4

void DeadConsumer() {
  std::printf("\n== 4. a consumer dies: a timeout, not a hang ==\n");
  ks::PipelinePlan plan;
  plan.messages_per_producer = 100;
  plan.timeout = std::chrono::milliseconds(300);
  try {
    ks::RunPipeline(DemoName("dead"), plan, [](int, const ks::Message&) {
      Say("consumer", "got one message, and now I die without a word");
      _exit(7);
    });
  } catch (const std::runtime_error& e) {
    Say("parent", e.what());
  }
}

}  // namespace

int main() {
  try {
    SegmentBetweenTwoProcesses();
    LostUpdates();
    Pipeline();
    DeadConsumer();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "demo failed: %s\n", e.what());
    return 1;
  }
  return 0;
}
