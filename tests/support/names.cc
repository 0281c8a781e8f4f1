// Unique names for IPC objects: the runner's pid and PID namespace, plus a
// counter.

#include <sys/stat.h>

#include <atomic>
#include <cstdio>
#include <string>

#include "tests/support/internal.h"
#include "tests/support/kata.h"

namespace kata {
namespace {

std::atomic<int> g_counter{0};

std::string Stem(std::string_view what) {
  return internal::RunTag() + std::to_string(++g_counter) + "-" +
         std::string(what);
}

}  // namespace

namespace internal {

std::string RunTag() {
  // Bazel's sandbox starts every test in a PID namespace of its own, where
  // the runner often has the same small pid as in the next sandbox; /dev/shm
  // and /tmp are shared between them. The namespace's inode tells the runs
  // apart, so that no leak check reports (and removes) another run's object.
  static const std::string tag = [] {
    struct stat ns {};
    unsigned long inode = 0;
    if (stat("/proc/self/ns/pid", &ns) == 0) inode = ns.st_ino;
    char text[64];
    std::snprintf(text, sizeof(text), "kata-%d-%lx-",
                  static_cast<int>(RunnerPid()), inode);
    return std::string(text);
  }();
  return tag;
}

}  // namespace internal

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
