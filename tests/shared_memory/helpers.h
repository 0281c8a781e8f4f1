// Helpers shared by the shared_memory kata's test files
// (shared_memory_test.cc and shared_memory_contract_test.cc): memory the test
// maps itself, its own view of the kernel's objects, the checks of an
// exception, the ring's test messages, the pipeline's receipts, and the hints
// more than one test prints.
//
// Every check uses real shared memory objects, real semaphores and real
// processes. The tests never trust the code under test to look at the kernel
// for them: they open objects with their own shm_open/fstat, read semaphore
// values with sem_getvalue, and map their own memory (TestShared) where a
// stage does not depend on the learner's segment.

#ifndef IPC_KATAS_TESTS_SHARED_MEMORY_HELPERS_H_
#define IPC_KATAS_TESTS_SHARED_MEMORY_HELPERS_H_

#include <fcntl.h>
#include <semaphore.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <functional>
#include <optional>
#include <stdexcept>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "shared_memory/shared_memory.h"
#include "tests/support/kata.h"

#define README "exercises/shared_memory/README.md"

namespace shm_test {

using namespace std::chrono_literals;
using kata::Hint;
using kata::shm::kEndOfStream;
using kata::shm::MakeMessage;
using kata::shm::Message;
using kata::shm::RingBuffer;
using kata::shm::SharedCounter;
using kata::shm::SharedMemory;
using kata::shm::SharedSemaphore;

// Longer than any watchdog deadline below: a wait this long that does not
// end is a deadlock, and the watchdog reports it with its likely cause.
inline constexpr std::chrono::milliseconds kForever = 60s;

// ----------------------------------------------------------------- helpers

// A T in anonymous MAP_SHARED memory that the test maps itself: forked
// children share it, and it does not depend on the learner's SharedMemory.
// The mapping is page-aligned, like any mapping.
template <typename T>
class TestShared {
 public:
  template <typename... Args>
  explicit TestShared(Args&&... args) {
    memory_ = mmap(nullptr, sizeof(T), PROT_READ | PROT_WRITE,
                   MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (memory_ == MAP_FAILED) {
      throw std::system_error(errno, std::generic_category(), "mmap(test)");
    }
    try {
      object_ = new (memory_) T(std::forward<Args>(args)...);
    } catch (...) {
      munmap(memory_, sizeof(T));
      throw;
    }
  }
  ~TestShared() {
    object_->~T();
    munmap(memory_, sizeof(T));
  }
  TestShared(const TestShared&) = delete;
  TestShared& operator=(const TestShared&) = delete;

  T* operator->() const { return object_; }
  T& operator*() const { return *object_; }

 private:
  void* memory_ = nullptr;
  T* object_ = nullptr;
};

// Whether a shared memory object `name` exists, asked with our own shm_open.
// Like every helper here that asks the kernel, it is invisible to call
// counters and injected faults (kata::NotCounted).
inline bool NameExists(const std::string& name) {
  kata::NotCounted quiet;
  int fd = shm_open(name.c_str(), O_RDONLY, 0);
  if (fd >= 0) close(fd);
  return fd >= 0;
}

// fstat of the object `name`, through our own descriptor.
inline struct stat StatOf(const std::string& name) {
  kata::NotCounted quiet;
  struct stat info{};
  int fd = shm_open(name.c_str(), O_RDONLY, 0);
  if (fd < 0) {
    ADD_FAILURE() << "shm_open(" << name << "): " << std::strerror(errno);
    return info;
  }
  fstat(fd, &info);
  close(fd);
  return info;
}

// Creates the object `name` with our own calls (and removes it when done):
// the "someone else's object" of a test.
class RawObject {
 public:
  RawObject(std::string name, off_t size) : name_(std::move(name)) {
    kata::NotCounted quiet;
    int fd = shm_open(name_.c_str(), O_CREAT | O_EXCL | O_RDWR, 0600);
    if (fd < 0) {
      throw std::system_error(errno, std::generic_category(), "shm_open");
    }
    if (size > 0 && ftruncate(fd, size) != 0) {
      close(fd);
      throw std::system_error(errno, std::generic_category(), "ftruncate");
    }
    close(fd);
  }
  ~RawObject() {
    kata::NotCounted quiet;
    shm_unlink(name_.c_str());
  }
  RawObject(const RawObject&) = delete;
  RawObject& operator=(const RawObject&) = delete;

 private:
  std::string name_;
};

inline int ValueOf(SharedSemaphore& semaphore) {
  int value = -1;
  sem_getvalue(semaphore.native(), &value);
  return value;
}

// Whether the current mapping of this process still includes /dev/shm/<name>.
inline bool MappedHere(const std::string& name) {
  std::ifstream maps("/proc/self/maps");
  std::string line;
  while (std::getline(maps, line)) {
    if (line.find("/dev/shm" + name) != std::string::npos) return true;
  }
  return false;
}

// A test touching segment memory in the test runner first makes sure the
// object really has the bytes: a page beyond its end is SIGBUS, which would
// kill the whole test run instead of failing one test.
inline ::testing::AssertionResult Backed(const SharedMemory& segment) {
  if (segment.data() == nullptr) {
    return ::testing::AssertionFailure() << "the SharedMemory is empty";
  }
  struct stat info = StatOf(segment.name());
  if (static_cast<std::size_t>(info.st_size) < segment.size()) {
    return ::testing::AssertionFailure()
           << segment.name() << " holds " << info.st_size << " bytes but "
           << segment.size() << " are mapped: touching them would be SIGBUS"
           << Hint("a new object has 0 bytes: ftruncate() it to its size",
                   README "#stage-1-a-named-segment");
  }
  return ::testing::AssertionSuccess();
}

inline char* Bytes(const SharedMemory& segment) {
  return static_cast<char*>(segment.data());
}

// Runs learner code that creates its own segment and touches it in a child
// process. If that code forgot ftruncate, SIGBUS ends the child (reported
// with what it means) instead of the whole test run, and the leak check still
// removes what the child left behind.
inline void InAChild(std::function<void()> body) {
  kata::RunInChild(std::move(body));
}

// Polls until `pid` sleeps in a futex wait (where sem_wait and sem_timedwait
// block), or `limit` passes. Where the kernel hides wait channels, any sleep
// counts.
inline bool WaitUntilAsleepOnFutex(pid_t pid,
                                   std::chrono::milliseconds limit = 3000ms) {
  const auto until = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < until) {
    if (kata::ProcessState(pid) == 'S') {
      std::ifstream file("/proc/" + std::to_string(pid) + "/wchan");
      std::string wchan;
      file >> wchan;
      if (wchan.empty() || wchan == "0" ||
          wchan.find("futex") != std::string::npos) {
        return true;
      }
    }
    std::this_thread::sleep_for(1ms);
  }
  return false;
}

// Runs `call`, expecting std::system_error with `error`, whose what() names
// `call_name` (for example "shm_open(/kata-1-2-x)").
template <typename Call>
inline void ExpectSystemError(Call call, std::errc error,
                              const std::string& call_name,
                              const std::string& hint) {
  try {
    call();
    ADD_FAILURE() << "expected std::system_error ("
                  << std::make_error_code(error).message()
                  << "), but nothing was thrown" << hint;
  } catch (const std::system_error& e) {
    EXPECT_EQ(e.code(), std::make_error_code(error))
        << "std::system_error carries the wrong error: " << e.what() << hint;
    EXPECT_NE(std::string(e.what()).find(call_name), std::string::npos)
        << "the message should name the call and the object, " << call_name
        << ", it says: " << e.what()
        << Hint(
               "std::system_error(errno, std::generic_category(), "
               "\"shm_open(\" + name + \")\")");
  } catch (const std::exception& e) {
    ADD_FAILURE() << "expected std::system_error ("
                  << std::make_error_code(error).message()
                  << "), got: " << e.what() << hint;
  }
}

// Runs `call`, expecting std::invalid_argument.
template <typename Call>
inline void ExpectInvalidArgument(Call call, const std::string& what,
                                  const std::string& hint) {
  try {
    call();
    ADD_FAILURE() << what << ": expected std::invalid_argument, but nothing "
                  << "was thrown" << hint;
  } catch (const std::invalid_argument&) {
  } catch (const std::exception& e) {
    ADD_FAILURE() << what
                  << ": expected std::invalid_argument, got: " << e.what()
                  << hint;
  }
}

inline std::string TextOf(const Message& message) {
  return std::string(message.text.data(),
                     strnlen(message.text.data(), message.text.size()));
}

inline std::string ExpectedText(int producer, int sequence) {
  char text[64];
  std::snprintf(text, sizeof(text), "producer %d message %d", producer,
                sequence);
  return text;
}

// Describes `message` for a failure: "producer 1 message 2 (text ...)".
inline std::string Show(const std::optional<Message>& message) {
  if (!message) return "nothing (the wait timed out)";
  return "producer " + std::to_string(message->producer) + " sequence " +
         std::to_string(message->sequence) + " (text \"" + TextOf(*message) +
         "\")";
}

inline constexpr char kNoFtruncate[] =
    "a new shared memory object has 0 bytes: ftruncate(fd, size) it before "
    "mmap, or the first touch of the mapping is SIGBUS";
inline constexpr char kMapShared[] =
    "map the object with MAP_SHARED: with MAP_PRIVATE each process writes "
    "into its own copy-on-write copy and nobody else sees it";
inline constexpr char kOwnerUnlinks[] =
    "the owner (the SharedMemory that Create returned) removes the name "
    "with shm_unlink when it is destroyed; otherwise it stays in /dev/shm "
    "until reboot";

inline constexpr char kPshared[] =
    "sem_init(&sem, 1, value): with pshared = 0 the semaphore still counts, "
    "but a process asleep in sem_wait is never woken by another process's "
    "sem_post";
inline constexpr char kAbsoluteDeadline[] =
    "sem_timedwait takes an absolute deadline: clock_gettime(CLOCK_REALTIME) "
    "plus the timeout, not the timeout itself";

inline constexpr char kLockReleased[] =
    "every lock.WaitFor() needs its lock.Post() once the increment is done, "
    "or the next increment waits forever";

inline constexpr char kWrap[] =
    "the indices wrap around: next = (next + 1) % kCapacity, so that every "
    "one of the kCapacity slots is used, in a circle";
inline constexpr char kPopPostsEmpty[] =
    "Pop frees the slot it read: empty_slots.Post() after the copy, or "
    "producers run out of free slots";
inline constexpr char kMutexFirst[] =
    "deadlock: a process sleeps on a semaphore while holding the mutex, so "
    "nobody can get in to post that semaphore: Push must wait on empty_slots "
    "BEFORE the mutex, and Pop must wait on full_slots BEFORE the mutex";
inline constexpr char kReadAfterRelease[] =
    "Pop read the slot after posting empty_slots: from that post on, a "
    "producer may overwrite the slot; copy the message out first";
inline constexpr char kPublishBeforeWrite[] =
    "Push posted full_slots before writing the slot: from that post on, a "
    "consumer may read the half-written slot; write first, then post";

// Pushes producer 0's messages first..last-1 into `ring` from this process;
// each must find a free slot at once.
inline void PushRange(RingBuffer& ring, int first, int last) {
  for (int s = first; s < last; ++s) {
    ASSERT_TRUE(ring.Push(MakeMessage(0, s), 1s))
        << "Push of message " << s << " found no free slot, with "
        << ValueOf(ring.empty_slots) << " free slots counted"
        << Hint(kPopPostsEmpty);
  }
}

// Pops `count` messages and expects producer 0's sequence first, first+1...
inline void ExpectPops(RingBuffer& ring, int first, int count) {
  for (int s = first; s < first + count; ++s) {
    std::optional<Message> message = ring.Pop(1s);
    ASSERT_TRUE(message.has_value())
        << "Pop found no message where message " << s << " was expected"
        << Hint("Push posts full_slots for every message it writes");
    ASSERT_EQ(message->sequence, s)
        << "expected message " << s << ", got " << Show(message) << Hint(kWrap);
    ASSERT_EQ(TextOf(*message), ExpectedText(0, s));
  }
}

inline constexpr char kPipelineStuck[] =
    "the pipeline did not finish: does every consumer get its own "
    "end-of-stream marker, pushed after all producers have ended, and does "
    "the parent wait for producers before consumers?";

// What the consumers saw, in memory the test maps itself (forked children
// inherit it). Atomics: several consumer processes update it at once.
struct Receipts {
  static constexpr int kMax = 100000;
  std::atomic<int> times[kMax];    // how often each message was consumed
  std::atomic<int> unknown{0};     // messages with an impossible id
  std::atomic<int> wrong_text{0};  // texts that do not match their id
  std::atomic<int> out_of_order{0};
  std::atomic<pid_t> consumer_pid[8];
  std::atomic<pid_t> caller_pid{0};  // the process that called RunPipeline
  std::atomic<int> caller_consumed{0};
};

// A Consume that records into `receipts`: every (producer, sequence) once,
// text intact, and each consumer sees each producer's messages in order.
inline kata::shm::Consume Recorder(Receipts& receipts, int producers,
                                   int per_producer) {
  std::vector<int> last_seen(static_cast<std::size_t>(producers), -1);
  return [&receipts, producers, per_producer, last_seen](
             int consumer, const Message& message) mutable {
    if (getpid() == receipts.caller_pid) receipts.caller_consumed++;
    if (consumer >= 0 && consumer < 8) {
      receipts.consumer_pid[consumer] = getpid();
    }
    if (message.producer < 0 || message.producer >= producers ||
        message.sequence < 0 || message.sequence >= per_producer) {
      receipts.unknown++;
      return;
    }
    int& last = last_seen[static_cast<std::size_t>(message.producer)];
    if (message.sequence <= last) receipts.out_of_order++;
    last = message.sequence;
    if (TextOf(message) != ExpectedText(message.producer, message.sequence)) {
      receipts.wrong_text++;
    }
    receipts.times[message.producer * per_producer + message.sequence]++;
  };
}

// Calls RunPipeline in a child process (see InAChild), with a Recorder
// consume that knows that child as the caller.
inline void RunPipelineInAChild(const std::string& name,
                                const kata::shm::PipelinePlan& plan,
                                Receipts& receipts) {
  InAChild([&] {
    receipts.caller_pid = getpid();
    kata::shm::RunPipeline(name, plan,
                           Recorder(receipts, plan.producers,
                                    std::max(plan.messages_per_producer, 1)));
  });
}

// Checks that each of the producers * per_producer messages was consumed
// exactly once, and nothing else.
inline void ExpectEachExactlyOnce(const Receipts& receipts, int producers,
                                  int per_producer) {
  int missing = 0, repeated = 0;
  std::string example;
  for (int id = 0; id < producers * per_producer; ++id) {
    const int times = receipts.times[id];
    if (times == 1) continue;
    (times == 0 ? missing : repeated)++;
    if (example.empty()) {
      example = " (e.g. producer " + std::to_string(id / per_producer) +
                " message " + std::to_string(id % per_producer) + " arrived " +
                std::to_string(times) + " times)";
    }
  }
  EXPECT_EQ(missing + repeated, 0)
      << missing << " messages never arrived and " << repeated
      << " arrived more than once" << example
      << Hint(
             "each message is pushed once and popped once; a slot is only "
             "reused after its Pop posted empty_slots");
  EXPECT_EQ(receipts.unknown.load(), 0) << "messages with impossible ids";
  EXPECT_EQ(receipts.wrong_text.load(), 0)
      << "messages whose text does not match their id (torn slots?)"
      << Hint(kPublishBeforeWrite);
  EXPECT_EQ(receipts.out_of_order.load(), 0)
      << "a consumer saw a producer's messages out of order" << Hint(kWrap);
  EXPECT_EQ(receipts.caller_consumed.load(), 0)
      << "messages were consumed in the calling process"
      << Hint("consume() runs in the consumer child processes");
}

inline constexpr char kDeadPeer[] =
    "a wait without a time limit: when the peer that should post has died, "
    "only a timeout (sem_timedwait) ends the wait";

}  // namespace shm_test

#endif  // IPC_KATAS_TESTS_SHARED_MEMORY_HELPERS_H_
