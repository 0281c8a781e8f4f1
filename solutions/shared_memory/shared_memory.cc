// Reference solution of the shared_memory kata. See shared_memory.h for each
// contract and exercises/shared_memory/README.md for the stages.

#include "shared_memory/shared_memory.h"

#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <stdexcept>
#include <string>
#include <system_error>
#include <vector>

namespace kata::shm {
namespace {

[[noreturn]] void ThrowErrno(const std::string& call, int error = errno) {
  throw std::system_error(error, std::generic_category(), call);
}

// "/name": one leading slash, then 1 to NAME_MAX - 1 characters, no slash.
void CheckName(std::string_view name) {
  const bool ok = name.size() >= 2 && name.size() - 1 < NAME_MAX &&
                  name[0] == '/' && name.find('/', 1) == std::string_view::npos;
  if (!ok) {
    throw std::invalid_argument(
        "bad shared memory name \"" + std::string(name) +
        "\": use \"/\" followed by 1 to 254 characters, none of them \"/\"");
  }
}

void CheckSize(std::string_view name, std::size_t size) {
  if (size == 0) {
    throw std::invalid_argument("shared memory " + std::string(name) +
                                ": a size of 0 bytes cannot be mapped");
  }
}

// Closes a descriptor when it goes out of scope: every path of Create and Open
// closes it, the error paths included.
class ScopedFd {
 public:
  explicit ScopedFd(int fd) : fd_(fd) {}
  ScopedFd(const ScopedFd&) = delete;
  ScopedFd& operator=(const ScopedFd&) = delete;
  ~ScopedFd() {
    if (fd_ >= 0) close(fd_);
  }
  int get() const { return fd_; }

 private:
  int fd_;
};

void* MapShared(int fd, std::size_t size, const std::string& name) {
  // MAP_SHARED: stores go to the object itself, where every process mapping
  // it sees them. (MAP_PRIVATE would give us a private copy-on-write copy.)
  void* data = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (data == MAP_FAILED) ThrowErrno("mmap(" + name + ")");
  return data;
}

// Calls `call` again for as long as it fails with EINTR (a signal handler ran
// while it was blocked), and returns its last result.
template <typename Call>
auto RetryOnEintr(const Call& call) {
  auto result = call();
  while (result < 0 && errno == EINTR) result = call();
  return result;
}

// The CLOCK_REALTIME time `timeout` from now: sem_timedwait wants a point in
// time, not a duration.
timespec DeadlineAfter(std::chrono::milliseconds timeout) {
  timespec deadline{};
  clock_gettime(CLOCK_REALTIME, &deadline);
  const auto ms = timeout.count();
  deadline.tv_sec += static_cast<time_t>(ms / 1000);
  deadline.tv_nsec += static_cast<long>(ms % 1000) * 1000000L;
  if (deadline.tv_nsec >= 1000000000L) {
    deadline.tv_sec += 1;
    deadline.tv_nsec -= 1000000000L;
  }
  return deadline;
}

// Forks, flushing stdio first so that buffered output is not written twice
// (once by each process).
pid_t ForkOrThrow() {
  std::fflush(nullptr);
  pid_t pid = fork();
  if (pid < 0) ThrowErrno("fork");
  return pid;
}

// Waits for `pid` (retrying EINTR) and returns its raw wait status.
int Reap(pid_t pid) {
  int status = 0;
  if (RetryOnEintr([&] { return waitpid(pid, &status, 0); }) < 0) {
    ThrowErrno("waitpid(" + std::to_string(pid) + ")");
  }
  return status;
}

bool Succeeded(int status) {
  return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

// Exit codes of the children forked here.
constexpr int kChildOk = 0;
constexpr int kChildThrew = 1;
constexpr int kChildTimedOut = 2;

std::string Describe(const std::string& who, pid_t pid, int status) {
  std::string text = who + " (pid " + std::to_string(pid) + ") ";
  if (WIFSIGNALED(status)) {
    return text + "was killed by signal " + std::to_string(WTERMSIG(status));
  }
  const int code = WEXITSTATUS(status);
  text += "ended with exit code " + std::to_string(code);
  if (code == kChildTimedOut) text += " (a wait timed out: is a peer dead?)";
  if (code == kChildThrew) text += " (it threw an exception)";
  return text;
}

// A child forked by this library: who it is, and how it ended.
struct Worker {
  std::string role;
  pid_t pid = -1;
  bool reaped = false;
  bool killed_by_us = false;
  int status = 0;
};

// Runs `body` in a new child process that never returns: it ends with _exit,
// with the code `body` returns (kChildThrew if it throws).
template <typename Body>
pid_t StartChild(const Body& body) {
  pid_t pid = ForkOrThrow();
  if (pid == 0) {
    int code = kChildThrew;
    try {
      code = body();
    } catch (...) {
    }
    _exit(code);
  }
  return pid;
}

// Whether `worker` is a child that may still run or wait to be reaped. (A
// pid of 0 or less is never signalled: kill(-1, SIGKILL) would hit every
// process we may signal.)
bool Unreaped(const Worker& worker) { return !worker.reaped && worker.pid > 0; }

// Kills every worker not reaped yet and reaps them all (used on error paths:
// no child may be left behind waiting for a peer that is gone). Never throws:
// it runs while another error is on its way out, and a waitpid that fails
// here leaves nothing to clean up.
void KillAndReapRest(std::vector<Worker>& workers) noexcept {
  for (Worker& worker : workers) {
    if (Unreaped(worker)) {
      kill(worker.pid, SIGKILL);
      worker.killed_by_us = true;
    }
  }
  for (Worker& worker : workers) {
    if (Unreaped(worker)) {
      RetryOnEintr([&] { return waitpid(worker.pid, &worker.status, 0); });
      worker.reaped = true;
    }
  }
}

// Kills and reaps every worker still running, then throws a
// std::runtime_error naming each child that failed on its own (not the ones
// killed here).
[[noreturn]] void FailWith(std::vector<Worker>& workers,
                           const std::string& what) {
  KillAndReapRest(workers);
  std::string failed;
  for (const Worker& each : workers) {
    const bool ours = each.killed_by_us && WIFSIGNALED(each.status) &&
                      WTERMSIG(each.status) == SIGKILL;
    if (!ours && !Succeeded(each.status)) {
      failed += (failed.empty() ? ": " : "; ") +
                Describe(each.role, each.pid, each.status);
    }
  }
  throw std::runtime_error(what + failed);
}

// Reaps `worker`; if it failed, stops and reaps all the others and throws.
void ReapOrFail(std::vector<Worker>& workers, Worker& worker,
                const std::string& who) {
  worker.status = Reap(worker.pid);
  worker.reaped = true;
  if (!Succeeded(worker.status)) FailWith(workers, who + " failed");
}

}  // namespace

// ---------------------------------------------------------------- Stage 1

SharedMemory SharedMemory::Create(std::string_view name, std::size_t size) {
  CheckName(name);
  CheckSize(name, size);
  const std::string object(name);
  // O_EXCL: exactly one process creates (and initialises) the object; a
  // leftover from an earlier run is an error, not a silent reuse.
  ScopedFd fd(shm_open(object.c_str(), O_CREAT | O_EXCL | O_RDWR, 0600));
  if (fd.get() < 0) ThrowErrno("shm_open(" + object + ")");
  void* data = nullptr;
  try {
    // A new object has 0 bytes: give it its size before anyone touches it.
    if (ftruncate(fd.get(), static_cast<off_t>(size)) < 0) {
      ThrowErrno("ftruncate(" + object + ")");
    }
    data = MapShared(fd.get(), size, object);
  } catch (...) {
    shm_unlink(object.c_str());  // we created it: leave nothing behind
    throw;
  }
  SharedMemory memory;
  memory.name_ = object;
  memory.data_ = data;
  memory.size_ = size;
  memory.owns_name_ = true;
  return memory;
}

SharedMemory SharedMemory::Open(std::string_view name, std::size_t size) {
  CheckName(name);
  CheckSize(name, size);
  const std::string object(name);
  // No O_CREAT: opening a name that is gone must fail, not quietly create a
  // new, empty object that nobody else will ever see.
  ScopedFd fd(shm_open(object.c_str(), O_RDWR, 0));
  if (fd.get() < 0) ThrowErrno("shm_open(" + object + ")");
  struct stat info{};
  if (fstat(fd.get(), &info) < 0) ThrowErrno("fstat(" + object + ")");
  if (static_cast<std::size_t>(info.st_size) < size) {
    throw std::invalid_argument(
        "shared memory " + object + " holds " + std::to_string(info.st_size) +
        " bytes, fewer than the " + std::to_string(size) +
        " asked for (has its creator called ftruncate yet?)");
  }
  SharedMemory memory;
  memory.name_ = object;
  memory.data_ = MapShared(fd.get(), size, object);
  memory.size_ = size;
  return memory;
}

void SharedMemory::Unlink() {
  if (!owns_name_) {
    throw std::logic_error("shm_unlink(" + name_ +
                           "): only the creator removes the name");
  }
  if (shm_unlink(name_.c_str()) < 0) ThrowErrno("shm_unlink(" + name_ + ")");
  owns_name_ = false;
}

void SharedMemory::Reset() noexcept {
  if (data_ != nullptr) munmap(data_, size_);
  if (owns_name_) shm_unlink(name_.c_str());  // the owner removes the name
  data_ = nullptr;
  size_ = 0;
  owns_name_ = false;
}

// ---------------------------------------------------------------- Stage 2

SharedSemaphore::SharedSemaphore(unsigned value) {
  // pshared = 1: waits and wake-ups go through the kernel keyed by the
  // shared page, so a post in one process wakes a waiter in another.
  if (sem_init(&sem_, /*pshared=*/1, value) < 0) ThrowErrno("sem_init");
}

SharedSemaphore::~SharedSemaphore() { sem_destroy(&sem_); }

void SharedSemaphore::Post() {
  if (sem_post(&sem_) < 0) ThrowErrno("sem_post");
}

bool SharedSemaphore::WaitFor(std::chrono::milliseconds timeout) {
  // The fast path: a token is there. sem_trywait takes it with one atomic
  // instruction, no system call, and no clock read for a deadline that would
  // never be needed.
  if (RetryOnEintr([&] { return sem_trywait(&sem_); }) == 0) return true;
  if (errno != EAGAIN) ThrowErrno("sem_trywait");
  if (timeout.count() <= 0) return false;  // no token right now
  // Only now must the wait sleep. One deadline for the whole wait: a retry
  // after EINTR must not start the clock again.
  const timespec deadline = DeadlineAfter(timeout);
  if (RetryOnEintr([&] { return sem_timedwait(&sem_, &deadline); }) == 0) {
    return true;
  }
  if (errno == ETIMEDOUT) return false;  // an expected outcome
  ThrowErrno("sem_timedwait");
}

// ---------------------------------------------------------------- Stage 3

bool AddUnderLock(SharedCounter& counter, std::int64_t times,
                  std::chrono::milliseconds timeout) {
  if (times < 0) {
    throw std::invalid_argument("AddUnderLock: times must not be negative");
  }
  for (std::int64_t i = 0; i < times; ++i) {
    if (!counter.lock.WaitFor(timeout)) return false;
    counter.value = counter.value + 1;  // the critical section
    counter.lock.Post();
  }
  return true;
}

std::int64_t CountWithProcesses(std::string_view name, int processes,
                                std::int64_t times_each) {
  if (processes < 1 || times_each < 0) {
    throw std::invalid_argument(
        "CountWithProcesses: need at least one process and a non-negative "
        "count");
  }
  auto counter = SharedObject<SharedCounter>::Create(name);
  std::vector<Worker> workers;
  try {
    for (int p = 0; p < processes; ++p) {
      Worker worker;
      worker.role = "counting process " + std::to_string(p);
      // The child inherits the mapping: the same counter, the same lock.
      worker.pid = StartChild([&] {
        return AddUnderLock(*counter, times_each, std::chrono::seconds(10))
                   ? kChildOk
                   : kChildTimedOut;
      });
      workers.push_back(worker);
    }
    for (Worker& worker : workers) {
      ReapOrFail(workers, worker, "CountWithProcesses");
    }
  } catch (...) {
    // Whatever failed (a fork, a waitpid, a child), no child outlives us.
    KillAndReapRest(workers);
    throw;
  }
  return counter->value;
}

// ---------------------------------------------------------------- Stage 4

bool RingBuffer::Push(const Message& message,
                      std::chrono::milliseconds timeout) {
  // A free slot first, then the mutex: sleeping on a full buffer while
  // holding the mutex would lock out the consumers who could free a slot.
  if (!empty_slots.WaitFor(timeout)) return false;
  if (!mutex.WaitFor(timeout)) {
    empty_slots.Post();  // give the free slot back
    return false;
  }
  slots[next_write] = message;
  next_write = (next_write + 1) % kCapacity;
  mutex.Post();
  full_slots.Post();  // only now may a consumer read the slot
  return true;
}

std::optional<Message> RingBuffer::Pop(std::chrono::milliseconds timeout) {
  if (!full_slots.WaitFor(timeout)) return std::nullopt;
  if (!mutex.WaitFor(timeout)) {
    full_slots.Post();  // give the filled slot back
    return std::nullopt;
  }
  Message message = slots[next_read];  // copy out before freeing the slot
  next_read = (next_read + 1) % kCapacity;
  mutex.Post();
  empty_slots.Post();  // only now may a producer overwrite the slot
  return message;
}

// ---------------------------------------------------------------- Stage 5

void RunPipeline(std::string_view name, const PipelinePlan& plan,
                 const Consume& consume) {
  if (plan.producers < 1 || plan.consumers < 1 ||
      plan.messages_per_producer < 0) {
    throw std::invalid_argument(
        "RunPipeline: need at least one producer and one consumer, and a "
        "non-negative message count");
  }
  auto ring = SharedObject<RingBuffer>::Create(name);
  // Every child: the consumers first, then the producers.
  std::vector<Worker> all;
  auto start = [&](const std::string& role, const auto& body) {
    Worker worker;
    worker.role = role;
    worker.pid = StartChild(body);
    all.push_back(worker);
  };
  try {
    for (int c = 0; c < plan.consumers; ++c) {
      start("consumer " + std::to_string(c), [&, c] {
        for (;;) {
          std::optional<Message> message = ring->Pop(plan.timeout);
          if (!message) return kChildTimedOut;
          if (message->producer == kEndOfStream) return kChildOk;
          consume(c, *message);
        }
      });
    }
    for (int p = 0; p < plan.producers; ++p) {
      start("producer " + std::to_string(p), [&, p] {
        for (int s = 0; s < plan.messages_per_producer; ++s) {
          if (!ring->Push(MakeMessage(p, s), plan.timeout)) {
            return kChildTimedOut;
          }
        }
        return kChildOk;
      });
    }
    const auto first_producer = all.begin() + plan.consumers;
    for (auto it = first_producer; it != all.end(); ++it) {
      ReapOrFail(all, *it, "RunPipeline");
    }
    // Every message is in the buffer now; one marker per consumer ends them.
    Message end_of_stream;
    end_of_stream.producer = kEndOfStream;
    for (int c = 0; c < plan.consumers; ++c) {
      if (!ring->Push(end_of_stream, plan.timeout)) {
        FailWith(all,
                 "RunPipeline failed: timed out pushing the end-of-stream "
                 "markers (has a consumer stopped taking messages?)");
      }
    }
    for (auto it = all.begin(); it != first_producer; ++it) {
      ReapOrFail(all, *it, "RunPipeline");
    }
  } catch (...) {
    // Whatever failed (a fork, a waitpid, a semaphore call, a child), no
    // child outlives us.
    KillAndReapRest(all);
    throw;
  }
}

}  // namespace kata::shm
