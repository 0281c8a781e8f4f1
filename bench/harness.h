// File: bench/harness.h
// -----------------------------------------------------------------------------
//
// What every IPC benchmark of this folder shares: where its two processes
// run, how the second one is created, how the two agree on how much work
// comes next, and the raw read/write loops the baselines use.
//
// Each measurement runs between the benchmark process (the "parent", which
// Google Benchmark times) and a forked peer process. Both are always created
// the same way, by Peer::Start, for the reference solution and for the raw
// baseline alike, and both are pinned to a CPU chosen by the Placement:
//
//   kSplit  parent on one CPU, peer on another: every hand-off that wakes a
//           sleeping peer is a cross-CPU wake-up;
//   kSame   both on one CPU: a blocking hand-off is a context switch there.
//
// The peer learns how much work comes next through a control pipe
// (Peer::Order), does it, and acknowledges (Peer::AwaitDone). Nothing on the
// control pipe is timed, except the final acknowledgement of a throughput
// run: it tells the parent that the peer has consumed the last byte.
//
// Example (a round trip through some `link`, one per timed iteration):
//
//   bench::Peer peer = bench::Peer::Start(cpus.peer, [&](bench::Orders& in) {
//     link.PeerSetup();
//     while (std::uint64_t count = in.Next()) {
//       for (std::uint64_t i = 0; i < count; ++i) link.Echo();
//       in.Done();
//     }
//   });
//
// Errors: a failed system call throws std::system_error naming the call and
// the object; a peer that misbehaves throws std::runtime_error.

#ifndef IPC_KATAS_BENCH_HARNESS_H_
#define IPC_KATAS_BENCH_HARNESS_H_

#include <sched.h>
#include <sys/types.h>

#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

namespace bench {

// Fd
//
// Owns one file descriptor of a baseline and closes it when destroyed.
// Move-only. (The katas have their own; the baselines use none of their code.)
class Fd {
 public:
  Fd() = default;
  explicit Fd(int fd) noexcept : fd_(fd) {}
  Fd(Fd&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  Fd& operator=(Fd&& other) noexcept {
    if (this != &other) Reset(std::exchange(other.fd_, -1));
    return *this;
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() { Reset(); }

  int get() const noexcept { return fd_; }
  void Reset(int fd = -1) noexcept;

 private:
  int fd_ = -1;
};

// RawPipe()
//
// pipe2(O_CLOEXEC), as two owned descriptors: {read end, write end}. Throws
// std::system_error naming "pipe2".
struct RawPipeEnds {
  Fd read_end;
  Fd write_end;
};
RawPipeEnds RawPipe();

// The message sizes the issue asks for: round trips of 8 B and 1 KiB,
// one-way streams of 4 KiB and 64 KiB messages.
inline constexpr std::size_t kSmall = 8;
inline constexpr std::size_t kKiB = 1024;
inline constexpr std::size_t k4KiB = 4 * 1024;
inline constexpr std::size_t k64KiB = 64 * 1024;

// Where the two processes of a measurement run (see the file comment).
enum class Placement { kSplit, kSame };

// "split" or "same": how benchmark names and the report spell a placement.
const char* NameOf(Placement placement);

// The CPU of each process for one placement.
struct Cpus {
  int parent = 0;
  int peer = 0;
};

// CpusFor()
//
// The first two CPUs this process may run on (sched_getaffinity), assigned
// by `placement`. std::nullopt for kSplit when only one CPU is allowed.
std::optional<Cpus> CpusFor(Placement placement);

// PinThisThread
//
// Pins the calling thread to `cpu` while it exists and restores the previous
// affinity mask afterwards, so one benchmark's pinning never leaks into the
// next. Throws std::system_error naming "sched_setaffinity(cpu N)".
class PinThisThread {
 public:
  explicit PinThisThread(int cpu);
  ~PinThisThread();
  PinThisThread(const PinThisThread&) = delete;
  PinThisThread& operator=(const PinThisThread&) = delete;

 private:
  cpu_set_t previous_;
};

// Switches
//
// How often a process has given up its CPU: by blocking (voluntary) or
// because the scheduler switched to another process (involuntary), as
// getrusage(RUSAGE_SELF) counts them.
struct Switches {
  long voluntary = 0;
  long involuntary = 0;

  Switches operator-(const Switches& earlier) const {
    return {voluntary - earlier.voluntary, involuntary - earlier.involuntary};
  }
};
Switches SwitchesSoFar();

// Orders
//
// The peer's end of the control pipes: what it reads the next order from and
// acknowledges it on.
class Orders {
 public:
  Orders(int from_parent, int to_parent) : in_(from_parent), out_(to_parent) {}

  // Waits for the next order: how many units of work to do. Returns 0 once
  // the parent has closed the control pipe (time to end).
  std::uint64_t Next();
  // Tells the parent that the current order is complete, and how often this
  // process gave up its CPU while doing it.
  void Done();

 private:
  int in_;
  int out_;
  Switches start_;  // at the last Next()
};

// Peer
//
// A forked peer process. Start() forks; the child pins itself to its CPU,
// asks the kernel to kill it if the parent dies (PR_SET_PDEATHSIG, so a
// crashed benchmark leaves no process behind), runs `body` and ends with
// _exit: 0 if `body` returned, 1 (after printing the reason on stderr) if it
// threw. The child never returns into Google Benchmark.
//
// Move-only. Destruction closes the control pipe (the peer's Orders::Next()
// then returns 0), gives the peer a few seconds to end, kills it (SIGKILL) if
// it has not, and reaps it. Never throws.
class Peer {
 public:
  using Body = std::function<void(Orders& orders)>;

  static Peer Start(int cpu, const Body& body);

  Peer() = default;
  Peer(Peer&& other) noexcept
      : pid_(std::exchange(other.pid_, -1)),
        to_peer_(std::exchange(other.to_peer_, -1)),
        from_peer_(std::exchange(other.from_peer_, -1)) {}
  Peer& operator=(Peer&&) = delete;
  Peer(const Peer&) = delete;
  Peer& operator=(const Peer&) = delete;
  ~Peer();

  pid_t pid() const noexcept { return pid_; }

  // Order()
  //
  // Asks the peer for `count` units of work (round trips answered, messages
  // received). `count` must be > 0.
  void Order(std::uint64_t count);

  // AwaitDone()
  //
  // Waits until the peer acknowledges the last order; returns the peer's
  // context switches during it. Throws std::runtime_error if the peer ended
  // instead.
  Switches AwaitDone();

 private:
  Peer(pid_t pid, int to_peer, int from_peer)
      : pid_(pid), to_peer_(to_peer), from_peer_(from_peer) {}

  pid_t pid_ = -1;
  int to_peer_ = -1;
  int from_peer_ = -1;
};

// Watchdog
//
// Ends the whole benchmark process if the benchmark `name` is still running
// `seconds` after this object was made: a peer that died, or a hand-off that
// was lost, would otherwise block the parent forever in a receive that has
// no timeout (the baselines' raw calls have none). Prints the benchmark's
// name and the likely cause on stderr, then _exit(3); the peers, asked with
// PR_SET_PDEATHSIG, die with it. Only one may exist at a time.
class Watchdog {
 public:
  Watchdog(const std::string& name, unsigned seconds);
  ~Watchdog();
  Watchdog(const Watchdog&) = delete;
  Watchdog& operator=(const Watchdog&) = delete;
};

// UniqueName()
//
// A name no other run on this machine uses at the same time, for POSIX
// shared memory, POSIX queues and abstract Unix sockets: `prefix` followed by
// "ipc-bench-<pid>-<random run id>-<counter>" (prefix "/" for shm_open and
// mq_open).
std::string UniqueName(std::string_view prefix);

// ------------------------------------------------ the baselines' raw loops

// RetryOnEintr()
//
// Runs `call` until it does not fail with EINTR; returns its last result.
template <typename Call>
auto RetryOnEintr(const Call& call) {
  auto result = call();
  while (result == -1 && errno == EINTR) result = call();
  return result;
}

// WriteFully()
//
// write(2) until all `size` bytes are out (short writes continue). Throws
// std::system_error naming "write(<what>)".
void WriteFully(int fd, const char* data, std::size_t size, const char* what);

// ReadFully()
//
// read(2) until exactly `size` bytes have arrived. Throws std::system_error
// naming "read(<what>)", and std::runtime_error if the stream ends first.
void ReadFully(int fd, char* data, std::size_t size, const char* what);

// Payload()
//
// A buffer of `size` bytes holding a recognisable pattern (not zeros, so no
// page stays untouched and no compression-like shortcut could apply).
std::string Payload(std::size_t size);

// ExpectSize()
//
// Throws std::runtime_error naming `what` if a message of `got` bytes
// arrived where `want` were sent: a benchmark that moves the wrong amount
// of data measures nothing.
void ExpectSize(std::size_t got, std::size_t want, const char* what);

}  // namespace bench

#endif  // IPC_KATAS_BENCH_HARNESS_H_
