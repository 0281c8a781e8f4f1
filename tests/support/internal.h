// File: tests/support/internal.h
// -----------------------------------------------------------------------------
//
// Shared state of the support library, not for tests. The state that children
// must be able to update (call counters, a child escaping into the runner)
// lives in one MAP_SHARED page mapped before the first test forks.

#ifndef IPC_KATAS_TESTS_SUPPORT_INTERNAL_H_
#define IPC_KATAS_TESTS_SUPPORT_INTERNAL_H_

#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <string>
#include <string_view>
#include <vector>

namespace kata::internal {

// Index of each counted call; the order matches the KATA_CALL_* indices in
// interpose.c. Grouped by the kata that asks for them.
inline constexpr const char* kCountedCalls[] = {
    // pipe
    "pipe", "pipe2", "fork", "socketpair", "socket", "mkfifo",
    // POSIX names
    "shm_open", "sem_open", "mq_open",
    // System V message queues
    "msgget", "msgsnd", "msgrcv", "msgctl",
    // POSIX message queues
    "mq_send", "mq_timedsend", "mq_receive", "mq_timedreceive", "mq_unlink",
    // shared memory and semaphores
    "shm_unlink", "mmap", "ftruncate", "sem_init", "sem_wait", "sem_timedwait",
    "sem_trywait", "sem_post", "sem_unlink", "shmget", "semget",
    // sockets
    "bind", "listen", "accept", "accept4", "connect", "shutdown", "send",
    "recv", "sendmsg", "recvmsg",
    // what a kata must NOT swap in for processes
    "pthread_create"};
inline constexpr int kNumCountedCalls =
    sizeof(kCountedCalls) / sizeof(kCountedCalls[0]);
inline constexpr int kMaxCountedCalls = 64;
static_assert(kNumCountedCalls <= kMaxCountedCalls);

struct SharedPage {
  std::atomic<long> calls[kMaxCountedCalls];
  // Set by the first forked child found running test code in the runner's
  // place; the parent reports it when its current test ends.
  std::atomic<pid_t> escaped_pid;
  char escaped_where[512];
  // Names created with O_CREAT by shm_open ('p'), sem_open ('s') and mq_open
  // ('m') since the current test started, by any process of the run: the
  // leak check looks each one up at the end of the test. (/dev/mqueue, where
  // POSIX queues would be visible, is not mounted everywhere.)
  std::atomic<int> created_count;
  char created_kind[64];
  char created_names[64][96];
};

// Maps the page on first use; call it from main() before any test forks.
SharedPage& Shared();

// Call once from main(): records the runner's pid, maps the shared page and
// makes the runner a child subreaper so that orphaned grandchildren stay
// visible to the leak check.
void InitRunner();

// True in a process forked by kata::Child (whose GoogleTest results travel
// back to the parent).
bool InKataChild();
void MarkKataChild();

// If this process is not the runner and not a kata::Child, it is a forked child
// that returned into test code: record it for the parent and _exit.
void ExitIfEscapedChild(std::string_view where);

// Current test, as "Suite.Name".
void SetCurrentTest(std::string name);
std::string CurrentTest();

// Process helpers (proc.cc).
struct ProcInfo {
  pid_t pid = 0;
  pid_t ppid = 0;
  char state = '?';
  std::string comm;
  std::string wchan;
};
bool ReadProc(pid_t pid, ProcInfo* info);
std::vector<pid_t> ChildrenOf(pid_t parent);
std::vector<pid_t> DescendantsOf(pid_t root);
std::string StateName(char state);
// "pipe:[123]" etc. for each open fd of `pid`, with access mode.
struct FdInfo {
  int fd = -1;
  std::string target;
  int accmode = 0;  // O_RDONLY, O_WRONLY or O_RDWR
  bool cloexec = false;
};
std::vector<FdInfo> FdsOf(pid_t pid);
// One line per pipe held by `pids`: which pids hold its read and write ends.
std::string DescribePipes(const std::vector<pid_t>& pids);
std::string DescribeFd(const FdInfo& fd);
std::string SignalName(int signal);
std::string SignalMeaning(int signal);

// Watchdog (watchdog.cc).
void StartWatchdog();
void ArmWatchdog(const std::string& test, std::chrono::milliseconds deadline);
void SetDeadlockCause(std::string cause, std::chrono::milliseconds deadline);
void DisarmWatchdog();
double TimeScale();

// Leak check (leak_check.cc).
void TakeLeakSnapshot();
// Returns one message per leak and cleans each leak up.
std::vector<std::string> FindAndCleanLeaks();

// Stages (hints.cc).
struct Stage {
  std::string suite, title, where;
};
const Stage* FindStage(std::string_view suite);
std::vector<Stage> AllStages();

// "kata-<runner pid>-<8 random hex digits>-": how every IPC name of this run
// begins (names.cc), and how the leak check recognises them.
std::string RunTag();

// Raw write of a whole string to a descriptor, usable after fork and from
// the watchdog thread.
void WriteRaw(int fd, std::string_view text);

}  // namespace kata::internal

#endif  // IPC_KATAS_TESTS_SUPPORT_INTERNAL_H_
