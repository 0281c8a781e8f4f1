// What the kernel knows about processes and descriptors, read from /proc.

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "tests/support/internal.h"
#include "tests/support/kata.h"

namespace kata::internal {
namespace {

std::string ReadFirstLine(const std::string& path) {
  std::ifstream in(path);
  std::string line;
  std::getline(in, line);
  return line;
}

std::vector<pid_t> AllPids() {
  Bypass quiet;
  std::vector<pid_t> pids;
  DIR* dir = opendir("/proc");
  if (dir == nullptr) return pids;
  while (dirent* entry = readdir(dir)) {
    char* end = nullptr;
    long pid = std::strtol(entry->d_name, &end, 10);
    if (end != entry->d_name && *end == '\0') pids.push_back(pid);
  }
  closedir(dir);
  return pids;
}

std::string ReadLink(const std::string& path) {
  char buffer[512];
  ssize_t n = readlink(path.c_str(), buffer, sizeof(buffer) - 1);
  if (n < 0) return "?";
  return std::string(buffer, static_cast<std::size_t>(n));
}

}  // namespace

bool ReadProc(pid_t pid, ProcInfo* info) {
  Bypass quiet;
  std::string stat = ReadFirstLine("/proc/" + std::to_string(pid) + "/stat");
  // Format: pid (comm) state ppid ...; comm may itself contain ')' or spaces.
  std::size_t open = stat.find('(');
  std::size_t close = stat.rfind(')');
  if (open == std::string::npos || close == std::string::npos) return false;
  info->pid = pid;
  info->comm = stat.substr(open + 1, close - open - 1);
  std::istringstream rest(stat.substr(close + 1));
  rest >> info->state >> info->ppid;
  info->wchan = ReadFirstLine("/proc/" + std::to_string(pid) + "/wchan");
  if (info->wchan.empty() || info->wchan == "0") info->wchan = "-";
  return true;
}

std::vector<pid_t> ChildrenOf(pid_t parent) {
  std::vector<pid_t> children;
  for (pid_t pid : AllPids()) {
    ProcInfo info;
    if (pid != parent && ReadProc(pid, &info) && info.ppid == parent) {
      children.push_back(pid);
    }
  }
  return children;
}

std::vector<pid_t> DescendantsOf(pid_t root) {
  std::vector<ProcInfo> all;
  for (pid_t pid : AllPids()) {
    ProcInfo info;
    if (ReadProc(pid, &info)) all.push_back(info);
  }
  std::vector<pid_t> found;
  std::vector<pid_t> frontier = {root};
  while (!frontier.empty()) {
    pid_t parent = frontier.back();
    frontier.pop_back();
    for (const ProcInfo& info : all) {
      if (info.ppid == parent && info.pid != root) {
        found.push_back(info.pid);
        frontier.push_back(info.pid);
      }
    }
  }
  return found;
}

std::string StateName(char state) {
  switch (state) {
    case 'R':
      return "running";
    case 'S':
      return "sleeping (blocked in a system call)";
    case 'D':
      return "uninterruptible sleep";
    case 'Z':
      return "zombie (ended, never reaped with waitpid)";
    case 'T':
      return "stopped";
    case 't':
      return "traced";
    default:
      return std::string("state ") + state;
  }
}

std::vector<FdInfo> FdsOf(pid_t pid) {
  Bypass quiet;
  std::vector<FdInfo> fds;
  std::string base = "/proc/" + std::to_string(pid) + "/fd";
  DIR* dir = opendir(base.c_str());
  if (dir == nullptr) return fds;
  int own = dirfd(dir);
  while (dirent* entry = readdir(dir)) {
    if (entry->d_name[0] == '.') continue;
    int fd = std::atoi(entry->d_name);
    if (pid == getpid() && fd == own) continue;
    FdInfo info;
    info.fd = fd;
    info.target = ReadLink(base + "/" + entry->d_name);
    std::ifstream fdinfo("/proc/" + std::to_string(pid) + "/fdinfo/" +
                         entry->d_name);
    std::string key;
    while (fdinfo >> key) {
      if (key == "flags:") {
        std::string octal;
        fdinfo >> octal;
        long flags = std::strtol(octal.c_str(), nullptr, 8);
        info.accmode = static_cast<int>(flags & O_ACCMODE);
        info.cloexec = (flags & O_CLOEXEC) != 0;
        break;
      }
      std::getline(fdinfo, key);
    }
    fds.push_back(info);
  }
  closedir(dir);
  return fds;
}

std::string DescribeFd(const FdInfo& fd) {
  std::string text = "fd " + std::to_string(fd.fd) + " -> " + fd.target;
  if (fd.target.rfind("pipe:", 0) == 0) {
    text += fd.accmode == O_WRONLY ? " (write end)" : " (read end)";
  }
  return text;
}

namespace {

// Pipes the runner was started with (Bazel hands a test its stdin and output
// as pipes): not the test's business, so the deadlock report leaves them out.
std::set<std::string>& HarnessPipes() {
  static std::set<std::string> pipes;
  return pipes;
}

}  // namespace

void RememberHarnessPipes() {
  for (const FdInfo& fd : FdsOf(getpid())) {
    if (fd.target.rfind("pipe:", 0) == 0) HarnessPipes().insert(fd.target);
  }
}

bool IsHarnessPipe(const std::string& target) {
  return HarnessPipes().count(target) > 0;
}

std::string DescribePipes(const std::vector<pid_t>& pids) {
  struct Ends {
    std::vector<std::string> readers, writers;
  };
  std::map<std::string, Ends> pipes;
  for (pid_t pid : pids) {
    for (const FdInfo& fd : FdsOf(pid)) {
      if (fd.target.rfind("pipe:", 0) != 0) continue;
      if (HarnessPipes().count(fd.target)) continue;
      std::string who =
          "pid " + std::to_string(pid) + " fd " + std::to_string(fd.fd);
      (fd.accmode == O_WRONLY ? pipes[fd.target].writers
                              : pipes[fd.target].readers)
          .push_back(who);
    }
  }
  std::string text;
  auto join = [](const std::vector<std::string>& items) {
    if (items.empty()) return std::string("nobody");
    std::string out;
    for (const std::string& item : items)
      out += (out.empty() ? "" : ", ") + item;
    return out;
  };
  for (const auto& [name, ends] : pipes) {
    text += "    " + name + "  read end: " + join(ends.readers) +
            "  |  write end: " + join(ends.writers) + "\n";
  }
  return text;
}

std::string SignalName(int signal) {
  const char* abbrev = sigabbrev_np(signal);
  return abbrev ? std::string("SIG") + abbrev
                : "signal " + std::to_string(signal);
}

std::string SignalMeaning(int signal) {
  switch (signal) {
    case SIGPIPE:
      return "it wrote to a pipe or socket whose reading side was closed, "
             "with SIGPIPE neither blocked nor ignored; ignore or block "
             "SIGPIPE and handle the EPIPE error instead";
    case SIGBUS:
      return "it touched a mapping beyond the end of the object behind it "
             "(was the shared memory object ftruncate()d?)";
    case SIGSEGV:
      return "it touched memory it does not own (a pointer into another "
             "process's address space, or a use after unmap)";
    case SIGABRT:
      return "abort(): a failed assert, std::terminate (an exception nobody "
             "caught), or a sanitizer report above";
    case SIGKILL:
      return "killed by SIGKILL (by the test, the watchdog or the kernel)";
    case SIGALRM:
      return "an alarm() went off: it was still blocked when its own timer "
             "expired";
    default:
      return strsignal(signal);
  }
}

}  // namespace kata::internal

namespace kata {

char ProcessState(pid_t pid) {
  internal::ProcInfo info;
  return internal::ReadProc(pid, &info) ? info.state : '?';
}

bool WaitUntilBlocked(pid_t pid, std::chrono::milliseconds limit) {
  internal::Bypass quiet;
  // The main thread's state: /proc/<pid>/stat would also do, but the runner
  // has a watchdog thread, and the task entry names exactly the main thread.
  std::string path =
      "/proc/" + std::to_string(pid) + "/task/" + std::to_string(pid) + "/stat";
  auto deadline = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < deadline) {
    std::ifstream in(path);
    std::string stat;
    std::getline(in, stat);
    std::size_t close = stat.rfind(')');
    if (close == std::string::npos || close + 2 >= stat.size()) {
      return false;  // the process is gone
    }
    const char state = stat[close + 2];
    if (state == 'S') return true;
    if (state == 'Z' || state == 'X') return false;  // it ended
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return false;
}

InterruptingSignal::InterruptingSignal(int signal, int flags)
    : signal_(signal) {
  internal::Bypass quiet;
  struct sigaction action{};
  action.sa_handler = [](int) {};
  sigemptyset(&action.sa_mask);
  action.sa_flags = flags;
  sigaction(signal_, &action, &old_);
}

InterruptingSignal::~InterruptingSignal() {
  internal::Bypass quiet;
  sigaction(signal_, &old_, nullptr);
}

void InterruptRunnerWhenBlocked(int signal) {
  if (!WaitUntilBlocked(RunnerPid())) {
    ADD_FAILURE() << "the test runner never blocked in a system call, so "
                     "there was nothing for "
                  << internal::SignalName(signal) << " to interrupt";
    return;
  }
  {
    internal::Bypass quiet;
    kill(RunnerPid(), signal);
  }
  // Give the interrupted call time to return (and be retried) before the
  // caller goes on.
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
}

std::string Difference(std::string_view expected, std::string_view actual) {
  if (expected == actual) return "";
  std::size_t at = 0;
  while (at < expected.size() && at < actual.size() &&
         expected[at] == actual[at]) {
    ++at;
  }
  return "expected " + std::to_string(expected.size()) + " bytes, got " +
         std::to_string(actual.size()) + "; first difference at byte " +
         std::to_string(at);
}

std::vector<int> OpenDescriptors() {
  std::vector<int> fds;
  for (const internal::FdInfo& fd : internal::FdsOf(getpid())) {
    fds.push_back(fd.fd);
  }
  std::sort(fds.begin(), fds.end());
  return fds;
}

std::vector<int> InheritableDescriptors() {
  std::vector<int> fds;
  for (const internal::FdInfo& fd : internal::FdsOf(getpid())) {
    if (!fd.cloexec) fds.push_back(fd.fd);
  }
  std::sort(fds.begin(), fds.end());
  return fds;
}

std::vector<pid_t> ChildProcesses() { return internal::ChildrenOf(getpid()); }

}  // namespace kata
