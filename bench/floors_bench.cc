// The floors: what two processes on this machine can do with no kernel in
// the data path and no sleeping, against which every mechanism is read.
//
//   latency/spin      a round trip through one shared cache line: each side
//                     busy-waits on a turn counter that sits in the same
//                     64-byte line as the first bytes of the message, so an
//                     8-byte round trip moves that one line there and back.
//   throughput/spin-ring
//                     a one-way stream through 8 slots of the message size
//                     in shared memory, with busy-waiting head and tail
//                     counters instead of semaphores: the cost of moving the
//                     bytes from one CPU's cache to the other's, twice copied.
//   throughput/memcpy one process copying each message into the next of 8
//                     slot-sized buffers (the rings' working set, which
//                     stays in the CPU's cache): one memcpy's bandwidth.
//   throughput/memcpy-dram
//                     the same copies streamed through two 64 MiB arrays,
//                     far larger than any cache: main memory's bandwidth.
//   latency/syscall   one system call that does no work (getppid) in one
//                     process: the toll every call into the kernel pays on
//                     this machine before it does anything. It prices a
//                     wrapper's extra calls (docs/benchmarks.md).
//
// Two busy-waiting processes on one CPU would each spin away a whole time
// slice before the other runs, so the spinning floors run split only. They
// also keep both CPUs fully busy, which is what makes them a floor and not a
// design: the blocking mechanisms let a waiting process sleep.

#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <cstdint>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <system_error>
#include <vector>

#include "bench/drivers.h"
#include "bench/harness.h"

namespace bench {
namespace {

constexpr std::size_t kSlots = 8;  // as the shared-memory rings

// Tells the CPU that this is a spin-wait loop (fewer wasted cycles, and the
// sibling hyper-thread, if any, gets the core).
inline void Relax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield");
#endif
}

// Anonymous shared memory: inherited by the forked peer, no name at all.
class SharedPages {
 public:
  explicit SharedPages(std::size_t size) : size_(size) {
    data_ = mmap(nullptr, size, PROT_READ | PROT_WRITE,
                 MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (data_ == MAP_FAILED) {
      throw std::system_error(errno, std::generic_category(),
                              "mmap(MAP_SHARED | MAP_ANONYMOUS)");
    }
  }
  SharedPages(const SharedPages&) = delete;
  SharedPages& operator=(const SharedPages&) = delete;
  ~SharedPages() { munmap(data_, size_); }

  void* data() const { return data_; }

 private:
  std::size_t size_;
  void* data_;
};

// A T constructed in shared pages of its own.
template <typename T>
class SharedAnonymous {
 public:
  SharedAnonymous()
      : object_(std::construct_at(static_cast<T*>(pages_.data()))) {}
  ~SharedAnonymous() { std::destroy_at(object_); }
  T* operator->() const { return object_; }

 private:
  SharedPages pages_{sizeof(T)};
  T* object_;
};

static_assert(std::atomic<std::uint64_t>::is_always_lock_free,
              "a turn counter shared between processes must be lock-free");

// The turn counter and the message share the first cache line.
struct alignas(64) SpinExchange {
  std::atomic<std::uint64_t> turn{0};  // odd: the peer's turn; even: ours
  std::array<char, kKiB> data{};
};

void SpinUntil(const std::atomic<std::uint64_t>& counter, std::uint64_t value) {
  while (counter.load(std::memory_order_acquire) != value) Relax();
}

class SpinRoundTrip {
 public:
  explicit SpinRoundTrip(std::size_t size)
      : size_(size), payload_(Payload(size)), buffer_(size, '\0') {}

  void ParentSetup() {}
  void PeerSetup() {}
  void Ping() {
    std::memcpy(exchange_->data.data(), payload_.data(), size_);
    exchange_->turn.store(turn_ + 1, std::memory_order_release);
    SpinUntil(exchange_->turn, turn_ + 2);
    std::memcpy(buffer_.data(), exchange_->data.data(), size_);
    turn_ += 2;
  }
  void Echo() {
    SpinUntil(exchange_->turn, turn_ + 1);
    std::memcpy(buffer_.data(), exchange_->data.data(), size_);
    std::memcpy(exchange_->data.data(), buffer_.data(), size_);
    exchange_->turn.store(turn_ + 2, std::memory_order_release);
    turn_ += 2;
  }

 private:
  std::size_t size_;
  std::string payload_;
  std::string buffer_;
  std::uint64_t turn_ = 0;  // each process counts the turns it has seen
  SharedAnonymous<SpinExchange> exchange_;
};

// How many messages went in and came out, each on a cache line of its own.
struct SpinCounters {
  alignas(64) std::atomic<std::uint64_t> written{0};
  alignas(64) std::atomic<std::uint64_t> read{0};
};

class SpinRingStream {
 public:
  explicit SpinRingStream(std::size_t size)
      : size_(size),
        payload_(Payload(size)),
        buffer_(size, '\0'),
        slots_(kSlots * size) {}

  void ParentSetup() {}
  void PeerSetup() {}
  void Send() {
    // Wait for a free slot: fewer than kSlots messages unread.
    while (count_ - counters_->read.load(std::memory_order_acquire) >= kSlots) {
      Relax();
    }
    std::memcpy(Slot(count_), payload_.data(), size_);
    counters_->written.store(++count_, std::memory_order_release);
  }
  void Receive() {
    while (counters_->written.load(std::memory_order_acquire) == count_) {
      Relax();
    }
    std::memcpy(buffer_.data(), Slot(count_), size_);
    counters_->read.store(++count_, std::memory_order_release);
  }

 private:
  char* Slot(std::uint64_t message) const {
    return static_cast<char*>(slots_.data()) + (message % kSlots) * size_;
  }

  std::size_t size_;
  std::string payload_;
  std::string buffer_;
  std::uint64_t count_ = 0;  // the parent's written, or the peer's read
  SharedAnonymous<SpinCounters> counters_;
  SharedPages slots_;
};

void MemcpyBandwidth(benchmark::State& state, const std::string& name,
                     std::size_t size) {
  const std::optional<Cpus> cpus = CpusFor(Placement::kSame);
  if (!cpus) {
    NoteFailed(state, name, "no CPU this process may run on");
    return;
  }
  PinThisThread pin(cpus->parent);  // the CPU the parents of the others use
  const std::string source = Payload(size);
  std::vector<char> slots(kSlots * size, '\0');
  std::size_t next = 0;
  for (auto _ : state) {
    char* slot = slots.data() + next * size;
    std::memcpy(slot, source.data(), size);
    benchmark::DoNotOptimize(slot);
    benchmark::ClobberMemory();  // the copy must really happen, every time
    next = (next + 1) % kSlots;
  }
  state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(size));
  NoteCompleted(name);
}

// The same copies streamed through two arrays far larger than every cache,
// so that each one reads from and writes to main memory.
void MemcpyFromMemory(benchmark::State& state, const std::string& name,
                      std::size_t size) {
  const std::optional<Cpus> cpus = CpusFor(Placement::kSame);
  if (!cpus) {
    NoteFailed(state, name, "no CPU this process may run on");
    return;
  }
  PinThisThread pin(cpus->parent);
  constexpr std::size_t kArray = std::size_t{64} << 20;  // 64 MiB each
  std::vector<char> from(kArray, 'x');
  std::vector<char> to(kArray, '\0');
  std::size_t offset = 0;
  for (auto _ : state) {
    std::memcpy(to.data() + offset, from.data() + offset, size);
    benchmark::DoNotOptimize(to.data() + offset);
    benchmark::ClobberMemory();
    offset = (offset + size) % kArray;
  }
  state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(size));
  NoteCompleted(name);
}

// One getppid(), through syscall() so that no C library can answer it from
// a cache: the cheapest system call there is.
void NoOpSystemCall(benchmark::State& state, const std::string& name) {
  const std::optional<Cpus> cpus = CpusFor(Placement::kSame);
  if (!cpus) {
    NoteFailed(state, name, "no CPU this process may run on");
    return;
  }
  PinThisThread pin(cpus->parent);
  for (auto _ : state) {
    benchmark::DoNotOptimize(syscall(SYS_getppid));
  }
  NoteCompleted(name);
}

// Registers a floor that runs in one process (no placement).
void AddOneProcess(const char* mechanism, std::size_t size,
                   void (*measure)(benchmark::State&, const std::string&,
                                   std::size_t)) {
  const std::string name =
      BenchmarkName("throughput", mechanism, "floor", size, "one");
  NoteRegistered(name);
  benchmark::RegisterBenchmark(name.c_str(), [name, size, measure](
                                                 benchmark::State& state) {
    measure(state, name, size);
  })->Apply(Configure);
}

}  // namespace

void RegisterFloors() {
  for (std::size_t size : {kSmall, kKiB}) {
    AddRoundTrip<SpinRoundTrip>("spin", "floor", size, /*split_only=*/true);
  }
  for (std::size_t size : {k4KiB, k64KiB}) {
    AddOneWay<SpinRingStream>("spin-ring", "floor", size, /*split_only=*/true);
    AddOneProcess("memcpy", size, MemcpyBandwidth);
    AddOneProcess("memcpy-dram", size, MemcpyFromMemory);
  }
  const std::string name =
      BenchmarkName("latency", "syscall", "floor", 0, "one");
  NoteRegistered(name);
  benchmark::RegisterBenchmark(name.c_str(), [name](benchmark::State& state) {
    NoOpSystemCall(state, name);
  })->Apply(Configure);
}

}  // namespace bench
