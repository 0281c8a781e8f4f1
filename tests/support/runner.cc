// Runner-wide state: the shared page, the runner's pid, escaped children.

#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <new>
#include <set>
#include <string>
#include <system_error>

#include "tests/support/internal.h"
#include "tests/support/kata.h"

namespace kata::internal {
namespace {

pid_t g_runner_pid = 0;
pid_t g_kata_child = 0;  // this process, if it is a kata::Child
SharedPage* g_page = nullptr;

std::mutex g_test_mutex;
std::string g_current_test;

// Between the first test's start and the end of the run (main.cc).
std::atomic<bool> g_tests_running{false};

std::mutex g_support_mutex;
std::set<std::string> g_support_objects;

}  // namespace

SharedPage& Shared() {
  if (g_page == nullptr) {
    void* memory = mmap(nullptr, sizeof(SharedPage), PROT_READ | PROT_WRITE,
                        MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (memory == MAP_FAILED) {
      throw std::system_error(errno, std::generic_category(),
                              "mmap(kata shared page)");
    }
    g_page = new (memory) SharedPage{};
  }
  return *g_page;
}

void InitRunner() {
  g_runner_pid = getpid();
  kata_interpose = &Shared().interpose;
  InitTrace();
  // Orphans (a grandchild whose parent died) are re-parented to us rather than
  // to init, so the leak check still sees them and can reap them.
  prctl(PR_SET_CHILD_SUBREAPER, 1);
  RememberHarnessPipes();
}

// By pid: a process forked inside a kata::Child's body inherits the memory,
// not the role.
bool InKataChild() { return g_kata_child != 0 && g_kata_child == getpid(); }
void MarkKataChild() { g_kata_child = getpid(); }

void ExitIfEscapedChild(std::string_view where) {
  if (g_runner_pid == 0 || getpid() == g_runner_pid || InKataChild()) return;
  SharedPage& page = Shared();
  pid_t expected = 0;
  if (page.escaped_pid.compare_exchange_strong(expected, getpid())) {
    std::string text(where.substr(0, sizeof(page.escaped_where) - 1));
    std::memcpy(page.escaped_where, text.c_str(), text.size() + 1);
  }
  // Not exit(): that would run the runner's atexit handlers and flush its
  // stdio buffers a second time. Whoever waits for this child sees exit code
  // kEscapedChildExitCode; the report at the test's end explains it.
  _exit(kEscapedChildExitCode);
}

void SetTestsRunning(bool running) { g_tests_running = running; }

void SetCurrentTest(std::string name) {
  std::lock_guard<std::mutex> lock(g_test_mutex);
  g_current_test = std::move(name);
}

std::string CurrentTest() {
  std::lock_guard<std::mutex> lock(g_test_mutex);
  return g_current_test;
}

void RegisterSupportObject(int fd) {
  struct stat st{};
  if (fstat(fd, &st) != 0) return;
  std::string target = S_ISFIFO(st.st_mode)   ? "pipe:["
                       : S_ISSOCK(st.st_mode) ? "socket:["
                                              : "";
  if (target.empty()) return;
  std::lock_guard<std::mutex> lock(g_support_mutex);
  g_support_objects.insert(target + std::to_string(st.st_ino) + "]");
}

unsigned SanitizerPipesMade() {
  if (kata_interpose == nullptr) return 0;
  return __atomic_load_n(&kata_interpose->sanitizer_pipes_next,
                         __ATOMIC_ACQUIRE);
}

std::string LastSanitizerPipe() {
  const unsigned made = SanitizerPipesMade();
  if (made == 0) return "";
  return "pipe:[" +
         std::to_string(__atomic_load_n(
             &kata_interpose
                  ->sanitizer_pipes[(made - 1) % KATA_SANITIZER_PIPES],
             __ATOMIC_ACQUIRE)) +
         "]";
}

bool IsSupportObject(const std::string& target) {
  if (target.rfind("pipe:[", 0) == 0 && kata_interpose != nullptr) {
    const unsigned long inode = std::strtoul(target.c_str() + 6, nullptr, 10);
    for (const unsigned long& made : kata_interpose->sanitizer_pipes) {
      if (__atomic_load_n(&made, __ATOMIC_ACQUIRE) == inode) return true;
    }
  }
  std::lock_guard<std::mutex> lock(g_support_mutex);
  return g_support_objects.count(target) > 0;
}

void WriteRaw(int fd, std::string_view text) {
  Bypass quiet;
  while (!text.empty()) {
    ssize_t n = write(fd, text.data(), text.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
    text.remove_prefix(static_cast<std::size_t>(n));
  }
}

}  // namespace kata::internal

// Called by interpose.c whenever an IPC name is created.
extern "C" void kata_record_created(char kind, const char* name) {
  using kata::internal::g_page;
  if (g_page == nullptr || name == nullptr) return;
  int slot = g_page->created_count.fetch_add(1);
  if (slot < 0 || slot >= 64) return;
  g_page->created_kind[slot] = kind;
  std::strncpy(g_page->created_names[slot], name,
               sizeof(g_page->created_names[slot]) - 1);
}

namespace kata {

pid_t RunnerPid() { return internal::g_runner_pid; }

pid_t TakeChildThatCalledExit() {
  return internal::Shared().exited_pid.exchange(0);
}

}  // namespace kata

// The code under test called _exit() in the process that runs the tests
// (exit() goes through OnExit in main.cc instead). Bazel 4.2.3 would take a
// status of 0 for a pass, while the tests after this one never ran: most
// often the parent and the child swapped roles after fork(), and the child
// carries on with the tests. Turn it into a failure that says so.
extern "C" int kata_runner_exit_status(int status) {
  using namespace kata::internal;
  if (!g_tests_running || g_runner_pid == 0 || getpid() != g_runner_pid) {
    return status;
  }
  g_tests_running = false;
  WriteRaw(STDOUT_FILENO,
           "\n[  FAILED  ] _exit(" + std::to_string(status) +
               ") was called in the test runner during " + CurrentTest() +
               ": the code under test ended the process that runs the "
               "tests. Only a forked child may end with _exit(); did the "
               "parent take the child's branch after fork() (the child is "
               "where fork returns 0)?\n");
  return 3;
}
