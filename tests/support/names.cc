// Unique names for IPC objects: the runner's pid plus a counter.

#include <atomic>
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
