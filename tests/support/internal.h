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
#include <cstddef>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "tests/support/interpose.h"

namespace kata::internal {

// The name of each interposed call, by its KATA_CALL_* index (interpose.h).
#define KATA_CALL_NAME(name) #name,
inline constexpr const char* kCountedCalls[] = {KATA_CALL_LIST(KATA_CALL_NAME)};
#undef KATA_CALL_NAME
inline constexpr int kNumCountedCalls = KATA_NUM_CALLS;
static_assert(kNumCountedCalls <= KATA_MAX_CALLS);

// The KATA_CALL_* index of `call`, or -1 if it is not interposed.
int CallIndex(std::string_view call);

// Bypass
//
// The support library's own system calls (reading /proc, reporting a child's
// failures, the watchdog) must not count as calls of the code under test, and
// an armed fault must not break them: they run inside a Bypass.
class Bypass {
 public:
  Bypass() { kata_bypass_enter(); }
  ~Bypass() { kata_bypass_leave(); }
  Bypass(const Bypass&) = delete;
  Bypass& operator=(const Bypass&) = delete;
};

// Disarms every fault a test armed (at the start and end of every test).
void DisarmAllFaults();

struct SharedPage {
  // Call counts and armed faults, shared with interpose.c.
  kata_interpose_state interpose;
  // Set by the first forked child found running test code in the runner's
  // place; the parent reports it when its current test ends.
  std::atomic<pid_t> escaped_pid;
  char escaped_where[512];
  // Names created with O_CREAT by shm_open ('p'), sem_open ('s') and mq_open
  // ('m') since the current test started, by any process of the run: the
  // leak check looks each one up at the end of the test. (/dev/mqueue, where
  // POSIX queues would be visible, is not mounted everywhere.)
  std::atomic<int> created_count;
  // Set by a child forked by the code under test that called exit() instead
  // of _exit() (an atexit handler notices it); reported at the test's end.
  std::atomic<pid_t> exited_pid;
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
// that returned into test code: record it for the parent and _exit with
// kEscapedChildExitCode (a number a test may then print as "got 86").
inline constexpr int kEscapedChildExitCode = 86;
void ExitIfEscapedChild(std::string_view where);

// What tells this run's IPC names and keys from every other run's (names.cc).
// The runner's pid alone does not: Bazel starts each test binary in its own PID
// namespace, where runners get the same small pids, while /tmp, /dev/shm and
// the System V key space are shared by the whole machine. So names carry the
// pid and a number drawn at random before main(): RunTag() is
// "kata-<run id in hex>-<pid>-", and every UniqueSysvKey() is
// (RunId() << 8) | counter.
unsigned RunId();
std::string RunTag();

// Whether the tests are running: then the runner's own _exit() is a failure
// (kata_runner_exit_status in runner.cc).
void SetTestsRunning(bool running);

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
// Call once at start-up: pipes open then (the test harness's) are left out of
// DescribePipes.
void RememberHarnessPipes();
// One line per pipe held by `pids`: which pids hold its read and write ends.
std::string DescribePipes(const std::vector<pid_t>& pids);
std::string DescribeFd(const FdInfo& fd);
std::string SignalName(int signal);
std::string SignalMeaning(int signal);

// What the kernel shows about a hung test (deadlock.cc): one line per process
// (state, the call it is blocked in and on what), who holds which pipe end,
// and the cause derived from that evidence (the test's own guess `guess` is
// kept only when nothing clearer shows, or as a second line when it agrees).
struct BlockedCall {
  pid_t pid = 0;
  std::string call;       // "write"
  long fd = -1;           // the descriptor it is blocked on, if any
  std::string argument;   // otherwise what it waits for ("pid 23")
  long long time_ns = 0;  // CLOCK_MONOTONIC when the watchdog looked
};

struct DeadlockView {
  std::string processes, pipes, cause;
  // Each blocked process and the call it is blocked in, for the timeline:
  // the calls that never returned.
  std::vector<struct BlockedCall> blocked;
};
DeadlockView ExamineDeadlock(const std::string& guess);
bool IsHarnessPipe(const std::string& target);

// Results that survive a restart of the runner (resume.cc). When a hung test
// cannot be stopped (the runner itself is blocked for good), the watchdog
// starts the binary again for the tests not yet run; the results so far are
// carried over, shown in the stage table and merged into the XML report.
struct FinishedTest {
  std::string suite, name;
  enum Status { kPassed, kFailed, kSkipped, kHung } status = kPassed;
  double seconds = 0;
  std::string message;  // failure text, for the report
};
void RecordFinished(FinishedTest test);
std::vector<FinishedTest> CarriedResults();
// main(): keeps argv for a restart and reads --kata_resume=FILE (removed).
void PrepareResume(int* argc, char** argv);
// main(), before InitGoogleTest and after RUN_ALL_TESTS: the XML report then
// covers the carried results too.
void RedirectXmlForResume(int argc, char** argv);
void MergeCarriedIntoXml();
// The watchdog thread: starts the runner again for the tests after `hung`.
[[noreturn]] void RestartAfterHang(const std::string& hung,
                                   const std::string& message);

// The test declared hung by the watchdog ("" if none); set until the next
// test starts. Failures the hung test reports after its children were killed
// are consequences of the kill and are not printed.
std::string HungTest();
void SetHungTest(std::string test);
// The calls the hung test's processes were blocked in (from the watchdog's
// DeadlockView), shown at the end of its timeline.
std::vector<BlockedCall> BlockedCalls();
void SetBlockedCalls(std::vector<BlockedCall> calls);

// The timeline of a test's calls (trace.cc, recorded by interpose.c).
void InitTrace();    // once, by the runner (KATA_TRACE=0: never)
void StartTrace();   // at the start of each test
void StopTrace();    // at its end, before the support library's own work
bool TraceAlways();  // KATA_TRACE=1: print it for passing tests too
std::string RenderCurrentTimeline();
std::vector<kata_event> TraceEvents(unsigned long* dropped);
std::string CallName(int call);  // of a kata_event

// Watchdog (watchdog.cc).
void StartWatchdog();
void ArmWatchdog(const std::string& test, std::chrono::milliseconds deadline);
void SetDeadlockCause(std::string cause, std::chrono::milliseconds deadline);
void DisarmWatchdog();
double TimeScale();

// Leak check (leak_check.cc).
struct Snapshot {
  std::set<int> fds;
  std::set<pid_t> children;
  std::set<std::string> shm, mqueue, sysv, sockets, mappings;
  std::size_t threads = 0;
  int created = 0;  // entries of SharedPage::created_names already there
};
Snapshot TakeSnapshot();
// Before each test: the snapshot the leak check compares with.
void TakeLeakSnapshot();
// Returns one message per leak and cleans each leak up (descriptors are left
// open when `close_descriptors` is false: a thread may still be blocked on
// one, as when the watchdog restarts the run).
std::vector<std::string> FindAndCleanLeaks(bool close_descriptors = true);
std::vector<std::string> FindAndCleanLeaksSince(const Snapshot& before,
                                                bool close_descriptors = true);

// Objects of the support library itself ("pipe:[123]"), which
// MechanismWatch leaves out (runner.cc).
void RegisterSupportObject(int fd);
bool IsSupportObject(const std::string& target);
// How many pipes the sanitizers' runtimes made in the test's processes so
// far (interpose.c), and the target ("pipe:[123]") of the last one.
unsigned SanitizerPipesMade();
std::string LastSanitizerPipe();

// Stages (hints.cc).
struct Stage {
  std::string suite, title, where;
};
const Stage* FindStage(std::string_view suite);
std::vector<Stage> AllStages();

// Raw write of a whole string to a descriptor, usable after fork and from
// the watchdog thread.
void WriteRaw(int fd, std::string_view text);

}  // namespace kata::internal

#endif  // IPC_KATAS_TESTS_SUPPORT_INTERNAL_H_
