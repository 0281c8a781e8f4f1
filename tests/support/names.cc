// Unique names for IPC objects: the runner's pid and PID namespace, plus a
// counter.

#include <sys/stat.h>

#include <atomic>
#include <string>

#include "tests/support/internal.h"
#include "tests/support/kata.h"

namespace kata::internal {

// Bazel's sandbox runs every test binary in a PID namespace of its own, where
// the runner tends to get the same small pid (12, say), while /dev/shm and
// /tmp are shared by all of them: the pid alone would let two binaries running
// at once pick the same names, and each one's leak check would take the
// other's objects for its own leaks. The namespace's inode tells them apart.
std::string RunTag() {
  static const unsigned long pid_namespace = [] {
    struct stat info {};
    return stat("/proc/self/ns/pid", &info) == 0 ? info.st_ino : 0UL;
  }();
  return "kata-" + std::to_string(RunnerPid()) + "-" +
         std::to_string(pid_namespace) + "-";
}

}  // namespace kata::internal

namespace kata {
namespace {

std::atomic<int> g_counter{0};

std::string Stem(std::string_view what) {
  return internal::RunTag() + std::to_string(++g_counter) + "-" +
         std::string(what);
}

}  // namespace

std::string UniqueName(std::string_view what) { return "/" + Stem(what); }

std::string UniqueSocketPath(std::string_view what) {
  return "/tmp/" + Stem(what);
}

int UniqueSysvKey() {
  // The pid in the high bits lets the leak check recognise this run's keys.
  int n = ++g_counter & 0xff;
  return static_cast<int>((static_cast<unsigned>(RunnerPid()) << 8) |
                          static_cast<unsigned>(n == 0 ? 1 : n));
}

}  // namespace kata
