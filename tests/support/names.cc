// Unique names for IPC objects: the runner's pid, a number drawn at random
// once per run, and a counter.

#include <atomic>
#include <cstdio>
#include <random>
#include <string>

#include "tests/support/internal.h"
#include "tests/support/kata.h"

namespace kata::internal {

// Bazel's sandbox runs every test binary in a PID namespace of its own, where
// the runner tends to get the same small pid (12, say), while /dev/shm and
// /tmp are shared by all of them. With the pid alone, two binaries running at
// once would pick the same names (and each one's leak check would take the
// other's objects for its own leaks), and a binary that crashed would leave
// names behind that the next run with that pid collides with. A random
// number drawn once per run tells runs apart; InitRunner draws it before any
// test forks, so that children share it.
std::string RunTag() {
  static const unsigned nonce = std::random_device{}();
  char hex[16];
  std::snprintf(hex, sizeof(hex), "%08x", nonce);
  return "kata-" + std::to_string(RunnerPid()) + "-" + hex + "-";
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
