// Deliberately broken tests, one per detector of the support library. They
// are not run on their own: detectors_test.cc runs this binary once per test
// (--gtest_filter=Victim.X) and checks that the right report comes out.

#include <fcntl.h>
#include <mqueue.h>
#include <semaphore.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/msg.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <string>
#include <thread>

#include "gtest/gtest.h"
#include "tests/support/kata.h"

namespace {

KATA_STAGE(Victim, "the detector self-test", "tests/support/kata.h");

TEST(Victim, Clean) {
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  close(fds[0]);
  close(fds[1]);
}

// Fails one check after a call: the timeline shows the check where it
// failed, without the hint printed above it.
TEST(Victim, FailsACheck) {
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  close(fds[0]);
  close(fds[1]);
  const int port = 0x3412;
  EXPECT_EQ(port, 0x1234) << "the port's bytes are swapped"
                          << kata::Hint("htons() going in");
}

// Prints the names this run would use; detectors_test compares two runs.
TEST(Victim, PrintsItsNames) {
  std::printf("names: %s %s %d\n", kata::UniqueName("x").c_str(),
              kata::UniqueSocketPath("x").c_str(), kata::UniqueSysvKey());
}

TEST(Victim, LeaksADescriptor) {
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  close(fds[1]);  // fds[0], the read end, stays open
}

TEST(Victim, LeavesAZombie) {
  pid_t pid = fork();
  if (pid == 0) _exit(0);
  while (kata::ProcessState(pid) != 'Z') {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
}

TEST(Victim, LeavesARunningChild) {
  pid_t pid = fork();
  if (pid == 0) {
    pause();
    _exit(0);
  }
}

TEST(Victim, LeavesSharedMemory) {
  int fd = shm_open(kata::UniqueName("leak").c_str(), O_CREAT | O_RDWR, 0600);
  ASSERT_GE(fd, 0);
  close(fd);
}

TEST(Victim, LeavesANamedSemaphore) {
  sem_t* sem = sem_open(kata::UniqueName("leak").c_str(), O_CREAT, 0600, 0);
  ASSERT_NE(sem, SEM_FAILED);
  sem_close(sem);
}

TEST(Victim, LeavesAPosixQueue) {
  mqd_t queue = mq_open(kata::UniqueName("leak").c_str(), O_CREAT | O_RDWR,
                        0600, nullptr);
  ASSERT_NE(queue, static_cast<mqd_t>(-1));
  mq_close(queue);
}

// Plays another test target whose runner has the same pid (another PID
// namespace) and a /dev/shm object of its own: not this run's leak.
TEST(Victim, SeesAnotherRunsObjectWithTheSamePid) {
  const std::string path =
      "/dev/shm/kata-" + std::to_string(getpid()) + "-other-1-not-mine";
  int fd = open(path.c_str(), O_CREAT | O_RDWR, 0600);
  ASSERT_GE(fd, 0);
  close(fd);
  std::printf("created %s\n", path.c_str());
}

TEST(Victim, LeavesASysvQueue) {
  ASSERT_GE(msgget(kata::UniqueSysvKey(), IPC_CREAT | 0600), 0);
}

TEST(Victim, LeavesAPrivateSysvQueueItUsed) {
  int id = msgget(IPC_PRIVATE, IPC_CREAT | 0600);
  ASSERT_GE(id, 0);
  struct {
    long type;
    char text[4];
  } message{1, "hi"};
  ASSERT_EQ(msgsnd(id, &message, sizeof(message.text), 0), 0);
}

TEST(Victim, LeavesASocketFile) {
  std::string path = kata::UniqueSocketPath("leak");
  int fd = socket(AF_UNIX, SOCK_STREAM, 0);
  ASSERT_GE(fd, 0);
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  std::strncpy(address.sun_path, path.c_str(), sizeof(address.sun_path) - 1);
  ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)),
            0);
  close(fd);
}

TEST(Victim, HitsAnUnfinishedFunctionAfterLeaking) {
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  throw std::logic_error("not implemented yet: Victim (stage 0)");
}

TEST(Victim, Hangs) {
  kata::OnDeadlock("victim-cause: the read end waits for a write end we hold",
                   std::chrono::milliseconds(300));
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  pid_t pid = fork();
  if (pid == 0) {
    pause();
    _exit(0);
  }
  char byte;
  (void)read(fds[0], &byte, 1);  // never returns: we hold the write end
}

TEST(Victim, HangsOnASemaphore) {
  kata::OnDeadlock("victim-cause: nobody posts",
                   std::chrono::milliseconds(300));
  std::string name = kata::UniqueName("sem");
  sem_t* sem = sem_open(name.c_str(), O_CREAT, 0600, 0);
  ASSERT_NE(sem, SEM_FAILED);
  std::printf("created /dev/shm/sem.%s\n", name.c_str() + 1);
  std::fflush(stdout);
  sem_wait(sem);
}

// The deadlock shapes the watchdog must recognise from the kernel's view.

// The parent waits for the child before reading what it writes.
TEST(Victim, WaitsBeforeDraining) {
  kata::OnDeadlock("victim-cause: unrelated guess",
                   std::chrono::milliseconds(300));
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  pid_t pid = fork();
  if (pid == 0) {
    close(fds[0]);
    std::string data(1 << 20, 'x');
    (void)!write(fds[1], data.data(), data.size());
    _exit(0);
  }
  close(fds[1]);
  waitpid(pid, nullptr, 0);  // the mistake: before reading
  close(fds[0]);
}

// The child reads until end of file but keeps its own copy of the write end.
TEST(Victim, ChildKeepsTheWriteEnd) {
  kata::OnDeadlock("victim-cause: unrelated guess",
                   std::chrono::milliseconds(300));
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  pid_t pid = fork();
  if (pid == 0) {
    char buffer[64];
    while (read(fds[0], buffer, sizeof(buffer)) > 0) {
    }
    _exit(0);
  }
  close(fds[0]);
  (void)!write(fds[1], "x", 1);
  close(fds[1]);
  waitpid(pid, nullptr, 0);
}

// Both sides write everything before reading anything.
TEST(Victim, BothSidesWrite) {
  kata::OnDeadlock("victim-cause: unrelated guess",
                   std::chrono::milliseconds(300));
  int down[2], up[2];
  ASSERT_EQ(pipe(down), 0);
  ASSERT_EQ(pipe(up), 0);
  const std::string data(1 << 20, 'x');
  pid_t pid = fork();
  if (pid == 0) {
    close(down[1]);
    close(up[0]);
    (void)!write(up[1], data.data(), data.size());
    _exit(0);
  }
  close(down[0]);
  close(up[1]);
  (void)!write(down[1], data.data(), data.size());
  close(down[1]);
  close(up[0]);
  waitpid(pid, nullptr, 0);
}

// The writer keeps its own read end, so EPIPE never comes.
TEST(Victim, WriterKeepsTheReadEnd) {
  kata::OnDeadlock("victim-cause: unrelated guess",
                   std::chrono::milliseconds(300));
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  pid_t pid = fork();
  if (pid == 0) _exit(0);  // the reader is gone at once
  waitpid(pid, nullptr, 0);
  const std::string data(1 << 20, 'x');
  (void)!write(fds[1], data.data(), data.size());
  close(fds[0]);
  close(fds[1]);
}

// A child forked by the "code under test" ends with exit(), not _exit().
TEST(Victim, ForkedChildCallsExit) {
  pid_t pid = fork();
  if (pid == 0) std::exit(0);
  waitpid(pid, nullptr, 0);
}

TEST(Victim, ExitsEarly) { std::exit(0); }

// Parent and child swap roles after fork(): the runner ends with _exit(0)
// while the child carries on with the tests.
TEST(Victim, ParentTakesTheChildsBranch) {
  pid_t pid = fork();
  if (pid != 0) _exit(0);  // the mistake: == 0 is the child
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
}

TEST(Victim, ChildEscapesIntoTheRunner) {
  pid_t pid = fork();
  if (pid == 0) return;  // the mistake: no _exit()
  int status;
  waitpid(pid, &status, 0);
}

TEST(Victim, ChildFailsAnAssertion) {
  kata::RunInChild([] { EXPECT_EQ(1, 2) << "victim-child-side failure"; });
}

TEST(Victim, ChildThrows) {
  kata::RunInChild([] { throw std::runtime_error("victim-boom"); });
}

TEST(Victim, ChildDiesOfSigpipe) {
  kata::RunInChild([] {
    signal(SIGPIPE, SIG_DFL);
    raise(SIGPIPE);
  });
}

// Blocks SIGPIPE for a write into a pipe with no reader, then restores the
// mask without taking the SIGPIPE the write raised: it kills the child there.
TEST(Victim, ChildUnblocksAPendingSigpipe) {
  kata::RunInChild([] {
    signal(SIGPIPE, SIG_DFL);
    sigset_t pipe_signal, old_mask;
    sigemptyset(&pipe_signal);
    sigaddset(&pipe_signal, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe_signal, &old_mask);
    int fds[2];
    if (pipe(fds) != 0) return;
    close(fds[0]);
    const ssize_t ignored = write(fds[1], "x", 1);  // EPIPE, SIGPIPE pending
    (void)ignored;
    close(fds[1]);
    pthread_sigmask(SIG_SETMASK, &old_mask, nullptr);  // delivered here
  });
}

TEST(Victim, ChildCallsExit) {
  kata::RunInChild([] { std::exit(4); });
}

// The code under test ends the child with exit code 0 halfway through: the
// same code a child that passed ends with.
TEST(Victim, ChildCallsExitZero) {
  kata::RunInChild([] {
    std::exit(0);
    ADD_FAILURE() << "the test code after the exit";
  });
}

TEST(Victim, UsesTheWrongMechanism) {
  kata::CallCounter calls;
  int fds[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0);
  close(fds[0]);
  close(fds[1]);
  kata::ExpectUsed(calls, {"pipe", "pipe2"}, 1, "a pipe (pipe(2))");
}

TEST(Victim, LeavesSigpipeIgnored) { signal(SIGPIPE, SIG_IGN); }

// Run after LeavesSigpipeIgnored: the runner must have put SIGPIPE back.
TEST(Victim, FindsSigpipeAtItsDefault) {
  struct sigaction action{};
  sigaction(SIGPIPE, nullptr, &action);
  EXPECT_EQ(action.sa_handler, SIG_DFL) << "SIGPIPE was not restored";
}

TEST(Victim, LeavesAMapping) {
  const std::string name = kata::UniqueName("mapped");
  int fd = shm_open(name.c_str(), O_CREAT | O_RDWR, 0600);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(ftruncate(fd, 4096), 0);
  void* data = mmap(nullptr, 4096, PROT_READ, MAP_SHARED, fd, 0);
  ASSERT_NE(data, MAP_FAILED);
  close(fd);
  shm_unlink(name.c_str());  // the name is gone; the mapping is not
}

TEST(Victim, LeavesAThread) {
  std::thread([] { pause(); }).detach();
}

TEST(Victim, ArmsAFaultAndLeaves) {
  // Destroyed at exit, long after the runner disarmed it.
  static kata::InjectedFault fault =
      kata::InjectedFault::Fail({"pipe", "pipe2"}, EMFILE, 1, -1);
  int fds[2];
  EXPECT_NE(pipe(fds), 0);
}

// Declared last, so that it runs after any victim above (a restart after a
// hang must still run it).
TEST(Victim, ZzRunsLast) { SUCCEED(); }

}  // namespace
