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

// Given: what every unfinished function throws; the tests print its message.
// (maybe_unused: a finished kata calls it nowhere, and compiles cleanly.)
[[maybe_unused]] std::logic_error NotImplemented(const char* function,
                                                 int stage) {
  return std::logic_error(std::string("not implemented yet: ") + function +
                          " in exercises/shared_memory/shared_memory.cc "
                          "(stage " +
                          std::to_string(stage) + ")");
}

}  // namespace

// ---------------------------------------------------------------- Stage 1

SharedMemory SharedMemory::Create(std::string_view name, std::size_t size) {
  // Contract: shared_memory.h. Stuck? tools/kata hint shared_memory Create
  (void)name;
  (void)size;
  throw NotImplemented("SharedMemory::Create", 1);
}

SharedMemory SharedMemory::Open(std::string_view name, std::size_t size) {
  // Contract: shared_memory.h. Stuck? tools/kata hint shared_memory Open
  (void)name;
  (void)size;
  throw NotImplemented("SharedMemory::Open", 1);
}

void SharedMemory::Unlink() {
  // Contract: shared_memory.h. Stuck? tools/kata hint shared_memory Unlink
  throw NotImplemented("SharedMemory::Unlink", 1);
}

void SharedMemory::Reset() noexcept {
  // Contract: shared_memory.h. Stuck? tools/kata hint shared_memory Create
}

// ---------------------------------------------------------------- Stage 2

SharedSemaphore::SharedSemaphore(unsigned value) {
  // Contract: shared_memory.h; tools/kata hint shared_memory SharedSemaphore
  (void)value;
  throw NotImplemented("SharedSemaphore::SharedSemaphore", 2);
}

SharedSemaphore::~SharedSemaphore() {
  // Contract: shared_memory.h; tools/kata hint shared_memory SharedSemaphore
}

void SharedSemaphore::Post() {
  // Contract: shared_memory.h. Stuck? tools/kata hint shared_memory Post
  throw NotImplemented("SharedSemaphore::Post", 2);
}

bool SharedSemaphore::WaitFor(std::chrono::milliseconds timeout) {
  // Contract: shared_memory.h. Stuck? tools/kata hint shared_memory WaitFor
  (void)timeout;
  throw NotImplemented("SharedSemaphore::WaitFor", 2);
}

// ---------------------------------------------------------------- Stage 3

bool AddUnderLock(SharedCounter& counter, std::int64_t times,
                  std::chrono::milliseconds timeout) {
  // Contract: shared_memory.h; tools/kata hint shared_memory AddUnderLock
  (void)counter;
  (void)times;
  (void)timeout;
  throw NotImplemented("AddUnderLock", 3);
}

std::int64_t CountWithProcesses(std::string_view name, int processes,
                                std::int64_t times_each) {
  // Contract: shared_memory.h; tools/kata hint shared_memory CountWithProcesses
  (void)name;
  (void)processes;
  (void)times_each;
  throw NotImplemented("CountWithProcesses", 3);
}

// ---------------------------------------------------------------- Stage 4

bool RingBuffer::Push(const Message& message,
                      std::chrono::milliseconds timeout) {
  // Contract: shared_memory.h. Stuck? tools/kata hint shared_memory Push
  (void)message;
  (void)timeout;
  throw NotImplemented("RingBuffer::Push", 4);
}

std::optional<Message> RingBuffer::Pop(std::chrono::milliseconds timeout) {
  // Contract: shared_memory.h. Stuck? tools/kata hint shared_memory Pop
  (void)timeout;
  throw NotImplemented("RingBuffer::Pop", 4);
}

// ---------------------------------------------------------------- Stage 5

void RunPipeline(std::string_view name, const PipelinePlan& plan,
                 const Consume& consume) {
  // Contract: shared_memory.h. Stuck? tools/kata hint shared_memory RunPipeline
  (void)name;
  (void)plan;
  (void)consume;
  throw NotImplemented("RunPipeline", 5);
}

}  // namespace kata::shm
