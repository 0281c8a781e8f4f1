// File: bench/drivers.h
// -----------------------------------------------------------------------------
//
// The two measurements every mechanism gets, written once, and how each
// mechanism plugs into them.
//
// A mechanism provides "links": a class that creates its kernel objects in
// the constructor (before the peer is forked, so the peer inherits them), then
// finishes its set-up in each process (ParentSetup, PeerSetup: close the ends
// a process does not use, connect and accept). Two shapes:
//
//   round trip   Ping() (parent: send `size` bytes, receive `size` bytes
//                back) and Echo() (peer: receive them, send them back).
//                One timed iteration is one round trip.
//   one way      Send() (parent: one message of `size` bytes) and Receive()
//                (peer: take one message). One timed iteration is one
//                message; the clock stops only once the peer acknowledges
//                the last one, so bytes still in flight are never counted.
//
// Each mechanism has two links of each shape: "kata", through the public API
// of the reference solution in solutions/<topic>, and "raw", the same traffic
// with the system calls written inline. Both run through the same driver, in
// the same process, with the peer created the same way: their ratio is the
// wrapper's cost.
//
// Benchmark names read "<measure>/<mechanism>/<impl>/<bytes>/<placement>",
// for example "latency/pipe/kata/8/split"; tools/bench_report.py parses them.

#ifndef IPC_KATAS_BENCH_DRIVERS_H_
#define IPC_KATAS_BENCH_DRIVERS_H_

#include <benchmark/benchmark.h>

#include <cstddef>
#include <cstdint>
#include <exception>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "bench/harness.h"

namespace bench {

// What the command line chose (bench/main.cc).
struct Settings {
  bool smoke = false;  // every benchmark once, one iteration: CI's check
  std::vector<Placement> placements = {Placement::kSplit, Placement::kSame};
};
Settings& CurrentSettings();

// How long a benchmark may take before the watchdog ends the run.
inline constexpr unsigned kWatchdogSeconds = 120;

// Untimed round trips before the timed loop, so that both processes have
// run, every buffer page is touched and the caches are warm.
std::uint64_t WarmupRoundTrips();
// Untimed messages of `size` bytes before a one-way stream: about 2 MiB, so
// every ring and buffer has gone round a few times.
std::uint64_t WarmupMessages(std::size_t size);

// The outcome of every registered benchmark, for the smoke run's verdict.
void NoteRegistered(const std::string& name);
void NoteCompleted(const std::string& name);
void NoteFailed(benchmark::State& state, const std::string& name,
                const std::string& why);
// Prints one line per failed benchmark and, if `require_all`, per benchmark
// that never completed, plus a summary; returns how many of those there are.
int ReportOutcomes(bool require_all);

// What every registered benchmark gets: real (wall-clock) time, in
// microseconds; in a smoke run, one iteration and one repetition.
void Configure(benchmark::internal::Benchmark* benchmark);

// The benchmark name (see the file comment).
std::string BenchmarkName(const char* measure, const char* mechanism,
                          const char* impl, std::size_t bytes,
                          const char* placement);

// Reports the context switches of both processes during the timed loop, per
// iteration: "switches" and "preempted" (involuntary only) for the parent,
// "peer_switches" and "peer_preempted" for the peer. They explain figures
// that the system calls alone do not (see docs/benchmarks.md).
void CountSwitches(benchmark::State& state, const Switches& parent,
                   const Switches& peer);

template <typename Link>
void MeasureRoundTrip(benchmark::State& state, const std::string& name,
                      Placement placement, std::size_t size) {
  const std::optional<Cpus> cpus = CpusFor(placement);
  if (!cpus) {
    NoteFailed(state, name, "needs two CPUs this process may run on");
    return;
  }
  try {
    Watchdog watchdog(name, kWatchdogSeconds);
    PinThisThread pin(cpus->parent);
    Link link(size);
    Peer peer = Peer::Start(cpus->peer, [&](Orders& orders) {
      link.PeerSetup();
      while (const std::uint64_t count = orders.Next()) {
        for (std::uint64_t i = 0; i < count; ++i) link.Echo();
        orders.Done();
      }
    });
    link.ParentSetup();
    peer.Order(WarmupRoundTrips());
    for (std::uint64_t i = 0; i < WarmupRoundTrips(); ++i) link.Ping();
    peer.AwaitDone();

    peer.Order(static_cast<std::uint64_t>(state.max_iterations));
    const Switches before = SwitchesSoFar();
    for (auto _ : state) link.Ping();
    const Switches peer_switches = peer.AwaitDone();
    CountSwitches(state, SwitchesSoFar() - before, peer_switches);
    NoteCompleted(name);
  } catch (const std::exception& error) {
    NoteFailed(state, name, error.what());
  }
}

template <typename Link>
void MeasureOneWay(benchmark::State& state, const std::string& name,
                   Placement placement, std::size_t size) {
  const std::optional<Cpus> cpus = CpusFor(placement);
  if (!cpus) {
    NoteFailed(state, name, "needs two CPUs this process may run on");
    return;
  }
  try {
    Watchdog watchdog(name, kWatchdogSeconds);
    PinThisThread pin(cpus->parent);
    Link link(size);
    Peer peer = Peer::Start(cpus->peer, [&](Orders& orders) {
      link.PeerSetup();
      while (const std::uint64_t count = orders.Next()) {
        for (std::uint64_t i = 0; i < count; ++i) link.Receive();
        orders.Done();
      }
    });
    link.ParentSetup();
    peer.Order(WarmupMessages(size));
    for (std::uint64_t i = 0; i < WarmupMessages(size); ++i) link.Send();
    peer.AwaitDone();

    const auto last = static_cast<std::uint64_t>(state.max_iterations);
    peer.Order(last);
    std::uint64_t sent = 0;
    Switches peer_switches;
    const Switches before = SwitchesSoFar();
    for (auto _ : state) {
      link.Send();
      // Inside the timed loop: the time includes draining what is still in
      // the channel, so the rate is what the receiver really took.
      if (++sent == last) peer_switches = peer.AwaitDone();
    }
    const Switches parent_switches = SwitchesSoFar() - before;
    state.SetBytesProcessed(state.iterations() *
                            static_cast<std::int64_t>(size));
    CountSwitches(state, parent_switches, peer_switches);
    NoteCompleted(name);
  } catch (const std::exception& error) {
    NoteFailed(state, name, error.what());
  }
}

// Registers one round-trip benchmark per placement of the settings (only
// kSplit if `split_only`: two busy-waiting processes cannot share a CPU).
template <typename Link>
void AddRoundTrip(const char* mechanism, const char* impl, std::size_t size,
                  bool split_only = false) {
  for (Placement placement : CurrentSettings().placements) {
    if (split_only && placement != Placement::kSplit) continue;
    const std::string name =
        BenchmarkName("latency", mechanism, impl, size, NameOf(placement));
    NoteRegistered(name);
    benchmark::RegisterBenchmark(name.c_str(), [name, placement,
                                                size](benchmark::State& state) {
      MeasureRoundTrip<Link>(state, name, placement, size);
    })->Apply(Configure);
  }
}

// Registers one one-way benchmark per placement of the settings (only kSplit
// if `split_only`).
template <typename Link>
void AddOneWay(const char* mechanism, const char* impl, std::size_t size,
               bool split_only = false) {
  for (Placement placement : CurrentSettings().placements) {
    if (split_only && placement != Placement::kSplit) continue;
    const std::string name =
        BenchmarkName("throughput", mechanism, impl, size, NameOf(placement));
    NoteRegistered(name);
    benchmark::RegisterBenchmark(name.c_str(), [name, placement,
                                                size](benchmark::State& state) {
      MeasureOneWay<Link>(state, name, placement, size);
    })->Apply(Configure);
  }
}

// The mechanisms, one registration function each (bench/*_bench.cc).
void RegisterPipe();
void RegisterSysvQueue();
void RegisterPosixQueue();
void RegisterSharedMemory();
void RegisterSockets();
void RegisterFloors();

}  // namespace bench

#endif  // IPC_KATAS_BENCH_DRIVERS_H_
