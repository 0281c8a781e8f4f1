// The shared_memory kata: your implementation goes here.
//
// Every function below is declared and documented in shared_memory.h; the
// stages and hints are in README.md next to this file. Run the tests with
//
//   bazel test //exercises/shared_memory/...
//
// and replace each `throw NotImplemented(...)` with real code, stage by stage.

#include "shared_memory/shared_memory.h"

#include <stdexcept>
#include <string>

namespace kata::shm {
namespace {

// What every unfinished function throws; the tests print its message.
std::logic_error NotImplemented(const char* function, int stage) {
  return std::logic_error(std::string("not implemented yet: ") + function +
                          " in exercises/shared_memory/shared_memory.cc "
                          "(stage " +
                          std::to_string(stage) + ")");
}

}  // namespace

// ---------------------------------------------------------------- Stage 1

SharedMemory SharedMemory::Create(std::string_view name, std::size_t size) {
  // TODO: check the name ("/" + 1..254 characters, no other "/") and that
  // size > 0 (std::invalid_argument). shm_open with O_CREAT | O_EXCL | O_RDWR
  // and mode 0600; ftruncate to `size`; mmap PROT_READ | PROT_WRITE with
  // MAP_SHARED; close the descriptor. If ftruncate or mmap fails, shm_unlink
  // the name you just created before throwing std::system_error
  // ("ftruncate(/name)", ...). The result owns the name.
  (void)name;
  (void)size;
  throw NotImplemented("SharedMemory::Create", 1);
}

SharedMemory SharedMemory::Open(std::string_view name, std::size_t size) {
  // TODO: the same checks; shm_open with O_RDWR only (no O_CREAT); fstat and
  // refuse an object smaller than `size` (std::invalid_argument); mmap
  // MAP_SHARED; close the descriptor on every path. Does not own the name.
  (void)name;
  (void)size;
  throw NotImplemented("SharedMemory::Open", 1);
}

void SharedMemory::Unlink() {
  // TODO: std::logic_error unless owns_name_; shm_unlink(name_) (throw
  // std::system_error naming "shm_unlink(/name)" if it fails); then
  // owns_name_ = false.
  throw NotImplemented("SharedMemory::Unlink", 1);
}

void SharedMemory::Reset() noexcept {
  // TODO: munmap(data_, size_) if mapped; shm_unlink(name_) if owns_name_;
  // then data_ = nullptr, size_ = 0, owns_name_ = false. Never throw.
}

// ---------------------------------------------------------------- Stage 2

SharedSemaphore::SharedSemaphore(unsigned value) {
  // TODO: sem_init(&sem_, pshared, value) with pshared = 1, so that the
  // semaphore works between processes; std::system_error("sem_init") if it
  // fails.
  (void)value;
  throw NotImplemented("SharedSemaphore::SharedSemaphore", 2);
}

SharedSemaphore::~SharedSemaphore() {
  // TODO: sem_destroy(&sem_). Never throw.
}

void SharedSemaphore::Post() {
  // TODO: sem_post(&sem_); std::system_error("sem_post") if it fails.
  throw NotImplemented("SharedSemaphore::Post", 2);
}

bool SharedSemaphore::WaitFor(std::chrono::milliseconds timeout) {
  // TODO: timeout <= 0: sem_trywait (EAGAIN: return false). Otherwise
  // compute ONE absolute deadline (clock_gettime(CLOCK_REALTIME) + timeout)
  // and call sem_timedwait until it succeeds (true), fails with ETIMEDOUT
  // (false) or fails otherwise (std::system_error). EINTR: wait again, same
  // deadline.
  (void)timeout;
  throw NotImplemented("SharedSemaphore::WaitFor", 2);
}

// ---------------------------------------------------------------- Stage 3

bool AddUnderLock(SharedCounter& counter, std::int64_t times,
                  std::chrono::milliseconds timeout) {
  // TODO: reject times < 0; then `times` times: take counter.lock (return
  // false if WaitFor times out), add 1 to counter.value, post the lock.
  (void)counter;
  (void)times;
  (void)timeout;
  throw NotImplemented("AddUnderLock", 3);
}

std::int64_t CountWithProcesses(std::string_view name, int processes,
                                std::int64_t times_each) {
  // TODO: check the arguments; SharedObject<SharedCounter>::Create(name);
  // fork `processes` children that each run AddUnderLock and _exit (0 on
  // success); wait for every child (waitpid); throw std::runtime_error if
  // one failed; return the counter's value.
  (void)name;
  (void)processes;
  (void)times_each;
  throw NotImplemented("CountWithProcesses", 3);
}

// ---------------------------------------------------------------- Stage 4

bool RingBuffer::Push(const Message& message,
                      std::chrono::milliseconds timeout) {
  // TODO: wait on empty_slots, then on mutex (in that order!); write
  // slots[next_write]; advance next_write around the ring; post mutex; post
  // full_slots. On a timeout return false, giving back what you took.
  (void)message;
  (void)timeout;
  throw NotImplemented("RingBuffer::Push", 4);
}

std::optional<Message> RingBuffer::Pop(std::chrono::milliseconds timeout) {
  // TODO: wait on full_slots, then on mutex; copy slots[next_read] out;
  // advance next_read around the ring; post mutex; post empty_slots (only
  // after the copy). On a timeout return std::nullopt, giving back what you
  // took.
  (void)timeout;
  throw NotImplemented("RingBuffer::Pop", 4);
}

// ---------------------------------------------------------------- Stage 5

void RunPipeline(std::string_view name, const PipelinePlan& plan,
                 const Consume& consume) {
  // TODO: check the plan; SharedObject<RingBuffer>::Create(name); fork the
  // consumers (Pop until an end-of-stream marker, consume() the rest) and
  // the producers (Push MakeMessage(p, s) for every s); each child _exits
  // with 0 or an error code. Wait for the producers, push one marker per
  // consumer, wait for the consumers. A failed child: stop the others,
  // reap everyone, throw std::runtime_error naming it.
  (void)name;
  (void)plan;
  (void)consume;
  throw NotImplemented("RunPipeline", 5);
}

}  // namespace kata::shm
