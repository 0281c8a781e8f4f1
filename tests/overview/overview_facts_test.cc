// Kernel facts that the interview overview (docs/README.md) and the
// misconceptions page (docs/misconceptions.md) rely on.
//
// Nothing here tests learner code. Every test asks the running Linux kernel
// directly, with raw system calls and real processes, so that each claim of
// those pages has a proof anyone can rerun, one test at a time if need be:
//
//   bazel test //tests/overview:overview_facts_test --test_filter='SysvQueue*'
//
// The suites follow the pages: ProcessFacts (why processes need the kernel,
// and what fork() shares), SharedMemoryFacts and MessagePassingFacts (the two
// models), SysvQueueFacts and PosixQueueFacts (what a queue's "number" really
// is, and which namespace holds it), SocketFacts (where sockets reach and who
// picks the route), SignalIpcFacts (what a signal carries, and how programs
// turn signals into data they can wait for).

#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <linux/magic.h>
#include <linux/seccomp.h>
#include <mqueue.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <semaphore.h>
#include <signal.h>
#include <stddef.h>
#include <sys/ioctl.h>
#include <sys/ipc.h>
#include <sys/mman.h>
#include <sys/msg.h>
#include <sys/prctl.h>
#include <sys/shm.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/vfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <initializer_list>
#include <iterator>
#include <map>
#include <new>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include "gtest/gtest.h"
#include "tests/support/kata.h"

namespace {

using namespace std::chrono_literals;

// ----------------------------------------------------------------- helpers

[[noreturn]] void Fail(std::string_view call) {
  throw std::system_error(errno, std::generic_category(), std::string(call));
}

// One descriptor, closed when the object goes away.
class ScopedFd {
 public:
  explicit ScopedFd(int fd = -1) : fd_(fd) {}
  ScopedFd(ScopedFd&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  ScopedFd(const ScopedFd&) = delete;
  ScopedFd& operator=(const ScopedFd&) = delete;
  ~ScopedFd() { Reset(); }

  int get() const { return fd_; }
  void Reset() {
    if (fd_ >= 0) close(std::exchange(fd_, -1));
  }

 private:
  int fd_;
};

// A T placed in anonymous MAP_SHARED memory before a fork, so that parent and
// children see one copy. T must be trivially copyable.
template <typename T>
class Shared {
 public:
  Shared() {
    void* memory = mmap(nullptr, sizeof(T), PROT_READ | PROT_WRITE,
                        MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (memory == MAP_FAILED) Fail("mmap(MAP_SHARED | MAP_ANONYMOUS)");
    value_ = new (memory) T{};
  }
  Shared(const Shared&) = delete;
  Shared& operator=(const Shared&) = delete;
  ~Shared() { munmap(value_, sizeof(T)); }

  T* operator->() const { return value_; }
  T& operator*() const { return *value_; }

 private:
  T* value_;
};

// A POSIX shared memory object of `size` bytes, created by this test and
// unlinked (shm_unlink) when the object goes away: the creator removes it.
class PosixShm {
 public:
  PosixShm(std::string name, std::size_t size) : name_(std::move(name)) {
    fd_ = shm_open(name_.c_str(), O_CREAT | O_EXCL | O_RDWR | O_CLOEXEC, 0600);
    if (fd_ < 0) Fail("shm_open(" + name_ + ")");
    if (ftruncate(fd_, static_cast<off_t>(size)) != 0) {
      Fail("ftruncate(" + name_ + ")");
    }
  }
  PosixShm(const PosixShm&) = delete;
  PosixShm& operator=(const PosixShm&) = delete;
  ~PosixShm() {
    close(fd_);
    shm_unlink(name_.c_str());
  }

  const std::string& name() const { return name_; }
  int fd() const { return fd_; }

 private:
  std::string name_;
  int fd_ = -1;
};

// A memory mapping, unmapped when the object goes away.
class Mapping {
 public:
  Mapping(std::size_t size, int flags, int fd, std::string_view what)
      : size_(size) {
    address_ = mmap(nullptr, size, PROT_READ | PROT_WRITE, flags, fd, 0);
    if (address_ == MAP_FAILED) Fail("mmap(" + std::string(what) + ")");
  }
  Mapping(const Mapping&) = delete;
  Mapping& operator=(const Mapping&) = delete;
  ~Mapping() { munmap(address_, size_); }

  char* data() const { return static_cast<char*>(address_); }

 private:
  void* address_;
  std::size_t size_;
};

// A System V message queue made by this test under a key unique to the run;
// the test that creates it removes it (IPC_RMID) when the object goes away.
class SysvQueue {
 public:
  SysvQueue() : key_(kata::UniqueSysvKey()) {
    id_ = msgget(key_, IPC_CREAT | IPC_EXCL | 0600);
    if (id_ < 0) Fail("msgget(key " + std::to_string(key_) + ")");
  }
  SysvQueue(const SysvQueue&) = delete;
  SysvQueue& operator=(const SysvQueue&) = delete;
  ~SysvQueue() { msgctl(id_, IPC_RMID, nullptr); }

  key_t key() const { return key_; }
  int id() const { return id_; }

 private:
  key_t key_;
  int id_;
};

// The layout msgsnd/msgrcv expect: the type, then the text.
struct TypedMessage {
  long mtype;
  char text[64];
};

void SendTyped(int queue, long type, std::string_view text) {
  TypedMessage message{type, {}};
  std::memcpy(message.text, text.data(),
              std::min(text.size(), sizeof(message.text)));
  // msgsz counts the text only, never the mtype field.
  while (msgsnd(queue, &message, text.size(), 0) != 0) {
    if (errno != EINTR) Fail("msgsnd(type " + std::to_string(type) + ")");
  }
}

// msgrcv with `selector` (0 = the first message, T > 0 = the first of type T,
// T < 0 = the lowest type <= |T|), without waiting. Returns "type:text", or
// nothing if no message matches (ENOMSG).
std::optional<std::string> ReceiveTyped(int queue, long selector) {
  TypedMessage message{};
  for (;;) {
    ssize_t n =
        msgrcv(queue, &message, sizeof(message.text), selector, IPC_NOWAIT);
    if (n >= 0) {
      return std::to_string(message.mtype) + ":" +
             std::string(message.text, static_cast<std::size_t>(n));
    }
    if (errno == ENOMSG) return std::nullopt;
    if (errno != EINTR) Fail("msgrcv(" + std::to_string(selector) + ")");
  }
}

// A POSIX message queue made by this test, closed and unlinked (the creator's
// job) when the object goes away.
class PosixQueue {
 public:
  PosixQueue(std::string name, long max_messages, long message_size,
             int flags = 0)
      : name_(std::move(name)) {
    mq_attr attributes{};
    attributes.mq_maxmsg = max_messages;
    attributes.mq_msgsize = message_size;
    queue_ = mq_open(name_.c_str(), O_CREAT | O_EXCL | O_RDWR | flags, 0600,
                     &attributes);
    if (queue_ == static_cast<mqd_t>(-1)) Fail("mq_open(" + name_ + ")");
  }
  PosixQueue(const PosixQueue&) = delete;
  PosixQueue& operator=(const PosixQueue&) = delete;
  ~PosixQueue() {
    mq_close(queue_);
    mq_unlink(name_.c_str());
  }

  const std::string& name() const { return name_; }
  mqd_t get() const { return queue_; }

 private:
  std::string name_;
  mqd_t queue_;
};

// Receives one message from a POSIX queue, or nothing if it is empty and the
// descriptor is non-blocking. `priority` gets the message's priority.
std::optional<std::string> ReceiveFrom(mqd_t queue,
                                       unsigned* priority = nullptr) {
  mq_attr attributes{};
  if (mq_getattr(queue, &attributes) != 0) Fail("mq_getattr");
  std::string buffer(static_cast<std::size_t>(attributes.mq_msgsize), '\0');
  for (;;) {
    ssize_t n = mq_receive(queue, buffer.data(), buffer.size(), priority);
    if (n >= 0) {
      buffer.resize(static_cast<std::size_t>(n));
      return buffer;
    }
    if (errno == EAGAIN) return std::nullopt;
    if (errno != EINTR) Fail("mq_receive");
  }
}

void SendTo(mqd_t queue, std::string_view text, unsigned priority = 0) {
  while (mq_send(queue, text.data(), text.size(), priority) != 0) {
    if (errno != EINTR) Fail("mq_send");
  }
}

// Writes all of `data`, looping over short writes and EINTR; false on error.
bool WriteAllBytes(int fd, std::string_view data) {
  while (!data.empty()) {
    ssize_t n = write(fd, data.data(), data.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    data.remove_prefix(static_cast<std::size_t>(n));
  }
  return true;
}

// One read() of up to `limit` bytes (retried on EINTR).
std::string ReadOnce(int fd, std::size_t limit = 4096) {
  std::string data(limit, '\0');
  for (;;) {
    ssize_t n = read(fd, data.data(), data.size());
    if (n < 0 && errno == EINTR) continue;
    data.resize(n < 0 ? 0 : static_cast<std::size_t>(n));
    return data;
  }
}

// Waits for a child and returns its wait status, retrying on EINTR.
int WaitStatus(pid_t pid, int options = 0) {
  int status = 0;
  while (waitpid(pid, &status, options) < 0) {
    if (errno != EINTR) Fail("waitpid(" + std::to_string(pid) + ")");
  }
  return status;
}

// A file in Bazel's private TEST_TMPDIR (or /tmp) under a name unique to
// this run, removed when the object goes away. Only the path is made here.
class ScopedPath {
 public:
  explicit ScopedPath(std::string_view what) {
    const char* dir = std::getenv("TEST_TMPDIR");
    path_ = std::string(dir != nullptr ? dir : "/tmp") + kata::UniqueName(what);
  }
  ScopedPath(const ScopedPath&) = delete;
  ScopedPath& operator=(const ScopedPath&) = delete;
  ~ScopedPath() { unlink(path_.c_str()); }

  const char* c_str() const { return path_.c_str(); }

 private:
  std::string path_;
};

// The whole content of a file, read through a new descriptor of its own.
std::string FileText(const char* path) {
  std::ifstream file(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(file), {});
}

// Blocks `signals` in the calling thread while the object lives. A child
// forked meanwhile starts with them blocked, so that a signal sent to it
// waits, pending, until the child asks for it: never lost and never fatal
// before the child is ready. (Nothing here signals the test runner itself.)
class BlockedSignals {
 public:
  explicit BlockedSignals(std::initializer_list<int> signals) {
    sigset_t set;
    sigemptyset(&set);
    for (int signal : signals) sigaddset(&set, signal);
    pthread_sigmask(SIG_BLOCK, &set, &old_);
  }
  BlockedSignals(const BlockedSignals&) = delete;
  BlockedSignals& operator=(const BlockedSignals&) = delete;
  ~BlockedSignals() { pthread_sigmask(SIG_SETMASK, &old_, nullptr); }

 private:
  sigset_t old_;
};

sigset_t SetOf(std::initializer_list<int> signals) {
  sigset_t set;
  sigemptyset(&set);
  for (int signal : signals) sigaddset(&set, signal);
  return set;
}

// -------------------------------------------------- a child without syscalls

// What the errno of a forbidden system call is set to in such a child.
constexpr int kForbidden = ENOSYS;
constexpr int kNoFilter = 3;  // exit code: the filter could not be installed

// Installs a seccomp filter under which exit and exit_group are the only
// system calls left: every other one fails with kForbidden and does nothing.
bool ForbidSystemCalls() {
  sock_filter program[] = {
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, nr)),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_exit, 2, 0),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_exit_group, 1, 0),
      BPF_STMT(BPF_RET | BPF_K,
               SECCOMP_RET_ERRNO | (kForbidden & SECCOMP_RET_DATA)),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
  };
  sock_fprog filter{static_cast<unsigned short>(std::size(program)), program};
  // no_new_privs lets an unprivileged process install a filter.
  return prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0 &&
         prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &filter) == 0;
}

// Runs `body` in a forked child that may make no system call except exit, and
// returns the child's wait status. `body` must report only by storing into
// shared memory: printing, or a failing gtest assertion, would need write().
int RunWithoutSystemCalls(const std::function<void()>& body) {
  std::fflush(nullptr);
  const pid_t pid = fork();
  if (pid < 0) Fail("fork");
  if (pid == 0) {
    if (!ForbidSystemCalls()) _exit(kNoFilter);
    body();
    // The raw call: a sanitizer's _exit() hook might want system calls.
    syscall(SYS_exit_group, 0);
  }
  return WaitStatus(pid);
}

// What a child without system calls reports through shared memory.
struct SyscallReport {
  // A control that proves the filter was in force. Made through syscall(),
  // because glibc's getppid() assumes it cannot fail and never sets errno.
  long getppid_result;
  int getppid_errno;
  long write_result;
  int write_errno;
};

// ------------------------------------------------------------ ProcessFacts

int g_value = 1;  // an ordinary global variable: private to each process

// Tests that a forked child works on its own copy of memory: its write to a
// global variable, at the very same virtual address, never reaches the parent.
TEST(ProcessFacts, ChildWritesStayInTheChild) {
  struct Seen {
    int value;
    std::uintptr_t address;
  };
  Shared<Seen> seen;
  g_value = 1;
  kata::RunInChild([&] {
    g_value = 2;
    seen->value = g_value;
    seen->address = reinterpret_cast<std::uintptr_t>(&g_value);
  });
  EXPECT_EQ(seen->value, 2) << "the child sees its own write";
  EXPECT_EQ(seen->address, reinterpret_cast<std::uintptr_t>(&g_value))
      << "parent and child use the same virtual address for the variable";
  EXPECT_EQ(g_value, 1)
      << "the parent must not see the child's write: after fork each process "
         "has its own memory, so exchanging data needs the kernel (IPC)";
}

// Tests what fork() shares besides MAP_SHARED memory: the open file
// description behind each inherited descriptor, and with it the file offset.
// The child, then the parent, write through one descriptor opened without
// O_APPEND, and the parent's bytes land after the child's, not over them. The
// control: a descriptor from a second open() has its own offset (0) and
// overwrites.
TEST(ProcessFacts, ForkSharesTheFileOffset) {
  ScopedPath path("offset");
  ScopedFd fd(open(path.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
  ASSERT_GE(fd.get(), 0) << "open: " << std::strerror(errno);
  kata::RunInChild([&] { ASSERT_TRUE(WriteAllBytes(fd.get(), "child;")); });
  ASSERT_TRUE(WriteAllBytes(fd.get(), "parent;"));
  EXPECT_EQ(FileText(path.c_str()), "child;parent;")
      << "one offset, moved by both processes: neither write overwrote the "
         "other";
  ScopedFd separate(open(path.c_str(), O_WRONLY | O_CLOEXEC));
  ASSERT_GE(separate.get(), 0) << "open: " << std::strerror(errno);
  ASSERT_TRUE(WriteAllBytes(separate.get(), "OTHER;"));
  EXPECT_EQ(FileText(path.c_str()), "OTHER;parent;")
      << "control: another open() starts at offset 0 and overwrites";
}

// Tests that the shared open file description also holds the file status
// flags: the child makes its copy of a pipe's read end non-blocking
// (F_SETFL), and the parent's descriptor is non-blocking from then on.
TEST(ProcessFacts, ForkSharesFileStatusFlags) {
  int fds[2];
  ASSERT_EQ(pipe2(fds, O_CLOEXEC), 0) << std::strerror(errno);
  ScopedFd read_end(fds[0]), write_end(fds[1]);
  ASSERT_EQ(fcntl(read_end.get(), F_GETFL) & O_NONBLOCK, 0)
      << "control: a new pipe blocks";
  kata::RunInChild([&] {
    const int flags = fcntl(read_end.get(), F_GETFL);
    ASSERT_EQ(fcntl(read_end.get(), F_SETFL, flags | O_NONBLOCK), 0);
  });
  ASSERT_NE(fcntl(read_end.get(), F_GETFL) & O_NONBLOCK, 0)
      << "the child's F_SETFL changed the parent's descriptor too";
  char byte = 0;
  errno = 0;
  EXPECT_EQ(read(read_end.get(), &byte, 1), -1);
  EXPECT_EQ(errno, EAGAIN) << "the parent's read of the empty pipe no longer "
                              "waits";
}

// Tests that fork() shares a System V segment attached before it: the child
// never calls shmat, yet its stores through the inherited attachment reach
// the parent.
TEST(ProcessFacts, ForkSharesSystemVSegmentsAttachedBeforeIt) {
  const int id = shmget(IPC_PRIVATE, 4096, IPC_CREAT | 0600);
  ASSERT_GE(id, 0) << "shmget: " << std::strerror(errno);
  void* attached = shmat(id, nullptr, 0);
  shmctl(id, IPC_RMID, nullptr);  // gone once the last process detaches
  ASSERT_NE(attached, reinterpret_cast<void*>(-1)) << std::strerror(errno);
  char* memory = static_cast<char*>(attached);
  kata::RunInChild([&] { std::strcpy(memory, "through the inherited one"); });
  EXPECT_STREQ(memory, "through the inherited one")
      << "the child attached nothing itself";
  shmdt(attached);
}

// -------------------------------------------------------- SharedMemoryFacts

// Tests where a POSIX shared memory object lives once mapped: in the
// process's own address space, as a shared ('s') mapping of /dev/shm/<name>,
// listed in /proc/self/maps like any other user-space memory.
TEST(SharedMemoryFacts, MappingIsPartOfTheProcessAddressSpace) {
  PosixShm object(kata::UniqueName("maps"), 4096);
  Mapping mapping(4096, MAP_SHARED, object.fd(), object.name());
  const auto address = reinterpret_cast<std::uintptr_t>(mapping.data());

  std::ifstream maps("/proc/self/maps");
  std::string line, found;
  while (std::getline(maps, line)) {
    std::uintptr_t start = 0, end = 0;
    char dash = 0;
    std::istringstream fields(line);
    fields >> std::hex >> start >> dash >> end;
    if (start <= address && address < end) found = line;
  }
  ASSERT_FALSE(found.empty()) << "the mapping at 0x" << std::hex << address
                              << " should be listed in /proc/self/maps";
  std::istringstream fields(found);
  std::string range, permissions, offset, device, inode, path;
  fields >> range >> permissions >> offset >> device >> inode >> path;
  EXPECT_EQ(permissions, "rw-s")
      << "a MAP_SHARED mapping, readable and writable: " << found;
  EXPECT_EQ(path, "/dev/shm" + object.name())
      << "the mapping is backed by the object's file in /dev/shm: " << found;
}

// Tests why shared memory is fast: once mapped, data moves with plain loads
// and stores. A child that may make no system call at all (getppid() fails)
// still hands 4 KiB to its parent through a shared mapping.
TEST(SharedMemoryFacts, DataMovesWithoutSystemCalls) {
  kata::OnDeadlock("the child without system calls did not end");
  PosixShm object(kata::UniqueName("no-syscalls"), 4096);
  Mapping mapping(4096, MAP_SHARED, object.fd(), object.name());
  Shared<SyscallReport> report;
  std::string message(4096, '\0');
  for (std::size_t i = 0; i < message.size(); ++i) {
    message[i] = static_cast<char>('a' + i % 26);
  }

  const int status = RunWithoutSystemCalls([&] {
    errno = 0;
    report->getppid_result = syscall(SYS_getppid);
    report->getppid_errno = errno;
    std::memcpy(mapping.data(), message.data(), message.size());
  });
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0)
      << "the child should end normally (exit code " << kNoFilter
      << " means the seccomp filter could not be installed); status " << status;
  EXPECT_EQ(report->getppid_result, -1)
      << "control: getppid() must fail in the child, or the filter was off";
  EXPECT_EQ(report->getppid_errno, kForbidden);
  EXPECT_EQ(std::string(mapping.data(), message.size()), message)
      << "the child's stores should be in the parent's mapping, with no "
         "system call on the way";
}

// Tests that the kernel keeps a POSIX shared memory object, not a process:
// it outlives the process that created and filled it, until shm_unlink().
TEST(SharedMemoryFacts, ObjectOutlivesTheProcessThatMadeIt) {
  const std::string name = kata::UniqueName("persists");
  kata::RunInChild([&] {
    int fd = shm_open(name.c_str(), O_CREAT | O_EXCL | O_RDWR, 0600);
    ASSERT_GE(fd, 0) << "shm_open: " << std::strerror(errno);
    ASSERT_EQ(ftruncate(fd, 4096), 0);
    void* memory =
        mmap(nullptr, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    ASSERT_NE(memory, MAP_FAILED);
    std::memcpy(memory, "left behind", 12);
    munmap(memory, 4096);
    close(fd);  // the creator ends without shm_unlink()
  });
  struct stat st;
  ASSERT_EQ(stat(("/dev/shm" + name).c_str(), &st), 0)
      << "the object should still be in /dev/shm after its creator exited";
  ScopedFd fd(shm_open(name.c_str(), O_RDWR | O_CLOEXEC, 0));
  ASSERT_GE(fd.get(), 0) << "shm_open(" << name
                         << "): " << std::strerror(errno);
  {
    Mapping mapping(4096, MAP_SHARED, fd.get(), name);
    EXPECT_STREQ(mapping.data(), "left behind");
  }
  ASSERT_EQ(shm_unlink(name.c_str()), 0);
  errno = 0;
  EXPECT_EQ(shm_open(name.c_str(), O_RDONLY, 0), -1);
  EXPECT_EQ(errno, ENOENT) << "after shm_unlink() the name is gone";
}

// Tests where the memory of a POSIX shared memory object is: /dev/shm is a
// tmpfs, that is RAM of this one machine, not a disk or a network service.
TEST(SharedMemoryFacts, ObjectsLiveInThisMachinesMemory) {
  struct statfs fs;
  ASSERT_EQ(statfs("/dev/shm", &fs), 0) << std::strerror(errno);
  EXPECT_EQ(static_cast<unsigned long>(fs.f_type),
            static_cast<unsigned long>(TMPFS_MAGIC))
      << "/dev/shm should be a tmpfs (memory-backed file system)";
  PosixShm object(kata::UniqueName("tmpfs"), 4096);
  struct stat st;
  EXPECT_EQ(stat(("/dev/shm" + object.name()).c_str(), &st), 0)
      << "shm_open() names a file in that tmpfs";
}

// Tests the POSIX shared memory API (shm_open + mmap): a second process opens
// the object by name, maps it and writes; the parent sees the bytes.
TEST(SharedMemoryFacts, PosixSharedMemoryIsOneExample) {
  PosixShm object(kata::UniqueName("posix"), 4096);
  Mapping mapping(4096, MAP_SHARED, object.fd(), object.name());
  kata::RunInChild([&] {
    ScopedFd fd(shm_open(object.name().c_str(), O_RDWR, 0));
    ASSERT_GE(fd.get(), 0) << std::strerror(errno);
    Mapping own(4096, MAP_SHARED, fd.get(), "child's mapping");
    std::memcpy(own.data(), "posix shm", 10);
  });
  EXPECT_STREQ(mapping.data(), "posix shm");
}

// Tests the System V shared memory API (shmget + shmat), an older standard for
// the same model: the child attaches the segment by id and writes.
TEST(SharedMemoryFacts, SystemVSharedMemoryIsAnotherExample) {
  const int id =
      shmget(kata::UniqueSysvKey(), 4096, IPC_CREAT | IPC_EXCL | 0600);
  ASSERT_GE(id, 0) << "shmget: " << std::strerror(errno);
  void* memory = shmat(id, nullptr, 0);
  ASSERT_NE(memory, reinterpret_cast<void*>(-1)) << std::strerror(errno);
  kata::RunInChild([&] {
    void* own = shmat(id, nullptr, 0);
    ASSERT_NE(own, reinterpret_cast<void*>(-1)) << std::strerror(errno);
    std::memcpy(own, "system v shm", 13);
    shmdt(own);
  });
  EXPECT_STREQ(static_cast<char*>(memory), "system v shm");
  shmdt(memory);
  EXPECT_EQ(shmctl(id, IPC_RMID, nullptr), 0);
}

// Tests the third example: an anonymous MAP_SHARED mapping made before fork()
// is shared with the child, while a MAP_PRIVATE one is copied on write.
TEST(SharedMemoryFacts, SharedAnonymousMappingIsAThirdExample) {
  Mapping shared(4096, MAP_SHARED | MAP_ANONYMOUS, -1, "MAP_SHARED");
  Mapping private_copy(4096, MAP_PRIVATE | MAP_ANONYMOUS, -1, "MAP_PRIVATE");
  kata::RunInChild([&] {
    std::memcpy(shared.data(), "shared", 7);
    std::memcpy(private_copy.data(), "private", 8);
  });
  EXPECT_STREQ(shared.data(), "shared");
  EXPECT_STREQ(private_copy.data(), "")
      << "a MAP_PRIVATE mapping is copied on write: the child's bytes stay "
         "in the child";
}

// Tests that the kernel does not synchronise shared memory: a reader can see a
// record half written. The writer stops itself between the two halves
// (SIGSTOP), so the torn state is observed on every run, not by luck.
TEST(SharedMemoryFacts, ReaderCanSeeAHalfWrittenRecord) {
  kata::OnDeadlock("the writer child did not stop or did not resume");
  struct Record {
    char text[17];
  };
  Shared<Record> record;
  std::memcpy(record->text, "old-old-old-old-", 17);
  kata::Child writer([&] {
    std::memcpy(record->text, "NEW-NEW-", 8);
    raise(SIGSTOP);  // the parent looks now, between the two halves
    std::memcpy(record->text + 8, "NEW-NEW-", 8);
  });
  const int status = WaitStatus(writer.pid(), WUNTRACED);
  ASSERT_TRUE(WIFSTOPPED(status)) << "the writer should stop half way";
  EXPECT_EQ(std::string(record->text), "NEW-NEW-old-old-")
      << "the reader sees half the new record: nothing made it wait";
  kill(writer.pid(), SIGCONT);
  writer.Join();
  EXPECT_EQ(std::string(record->text), "NEW-NEW-NEW-NEW-");
}

// Tests the usual repair: a semaphore placed in the shared memory itself
// (sem_init with pshared = 1) makes two processes' increments exact.
TEST(SharedMemoryFacts, SemaphoreInTheSegmentMakesUpdatesExact) {
  kata::OnDeadlock("a process blocked in sem_wait() was never woken", 10s);
  constexpr long kRounds = 5000;
  struct Counter {
    sem_t lock;
    long value;
  };
  Shared<Counter> counter;
  ASSERT_EQ(sem_init(&counter->lock, /*pshared=*/1, 1), 0)
      << std::strerror(errno);
  auto increment = [&] {
    for (long i = 0; i < kRounds; ++i) {
      while (sem_wait(&counter->lock) != 0 && errno == EINTR) {
      }
      counter->value =
          counter->value + 1;  // read, add, write: a critical section
      sem_post(&counter->lock);
    }
  };
  kata::Child first(increment);
  kata::Child second(increment);
  first.Join();
  second.Join();
  EXPECT_EQ(counter->value, 2 * kRounds)
      << "with the semaphore held around each update, no update is lost";
  sem_destroy(&counter->lock);
}

// ------------------------------------------------------- MessagePassingFacts

// Tests why message passing costs more per message: each transfer is a system
// call. The same kind of child as in DataMovesWithoutSystemCalls cannot put a
// single byte into a pipe or a socket.
TEST(MessagePassingFacts, EveryTransferIsASystemCall) {
  kata::OnDeadlock("the child without system calls did not end");
  int pipe_fds[2];
  ASSERT_EQ(pipe2(pipe_fds, O_CLOEXEC), 0);
  ScopedFd pipe_read(pipe_fds[0]), pipe_write(pipe_fds[1]);
  int socket_fds[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, socket_fds), 0);
  ScopedFd socket_here(socket_fds[0]), socket_there(socket_fds[1]);
  Shared<SyscallReport> through_pipe, through_socket;

  const int status = RunWithoutSystemCalls([&] {
    errno = 0;
    through_pipe->getppid_result = syscall(SYS_getppid);
    through_pipe->getppid_errno = errno;
    errno = 0;
    through_pipe->write_result = write(pipe_write.get(), "x", 1);
    through_pipe->write_errno = errno;
    errno = 0;
    through_socket->write_result = write(socket_there.get(), "y", 1);
    through_socket->write_errno = errno;
  });
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0)
      << "the child should end normally; status " << status;
  EXPECT_EQ(through_pipe->getppid_result, -1)
      << "control: getppid() must fail in the child, or the filter was off";
  EXPECT_EQ(through_pipe->getppid_errno, kForbidden);
  EXPECT_EQ(through_pipe->write_result, -1);
  EXPECT_EQ(through_pipe->write_errno, kForbidden);
  EXPECT_EQ(through_socket->write_result, -1);
  EXPECT_EQ(through_socket->write_errno, kForbidden);
  int waiting = -1;
  ASSERT_EQ(ioctl(pipe_read.get(), FIONREAD, &waiting), 0);
  EXPECT_EQ(waiting, 0) << "nothing reached the pipe without write()";
  ASSERT_EQ(ioctl(socket_here.get(), FIONREAD, &waiting), 0);
  EXPECT_EQ(waiting, 0) << "nothing reached the socket without write()";
}

// Tests that a message queue keeps message boundaries: two sends are two
// receives, unlike a pipe's byte stream (PipeFacts.BytesHaveNoBoundaries).
TEST(MessagePassingFacts, QueueKeepsMessageBoundaries) {
  PosixQueue queue(kata::UniqueName("boundaries"), 4, 64, O_NONBLOCK);
  SendTo(queue.get(), "abc");
  SendTo(queue.get(), "def");
  EXPECT_EQ(ReceiveFrom(queue.get()), "abc");
  EXPECT_EQ(ReceiveFrom(queue.get()), "def");
  EXPECT_EQ(ReceiveFrom(queue.get()), std::nullopt);
}

// Tests indirect communication through a named mailbox: two senders and two
// receivers know only the queue's name, never each other's pids, and the
// kernel hands each message to exactly one receiver (which one is not fixed).
TEST(MessagePassingFacts, EachMessageGoesToExactlyOneReceiver) {
  kata::OnDeadlock("a sender or receiver blocked on the queue forever", 10s);
  constexpr int kPerSender = 10;
  PosixQueue queue(kata::UniqueName("mailbox"), 4, 32);
  kata::SharedText received_by[2];
  std::vector<kata::Child> receivers;
  for (int r = 0; r < 2; ++r) {
    receivers.emplace_back([&, r] {
      mqd_t own = mq_open(queue.name().c_str(), O_RDONLY);
      ASSERT_NE(own, static_cast<mqd_t>(-1)) << std::strerror(errno);
      for (;;) {
        std::optional<std::string> message = ReceiveFrom(own);
        ASSERT_TRUE(message.has_value());
        if (*message == "stop") break;
        received_by[r].Append(*message + "\n");
      }
      mq_close(own);
    });
  }
  std::vector<kata::Child> senders;
  for (int s = 0; s < 2; ++s) {
    senders.emplace_back([&, s] {
      mqd_t own = mq_open(queue.name().c_str(), O_WRONLY);
      ASSERT_NE(own, static_cast<mqd_t>(-1)) << std::strerror(errno);
      for (int i = 0; i < kPerSender; ++i) {
        SendTo(own, "sender" + std::to_string(s) + "-" + std::to_string(i));
      }
      mq_close(own);
    });
  }
  for (kata::Child& sender : senders) sender.Join();
  // Every message is queued now, ahead of the two stops (FIFO within one
  // priority), so each receiver stops only after the data is all taken.
  SendTo(queue.get(), "stop");
  SendTo(queue.get(), "stop");
  for (kata::Child& receiver : receivers) receiver.Join();

  std::map<std::string, int> times;
  for (const kata::SharedText& text : received_by) {
    std::istringstream lines(text.Load());
    for (std::string line; std::getline(lines, line);) ++times[line];
  }
  EXPECT_EQ(times.size(), 2u * kPerSender) << "every message arrives";
  for (const auto& [message, count] : times) {
    EXPECT_EQ(count, 1) << message << " should be received exactly once";
  }
}

// Tests what the kernel does not do for message passing: flow control is
// blocking. A full queue (here 4 messages) refuses a non-blocking send with
// EAGAIN and puts a blocking sender to sleep until a receiver makes room.
TEST(MessagePassingFacts, FullQueueBlocksTheSender) {
  kata::OnDeadlock("the sender was not woken after a message was received");
  PosixQueue queue(kata::UniqueName("full"), 4, 32, O_NONBLOCK);
  for (int i = 0; i < 4; ++i) SendTo(queue.get(), "filler");
  errno = 0;
  EXPECT_EQ(mq_send(queue.get(), "more", 4, 0), -1);
  EXPECT_EQ(errno, EAGAIN) << "a non-blocking send to a full queue fails";

  kata::Child sender([&] {
    mqd_t blocking = mq_open(queue.name().c_str(), O_WRONLY);
    ASSERT_NE(blocking, static_cast<mqd_t>(-1)) << std::strerror(errno);
    SendTo(blocking, "late");  // sleeps until the parent receives
    mq_close(blocking);
  });
  ASSERT_TRUE(kata::WaitUntilBlocked(sender.pid()))
      << "the blocking sender should be asleep in mq_send()";
  EXPECT_EQ(kata::ProcessState(sender.pid()), 'S');
  EXPECT_EQ(ReceiveFrom(queue.get()), "filler");
  sender.Join();
  for (int i = 0; i < 3; ++i) EXPECT_EQ(ReceiveFrom(queue.get()), "filler");
  EXPECT_EQ(ReceiveFrom(queue.get()), "late");
}

// Tests a synchronisation problem left to the application: on a shared reply
// queue, a client that receives "any message" can take another client's
// reply. Receiving by type (reply type = client id) fixes it.
TEST(MessagePassingFacts, UntypedReceiveCanTakeAnotherClientsReply) {
  SysvQueue queue;
  constexpr long kClientA = 101, kClientB = 202;
  SendTyped(queue.id(), kClientA, "reply for A");  // the server answers A
  kata::RunInChild([&] {
    // Client B asks for its own type: A's reply is left alone.
    EXPECT_EQ(ReceiveTyped(queue.id(), kClientB), std::nullopt);
    // Client B takes "whatever is there" and steals A's reply.
    EXPECT_EQ(ReceiveTyped(queue.id(), 0), "101:reply for A");
  });
  EXPECT_EQ(ReceiveTyped(queue.id(), kClientA), std::nullopt)
      << "A's reply is gone: the kernel delivered it to B";
}

// Tests kernel persistence of a message queue: a message sent by a process
// that has since exited is still there for a later receiver.
TEST(MessagePassingFacts, QueueOutlivesItsSender) {
  SysvQueue queue;
  kata::RunInChild([&] {
    const int id = msgget(queue.key(), 0);  // found by key alone
    ASSERT_EQ(id, queue.id());
    SendTyped(id, 1, "sent before exiting");
  });
  EXPECT_EQ(ReceiveTyped(queue.id(), 0), "1:sent before exiting");
}

// ---------------------------------------------------------- SysvQueueFacts

// Tests that mtype is a label, not a sequence number: types may repeat and
// come in any order, and receiving "any type" (0) returns arrival order.
TEST(SysvQueueFacts, TypeIsALabelNotASequenceNumber) {
  SysvQueue queue;
  for (const auto& [type, text] : std::vector<std::pair<long, std::string>>{
           {3, "first"}, {1, "second"}, {3, "third"}, {2, "fourth"}}) {
    SendTyped(queue.id(), type, text);
  }
  EXPECT_EQ(ReceiveTyped(queue.id(), 0), "3:first");
  EXPECT_EQ(ReceiveTyped(queue.id(), 0), "1:second");
  EXPECT_EQ(ReceiveTyped(queue.id(), 0), "3:third");
  EXPECT_EQ(ReceiveTyped(queue.id(), 0), "2:fourth");
}

// Tests selective receive: msgtyp T > 0 takes the first message of type T
// even when other messages are ahead of it; they stay queued.
TEST(SysvQueueFacts, PositiveTypeSelectsThatType) {
  SysvQueue queue;
  SendTyped(queue.id(), 1, "one");
  SendTyped(queue.id(), 2, "two");
  EXPECT_EQ(ReceiveTyped(queue.id(), 2), "2:two");
  EXPECT_EQ(ReceiveTyped(queue.id(), 2), std::nullopt);
  EXPECT_EQ(ReceiveTyped(queue.id(), 0), "1:one");
}

// Tests msgtyp T < 0: the message with the lowest type <= |T| comes first,
// which turns types into priorities where low numbers win.
TEST(SysvQueueFacts, NegativeTypeTakesTheLowestTypeFirst) {
  SysvQueue queue;
  SendTyped(queue.id(), 3, "three");
  SendTyped(queue.id(), 2, "two");
  SendTyped(queue.id(), 5, "five");
  SendTyped(queue.id(), 1, "one");
  EXPECT_EQ(ReceiveTyped(queue.id(), -3), "1:one");
  EXPECT_EQ(ReceiveTyped(queue.id(), -3), "2:two");
  EXPECT_EQ(ReceiveTyped(queue.id(), -3), "3:three");
  EXPECT_EQ(ReceiveTyped(queue.id(), -3), std::nullopt) << "5 is above 3";
  EXPECT_EQ(ReceiveTyped(queue.id(), 0), "5:five");
}

// Tests that a type must be positive: msgsnd with mtype 0 fails with EINVAL.
TEST(SysvQueueFacts, TypeMustBePositive) {
  SysvQueue queue;
  TypedMessage message{0, "zero"};
  errno = 0;
  EXPECT_EQ(msgsnd(queue.id(), &message, 4, IPC_NOWAIT), -1);
  EXPECT_EQ(errno, EINVAL);
}

// Tests that a System V key names a queue in one kernel's table only: a
// process in a new IPC namespace (a container, say) cannot find it.
TEST(SysvQueueFacts, KeyMeansNothingInAnotherIpcNamespace) {
  SysvQueue queue;
  kata::RunInChild([&] {
    ASSERT_EQ(msgget(queue.key(), 0), queue.id()) << "found before unshare";
    // A new user namespace lets an unprivileged process make the IPC one.
    ASSERT_EQ(unshare(CLONE_NEWUSER | CLONE_NEWIPC), 0)
        << "unshare(CLONE_NEWUSER | CLONE_NEWIPC): " << std::strerror(errno);
    errno = 0;
    EXPECT_EQ(msgget(queue.key(), 0), -1);
    EXPECT_EQ(errno, ENOENT) << "the key is unknown in the new namespace";
  });
  EXPECT_EQ(msgget(queue.key(), 0), queue.id()) << "still there for us";
}

// --------------------------------------------------------- PosixQueueFacts

// Tests POSIX queue order: the highest priority first, and arrival order
// among messages of equal priority. POSIX queues have no types to select by.
TEST(PosixQueueFacts, HighestPriorityComesFirst) {
  PosixQueue queue(kata::UniqueName("priority"), 4, 32, O_NONBLOCK);
  SendTo(queue.get(), "low-1", 1);
  SendTo(queue.get(), "high", 9);
  SendTo(queue.get(), "low-2", 1);
  SendTo(queue.get(), "middle", 5);
  unsigned priority = 0;
  EXPECT_EQ(ReceiveFrom(queue.get(), &priority), "high");
  EXPECT_EQ(priority, 9u);
  EXPECT_EQ(ReceiveFrom(queue.get(), &priority), "middle");
  EXPECT_EQ(ReceiveFrom(queue.get(), &priority), "low-1");
  EXPECT_EQ(ReceiveFrom(queue.get(), &priority), "low-2");
}

// Tests kernel persistence of a POSIX queue: its creator sends a message and
// exits without mq_unlink(); the queue and the message stay, found by name.
TEST(PosixQueueFacts, QueueOutlivesItsCreator) {
  const std::string name = kata::UniqueName("persists");
  kata::RunInChild([&] {
    mq_attr attributes{};
    attributes.mq_maxmsg = 4;
    attributes.mq_msgsize = 32;
    mqd_t queue =
        mq_open(name.c_str(), O_CREAT | O_EXCL | O_WRONLY, 0600, &attributes);
    ASSERT_NE(queue, static_cast<mqd_t>(-1)) << std::strerror(errno);
    SendTo(queue, "still here");
    mq_close(queue);  // the creator ends without mq_unlink()
  });
  mqd_t queue = mq_open(name.c_str(), O_RDONLY | O_NONBLOCK);
  ASSERT_NE(queue, static_cast<mqd_t>(-1))
      << "mq_open(" << name << "): " << std::strerror(errno);
  EXPECT_EQ(ReceiveFrom(queue), "still here");
  mq_close(queue);
  EXPECT_EQ(mq_unlink(name.c_str()), 0) << "the name stays until mq_unlink()";
}

// Tests that a POSIX queue is always bounded: a capacity of zero messages (a
// rendezvous) is refused with EINVAL, so a rendezvous must be built on top.
TEST(PosixQueueFacts, CapacityCannotBeZero) {
  const std::string name = kata::UniqueName("zero");
  mq_attr attributes{};
  attributes.mq_maxmsg = 0;
  attributes.mq_msgsize = 32;
  errno = 0;
  EXPECT_EQ(mq_open(name.c_str(), O_CREAT | O_EXCL | O_RDWR, 0600, &attributes),
            static_cast<mqd_t>(-1));
  EXPECT_EQ(errno, EINVAL);
}

// Tests that on Linux a POSIX queue descriptor is a file descriptor that
// poll() watches: it reports POLLIN once a message is waiting. (Not
// portable; a System V queue id is no descriptor at all.)
TEST(PosixQueueFacts, DescriptorCanBePolledOnLinux) {
  PosixQueue queue(kata::UniqueName("poll"), 4, 32, O_NONBLOCK);
  pollfd watch{static_cast<int>(queue.get()), POLLIN, 0};
  EXPECT_EQ(poll(&watch, 1, 0), 0) << "an empty queue is not readable";
  SendTo(queue.get(), "ready");
  watch.revents = 0;
  EXPECT_EQ(poll(&watch, 1, 0), 1);
  EXPECT_TRUE(watch.revents & POLLIN) << "a waiting message makes it readable";
}

// Tests that POSIX queues, like System V objects, belong to an IPC namespace
// (each one has its own mqueue file system): a process in a new IPC
// namespace cannot open the queue by its name.
TEST(PosixQueueFacts, NameMeansNothingInAnotherIpcNamespace) {
  PosixQueue queue(kata::UniqueName("namespace"), 4, 32);
  kata::RunInChild([&] {
    mqd_t own = mq_open(queue.name().c_str(), O_RDONLY);
    ASSERT_NE(own, static_cast<mqd_t>(-1)) << "found before unshare";
    mq_close(own);
    ASSERT_EQ(unshare(CLONE_NEWUSER | CLONE_NEWIPC), 0)
        << "unshare(CLONE_NEWUSER | CLONE_NEWIPC): " << std::strerror(errno);
    errno = 0;
    EXPECT_EQ(mq_open(queue.name().c_str(), O_RDONLY), static_cast<mqd_t>(-1));
    EXPECT_EQ(errno, ENOENT) << "the name is unknown in the new namespace";
  });
}

// ------------------------------------------------------------- SocketFacts

// An IPv4 UDP socket bound to 127.0.0.1 on a port the kernel picks.
ScopedFd BoundUdpSocket() {
  int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) Fail("socket(AF_INET, SOCK_DGRAM)");
  ScopedFd socket_fd(fd);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = 0;
  if (bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0) {
    Fail("bind(127.0.0.1:0)");
  }
  return socket_fd;
}

sockaddr_in LocalAddress(int fd) {
  sockaddr_in address{};
  socklen_t length = sizeof(address);
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
    Fail("getsockname");
  }
  return address;
}

std::string Text(const sockaddr_in& address) {
  char host[INET_ADDRSTRLEN] = {};
  inet_ntop(AF_INET, &address.sin_addr, host, sizeof(host));
  return std::string(host) + ":" + std::to_string(ntohs(address.sin_port));
}

// Receives one datagram (waiting for it) and tells who sent it.
std::string ReceiveDatagram(int fd, sockaddr_in* sender = nullptr) {
  char buffer[256];
  sockaddr_in from{};
  socklen_t length = sizeof(from);
  ssize_t n;
  do {
    n = recvfrom(fd, buffer, sizeof(buffer), 0,
                 reinterpret_cast<sockaddr*>(&from), &length);
  } while (n < 0 && errno == EINTR);
  if (n < 0) Fail("recvfrom");
  if (sender != nullptr) *sender = from;
  return std::string(buffer, static_cast<std::size_t>(n));
}

void SendDatagram(int fd, std::string_view text, const sockaddr_in& to) {
  if (sendto(fd, text.data(), text.size(), 0,
             reinterpret_cast<const sockaddr*>(&to),
             sizeof(to)) != static_cast<ssize_t>(text.size())) {
    Fail("sendto(" + Text(to) + ")");
  }
}

// Tests that UDP is used through the socket API (SOCK_DGRAM), and that each
// datagram arrives as one message: boundaries are kept.
TEST(SocketFacts, UdpIsUsedThroughASocket) {
  kata::OnDeadlock("a UDP datagram on 127.0.0.1 never arrived");
  ScopedFd receiver = BoundUdpSocket();
  ScopedFd sender = BoundUdpSocket();
  const sockaddr_in to = LocalAddress(receiver.get());
  SendDatagram(sender.get(), "abc", to);
  SendDatagram(sender.get(), "def", to);
  EXPECT_EQ(ReceiveDatagram(receiver.get()), "abc");
  EXPECT_EQ(ReceiveDatagram(receiver.get()), "def");
}

// Tests what UDP lets the application choose: the destination of each
// datagram (sendto), not the route to it. One socket talks to two peers.
TEST(SocketFacts, SenderNamesTheDestinationOfEachDatagram) {
  kata::OnDeadlock("a UDP datagram on 127.0.0.1 never arrived");
  ScopedFd first = BoundUdpSocket();
  ScopedFd second = BoundUdpSocket();
  ScopedFd sender = BoundUdpSocket();
  SendDatagram(sender.get(), "to first", LocalAddress(first.get()));
  SendDatagram(sender.get(), "to second", LocalAddress(second.get()));
  EXPECT_EQ(ReceiveDatagram(first.get()), "to first");
  EXPECT_EQ(ReceiveDatagram(second.get()), "to second");
}

// Tests who decides how a datagram leaves: connect() on a UDP socket sends
// nothing, yet the kernel has already picked the local address and port from
// its routing table; the peer sees exactly that address as the sender.
TEST(SocketFacts, KernelPicksTheSourceAddressAndPort) {
  kata::OnDeadlock("a UDP datagram on 127.0.0.1 never arrived");
  ScopedFd receiver = BoundUdpSocket();
  ScopedFd sender(socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  ASSERT_GE(sender.get(), 0);
  const sockaddr_in to = LocalAddress(receiver.get());
  ASSERT_EQ(
      connect(sender.get(), reinterpret_cast<const sockaddr*>(&to), sizeof(to)),
      0)
      << std::strerror(errno);
  const sockaddr_in chosen = LocalAddress(sender.get());
  EXPECT_EQ(ntohl(chosen.sin_addr.s_addr), INADDR_LOOPBACK)
      << "the route to 127.0.0.1 goes out through lo, source 127.0.0.1";
  EXPECT_NE(chosen.sin_port, 0) << "the kernel picked an ephemeral port";
  ASSERT_EQ(send(sender.get(), "hi", 2, 0), 2);
  sockaddr_in seen{};
  EXPECT_EQ(ReceiveDatagram(receiver.get(), &seen), "hi");
  EXPECT_EQ(Text(seen), Text(chosen));
}

// Tests that a Unix-domain socket is addressed by a path on this machine (a
// socket file), with no host in the address, and carries data between two
// processes that know only that path.
TEST(SocketFacts, UnixSocketIsNamedByAPathOnThisMachine) {
  const std::string path = kata::UniqueSocketPath("overview");
  // Non-blocking, so that accept() reports a missing client instead of hanging.
  ScopedFd server(
      socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  ASSERT_GE(server.get(), 0);
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  ASSERT_LT(path.size(), sizeof(address.sun_path));
  std::memcpy(address.sun_path, path.c_str(), path.size() + 1);
  ASSERT_EQ(bind(server.get(), reinterpret_cast<sockaddr*>(&address),
                 sizeof(address)),
            0)
      << "bind(" << path << "): " << std::strerror(errno);
  ASSERT_EQ(listen(server.get(), 1), 0);
  struct stat st;
  ASSERT_EQ(stat(path.c_str(), &st), 0);
  EXPECT_TRUE(S_ISSOCK(st.st_mode)) << path << " should be a socket file";

  // The client connects, writes and exits before the server accepts: the
  // kernel queues the connection and its bytes until accept().
  kata::RunInChild([&] {
    ScopedFd own(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    ASSERT_GE(own.get(), 0) << "socket: " << std::strerror(errno);
    sockaddr_un to{};
    to.sun_family = AF_UNIX;
    std::memcpy(to.sun_path, path.c_str(), path.size() + 1);
    ASSERT_EQ(connect(own.get(), reinterpret_cast<sockaddr*>(&to), sizeof(to)),
              0)
        << "connect(" << path << "): " << std::strerror(errno);
    ASSERT_TRUE(WriteAllBytes(own.get(), "over a path"));
  });
  ScopedFd connection(accept4(server.get(), nullptr, nullptr, SOCK_CLOEXEC));
  ASSERT_GE(connection.get(), 0) << "accept4: " << std::strerror(errno);
  EXPECT_EQ(ReadOnce(connection.get()), "over a path");
  connection.Reset();
  server.Reset();
  EXPECT_EQ(stat(path.c_str(), &st), 0)
      << "closing every socket does not remove the socket file";
  EXPECT_EQ(unlink(path.c_str()), 0) << "the socket file stays until unlinked";
}

// Tests what a Unix-domain socket offers that a pipe does not: the kernel
// tells each side who the peer is (SO_PEERCRED: pid, uid, gid).
TEST(SocketFacts, UnixSocketTellsWhoThePeerIs) {
  int fds[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), 0);
  ScopedFd here(fds[0]), there(fds[1]);
  Shared<ucred> seen_by_child;
  kata::RunInChild([&] {
    ucred peer{};
    socklen_t length = sizeof(peer);
    ASSERT_EQ(getsockopt(there.get(), SOL_SOCKET, SO_PEERCRED, &peer, &length),
              0)
        << std::strerror(errno);
    *seen_by_child = peer;
  });
  EXPECT_EQ(seen_by_child->pid, getpid())
      << "the child learns the pid of the process that made the pair";
  EXPECT_EQ(seen_by_child->uid, getuid());
}

// Tests that a stream socket, like a pipe, keeps no message boundaries: two
// sends come out of one read.
TEST(SocketFacts, StreamSocketKeepsNoMessageBoundaries) {
  int fds[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), 0);
  ScopedFd one(fds[0]), other(fds[1]);
  ASSERT_TRUE(WriteAllBytes(one.get(), "abc"));
  ASSERT_TRUE(WriteAllBytes(one.get(), "def"));
  EXPECT_EQ(ReadOnce(other.get()), "abcdef");
}

// Tests that SOCK_SEQPACKET keeps each send as one message: two sends, two
// reads, even when the reader asks for more bytes.
TEST(SocketFacts, SeqpacketSocketKeepsMessageBoundaries) {
  int fds[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, fds), 0);
  ScopedFd one(fds[0]), other(fds[1]);
  ASSERT_EQ(write(one.get(), "abc", 3), 3);
  ASSERT_EQ(write(one.get(), "def", 3), 3);
  EXPECT_EQ(ReadOnce(other.get()), "abc");
  EXPECT_EQ(ReadOnce(other.get()), "def");
}

// ---------------------------------------------------------- SignalIpcFacts

// Tests all the data one signal can carry: sigqueue() attaches a single
// integer (or pointer-sized) value, and the kernel adds the sender's pid.
TEST(SignalIpcFacts, SigqueueCarriesOneValueAndTheSendersPid) {
  kata::OnDeadlock("the receiver never got the queued signal");
  BlockedSignals blocked({SIGRTMIN});
  kata::SharedText received;
  kata::Child receiver([&] {
    const sigset_t wanted = SetOf({SIGRTMIN});
    siginfo_t info{};
    const timespec limit{5, 0};
    ASSERT_EQ(sigtimedwait(&wanted, &info, &limit), SIGRTMIN)
        << "sigtimedwait: " << std::strerror(errno);
    received.Store(std::to_string(info.si_value.sival_int) + " from " +
                   std::to_string(info.si_pid) +
                   (info.si_code == SI_QUEUE ? " by sigqueue" : ""));
  });
  ASSERT_TRUE(kata::WaitUntilBlocked(receiver.pid()));
  sigval value{};
  value.sival_int = 42;
  ASSERT_EQ(sigqueue(receiver.pid(), SIGRTMIN, value), 0)
      << std::strerror(errno);
  receiver.Join();
  EXPECT_EQ(received.Load(),
            "42 from " + std::to_string(getpid()) + " by sigqueue");
}

// Tests why signals are no data channel: a standard signal sent three times
// while it is blocked is pending once (the later ones merge into it, values
// lost), while a real-time signal queues every send, value and all. The
// receiver takes what is pending only after all six sends.
TEST(SignalIpcFacts, StandardSignalsMergeRealTimeSignalsQueue) {
  kata::OnDeadlock("the receiver never got the go-ahead through its pipe");
  int fds[2];
  ASSERT_EQ(pipe2(fds, O_CLOEXEC), 0) << std::strerror(errno);
  ScopedFd go_read(fds[0]), go_write(fds[1]);
  BlockedSignals blocked({SIGUSR1, SIGRTMIN});
  kata::SharedText received;
  kata::Child receiver([&] {
    go_write.Reset();
    ASSERT_EQ(ReadOnce(go_read.get(), 1), "g") << "the go-ahead";
    const sigset_t both = SetOf({SIGUSR1, SIGRTMIN});
    const timespec now{0, 0};  // take only what is already pending
    int standard = 0;
    std::string real_time_values;
    siginfo_t info{};
    for (int signal; (signal = sigtimedwait(&both, &info, &now)) > 0;) {
      if (signal == SIGUSR1) ++standard;
      if (signal == SIGRTMIN) {
        real_time_values += std::to_string(info.si_value.sival_int);
      }
    }
    received.Store("SIGUSR1 x" + std::to_string(standard) + ", SIGRTMIN " +
                   real_time_values);
  });
  ASSERT_TRUE(kata::WaitUntilBlocked(receiver.pid()));
  for (int i = 1; i <= 3; ++i) {
    sigval value{};
    value.sival_int = i;
    ASSERT_EQ(sigqueue(receiver.pid(), SIGUSR1, value), 0);
    ASSERT_EQ(sigqueue(receiver.pid(), SIGRTMIN, value), 0);
  }
  ASSERT_TRUE(WriteAllBytes(go_write.get(), "g"));
  receiver.Join();
  EXPECT_EQ(received.Load(), "SIGUSR1 x1, SIGRTMIN 123")
      << "three SIGUSR1 arrive as one; the real-time ones queue in order";
}

int g_self_pipe_write = -1;  // the handler's only state: one descriptor

// The self-pipe handler does one async-signal-safe thing, write(), and keeps
// errno as it found it for the code it interrupted.
void WriteToSelfPipe(int) {
  const int saved = errno;
  const ssize_t ignored = write(g_self_pipe_write, "s", 1);
  static_cast<void>(ignored);  // a full pipe already says "a signal came"
  errno = saved;
}

// Tests the self-pipe pattern: the handler only writes a byte to a
// non-blocking pipe, and the main loop, asleep in poll(), finds the pipe
// readable and does the real work outside the handler. A signal that comes
// just before poll() is not missed: its byte is already waiting.
TEST(SignalIpcFacts, SelfPipeTurnsASignalIntoReadableData) {
  kata::OnDeadlock("the signal never made the self-pipe readable");
  BlockedSignals blocked({SIGUSR1});
  kata::SharedText seen;
  kata::Child loop([&] {
    int fds[2];
    ASSERT_EQ(pipe2(fds, O_CLOEXEC | O_NONBLOCK), 0) << std::strerror(errno);
    g_self_pipe_write = fds[1];
    struct sigaction action{};
    action.sa_handler = WriteToSelfPipe;
    sigemptyset(&action.sa_mask);
    ASSERT_EQ(sigaction(SIGUSR1, &action, nullptr), 0);
    const sigset_t usr1 = SetOf({SIGUSR1});
    sigprocmask(SIG_UNBLOCK, &usr1, nullptr);  // the handler is in place
    pollfd watch{fds[0], POLLIN, 0};
    int ready;
    while ((ready = poll(&watch, 1, 5000)) < 0 && errno == EINTR) {
    }
    ASSERT_EQ(ready, 1) << "poll: " << std::strerror(errno);
    char byte = 0;
    ASSERT_EQ(read(fds[0], &byte, 1), 1);
    seen.Store(std::string("woken by the byte ") + byte);
  });
  ASSERT_TRUE(kata::WaitUntilBlocked(loop.pid()));
  ASSERT_EQ(kill(loop.pid(), SIGUSR1), 0);
  loop.Join();
  EXPECT_EQ(seen.Load(), "woken by the byte s");
}

// Tests signalfd (Linux): with the signal blocked, a signalfd descriptor
// turns each pending signal into a read() of a struct that holds the signal,
// the sender's pid and the sigqueue value, and it can wait in poll() beside
// pipes and sockets. No handler runs at all.
TEST(SignalIpcFacts, SignalfdReadsASignalAsData) {
  kata::OnDeadlock("the signalfd reader never got the signal");
  BlockedSignals blocked({SIGRTMIN});
  kata::SharedText seen;
  kata::Child reader([&] {
    const sigset_t wanted = SetOf({SIGRTMIN});
    ScopedFd fd(signalfd(-1, &wanted, SFD_CLOEXEC));
    ASSERT_GE(fd.get(), 0) << "signalfd: " << std::strerror(errno);
    signalfd_siginfo info{};
    ASSERT_EQ(read(fd.get(), &info, sizeof(info)),
              static_cast<ssize_t>(sizeof(info)))
        << std::strerror(errno);
    seen.Store("signal " +
               std::string(static_cast<int>(info.ssi_signo) == SIGRTMIN
                               ? "SIGRTMIN"
                               : std::to_string(info.ssi_signo)) +
               ", value " + std::to_string(info.ssi_int) + ", from " +
               std::to_string(info.ssi_pid));
  });
  ASSERT_TRUE(kata::WaitUntilBlocked(reader.pid()));
  sigval value{};
  value.sival_int = 7;
  ASSERT_EQ(sigqueue(reader.pid(), SIGRTMIN, value), 0);
  reader.Join();
  EXPECT_EQ(seen.Load(),
            "signal SIGRTMIN, value 7, from " + std::to_string(getpid()));
}

}  // namespace
