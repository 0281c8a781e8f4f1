// Settings, naming and the outcome bookkeeping of the drivers. See drivers.h.

#include "bench/drivers.h"

#include <algorithm>
#include <cstdio>
#include <map>
#include <string>

namespace bench {
namespace {

struct Outcome {
  bool completed = false;
  std::string failure;  // the first reason it failed, if it did
};

// By name, so the smoke run's report lists them in a stable order.
std::map<std::string, Outcome>& Outcomes() {
  static std::map<std::string, Outcome> outcomes;
  return outcomes;
}

}  // namespace

Settings& CurrentSettings() {
  static Settings settings;
  return settings;
}

std::uint64_t WarmupRoundTrips() { return CurrentSettings().smoke ? 1 : 200; }

std::uint64_t WarmupMessages(std::size_t size) {
  if (CurrentSettings().smoke) return 1;
  return std::clamp<std::uint64_t>((std::uint64_t{2} << 20) / size, 16, 200);
}

void Configure(benchmark::internal::Benchmark* benchmark) {
  benchmark->UseRealTime()->Unit(benchmark::kMicrosecond);
  if (CurrentSettings().smoke) benchmark->Iterations(1)->Repetitions(1);
}

void CountSwitches(benchmark::State& state, const Switches& parent,
                   const Switches& peer) {
  auto per_iteration = [](long count) {
    return benchmark::Counter(static_cast<double>(count),
                              benchmark::Counter::kAvgIterations);
  };
  state.counters["switches"] =
      per_iteration(parent.voluntary + parent.involuntary);
  state.counters["preempted"] = per_iteration(parent.involuntary);
  state.counters["peer_switches"] =
      per_iteration(peer.voluntary + peer.involuntary);
  state.counters["peer_preempted"] = per_iteration(peer.involuntary);
}

std::string BenchmarkName(const char* measure, const char* mechanism,
                          const char* impl, std::size_t bytes,
                          const char* placement) {
  return std::string(measure) + "/" + mechanism + "/" + impl + "/" +
         std::to_string(bytes) + "/" + placement;
}

void NoteRegistered(const std::string& name) { Outcomes()[name]; }

void NoteCompleted(const std::string& name) {
  Outcomes()[name].completed = true;
}

void NoteFailed(benchmark::State& state, const std::string& name,
                const std::string& why) {
  Outcome& outcome = Outcomes()[name];
  if (outcome.failure.empty()) outcome.failure = why;
  state.SkipWithError(why.c_str());
}

int ReportOutcomes(bool require_all) {
  int incomplete = 0;
  int total = 0;
  for (const auto& [name, outcome] : Outcomes()) {
    ++total;
    if (!outcome.failure.empty()) {
      ++incomplete;
      std::printf("FAILED  %s: %s\n", name.c_str(), outcome.failure.c_str());
    } else if (!outcome.completed && require_all) {
      ++incomplete;
      std::printf("NOT RUN %s\n", name.c_str());
    }
  }
  if (require_all) {
    std::printf("bench: %d of %d benchmarks completed\n", total - incomplete,
                total);
  }
  return incomplete;
}

}  // namespace bench
