// Proves the support library's toolkit does what kata tests rely on: every
// interposed call is counted under its own name, injected faults change
// exactly the calls they name (in the runner and in children), signal state
// is captured and checked, busy waiting and idle waiting are told apart,
// descriptor kinds are named right, and snapshots find leaks.

#include <fcntl.h>
#include <mqueue.h>
#include <poll.h>
#include <semaphore.h>
#include <signal.h>
#include <spawn.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/ipc.h>
#include <sys/mman.h>
#include <sys/msg.h>
#include <sys/select.h>
#include <sys/sem.h>
#include <sys/shm.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest-spi.h"
#include "gtest/gtest.h"
#include "tests/support/internal.h"
#include "tests/support/kata.h"

extern char** environ;

namespace {

using ::testing::HasSubstr;

// The test's own cleanup goes straight to the kernel, so that it moves no
// counter and no armed fault can touch it.
void RawClose(int fd) { syscall(SYS_close, fd); }
void RawReap(pid_t pid) { syscall(SYS_wait4, pid, nullptr, 0, nullptr); }

struct RawPipe {
  int fds[2] = {-1, -1};
  RawPipe() {
    if (syscall(SYS_pipe2, fds, O_CLOEXEC) != 0) {
      throw std::system_error(errno, std::generic_category(), "pipe2");
    }
  }
  ~RawPipe() {
    if (fds[0] >= 0) RawClose(fds[0]);
    if (fds[1] >= 0) RawClose(fds[1]);
  }
  int read_end() const { return fds[0]; }
  int write_end() const { return fds[1]; }
};

// ================================================================ counting

// One harmless call per interposed name: most fail at once on a bad argument.
struct Probe {
  std::string_view name;
  std::function<void()> call;
};

std::vector<Probe> Probes(sem_t* local) {
  const char* missing = "/kata-no-such-object";
  static char* const no_args[] = {const_cast<char*>("kata-no-such-program"),
                                  nullptr};
  return {
      {"pipe",
       [] {
         int fds[2];
         if (pipe(fds) == 0) RawClose(fds[0]), RawClose(fds[1]);
       }},
      {"pipe2",
       [] {
         int fds[2];
         if (pipe2(fds, O_CLOEXEC) == 0) RawClose(fds[0]), RawClose(fds[1]);
       }},
      {"fork",
       [] {
         pid_t pid = fork();
         if (pid == 0) syscall(SYS_exit_group, 0);
         RawReap(pid);
       }},
      {"_exit",
       [] {
         // A raw fork, so that only the child's _exit counts.
         pid_t pid = static_cast<pid_t>(syscall(SYS_fork));
         if (pid == 0) _exit(0);
         RawReap(pid);
       }},
      {"socketpair",
       [] {
         int fds[2];
         if (socketpair(AF_UNIX, SOCK_STREAM, 0, fds) == 0) {
           RawClose(fds[0]);
           RawClose(fds[1]);
         }
       }},
      {"socket",
       [] {
         int fd = socket(AF_UNIX, SOCK_STREAM, 0);
         if (fd >= 0) RawClose(fd);
       }},
      {"mkfifo", [] { mkfifo("", 0600); }},
      {"posix_spawn",
       [] {
         pid_t pid;
         if (posix_spawn(&pid, "/kata-no-such-program", nullptr, nullptr,
                         no_args, environ) == 0) {
           RawReap(pid);
         }
       }},
      {"posix_spawnp",
       [] {
         pid_t pid;
         if (posix_spawnp(&pid, "kata-no-such-program", nullptr, nullptr,
                          no_args, environ) == 0) {
           RawReap(pid);
         }
       }},
      {"execve", [] { execve("/kata-no-such-program", no_args, environ); }},
      {"execv", [] { execv("/kata-no-such-program", no_args); }},
      {"execvp", [] { execvp("kata-no-such-program", no_args); }},
      {"execvpe", [] { execvpe("kata-no-such-program", no_args, environ); }},
      {"execl",
       [] {
         execl("/kata-no-such-program", "kata-no-such-program",
               static_cast<char*>(nullptr));
       }},
      {"execlp",
       [] {
         execlp("kata-no-such-program", "kata-no-such-program",
                static_cast<char*>(nullptr));
       }},
      {"open", [] { open("/kata-no-such-file", O_RDONLY); }},
      {"openat", [] { openat(AT_FDCWD, "/kata-no-such-file", O_RDONLY); }},
      {"creat", [] { creat("", 0600); }},
      {"memfd_create", [] { memfd_create("kata", ~0u); }},
      {"eventfd", [] { eventfd(0, -1); }},
      {"mkstemp",
       [] {
         char pattern[] = "no-placeholder";
         mkstemp(pattern);
       }},
      {"mkostemp",
       [] {
         char pattern[] = "no-placeholder";
         mkostemp(pattern, 0);
       }},
      {"tmpfile",
       [] {
         if (FILE* file = tmpfile()) std::fclose(file);
       }},
      {"dup", [] { dup(-1); }},
      {"dup2", [] { dup2(-1, -1); }},
      {"dup3", [] { dup3(-1, -1, 0); }},
      {"fcntl", [] { fcntl(-1, F_GETFD); }},
      {"close", [] { close(-1); }},
      {"read",
       [] {
         char b;
         (void)!read(-1, &b, 1);
       }},
      {"readv",
       [] {
         char b;
         iovec v{&b, 1};
         (void)!readv(-1, &v, 1);
       }},
      {"recv",
       [] {
         char b;
         recv(-1, &b, 1, 0);
       }},
      {"recvfrom",
       [] {
         char b;
         recvfrom(-1, &b, 1, 0, nullptr, nullptr);
       }},
      {"recvmsg",
       [] {
         msghdr m{};
         recvmsg(-1, &m, 0);
       }},
      {"write", [] { (void)!write(-1, "x", 1); }},
      {"writev",
       [] {
         char b = 'x';
         iovec v{&b, 1};
         (void)!writev(-1, &v, 1);
       }},
      {"send", [] { send(-1, "x", 1, 0); }},
      {"sendto", [] { sendto(-1, "x", 1, 0, nullptr, 0); }},
      {"sendmsg",
       [] {
         msghdr m{};
         sendmsg(-1, &m, 0);
       }},
      {"wait",
       [] {
         // No child is left at this point, so wait() fails at once (ECHILD).
         wait(nullptr);
       }},
      {"waitpid", [] { waitpid(-1, nullptr, WNOHANG); }},
      {"wait4", [] { wait4(-1, nullptr, WNOHANG, nullptr); }},
      {"waitid",
       [] {
         siginfo_t info{};
         waitid(P_ALL, 0, &info, WEXITED | WNOHANG);
       }},
      {"poll", [] { poll(nullptr, 0, 0); }},
      {"ppoll",
       [] {
         timespec zero{};
         ppoll(nullptr, 0, &zero, nullptr);
       }},
      {"select",
       [] {
         timeval zero{};
         select(0, nullptr, nullptr, nullptr, &zero);
       }},
      {"pselect",
       [] {
         timespec zero{};
         pselect(0, nullptr, nullptr, nullptr, &zero, nullptr);
       }},
      {"epoll_wait",
       [] {
         epoll_event e;
         epoll_wait(-1, &e, 1, 0);
       }},
      {"epoll_pwait",
       [] {
         epoll_event e;
         epoll_pwait(-1, &e, 1, 0, nullptr);
       }},
      {"nanosleep",
       [] {
         timespec zero{};
         nanosleep(&zero, nullptr);
       }},
      {"clock_nanosleep",
       [] {
         timespec zero{};
         clock_nanosleep(CLOCK_MONOTONIC, 0, &zero, nullptr);
       }},
      {"usleep", [] { usleep(0); }},
      {"sleep", [] { sleep(0); }},
      {"sched_yield", [] { sched_yield(); }},
      {"kill", [] { kill(getpid(), 0); }},
      {"sigaction",
       [] {
         struct sigaction old;
         sigaction(SIGUSR2, nullptr, &old);
       }},
      {"signal", [] { signal(-1, SIG_DFL); }},
      {"sigprocmask",
       [] {
         sigset_t old;
         sigprocmask(SIG_BLOCK, nullptr, &old);
       }},
      {"pthread_sigmask",
       [] {
         sigset_t old;
         pthread_sigmask(SIG_BLOCK, nullptr, &old);
       }},
      {"sigtimedwait",
       [] {
         sigset_t none;
         sigemptyset(&none);
         timespec zero{};
         sigtimedwait(&none, nullptr, &zero);
       }},
      {"sigwaitinfo",
       [] {
         // A signal blocked and pending already: no wait. The mask is set
         // with raw system calls, so only sigwaitinfo counts.
         sigset_t only, old;
         sigemptyset(&only);
         sigaddset(&only, SIGUSR2);
         syscall(SYS_rt_sigprocmask, SIG_BLOCK, &only, &old, 8);
         syscall(SYS_tgkill, getpid(), gettid(), SIGUSR2);
         sigwaitinfo(&only, nullptr);
         syscall(SYS_rt_sigprocmask, SIG_SETMASK, &old, nullptr, 8);
       }},
      {"sigpending",
       [] {
         sigset_t set;
         sigpending(&set);
       }},
      {"shm_open", [=] { shm_open(missing, O_RDONLY, 0); }},
      {"shm_unlink", [=] { shm_unlink(missing); }},
      {"sem_open", [=] { sem_open(missing, 0); }},
      {"sem_close", [=] { sem_close(local); }},
      {"sem_unlink", [=] { sem_unlink(missing); }},
      {"mq_open", [=] { mq_open(missing, O_RDONLY); }},
      {"mq_close", [] { mq_close(-1); }},
      {"mq_unlink", [=] { mq_unlink(missing); }},
      {"msgget", [] { msgget(kata::UniqueSysvKey(), 0); }},
      {"msgsnd",
       [] {
         long m = 1;
         msgsnd(-1, &m, 0, IPC_NOWAIT);
       }},
      {"msgrcv",
       [] {
         long m[2];
         msgrcv(-1, m, sizeof(long), 0, IPC_NOWAIT);
       }},
      {"msgctl", [] { msgctl(-1, IPC_STAT, nullptr); }},
      {"shmget", [] { shmget(kata::UniqueSysvKey(), 0, 0); }},
      {"shmat", [] { shmat(-1, nullptr, 0); }},
      {"shmdt", [] { shmdt(nullptr); }},
      {"shmctl", [] { shmctl(-1, IPC_STAT, nullptr); }},
      {"semget", [] { semget(kata::UniqueSysvKey(), 0, 0); }},
      {"semop", [] { semop(-1, nullptr, 0); }},
      {"semtimedop", [] { semtimedop(-1, nullptr, 0, nullptr); }},
      {"semctl", [] { semctl(-1, 0, IPC_RMID); }},
      {"mq_send", [] { mq_send(-1, "x", 1, 0); }},
      {"mq_timedsend",
       [] {
         timespec past{};
         mq_timedsend(-1, "x", 1, 0, &past);
       }},
      {"mq_receive",
       [] {
         char b[8];
         mq_receive(-1, b, sizeof(b), nullptr);
       }},
      {"mq_timedreceive",
       [] {
         char b[8];
         timespec past{};
         mq_timedreceive(-1, b, sizeof(b), nullptr, &past);
       }},
      {"mq_getattr",
       [] {
         mq_attr a{};
         mq_getattr(-1, &a);
       }},
      {"mq_setattr",
       [] {
         mq_attr a{};
         mq_setattr(-1, &a, nullptr);
       }},
      {"mq_notify", [] { mq_notify(-1, nullptr); }},
      {"mmap",
       [] { mmap(nullptr, 0, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0); }},
      {"munmap", [] { munmap(nullptr, 0); }},
      {"ftruncate", [] { ftruncate(-1, 0); }},
      {"sem_init", [=] { sem_init(local, 0, 1); }},
      {"sem_wait", [=] { sem_wait(local); }},
      {"sem_timedwait",
       [=] {
         timespec past{};
         sem_timedwait(local, &past);
       }},
      {"sem_clockwait",
       [=] {
         timespec past{};
         sem_clockwait(local, CLOCK_MONOTONIC, &past);
       }},
      {"sem_trywait", [=] { sem_trywait(local); }},
      {"sem_post", [=] { sem_post(local); }},
      {"sem_getvalue",
       [=] {
         int value;
         sem_getvalue(local, &value);
       }},
      {"sem_destroy", [=] { sem_destroy(local); }},
      {"bind", [] { bind(-1, nullptr, 0); }},
      {"listen", [] { listen(-1, 1); }},
      {"accept", [] { accept(-1, nullptr, nullptr); }},
      {"accept4", [] { accept4(-1, nullptr, nullptr, 0); }},
      {"connect", [] { connect(-1, nullptr, 0); }},
      {"shutdown", [] { shutdown(-1, SHUT_WR); }},
      {"setsockopt", [] { setsockopt(-1, SOL_SOCKET, SO_REUSEADDR, "", 0); }},
      {"getsockopt",
       [] {
         int v;
         socklen_t n = sizeof(v);
         getsockopt(-1, SOL_SOCKET, SO_TYPE, &v, &n);
       }},
      {"getsockname",
       [] {
         sockaddr_storage a;
         socklen_t n = sizeof(a);
         getsockname(-1, reinterpret_cast<sockaddr*>(&a), &n);
       }},
      {"getpeername",
       [] {
         sockaddr_storage a;
         socklen_t n = sizeof(a);
         getpeername(-1, reinterpret_cast<sockaddr*>(&a), &n);
       }},
      {"pthread_create", [] { std::thread([] {}).join(); }},
  };
}

// Tests that every interposed call has a probe here, and that each probe
// moves its own counter and no other: a wrong index in interpose.c, or a
// call the list names but interpose.c forgot, shows up here.
TEST(Counting, EveryInterposedCallIsCountedUnderItsOwnName) {
  sem_t local;
  std::vector<Probe> probes = Probes(&local);
  std::set<std::string_view> probed;
  for (const Probe& probe : probes) probed.insert(probe.name);
  for (std::string_view name : kata::InterposedCalls()) {
    EXPECT_TRUE(probed.count(name))
        << name << " is interposed but has no probe in toolkit_test.cc";
  }
  // Calls that sanitizer runtimes and thread start-up make themselves.
  const std::set<std::string_view> noisy = {
      "mmap",        "munmap", "sigaction", "sigprocmask", "pthread_sigmask",
      "sched_yield", "open",   "openat",    "read",        "close"};
  for (const Probe& probe : probes) {
    kata::CallCounter before;
    probe.call();
    EXPECT_GE(before.Count({probe.name}), 1)
        << probe.name << " was not counted";
    if (probe.name == "pthread_create" || probe.name == "posix_spawn" ||
        probe.name == "posix_spawnp" || probe.name == "tmpfile") {
      continue;  // they start threads, processes or open files inside libc
    }
    for (const Probe& other : probes) {
      if (other.name == probe.name || noisy.count(other.name)) continue;
      EXPECT_EQ(before.Count({other.name}), 0)
          << "calling " << probe.name << " counted " << other.name;
    }
  }
}

// Tests that the support library's own calls are not counted.
TEST(Counting, NotCountedScopesAreInvisible) {
  kata::CallCounter calls;
  {
    kata::NotCounted quiet;
    RawPipe pipe;
    ASSERT_EQ(write(pipe.write_end(), "x", 1), 1);
  }
  EXPECT_EQ(calls.Count({"write"}), 0);
}

// ========================================================== fault injection

// Tests that Fail() fails exactly the nth matching call, without making it.
TEST(Faults, FailHitsTheNthCallAndNoOther) {
  RawPipe pipe;
  kata::InjectedFault fault = kata::InjectedFault::Fail({"write"}, EIO, 2);
  EXPECT_EQ(write(pipe.write_end(), "a", 1), 1);
  errno = 0;
  EXPECT_EQ(write(pipe.write_end(), "b", 1), -1);
  EXPECT_EQ(errno, EIO);
  EXPECT_EQ(write(pipe.write_end(), "c", 1), 1);
  EXPECT_EQ(fault.seen(), 3);
  EXPECT_EQ(fault.fired(), 1);
  char buffer[8];
  EXPECT_EQ(syscall(SYS_read, pipe.read_end(), buffer, sizeof(buffer)), 2)
      << "the failed write must not have written anything";
  EXPECT_THAT(fault.description(), HasSubstr("2nd write() fails with EIO"));
}

// Tests that `times` covers consecutive calls, and < 0 all of them.
TEST(Faults, FailCoversConsecutiveCalls) {
  {
    auto fault = kata::InjectedFault::Fail({"dup"}, EMFILE, 1, 2);
    EXPECT_EQ(dup(0), -1);
    EXPECT_EQ(dup(0), -1);
    int fd = dup(0);
    EXPECT_GE(fd, 0);
    RawClose(fd);
  }
  auto every = kata::InjectedFault::Fail({"dup"}, EMFILE, 1, -1);
  for (int i = 0; i < 5; ++i) EXPECT_EQ(dup(0), -1);
  EXPECT_EQ(every.fired(), 5);
}

// Tests that a fault names a family: one armed on kWriteCalls hits send().
TEST(Faults, FailMatchesEveryCallOfAFamily) {
  int fds[2];
  ASSERT_EQ(syscall(SYS_socketpair, AF_UNIX, SOCK_STREAM, 0, fds), 0);
  auto fault = kata::InjectedFault::Fail(kata::kWriteCalls, ECONNRESET, 1, -1);
  errno = 0;
  EXPECT_EQ(send(fds[0], "x", 1, 0), -1);
  EXPECT_EQ(errno, ECONNRESET);
  EXPECT_EQ(write(fds[0], "x", 1), -1);
  RawClose(fds[0]);
  RawClose(fds[1]);
}

// Tests that calls returning pointers or error numbers fail their own way.
TEST(Faults, FailUsesEachCallsFailureValue) {
  auto mapping = kata::InjectedFault::Fail({"mmap"}, ENOMEM);
  EXPECT_EQ(mmap(nullptr, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0),
            MAP_FAILED);
  EXPECT_EQ(errno, ENOMEM);
  auto semaphore = kata::InjectedFault::Fail({"sem_open"}, EACCES);
  EXPECT_EQ(sem_open("/kata-x", O_CREAT, 0600, 0), SEM_FAILED);
  auto queue = kata::InjectedFault::Fail({"mq_open"}, EMFILE);
  EXPECT_EQ(mq_open("/kata-x", O_RDONLY), static_cast<mqd_t>(-1));
  auto thread = kata::InjectedFault::Fail({"pthread_create"}, EAGAIN);
  pthread_t id;
  EXPECT_EQ(pthread_create(
                &id, nullptr, [](void*) -> void* { return nullptr; }, nullptr),
            EAGAIN);
}

// Tests that faults reach forked children (the state is shared), and that
// OnlyIn / ExceptIn restrict them to one process.
TEST(Faults, FaultsReachChildrenAndCanBeRestricted) {
  RawPipe pipe;
  {
    auto anywhere = kata::InjectedFault::Fail({"write"}, EIO, 1, -1);
    kata::RunInChild([&] { EXPECT_EQ(write(pipe.write_end(), "x", 1), -1); });
  }
  {
    auto runner_only = kata::InjectedFault::Fail({"write"}, EIO, 1, -1);
    runner_only.OnlyIn(getpid());
    kata::RunInChild([&] { EXPECT_EQ(write(pipe.write_end(), "x", 1), 1); });
    EXPECT_EQ(write(pipe.write_end(), "x", 1), -1);
  }
  {
    auto children_only = kata::InjectedFault::Fail({"write"}, EIO, 1, -1);
    children_only.ExceptIn(getpid());
    EXPECT_EQ(write(pipe.write_end(), "x", 1), 1);
    kata::RunInChild([&] { EXPECT_EQ(write(pipe.write_end(), "x", 1), -1); });
  }
}

// Tests that InterruptEach fails the 1st, 3rd, 5th... call in each process,
// so a retry loop gets through every call site and a single call does not.
TEST(Faults, InterruptEachFailsEveryOtherCallInEachProcess) {
  RawPipe pipe;
  auto eintr = kata::InjectedFault::InterruptEach(kata::kBlockingCalls);
  std::vector<int> results;
  for (int i = 0; i < 4; ++i) {
    errno = 0;
    results.push_back(static_cast<int>(write(pipe.write_end(), "x", 1)));
    if (results.back() < 0) {
      EXPECT_EQ(errno, EINTR);
    }
  }
  EXPECT_EQ(results, (std::vector<int>{-1, 1, -1, 1}));
  kata::RunInChild([&] {
    // A child inherits its parent's place in the alternation: after an even
    // number of calls, its next call fails.
    EXPECT_EQ(write(pipe.write_end(), "x", 1), -1);
    EXPECT_EQ(write(pipe.write_end(), "x", 1), 1);
  });
}

// Tests that InterruptEach counts turns per call name: a loop that
// alternates two calls (poll, then write) still gets each through, instead
// of always landing its write on a failing turn.
TEST(Faults, InterruptEachCountsTurnsPerCall) {
  RawPipe pipe;
  auto eintr = kata::InjectedFault::InterruptEach(kata::kBlockingCalls);
  int written = 0;
  for (int round = 0; round < 16 && written < 3; ++round) {
    pollfd entry{pipe.write_end(), POLLOUT, 0};
    if (poll(&entry, 1, -1) < 0) continue;
    if (write(pipe.write_end(), "x", 1) == 1) ++written;
  }
  EXPECT_EQ(written, 3)
      << "a poll-then-write loop never got its writes through";
}

// Tests that ShortTransfer makes a call move fewer bytes, for plain calls and
// for the vector calls alike.
TEST(Faults, ShortTransferCutsEveryKindOfTransfer) {
  int fds[2];
  ASSERT_EQ(syscall(SYS_socketpair, AF_UNIX, SOCK_STREAM, 0, fds), 0);
  auto cut = kata::InjectedFault::ShortTransfer(
      {"write", "writev", "sendmsg", "read", "recvmsg"}, 3);
  EXPECT_EQ(write(fds[0], "abcdef", 6), 3);
  char a[] = "ghi", b[] = "jkl";
  iovec two[2] = {{a, 3}, {b, 3}};
  EXPECT_EQ(writev(fds[0], two, 2), 3);
  msghdr message{};
  message.msg_iov = two;
  message.msg_iovlen = 2;
  EXPECT_EQ(sendmsg(fds[0], &message, 0), 3);
  char buffer[16] = {};
  EXPECT_EQ(read(fds[1], buffer, sizeof(buffer)), 3);
  EXPECT_EQ(std::string(buffer, 3), "abc");
  char x[2], y[8];
  iovec into[2] = {{x, sizeof(x)}, {y, sizeof(y)}};
  msghdr receive{};
  receive.msg_iov = into;
  receive.msg_iovlen = 2;
  EXPECT_EQ(recvmsg(fds[1], &receive, 0), 3);
  EXPECT_EQ(std::string(x, 2) + y[0], "ghi");
  RawClose(fds[0]);
  RawClose(fds[1]);
  EXPECT_THROW((void)kata::InjectedFault::ShortTransfer({"read"}, 0),
               std::invalid_argument);
}

// Tests that FailAfterCall makes the call and then reports the error: an
// interrupted connect(2) whose connection still comes up.
TEST(Faults, FailAfterCallMakesTheCallFirst) {
  const std::string path = kata::UniqueSocketPath("after");
  int listener = static_cast<int>(syscall(SYS_socket, AF_UNIX, SOCK_STREAM, 0));
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  std::strncpy(address.sun_path, path.c_str(), sizeof(address.sun_path) - 1);
  ASSERT_EQ(syscall(SYS_bind, listener, &address, sizeof(address)), 0);
  ASSERT_EQ(syscall(SYS_listen, listener, 1), 0);
  int client = static_cast<int>(syscall(SYS_socket, AF_UNIX, SOCK_STREAM, 0));
  {
    auto interrupted = kata::InjectedFault::FailAfterCall({"connect"}, EINTR);
    errno = 0;
    EXPECT_EQ(
        connect(client, reinterpret_cast<sockaddr*>(&address), sizeof(address)),
        -1);
    EXPECT_EQ(errno, EINTR);
  }
  errno = 0;
  EXPECT_EQ(
      connect(client, reinterpret_cast<sockaddr*>(&address), sizeof(address)),
      -1)
      << "the first connect went through despite its EINTR";
  EXPECT_EQ(errno, EISCONN);
  RawClose(client);
  RawClose(listener);
  unlink(path.c_str());
}

// Tests that at most eight faults can be armed, with a clear error.
TEST(Faults, NinthFaultIsRefused) {
  std::vector<kata::InjectedFault> faults;
  for (int i = 0; i < 8; ++i) {
    faults.push_back(kata::InjectedFault::Fail({"dup"}, EMFILE, 100));
  }
  EXPECT_THROW((void)kata::InjectedFault::Fail({"dup"}, EMFILE),
               std::length_error);
  EXPECT_THROW((void)kata::InjectedFault::Fail({"strlen"}, EMFILE),
               std::invalid_argument);
}

// A fault this test arms and never disarms: the runner disarms it when the
// test ends (the next test proves it).
std::optional<kata::InjectedFault> g_left_armed;

TEST(Faults, AFaultLeftArmedAtTheEnd) {
  g_left_armed.emplace(kata::InjectedFault::Fail({"dup"}, EMFILE, 1, -1));
  EXPECT_EQ(dup(0), -1);
}

TEST(Faults, IsDisarmedBeforeTheNextTest) {
  int fd = dup(0);
  EXPECT_GE(fd, 0) << "a fault armed by the previous test still fired";
  RawClose(fd);
  g_left_armed.reset();
}

// The code "under test" of the next tests: a pipe and one write.
void PipeAndWrite(std::string_view what) {
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) {
    throw std::system_error(errno, std::generic_category(), "pipe2");
  }
  ssize_t n = write(fds[1], what.data(), what.size());
  int error = errno;
  RawClose(fds[0]);
  RawClose(fds[1]);
  if (n < 0) throw std::system_error(error, std::generic_category(), "write");
}

// Tests that ForEachInjectedFailure runs the body once clean, then once per
// call and occurrence, each with that call failing.
TEST(Faults, ForEachInjectedFailureFailsEachCallInTurn) {
  int clean_runs = 0;
  std::vector<std::string> seen;
  std::vector<kata::FaultCase> cases = kata::ForEachInjectedFailure(
      {"pipe2", "write"}, EMFILE, [&](const kata::FaultCase* fault) {
        if (fault == nullptr) {
          ++clean_runs;
          PipeAndWrite("xy");
          return;
        }
        seen.push_back(fault->ToString());
        kata::ExpectReportedOrRecovered(
            *fault, [] { PipeAndWrite("xy"); }, false, "report it");
      });
  EXPECT_EQ(clean_runs, 1);
  ASSERT_EQ(cases.size(), 2u);
  EXPECT_EQ(cases[0].call, "pipe2");
  EXPECT_EQ(cases[1].call, "write");
  EXPECT_THAT(seen[1], HasSubstr("1st write() failing with EMFILE"));
}

// Tests that ExpectReportedOrRecovered tells a right report from the wrong
// ones: the wrong errno, a message without the call, another exception, a
// failure swallowed.
TEST(Faults, ExpectReportedOrRecoveredJudgesTheReport) {
  const kata::FaultCase fault{"write", 1, EIO};
  auto report = [](int error, const char* call) {
    return
        [=] { throw std::system_error(error, std::generic_category(), call); };
  };
  EXPECT_TRUE(
      kata::ExpectReportedOrRecovered(fault, report(EIO, "write"), false, "h"));
  EXPECT_TRUE(kata::ExpectReportedOrRecovered(fault, report(EIO, "send(fd)"),
                                              false, "h"));
  EXPECT_NONFATAL_FAILURE(kata::ExpectReportedOrRecovered(
                              fault, report(EPIPE, "write"), false, "h"),
                          "instead of the errno");
  EXPECT_NONFATAL_FAILURE(kata::ExpectReportedOrRecovered(
                              fault, report(EIO, "something"), false, "h"),
                          "should name the call");
  EXPECT_NONFATAL_FAILURE(
      kata::ExpectReportedOrRecovered(
          fault, [] { throw std::runtime_error("x"); }, false, "h"),
      "instead of a std::system_error");
  EXPECT_NONFATAL_FAILURE(kata::ExpectReportedOrRecovered(
                              fault, [] {}, false, "h"),
                          "went unreported");
  EXPECT_FALSE(kata::ExpectReportedOrRecovered(fault, [] {}, true, "h"));
}

// =============================================================== signals

// Tests that a changed disposition, mask or pending set is named.
TEST(Signals, ChangesAreNamed) {
  kata::SignalState before = kata::CaptureSignalState();
  {
    kata::CallerSignal ignored = kata::CallerSignal::Ignored(SIGPIPE);
    kata::CallerSignal pending = kata::CallerSignal::BlockedAndPending(SIGUSR2);
    const std::string changes =
        kata::SignalStateChanges(before, kata::CaptureSignalState());
    EXPECT_THAT(changes, HasSubstr("SIGPIPE: disposition SIG_DFL"));
    EXPECT_THAT(changes, HasSubstr("-> SIG_IGN"));
    EXPECT_THAT(changes, HasSubstr("SIGUSR2: blocked, was not"));
    EXPECT_THAT(changes, HasSubstr("SIGUSR2: pending, was not"));
  }
  EXPECT_EQ(kata::SignalStateChanges(before, kata::CaptureSignalState()), "")
      << "CallerSignal did not restore the state it changed";
}

// Tests that CallerSignal fails the test when the code under test undid
// what the caller set up, or swallowed the caller's pending signal.
TEST(Signals, CallerSignalCatchesWhatTheCodeUndid) {
  auto undo_ignore = [] {
    kata::CallerSignal ignored = kata::CallerSignal::Ignored(SIGPIPE);
    signal(SIGPIPE, SIG_DFL);
  };
  EXPECT_NONFATAL_FAILURE(undo_ignore(),
                          "SIG_IGN, and the code under test changed that");
  auto swallow_pending = [] {
    kata::CallerSignal pending = kata::CallerSignal::BlockedAndPending(SIGPIPE);
    sigset_t only;
    sigemptyset(&only);
    sigaddset(&only, SIGPIPE);
    const timespec no_wait{0, 0};
    sigtimedwait(&only, nullptr, &no_wait);
  };
  EXPECT_NONFATAL_FAILURE(swallow_pending(), "consumed it");
  auto unblock = [] {
    kata::CallerSignal blocked = kata::CallerSignal::Blocked(SIGPIPE);
    sigset_t only;
    sigemptyset(&only);
    sigaddset(&only, SIGPIPE);
    pthread_sigmask(SIG_UNBLOCK, &only, nullptr);
  };
  EXPECT_NONFATAL_FAILURE(unblock(), "unblocked it");
}

// Tests that a handled signal's deliveries are counted.
TEST(Signals, HandledCountsDeliveries) {
  kata::CallerSignal handled = kata::CallerSignal::Handled(SIGUSR2);
  raise(SIGUSR2);
  raise(SIGUSR2);
  EXPECT_EQ(handled.deliveries(), 2);
}

// Tests that a signal storm keeps interrupting a blocked call.
TEST(Signals, StormInterruptsABlockedReadAgainAndAgain) {
  RawPipe pipe;
  int interrupted = 0;
  {
    kata::SignalStorm storm(getpid(), SIGUSR1, std::chrono::milliseconds(2));
    auto until = std::chrono::steady_clock::now() + std::chrono::seconds(2);
    while (interrupted < 5 && std::chrono::steady_clock::now() < until) {
      pollfd entry{pipe.read_end(), POLLIN, 0};
      if (poll(&entry, 1, 200) < 0 && errno == EINTR) ++interrupted;
    }
  }
  EXPECT_GE(interrupted, 5);
}

// ================================================================ timing

// Tests that a child blocked in read() passes the busy-wait check.
TEST(Timing, ABlockedChildIsNotBusy) {
  RawPipe pipe;
  pid_t child = fork();
  if (child == 0) {
    char byte;
    (void)!syscall(SYS_read, pipe.read_end(), &byte, 1);
    _exit(0);
  }
  kata::Activity activity =
      kata::ExpectNoBusyWaiting(child, "a child blocked in read()");
  EXPECT_LE(activity.wakeups, 1);
  ASSERT_EQ(syscall(SYS_write, pipe.write_end(), "x", 1), 1);
  RawReap(child);
}

// Tests that a child that spins on a non-blocking call, or sleeps and
// retries, fails the busy-wait check.
TEST(Timing, SpinningAndSleepPollingChildrenAreBusy) {
  for (bool sleeps : {false, true}) {
    pid_t child = fork();
    if (child == 0) {
      for (;;) {
        if (sleeps) {
          timespec pause{0, 2000000};
          syscall(SYS_nanosleep, &pause, nullptr);
        }
      }
    }
    EXPECT_NONFATAL_FAILURE(kata::ExpectNoBusyWaiting(child, "a polling child"),
                            sleeps ? "keeps waking up" : "burns CPU");
    kill(child, SIGKILL);
    RawReap(child);
  }
}

// Tests that the clock is put just before a whole second.
TEST(Timing, SleepsUntilJustBeforeASecondBoundary) {
  kata::SleepUntilBeforeSecondBoundary(std::chrono::milliseconds(20));
  timespec now{};
  clock_gettime(CLOCK_REALTIME, &now);
  EXPECT_GE(now.tv_nsec, 980000000L - 1000000L)
      << "woke too early: " << now.tv_nsec << " ns into the second";
}

// ============================================================= mechanism

// Tests that each kind of descriptor is named right.
TEST(Mechanism, DescriptorKindsAreNamed) {
  std::vector<int> opened;
  auto kind_of = [&](int fd) {
    opened.push_back(fd);
    return kata::DescriptorKind(getpid(), fd);
  };
  int fds[2];
  ASSERT_EQ(syscall(SYS_pipe2, fds, O_CLOEXEC), 0);
  EXPECT_EQ(kind_of(fds[0]), "pipe");
  opened.push_back(fds[1]);
  ASSERT_EQ(syscall(SYS_socketpair, AF_UNIX, SOCK_STREAM, 0, fds), 0);
  EXPECT_EQ(kind_of(fds[0]), "unix-socket");
  opened.push_back(fds[1]);
  EXPECT_EQ(
      kind_of(static_cast<int>(syscall(SYS_socket, AF_INET, SOCK_STREAM, 0))),
      "tcp-socket");
  EXPECT_EQ(
      kind_of(static_cast<int>(syscall(SYS_socket, AF_INET, SOCK_DGRAM, 0))),
      "udp-socket");
  FILE* file = tmpfile();
  ASSERT_NE(file, nullptr);
  EXPECT_EQ(kata::DescriptorKind(getpid(), fileno(file)), "file");
  std::fclose(file);
  EXPECT_EQ(kind_of(open("/dev/null", O_RDONLY)), "device");
  EXPECT_EQ(kind_of(eventfd(0, 0)), "eventfd");
  EXPECT_EQ(kind_of(memfd_create("kata", 0)), "memfd");
  const std::string shm = kata::UniqueName("kind");
  EXPECT_EQ(kind_of(shm_open(shm.c_str(), O_CREAT | O_RDWR, 0600)), "shm");
  shm_unlink(shm.c_str());
  const std::string queue = kata::UniqueName("kind");
  mqd_t mq = mq_open(queue.c_str(), O_CREAT | O_RDONLY, 0600, nullptr);
  EXPECT_EQ(kata::DescriptorKind(getpid(), mq), "mqueue");
  mq_close(mq);
  mq_unlink(queue.c_str());
  const std::string fifo = kata::UniqueSocketPath("fifo");
  ASSERT_EQ(mkfifo(fifo.c_str(), 0600), 0);
  EXPECT_EQ(kind_of(open(fifo.c_str(), O_RDWR)), "fifo");
  unlink(fifo.c_str());
  for (int fd : opened) RawClose(fd);
}

// Tests that the watch sees a socketpair a child opens, and that
// ExpectOnlyMechanism names it when the kata asks for pipes.
TEST(Mechanism, WatchCatchesAnotherChannelInAChild) {
  kata::MechanismWatch watch;
  kata::RunInChild([] {
    int fds[2];
    ASSERT_EQ(syscall(SYS_socketpair, AF_UNIX, SOCK_STREAM, 0, fds), 0);
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    RawClose(fds[0]);
    RawClose(fds[1]);
  });
  auto expect_pipes = [&] {
    kata::ExpectOnlyMechanism(watch, {"pipe"}, "pipes");
  };
  EXPECT_NONFATAL_FAILURE(expect_pipes(), "unix-socket");
}

// Tests that the support library's own pipes (kata::Child's report channel)
// and the runner's descriptors from before the watch are left out.
TEST(Mechanism, WatchIgnoresTheSupportLibrarysOwnChannels) {
  RawPipe before;
  kata::MechanismWatch watch;
  kata::RunInChild(
      [] { std::this_thread::sleep_for(std::chrono::milliseconds(20)); });
  kata::ExpectOnlyMechanism(watch, {"mqueue"}, "a POSIX queue");
  EXPECT_EQ(watch.Describe(), "no new descriptors");
}

// Two classes for UBSan's vptr check: the first checked downcast from
// Shape to Square makes the sanitizer's runtime call pipe() (it probes that
// the vtable is readable by writing it into a pipe).
struct Shape {
  virtual ~Shape() = default;
  virtual int Sides() const { return 0; }
};
struct Square final : Shape {
  int Sides() const override { return 4; }
};

// Tests that a pipe the sanitizers' runtime makes is not the test's: not
// counted, not failed by a fault, and left out by the mechanism watch; a
// pipe the code makes still is. The sanitizer half runs in the sanitizer
// build (tools/gate's ASan+UBSan run, --config=asan).
TEST(Mechanism, PipesOfTheSanitizerRuntimeAreNotTheTests) {
  kata::CallCounter calls;
  const unsigned made_before = kata::internal::SanitizerPipesMade();
  kata::RunInChild([] {
    auto shape = std::make_unique<Square>();
    Shape* base = shape.get();
    EXPECT_EQ(static_cast<Square*>(base)->Sides(), 4);
    int fds[2];
    ASSERT_EQ(pipe(fds), 0);
    RawClose(fds[0]);
    RawClose(fds[1]);
  });
  EXPECT_EQ(calls.Count({"pipe"}), 1) << "only the code's own pipe counts";
#ifdef __SANITIZE_ADDRESS__
  static bool first_downcast = true;  // the runtime caches what it checked
  if (std::exchange(first_downcast, false)) {
    EXPECT_GT(kata::internal::SanitizerPipesMade(), made_before)
        << "UBSan's vptr check made no pipe: is -fsanitize=undefined on?";
    EXPECT_TRUE(
        kata::internal::IsSupportObject(kata::internal::LastSanitizerPipe()))
        << kata::internal::LastSanitizerPipe();
  }
#else
  EXPECT_EQ(kata::internal::SanitizerPipesMade(), made_before);
#endif
}

// ============================================================== timeline

// Tests that calls made in a forked child are recorded, with their pid.
TEST(Trace, RecordsTheCallsOfForkedChildren) {
  RawPipe pipe;
  pid_t child = fork();
  if (child == 0) {
    (void)!write(pipe.write_end(), "from the child", 14);
    _exit(0);
  }
  RawReap(child);
  bool found = false;
  for (const kata::RecordedCall& call : kata::RecordedCalls()) {
    if (call.pid == child && call.call == "write" && call.result == 14) {
      found = true;
      EXPECT_EQ(call.text, "from the child");
    }
  }
  EXPECT_TRUE(found) << kata::Timeline();
  EXPECT_THAT(kata::Timeline(),
              HasSubstr("child 1 (pid " + std::to_string(child) + ")"));
}

// The timeline with each row that was wrapped to fit its column joined
// again: a wrapped row goes on in a line that starts with at least 10
// blanks, where a new row starts with its time (at most 8 characters wide).
std::string UnwrappedTimeline() {
  const std::string timeline = kata::Timeline();
  std::string out;
  for (std::size_t i = 0; i < timeline.size(); ++i) {
    const std::size_t text = timeline.find_first_not_of(' ', i + 1);
    if (timeline[i] == '\n' && text != std::string::npos && text - i > 10) {
      out += ' ';
      i = text - 1;
      continue;
    }
    out += timeline[i];
  }
  return out;
}

// Tests that a C++ throw is recorded with its type, its errno when it is a
// std::system_error, and its message, in the process that threw it: many
// mistakes differ from the reference only in what they throw.
TEST(Trace, RecordsThrowsWithTypeErrnoAndMessage) {
  try {
    throw std::system_error(ENOMSG, std::generic_category(), "msgrcv(queue 7)");
  } catch (const std::system_error&) {
  }
  pid_t child = fork();
  if (child == 0) {
    try {
      throw std::invalid_argument("a name needs one leading slash");
    } catch (const std::invalid_argument&) {
    }
    _exit(0);
  }
  RawReap(child);
  int throws_in_child = 0;
  for (const kata::RecordedCall& call : kata::RecordedCalls()) {
    if (call.call == "throw" && call.pid == child) ++throws_in_child;
  }
  EXPECT_EQ(throws_in_child, 1) << kata::Timeline();
  const std::string timeline = UnwrappedTimeline();
  EXPECT_THAT(timeline, HasSubstr("throw std::system_error ENOMSG: "
                                  "msgrcv(queue 7): No message of desired"));
  EXPECT_THAT(timeline, HasSubstr("throw std::invalid_argument: a name needs "
                                  "one leading slash"));
}

// Tests that a child killed inside a call (SIGPIPE in a write to a pipe
// nobody reads) shows that call, which it never returned from to record:
// with how it ended when the code reaped it, and as a question otherwise.
TEST(Trace, ShowsTheCallAChildDiedIn) {
  for (bool reap_with_waitpid : {true, false}) {
    RawPipe pipe;
    close(pipe.fds[0]);
    pipe.fds[0] = -1;
    pid_t child = fork();
    if (child == 0) {
      signal(SIGPIPE, SIG_DFL);
      (void)!write(pipe.write_end(), "nobody reads this", 17);
      _exit(0);
    }
    if (reap_with_waitpid) {
      int status = 0;
      waitpid(child, &status, 0);
    } else {
      RawReap(child);
    }
  }
  const std::string timeline = UnwrappedTimeline();
  EXPECT_THAT(timeline, HasSubstr("DIED in write(): killed by SIGPIPE"));
  EXPECT_THAT(timeline, HasSubstr("DIED in write(): it never returned"));
}

// Tests that the notes ring wraps without mixing up texts: a throw whose
// note was reused says so instead of showing another throw's message.
TEST(Trace, OldThrowsLoseTheirTextNotTheirPlace) {
  for (int i = 0; i < 100; ++i) {
    try {
      throw std::runtime_error("throw number " + std::to_string(i));
    } catch (const std::runtime_error&) {
    }
  }
  const std::string timeline = UnwrappedTimeline();
  EXPECT_THAT(timeline, HasSubstr("throw std::runtime_error: throw number 99"));
  EXPECT_THAT(timeline, HasSubstr("throw std::runtime_error: (its text was "
                                  "overwritten by later ones)"));
  EXPECT_THAT(timeline, ::testing::Not(HasSubstr("throw number 0\n")));
}

// Tests that each process records under its own pid when the one that forked
// it had recorded first: the recorder reads a process's pid once, and a
// forked child must forget its parent's.
TEST(Trace, EachGenerationRecordsUnderItsOwnPid) {
  RawPipe pipe;
  pid_t child = fork();
  if (child == 0) {
    (void)!write(pipe.write_end(), "c", 1);  // the child records first
    pid_t grandchild = fork();
    if (grandchild == 0) {
      (void)!write(pipe.write_end(), "g", 1);
      _exit(0);
    }
    RawReap(grandchild);
    (void)!write(pipe.write_end(), &grandchild, sizeof(grandchild));
    _exit(0);
  }
  RawReap(child);
  char marks[2];
  pid_t grandchild = 0;
  ASSERT_EQ(read(pipe.read_end(), marks, 2), 2);
  ASSERT_EQ(read(pipe.read_end(), &grandchild, sizeof(grandchild)),
            static_cast<ssize_t>(sizeof(grandchild)));
  std::map<std::string, pid_t> writer_of;
  for (const kata::RecordedCall& call : kata::RecordedCalls()) {
    if (call.call == "write" && call.result == 1)
      writer_of[call.text] = call.pid;
  }
  EXPECT_EQ(writer_of["c"], child) << kata::Timeline();
  EXPECT_EQ(writer_of["g"], grandchild) << kata::Timeline();
}

// Tests that children killed while they record leave only whole events.
TEST(Trace, ChildrenKilledWhileRecordingLeaveWholeEvents) {
  RawPipe pipe;
  std::vector<pid_t> children;
  for (int i = 0; i < 4; ++i) {
    pid_t child = fork();
    if (child == 0) {
      for (;;) (void)!write(pipe.write_end(), "", 0);
    }
    children.push_back(child);
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  for (pid_t child : children) kill(child, SIGKILL);
  for (pid_t child : children) RawReap(child);
  std::set<pid_t> known(children.begin(), children.end());
  known.insert(getpid());
  for (const kata::RecordedCall& call : kata::RecordedCalls()) {
    EXPECT_TRUE(known.count(call.pid)) << "an event from pid " << call.pid;
    EXPECT_NE(call.call, "?") << "an event with no call";
  }
}

// Tests that the recording keeps the last 2048 calls and says what it
// dropped.
TEST(Trace, KeepsTheLastCallsAndCountsTheRest) {
  RawPipe pipe;
  for (int i = 0; i < 3000; ++i) (void)!write(pipe.write_end(), "", 0);
  EXPECT_LE(kata::RecordedCalls().size(), 2048u);
  EXPECT_THAT(kata::Timeline(), HasSubstr("earlier calls were dropped"));
}

// Tests that socket calls are shown by name, not as raw numbers: the family
// and type with its flags, both ends of a socketpair, a socket option, and
// the flags of send and recv.
TEST(Trace, NamesSocketTypesOptionsAndFlags) {
  int fds[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), 0);
  const int on = 1;
  ASSERT_EQ(setsockopt(fds[0], SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on)), 0);
  ASSERT_EQ(send(fds[0], "x", 1, MSG_NOSIGNAL), 1);
  char byte;
  ASSERT_EQ(recv(fds[1], &byte, 1, MSG_DONTWAIT), 1);
  ASSERT_EQ(shutdown(fds[0], SHUT_WR), 0);
  // The timeline wraps long lines: read it as one line.
  std::string timeline;
  for (char c : kata::Timeline()) {
    const bool space = c == ' ' || c == '\n';
    if (!space || (!timeline.empty() && timeline.back() != ' ')) {
      timeline += space ? ' ' : c;
    }
  }
  close(fds[0]);
  close(fds[1]);
  EXPECT_THAT(timeline,
              HasSubstr("socketpair(AF_UNIX, SOCK_STREAM|SOCK_CLOEXEC) = " +
                        std::to_string(fds[0]) + " ["));
  EXPECT_THAT(timeline, HasSubstr("SOL_SOCKET, SO_REUSEADDR, 1)"));
  EXPECT_THAT(timeline, HasSubstr("\"x\", MSG_NOSIGNAL)"));
  EXPECT_THAT(timeline, HasSubstr("up to 1, MSG_DONTWAIT)"));
  EXPECT_THAT(timeline, HasSubstr(", SHUT_WR)"));
}

int g_handler_pipe = -1;
volatile sig_atomic_t g_handler_runs = 0;

// Tests that a signal handler's own write is recorded, without deadlock,
// even when the signal lands while the thread is recording another call.
TEST(Trace, RecordsAWriteFromASignalHandler) {
  kata::OnDeadlock("recording from a signal handler deadlocked",
                   std::chrono::seconds(5));
  RawPipe pipe;
  g_handler_pipe = pipe.write_end();
  struct sigaction action{};
  action.sa_handler = [](int) {
    (void)!write(g_handler_pipe, "H", 1);
    g_handler_runs = g_handler_runs + 1;
  };
  sigemptyset(&action.sa_mask);
  {
    kata::SignalStorm storm(getpid(), SIGUSR2, std::chrono::microseconds(200));
    {
      // After the storm's own do-nothing handler, which it puts back.
      kata::NotCounted quiet;
      sigaction(SIGUSR2, &action, nullptr);
    }
    // Writes of nothing until three signals have landed among them (at most
    // 2 s: under load the storm may be slow to start), then a few more. Not
    // a fixed time: the ring keeps only the last 2048 calls, and a loaded
    // machine may deliver no signal within them.
    g_handler_runs = 0;
    const auto until =
        std::chrono::steady_clock::now() + std::chrono::seconds(2);
    while (g_handler_runs < 3 && std::chrono::steady_clock::now() < until) {
      (void)!write(pipe.write_end(), "", 0);
    }
    for (int i = 0; i < 100; ++i) (void)!write(pipe.write_end(), "", 0);
  }
  int handled = 0;
  for (const kata::RecordedCall& call : kata::RecordedCalls()) {
    if (call.call == "write" && call.text == "H") ++handled;
  }
  EXPECT_GT(handled, 0) << "no write from the handler was recorded";
}

// ============================================================= snapshots

// Tests that a snapshot names a descriptor, a child and a mapping opened
// since, cleans them up, and starts over.
TEST(Snapshots, LeaksSinceTheSnapshotAreNamedAndCleaned) {
  kata::ResourceSnapshot snapshot;
  int fds[2];
  ASSERT_EQ(syscall(SYS_pipe2, fds, O_CLOEXEC), 0);
  pid_t child = fork();
  if (child == 0) {
    pause();
    _exit(0);
  }
  const std::string name = kata::UniqueName("snapshot");
  int shm = shm_open(name.c_str(), O_CREAT | O_RDWR, 0600);
  ASSERT_EQ(ftruncate(shm, 4096), 0);
  void* mapping = mmap(nullptr, 4096, PROT_READ, MAP_SHARED, shm, 0);
  ASSERT_NE(mapping, MAP_FAILED);
  RawClose(shm);
  const std::string leaks = snapshot.Leaks();
  EXPECT_THAT(leaks, HasSubstr("fd " + std::to_string(fds[0])));
  EXPECT_THAT(leaks, HasSubstr("child pid " + std::to_string(child)));
  EXPECT_THAT(leaks, HasSubstr("shared mapping /dev/shm/"));
  EXPECT_THAT(leaks, HasSubstr("shared memory object " + name));
  EXPECT_EQ(kata::ProcessState(child), '?') << "the child was not reaped";
  munmap(mapping, 4096);
  EXPECT_EQ(snapshot.Leaks(), "");
}

}  // namespace
