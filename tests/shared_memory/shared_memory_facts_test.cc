// Kernel and C library facts about shared memory and semaphores that
// docs/shared_memory.md relies on.
//
// Nothing here tests learner code: every test asks the running Linux kernel
// (and glibc) directly, with raw calls, so that each sentence of the interview
// notes has a proof anyone can rerun, one test at a time if need be:
//
//   bazel test //tests/shared_memory:shared_memory_facts_test \
//       --test_filter='SemaphoreFacts.*'
//
// Some facts are Linux's or glibc's rather than POSIX's (that a POSIX object
// is a file in /dev/shm, what pshared = 0 does to a waiter in another
// process); docs/shared_memory.md says which. The suites: ShmFacts (POSIX
// objects), SemaphoreFacts (POSIX semaphores and process-shared mutexes),
// SysvShmFacts (System V segments), SysvSemaphoreFacts (SEM_UNDO) and
// FileMappingFacts (mmap of a regular file, for comparison with shm_open).

#include <fcntl.h>
#include <linux/magic.h>
#include <pthread.h>
#include <sched.h>
#include <semaphore.h>
#include <signal.h>
#include <sys/ipc.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/sem.h>
#include <sys/shm.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <new>
#include <sstream>
#include <string>
#include <system_error>
#include <thread>
#include <utility>

#include "gtest/gtest.h"
#include "tests/support/kata.h"

namespace {

using namespace std::chrono_literals;

constexpr std::size_t kPage = 4096;

// ----------------------------------------------------------------- helpers

// A POSIX shared memory object made with raw calls, removed when done.
class Object {
 public:
  explicit Object(std::string_view what, off_t size = 0)
      : name_(kata::UniqueName(what)) {
    fd_ = shm_open(name_.c_str(), O_CREAT | O_EXCL | O_RDWR, 0600);
    if (fd_ < 0) {
      throw std::system_error(errno, std::generic_category(),
                              "shm_open(" + name_ + ")");
    }
    if (size > 0 && ftruncate(fd_, size) != 0) {
      throw std::system_error(errno, std::generic_category(), "ftruncate");
    }
  }
  ~Object() {
    if (fd_ >= 0) close(fd_);
    shm_unlink(name_.c_str());
  }
  Object(const Object&) = delete;
  Object& operator=(const Object&) = delete;

  const std::string& name() const { return name_; }
  int fd() const { return fd_; }
  void CloseFd() {
    if (fd_ >= 0) close(std::exchange(fd_, -1));
  }

 private:
  std::string name_;
  int fd_ = -1;
};

// A mapping made with raw mmap, unmapped when done.
class Mapping {
 public:
  Mapping(int fd, std::size_t size, int flags) : size_(size) {
    data_ = mmap(nullptr, size, PROT_READ | PROT_WRITE, flags, fd, 0);
    if (data_ == MAP_FAILED) {
      throw std::system_error(errno, std::generic_category(), "mmap");
    }
  }
  ~Mapping() { munmap(data_, size_); }
  Mapping(const Mapping&) = delete;
  Mapping& operator=(const Mapping&) = delete;

  char* bytes() const { return static_cast<char*>(data_); }
  template <typename T>
  T* as() const {
    return static_cast<T*>(data_);
  }

 private:
  void* data_;
  std::size_t size_;
};

// Anonymous shared memory holding one T: inherited by forked children.
template <typename T>
class SharedAnonymous {
 public:
  SharedAnonymous() : mapping_(-1, sizeof(T), MAP_SHARED | MAP_ANONYMOUS) {
    new (mapping_.bytes()) T();
  }
  T* get() const { return mapping_.as<T>(); }
  T* operator->() const { return get(); }

 private:
  Mapping mapping_;
};

off_t SizeOf(int fd) {
  struct stat info{};
  fstat(fd, &info);
  return info.st_size;
}

bool Exists(const std::string& path) { return access(path.c_str(), F_OK) == 0; }

int ValueOf(sem_t* semaphore) {
  int value = -1;
  sem_getvalue(semaphore, &value);
  return value;
}

// CLOCK_REALTIME now + `timeout`, the deadline sem_timedwait expects.
timespec In(std::chrono::milliseconds timeout) {
  timespec deadline{};
  clock_gettime(CLOCK_REALTIME, &deadline);
  deadline.tv_sec += timeout.count() / 1000;
  deadline.tv_nsec += (timeout.count() % 1000) * 1000000L;
  if (deadline.tv_nsec >= 1000000000L) {
    deadline.tv_sec += 1;
    deadline.tv_nsec -= 1000000000L;
  }
  return deadline;
}

// Polls until `pid` sleeps in a futex wait (sem_wait and friends), or `limit`
// passes. Where the kernel hides wait channels, any sleep counts.
bool WaitUntilAsleepOnFutex(pid_t pid,
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

// Minor page faults of the calling thread so far.
long MinorFaults() {
  rusage usage{};
  getrusage(RUSAGE_THREAD, &usage);
  return usage.ru_minflt;
}

// Installs a do-nothing handler for `signal` for the test's lifetime, with
// or without SA_RESTART.
class Handler {
 public:
  Handler(int signal, int flags) : signal_(signal) {
    struct sigaction action{};
    action.sa_handler = [](int) {};
    sigemptyset(&action.sa_mask);
    action.sa_flags = flags;
    sigaction(signal_, &action, &old_);
  }
  ~Handler() { sigaction(signal_, &old_, nullptr); }

 private:
  int signal_;
  struct sigaction old_{};
};

// Reads a small file such as a /proc/sys entry; "" if it cannot be read.
std::string ReadFile(const std::string& path) {
  std::ifstream file(path);
  std::stringstream text;
  text << file.rdbuf();
  return text.str();
}

// Writes `text` to an existing file such as a /proc/sys entry.
bool WriteFile(const std::string& path, std::string_view text) {
  int fd = open(path.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) return false;
  const bool written =
      write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
  close(fd);
  return written;
}

// For a forked child: moves it into new namespaces (`kinds`, e.g.
// CLONE_NEWIPC) inside a new user namespace, where it is root (its uid and
// gid are mapped to 0). No privilege is needed, and being root of that user
// namespace lets it set the new IPC namespace's sysctls and mount file
// systems in a new mount namespace, as a container's root can. Returns ""
// or what failed.
std::string EnterOwnNamespaces(int kinds) {
  const std::string uid = std::to_string(getuid());
  const std::string gid = std::to_string(getgid());
  if (unshare(CLONE_NEWUSER | kinds) != 0) {
    return std::string("unshare: ") + std::strerror(errno);
  }
  if (!WriteFile("/proc/self/uid_map", "0 " + uid + " 1") ||
      !WriteFile("/proc/self/setgroups", "deny") ||
      !WriteFile("/proc/self/gid_map", "0 " + gid + " 1")) {
    return std::string("writing the id maps: ") + std::strerror(errno);
  }
  return "";
}

// A regular file of `size` bytes for one test, removed when done: what a
// POSIX shared memory object is compared with. It lives in Bazel's private
// TEST_TMPDIR, or in /tmp under a name unique to this run.
class TempFile {
 public:
  TempFile(std::string_view what, off_t size) {
    const char* dir = std::getenv("TEST_TMPDIR");
    path_ = std::string(dir != nullptr ? dir : "/tmp") + kata::UniqueName(what);
    fd_ = open(path_.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd_ < 0) {
      throw std::system_error(errno, std::generic_category(),
                              "open(" + path_ + ")");
    }
    if (ftruncate(fd_, size) != 0) {
      throw std::system_error(errno, std::generic_category(), "ftruncate");
    }
  }
  ~TempFile() {
    if (fd_ >= 0) close(fd_);
    unlink(path_.c_str());
  }
  TempFile(const TempFile&) = delete;
  TempFile& operator=(const TempFile&) = delete;

  const std::string& path() const { return path_; }
  int fd() const { return fd_; }

 private:
  std::string path_;
  int fd_ = -1;
};

// What semctl's fourth argument is; the caller declares it (see semctl(2)).
union SemArgument {
  int val;
  semid_ds* buf;
  unsigned short* array;
};

// A System V semaphore set of one semaphore that starts at `value`, made
// under a key unique to the run and removed (IPC_RMID) when done.
class SysvSemaphore {
 public:
  explicit SysvSemaphore(int value) {
    id_ = semget(kata::UniqueSysvKey(), 1, IPC_CREAT | IPC_EXCL | 0600);
    if (id_ < 0) {
      throw std::system_error(errno, std::generic_category(), "semget");
    }
    SemArgument argument{};
    argument.val = value;
    if (semctl(id_, 0, SETVAL, argument) != 0) {
      throw std::system_error(errno, std::generic_category(), "semctl");
    }
  }
  ~SysvSemaphore() { semctl(id_, 0, IPC_RMID); }
  SysvSemaphore(const SysvSemaphore&) = delete;
  SysvSemaphore& operator=(const SysvSemaphore&) = delete;

  int id() const { return id_; }
  int Value() const { return semctl(id_, 0, GETVAL); }
  // One semop on the semaphore: `delta` with `flags` (SEM_UNDO, IPC_NOWAIT).
  int Change(short delta, short flags) const {
    sembuf operation{0, delta, flags};
    return semop(id_, &operation, 1);
  }

 private:
  int id_ = -1;
};

// ============================================ POSIX shared memory objects

// Tests that a new object has no bytes until ftruncate gives it some.
TEST(ShmFacts, NewObjectHasZeroBytes) {
  Object object("new");
  EXPECT_EQ(SizeOf(object.fd()), 0);
  ASSERT_EQ(ftruncate(object.fd(), 3 * kPage), 0);
  EXPECT_EQ(SizeOf(object.fd()), static_cast<off_t>(3 * kPage));
}

// Tests that mmap of a 0-byte object succeeds, and the first touch is SIGBUS.
TEST(ShmFacts, TouchingBeyondTheEndIsSigbus) {
  Object object("sigbus");
  Mapping mapping(object.fd(), kPage, MAP_SHARED);  // no error here
  kata::ExpectKilledBy(SIGBUS, [&] {
    signal(SIGBUS, SIG_DFL);  // the default action, also under ASan
    mapping.bytes()[0] = 1;
  });
}

// Tests that on Linux a POSIX object is a file in /dev/shm, a tmpfs (RAM)
// file system, with the mode it was created with.
TEST(ShmFacts, ObjectIsAFileOnTmpfs) {
  Object object("file");
  const std::string path = "/dev/shm" + object.name();
  struct stat info{};
  ASSERT_EQ(stat(path.c_str(), &info), 0) << path;
  EXPECT_TRUE(S_ISREG(info.st_mode));
  EXPECT_EQ(info.st_mode & 0777, 0600u);
  struct statfs fs{};
  ASSERT_EQ(statfs("/dev/shm", &fs), 0);
  EXPECT_EQ(fs.f_type, static_cast<decltype(fs.f_type)>(TMPFS_MAGIC));
}

// Tests that a MAP_SHARED store by one process is a load away for another.
TEST(ShmFacts, MapSharedStoresReachTheOtherProcess) {
  Object object("shared", kPage);
  Mapping mapping(object.fd(), kPage, MAP_SHARED);
  mapping.bytes()[0] = 'A';
  kata::RunInChild([&] { mapping.bytes()[0] = 'B'; });
  EXPECT_EQ(mapping.bytes()[0], 'B');
}

// Tests that MAP_PRIVATE stores stay in the storing process (copy on write).
TEST(ShmFacts, MapPrivateStoresStayPrivate) {
  Object object("private", kPage);
  Mapping mapping(object.fd(), kPage, MAP_PRIVATE);
  mapping.bytes()[0] = 'A';
  kata::RunInChild([&] { mapping.bytes()[0] = 'B'; });
  EXPECT_EQ(mapping.bytes()[0], 'A');
  Mapping fresh(object.fd(), kPage, MAP_SHARED);
  EXPECT_EQ(fresh.bytes()[0], '\0') << "the object itself never saw 'A'";
}

// Tests that one object mapped twice sits at two addresses with the same
// bytes behind them: a pointer into a segment means nothing elsewhere.
TEST(ShmFacts, SameObjectAppearsAtDifferentAddresses) {
  Object object("twice", kPage);
  Mapping first(object.fd(), kPage, MAP_SHARED);
  Mapping second(object.fd(), kPage, MAP_SHARED);
  EXPECT_NE(first.bytes(), second.bytes());
  std::strcpy(first.bytes() + 100, "same bytes");
  EXPECT_STREQ(second.bytes() + 100, "same bytes");
}

// Tests that a mapping keeps working after its descriptor is closed.
TEST(ShmFacts, MappingOutlivesTheDescriptor) {
  Object object("no-fd", kPage);
  Mapping mapping(object.fd(), kPage, MAP_SHARED);
  object.CloseFd();
  std::strcpy(mapping.bytes(), "still mapped");
  EXPECT_STREQ(mapping.bytes(), "still mapped");
}

// Tests that shm_unlink removes the name at once, existing mappings keep the
// memory, and the same name with O_CREAT is then a new, empty object.
TEST(ShmFacts, UnlinkRemovesOnlyTheName) {
  Object object("unlinked", kPage);
  Mapping mapping(object.fd(), kPage, MAP_SHARED);
  std::strcpy(mapping.bytes(), "old object");
  ASSERT_EQ(shm_unlink(object.name().c_str()), 0);
  EXPECT_FALSE(Exists("/dev/shm" + object.name()));
  EXPECT_STREQ(mapping.bytes(), "old object");
  int again = shm_open(object.name().c_str(), O_CREAT | O_RDWR, 0600);
  ASSERT_GE(again, 0);
  EXPECT_EQ(SizeOf(again), 0) << "a new object, not the old one";
  struct stat old_info{}, new_info{};
  fstat(object.fd(), &old_info);
  fstat(again, &new_info);
  EXPECT_NE(old_info.st_ino, new_info.st_ino);
  close(again);
}

// Tests that an object outlives the process that created it (kernel
// persistence): its data is still there after that process has exited.
TEST(ShmFacts, ObjectOutlivesItsCreator) {
  const std::string name = kata::UniqueName("persistent");
  kata::RunInChild([&] {
    int fd = shm_open(name.c_str(), O_CREAT | O_EXCL | O_RDWR, 0600);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(ftruncate(fd, kPage), 0);
    Mapping mapping(fd, kPage, MAP_SHARED);
    std::strcpy(mapping.bytes(), "left by a dead process");
    close(fd);
  });  // the child has exited: its mapping is gone, the object is not
  int fd = shm_open(name.c_str(), O_RDWR, 0);
  ASSERT_GE(fd, 0) << "the object died with its creator";
  {
    Mapping mapping(fd, kPage, MAP_SHARED);
    EXPECT_STREQ(mapping.bytes(), "left by a dead process");
  }
  close(fd);
  shm_unlink(name.c_str());
}

// Tests where a POSIX object lives on Linux: in the tmpfs mounted on
// /dev/shm, not in the IPC namespace. A process in a new IPC namespace still
// opens it by name; once a fresh tmpfs is mounted on its /dev/shm (in a new
// mount namespace, as a container gets), the name is unknown there.
TEST(ShmFacts, ObjectBelongsToTheDevShmMountNotTheIpcNamespace) {
  Object object("mount", kPage);
  kata::RunInChild([&] {
    ASSERT_EQ(EnterOwnNamespaces(CLONE_NEWIPC), "");
    int fd = shm_open(object.name().c_str(), O_RDWR, 0);
    EXPECT_GE(fd, 0) << "a new IPC namespace alone still sees /dev/shm: "
                     << std::strerror(errno);
    if (fd >= 0) close(fd);
    ASSERT_EQ(unshare(CLONE_NEWNS), 0) << std::strerror(errno);
    // Private first, so that nothing mounted here reaches the test runner.
    ASSERT_EQ(mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr), 0)
        << std::strerror(errno);
    ASSERT_EQ(mount("tmpfs", "/dev/shm", "tmpfs", 0, "mode=1777"), 0)
        << "mount tmpfs on /dev/shm: " << std::strerror(errno);
    errno = 0;
    EXPECT_EQ(shm_open(object.name().c_str(), O_RDWR, 0), -1);
    EXPECT_EQ(errno, ENOENT) << "the object is a file of the other tmpfs";
  });
}

// Tests that the kernel takes part only at the first touch of each page (a
// page fault maps it); after that, loads and stores need no kernel at all.
TEST(ShmFacts, KernelIsInvolvedOnlyAtTheFirstTouch) {
  constexpr std::size_t kPages = 256;
  Object object("faults", kPages * kPage);
  Mapping mapping(object.fd(), kPages * kPage, MAP_SHARED);
  const long before = MinorFaults();
  for (std::size_t page = 0; page < kPages; ++page) {
    mapping.bytes()[page * kPage] = 1;
  }
  const long first_touch = MinorFaults() - before;
  for (int pass = 0; pass < 10; ++pass) {
    for (std::size_t i = 0; i < kPages * kPage; i += 64) mapping.bytes()[i]++;
  }
  const long afterwards = MinorFaults() - before - first_touch;
  EXPECT_GE(first_touch, static_cast<long>(kPages))
      << "one fault per page at the first store";
  // Zero in practice; a few are allowed for NUMA balancing, which may unmap
  // a page now and then to see who uses it.
  EXPECT_LT(afterwards, 8) << "ten more passes over every cache line";
}

// ============================================================== semaphores

// Tests that with pshared = 1 a post wakes a waiter in another process.
TEST(SemaphoreFacts, PsharedOneWakesAnotherProcess) {
  SharedAnonymous<sem_t> semaphore;
  ASSERT_EQ(sem_init(semaphore.get(), 1, 0), 0);
  kata::SharedText result;
  kata::Child waiter([&] {
    const timespec deadline = In(2s);
    result.Store(sem_timedwait(semaphore.get(), &deadline) == 0
                     ? "woken"
                     : std::strerror(errno));
  });
  ASSERT_TRUE(WaitUntilAsleepOnFutex(waiter.pid()));
  sem_post(semaphore.get());
  waiter.Join();
  EXPECT_EQ(result.Load(), "woken");
  sem_destroy(semaphore.get());
}

// Tests glibc with pshared = 0 in shared memory: the count is shared, but a
// post from another process does not wake a waiter already asleep, which
// then times out although a token is there.
TEST(SemaphoreFacts, PsharedZeroDoesNotWakeAnotherProcess) {
  SharedAnonymous<sem_t> semaphore;
  ASSERT_EQ(sem_init(semaphore.get(), 0, 0), 0);
  kata::SharedText result;
  kata::Child waiter([&] {
    const timespec deadline = In(1s);
    result.Store(sem_timedwait(semaphore.get(), &deadline) == 0
                     ? "woken"
                     : std::strerror(errno));
  });
  ASSERT_TRUE(WaitUntilAsleepOnFutex(waiter.pid()));
  sem_post(semaphore.get());
  waiter.Join();
  EXPECT_EQ(result.Load(), std::strerror(ETIMEDOUT));
  EXPECT_EQ(ValueOf(semaphore.get()), 1) << "the token was posted all along";
  sem_destroy(semaphore.get());
}

// Tests that a semaphore in ordinary memory is copied by fork: the child's
// post goes to its own copy, and the parent waits in vain.
TEST(SemaphoreFacts, SemaphoreOutsideSharedMemoryIsCopiedByFork) {
  sem_t semaphore;  // on the stack: private to each process after fork
  ASSERT_EQ(sem_init(&semaphore, 1, 0), 0);
  kata::RunInChild([&] { sem_post(&semaphore); });
  const timespec deadline = In(300ms);
  EXPECT_EQ(sem_timedwait(&semaphore, &deadline), -1);
  EXPECT_EQ(errno, ETIMEDOUT);
  sem_destroy(&semaphore);
}

// Tests that sem_timedwait's deadline is a point in time: a deadline in the
// past (a duration passed by mistake is one, in 1970) ends the wait at once,
// while a token that is already there is still taken.
TEST(SemaphoreFacts, TimedwaitDeadlineIsAnAbsoluteTime) {
  sem_t semaphore;
  ASSERT_EQ(sem_init(&semaphore, 0, 0), 0);
  const timespec two_seconds_after_1970{2, 0};
  EXPECT_EQ(sem_timedwait(&semaphore, &two_seconds_after_1970), -1);
  EXPECT_EQ(errno, ETIMEDOUT);
  sem_post(&semaphore);
  EXPECT_EQ(sem_timedwait(&semaphore, &two_seconds_after_1970), 0);
  sem_destroy(&semaphore);
}

// Tests that a signal handler installed without SA_RESTART ends a blocked
// sem_wait with EINTR, without a token.
TEST(SemaphoreFacts, SignalInterruptsSemWait) {
  Handler handler(SIGUSR1, 0);
  SharedAnonymous<sem_t> semaphore;
  ASSERT_EQ(sem_init(semaphore.get(), 1, 0), 0);
  kata::Child interrupter([&] {
    WaitUntilAsleepOnFutex(kata::RunnerPid());
    kill(kata::RunnerPid(), SIGUSR1);
  });
  EXPECT_EQ(sem_wait(semaphore.get()), -1);
  EXPECT_EQ(errno, EINTR);
  interrupter.Join();
  sem_destroy(semaphore.get());
}

// Tests that with SA_RESTART the same sem_wait goes on waiting after the
// handler, and returns only for the post.
TEST(SemaphoreFacts, SaRestartResumesSemWait) {
  Handler handler(SIGUSR1, SA_RESTART);
  SharedAnonymous<sem_t> semaphore;
  ASSERT_EQ(sem_init(semaphore.get(), 1, 0), 0);
  kata::Child interrupter([&] {
    WaitUntilAsleepOnFutex(kata::RunnerPid());
    kill(kata::RunnerPid(), SIGUSR1);
    std::this_thread::sleep_for(50ms);
    WaitUntilAsleepOnFutex(kata::RunnerPid());
    sem_post(semaphore.get());
  });
  EXPECT_EQ(sem_wait(semaphore.get()), 0);
  interrupter.Join();
  sem_destroy(semaphore.get());
}

// Tests that a semaphore has no owner: a process that never waited may post.
TEST(SemaphoreFacts, AnyProcessMayPost) {
  SharedAnonymous<sem_t> semaphore;
  ASSERT_EQ(sem_init(semaphore.get(), 1, 1), 0);
  ASSERT_EQ(sem_wait(semaphore.get()), 0);  // the parent "takes the lock"
  kata::RunInChild([&] { EXPECT_EQ(sem_post(semaphore.get()), 0); });
  EXPECT_EQ(ValueOf(semaphore.get()), 1) << "someone else released it";
  sem_destroy(semaphore.get());
}

// A process-shared mutex with the given type and robustness.
struct SharedMutex {
  pthread_mutex_t mutex;
  void Init(int type, int robust) {
    pthread_mutexattr_t attributes;
    pthread_mutexattr_init(&attributes);
    pthread_mutexattr_setpshared(&attributes, PTHREAD_PROCESS_SHARED);
    pthread_mutexattr_settype(&attributes, type);
    pthread_mutexattr_setrobust(&attributes, robust);
    pthread_mutex_init(&mutex, &attributes);
    pthread_mutexattr_destroy(&attributes);
  }
};

// Tests that a mutex has an owner: an error-checking mutex refuses an unlock
// by a process that does not hold it.
TEST(SemaphoreFacts, MutexRefusesAnUnlockByANonOwner) {
  SharedAnonymous<SharedMutex> shared;
  shared->Init(PTHREAD_MUTEX_ERRORCHECK, PTHREAD_MUTEX_STALLED);
  ASSERT_EQ(pthread_mutex_lock(&shared->mutex), 0);
  kata::RunInChild(
      [&] { EXPECT_EQ(pthread_mutex_unlock(&shared->mutex), EPERM); });
  EXPECT_EQ(pthread_mutex_unlock(&shared->mutex), 0);
  pthread_mutex_destroy(&shared->mutex);
}

// Tests that a process that dies holding a semaphore leaves it taken: others
// only get out through a timeout.
TEST(SemaphoreFacts, DeadHolderLeavesTheSemaphoreTaken) {
  SharedAnonymous<sem_t> semaphore;
  ASSERT_EQ(sem_init(semaphore.get(), 1, 1), 0);
  kata::RunInChild([&] { sem_wait(semaphore.get()); });  // and dies
  EXPECT_EQ(ValueOf(semaphore.get()), 0);
  const timespec deadline = In(200ms);
  EXPECT_EQ(sem_timedwait(semaphore.get(), &deadline), -1);
  EXPECT_EQ(errno, ETIMEDOUT);
  sem_destroy(semaphore.get());
}

// Tests that a robust mutex tells the next locker that its owner died
// (EOWNERDEAD), where a semaphore cannot.
TEST(SemaphoreFacts, RobustMutexReportsADeadOwner) {
  SharedAnonymous<SharedMutex> shared;
  shared->Init(PTHREAD_MUTEX_NORMAL, PTHREAD_MUTEX_ROBUST);
  kata::RunInChild(
      [&] { ASSERT_EQ(pthread_mutex_lock(&shared->mutex), 0); });  // dies
  EXPECT_EQ(pthread_mutex_lock(&shared->mutex), EOWNERDEAD);
  EXPECT_EQ(pthread_mutex_consistent(&shared->mutex), 0);
  EXPECT_EQ(pthread_mutex_unlock(&shared->mutex), 0);
  pthread_mutex_destroy(&shared->mutex);
}

// Tests that on Linux a named semaphore is a small file "sem.<name>" in
// /dev/shm, there until sem_unlink.
TEST(SemaphoreFacts, NamedSemaphoreIsAFileInDevShm) {
  const std::string name = kata::UniqueName("named");
  sem_t* semaphore = sem_open(name.c_str(), O_CREAT | O_EXCL, 0600, 3);
  ASSERT_NE(semaphore, SEM_FAILED) << std::strerror(errno);
  const std::string path = "/dev/shm/sem." + name.substr(1);
  EXPECT_TRUE(Exists(path)) << path;
  EXPECT_EQ(ValueOf(semaphore), 3);
  sem_close(semaphore);
  EXPECT_TRUE(Exists(path)) << "closing does not remove it";
  ASSERT_EQ(sem_unlink(name.c_str()), 0);
  EXPECT_FALSE(Exists(path));
}

// ================================================ System V shared memory

// Tests that a System V segment is found by a numeric key, listed in
// /proc/sysvipc/shm (not /dev/shm), and outlives its creator.
TEST(SysvShmFacts, SegmentHasAKeyAndOutlivesItsCreator) {
  const key_t key = kata::UniqueSysvKey();
  kata::RunInChild([&] {
    int id = shmget(key, kPage, IPC_CREAT | IPC_EXCL | 0600);
    ASSERT_GE(id, 0) << std::strerror(errno);
    char* data = static_cast<char*>(shmat(id, nullptr, 0));
    ASSERT_NE(data, reinterpret_cast<char*>(-1));
    std::strcpy(data, "System V");
  });  // the creator has exited (and detached)
  int id = shmget(key, 0, 0);
  ASSERT_GE(id, 0) << "the segment died with its creator";
  bool listed = false;
  std::ifstream table("/proc/sysvipc/shm");
  std::string line;
  while (std::getline(table, line)) {
    std::istringstream row(line);
    long listed_key = 0, listed_id = -1;
    row >> listed_key >> listed_id;
    listed = listed || listed_id == id;
  }
  EXPECT_TRUE(listed) << "id " << id << " not in /proc/sysvipc/shm";
  char* data = static_cast<char*>(shmat(id, nullptr, SHM_RDONLY));
  ASSERT_NE(data, reinterpret_cast<char*>(-1));
  EXPECT_STREQ(data, "System V");
  shmdt(data);
  shmctl(id, IPC_RMID, nullptr);
}

// Tests that IPC_RMID on an attached segment only marks it for removal: it
// stays usable until the last detach, then it is gone.
TEST(SysvShmFacts, RemovalWaitsForTheLastDetach) {
  int id = shmget(IPC_PRIVATE, kPage, IPC_CREAT | 0600);
  ASSERT_GE(id, 0) << std::strerror(errno);
  char* data = static_cast<char*>(shmat(id, nullptr, 0));
  ASSERT_NE(data, reinterpret_cast<char*>(-1));
  ASSERT_EQ(shmctl(id, IPC_RMID, nullptr), 0);
  shmid_ds info{};
  ASSERT_EQ(shmctl(id, IPC_STAT, &info), 0) << "still there while attached";
  EXPECT_EQ(info.shm_nattch, 1u);
  EXPECT_NE(info.shm_perm.mode & SHM_DEST, 0) << "marked for destruction";
  std::strcpy(data, "still usable");
  EXPECT_STREQ(data, "still usable");
  shmdt(data);
  EXPECT_EQ(shmctl(id, IPC_STAT, &info), -1) << "gone after the last detach";
}

// Tests kernel.shm_rmid_forced: set to 1 in an IPC namespace, the last detach
// of a System V segment removes it, as if IPC_RMID had been called. With the
// default 0 (the control), a segment nobody has attached stays. The test sets
// the sysctl in an IPC namespace of its own, which ends with the child.
TEST(SysvShmFacts, ShmRmidForcedRemovesASegmentAtItsLastDetach) {
  const std::string sysctl = "/proc/sys/kernel/shm_rmid_forced";
  kata::RunInChild([&] {
    ASSERT_EQ(EnterOwnNamespaces(CLONE_NEWIPC), "");
    EXPECT_EQ(ReadFile(sysctl), "0\n") << "the default in a new namespace";
    auto attach_and_detach = [](int id) {
      void* data = shmat(id, nullptr, 0);
      ASSERT_NE(data, reinterpret_cast<void*>(-1)) << std::strerror(errno);
      shmdt(data);
    };
    shmid_ds info{};
    const int kept = shmget(IPC_PRIVATE, kPage, IPC_CREAT | 0600);
    ASSERT_GE(kept, 0) << std::strerror(errno);
    attach_and_detach(kept);
    EXPECT_EQ(shmctl(kept, IPC_STAT, &info), 0)
        << "with shm_rmid_forced = 0 a detached segment stays";
    EXPECT_EQ(shmctl(kept, IPC_RMID, nullptr), 0);

    ASSERT_TRUE(WriteFile(sysctl, "1"))
        << sysctl << ": " << std::strerror(errno);
    const int forced = shmget(IPC_PRIVATE, kPage, IPC_CREAT | 0600);
    ASSERT_GE(forced, 0) << std::strerror(errno);
    attach_and_detach(forced);
    errno = 0;
    EXPECT_EQ(shmctl(forced, IPC_STAT, &info), -1);
    EXPECT_EQ(errno, EINVAL) << "with shm_rmid_forced = 1 the last detach "
                                "removed the segment";
  });
}

// ==================================================== System V semaphores

// Tests what SEM_UNDO buys: a process takes a System V semaphore with
// SEM_UNDO and is killed with SIGKILL, so none of its own code runs again.
// The kernel undoes its -1 as the process ends, and the next taker gets the
// semaphore at once.
TEST(SysvSemaphoreFacts, SemUndoGivesBackWhatAKilledHolderTook) {
  kata::OnDeadlock("the holder child did not take the semaphore and sleep");
  SysvSemaphore semaphore(1);
  {
    kata::Child holder([&] {
      semaphore.Change(-1, SEM_UNDO);
      pause();  // holds the semaphore until it is killed
    });
    ASSERT_TRUE(kata::WaitUntilBlocked(holder.pid()));
    ASSERT_EQ(semaphore.Value(), 0) << "control: the child holds it";
    kill(holder.pid(), SIGKILL);
  }  // ~Child reaps the killed holder
  EXPECT_EQ(semaphore.Change(-1, IPC_NOWAIT), 0)
      << "the kernel undid the dead holder's -1, so the semaphore is free "
         "at once: "
      << std::strerror(errno);
}

// Tests the same death without SEM_UNDO: the -1 of the killed holder stays,
// and a wait for the semaphore only ends because of its timeout.
// (semtimedop's timeout is a duration, unlike sem_timedwait's deadline.)
TEST(SysvSemaphoreFacts, WithoutSemUndoAKilledHolderKeepsTheSemaphore) {
  kata::OnDeadlock("the holder child did not take the semaphore and sleep");
  SysvSemaphore semaphore(1);
  {
    kata::Child holder([&] {
      semaphore.Change(-1, 0);
      pause();
    });
    ASSERT_TRUE(kata::WaitUntilBlocked(holder.pid()));
    ASSERT_EQ(semaphore.Value(), 0) << "control: the child holds it";
    kill(holder.pid(), SIGKILL);
  }
  sembuf take{0, -1, 0};
  const timespec timeout{0, 200'000'000};
  errno = 0;
  EXPECT_EQ(semtimedop(semaphore.id(), &take, 1, &timeout), -1);
  EXPECT_EQ(errno, EAGAIN) << "the semaphore stays taken by a dead process; "
                              "only the timeout ends the wait";
}

// Tests what SEM_UNDO is not: a lock owner. It adds back the amount a process
// took when that process ends, whatever happened since. Here another process
// gives the semaphore back first, so the holder's death raises it to 2, and a
// "lock" built on it would now let two processes in.
TEST(SysvSemaphoreFacts, UndoAddsBackTheAmountTakenNotTheLock) {
  kata::OnDeadlock("the holder child did not take the semaphore and sleep");
  SysvSemaphore semaphore(1);
  {
    kata::Child holder([&] {
      semaphore.Change(-1, SEM_UNDO);
      pause();
    });
    ASSERT_TRUE(kata::WaitUntilBlocked(holder.pid()));
    ASSERT_EQ(semaphore.Value(), 0) << "control: the child holds it";
    ASSERT_EQ(semaphore.Change(+1, 0), 0) << "anyone may give it back";
    kill(holder.pid(), SIGKILL);
  }
  EXPECT_EQ(semaphore.Value(), 2)
      << "the kernel added back the holder's 1 although the semaphore had "
         "already been given back";
}

// Tests that the undo record belongs to one process: a child forked by the
// holder does not inherit it, so the child's exit gives nothing back, and
// the holder's own exit does.
TEST(SysvSemaphoreFacts, ForkedChildDoesNotInheritTheUndo) {
  SysvSemaphore semaphore(1);
  kata::SharedText seen;
  kata::RunInChild([&] {
    ASSERT_EQ(semaphore.Change(-1, SEM_UNDO), 0) << std::strerror(errno);
    const pid_t child = fork();  // a raw fork: the holder's own child
    if (child == 0) _exit(0);
    ASSERT_GT(child, 0) << std::strerror(errno);
    ASSERT_EQ(waitpid(child, nullptr, 0), child);
    seen.Store(std::to_string(semaphore.Value()));
  });  // the holder exits normally
  EXPECT_EQ(seen.Load(), "0") << "the holder's child ended without giving "
                                 "anything back: it had no undo record";
  EXPECT_EQ(semaphore.Value(), 1) << "the holder's exit undid its -1";
}

// ===================================================== mapping a file

// Tests that mmap of a regular file and read()/write() on it see the same
// bytes at once, with no msync: both go through the file's one copy in the
// page cache.
TEST(FileMappingFacts, MappingAndReadWriteShareThePageCache) {
  TempFile file("page-cache", kPage);
  Mapping mapping(file.fd(), kPage, MAP_SHARED);
  std::strcpy(mapping.bytes(), "stored through the mapping");
  char buffer[64] = {};
  ASSERT_GT(pread(file.fd(), buffer, sizeof(buffer) - 1, 0), 0)
      << std::strerror(errno);
  EXPECT_STREQ(buffer, "stored through the mapping")
      << "read() sees a store in the mapping without msync";
  const std::string_view written = "written with pwrite";
  ASSERT_EQ(pwrite(file.fd(), written.data(), written.size() + 1, 100),
            static_cast<ssize_t>(written.size() + 1));
  EXPECT_EQ(std::string(mapping.bytes() + 100), written)
      << "and the mapping sees a write() at once";
}

// Tests what a file mapping keeps that a process does not: a child maps the
// file, stores into it and exits without msync or write(); the bytes are in
// the file, found again by its path.
TEST(FileMappingFacts, StoresStayInTheFileAfterTheProcessEnds) {
  TempFile file("persists", kPage);
  kata::RunInChild([&] {
    int fd = open(file.path().c_str(), O_RDWR | O_CLOEXEC);
    ASSERT_GE(fd, 0) << std::strerror(errno);
    Mapping mapping(fd, kPage, MAP_SHARED);
    close(fd);
    std::strcpy(mapping.bytes(), "left in the file");
  });
  EXPECT_EQ(std::string(ReadFile(file.path()).c_str()), "left in the file")
      << "the file (read by path) holds what the dead process stored";
}

}  // namespace
