// Shared memory with semaphores: the shared_memory kata
// (solutions/shared_memory) against shm_open(3), mmap(2), sem_post(3) and
// sem_wait(3).
//
// Two mechanisms are measured, because the kata's ring buffer cannot carry a
// message larger than its 64-byte slots:
//
//   "shm"          the textbook pattern with one slot per message: a round
//                  trip hands one slot back and forth with two semaphores;
//                  a one-way stream goes through a ring of 8 slots of the
//                  message size (4 KiB or 64 KiB), with a free-slots and a
//                  filled-slots semaphore. The kata version is built from
//                  the kata's SharedObject, SharedMemory and SharedSemaphore
//                  (whose waits are sem_timedwait with a deadline).
//   "shm-ring-64B" the kata's own RingBuffer (8 slots of 64 bytes, three
//                  semaphores, Push and Pop): a message travels as
//                  ceil(size / 64) slots, each handed over separately.
//
// In both, the raw version lays the memory out the same way and runs the same
// algorithm with sem_t and sem_wait, so the ratio is the wrapper's cost. Every
// segment's name is removed as soon as it is mapped: the peer inherits the
// mapping across fork.

#include <fcntl.h>
#include <semaphore.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <system_error>

#include "bench/drivers.h"
#include "bench/harness.h"
#include "shared_memory/shared_memory.h"

namespace bench {
namespace {

// Slots of the one-way ring: as many as the kata's RingBuffer has.
constexpr std::size_t kSlots = 8;
// A kata wait that lasts this long means the peer is gone.
constexpr std::chrono::milliseconds kPatience = std::chrono::seconds(30);

[[noreturn]] void ThrowErrno(const std::string& call) {
  throw std::system_error(errno, std::generic_category(), call);
}

void Wait(kata::shm::SharedSemaphore& semaphore) {
  if (!semaphore.WaitFor(kPatience)) {
    throw std::runtime_error("shared memory: the peer did not post in time");
  }
}

void Wait(sem_t* semaphore) {
  if (RetryOnEintr([&] { return sem_wait(semaphore); }) != 0) {
    ThrowErrno("sem_wait");
  }
}

void Post(sem_t* semaphore) {
  if (sem_post(semaphore) != 0) ThrowErrno("sem_post");
}

void InitShared(sem_t* semaphore, unsigned value) {
  if (sem_init(semaphore, /*pshared=*/1, value) != 0) ThrowErrno("sem_init");
}

// A new POSIX shared memory object of `size` bytes, mapped shared, its name
// already removed; unmapped when destroyed.
class RawMapping {
 public:
  explicit RawMapping(std::size_t size) : size_(size) {
    const std::string name = UniqueName("/");
    Fd fd(shm_open(name.c_str(), O_CREAT | O_EXCL | O_RDWR, 0600));
    if (fd.get() < 0) ThrowErrno("shm_open(" + name + ")");
    shm_unlink(name.c_str());
    if (ftruncate(fd.get(), static_cast<off_t>(size)) != 0) {
      ThrowErrno("ftruncate(" + name + ")");
    }
    data_ =
        mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd.get(), 0);
    if (data_ == MAP_FAILED) ThrowErrno("mmap(" + name + ")");
  }
  RawMapping(const RawMapping&) = delete;
  RawMapping& operator=(const RawMapping&) = delete;
  ~RawMapping() { munmap(data_, size_); }

  char* bytes() const { return static_cast<char*>(data_); }

 private:
  std::size_t size_;
  void* data_ = nullptr;
};

// A T constructed in a RawMapping of its own, destroyed with it.
template <typename T>
class RawShared {
 public:
  RawShared()
      : object_(std::construct_at(reinterpret_cast<T*>(mapping_.bytes()))) {}
  RawShared(const RawShared&) = delete;
  RawShared& operator=(const RawShared&) = delete;
  ~RawShared() { std::destroy_at(object_); }

  T* operator->() const { return object_; }
  T& operator*() const { return *object_; }

 private:
  RawMapping mapping_{sizeof(T)};
  T* object_;
};

// A kata SharedObject whose name is removed at once (the owner's Unlink).
template <typename T>
kata::shm::SharedObject<T> KataShared() {
  auto object = kata::shm::SharedObject<T>::Create(UniqueName("/"));
  object.segment().Unlink();
  return object;
}

// ------------------------------------------ "shm": one slot per message

// The round trip's slot, and who may touch it (kata and raw alike).
struct KataExchange {
  alignas(64) kata::shm::SharedSemaphore to_peer{0};
  alignas(64) kata::shm::SharedSemaphore to_parent{0};
  alignas(64) std::array<char, kKiB> data{};
};

struct RawExchange {
  RawExchange() {
    InitShared(&to_peer, 0);
    InitShared(&to_parent, 0);
  }
  ~RawExchange() {
    sem_destroy(&to_peer);
    sem_destroy(&to_parent);
  }
  alignas(64) sem_t to_peer;
  alignas(64) sem_t to_parent;
  alignas(64) std::array<char, kKiB> data{};
};

class KataShmRoundTrip {
 public:
  explicit KataShmRoundTrip(std::size_t size)
      : size_(size), payload_(Payload(size)), buffer_(size, '\0') {}

  void ParentSetup() {}
  void PeerSetup() {}
  void Ping() {
    std::memcpy(exchange_->data.data(), payload_.data(), size_);
    exchange_->to_peer.Post();
    Wait(exchange_->to_parent);
    std::memcpy(buffer_.data(), exchange_->data.data(), size_);
  }
  void Echo() {
    Wait(exchange_->to_peer);
    std::memcpy(buffer_.data(), exchange_->data.data(), size_);
    std::memcpy(exchange_->data.data(), buffer_.data(), size_);
    exchange_->to_parent.Post();
  }

 private:
  std::size_t size_;
  std::string payload_;
  std::string buffer_;
  kata::shm::SharedObject<KataExchange> exchange_ = KataShared<KataExchange>();
};

class RawShmRoundTrip {
 public:
  explicit RawShmRoundTrip(std::size_t size)
      : size_(size), payload_(Payload(size)), buffer_(size, '\0') {}

  void ParentSetup() {}
  void PeerSetup() {}
  void Ping() {
    std::memcpy(exchange_->data.data(), payload_.data(), size_);
    Post(&exchange_->to_peer);
    Wait(&exchange_->to_parent);
    std::memcpy(buffer_.data(), exchange_->data.data(), size_);
  }
  void Echo() {
    Wait(&exchange_->to_peer);
    std::memcpy(buffer_.data(), exchange_->data.data(), size_);
    std::memcpy(exchange_->data.data(), buffer_.data(), size_);
    Post(&exchange_->to_parent);
  }

 private:
  std::size_t size_;
  std::string payload_;
  std::string buffer_;
  RawShared<RawExchange> exchange_;
};

// The one-way ring's two counters; its slots live in a segment of their own
// because their size is chosen at run time.
struct KataRingCounters {
  alignas(64) kata::shm::SharedSemaphore free_slots{kSlots};
  alignas(64) kata::shm::SharedSemaphore filled_slots{0};
};

struct RawRingCounters {
  RawRingCounters() {
    InitShared(&free_slots, kSlots);
    InitShared(&filled_slots, 0);
  }
  ~RawRingCounters() {
    sem_destroy(&free_slots);
    sem_destroy(&filled_slots);
  }
  alignas(64) sem_t free_slots;
  alignas(64) sem_t filled_slots;
};

kata::shm::SharedMemory KataSlots(std::size_t size) {
  auto slots = kata::shm::SharedMemory::Create(UniqueName("/"), kSlots * size);
  slots.Unlink();
  return slots;
}

class KataShmStream {
 public:
  explicit KataShmStream(std::size_t size)
      : size_(size),
        payload_(Payload(size)),
        buffer_(size, '\0'),
        slots_(KataSlots(size)) {}

  void ParentSetup() {}
  void PeerSetup() {}
  void Send() {
    Wait(counters_->free_slots);
    std::memcpy(Slot(next_), payload_.data(), size_);
    counters_->filled_slots.Post();  // only now may the peer read the slot
    next_ = (next_ + 1) % kSlots;
  }
  void Receive() {
    Wait(counters_->filled_slots);
    std::memcpy(buffer_.data(), Slot(next_), size_);
    counters_->free_slots.Post();  // only now may the parent overwrite it
    next_ = (next_ + 1) % kSlots;
  }

 private:
  char* Slot(std::size_t index) const {
    return static_cast<char*>(slots_.data()) + index * size_;
  }

  std::size_t size_;
  std::string payload_;
  std::string buffer_;
  std::size_t next_ = 0;  // each process keeps its own: one writer, one reader
  kata::shm::SharedObject<KataRingCounters> counters_ =
      KataShared<KataRingCounters>();
  kata::shm::SharedMemory slots_;
};

class RawShmStream {
 public:
  explicit RawShmStream(std::size_t size)
      : size_(size),
        payload_(Payload(size)),
        buffer_(size, '\0'),
        slots_(kSlots * size) {}

  void ParentSetup() {}
  void PeerSetup() {}
  void Send() {
    Wait(&counters_->free_slots);
    std::memcpy(Slot(next_), payload_.data(), size_);
    Post(&counters_->filled_slots);
    next_ = (next_ + 1) % kSlots;
  }
  void Receive() {
    Wait(&counters_->filled_slots);
    std::memcpy(buffer_.data(), Slot(next_), size_);
    Post(&counters_->free_slots);
    next_ = (next_ + 1) % kSlots;
  }

 private:
  char* Slot(std::size_t index) const { return slots_.bytes() + index * size_; }

  std::size_t size_;
  std::string payload_;
  std::string buffer_;
  std::size_t next_ = 0;
  RawShared<RawRingCounters> counters_;
  RawMapping slots_;
};

// ------------------------------- "shm-ring-64B": the kata's RingBuffer

constexpr std::size_t kSlotBytes = sizeof(kata::shm::Message);  // 64

// The kata's RingBuffer, laid out the same way, with raw semaphores and the
// same Push and Pop (a free slot first, then the mutex).
struct RawMessageRing {
  struct Slot {
    char bytes[kSlotBytes];
  };
  static constexpr unsigned kCapacity = kSlots;

  RawMessageRing() {
    InitShared(&empty_slots, kCapacity);
    InitShared(&full_slots, 0);
    InitShared(&mutex, 1);
  }
  ~RawMessageRing() {
    sem_destroy(&empty_slots);
    sem_destroy(&full_slots);
    sem_destroy(&mutex);
  }
  void Push(const char* bytes) {
    Wait(&empty_slots);
    Wait(&mutex);
    std::memcpy(slots[next_write].bytes, bytes, kSlotBytes);
    next_write = (next_write + 1) % kCapacity;
    Post(&mutex);
    Post(&full_slots);
  }
  void Pop(char* bytes) {
    Wait(&full_slots);
    Wait(&mutex);
    std::memcpy(bytes, slots[next_read].bytes, kSlotBytes);
    next_read = (next_read + 1) % kCapacity;
    Post(&mutex);
    Post(&empty_slots);
  }

  sem_t empty_slots;
  sem_t full_slots;
  sem_t mutex;
  std::uint32_t next_write = 0;
  std::uint32_t next_read = 0;
  alignas(4096) std::array<Slot, kCapacity> slots{};
};

// How many 64-byte slots a message of `size` bytes takes.
std::size_t SlotsFor(std::size_t size) {
  return (size + kSlotBytes - 1) / kSlotBytes;
}

// Pushes `size` bytes as 64-byte messages (the last one possibly partial).
void PushAll(kata::shm::RingBuffer& ring, const char* data, std::size_t size) {
  for (std::size_t offset = 0; offset < size; offset += kSlotBytes) {
    kata::shm::Message message;
    std::memcpy(&message, data + offset, std::min(kSlotBytes, size - offset));
    if (!ring.Push(message, kPatience)) {
      throw std::runtime_error("RingBuffer::Push timed out");
    }
  }
}

void PopAll(kata::shm::RingBuffer& ring, char* data, std::size_t size) {
  for (std::size_t offset = 0; offset < size; offset += kSlotBytes) {
    std::optional<kata::shm::Message> message = ring.Pop(kPatience);
    if (!message) throw std::runtime_error("RingBuffer::Pop timed out");
    std::memcpy(data + offset, &*message, std::min(kSlotBytes, size - offset));
  }
}

// The raw ring copies whole slots: a message's bytes are staged in a buffer
// rounded up to whole slots (the kata's Message is a whole slot too).
void PushAll(RawMessageRing& ring, const char* data, std::size_t size) {
  for (std::size_t offset = 0; offset < size; offset += kSlotBytes) {
    ring.Push(data + offset);
  }
}

void PopAll(RawMessageRing& ring, char* data, std::size_t size) {
  for (std::size_t offset = 0; offset < size; offset += kSlotBytes) {
    ring.Pop(data + offset);
  }
}

// The kata's RingBuffer in a segment of its own, named and unlinked at once;
// RawShared<RawMessageRing> is its raw twin. Both give the ring by operator*.
class KataRing {
 public:
  kata::shm::RingBuffer& operator*() const { return *object_; }

 private:
  kata::shm::SharedObject<kata::shm::RingBuffer> object_ =
      KataShared<kata::shm::RingBuffer>();
};

using RawRing = RawShared<RawMessageRing>;

// A message as ceil(size / 64) slots there and back, through two rings.
template <typename Ring>
class RingRoundTrip {
 public:
  explicit RingRoundTrip(std::size_t size)
      : size_(size),
        payload_(Payload(SlotsFor(size) * kSlotBytes)),
        buffer_(payload_.size(), '\0') {}

  void ParentSetup() {}
  void PeerSetup() {}
  void Ping() {
    PushAll(*to_peer_, payload_.data(), size_);
    PopAll(*to_parent_, buffer_.data(), size_);
  }
  void Echo() {
    PopAll(*to_peer_, buffer_.data(), size_);
    PushAll(*to_parent_, buffer_.data(), size_);
  }

 private:
  std::size_t size_;
  std::string payload_;
  std::string buffer_;
  Ring to_peer_;
  Ring to_parent_;
};

// A stream of messages, each as ceil(size / 64) slots through one ring.
template <typename Ring>
class RingStream {
 public:
  explicit RingStream(std::size_t size)
      : size_(size), payload_(Payload(size)), buffer_(size, '\0') {}

  void ParentSetup() {}
  void PeerSetup() {}
  void Send() { PushAll(*ring_, payload_.data(), size_); }
  void Receive() { PopAll(*ring_, buffer_.data(), size_); }

 private:
  std::size_t size_;
  std::string payload_;
  std::string buffer_;
  Ring ring_;
};

}  // namespace

void RegisterSharedMemory() {
  for (std::size_t size : {kSmall, kKiB}) {
    AddRoundTrip<KataShmRoundTrip>("shm", "kata", size);
    AddRoundTrip<RawShmRoundTrip>("shm", "raw", size);
  }
  for (std::size_t size : {k4KiB, k64KiB}) {
    AddOneWay<KataShmStream>("shm", "kata", size);
    AddOneWay<RawShmStream>("shm", "raw", size);
  }
  for (std::size_t size : {kSmall, kKiB}) {
    AddRoundTrip<RingRoundTrip<KataRing>>("shm-ring-64B", "kata", size);
    AddRoundTrip<RingRoundTrip<RawRing>>("shm-ring-64B", "raw", size);
  }
  for (std::size_t size : {k4KiB, k64KiB}) {
    AddOneWay<RingStream<KataRing>>("shm-ring-64B", "kata", size);
    AddOneWay<RingStream<RawRing>>("shm-ring-64B", "raw", size);
  }
}

}  // namespace bench
