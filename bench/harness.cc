// The benchmark harness: placement, the peer process, the control pipes and
// the baselines' raw loops. See harness.h.

#include "bench/harness.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstring>
#include <random>
#include <stdexcept>
#include <system_error>
#include <vector>

namespace bench {
namespace {

[[noreturn]] void ThrowErrno(const std::string& call) {
  throw std::system_error(errno, std::generic_category(), call);
}

// The CPUs this process was allowed to use when it started, before any
// benchmark pinned anything.
const std::vector<int>& AllowedCpus() {
  static const std::vector<int> cpus = [] {
    cpu_set_t set;
    CPU_ZERO(&set);
    if (sched_getaffinity(0, sizeof(set), &set) != 0) {
      ThrowErrno("sched_getaffinity");
    }
    std::vector<int> found;
    for (int cpu = 0; cpu < CPU_SETSIZE; ++cpu) {
      if (CPU_ISSET(cpu, &set)) found.push_back(cpu);
    }
    return found;
  }();
  return cpus;
}

void SetAffinity(const cpu_set_t& set, const std::string& what) {
  if (sched_setaffinity(0, sizeof(set), &set) != 0) {
    ThrowErrno("sched_setaffinity(" + what + ")");
  }
}

void PinTo(int cpu) {
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  SetAffinity(set, "cpu " + std::to_string(cpu));
}

// What the watchdog prints: set before the alarm is armed, read by the
// signal handler (which may only make async-signal-safe calls).
char watchdog_message[512];
std::size_t watchdog_message_size = 0;

void OnWatchdog(int) {
  ssize_t ignored =
      write(STDERR_FILENO, watchdog_message, watchdog_message_size);
  (void)ignored;
  _exit(3);
}

}  // namespace

void Fd::Reset(int fd) noexcept {
  if (fd_ >= 0) close(fd_);
  fd_ = fd;
}

RawPipeEnds RawPipe() {
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) ThrowErrno("pipe2");
  return RawPipeEnds{Fd(fds[0]), Fd(fds[1])};
}

const char* NameOf(Placement placement) {
  return placement == Placement::kSplit ? "split" : "same";
}

std::optional<Cpus> CpusFor(Placement placement) {
  const std::vector<int>& cpus = AllowedCpus();
  if (cpus.empty()) return std::nullopt;
  if (placement == Placement::kSame) return Cpus{cpus[0], cpus[0]};
  if (cpus.size() < 2) return std::nullopt;
  return Cpus{cpus[0], cpus[1]};
}

PinThisThread::PinThisThread(int cpu) {
  CPU_ZERO(&previous_);
  if (sched_getaffinity(0, sizeof(previous_), &previous_) != 0) {
    ThrowErrno("sched_getaffinity");
  }
  PinTo(cpu);
}

PinThisThread::~PinThisThread() {
  // Nothing sensible to do if this fails; the next pin sets its own mask.
  sched_setaffinity(0, sizeof(previous_), &previous_);
}

Switches SwitchesSoFar() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return Switches{usage.ru_nvcsw, usage.ru_nivcsw};
}

std::uint64_t Orders::Next() {
  std::uint64_t count = 0;
  char* bytes = reinterpret_cast<char*>(&count);
  std::size_t got = 0;
  while (got < sizeof(count)) {
    ssize_t n = RetryOnEintr(
        [&] { return read(in_, bytes + got, sizeof(count) - got); });
    if (n < 0) ThrowErrno("read(control pipe)");
    if (n == 0) {
      if (got == 0) return 0;  // the parent closed: no more orders
      throw std::runtime_error("control pipe: an order was cut short");
    }
    got += static_cast<std::size_t>(n);
  }
  start_ = SwitchesSoFar();
  return count;
}

void Orders::Done() {
  const Switches done = SwitchesSoFar() - start_;
  WriteFully(out_, reinterpret_cast<const char*>(&done), sizeof(done),
             "control pipe");
}

Peer Peer::Start(int cpu, const Body& body) {
  int orders[2];
  int acks[2];
  if (pipe2(orders, O_CLOEXEC) != 0) ThrowErrno("pipe2(control)");
  if (pipe2(acks, O_CLOEXEC) != 0) {
    close(orders[0]);
    close(orders[1]);
    ThrowErrno("pipe2(control)");
  }
  const pid_t parent = getpid();
  std::fflush(nullptr);  // or buffered output would be written twice
  const pid_t pid = fork();
  if (pid < 0) {
    for (int fd : {orders[0], orders[1], acks[0], acks[1]}) close(fd);
    ThrowErrno("fork");
  }
  if (pid == 0) {
    close(orders[1]);
    close(acks[0]);
    int code = 0;
    try {
      // Die with the parent, whatever kills it (the watchdog included).
      if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0) ThrowErrno("prctl");
      if (getppid() != parent) _exit(1);  // it died before prctl took hold
      PinTo(cpu);
      Orders orders_in(orders[0], acks[1]);
      body(orders_in);
    } catch (const std::exception& error) {
      std::fprintf(stderr, "bench peer (pid %d): %s\n", getpid(), error.what());
      code = 1;
    }
    std::fflush(nullptr);
    _exit(code);
  }
  close(orders[0]);
  close(acks[1]);
  return Peer(pid, orders[1], acks[0]);
}

Peer::~Peer() {
  if (to_peer_ >= 0) close(to_peer_);  // the peer's Next() now returns 0
  if (from_peer_ >= 0) close(from_peer_);
  if (pid_ <= 0) return;
  // A peer waiting for its next order ends at once; one stuck in a receive
  // (its parent gave up half-way through an order) is killed.
  int status = 0;
  for (int tries = 0; tries < 200; ++tries) {
    if (waitpid(pid_, &status, WNOHANG) == pid_) return;
    const timespec pause{0, 10 * 1000 * 1000};  // 10 ms
    nanosleep(&pause, nullptr);
  }
  kill(pid_, SIGKILL);
  RetryOnEintr([&] { return waitpid(pid_, &status, 0); });
}

void Peer::Order(std::uint64_t count) {
  if (count == 0) throw std::invalid_argument("Peer::Order: count is 0");
  WriteFully(to_peer_, reinterpret_cast<const char*>(&count), sizeof(count),
             "control pipe");
}

Switches Peer::AwaitDone() {
  Switches done;
  char* bytes = reinterpret_cast<char*>(&done);
  std::size_t got = 0;
  while (got < sizeof(done)) {
    ssize_t n = RetryOnEintr(
        [&] { return read(from_peer_, bytes + got, sizeof(done) - got); });
    if (n < 0) ThrowErrno("read(control pipe)");
    if (n == 0) {
      throw std::runtime_error("the peer process (pid " + std::to_string(pid_) +
                               ") ended before finishing its order");
    }
    got += static_cast<std::size_t>(n);
  }
  return done;
}

Watchdog::Watchdog(const std::string& name, unsigned seconds) {
  std::snprintf(watchdog_message, sizeof(watchdog_message),
                "\nbench: %s made no progress for %u s: a peer process "
                "died or a hand-off was lost (look for a 'bench peer' line "
                "above). Stopping.\n",
                name.c_str(), seconds);
  watchdog_message_size = std::strlen(watchdog_message);
  struct sigaction action{};
  action.sa_handler = OnWatchdog;
  sigemptyset(&action.sa_mask);
  sigaction(SIGALRM, &action, nullptr);
  alarm(seconds);
}

Watchdog::~Watchdog() { alarm(0); }

std::string UniqueName(std::string_view prefix) {
  // The pid alone is not enough: processes in different PID namespaces (two
  // Bazel sandboxes, say) can have the same pid and still share /dev/shm,
  // the POSIX queues and the abstract socket names.
  static const unsigned run = std::random_device()();
  static std::atomic<unsigned> counter{0};
  return std::string(prefix) + "ipc-bench-" + std::to_string(getpid()) + "-" +
         std::to_string(run) + "-" + std::to_string(counter++);
}

void WriteFully(int fd, const char* data, std::size_t size, const char* what) {
  while (size > 0) {
    ssize_t n = RetryOnEintr([&] { return write(fd, data, size); });
    if (n < 0) ThrowErrno(std::string("write(") + what + ")");
    data += n;
    size -= static_cast<std::size_t>(n);
  }
}

void ReadFully(int fd, char* data, std::size_t size, const char* what) {
  while (size > 0) {
    ssize_t n = RetryOnEintr([&] { return read(fd, data, size); });
    if (n < 0) ThrowErrno(std::string("read(") + what + ")");
    if (n == 0) {
      throw std::runtime_error(std::string(what) +
                               ": end of stream in the middle of a message");
    }
    data += n;
    size -= static_cast<std::size_t>(n);
  }
}

std::string Payload(std::size_t size) {
  std::string payload(size, '\0');
  for (std::size_t i = 0; i < size; ++i) {
    payload[i] = static_cast<char>('a' + i % 26);
  }
  return payload;
}

void ExpectSize(std::size_t got, std::size_t want, const char* what) {
  if (got != want) {
    throw std::runtime_error(std::string(what) + ": got a message of " +
                             std::to_string(got) + " bytes, expected " +
                             std::to_string(want));
  }
}

}  // namespace bench
