// Tests of the shared_memory kata, clause by clause of the contract in
// shared_memory.h: the mistakes nobody lists, applied to every public
// function where they fit (issue 12). For each function, where it applies:
//
//   1. the data moves through the shared segment and its semaphores, not
//      through a pipe, a socket or a file;
//   2. the caller's signal dispositions, mask and pending signals are left
//      as they were;
//   3. a wait interrupted by a signal handler (EINTR) carries on;
//   4. every documented limit, at the limit and one past it;
//   5. deadlines that hold: not early, not late, under a storm of signals,
//      across a second boundary;
//   6. each system call failing in turn: the documented exception, and
//      nothing left behind (descriptor, mapping, child, name);
//   7. no busy waiting while a call is blocked;
//   8. parameters honoured (sizes, modes, moves of owning handles);
//   9. end-of-stream and failure reports when a peer stops early.
//
// Built together with shared_memory_test.cc into the same test binary, in
// the same stage suites, so a learner's stage table still means "this
// function is done".

#include <dlfcn.h>
#include <fcntl.h>
#include <limits.h>
#include <semaphore.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <functional>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

#include "gtest/gtest.h"
#include "shared_memory/shared_memory.h"
#include "tests/shared_memory/helpers.h"
#include "tests/support/kata.h"

// ------------------------------------------- two libc calls of our own
//
// tests/support interposes the IPC calls. Two more matter to this kata's
// contract and are interposed here, for this test binary only:
//
//   clock_gettime  a test can freeze CLOCK_REALTIME for the calling thread at
//                  a chosen nanosecond, to put a deadline exactly on a whole
//                  second (a carry that happens once in a million runs);
//   fstat          a test can make the calling thread's next fstat fail.
//
// Both pass every other call straight on to the C library.

namespace {

thread_local bool t_realtime_frozen = false;
thread_local timespec t_frozen_realtime{};
thread_local int t_next_fstat_error = 0;  // 0: fstat works
thread_local int t_failed_fstats = 0;

template <typename Function>
Function* Next(const char* name) {
  return reinterpret_cast<Function*>(dlsym(RTLD_NEXT, name));
}

}  // namespace

extern "C" int clock_gettime(clockid_t clock, timespec* now) noexcept {
  if (clock == CLOCK_REALTIME && t_realtime_frozen) {
    *now = t_frozen_realtime;
    return 0;
  }
  static auto* const real = Next<int(clockid_t, timespec*)>("clock_gettime");
  return real(clock, now);
}

extern "C" int fstat(int fd, struct stat* info) noexcept {
  if (t_next_fstat_error != 0) {
    errno = std::exchange(t_next_fstat_error, 0);
    ++t_failed_fstats;
    return -1;
  }
  static auto* const real = Next<int(int, struct stat*)>("fstat");
  return real(fd, info);
}

namespace {

using namespace shm_test;  // NOLINT: the helpers of this kata's tests
using Clock = std::chrono::steady_clock;
using kata::shm::PipelinePlan;
using kata::shm::RunPipeline;
using kata::shm::SharedObject;

// For the life of this object, CLOCK_REALTIME reads, in this thread, as a
// fixed time two seconds in the past whose nanoseconds are `nanoseconds`. A
// deadline computed from it lies in the past: a correct wait ends at once.
class FrozenRealtime {
 public:
  explicit FrozenRealtime(long nanoseconds) {
    timespec now{};
    clock_gettime(CLOCK_REALTIME, &now);
    t_frozen_realtime = {now.tv_sec - 2, nanoseconds};
    t_realtime_frozen = true;
  }
  ~FrozenRealtime() { t_realtime_frozen = false; }
  FrozenRealtime(const FrozenRealtime&) = delete;
  FrozenRealtime& operator=(const FrozenRealtime&) = delete;
};

// The next fstat of this thread fails with `error` (once), for the life of
// this object; fired() says whether it did.
class FailNextFstat {
 public:
  explicit FailNextFstat(int error) {
    t_failed_fstats = 0;
    t_next_fstat_error = error;
  }
  ~FailNextFstat() { t_next_fstat_error = 0; }
  FailNextFstat(const FailNextFstat&) = delete;
  FailNextFstat& operator=(const FailNextFstat&) = delete;
  bool fired() const { return t_failed_fstats > 0; }
};

// ----------------------------------------------------------------- helpers

// How late a timed call may end on a loaded two-core machine: the mistakes
// these tests look for are a whole second off, or never end.
const std::chrono::milliseconds kLate = kata::Scaled(600ms);
// How early: CLOCK_REALTIME (the deadline's clock) and the steady clock the
// test measures with may drift apart by a little.
constexpr std::chrono::milliseconds kEarly = 2ms;

constexpr char kDeadlineKept[] =
    "one absolute deadline for the whole wait: after EINTR, call "
    "sem_timedwait again with the SAME deadline (a new one each time never "
    "ends under a stream of signals; giving up ends too early)";
constexpr char kCarry[] =
    "deadline = now + timeout, with the nanoseconds carried into the seconds "
    "(tv_nsec must stay in 0 .. 999999999, or sem_timedwait fails with "
    "EINVAL)";

// A semaphore of the test's own, for making processes take turns in tests
// that must not depend on the learner's SharedSemaphore.
struct RawSemaphore {
  sem_t sem;
  explicit RawSemaphore(unsigned value = 0) { sem_init(&sem, 1, value); }
  ~RawSemaphore() { sem_destroy(&sem); }
  RawSemaphore(const RawSemaphore&) = delete;
  RawSemaphore& operator=(const RawSemaphore&) = delete;
  void Post() { sem_post(&sem); }
  // Waits at most `limit`; whether a token was taken.
  bool Wait(std::chrono::milliseconds limit) {
    timespec deadline{};
    clock_gettime(CLOCK_REALTIME, &deadline);
    const long long ns = deadline.tv_nsec + limit.count() * 1000000LL;
    deadline.tv_sec += static_cast<time_t>(ns / 1000000000LL);
    deadline.tv_nsec = static_cast<long>(ns % 1000000000LL);
    while (sem_timedwait(&sem, &deadline) != 0) {
      if (errno != EINTR) return false;
    }
    return true;
  }
};

// The line of /proc/self/maps that maps /dev/shm<name>, or "".
std::string MapsLineOf(const std::string& name) {
  kata::NotCounted quiet;
  std::ifstream maps("/proc/self/maps");
  std::string line;
  while (std::getline(maps, line)) {
    if (line.find("/dev/shm" + name) != std::string::npos) return line;
  }
  return "";
}

// The permissions column of a /proc/<pid>/maps line ("rw-s").
std::string PermissionsOf(const std::string& maps_line) {
  std::istringstream fields(maps_line);
  std::string range, permissions;
  fields >> range >> permissions;
  return permissions;
}

// A unique shared memory name exactly `length` bytes long, the "/" included.
std::string NameOfLength(std::size_t length) {
  std::string name = kata::UniqueName("len");
  name.resize(length, 'x');
  return name;
}

// Runs `call` and returns how long it took.
template <typename Call>
Clock::duration TimeOf(Call&& call) {
  const auto start = Clock::now();
  call();
  return Clock::now() - start;
}

long Milliseconds(Clock::duration duration) {
  return static_cast<long>(
      std::chrono::duration_cast<std::chrono::milliseconds>(duration).count());
}

// Checks that a call with `timeout` that timed out took `elapsed`: neither
// early nor late.
void ExpectOnTime(Clock::duration elapsed, std::chrono::milliseconds timeout,
                  const std::string& what, const std::string& hint) {
  EXPECT_GE(elapsed, timeout - kEarly)
      << what << " gave up after " << Milliseconds(elapsed) << " ms, before "
      << "its timeout of " << timeout.count() << " ms" << hint;
  EXPECT_LE(elapsed, timeout + kLate)
      << what << " gave up after " << Milliseconds(elapsed) << " ms, more "
      << "than " << kLate.count() << " ms after its timeout of "
      << timeout.count() << " ms" << hint;
}

// Runs `timed_out`, a call that must report a timeout after `timeout`,
// while a helper process sends this process SIGUSR1 every 2 ms: it must
// report the timeout (return true here) neither early nor late.
void ExpectTimeoutUnderASignalStorm(std::chrono::milliseconds timeout,
                                    const std::string& what,
                                    const std::function<bool()>& timed_out) {
  kata::OnDeadlock("under a storm of signals, " + what +
                   " never ended: " + kDeadlineKept);
  bool reported = false;
  Clock::duration elapsed{};
  {
    kata::SignalStorm storm(kata::RunnerPid(), SIGUSR1);
    elapsed = TimeOf([&] { reported = timed_out(); });
  }
  EXPECT_TRUE(reported) << "under a storm of signals, " << what
                        << " did not report its timeout" << Hint(kDeadlineKept);
  ExpectOnTime(elapsed, timeout, what + ", under a storm of signals",
               Hint(kDeadlineKept));
}

// One system call failing with one errno, for ForEachFailingCall.
struct Failure {
  std::string_view call;
  int error;
};

// ForEachInjectedFailure for a few calls, each failing with its own errno.
void ForEachFailingCall(const std::vector<Failure>& failures,
                        const std::function<void(const kata::FaultCase*)>& body,
                        int max_per_call = 6) {
  for (const Failure& failure : failures) {
    kata::ForEachInjectedFailure({failure.call}, failure.error, body,
                                 max_per_call);
  }
}

// The calls other mechanisms would need, each with how often `calls` saw it
// ("pipe x1, write x3"), or "" when none was made: none may appear where this
// kata's data moves.
std::string OtherMechanismCalls(const kata::CallCounter& calls) {
  std::vector<std::string_view> others = {
      "socketpair",   "socket",   "mkfifo", "mq_open",  "msgget", "shmget",
      "memfd_create", "sem_open", "open",   "openat",   "creat",  "mkstemp",
      "tmpfile",      "write",    "writev", "send",     "sendto", "sendmsg",
      "read",         "readv",    "recv",   "recvfrom", "recvmsg"};
#if !defined(__SANITIZE_ADDRESS__) && !defined(__SANITIZE_THREAD__)
  // The sanitizers' runtime makes pipes of its own whenever a thread starts;
  // under a sanitizer, the MechanismWatch alone looks for pipes.
  others.insert(others.end(), {"pipe", "pipe2"});
#endif
  std::string seen;
  for (std::string_view call : others) {
    if (const long count = calls.Count({call}); count > 0) {
      seen += (seen.empty() ? "" : ", ") + std::string(call) + " x" +
              std::to_string(count);
    }
  }
  return seen;
}

// Every call that can block, and sem_trywait: a wait that tries for a token
// before it sleeps (the fast path) meets an EINTR as well, so that every
// wait is interrupted whichever way WaitFor is written.
const kata::Calls kWaitsAndTries = [] {
  kata::Calls calls = kata::kBlockingCalls;
  calls.push_back("sem_trywait");
  return calls;
}();

constexpr char kOnlySharedMemory[] =
    "the data crosses between processes through the shared segment (and the "
    "semaphores in it): no pipe, socket, file or queue on the way";

// =========================================================== Stage 1

constexpr char kNameRule[] =
    "a name is \"/\" and 1 to 254 characters, none of them \"/\": check it "
    "before any shm_open and throw std::invalid_argument";

// Tests the name's length at its limits: 1 and 254 characters after the
// slash work, for Create and for Open.
TEST(Stage1Segment, NamesAtTheLengthLimitsWork) {
  for (std::size_t length : {std::size_t{254}, std::size_t{255}}) {
    const std::string name = NameOfLength(length);
    SharedMemory created = SharedMemory::Create(name, 4096);
    EXPECT_TRUE(NameExists(name))
        << "Create of a name of " << length - 1 << " characters after the "
        << "slash" << Hint(kNameRule);
    SharedMemory opened = SharedMemory::Open(name, 4096);
    EXPECT_NE(opened.data(), nullptr);
  }
  // The shortest name, "/" and one character: another run of this test may
  // hold one of them right now, so take the first one that is free.
  bool created = false;
  for (char c : std::string("abcdefghijklmnopqrstuvwxyz")) {
    const std::string name = std::string("/") + c;
    try {
      SharedMemory shortest = SharedMemory::Create(name, 4096);
      SharedMemory opened = SharedMemory::Open(name, 4096);
      created = true;
      break;
    } catch (const std::system_error& e) {
      if (e.code() != std::errc::file_exists) throw;
    }
  }
  EXPECT_TRUE(created) << "no name of one character could be created"
                       << Hint(kNameRule);
}

// Tests names just past the rules (255 characters, an empty part after a
// slash): std::invalid_argument, before any shm_open.
TEST(Stage1Segment, NamesPastTheLimitsAreRefusedBeforeAnyCall) {
  kata::CallCounter calls;
  for (const std::string& bad :
       {NameOfLength(256), std::string("//"), std::string("//x"),
        std::string("/x/"), std::string("x/")}) {
    const std::string shown =
        bad.size() > 40 ? "a name of " + std::to_string(bad.size() - 1) +
                              " characters after the slash"
                        : "\"" + bad + "\"";
    ExpectInvalidArgument([&] { (void)SharedMemory::Create(bad, 4096); },
                          "Create(" + shown + ")", Hint(kNameRule));
    ExpectInvalidArgument([&] { (void)SharedMemory::Open(bad, 4096); },
                          "Open(" + shown + ")", Hint(kNameRule));
  }
  EXPECT_EQ(calls.Count({"shm_open"}), 0) << Hint(kNameRule);
}

// Tests sizes at their limits: 1 byte is a size, 0 is not (for Open too),
// and Open maps up to the object's size but not one byte more.
TEST(Stage1Segment, SizesAtTheirLimits) {
  const std::string name = kata::UniqueName("sizes");
  {
    SharedMemory tiny = SharedMemory::Create(name, 1);
    EXPECT_EQ(tiny.size(), 1u);
    EXPECT_EQ(StatOf(name).st_size, 1) << Hint(kNoFtruncate);
  }
  RawObject object(name, 8192);
  kata::CallCounter calls;
  ExpectInvalidArgument([&] { (void)SharedMemory::Open(name, 0); },
                        "Open with a size of 0",
                        Hint("a size of 0 cannot be mapped: refuse it with "
                             "std::invalid_argument before shm_open"));
  EXPECT_EQ(calls.Count({"shm_open"}), 0)
      << "Open(name, 0) called shm_open before refusing the size";
  for (std::size_t size : {std::size_t{8191}, std::size_t{8192}}) {
    SharedMemory opened = SharedMemory::Open(name, size);
    EXPECT_EQ(opened.size(), size)
        << "Open of " << size << " bytes of an object of 8192"
        << Hint("an object of 8192 bytes can be mapped up to all of them");
  }
  ExpectInvalidArgument(
      [&] { (void)SharedMemory::Open(name, 8193); },
      "Open of 8193 bytes of an object of 8192",
      Hint("fstat the object and refuse a size larger than st_size: bytes "
           "past the object's end are SIGBUS on the first touch"));
}

// Tests that Create and Open map the object itself, shared, readable and
// writable: "rw-s" on /dev/shm/<name> in /proc/self/maps.
TEST(Stage1Segment, MappingsAreSharedReadableAndWritable) {
  const std::string name = kata::UniqueName("perms");
  SharedMemory created = SharedMemory::Create(name, 4096);
  const std::string line = MapsLineOf(name);
  ASSERT_NE(line, "") << "no mapping of /dev/shm" << name
                      << " in /proc/self/maps after Create"
                      << Hint("mmap the descriptor that shm_open returned");
  EXPECT_EQ(PermissionsOf(line), "rw-s")
      << "the mapping is: " << line
      << Hint(
             "mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, "
             "0)");
  created.Reset();
  RawObject object(name, 4096);
  SharedMemory opened = SharedMemory::Open(name, 4096);
  EXPECT_EQ(PermissionsOf(MapsLineOf(name)), "rw-s")
      << "Open's mapping is: " << MapsLineOf(name)
      << Hint(
             "mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, "
             "0)");
}

// Tests that Create and Open work, and close their descriptor, when
// shm_open returns descriptor 0 (a program may run with stdin closed).
TEST(Stage1Segment, DescriptorZeroIsAGoodDescriptor) {
  const std::string hint = Hint(
      "shm_open returns the lowest free descriptor, which may be 0: "
      "only a negative result is an error, and 0 must be closed too");
  kata::RunInChild([&] {
    close(STDIN_FILENO);  // maybe closed already
    const std::string name = kata::UniqueName("fd-zero");
    SharedMemory created = SharedMemory::Create(name, 4096);
    EXPECT_NE(created.data(), nullptr) << hint;
    EXPECT_EQ(fcntl(STDIN_FILENO, F_GETFD), -1)
        << "Create left descriptor 0 open" << hint;
    SharedMemory opened = SharedMemory::Open(name, 4096);
    EXPECT_NE(opened.data(), nullptr) << hint;
    EXPECT_EQ(fcntl(STDIN_FILENO, F_GETFD), -1)
        << "Open left descriptor 0 open" << hint;
  });
}

// Tests each call of Create failing in turn: std::system_error naming it,
// and no name, descriptor or mapping left.
TEST(Stage1Segment, CreateReportsEachFailedCallAndLeavesNothing) {
  const std::string hint =
      "throw std::system_error(errno, ..., \"<call>(/name)\"); after "
      "shm_open succeeded, shm_unlink the new name before throwing";
  ForEachFailingCall(
      {{"shm_open", EMFILE}, {"ftruncate", ENOSPC}, {"mmap", ENOMEM}},
      [&](const kata::FaultCase* fault) {
        const std::string name = kata::UniqueName("create-fails");
        kata::ResourceSnapshot before;
        auto create = [&] { (void)SharedMemory::Create(name, 4096); };
        if (fault == nullptr) return create();
        kata::ExpectReportedOrRecovered(*fault, create, false, hint);
        EXPECT_FALSE(NameExists(name)) << "after " << fault->ToString()
                                       << ", the name is left" << Hint(hint);
        EXPECT_EQ(before.Leaks(), "") << "after " << fault->ToString();
      });
}

// Tests each call of Open failing in turn (fstat too): std::system_error
// naming it, no descriptor or mapping left, the owner's name untouched.
TEST(Stage1Segment, OpenReportsEachFailedCallAndLeavesNothing) {
  const std::string name = kata::UniqueName("open-fails");
  RawObject object(name, 8192);
  const std::string hint =
      "throw std::system_error naming the call and the object, and close the "
      "descriptor on that path too (an RAII holder does it)";
  ForEachFailingCall(
      {{"shm_open", EACCES}, {"mmap", ENOMEM}},
      [&](const kata::FaultCase* fault) {
        kata::ResourceSnapshot before;
        auto open = [&] { (void)SharedMemory::Open(name, 4096); };
        if (fault == nullptr) return open();
        kata::ExpectReportedOrRecovered(*fault, open, false, hint);
        EXPECT_TRUE(NameExists(name))
            << "a failed Open removed the owner's name"
            << Hint("only the owner removes the name");
        EXPECT_EQ(before.Leaks(), "") << "after " << fault->ToString();
      });
  kata::ResourceSnapshot before;
  {
    FailNextFstat failing(EIO);
    ExpectSystemError([&] { (void)SharedMemory::Open(name, 4096); },
                      std::errc::io_error, "fstat(" + name + ")",
                      Hint("check the object's size with fstat, and throw "
                           "std::system_error naming \"fstat(/name)\" when "
                           "it fails"));
    EXPECT_TRUE(failing.fired())
        << "Open never called fstat" << Hint("fstat the object's size");
  }
  EXPECT_EQ(before.Leaks(), "") << "after a failed fstat" << Hint(hint);
}

// Tests an Unlink whose shm_unlink fails: std::system_error, and the
// SharedMemory still owns the name (its destructor removes it later).
TEST(Stage1Segment, FailedUnlinkKeepsTheName) {
  const std::string name = kata::UniqueName("unlink-fails");
  {
    SharedMemory segment = SharedMemory::Create(name, 4096);
    {
      auto fault = kata::InjectedFault::Fail({"shm_unlink"}, EACCES);
      ExpectSystemError([&] { segment.Unlink(); }, std::errc::permission_denied,
                        "shm_unlink(" + name + ")",
                        Hint("throw std::system_error when shm_unlink fails, "
                             "and only then mark the name as not owned"));
    }
    EXPECT_TRUE(segment.owns_name())
        << "after a failed Unlink the name is still there, and still ours"
        << Hint("set owns_name_ = false only once shm_unlink succeeded");
    EXPECT_TRUE(NameExists(name));
  }
  EXPECT_FALSE(NameExists(name))
      << "the owner's destructor left the name whose Unlink failed"
      << Hint(kOwnerUnlinks);
}

// Tests that a name removed by Unlink or Reset is never removed again: by
// then it may belong to someone else.
TEST(Stage1Segment, ARemovedNameIsNotRemovedAgain) {
  const std::string hint = Hint(
      "once the name is removed, owns_name() is false for good: a later "
      "Reset or destructor must not shm_unlink a name someone else may "
      "have created since");
  const std::string name = kata::UniqueName("not-again");
  {
    SharedMemory segment = SharedMemory::Create(name, 4096);
    segment.Unlink();
    RawObject someone_elses(name, 4096);
    segment.Reset();
    EXPECT_TRUE(NameExists(name)) << "Reset after Unlink removed it" << hint;
  }
  {
    SharedMemory segment = SharedMemory::Create(name, 4096);
    segment.Reset();
    RawObject someone_elses(name, 4096);
    segment.Reset();
    EXPECT_TRUE(NameExists(name)) << "a second Reset removed it" << hint;
    SharedMemory moved = std::move(segment);
    moved.Reset();
    EXPECT_TRUE(NameExists(name)) << "Reset of a handle moved from a Reset "
                                  << "one removed it" << hint;
  }
}

// Tests what Reset leaves: an empty SharedMemory (no mapping, size 0, no
// name owned) and nothing mapped or named in the kernel.
TEST(Stage1Segment, ResetLeavesAnEmptyHandle) {
  const std::string name = kata::UniqueName("reset");
  SharedMemory segment = SharedMemory::Create(name, 8192);
  segment.Reset();
  EXPECT_EQ(segment.data(), nullptr);
  EXPECT_EQ(segment.size(), 0u) << Hint("Reset sets size_ = 0");
  EXPECT_FALSE(segment.owns_name()) << Hint("Reset sets owns_name_ = false");
  EXPECT_FALSE(static_cast<bool>(segment));
  EXPECT_EQ(MapsLineOf(name), "")
      << "Reset left the mapping" << Hint("munmap(data_, size_)");
  EXPECT_FALSE(NameExists(name)) << Hint(kOwnerUnlinks);
}

// Tests move assignment into a SharedMemory that owns an object: the old
// object is unmapped and its name removed; the new one is handed over.
TEST(Stage1Segment, MoveAssignmentReleasesTheOldObject) {
  const std::string first = kata::UniqueName("move-first");
  const std::string second = kata::UniqueName("move-second");
  SharedMemory target = SharedMemory::Create(first, 4096);
  SharedMemory source = SharedMemory::Create(second, 8192);
  void* const data = source.data();
  target = std::move(source);
  EXPECT_FALSE(NameExists(first))
      << "the object that was replaced kept its name"
      << Hint("move assignment first Reset()s what it held");
  EXPECT_EQ(MapsLineOf(first), "") << "the replaced object is still mapped";
  EXPECT_EQ(target.data(), data);
  EXPECT_EQ(target.size(), 8192u);
  EXPECT_EQ(target.name(), second);
  EXPECT_TRUE(target.owns_name());
  EXPECT_EQ(source.data(), nullptr) << "the moved-from handle kept the mapping";
  EXPECT_EQ(source.size(), 0u);
  EXPECT_FALSE(source.owns_name()) << "the moved-from handle kept the name";
  source.Reset();
  EXPECT_TRUE(NameExists(second))
      << "resetting the moved-from handle removed the name it handed over"
      << Hint(kOwnerUnlinks);
  target.Reset();
  EXPECT_FALSE(NameExists(second)) << Hint(kOwnerUnlinks);
}

// Tests that moving a SharedMemory into itself changes nothing.
TEST(Stage1Segment, SelfMoveAssignmentKeepsTheObject) {
  const std::string name = kata::UniqueName("self-move");
  SharedMemory segment = SharedMemory::Create(name, 4096);
  ASSERT_TRUE(Backed(segment));
  std::strcpy(Bytes(segment), "kept");
  SharedMemory& same = segment;
  segment = std::move(same);
  ASSERT_NE(segment.data(), nullptr)
      << "self-move assignment emptied the handle"
      << Hint("if (this != &other) guards the move assignment");
  EXPECT_STREQ(Bytes(segment), "kept");
  EXPECT_TRUE(segment.owns_name());
  EXPECT_TRUE(NameExists(name)) << "self-move assignment removed the name";
}

// A T that counts, in this process, how often it was made and destroyed.
struct Tracked {
  explicit Tracked(int v) : value(v) { ++constructed; }
  ~Tracked() { ++destroyed; }
  Tracked(const Tracked&) = delete;
  Tracked& operator=(const Tracked&) = delete;
  int value;
  static inline int constructed = 0;
  static inline int destroyed = 0;
};

// Tests SharedObject: the creator constructs the T once and destroys it
// once, an opener sees the same T and destroys nothing.
TEST(Stage1Segment, SharedObjectIsBuiltAndDestroyedByItsCreatorOnly) {
  Tracked::constructed = Tracked::destroyed = 0;
  const std::string name = kata::UniqueName("object");
  auto creator = SharedObject<Tracked>::Create(name, 42);
  EXPECT_EQ(StatOf(name).st_size, static_cast<off_t>(sizeof(Tracked)));
  {
    auto opener = SharedObject<Tracked>::Open(name);
    ASSERT_NE(opener.get(), nullptr);
    EXPECT_EQ(opener->value, 42);
    opener->value = 43;
  }
  EXPECT_EQ(Tracked::constructed, 1);
  EXPECT_EQ(Tracked::destroyed, 0) << "an opener destroyed the creator's T";
  EXPECT_EQ(creator->value, 43) << "the opener's write did not reach the "
                                   "creator's mapping";
  creator.Reset();
  EXPECT_EQ(Tracked::destroyed, 1);
  EXPECT_FALSE(NameExists(name)) << Hint(kOwnerUnlinks);
}

// Tests a SharedObject whose T's constructor throws: the exception comes
// through, and the new segment and its name are gone.
TEST(Stage1Segment, SharedObjectWhoseConstructorThrowsLeavesNothing) {
  struct Refuses {
    Refuses() { throw std::runtime_error("refused"); }
  };
  const std::string name = kata::UniqueName("refuses");
  try {
    (void)SharedObject<Refuses>::Create(name);
    ADD_FAILURE() << "a constructor that throws went unnoticed";
  } catch (const std::runtime_error& e) {
    EXPECT_STREQ(e.what(), "refused");
  } catch (const std::exception& e) {
    ADD_FAILURE() << "expected the constructor's exception, got: " << e.what();
  }
  EXPECT_FALSE(NameExists(name)) << Hint(kOwnerUnlinks);
  EXPECT_EQ(MapsLineOf(name), "");
}

// Tests SharedObject's move assignment (the old T destroyed, its segment
// gone) and self-move assignment (nothing changes).
TEST(Stage1Segment, SharedObjectMoveAssignment) {
  Tracked::constructed = Tracked::destroyed = 0;
  const std::string first = kata::UniqueName("object-first");
  const std::string second = kata::UniqueName("object-second");
  auto target = SharedObject<Tracked>::Create(first, 1);
  auto source = SharedObject<Tracked>::Create(second, 2);
  target = std::move(source);
  EXPECT_EQ(Tracked::destroyed, 1) << "the replaced T was not destroyed";
  EXPECT_FALSE(NameExists(first)) << "the replaced segment kept its name";
  ASSERT_NE(target.get(), nullptr);
  EXPECT_EQ(target->value, 2);
  EXPECT_EQ(source.get(), nullptr);
  source.Reset();
  EXPECT_EQ(Tracked::destroyed, 1)
      << "the moved-from SharedObject destroyed the T it handed over";
  EXPECT_TRUE(NameExists(second));
  auto& same = target;
  target = std::move(same);
  ASSERT_NE(target.get(), nullptr) << "self-move assignment emptied it";
  EXPECT_EQ(target->value, 2);
  EXPECT_EQ(Tracked::destroyed, 1);
  target.Reset();
  EXPECT_EQ(Tracked::destroyed, 2);
  EXPECT_FALSE(NameExists(second));
}

// =========================================================== Stage 2

// Tests the semaphore's largest value: SEM_VALUE_MAX tokens work, one more
// is refused by sem_init and reported.
TEST(Stage2Semaphore, ValuesUpToSemValueMax) {
  {
    TestShared<SharedSemaphore> most(static_cast<unsigned>(SEM_VALUE_MAX));
    EXPECT_EQ(ValueOf(*most), SEM_VALUE_MAX);
  }
  ExpectSystemError(
      [] {
        TestShared<SharedSemaphore> too_many(
            static_cast<unsigned>(SEM_VALUE_MAX) + 1u);
      },
      std::errc::invalid_argument, "sem_init",
      Hint("check sem_init's result: it refuses a value above SEM_VALUE_MAX "
           "with EINVAL; throw std::system_error naming sem_init"));
}

// Tests Post at the semaphore's limit: at SEM_VALUE_MAX, sem_post fails
// with EOVERFLOW, which Post reports; below it, Post works.
TEST(Stage2Semaphore, PostAtSemValueMaxReportsTheOverflow) {
  TestShared<SharedSemaphore> semaphore(static_cast<unsigned>(SEM_VALUE_MAX) -
                                        1u);
  semaphore->Post();
  EXPECT_EQ(ValueOf(*semaphore), SEM_VALUE_MAX);
  ExpectSystemError([&] { semaphore->Post(); }, std::errc::value_too_large,
                    "sem_post",
                    Hint("check sem_post's result: at SEM_VALUE_MAX it fails "
                         "with EOVERFLOW; throw std::system_error naming "
                         "sem_post"));
  EXPECT_EQ(ValueOf(*semaphore), SEM_VALUE_MAX);
  EXPECT_TRUE(semaphore->WaitFor(0ms));
  semaphore->Post();
  EXPECT_EQ(ValueOf(*semaphore), SEM_VALUE_MAX);
}

// Tests each semaphore call failing in turn: sem_init, sem_post,
// sem_timedwait and sem_trywait are each reported as std::system_error. The
// last wait finds no token, so that it must sleep whatever the fast path.
TEST(Stage2Semaphore, EachFailedSemaphoreCallIsReported) {
  ForEachFailingCall(
      {{"sem_init", ENOSYS},
       {"sem_post", EINVAL},
       {"sem_timedwait", EINVAL},
       {"sem_trywait", EINVAL}},
      [](const kata::FaultCase* fault) {
        auto use = [] {
          TestShared<SharedSemaphore> semaphore(0);
          semaphore->Post();
          EXPECT_TRUE(semaphore->WaitFor(1s));
          semaphore->Post();
          EXPECT_TRUE(semaphore->WaitFor(0ms));
          EXPECT_FALSE(semaphore->WaitFor(1ms));
        };
        if (fault == nullptr) return use();
        kata::ExpectReportedOrRecovered(
            *fault, use, false,
            "every sem_* call can fail: check its result and throw "
            "std::system_error naming the call (ETIMEDOUT and EAGAIN are "
            "the only failures that mean \"no token\")");
      });
}

// Tests that destroying a SharedSemaphore destroys its sem_t.
TEST(Stage2Semaphore, DestructorCallsSemDestroy) {
  std::optional<TestShared<SharedSemaphore>> semaphore;
  semaphore.emplace(1);
  kata::CallCounter calls;
  semaphore.reset();
  EXPECT_EQ(calls.Count({"sem_destroy"}), 1)
      << Hint("~SharedSemaphore() calls sem_destroy(&sem_)");
}

// Tests which call each timeout uses: 0 or less only tries (sem_trywait),
// anything longer, even 1 ms, waits (sem_timedwait).
TEST(Stage2Semaphore, ZeroOnlyTriesAndOneMillisecondWaits) {
  TestShared<SharedSemaphore> semaphore(0);
  for (auto timeout : {0ms, -1ms}) {
    kata::CallCounter calls;
    EXPECT_FALSE(semaphore->WaitFor(timeout));
    EXPECT_GE(calls.Count({"sem_trywait"}), 1)
        << "WaitFor(" << timeout.count() << "ms) did not try"
        << Hint("a timeout of zero or less only tries: sem_trywait");
    EXPECT_EQ(calls.Count({"sem_timedwait", "sem_wait", "sem_clockwait"}), 0)
        << "WaitFor(" << timeout.count() << "ms) waited"
        << Hint("a timeout of zero or less only tries: sem_trywait");
  }
  kata::CallCounter calls;
  EXPECT_FALSE(semaphore->WaitFor(1ms));
  EXPECT_GE(calls.Count({"sem_timedwait"}), 1)
      << "WaitFor(1ms) did not wait"
      << Hint("any timeout above zero is a wait: sem_timedwait");
}

// Tests that WaitFor retries each call a signal handler interrupts
// (sem_timedwait and sem_trywait), with the same outcome.
TEST(Stage2Semaphore, InterruptedCallsAreRetried) {
  const std::string hint = Hint(
      "EINTR only means a signal handler ran: call sem_timedwait (or "
      "sem_trywait) again, with the same deadline");
  TestShared<SharedSemaphore> semaphore(2);
  auto eintr = kata::InjectedFault::InterruptEach(
      {"sem_wait", "sem_timedwait", "sem_clockwait", "sem_trywait"});
  try {
    EXPECT_TRUE(semaphore->WaitFor(1s)) << hint;
    EXPECT_TRUE(semaphore->WaitFor(0ms)) << hint;
    Clock::duration elapsed{};
    bool taken = true;
    elapsed = TimeOf([&] { taken = semaphore->WaitFor(100ms); });
    EXPECT_FALSE(taken);
    ExpectOnTime(elapsed, 100ms, "WaitFor(100ms), interrupted once", hint);
  } catch (const std::system_error& e) {
    ADD_FAILURE() << "WaitFor threw " << e.what() << hint;
  }
  EXPECT_GE(eintr.fired(), 2);
}

// Tests timeouts of 999 and 1000 ms (each in its own process, at the same
// time): WaitFor ends neither early nor late, so the milliseconds are split
// into seconds and nanoseconds right.
TEST(Stage2Semaphore, TimeoutsAroundOneSecondEndOnTime) {
  kata::OnDeadlock("a wait of about one second did not end", 10s);
  struct Outcome {
    std::atomic<long long> elapsed_us{-1};
    std::atomic<int> taken{-1};
  };
  const std::vector<std::chrono::milliseconds> timeouts = {999ms, 1000ms};
  TestShared<Outcome> outcomes[2];
  std::vector<kata::Child> waiters;
  for (std::size_t i = 0; i < timeouts.size(); ++i) {
    waiters.emplace_back([&, i] {
      TestShared<SharedSemaphore> nobody_posts(0);
      bool taken = true;
      const auto elapsed =
          TimeOf([&] { taken = nobody_posts->WaitFor(timeouts[i]); });
      outcomes[i]->taken = taken ? 1 : 0;
      outcomes[i]->elapsed_us =
          std::chrono::duration_cast<std::chrono::microseconds>(elapsed)
              .count();
    });
  }
  for (kata::Child& waiter : waiters) waiter.Join();
  for (std::size_t i = 0; i < timeouts.size(); ++i) {
    if (outcomes[i]->elapsed_us < 0) continue;  // the child said why
    EXPECT_EQ(outcomes[i]->taken, 0);
    ExpectOnTime(std::chrono::microseconds(outcomes[i]->elapsed_us.load()),
                 timeouts[i],
                 "WaitFor(" + std::to_string(timeouts[i].count()) + "ms)",
                 Hint("seconds = ms / 1000, nanoseconds = (ms % 1000) * "
                      "1000000, added to clock_gettime(CLOCK_REALTIME), "
                      "then the carry"));
  }
}

// Tests a deadline that must carry into the next second: WaitFor(50ms)
// started 5 ms before a whole second.
TEST(Stage2Semaphore, DeadlineCarriesIntoTheNextSecond) {
  TestShared<SharedSemaphore> semaphore(0);
  kata::SleepUntilBeforeSecondBoundary(5ms);
  bool taken = true;
  Clock::duration elapsed{};
  try {
    elapsed = TimeOf([&] { taken = semaphore->WaitFor(50ms); });
  } catch (const std::system_error& e) {
    FAIL() << "WaitFor(50ms) just before a whole second threw " << e.what()
           << Hint(kCarry);
  }
  EXPECT_FALSE(taken);
  ExpectOnTime(elapsed, 50ms, "WaitFor(50ms) across a second boundary",
               Hint(kCarry));
}

// Tests deadlines that land exactly on the edge of a second (the clock
// read at .999000000 and at .998999999, plus 1 ms): no EINVAL.
TEST(Stage2Semaphore, DeadlineExactlyOnASecondIsValid) {
  TestShared<SharedSemaphore> semaphore(0);
  for (long nanoseconds : {999000000L, 998999999L}) {
    try {
      FrozenRealtime frozen(nanoseconds);
      EXPECT_FALSE(semaphore->WaitFor(1ms));
    } catch (const std::system_error& e) {
      ADD_FAILURE() << "with the clock at ." << nanoseconds
                    << " s, WaitFor(1ms) threw " << e.what()
                    << Hint(
                           "carry when tv_nsec >= 1000000000 (not >), by "
                           "subtracting exactly 1000000000: a deadline of "
                           "exactly 1000000000 ns, or of -1 ns, is EINVAL");
    }
  }
}

// Tests WaitFor's deadline while signals keep arriving every 2 ms.
TEST(Stage2Semaphore, DeadlineHoldsUnderASignalStorm) {
  TestShared<SharedSemaphore> semaphore(0);
  ExpectTimeoutUnderASignalStorm(200ms, "WaitFor(200ms)",
                                 [&] { return !semaphore->WaitFor(200ms); });
}

// Tests that WaitFor sleeps in the kernel while it waits: it uses no CPU
// and does not wake up to poll.
TEST(Stage2Semaphore, WaitForSleepsWhileItWaits) {
  kata::OnDeadlock(kPshared);
  TestShared<SharedSemaphore> semaphore(0);
  kata::Child poster([&] {
    kata::ExpectNoBusyWaiting(
        kata::RunnerPid(), "WaitFor(5s) on a semaphore without a token",
        Hint("one sem_timedwait sleeps until a post or the deadline; a loop "
             "of sem_trywait and sleeps burns CPU and wakes up for nothing"));
    sem_post(semaphore->native());
  });
  EXPECT_TRUE(semaphore->WaitFor(2s))
      << "another process's post did not wake WaitFor" << Hint(kPshared);
  poster.Join();
}

// Tests that Post and WaitFor leave the caller's signals as they found
// them: a blocked, pending signal stays pending, a handler stays installed.
TEST(Stage2Semaphore, CallersSignalsAreLeftAlone) {
  TestShared<SharedSemaphore> semaphore(0);
  kata::CallerSignal pending = kata::CallerSignal::BlockedAndPending(SIGUSR2);
  kata::CallerSignal handled = kata::CallerSignal::Handled(SIGUSR1);
  kata::ExpectSignalStateKept kept("Post and WaitFor");
  semaphore->Post();
  EXPECT_TRUE(semaphore->WaitFor(100ms));
  EXPECT_FALSE(semaphore->WaitFor(0ms));
  EXPECT_FALSE(semaphore->WaitFor(20ms));
}

// =========================================================== Stage 3

// Tests the smallest count: AddUnderLock(0) adds nothing, waits for
// nothing, and says it is done.
TEST(Stage3Counter, AddingZeroTimesTouchesNothing) {
  TestShared<SharedCounter> counter;
  kata::CallCounter calls;
  EXPECT_TRUE(kata::shm::AddUnderLock(*counter, 0, 1s))
      << Hint("0 increments are done at once: return true");
  EXPECT_EQ(counter->value, 0);
  EXPECT_EQ(ValueOf(counter->lock), 1);
  EXPECT_EQ(
      calls.Count({"sem_wait", "sem_timedwait", "sem_trywait", "sem_post"}), 0)
      << "AddUnderLock(0) took the lock";
}

// Tests each semaphore call of AddUnderLock failing in turn: reported as
// std::system_error.
TEST(Stage3Counter, AddUnderLockReportsEachFailedCall) {
  ForEachFailingCall(
      {{"sem_trywait", EINVAL},
       {"sem_timedwait", EINVAL},
       {"sem_post", EINVAL}},
      [](const kata::FaultCase* fault) {
        TestShared<SharedCounter> counter;
        auto add = [&] { (void)kata::shm::AddUnderLock(*counter, 3, 1s); };
        if (fault == nullptr) return add();
        kata::ExpectReportedOrRecovered(
            *fault, add, false,
            "a failed semaphore call is an error (SharedSemaphore throws it): "
            "let it through");
      },
      3);
}

// Tests that AddUnderLock's waits carry on after EINTR: the total is exact.
TEST(Stage3Counter, AddUnderLockRetriesInterruptedWaits) {
  TestShared<SharedCounter> counter;
  auto eintr = kata::InjectedFault::InterruptEach(kWaitsAndTries);
  EXPECT_TRUE(kata::shm::AddUnderLock(*counter, 500, 1s))
      << Hint("EINTR: wait again with the same deadline");
  EXPECT_EQ(counter->value, 500);
  EXPECT_EQ(ValueOf(counter->lock), 1);
}

// Tests AddUnderLock's timeout on a lock that nobody will release, while
// signals keep arriving: false, on time.
TEST(Stage3Counter, LockTimeoutHoldsUnderASignalStorm) {
  TestShared<SharedCounter> counter;
  kata::RunInChild([&] { sem_wait(counter->lock.native()); });  // dies with it
  ExpectTimeoutUnderASignalStorm(200ms, "AddUnderLock(10, 200ms)", [&] {
    return !kata::shm::AddUnderLock(*counter, 10, 200ms);
  });
  EXPECT_EQ(counter->value, 0);
}

// Tests that AddUnderLock sleeps while another process holds the lock.
TEST(Stage3Counter, AddUnderLockSleepsWhileTheLockIsTaken) {
  kata::OnDeadlock(kPshared);
  TestShared<SharedCounter> counter;
  ASSERT_EQ(sem_wait(counter->lock.native()), 0);
  kata::Child holder([&] {
    kata::ExpectNoBusyWaiting(
        kata::RunnerPid(), "AddUnderLock on a lock another process holds",
        Hint("lock.WaitFor(timeout) sleeps in sem_timedwait; do not poll"));
    sem_post(counter->lock.native());
  });
  EXPECT_TRUE(kata::shm::AddUnderLock(*counter, 1, 2s))
      << "the lock another process posted did not wake AddUnderLock"
      << Hint(kPshared);
  holder.Join();
  EXPECT_EQ(counter->value, 1);
}

// Tests the smallest arguments CountWithProcesses takes: one process, and
// zero increments.
TEST(Stage3Counter, CountWithProcessesAtItsSmallestArguments) {
  kata::OnDeadlock("CountWithProcesses did not end", 10s);
  InAChild([&] {
    kata::CallCounter calls;
    EXPECT_EQ(kata::shm::CountWithProcesses(kata::UniqueName("one"), 1, 7), 7)
        << Hint("one process is enough: processes >= 1 is the rule");
    EXPECT_EQ(calls.Count({"fork"}), 1);
    EXPECT_EQ(kata::shm::CountWithProcesses(kata::UniqueName("none"), 3, 0), 0)
        << Hint("times_each = 0 is allowed: each child adds nothing");
  });
}

// Tests each call of CountWithProcesses failing in turn (creating the
// segment, fork, waitpid): std::system_error, and no child, mapping or name
// left.
TEST(Stage3Counter, CountWithProcessesReportsEachFailedCall) {
  kata::OnDeadlock("a failed call in CountWithProcesses left it waiting", 10s);
  const std::string hint =
      "when a call fails after some children started, kill and reap them "
      "all before throwing; the segment goes away with its SharedObject";
  ForEachFailingCall(
      {{"shm_open", EMFILE},
       {"ftruncate", ENOSPC},
       {"mmap", ENOMEM},
       {"sem_init", ENOSYS},
       {"fork", EAGAIN},
       {"waitpid", ECHILD}},
      [&](const kata::FaultCase* fault) {
        const std::string name = kata::UniqueName("count-fails");
        InAChild([&] {
          kata::ResourceSnapshot before;
          auto count = [&] {
            EXPECT_EQ(kata::shm::CountWithProcesses(name, 3, 100), 300);
          };
          if (fault == nullptr) return count();
          kata::ExpectReportedOrRecovered(*fault, count, false, hint);
          EXPECT_EQ(before.Leaks(), "") << "after " << fault->ToString();
        });
        EXPECT_FALSE(NameExists(name));
      });
}

// Tests that a counting process that fails is named, with its pid and
// "threw", and that the others are reaped.
TEST(Stage3Counter, CountWithProcessesNamesTheChildThatFailed) {
  kata::OnDeadlock("CountWithProcesses did not end after a child failed", 10s);
  const std::string name = kata::UniqueName("count-child-fails");
  kata::SharedText what;
  InAChild([&] {
    // The first lock wait of any counting process fails, whether it tries
    // first or waits at once: that child throws.
    auto fault = kata::InjectedFault::Fail(
        {"sem_trywait", "sem_timedwait", "sem_wait"}, EINVAL, 1, 1);
    fault.ExceptIn(getpid());
    try {
      (void)kata::shm::CountWithProcesses(name, 3, 100);
      what.Store("(returned normally)");
    } catch (const std::runtime_error& e) {
      what.Store(e.what());
    }
  });
  const std::string text = what.Load();
  EXPECT_EQ(text.rfind("CountWithProcesses failed: counting process ", 0), 0u)
      << "what(): " << text
      << Hint(
             "std::runtime_error(\"CountWithProcesses failed: counting "
             "process 2 (pid 4244) ended with exit code 1 (it threw)\")",
             README "#stage-6-when-a-peer-dies");
  EXPECT_NE(text.find("(pid "), std::string::npos) << "what(): " << text;
  EXPECT_NE(text.find("threw"), std::string::npos)
      << "what(): " << text
      << Hint("a child whose AddUnderLock threw says \"threw\"");
  EXPECT_EQ(text.find("timed out"), std::string::npos) << "what(): " << text;
  EXPECT_FALSE(NameExists(name)) << Hint(kOwnerUnlinks);
}

// Tests that CountWithProcesses retries waits interrupted by signals, and
// leaves the caller's signals as it found them (a SIGCHLD handler without
// SA_RESTART interrupts waitpid for real each time a child ends).
TEST(Stage3Counter, CountWithProcessesCarriesOnThroughSignals) {
  kata::OnDeadlock("CountWithProcesses did not end", 10s);
  InAChild([&] {
    kata::CallerSignal pending = kata::CallerSignal::BlockedAndPending(SIGUSR2);
    kata::CallerSignal children = kata::CallerSignal::Handled(SIGCHLD);
    {
      kata::ExpectSignalStateKept kept("CountWithProcesses");
      EXPECT_EQ(
          kata::shm::CountWithProcesses(kata::UniqueName("sigchld"), 3, 200),
          600)
          << Hint(
                 "waitpid fails with EINTR when a handler runs: call it "
                 "again");
    }
    auto eintr = kata::InjectedFault::InterruptEach(kata::kBlockingCalls);
    EXPECT_EQ(kata::shm::CountWithProcesses(kata::UniqueName("eintr"), 2, 200),
              400)
        << Hint("every wait (waitpid, sem_timedwait) is retried after EINTR");
  });
}

// Tests that AddUnderLock leaves the caller's signals as it found them.
TEST(Stage3Counter, AddUnderLockLeavesTheCallersSignalsAlone) {
  TestShared<SharedCounter> counter;
  kata::CallerSignal pending = kata::CallerSignal::BlockedAndPending(SIGUSR2);
  kata::CallerSignal handled = kata::CallerSignal::Handled(SIGUSR1);
  kata::ExpectSignalStateKept kept("AddUnderLock");
  EXPECT_TRUE(kata::shm::AddUnderLock(*counter, 100, 100ms));
  EXPECT_EQ(counter->value, 100);
}

// The pids of `parent`'s children, from /proc/<parent>/task/<parent>/children.
std::vector<pid_t> ChildrenOf(pid_t parent) {
  kata::NotCounted quiet;
  std::ifstream file("/proc/" + std::to_string(parent) + "/task/" +
                     std::to_string(parent) + "/children");
  std::vector<pid_t> children;
  pid_t pid = 0;
  while (file >> pid) children.push_back(pid);
  return children;
}

// Tests that the caller of CountWithProcesses sleeps while its children
// count, and that a counting process killed by a signal is named with it.
TEST(Stage3Counter, CountWithProcessesSleepsAndNamesAKilledChild) {
  kata::OnDeadlock("CountWithProcesses did not end after its child was killed",
                   10s);
  const std::string name = kata::UniqueName("count-killed");
  kata::SharedText what;
  kata::Child caller([&] {
    try {
      // More increments than the test lets it make: it is killed first.
      (void)kata::shm::CountWithProcesses(name, 1, 1000000000);
      what.Store("(returned normally)");
    } catch (const std::runtime_error& e) {
      what.Store(e.what());
    }
  });
  pid_t counting = 0;
  const auto until = Clock::now() + 2s;
  while (counting == 0 && Clock::now() < until &&
         kata::ProcessState(caller.pid()) != 'Z') {
    for (pid_t pid : ChildrenOf(caller.pid())) counting = pid;
    if (counting == 0) std::this_thread::sleep_for(1ms);
  }
  if (counting == 0) {
    if (kata::ProcessState(caller.pid()) == 'Z') {
      caller.Join();  // it ended on its own: it says why
    } else {
      ADD_FAILURE() << "CountWithProcesses has counted for 2 s without a "
                    << "child process"
                    << Hint(
                           "this kata asks for processes, not threads: "
                           "fork() the counting children");
    }
    return;  // ~Child stops a caller that is still counting
  }
  kill(counting, SIGSTOP);  // it counts no more; the caller waits on
  kata::ExpectNoBusyWaiting(
      caller.pid(), "CountWithProcesses while its child counts",
      Hint("waitpid(pid, &status, 0) sleeps until the child ends; a loop "
           "of WNOHANG and sleeps wakes up for nothing"));
  kill(counting, SIGKILL);
  caller.Join();
  const std::string killed = "counting process 0 (pid " +
                             std::to_string(counting) +
                             ") was killed by signal 9";
  EXPECT_NE(what.Load().find(killed), std::string::npos)
      << "expected \"" << killed << "\", what(): " << what.Load()
      << Hint(
             "name each failed child with its role, its pid and how it "
             "ended (WIFSIGNALED: \"was killed by signal N\")",
             README "#stage-6-when-a-peer-dies");
  EXPECT_FALSE(NameExists(name)) << Hint(kOwnerUnlinks);
}

// Tests that the counting processes share nothing but the segment.
TEST(Stage3Counter, CountWithProcessesUsesOnlySharedMemory) {
  kata::OnDeadlock("CountWithProcesses did not end", 10s);
  kata::CallCounter calls;
  kata::MechanismWatch watch;
  InAChild([&] {
    EXPECT_EQ(
        kata::shm::CountWithProcesses(kata::UniqueName("only-shm"), 2, 1000),
        2000);
  });
  kata::ExpectOnlyMechanism(watch, {"shm"}, "shared memory");
  EXPECT_EQ(OtherMechanismCalls(calls), "") << Hint(kOnlySharedMemory);
}

// Tests the SharedCounter's layout from a peer that knows only the README:
// it maps the segment itself and uses the lock and the value at their
// documented offsets (README: "On the wire").
TEST(Stage3Counter, RawPeerUsesTheDocumentedLayout) {
  static_assert(sizeof(sem_t) == 32,
                "the README's offsets are for 64-bit glibc");
  constexpr std::size_t kLockAt = 0, kValueAt = 32, kSize = 40;
  const std::string name = kata::UniqueName("wire-counter");
  auto counter = SharedObject<SharedCounter>::Create(name);
  ASSERT_TRUE(kata::shm::AddUnderLock(*counter, 5, 1s));
  kata::SharedText seen;
  kata::RunInChild([&] {  // the raw peer: no kata::shm type from here on
    int fd = shm_open(name.c_str(), O_RDWR, 0);
    ASSERT_GE(fd, 0) << std::strerror(errno);
    struct stat info{};
    ASSERT_EQ(fstat(fd, &info), 0);
    EXPECT_EQ(info.st_size, static_cast<off_t>(kSize));
    void* mapped =
        mmap(nullptr, kSize, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    close(fd);
    ASSERT_NE(mapped, MAP_FAILED);
    char* base = static_cast<char*>(mapped);
    sem_t* lock = reinterpret_cast<sem_t*>(base + kLockAt);
    ASSERT_EQ(sem_trywait(lock), 0) << "the lock at offset 0 was not free";
    std::int64_t value = 0;
    std::memcpy(&value, base + kValueAt, sizeof(value));
    seen.Store(std::to_string(value));
    value += 100;
    std::memcpy(base + kValueAt, &value, sizeof(value));
    sem_post(lock);
    munmap(mapped, kSize);
  });
  EXPECT_EQ(seen.Load(), "5")
      << "the value at offset 32, as the raw peer read it";
  EXPECT_EQ(counter->value, 105) << "the raw peer's write at offset 32";
  EXPECT_TRUE(kata::shm::AddUnderLock(*counter, 1, 1s))
      << "the lock the raw peer posted at offset 0";
  EXPECT_EQ(counter->value, 106);
}

// =========================================================== Stage 4

// Tests a timeout of zero: Push into a full ring and Pop from an empty one
// give up at once; a Pop(0) finds a message that is there.
TEST(Stage4RingBuffer, ZeroTimeoutOnlyTries) {
  TestShared<RingBuffer> ring;
  EXPECT_FALSE(ring->Pop(0ms).has_value());
  PushRange(*ring, 0, RingBuffer::kCapacity);
  EXPECT_FALSE(ring->Push(MakeMessage(0, 99), 0ms))
      << Hint("Push(message, 0ms) only tries: the ring is full");
  std::optional<Message> first = ring->Pop(0ms);
  ASSERT_TRUE(first.has_value())
      << Hint("Pop(0ms) takes a message that is already there");
  EXPECT_EQ(first->sequence, 0);
  EXPECT_EQ(ValueOf(ring->mutex), 1);
  ExpectPops(*ring, 1, RingBuffer::kCapacity - 1);
}

// Tests that messages between two processes move only through the ring in
// shared memory: no other channel, no descriptor, no named semaphore.
TEST(Stage4RingBuffer, MessagesMoveOnlyThroughTheRing) {
  kata::OnDeadlock("the producer or the consumer is stuck", 10s);
  TestShared<RingBuffer> ring;
  kata::CallCounter calls;
  kata::MechanismWatch watch;
  kata::Child producer([&] { PushRange(*ring, 0, 40); });
  ExpectPops(*ring, 0, 40);
  producer.Join();
  kata::ExpectOnlyMechanism(watch, {"shm"}, "shared memory");
  EXPECT_EQ(OtherMechanismCalls(calls), "") << Hint(kOnlySharedMemory);
  kata::ExpectUsed(calls, {"sem_post"}, 80,
                   "the ring's own semaphores (empty_slots, full_slots, "
                   "mutex)");
}

// Tests each semaphore call of Push and Pop failing in turn: reported as
// std::system_error.
TEST(Stage4RingBuffer, PushAndPopReportEachFailedCall) {
  ForEachFailingCall(
      {{"sem_trywait", EINVAL},
       {"sem_timedwait", EINVAL},
       {"sem_post", EINVAL}},
      [](const kata::FaultCase* fault) {
        TestShared<RingBuffer> ring;
        auto round_trip = [&] {
          EXPECT_TRUE(ring->Push(MakeMessage(0, 0), 1s));
          EXPECT_TRUE(ring->Pop(1s).has_value());
        };
        if (fault == nullptr) return round_trip();
        kata::ExpectReportedOrRecovered(
            *fault, round_trip, false,
            "a failed semaphore call is an error (SharedSemaphore throws "
            "it): let it through");
      });
}

// Tests that Push and Pop carry on when each of their waits is interrupted
// by a signal handler: everything arrives, in order.
TEST(Stage4RingBuffer, InterruptedWaitsAreRetried) {
  kata::OnDeadlock("the producer or the consumer is stuck", 10s);
  TestShared<RingBuffer> ring;
  auto eintr = kata::InjectedFault::InterruptEach(kWaitsAndTries);
  kata::Child producer([&] { PushRange(*ring, 0, 100); });
  ExpectPops(*ring, 0, 100);
  producer.Join();
  EXPECT_GE(eintr.fired(), 100);
}

// Tests Push's and Pop's timeouts while signals keep arriving: a full ring
// and an empty ring each give up on time.
TEST(Stage4RingBuffer, TimeoutsHoldUnderASignalStorm) {
  TestShared<RingBuffer> ring;
  ExpectTimeoutUnderASignalStorm(150ms, "Pop(150ms) on an empty ring",
                                 [&] { return !ring->Pop(150ms).has_value(); });
  PushRange(*ring, 0, RingBuffer::kCapacity);
  ExpectTimeoutUnderASignalStorm(150ms, "Push(150ms) into a full ring", [&] {
    return !ring->Push(MakeMessage(0, 99), 150ms);
  });
  EXPECT_EQ(ValueOf(ring->mutex), 1);
}

// Tests that Pop sleeps while the ring is empty and Push while it is full.
TEST(Stage4RingBuffer, BlockedPushAndPopSleep) {
  const std::string hint = Hint(
      "the semaphore waits sleep in the kernel until a post: no loop "
      "of tries and sleeps");
  kata::OnDeadlock(std::string(kMutexFirst) + "; or: " + kPshared);
  TestShared<RingBuffer> ring;
  {
    kata::Child producer([&] {
      kata::ExpectNoBusyWaiting(kata::RunnerPid(), "Pop(2s) on an empty ring",
                                hint);
      ASSERT_TRUE(ring->Push(MakeMessage(0, 0), 1s));
    });
    std::optional<Message> message = ring->Pop(2s);
    EXPECT_TRUE(message.has_value())
        << "another process's Push did not wake Pop" << Hint(kPshared);
    producer.Join();
  }
  PushRange(*ring, 1, 1 + RingBuffer::kCapacity);
  kata::Child consumer([&] {
    kata::ExpectNoBusyWaiting(kata::RunnerPid(), "Push(2s) into a full ring",
                              hint);
    ASSERT_TRUE(ring->Pop(1s).has_value())
        << "a Pop while another process waits in Push found no way in"
        << Hint(kMutexFirst);
  });
  EXPECT_TRUE(ring->Push(MakeMessage(0, 99), 2s))
      << "another process's Pop did not wake Push" << Hint(kPshared);
  consumer.Join();
}

// Tests that Push and Pop leave the caller's signals as they found them.
TEST(Stage4RingBuffer, CallersSignalsAreLeftAlone) {
  TestShared<RingBuffer> ring;
  kata::CallerSignal pending = kata::CallerSignal::BlockedAndPending(SIGUSR2);
  kata::CallerSignal handled = kata::CallerSignal::Handled(SIGUSR1);
  kata::ExpectSignalStateKept kept("Push and Pop");
  EXPECT_TRUE(ring->Push(MakeMessage(0, 0), 100ms));
  EXPECT_TRUE(ring->Pop(100ms).has_value());
  EXPECT_FALSE(ring->Pop(20ms).has_value());
}

// Offsets from the README's "On the wire" (64-bit glibc: a sem_t is 32
// bytes): the raw peer below uses these numbers, never the kata's types.
namespace wire {
constexpr std::size_t kEmptySlots = 0, kFullSlots = 32, kMutex = 64;
constexpr std::size_t kNextWrite = 96, kNextRead = 100;
constexpr std::size_t kSlots = 4096, kSlotSize = 64, kSlotCount = 8;
constexpr std::size_t kRingSize = 8192;
constexpr std::size_t kProducer = 0, kSequence = 4, kText = 8, kTextSize = 56;
}  // namespace wire

// Tests the ring's layout from a peer that knows only the README: it maps
// the segment with its own shm_open and mmap, takes the message the kata
// pushed and pushes one of its own, with glibc's sem_* on the semaphores at
// their documented offsets (README: "On the wire").
TEST(Stage4RingBuffer, RawPeerReadsAndWritesTheDocumentedLayout) {
  static_assert(sizeof(sem_t) == 32,
                "the README's offsets are for 64-bit glibc");
  const std::string name = kata::UniqueName("wire-ring");
  auto ring = SharedObject<RingBuffer>::Create(name);
  ASSERT_TRUE(ring->Push(MakeMessage(4, 2), 1s));
  kata::SharedText seen;
  kata::RunInChild([&] {  // the raw peer: no kata::shm type from here on
    int fd = shm_open(name.c_str(), O_RDWR, 0);
    ASSERT_GE(fd, 0) << std::strerror(errno);
    struct stat info{};
    ASSERT_EQ(fstat(fd, &info), 0);
    EXPECT_EQ(info.st_size, static_cast<off_t>(wire::kRingSize));
    void* mapped = mmap(nullptr, wire::kRingSize, PROT_READ | PROT_WRITE,
                        MAP_SHARED, fd, 0);
    close(fd);
    ASSERT_NE(mapped, MAP_FAILED);
    char* base = static_cast<char*>(mapped);
    auto semaphore = [&](std::size_t at) {
      return reinterpret_cast<sem_t*>(base + at);
    };
    auto index = [&](std::size_t at) {
      std::uint32_t value = 0;
      std::memcpy(&value, base + at, sizeof(value));
      return value;
    };
    int empty = -1, full = -1, mutex = -1;
    sem_getvalue(semaphore(wire::kEmptySlots), &empty);
    sem_getvalue(semaphore(wire::kFullSlots), &full);
    sem_getvalue(semaphore(wire::kMutex), &mutex);
    EXPECT_EQ(empty, 7);
    EXPECT_EQ(full, 1);
    EXPECT_EQ(mutex, 1);
    EXPECT_EQ(index(wire::kNextWrite), 1u);
    EXPECT_EQ(index(wire::kNextRead), 0u);
    // Take the message out, the way Pop does.
    ASSERT_EQ(sem_trywait(semaphore(wire::kFullSlots)), 0);
    ASSERT_EQ(sem_trywait(semaphore(wire::kMutex)), 0);
    std::uint32_t read_at = index(wire::kNextRead);
    const char* slot = base + wire::kSlots + wire::kSlotSize * read_at;
    std::int32_t producer = 0, sequence = 0;
    std::memcpy(&producer, slot + wire::kProducer, sizeof(producer));
    std::memcpy(&sequence, slot + wire::kSequence, sizeof(sequence));
    seen.Store(std::to_string(producer) + " " + std::to_string(sequence) + " " +
               std::string(slot + wire::kText,
                           strnlen(slot + wire::kText, wire::kTextSize)));
    read_at = (read_at + 1) % wire::kSlotCount;
    std::memcpy(base + wire::kNextRead, &read_at, sizeof(read_at));
    sem_post(semaphore(wire::kMutex));
    sem_post(semaphore(wire::kEmptySlots));
    // Put one in, the way Push does.
    ASSERT_EQ(sem_trywait(semaphore(wire::kEmptySlots)), 0);
    ASSERT_EQ(sem_trywait(semaphore(wire::kMutex)), 0);
    std::uint32_t write_at = index(wire::kNextWrite);
    char* free_slot = base + wire::kSlots + wire::kSlotSize * write_at;
    const std::int32_t raw_producer = 77, raw_sequence = 9;
    std::memcpy(free_slot + wire::kProducer, &raw_producer, 4);
    std::memcpy(free_slot + wire::kSequence, &raw_sequence, 4);
    std::memset(free_slot + wire::kText, 0, wire::kTextSize);
    std::strcpy(free_slot + wire::kText, "from a raw peer");
    write_at = (write_at + 1) % wire::kSlotCount;
    std::memcpy(base + wire::kNextWrite, &write_at, sizeof(write_at));
    sem_post(semaphore(wire::kMutex));
    sem_post(semaphore(wire::kFullSlots));
    munmap(mapped, wire::kRingSize);
  });
  EXPECT_EQ(seen.Load(), "4 2 producer 4 message 2")
      << "what the raw peer read at the documented offsets";
  std::optional<Message> message = ring->Pop(1s);
  ASSERT_TRUE(message.has_value())
      << "Pop did not see the message the raw peer pushed";
  EXPECT_EQ(message->producer, 77);
  EXPECT_EQ(message->sequence, 9);
  EXPECT_EQ(TextOf(*message), "from a raw peer");
  EXPECT_EQ(ValueOf(ring->empty_slots),
            static_cast<int>(RingBuffer::kCapacity));
}

// =========================================================== Stage 5

// A consume that does nothing.
void Ignore(int, const Message&) {}

// Tests that RunPipeline pushes exactly one end-of-stream marker per
// consumer: with the ring full to its last slot, one marker more would wait
// for room that a sleeping consumer does not make.
TEST(Stage5ManyToMany, ExactlyOneMarkerPerConsumer) {
  kata::OnDeadlock(kPipelineStuck, 10s);
  TestShared<std::atomic<int>> consumed;
  InAChild([&] {
    PipelinePlan plan;
    plan.messages_per_producer = static_cast<int>(RingBuffer::kCapacity);
    plan.timeout = 200ms;
    RunPipeline(kata::UniqueName("markers"), plan,
                [&](int, const Message& message) {
                  if (message.sequence == 0) {
                    // The producer fills the ring meanwhile: 7 messages, and
                    // room for exactly one marker.
                    std::this_thread::sleep_for(600ms);
                  }
                  ++*consumed;
                });
  });
  EXPECT_EQ(consumed->load(), static_cast<int>(RingBuffer::kCapacity)) << Hint(
      "one end-of-stream marker per consumer, no more: c from 0 to "
      "consumers - 1");
}

// Tests that every consumer works on the named segment, mapped shared:
// /dev/shm/<name> with "rw-s" in its /proc/self/maps.
TEST(Stage5ManyToMany, ConsumersWorkOnTheNamedSegment) {
  kata::OnDeadlock(kPipelineStuck, 10s);
  struct Seen {
    std::atomic<int> checked{0};
    std::atomic<int> mapped_shared{0};
    char example[200] = {};
  };
  TestShared<Seen> seen;
  const std::string name = kata::UniqueName("named");
  InAChild([&] {
    PipelinePlan plan;
    plan.producers = 2;
    plan.consumers = 2;
    plan.messages_per_producer = 10;
    RunPipeline(name, plan, [&](int, const Message&) {
      kata::NotCounted quiet;
      const std::string line = MapsLineOf(name);
      ++seen->checked;
      if (PermissionsOf(line) == "rw-s") {
        ++seen->mapped_shared;
      } else {
        std::snprintf(seen->example, sizeof(seen->example), "%s",
                      line.empty() ? "(not mapped)" : line.c_str());
      }
    });
  });
  EXPECT_EQ(seen->checked.load(), 20);
  EXPECT_EQ(seen->mapped_shared.load(), seen->checked.load())
      << "a consumer's mapping of /dev/shm" << name << ": " << seen->example
      << Hint(
             "create the ring with SharedObject<RingBuffer>::Create(name) "
             "before forking: every child inherits that MAP_SHARED mapping");
}

// Tests that the pipeline's processes share nothing but the segment: no
// pipe, socket or file, no other descriptor kind.
TEST(Stage5ManyToMany, PipelineUsesOnlySharedMemory) {
  kata::OnDeadlock(kPipelineStuck, 10s);
  kata::CallCounter calls;
  kata::MechanismWatch watch;
  InAChild([&] {
    PipelinePlan plan;
    plan.producers = 2;
    plan.consumers = 2;
    plan.messages_per_producer = 200;
    RunPipeline(kata::UniqueName("only-shm"), plan, Ignore);
  });
  kata::ExpectOnlyMechanism(watch, {"shm"}, "shared memory");
  EXPECT_EQ(OtherMechanismCalls(calls), "") << Hint(kOnlySharedMemory);
}

// Tests that RunPipeline retries every wait a signal handler interrupts,
// and leaves the caller's signals as it found them (its SIGCHLD handler
// without SA_RESTART interrupts waitpid for real).
TEST(Stage5ManyToMany, PipelineCarriesOnThroughSignals) {
  kata::OnDeadlock(kPipelineStuck, 10s);
  TestShared<Receipts> receipts;
  InAChild([&] {
    kata::CallerSignal pending = kata::CallerSignal::BlockedAndPending(SIGUSR2);
    kata::CallerSignal children = kata::CallerSignal::Handled(SIGCHLD);
    kata::ExpectSignalStateKept kept("RunPipeline");
    auto eintr = kata::InjectedFault::InterruptEach(kata::kBlockingCalls);
    PipelinePlan plan;
    plan.producers = 2;
    plan.consumers = 2;
    plan.messages_per_producer = 300;
    receipts->caller_pid = getpid();
    RunPipeline(kata::UniqueName("signals"), plan, Recorder(*receipts, 2, 300));
    EXPECT_GE(children.deliveries(), 1);
  });
  if (HasFailure()) return;
  ExpectEachExactlyOnce(*receipts, 2, 300);
}

// Tests each call of RunPipeline's caller failing in turn (creating the
// ring, fork, waitpid): std::system_error, and no child, mapping or name
// left.
TEST(Stage5ManyToMany, EachFailedCallIsReportedAndLeavesNothing) {
  kata::OnDeadlock("a failed call in RunPipeline left it waiting", 10s);
  const std::string hint =
      "when a call fails after some children started, kill and reap them "
      "all before throwing: they would wait for peers that never come";
  ForEachFailingCall(
      {{"shm_open", EMFILE},
       {"ftruncate", ENOSPC},
       {"mmap", ENOMEM},
       {"sem_init", ENOSYS},
       {"fork", EAGAIN},
       {"waitpid", ECHILD}},
      [&](const kata::FaultCase* fault) {
        const std::string name = kata::UniqueName("pipeline-fails");
        InAChild([&] {
          kata::ResourceSnapshot before;
          PipelinePlan plan;
          plan.producers = 2;
          plan.consumers = 2;
          plan.messages_per_producer = 10;
          auto run = [&] { RunPipeline(name, plan, Ignore); };
          if (fault == nullptr) return run();
          kata::ExpectReportedOrRecovered(*fault, run, false, hint);
          EXPECT_EQ(before.Leaks(), "") << "after " << fault->ToString();
        });
        EXPECT_FALSE(NameExists(name));
      });
}

// Tests a semaphore call of the caller failing (its wait to push the
// end-of-stream markers): std::system_error, and every child stopped and
// reaped, even when a signal interrupts the waits of the clean-up.
TEST(Stage5ManyToMany, FailedMarkerPushStopsEveryChild) {
  kata::OnDeadlock("a failed marker push left RunPipeline waiting", 10s);
  const std::string name = kata::UniqueName("marker-fails");
  InAChild([&] {
    kata::ResourceSnapshot before;
    auto fault = kata::InjectedFault::Fail(
        {"sem_wait", "sem_timedwait", "sem_trywait"}, EINVAL, 1, -1);
    fault.OnlyIn(getpid());
    // Cleaning up waits too: each of those waits is interrupted once.
    auto eintr = kata::InjectedFault::InterruptEach(kata::kWaitCalls);
    eintr.OnlyIn(getpid());
    PipelinePlan plan;
    plan.consumers = 2;
    plan.messages_per_producer = 5;
    ExpectSystemError([&] { RunPipeline(name, plan, Ignore); },
                      std::errc::invalid_argument, "sem_",
                      Hint("an exception in the caller after the fork must "
                           "not leave the children waiting: kill and reap "
                           "them (waitpid again after EINTR), then let it "
                           "through"));
    EXPECT_EQ(before.Leaks(), "") << "after the caller's semaphore call failed";
  });
  EXPECT_FALSE(NameExists(name));
}

// Tests that output the caller buffered before RunPipeline is written once,
// even when a consumer writes to the same stream and flushes it.
TEST(Stage5ManyToMany, CallersBufferedOutputIsWrittenOnce) {
  kata::OnDeadlock(kPipelineStuck, 10s);
  FILE* file = std::tmpfile();
  ASSERT_NE(file, nullptr);
  InAChild([&] {
    FILE* out = fdopen(dup(fileno(file)), "w");  // fully buffered
    ASSERT_NE(out, nullptr);
    std::fputs("written by the caller\n", out);  // still in the buffer
    PipelinePlan plan;
    plan.consumers = 2;
    plan.messages_per_producer = 4;
    RunPipeline(kata::UniqueName("stdio"), plan, [&](int, const Message&) {
      std::fputs("consumed\n", out);
      std::fflush(out);
    });
    std::fclose(out);
  });
  std::string text(1 << 16, '\0');
  const ssize_t size = pread(fileno(file), text.data(), text.size(), 0);
  std::fclose(file);
  text.resize(size > 0 ? static_cast<std::size_t>(size) : 0);
  std::size_t copies = 0;
  for (std::size_t at = text.find("written by the caller");
       at != std::string::npos;
       at = text.find("written by the caller", at + 1)) {
    ++copies;
  }
  EXPECT_EQ(copies, 1u)
      << "the caller's buffered line was written " << copies << " times"
      << Hint(
             "fflush(nullptr) before fork(): a child gets a copy of every "
             "stdio buffer, and writes it again when it flushes");
}

// Tests that the caller of RunPipeline sleeps while it waits for its
// children.
TEST(Stage5ManyToMany, CallerSleepsWhileItWaitsForItsChildren) {
  kata::OnDeadlock(kPipelineStuck, 10s);
  TestShared<RawSemaphore> release(0);
  kata::Child caller([&] {
    PipelinePlan plan;
    plan.messages_per_producer = 1;
    RunPipeline(kata::UniqueName("sleeps"), plan,
                [&](int, const Message&) { release->Wait(5s); });
  });
  kata::ExpectNoBusyWaiting(
      caller.pid(), "RunPipeline's caller while its consumer is busy",
      Hint("waitpid(pid, &status, 0) sleeps until the child ends; a loop of "
           "WNOHANG and sleeps wakes up for nothing"));
  release->Post();
  caller.Join();
}

// =========================================================== Stage 6

// Runs RunPipeline with `plan` and `consume` in a child process and returns
// what() of the std::runtime_error it threw ("(returned normally)" if none).
std::string PipelineFailure(const PipelinePlan& plan,
                            const kata::shm::Consume& consume) {
  kata::SharedText what;
  InAChild([&] {
    try {
      RunPipeline(kata::UniqueName("fails"), plan, consume);
      what.Store("(returned normally)");
    } catch (const std::runtime_error& e) {
      what.Store(e.what());
    }
  });
  return what.Load();
}

constexpr char kReport[] =
    "throw std::runtime_error(\"RunPipeline failed: \" + each failed child: "
    "\"consumer 0 (pid 4242) ended with exit code 7\", \"... was killed by "
    "signal 9\", with \"timed out\" or \"threw\" when you know why); leave "
    "out the children you killed yourself";

// Tests how a consumer that failed on the last message is named: its pid,
// and "threw", "exit code 7" or "killed by signal 9".
TEST(Stage6DeadPeers, FailedConsumerIsNamedWithHowItEnded) {
  kata::OnDeadlock(kDeadPeer, 10s);
  TestShared<std::atomic<pid_t>> consumer;
  struct Way {
    const char* how;
    const char* said;
  };
  for (const Way& way : {Way{"throws", "threw"}, Way{"exits 7", "exit code 7"},
                         Way{"is killed", "killed by signal 9"}}) {
    SCOPED_TRACE(std::string("a consumer that ") + way.how);
    PipelinePlan plan;
    plan.messages_per_producer = 3;
    const std::string text =
        PipelineFailure(plan, [&](int, const Message& message) {
          *consumer = getpid();
          if (message.sequence < 2) return;  // fail on the last one
          if (way.said[0] == 't') throw std::runtime_error("gave up");
          if (way.said[0] == 'e') _exit(7);
          kill(getpid(), SIGKILL);
        });
    const std::string who =
        "consumer 0 (pid " + std::to_string(consumer->load()) + ")";
    EXPECT_NE(text.find("RunPipeline failed: " + who), std::string::npos)
        << "expected \"RunPipeline failed: " << who
        << " ...\", what(): " << text
        << Hint(kReport, README "#stage-6-when-a-peer-dies");
    EXPECT_NE(text.find(way.said), std::string::npos)
        << "what(): " << text << Hint(kReport);
    EXPECT_EQ(text.find("timed out"), std::string::npos)
        << "what(): " << text << Hint(kReport);
    if (way.said[0] != 't') {
      EXPECT_EQ(text.find("threw"), std::string::npos)
          << "what(): " << text << Hint(kReport);
    }
  }
}

// Tests a producer that timed out because its consumer stopped taking: the
// producer is named ("timed out"), the consumer RunPipeline killed is not.
TEST(Stage6DeadPeers, TimedOutProducerIsNamedButNotTheConsumerStopped) {
  kata::OnDeadlock(kDeadPeer, 10s);
  PipelinePlan plan;
  plan.messages_per_producer = 20;
  plan.timeout = 200ms;
  const std::string text = PipelineFailure(plan, [](int, const Message&) {
    std::this_thread::sleep_for(3s);  // stops taking; killed long before
  });
  EXPECT_EQ(text.rfind("RunPipeline failed: producer 0 (pid ", 0), 0u)
      << "what(): " << text << Hint(kReport);
  EXPECT_NE(text.find("timed out"), std::string::npos)
      << "what(): " << text
      << Hint("a child whose wait timed out says \"timed out\"");
  EXPECT_EQ(text.find("threw"), std::string::npos) << "what(): " << text;
  EXPECT_EQ(text.find("consumer 0"), std::string::npos)
      << "what(): " << text
      << Hint(
             "the consumer was killed by RunPipeline itself, while cleaning "
             "up: do not name it");
}

// Tests two children that failed on their own: both are named, each with
// how it ended, separated by "; ".
TEST(Stage6DeadPeers, EveryChildThatFailedOnItsOwnIsNamed) {
  kata::OnDeadlock(kDeadPeer, 10s);
  TestShared<std::atomic<pid_t>> consumer;
  PipelinePlan plan;
  plan.messages_per_producer = 20;
  plan.timeout = 200ms;
  const std::string text = PipelineFailure(plan, [&](int, const Message&) {
    *consumer = getpid();
    signal(SIGUSR2, SIG_DFL);
    raise(SIGUSR2);  // dies; then the producer finds the ring full for good
  });
  const std::string dead = "consumer 0 (pid " +
                           std::to_string(consumer->load()) +
                           ") was killed by signal " + std::to_string(SIGUSR2);
  EXPECT_NE(text.find(dead), std::string::npos)
      << "expected \"" << dead << "\", what(): " << text
      << Hint(
             "a child that was already dead when you sent SIGKILL still "
             "died of its own signal: name it");
  EXPECT_NE(text.find("producer 0 (pid "), std::string::npos)
      << "what(): " << text << Hint(kReport);
  EXPECT_NE(text.find("; "), std::string::npos)
      << "what(): " << text << Hint(kReport);
  EXPECT_EQ(text.rfind("RunPipeline failed: ", 0), 0u) << "what(): " << text;
}

// Tests a consumer that stops taking messages before the end of the
// stream: RunPipeline cannot push the markers, and gives up after
// plan.timeout instead of waiting for it.
TEST(Stage6DeadPeers, ConsumerThatStopsTakingEndsThePipeline) {
  kata::OnDeadlock(kDeadPeer, 10s);
  PipelinePlan plan;
  plan.messages_per_producer = static_cast<int>(RingBuffer::kCapacity) + 1;
  plan.timeout = 200ms;
  const auto stall = kata::Scaled(3s);
  std::string text;
  const auto elapsed = TimeOf([&] {
    text = PipelineFailure(
        plan, [&](int, const Message&) { std::this_thread::sleep_for(stall); });
  });
  EXPECT_NE(text.find("end-of-stream"), std::string::npos)
      << "what(): " << text
      << Hint(
             "when a marker cannot be pushed within plan.timeout, stop the "
             "consumers and throw std::runtime_error saying "
             "\"end-of-stream\"",
             README "#stage-6-when-a-peer-dies");
  EXPECT_EQ(text.find("consumer 0"), std::string::npos)
      << "what(): " << text
      << Hint("the stalled consumer was killed by RunPipeline itself");
  EXPECT_LT(elapsed, stall)
      << "RunPipeline waited for the stalled consumer instead of giving up "
      << "after plan.timeout (" << plan.timeout.count() << " ms)";
}

// Tests a producer that dies in the middle of its stream: RunPipeline
// names it and stops the consumers, instead of ending the stream for them.
TEST(Stage6DeadPeers, ProducerThatDiesEarlyIsNamedAndConsumersStopped) {
  kata::OnDeadlock(kDeadPeer, 10s);
  TestShared<std::atomic<pid_t>> producer;
  PipelinePlan plan;
  plan.messages_per_producer = 1000;
  plan.timeout = 2s;
  const std::string text = PipelineFailure(plan, [&](int, const Message&) {
    if (producer->load() != 0) return;
    // The caller's children are this consumer and the producer.
    std::ifstream children("/proc/" + std::to_string(getppid()) + "/task/" +
                           std::to_string(getppid()) + "/children");
    pid_t pid = 0;
    while (children >> pid) {
      if (pid != getpid()) {
        *producer = pid;
        kill(pid, SIGKILL);
      }
    }
  });
  ASSERT_GT(producer->load(), 0) << "the consumer found no producer to kill";
  const std::string dead = "producer 0 (pid " +
                           std::to_string(producer->load()) +
                           ") was killed by signal 9";
  EXPECT_NE(text.find(dead), std::string::npos)
      << "expected \"" << dead << "\", what(): " << text
      << Hint(
             "reap the producers before pushing any marker: a producer that "
             "died means the stream is incomplete");
  EXPECT_EQ(text.find("consumer 0"), std::string::npos)
      << "what(): " << text
      << Hint("the consumer was stopped by RunPipeline itself: do not name it");
}

}  // namespace
