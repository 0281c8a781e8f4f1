// The IPC benchmark suite's entry point: registers every benchmark, then runs
// Google Benchmark with this suite's defaults.
//
//   ipc_bench [--smoke] [--placements=split,same] [Google Benchmark flags]
//
// Without --smoke, the defaults are the measurement the report is made from
// (tools/bench passes them explicitly too): 12 repetitions of at least
// 0.15 s each, in random order across all benchmarks
// (--benchmark_enable_random_interleaving), so that the kata version and the
// raw baseline of a mechanism alternate within one run and drift hits both
// alike. Any Google Benchmark flag given on the command line wins.
//
// --smoke runs every benchmark once with one iteration, prints which ones
// failed, and exits with status 1 if any did: the check CI runs so the suite
// cannot rot. It asserts nothing about time.

#include <benchmark/benchmark.h>

#include <cstdio>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "bench/drivers.h"

namespace {

bool ParsePlacements(std::string_view list,
                     std::vector<bench::Placement>& placements) {
  placements.clear();
  while (!list.empty()) {
    const std::size_t comma = list.find(',');
    const std::string_view item = list.substr(0, comma);
    if (item == "split") {
      placements.push_back(bench::Placement::kSplit);
    } else if (item == "same") {
      placements.push_back(bench::Placement::kSame);
    } else {
      return false;
    }
    list = comma == std::string_view::npos ? "" : list.substr(comma + 1);
  }
  return !placements.empty();
}

}  // namespace

int main(int argc, char** argv) {
  bench::Settings& settings = bench::CurrentSettings();
  // Our flags first; the rest goes to Google Benchmark after our defaults,
  // so that a flag given on the command line overrides a default.
  std::vector<char*> args = {argv[0]};
  std::vector<std::string> defaults = {
      "--benchmark_repetitions=12",
      "--benchmark_min_time=0.15",
      "--benchmark_enable_random_interleaving=true",
  };
  std::vector<char*> rest;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (arg == "--smoke") {
      settings.smoke = true;
    } else if (arg.starts_with("--placements=")) {
      if (!ParsePlacements(arg.substr(std::strlen("--placements=")),
                           settings.placements)) {
        std::fprintf(stderr, "ipc_bench: --placements takes split,same\n");
        return 2;
      }
    } else {
      rest.push_back(argv[i]);
    }
  }
  if (settings.smoke) defaults.clear();  // one iteration, once, in order
  for (std::string& flag : defaults) args.push_back(flag.data());
  args.insert(args.end(), rest.begin(), rest.end());
  int count = static_cast<int>(args.size());
  args.push_back(nullptr);

  bench::RegisterFloors();
  bench::RegisterPipe();
  bench::RegisterSysvQueue();
  bench::RegisterPosixQueue();
  bench::RegisterSharedMemory();
  bench::RegisterSockets();

  benchmark::Initialize(&count, args.data());
  if (benchmark::ReportUnrecognizedArguments(count, args.data())) return 2;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  const int incomplete = bench::ReportOutcomes(settings.smoke);
  return settings.smoke && incomplete > 0 ? 1 : 0;
}
