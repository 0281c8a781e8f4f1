// Unique names for IPC objects: the runner's pid, a number drawn at random
// once per run, and a counter.

#include <sys/random.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "tests/support/internal.h"
#include "tests/support/kata.h"

namespace kata {
namespace {

std::atomic<int> g_counter{0};

// 23 random bits, so that (id << 8) | counter is a positive key_t.
unsigned DrawRunId() {
  unsigned id = 0;
  if (getrandom(&id, sizeof(id), 0) != static_cast<ssize_t>(sizeof(id))) {
    id = static_cast<unsigned>(
        std::chrono::steady_clock::now().time_since_epoch().count());
  }
  id &= 0x7fffff;
  return id == 0 ? 1 : id;
}

// Drawn before main(), in the runner, so every forked child shares it.
const unsigned g_run_id = DrawRunId();

std::string Stem(std::string_view what) {
  return internal::RunTag() + std::to_string(++g_counter) + "-" +
         std::string(what);
}

}  // namespace

namespace internal {

unsigned RunId() { return g_run_id; }

std::string RunTag() {
  char id[16];
  std::snprintf(id, sizeof(id), "%06x", g_run_id);
  // The random part first: a run of an older library, whose tag was
  // "kata-<pid>-", then never takes this run's names for its own.
  return std::string("kata-") + id + "-" + std::to_string(RunnerPid()) + "-";
}

}  // namespace internal

std::string UniqueName(std::string_view what) { return "/" + Stem(what); }

std::string UniqueSocketPath(std::string_view what) {
  return "/tmp/" + Stem(what);
}

std::string RunfilePath(std::string_view relative) {
  const char* srcdir = std::getenv("TEST_SRCDIR");
  const char* workspace = std::getenv("TEST_WORKSPACE");
  if (srcdir != nullptr && workspace != nullptr) {
    return std::string(srcdir) + "/" + workspace + "/" + std::string(relative);
  }
  const std::string here(relative);
  return access(here.c_str(), F_OK) == 0 ? here : "bazel-bin/" + here;
}

int UniqueSysvKey() {
  // The run id in the high bits lets the leak check recognise this run's keys.
  int n = ++g_counter & 0xff;
  return static_cast<int>((g_run_id << 8) |
                          static_cast<unsigned>(n == 0 ? 1 : n));
}

}  // namespace kata
