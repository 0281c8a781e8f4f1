// Tests of the shared_memory kata, stage by stage: what each function does
// when all goes well, and the classic mistakes of each stage. The same file
// is built against the learner's stub (//exercises/shared_memory:
// shared_memory_test) and against the reference solution
// (//solutions/shared_memory:shared_memory_test), together with
// shared_memory_contract_test.cc (limits, failed calls, deadlines, signals).
//
// The helpers both files use are in helpers.h. Where a child process must
// report what it saw, it writes into kata::SharedText and the parent asserts.

#include "shared_memory/shared_memory.h"

#include <fcntl.h>
#include <semaphore.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <functional>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <system_error>
#include <thread>
#include <tuple>
#include <vector>

#include "gtest/gtest.h"
#include "tests/shared_memory/helpers.h"
#include "tests/support/kata.h"

namespace {

using namespace shm_test;  // NOLINT: the helpers of this kata's tests
using kata::InterruptingSignal;

KATA_STAGE(Stage1Segment, "Stage 1, a named segment",
           README "#stage-1-a-named-segment");
KATA_STAGE(Stage2Semaphore, "Stage 2, a semaphore in shared memory",
           README "#stage-2-a-semaphore-in-shared-memory");
KATA_STAGE(Stage3Counter, "Stage 3, a counter without lost updates",
           README "#stage-3-a-counter-without-lost-updates");
KATA_STAGE(Stage4RingBuffer, "Stage 4, a bounded buffer between processes",
           README "#stage-4-a-bounded-buffer-between-processes");
KATA_STAGE(Stage5ManyToMany, "Stage 5, many producers and consumers",
           README "#stage-5-many-producers-and-consumers");
KATA_STAGE(Stage6DeadPeers, "Stage 6, when a peer dies",
           README "#stage-6-when-a-peer-dies");

// A SIGBUS in the test runner would end the run with a bare "Bus error";
// say first what it almost always means here.
const bool kSigbusExplained = [] {
  struct sigaction action{};
  action.sa_handler = [](int) {
    static const char kText[] =
        "\nSIGBUS: this process touched a page of a shared memory mapping "
        "that lies beyond the end of the object (was the object ftruncate()d "
        "to its size?)\n";
    ssize_t ignored = write(STDOUT_FILENO, kText, sizeof(kText) - 1);
    (void)ignored;
    signal(SIGBUS, SIG_DFL);
    raise(SIGBUS);
  };
  sigemptyset(&action.sa_mask);
  sigaction(SIGBUS, &action, nullptr);
  return true;
}();

// =========================================================== Stage 1

// Tests that Create gives the new object the size asked for (a new object
// has none).
TEST(Stage1Segment, CreateGivesTheObjectItsSize) {
  const std::string name = kata::UniqueName("size");
  SharedMemory segment = SharedMemory::Create(name, 10000);
  EXPECT_EQ(StatOf(name).st_size, 10000) << Hint(kNoFtruncate);
  EXPECT_EQ(segment.size(), 10000u);
  EXPECT_EQ(segment.name(), name);
  EXPECT_TRUE(segment.owns_name()) << Hint("Create's object owns the name");
  ASSERT_TRUE(Backed(segment));
  const char* bytes = Bytes(segment);
  int nonzero = 0;
  for (std::size_t i = 0; i < segment.size(); ++i) nonzero += bytes[i] != 0;
  EXPECT_EQ(nonzero, 0) << "a new object starts as zeros";
}

// Tests that only the owner may read or write the new object (mode 0600).
TEST(Stage1Segment, CreateMakesTheObjectOwnerOnly) {
  const std::string name = kata::UniqueName("mode");
  SharedMemory segment = SharedMemory::Create(name, 4096);
  EXPECT_EQ(StatOf(name).st_mode & 0777, 0600u) << Hint(
      "shm_open(name, O_CREAT | O_EXCL | O_RDWR, 0600): shared memory is a "
      "file, and other users have no business reading it");
}

// Tests that Create refuses a name that exists, and leaves that object alone.
TEST(Stage1Segment, CreateRefusesANameThatExists) {
  const std::string name = kata::UniqueName("exists");
  RawObject someone_elses(name, 123);
  ExpectSystemError(
      [&] { (void)SharedMemory::Create(name, 4096); }, std::errc::file_exists,
      "shm_open(" + name + ")",
      Hint("O_CREAT | O_EXCL: exactly one process creates the object; a "
           "leftover from an earlier run must be an error, not silently "
           "reused"));
  EXPECT_TRUE(NameExists(name))
      << "a failed Create removed someone else's object"
      << Hint("remove the name only if this call created it");
  EXPECT_EQ(StatOf(name).st_size, 123) << "a failed Create resized someone "
                                          "else's object"
                                       << Hint("use O_EXCL");
}

// Tests that opening a missing name is an error, and creates nothing.
TEST(Stage1Segment, OpenOfAMissingNameFailsWithEnoent) {
  const std::string name = kata::UniqueName("missing");
  ExpectSystemError(
      [&] { (void)SharedMemory::Open(name, 4096); },
      std::errc::no_such_file_or_directory, "shm_open(" + name + ")",
      Hint("Open passes O_RDWR only; with O_CREAT it would create a new, "
           "empty object instead of failing"));
  EXPECT_FALSE(NameExists(name))
      << "Open created the object it should have found"
      << Hint(
             "Open passes O_RDWR only; with O_CREAT it would create a new, "
             "empty object instead of failing");
  shm_unlink(name.c_str());
}

// Tests that Open refuses to map more than the object holds.
TEST(Stage1Segment, OpenRefusesAnObjectSmallerThanAsked) {
  const std::string name = kata::UniqueName("small");
  RawObject not_yet_sized(name, 0);
  ExpectInvalidArgument(
      [&] { (void)SharedMemory::Open(name, 4096); }, "Open of a 0-byte object",
      Hint("fstat() the object and compare st_size with the size asked for: "
           "mapped bytes beyond the object's end are SIGBUS on first touch"));
}

// Tests that Open maps the size asked for and does not own the name.
TEST(Stage1Segment, OpenMapsTheRequestedBytes) {
  const std::string name = kata::UniqueName("open");
  SharedMemory owner = SharedMemory::Create(name, 8192);
  SharedMemory opened = SharedMemory::Open(name, 4096);
  EXPECT_NE(opened.data(), nullptr);
  EXPECT_EQ(opened.size(), 4096u);
  EXPECT_EQ(opened.name(), name);
  EXPECT_FALSE(opened.owns_name())
      << Hint("only Create's object owns the name");
}

// Tests that another process opening the name sees the creator's writes, and
// the creator sees the other process's writes.
TEST(Stage1Segment, AnotherProcessSeesTheWrites) {
  const std::string name = kata::UniqueName("both-ways");
  SharedMemory segment = SharedMemory::Create(name, 4096);
  ASSERT_TRUE(Backed(segment));
  std::strcpy(Bytes(segment), "from the parent");
  kata::SharedText seen;
  kata::RunInChild([&] {
    SharedMemory mine = SharedMemory::Open(name, 4096);
    seen.Store(static_cast<const char*>(mine.data()));
    std::strcpy(static_cast<char*>(mine.data()) + 2048, "from the child");
  });
  EXPECT_EQ(seen.Load(), "from the parent")
      << "the child's mapping did not show the parent's write"
      << Hint(kMapShared);
  EXPECT_STREQ(Bytes(segment) + 2048, "from the child")
      << "the parent's mapping did not show the child's write"
      << Hint(kMapShared);
}

// Tests that a child writing through the mapping it inherited from fork is
// seen by the parent.
TEST(Stage1Segment, ChildWritesThroughTheInheritedMapping) {
  const std::string name = kata::UniqueName("inherited");
  SharedMemory segment = SharedMemory::Create(name, 4096);
  ASSERT_TRUE(Backed(segment));
  Bytes(segment)[0] = 'A';
  kata::RunInChild([&] { Bytes(segment)[0] = 'B'; });
  EXPECT_EQ(Bytes(segment)[0], 'B') << Hint(kMapShared);
}

// Tests that destroying the owner unmaps the object and removes its name.
TEST(Stage1Segment, OwnerRemovesTheNameWhenDestroyed) {
  const std::string name = kata::UniqueName("owner");
  {
    SharedMemory segment = SharedMemory::Create(name, 4096);
    ASSERT_TRUE(NameExists(name));
    EXPECT_TRUE(MappedHere(name));
  }
  EXPECT_FALSE(NameExists(name)) << Hint(kOwnerUnlinks);
  EXPECT_FALSE(MappedHere(name))
      << "the mapping is still in /proc/self/maps"
      << Hint("Reset() unmaps with munmap(data, size)");
  shm_unlink(name.c_str());
}

// Tests that a SharedMemory from Open leaves the name alone when destroyed.
TEST(Stage1Segment, OpenerLeavesTheNameInPlace) {
  const std::string name = kata::UniqueName("opener");
  SharedMemory owner = SharedMemory::Create(name, 4096);
  {
    SharedMemory opened = SharedMemory::Open(name, 4096);
  }
  EXPECT_TRUE(NameExists(name))
      << "destroying an opener removed the owner's name"
      << Hint("only the owner calls shm_unlink");
}

// Tests that Unlink removes the name at once while the memory stays usable.
TEST(Stage1Segment, UnlinkRemovesTheNameButKeepsTheMemory) {
  const std::string name = kata::UniqueName("unlink");
  SharedMemory segment = SharedMemory::Create(name, 4096);
  ASSERT_TRUE(Backed(segment));
  std::strcpy(Bytes(segment), "still here");
  segment.Unlink();
  EXPECT_FALSE(NameExists(name)) << Hint("Unlink() calls shm_unlink(name)");
  EXPECT_FALSE(segment.owns_name())
      << Hint("after Unlink there is no name left to own");
  EXPECT_STREQ(Bytes(segment), "still here")
      << "removing the name must not take the memory away";
  SharedMemory opened;
  EXPECT_THROW(opened.Unlink(), std::logic_error)
      << Hint("only the owner may remove the name");
}

// Tests that moving a SharedMemory moves the ownership of the name along.
TEST(Stage1Segment, MovingHandsOverTheName) {
  const std::string name = kata::UniqueName("move");
  SharedMemory first = SharedMemory::Create(name, 4096);
  SharedMemory second = std::move(first);
  first.Reset();
  EXPECT_TRUE(NameExists(name))
      << "the moved-from object removed the name" << Hint(kOwnerUnlinks);
  second.Reset();
  EXPECT_FALSE(NameExists(name)) << Hint(kOwnerUnlinks);
  shm_unlink(name.c_str());
}

// Tests that bad names and sizes are rejected before any shm_open.
TEST(Stage1Segment, RejectsBadNamesAndSizes) {
  const std::string hint = Hint(
      "a POSIX shared memory name is \"/\" and 1 to 254 characters without "
      "another \"/\"; check it (and size > 0) before calling shm_open");
  kata::CallCounter calls;
  for (const std::string& bad :
       {std::string(), std::string("/"), std::string("no-slash"),
        std::string("/a/b"), "/" + std::string(300, 'x')}) {
    ExpectInvalidArgument([&] { (void)SharedMemory::Create(bad, 4096); },
                          "Create(\"" + bad.substr(0, 20) + "\")", hint);
    ExpectInvalidArgument([&] { (void)SharedMemory::Open(bad, 4096); },
                          "Open(\"" + bad.substr(0, 20) + "\")", hint);
  }
  const std::string name = kata::UniqueName("zero");
  ExpectInvalidArgument([&] { (void)SharedMemory::Create(name, 0); },
                        "Create with size 0", hint);
  EXPECT_EQ(calls.Count({"shm_open"}), 0) << hint;
  EXPECT_FALSE(NameExists(name));
}

// Tests that a Create that fails half-way (here ftruncate, past the file size
// limit) removes the object it made.
TEST(Stage1Segment, FailedCreateLeavesNothingBehind) {
  const std::string name = kata::UniqueName("too-big");
  kata::RunInChild([&] {
    signal(SIGXFSZ, SIG_IGN);  // EFBIG instead of a killing signal
    rlimit limit{4096, 4096};
    ASSERT_EQ(setrlimit(RLIMIT_FSIZE, &limit), 0);
    ExpectSystemError(
        [&] { (void)SharedMemory::Create(name, 1 << 20); },
        std::errc::file_too_large, "ftruncate(" + name + ")",
        Hint("throw std::system_error naming ftruncate when it fails"));
  });
  EXPECT_FALSE(NameExists(name))
      << "the object of a failed Create was left behind"
      << Hint(
             "when a call after shm_open fails, shm_unlink the new name "
             "before throwing");
  shm_unlink(name.c_str());
}

// Tests that Create and Reset use POSIX shared memory: shm_open, ftruncate,
// mmap, shm_unlink.
TEST(Stage1Segment, UsesPosixSharedMemory) {
  kata::CallCounter calls;
  SharedMemory segment = SharedMemory::Create(kata::UniqueName("calls"), 4096);
  kata::ExpectUsed(calls, {"shm_open"}, 1, "a POSIX shared memory object");
  kata::ExpectUsed(calls, {"ftruncate"}, 1, "ftruncate to size the object");
  kata::ExpectUsed(calls, {"mmap"}, 1, "mmap to map the object");
  segment.Reset();
  kata::ExpectUsed(calls, {"shm_unlink"}, 1, "shm_unlink by the owner");
}

// =========================================================== Stage 2

// What a parent hands a child: the text, and a semaphore saying it is ready.
struct Note {
  SharedSemaphore ready{0};
  char text[64] = {};
};

// Tests the basic hand-over: the parent writes, posts; the child waits, reads.
TEST(Stage2Semaphore, ChildReadsWhatTheParentWrote) {
  TestShared<Note> note;
  kata::SharedText seen;
  kata::Child reader([&] {
    seen.Store(note->ready.WaitFor(5s) ? note->text : "(timed out)");
  });
  std::strcpy(note->text, "written by the parent");
  note->ready.Post();
  reader.Join();
  EXPECT_EQ(seen.Load(), "written by the parent")
      << Hint("the child waits for `ready`; the parent writes, then posts");
}

// Tests that a post wakes a process that is already asleep in the wait: the
// only case where pshared matters.
TEST(Stage2Semaphore, PostWakesAProcessAlreadyAsleep) {
  kata::OnDeadlock(kPshared);
  TestShared<SharedSemaphore> semaphore(0);
  kata::SharedText outcome;
  kata::Child waiter(
      [&] { outcome.Store(semaphore->WaitFor(2s) ? "woken" : "never woken"); });
  ASSERT_TRUE(WaitUntilAsleepOnFutex(waiter.pid()))
      << "the child never went to sleep in the wait (state "
      << kata::ProcessState(waiter.pid()) << ")"
      << Hint("WaitFor must block until a post arrives or the timeout ends",
              README "#stage-2-a-semaphore-in-shared-memory");
  semaphore->Post();
  waiter.Join();
  EXPECT_EQ(outcome.Load(), "woken") << Hint(kPshared);
}

// Tests that tokens already there are taken at once, and a zero timeout
// only tries.
TEST(Stage2Semaphore, WaitForTakesAvailableTokens) {
  TestShared<SharedSemaphore> semaphore(2);
  EXPECT_EQ(ValueOf(*semaphore), 2) << Hint("sem_init(&sem, 1, value)");
  EXPECT_TRUE(semaphore->WaitFor(1s));
  EXPECT_TRUE(semaphore->WaitFor(0ms))
      << Hint("a timeout of 0 tries once (sem_trywait)");
  EXPECT_FALSE(semaphore->WaitFor(0ms))
      << Hint("sem_trywait fails with EAGAIN when there is no token: false");
  EXPECT_EQ(ValueOf(*semaphore), 0);
}

// Tests that a wait nobody posts to ends with false, not an exception.
TEST(Stage2Semaphore, WaitForGivesUpAfterTheTimeout) {
  kata::OnDeadlock("WaitFor never gave up: use sem_timedwait, not sem_wait");
  TestShared<SharedSemaphore> semaphore(0);
  try {
    EXPECT_FALSE(semaphore->WaitFor(100ms));
    EXPECT_FALSE(semaphore->WaitFor(-5ms));
  } catch (const std::system_error& e) {
    ADD_FAILURE() << "WaitFor threw " << e.what()
                  << Hint("ETIMEDOUT is an expected outcome: return false");
  }
  EXPECT_EQ(ValueOf(*semaphore), 0);
}

// Tests that WaitFor really waits for a post that comes while it sleeps.
TEST(Stage2Semaphore, WaitForWaitsForALatePost) {
  TestShared<SharedSemaphore> semaphore(0);
  kata::Child poster([&] {
    WaitUntilAsleepOnFutex(kata::RunnerPid());
    sem_post(semaphore->native());
  });
  EXPECT_TRUE(semaphore->WaitFor(5s))
      << "WaitFor(5s) gave up before the post arrived"
      << Hint(kAbsoluteDeadline);
  poster.Join();
}

// Tests that a signal handler interrupting the wait (EINTR) does not end it.
TEST(Stage2Semaphore, WaitForCarriesOnAfterASignal) {
  InterruptingSignal interrupt(SIGUSR1);
  TestShared<SharedSemaphore> semaphore(0);
  kata::Child poster([&] {
    WaitUntilAsleepOnFutex(kata::RunnerPid());
    kill(kata::RunnerPid(), SIGUSR1);
    std::this_thread::sleep_for(50ms);
    WaitUntilAsleepOnFutex(kata::RunnerPid());  // asleep again: it retried
    sem_post(semaphore->native());
  });
  try {
    EXPECT_TRUE(semaphore->WaitFor(5s))
        << "WaitFor gave up when a signal interrupted it"
        << Hint(
               "EINTR: a signal handler ran; call sem_timedwait again with "
               "the same deadline");
  } catch (const std::system_error& e) {
    ADD_FAILURE() << "WaitFor threw " << e.what()
                  << Hint(
                         "EINTR: a signal handler ran; call sem_timedwait "
                         "again with the same deadline");
  } catch (...) {
    // Unfinished code: stop the child before the handler above is removed,
    // or its SIGUSR1 would kill the test runner.
    kill(poster.pid(), SIGKILL);
    throw;
  }
  poster.Join();
}

// Tests that Post adds one token each time.
TEST(Stage2Semaphore, PostAddsAToken) {
  TestShared<SharedSemaphore> semaphore(0);
  semaphore->Post();
  semaphore->Post();
  EXPECT_EQ(ValueOf(*semaphore), 2) << Hint("Post() is sem_post()");
}

// Tests that the semaphore is a POSIX semaphore (sem_init, sem_post, and a
// sem_*wait).
TEST(Stage2Semaphore, UsesPosixSemaphores) {
  kata::CallCounter calls;
  TestShared<SharedSemaphore> semaphore(0);
  semaphore->Post();
  semaphore->WaitFor(1s);
  kata::ExpectUsed(calls, {"sem_init"}, 1, "an unnamed POSIX semaphore");
  kata::ExpectUsed(calls, {"sem_post"}, 1, "sem_post");
  kata::ExpectUsed(calls, {"sem_wait", "sem_timedwait", "sem_trywait"}, 1,
                   "sem_timedwait");
}

// =========================================================== Stage 3

// Tests that AddUnderLock adds exactly `times` and leaves the lock free.
TEST(Stage3Counter, AddUnderLockAddsExactly) {
  TestShared<SharedCounter> counter;
  EXPECT_TRUE(kata::shm::AddUnderLock(*counter, 1000, 1s))
      << Hint(kLockReleased);
  EXPECT_EQ(counter->value, 1000);
  EXPECT_EQ(ValueOf(counter->lock), 1)
      << "the lock is not free after AddUnderLock" << Hint(kLockReleased);
}

// Tests the exact total from four processes adding at the same time.
TEST(Stage3Counter, FourProcessesLoseNoUpdate) {
  kata::OnDeadlock(kLockReleased, 20s);
  TestShared<SharedCounter> counter;
  std::vector<kata::Child> adders;
  for (int p = 0; p < 4; ++p) {
    adders.emplace_back([&] {
      EXPECT_TRUE(kata::shm::AddUnderLock(*counter, 20000, 10s))
          << Hint(kLockReleased);
    });
  }
  for (kata::Child& adder : adders) adder.Join();
  EXPECT_EQ(counter->value, 80000)
      << "increments were lost"
      << Hint(
             "read, add and write the value only while holding the lock: "
             "the whole read-modify-write is the critical section");
}

// Tests that a negative count is refused before anything changes.
TEST(Stage3Counter, RejectsANegativeCount) {
  TestShared<SharedCounter> counter;
  ExpectInvalidArgument([&] { kata::shm::AddUnderLock(*counter, -1, 1s); },
                        "AddUnderLock(-1)",
                        Hint("check `times` before taking the lock"));
  EXPECT_EQ(counter->value, 0);
  EXPECT_EQ(ValueOf(counter->lock), 1);
}

// Tests CountWithProcesses: processes (not threads) in a POSIX segment,
// each increment under the semaphore, and an exact total.
TEST(Stage3Counter, CountWithProcessesGetsTheExactTotal) {
  kata::OnDeadlock(kLockReleased, 20s);
  const std::string name = kata::UniqueName("count");
  kata::CallCounter calls;
  InAChild([&] {
    EXPECT_EQ(kata::shm::CountWithProcesses(name, 4, 25000), 100000) << Hint(
        "each child calls AddUnderLock on the counter in the segment; "
        "wait for all of them before reading the value");
  });
  if (HasFailure()) return;  // the child has said what went wrong
  // One per counting process (the test's own child is not counted).
  kata::ExpectUsed(calls, {"fork"}, 4, "one child process per counter");
  EXPECT_EQ(calls.Count({"pthread_create"}), 0)
      << "this kata asks for processes, not threads"
      << Hint(
             "fork() the children: the point is memory shared between "
             "separate address spaces");
  kata::ExpectUsed(calls, {"shm_open"}, 1, "a POSIX shared memory object");
  kata::ExpectUsed(calls, {"sem_wait", "sem_timedwait", "sem_trywait"}, 100000,
                   "a semaphore around every increment");
  EXPECT_FALSE(NameExists(name)) << Hint(kOwnerUnlinks);
}

// Tests that CountWithProcesses checks its arguments before it forks.
TEST(Stage3Counter, CountWithProcessesRejectsBadArguments) {
  const std::string name = kata::UniqueName("bad-count");
  kata::CallCounter calls;
  ExpectInvalidArgument(
      [&] { kata::shm::CountWithProcesses(name, 0, 10); },
      "CountWithProcesses with 0 processes",
      Hint("check the arguments before creating or forking anything"));
  ExpectInvalidArgument(
      [&] { kata::shm::CountWithProcesses(name, 2, -1); },
      "CountWithProcesses with -1 increments",
      Hint("check the arguments before creating or forking anything"));
  EXPECT_EQ(calls.Count({"fork"}), 0);
  EXPECT_FALSE(NameExists(name));
}

// =========================================================== Stage 4

// Tests that one message comes out as it went in.
TEST(Stage4RingBuffer, OneMessageGoesThroughUnchanged) {
  TestShared<RingBuffer> ring;
  ASSERT_TRUE(ring->Push(MakeMessage(3, 7), 1s));
  std::optional<Message> message = ring->Pop(1s);
  ASSERT_TRUE(message.has_value()) << "Pop after a Push found nothing";
  EXPECT_EQ(message->producer, 3);
  EXPECT_EQ(message->sequence, 7);
  EXPECT_EQ(TextOf(*message), "producer 3 message 7");
}

// Tests first-in first-out order over many laps around the ring.
TEST(Stage4RingBuffer, KeepsOrderAcrossTheWrapAround) {
  TestShared<RingBuffer> ring;
  int next = 0;
  for (int lap = 0; lap < 3; ++lap) {  // fill and drain completely
    ASSERT_NO_FATAL_FAILURE(
        PushRange(*ring, next, next + RingBuffer::kCapacity));
    ASSERT_NO_FATAL_FAILURE(ExpectPops(*ring, next, RingBuffer::kCapacity));
    next += RingBuffer::kCapacity;
  }
  for (int round = 0; round < 20; ++round) {  // wrap at every position
    ASSERT_NO_FATAL_FAILURE(PushRange(*ring, next, next + 5));
    ASSERT_NO_FATAL_FAILURE(ExpectPops(*ring, next, 3));
    ASSERT_NO_FATAL_FAILURE(ExpectPops(*ring, next + 3, 2));
    next += 5;
  }
}

// Tests that a Push into a full buffer gives up and overwrites nothing.
TEST(Stage4RingBuffer, PushIntoAFullBufferTimesOut) {
  TestShared<RingBuffer> ring;
  PushRange(*ring, 0, RingBuffer::kCapacity);
  EXPECT_FALSE(ring->Push(MakeMessage(0, 99), 100ms))
      << Hint("Push waits on empty_slots, which is 0 when the buffer is full");
  EXPECT_EQ(ValueOf(ring->mutex), 1) << "the mutex was left taken";
  ExpectPops(*ring, 0, RingBuffer::kCapacity);
}

// Tests that a Pop from an empty buffer gives up and leaves the mutex free.
TEST(Stage4RingBuffer, PopFromAnEmptyBufferTimesOut) {
  TestShared<RingBuffer> ring;
  std::optional<Message> message = ring->Pop(100ms);
  EXPECT_FALSE(message.has_value())
      << "got " << Show(message)
      << Hint("Pop waits on full_slots, which is 0 when the buffer is empty");
  EXPECT_EQ(ValueOf(ring->mutex), 1) << "the mutex was left taken";
}

// Tests the semaphore counts after a Push: one slot full, one fewer free.
TEST(Stage4RingBuffer, PushHandsTheSlotToTheConsumers) {
  TestShared<RingBuffer> ring;
  ASSERT_TRUE(ring->Push(MakeMessage(0, 0), 1s));
  EXPECT_EQ(ValueOf(ring->full_slots), 1)
      << Hint("Push posts full_slots once the slot is written");
  EXPECT_EQ(ValueOf(ring->empty_slots),
            static_cast<int>(RingBuffer::kCapacity) - 1)
      << Hint("Push takes one of empty_slots first");
  EXPECT_EQ(ValueOf(ring->mutex), 1) << "Push left the mutex taken";
}

// Tests that Pop frees the slot it read, so a full buffer takes one more.
TEST(Stage4RingBuffer, PopFreesTheSlotItRead) {
  TestShared<RingBuffer> ring;
  PushRange(*ring, 0, RingBuffer::kCapacity);
  ExpectPops(*ring, 0, 1);
  EXPECT_EQ(ValueOf(ring->empty_slots), 1) << Hint(kPopPostsEmpty);
  EXPECT_EQ(ValueOf(ring->mutex), 1) << "Pop left the mutex taken";
  EXPECT_TRUE(ring->Push(MakeMessage(0, RingBuffer::kCapacity), 100ms))
      << "no free slot after a Pop" << Hint(kPopPostsEmpty);
}

// Tests a producer that sleeps on a full buffer: it must not hold the mutex
// while it sleeps, or the consumer can never make room.
TEST(Stage4RingBuffer, ProducerWaitsForRoomWithoutHoldingTheMutex) {
  kata::OnDeadlock(kMutexFirst, 3s);
  TestShared<RingBuffer> ring;
  kata::Child producer([&] {
    for (int s = 0; s <= static_cast<int>(RingBuffer::kCapacity); ++s) {
      ASSERT_TRUE(ring->Push(MakeMessage(0, s), kForever));
    }
  });
  ASSERT_TRUE(WaitUntilAsleepOnFutex(producer.pid()))
      << "the producer never blocked on the full buffer";
  for (int s = 0; s <= static_cast<int>(RingBuffer::kCapacity); ++s) {
    std::optional<Message> message = ring->Pop(kForever);
    ASSERT_TRUE(message.has_value());
    EXPECT_EQ(message->sequence, s);
  }
  producer.Join();
}

// Tests a consumer that sleeps on an empty buffer: it must not hold the mutex
// while it sleeps, or no producer can add a message.
TEST(Stage4RingBuffer, ConsumerWaitsForAMessageWithoutHoldingTheMutex) {
  kata::OnDeadlock(kMutexFirst, 3s);
  TestShared<RingBuffer> ring;
  kata::SharedText got;
  kata::Child consumer([&] { got.Store(Show(ring->Pop(kForever))); });
  ASSERT_TRUE(WaitUntilAsleepOnFutex(consumer.pid()))
      << "the consumer never blocked on the empty buffer";
  ASSERT_TRUE(ring->Push(MakeMessage(5, 1), kForever));
  consumer.Join();
  EXPECT_EQ(got.Load(), Show(MakeMessage(5, 1)));
}

// Tests a producer process and a consumer process: everything arrives, in
// order, while the buffer fills up and drains many times.
TEST(Stage4RingBuffer, ConsumerProcessReceivesEverythingInOrder) {
  kata::OnDeadlock(
      "the producer or the consumer is stuck: is the ring buffer in shared "
      "memory, and does every wait have its post?",
      10s);
  constexpr int kMessages = 2000;
  TestShared<RingBuffer> ring;
  kata::Child producer([&] {
    for (int s = 0; s < kMessages; ++s) {
      ASSERT_TRUE(ring->Push(MakeMessage(0, s), 5s))
          << "the producer timed out at message " << s << Hint(kPshared);
    }
  });
  for (int s = 0; s < kMessages; ++s) {
    std::optional<Message> message = ring->Pop(5s);
    ASSERT_TRUE(message.has_value())
        << "the consumer timed out at message " << s << Hint(kPshared);
    ASSERT_EQ(message->sequence, s) << "got " << Show(message) << Hint(kWrap);
    ASSERT_EQ(TextOf(*message), ExpectedText(0, s));
  }
  producer.Join();
}

// Records, from a SIGSEGV handler, the value a semaphore had at the moment a
// protected page was first touched, then lifts the protection so the access
// completes. Used in a child process only.
struct FirstTouch {
  static inline void* page = nullptr;
  static inline sem_t* semaphore = nullptr;
  static inline volatile sig_atomic_t touched = 0;
  static inline volatile sig_atomic_t value = -1;

  static void Handler(int, siginfo_t* info, void*) {
    char* at = static_cast<char*>(info->si_addr);
    char* start = static_cast<char*>(page);
    if (at < start || at >= start + 4096) {
      signal(SIGSEGV, SIG_DFL);  // a real crash: let it happen
      return;
    }
    int current = -1;
    sem_getvalue(semaphore, &current);
    value = current;
    touched = 1;
    mprotect(page, 4096, PROT_READ | PROT_WRITE);
  }

  // Protects the ring's slots and watches `watched` from now on.
  static void Arm(RingBuffer& ring, SharedSemaphore& watched) {
    page = ring.slots.data();
    semaphore = watched.native();
    struct sigaction action{};
    action.sa_sigaction = Handler;
    action.sa_flags = SA_SIGINFO;
    sigemptyset(&action.sa_mask);
    sigaction(SIGSEGV, &action, nullptr);
    ASSERT_EQ(reinterpret_cast<std::uintptr_t>(page) % 4096, 0u);
    ASSERT_EQ(mprotect(page, 4096, PROT_NONE), 0);
  }
};

// Tests that Pop copies the message out of its slot before it frees the slot
// (posts empty_slots).
TEST(Stage4RingBuffer, PopReadsTheSlotBeforeFreeingIt) {
  TestShared<RingBuffer> ring;
  PushRange(*ring, 0, RingBuffer::kCapacity);  // full: empty_slots is 0
  kata::RunInChild([&] {
    FirstTouch::Arm(*ring, ring->empty_slots);
    std::optional<Message> message = ring->Pop(1s);
    ASSERT_TRUE(message.has_value());
    EXPECT_EQ(message->sequence, 0);
    ASSERT_EQ(FirstTouch::touched, 1) << "Pop never read a slot";
    EXPECT_EQ(FirstTouch::value, 0)
        << "when Pop first touched the slot, empty_slots was already "
        << FirstTouch::value << Hint(kReadAfterRelease);
  });
}

// Tests that Push writes the message into its slot before it publishes the
// slot (posts full_slots).
TEST(Stage4RingBuffer, PushWritesTheSlotBeforePublishingIt) {
  TestShared<RingBuffer> ring;  // empty: full_slots is 0
  kata::RunInChild([&] {
    FirstTouch::Arm(*ring, ring->full_slots);
    ASSERT_TRUE(ring->Push(MakeMessage(0, 0), 1s));
    ASSERT_EQ(FirstTouch::touched, 1) << "Push never wrote a slot";
    EXPECT_EQ(FirstTouch::value, 0)
        << "when Push first touched the slot, full_slots was already "
        << FirstTouch::value << Hint(kPublishBeforeWrite);
  });
  ExpectPops(*ring, 0, 1);
}

// =========================================================== Stage 5

// Tests one producer and one consumer: everything arrives once, in order.
TEST(Stage5ManyToMany, OneProducerOneConsumer) {
  kata::OnDeadlock(kPipelineStuck, 10s);
  TestShared<Receipts> receipts;
  kata::shm::PipelinePlan plan;
  plan.messages_per_producer = 2000;
  RunPipelineInAChild(kata::UniqueName("one-one"), plan, *receipts);
  if (HasFailure()) return;  // the child has said what went wrong
  ExpectEachExactlyOnce(*receipts, 1, 2000);
}

// Tests 4 producer and 4 consumer processes moving 100,000 messages: every
// message is consumed exactly once.
TEST(Stage5ManyToMany, HundredThousandMessagesFourByFour) {
  kata::OnDeadlock(kPipelineStuck, 30s);
  constexpr int kProducers = 4, kConsumers = 4, kEach = 25000;
  TestShared<Receipts> receipts;
  kata::CallCounter calls;
  kata::shm::PipelinePlan plan;
  plan.producers = kProducers;
  plan.consumers = kConsumers;
  plan.messages_per_producer = kEach;
  plan.timeout = 20s;
  const std::string name = kata::UniqueName("four-four");
  RunPipelineInAChild(name, plan, *receipts);
  if (HasFailure()) return;  // the child has said what went wrong
  ExpectEachExactlyOnce(*receipts, kProducers, kEach);
  // One per producer and consumer (the test's own child is not counted).
  kata::ExpectUsed(calls, {"fork"}, kProducers + kConsumers,
                   "one child process per producer and per consumer");
  EXPECT_EQ(calls.Count({"pthread_create"}), 0)
      << "this kata asks for processes, not threads"
      << Hint("fork() the producers and consumers");
  kata::ExpectUsed(calls, {"shm_open"}, 1, "a POSIX shared memory object");
  EXPECT_FALSE(NameExists(name)) << Hint(kOwnerUnlinks);
}

// Tests that each consumer number is one process of its own, not the caller.
TEST(Stage5ManyToMany, EveryConsumerIsAProcessOfItsOwn) {
  kata::OnDeadlock(kPipelineStuck, 10s);
  TestShared<Receipts> receipts;
  kata::shm::PipelinePlan plan;
  plan.producers = 2;
  plan.consumers = 3;
  plan.messages_per_producer = 500;
  RunPipelineInAChild(kata::UniqueName("pids"), plan, *receipts);
  if (HasFailure()) return;  // the child has said what went wrong
  std::set<pid_t> pids;
  int seen = 0;
  for (int c = 0; c < 3; ++c) {
    const pid_t pid = receipts->consumer_pid[c];
    if (pid == 0) continue;  // this consumer happened to get no message
    ++seen;
    pids.insert(pid);
    EXPECT_NE(pid, receipts->caller_pid.load())
        << Hint("every consumer is a forked child process");
  }
  EXPECT_GE(seen, 1);
  EXPECT_EQ(static_cast<int>(pids.size()), seen)
      << "two consumer numbers ran in the same process"
      << Hint("fork one child per consumer");
}

// Tests that consumers stop even when no producer sends anything.
TEST(Stage5ManyToMany, NoMessagesStillEndsEveryConsumer) {
  kata::OnDeadlock(kPipelineStuck, 10s);
  TestShared<Receipts> receipts;
  kata::shm::PipelinePlan plan;
  plan.producers = 2;
  plan.consumers = 3;
  plan.messages_per_producer = 0;
  RunPipelineInAChild(kata::UniqueName("empty"), plan, *receipts);
  if (HasFailure()) return;  // the child has said what went wrong
  ExpectEachExactlyOnce(*receipts, 2, 0);
}

// Tests that impossible plans are refused before anything is forked.
TEST(Stage5ManyToMany, RejectsImpossiblePlans) {
  kata::CallCounter calls;
  const auto ignore = [](int, const Message&) {};
  for (auto [producers, consumers, each] :
       {std::tuple{0, 1, 10}, std::tuple{1, 0, 10}, std::tuple{1, 1, -1}}) {
    kata::shm::PipelinePlan plan;
    plan.producers = producers;
    plan.consumers = consumers;
    plan.messages_per_producer = each;
    ExpectInvalidArgument(
        [&] { kata::shm::RunPipeline(kata::UniqueName("bad"), plan, ignore); },
        "RunPipeline(" + std::to_string(producers) + " producers, " +
            std::to_string(consumers) + " consumers, " + std::to_string(each) +
            " messages)",
        Hint("check the plan before creating or forking anything"));
  }
  EXPECT_EQ(calls.Count({"fork"}), 0);
}

// =========================================================== Stage 6

// Tests that a consumer whose producer died gets "nothing" after the timeout.
TEST(Stage6DeadPeers, PopGivesUpWhenTheProducerDied) {
  kata::OnDeadlock(kDeadPeer);
  TestShared<RingBuffer> ring;
  kata::RunInChild([&] {  // a producer that sends two messages and dies
    PushRange(*ring, 0, 2);
  });
  ExpectPops(*ring, 0, 2);
  std::optional<Message> message = ring->Pop(200ms);
  EXPECT_FALSE(message.has_value()) << "got " << Show(message);
  EXPECT_EQ(ValueOf(ring->mutex), 1) << "the mutex was left taken";
}

// Tests that a producer whose consumer died gets false after the timeout.
TEST(Stage6DeadPeers, PushGivesUpWhenTheConsumerDied) {
  kata::OnDeadlock(kDeadPeer);
  TestShared<RingBuffer> ring;
  PushRange(*ring, 0, RingBuffer::kCapacity);
  kata::RunInChild([&] {  // a consumer that takes one message and dies
    ExpectPops(*ring, 0, 1);
  });
  EXPECT_TRUE(ring->Push(MakeMessage(0, 100), 200ms));
  EXPECT_FALSE(ring->Push(MakeMessage(0, 101), 200ms))
      << Hint("Push waits on empty_slots, which is 0 when the buffer is full");
}

// Tests a Push that got a free slot but timed out on the mutex (its holder
// died): the free slot goes back, or the buffer shrinks for good.
TEST(Stage6DeadPeers, TimedOutPushGivesTheFreeSlotBack) {
  kata::OnDeadlock(kDeadPeer);
  TestShared<RingBuffer> ring;
  kata::RunInChild([&] { sem_wait(ring->mutex.native()); });  // dies with it
  EXPECT_FALSE(ring->Push(MakeMessage(0, 0), 200ms))
      << Hint("the mutex is held by a dead process: the wait must time out");
  EXPECT_EQ(ValueOf(ring->empty_slots), static_cast<int>(RingBuffer::kCapacity))
      << "a free slot was lost"
      << Hint(
             "when the mutex wait times out, empty_slots.Post() the free "
             "slot you already took before returning false");
  EXPECT_EQ(ValueOf(ring->full_slots), 0);
}

// Tests the same for Pop: a filled slot it took goes back on a timeout.
TEST(Stage6DeadPeers, TimedOutPopGivesTheFilledSlotBack) {
  kata::OnDeadlock(kDeadPeer);
  TestShared<RingBuffer> ring;
  PushRange(*ring, 0, 1);
  kata::RunInChild([&] { sem_wait(ring->mutex.native()); });  // dies with it
  EXPECT_FALSE(ring->Pop(200ms).has_value());
  EXPECT_EQ(ValueOf(ring->full_slots), 1)
      << "a filled slot was lost"
      << Hint(
             "when the mutex wait times out, full_slots.Post() the filled "
             "slot you already took before giving up");
}

// Tests that a counter whose lock died with its holder times out.
TEST(Stage6DeadPeers, CounterLockHeldByADeadProcessTimesOut) {
  kata::OnDeadlock(kDeadPeer);
  TestShared<SharedCounter> counter;
  kata::RunInChild([&] { sem_wait(counter->lock.native()); });  // dies with it
  EXPECT_FALSE(kata::shm::AddUnderLock(*counter, 10, 200ms)) << Hint(
      "a semaphore has no owner: nothing releases it when its holder "
      "dies, so give up after the timeout and return false");
  EXPECT_EQ(counter->value, 0);
}

// Tests that RunPipeline reports a consumer that died, instead of hanging.
TEST(Stage6DeadPeers, RunPipelineReportsADeadConsumer) {
  kata::OnDeadlock(kDeadPeer, 10s);
  kata::shm::PipelinePlan plan;
  plan.messages_per_producer = 100;
  plan.timeout = 1s;
  InAChild([&] {
    try {
      kata::shm::RunPipeline(kata::UniqueName("dead-consumer"), plan,
                             [](int, const Message&) { _exit(7); });
      ADD_FAILURE() << "RunPipeline returned although its consumer died"
                    << Hint(
                           "check every child's exit status (waitpid) and "
                           "throw std::runtime_error for a failed one");
    } catch (const std::runtime_error& e) {
      // Normally the dead consumer is named; on a very busy machine the
      // producer may time out first and be the one named.
      const std::string what = e.what();
      EXPECT_TRUE(what.find("consumer 0") != std::string::npos ||
                  what.find("producer 0") != std::string::npos)
          << "the error should name the child that failed, it says: " << what
          << Hint("name the failed child, e.g. \"consumer 0\"");
    }
  });
}

// Tests that RunPipeline reports a consumer whose consume() threw.
TEST(Stage6DeadPeers, RunPipelineReportsAThrowingConsumer) {
  kata::OnDeadlock(kDeadPeer, 10s);
  kata::shm::PipelinePlan plan;
  plan.producers = 2;
  plan.consumers = 2;
  plan.messages_per_producer = 100;
  plan.timeout = 300ms;
  InAChild([&] {
    EXPECT_THROW(kata::shm::RunPipeline(kata::UniqueName("throwing"), plan,
                                        [](int, const Message& message) {
                                          if (message.sequence == 50)
                                            throw std::runtime_error("no");
                                        }),
                 std::runtime_error)
        << Hint(
               "catch exceptions in the child and end it with a non-zero "
               "_exit code; the parent turns that into std::runtime_error");
  });
}

}  // namespace
