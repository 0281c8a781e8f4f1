// File: shared_memory/shared_memory.h
// -----------------------------------------------------------------------------
//
// The shared_memory kata: several processes working on one piece of memory,
// and the semaphores that keep them from trampling on each other.
//
// A POSIX shared memory object is a named, initially empty file that lives in
// RAM (on Linux, in the tmpfs mounted on /dev/shm). Each process that opens it
// maps it into its own address space with mmap(MAP_SHARED): from then on the
// same physical pages sit behind an address in every process, and a store by
// one is a load away for the others, with no system call and no copy. The
// kernel does not order those accesses, though: two processes that update the
// same bytes at once lose updates. A semaphore placed inside the segment makes
// each update a critical section. Each stage of the kata adds one idea:
//
//   Stage 1  SharedMemory           a named segment: shm_open + ftruncate +
//                                   mmap(MAP_SHARED); shm_unlink by its owner
//   Stage 2  SharedSemaphore        a semaphore inside the segment, shared by
//                                   processes (sem_init with pshared = 1);
//                                   waits that give up after a timeout
//   Stage 3  AddUnderLock,          a counter incremented by several processes:
//            CountWithProcesses     exact, because each increment is locked
//   Stage 4  RingBuffer::Push/Pop   a bounded buffer between a producer and a
//                                   consumer process: empty/full/mutex
//   Stage 5  RunPipeline            several producers and consumers; every
//                                   message arrives exactly once
//   Stage 6  (timeouts again)       a peer that died is a timeout, not a hang
//
// Example:
//
//   // Parent: a counter in a new segment, then four children that add to it.
//   auto counter = kata::shm::SharedObject<kata::shm::SharedCounter>::Create(
//       "/my-counter");
//   ... fork four children; each calls
//       kata::shm::AddUnderLock(*counter, 1000, std::chrono::seconds(5));
//   ... wait for them; counter->value is exactly 4000.
//   // `counter` owns the name: destroying it removes "/my-counter".
//
// Errors: a failed system call throws std::system_error whose what() names
// the call and the object (for example "shm_open(/my-counter): File exists");
// arguments that cannot work throw std::invalid_argument before any call.
// Expected outcomes are values, not exceptions: a wait that timed out returns
// false (or an empty std::optional).
//
// The exercise and the solution share this header word for word; only the .cc
// file differs. See exercises/shared_memory/README.md for stages and hints.

#ifndef IPC_KATAS_SHARED_MEMORY_SHARED_MEMORY_H_
#define IPC_KATAS_SHARED_MEMORY_SHARED_MEMORY_H_

#include <semaphore.h>

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <new>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

namespace kata::shm {

// -------------------------------------------------------------------- Stage 1

// SharedMemory
//
// Owns the mapping of one POSIX shared memory object, and possibly its name.
// Move-only.
//
// Create() makes a new object and returns the only SharedMemory that owns its
// name: when that SharedMemory is destroyed (or Reset()), it unmaps the object
// and removes the name with shm_unlink, unless Unlink() removed it earlier.
// Open() maps an object someone else created and never removes its name.
// Removing the name does not take the memory away from anyone who has it
// mapped: the kernel frees the object once the name is gone and the last
// mapping is unmapped (by munmap or by the process ending).
//
// A forked child inherits the parent's mappings (the same shared pages) and a
// copy of this object. It must end with _exit(), as every forked child in the
// katas does, so that its copy never runs the destructor and never removes
// the name under the parent's feet.
class [[nodiscard]] SharedMemory {
 public:
  // Create()
  //
  // Creates the shared memory object `name`, which must not exist yet
  // (shm_open with O_CREAT | O_EXCL), readable and writable by its owner only
  // (mode 0600), gives it `size` bytes (ftruncate: a new object has 0 bytes,
  // and touching a mapped page beyond its end kills the process with SIGBUS)
  // and maps all of it shared (mmap with MAP_SHARED, so that other processes
  // see every store). The bytes start as zeros. The descriptor is closed
  // before returning: the mapping does not need it.
  //
  // `name` is "/" followed by 1 to 254 characters, none of them "/".
  //
  // Throws std::invalid_argument for a bad name or a size of 0, before any
  // system call. Throws std::system_error naming the call and the object,
  // e.g. "shm_open(/name)" with EEXIST when the object exists already, or
  // "ftruncate(/name)"; after such an error nothing is left behind (the new
  // name is removed again). See shm_open(3), ftruncate(2), mmap(2).
  static SharedMemory Create(std::string_view name, std::size_t size);

  // Open()
  //
  // Opens the existing object `name` for reading and writing (shm_open
  // without O_CREAT: a missing object is an ENOENT error, never a new empty
  // object), checks its size with fstat and maps its first `size` bytes
  // shared. The returned SharedMemory does not own the name.
  //
  // Throws std::invalid_argument for a bad name or a size of 0, and also when
  // the object holds fewer than `size` bytes (for example because its creator
  // has not called ftruncate yet): mapping past its end would turn the first
  // access into SIGBUS. Throws std::system_error naming "shm_open(/name)",
  // "fstat(/name)" or "mmap(/name)" when a call fails. No descriptor stays
  // open on any path.
  static SharedMemory Open(std::string_view name, std::size_t size);

  // An empty SharedMemory: no mapping, no name.
  SharedMemory() = default;

  SharedMemory(SharedMemory&& other) noexcept
      : name_(std::move(other.name_)),
        data_(std::exchange(other.data_, nullptr)),
        size_(std::exchange(other.size_, 0)),
        owns_name_(std::exchange(other.owns_name_, false)) {}

  SharedMemory& operator=(SharedMemory&& other) noexcept {
    if (this != &other) {
      Reset();
      name_ = std::move(other.name_);
      data_ = std::exchange(other.data_, nullptr);
      size_ = std::exchange(other.size_, 0);
      owns_name_ = std::exchange(other.owns_name_, false);
    }
    return *this;
  }

  SharedMemory(const SharedMemory&) = delete;
  SharedMemory& operator=(const SharedMemory&) = delete;

  ~SharedMemory() { Reset(); }

  // The start of the mapping (page-aligned), or nullptr when empty.
  void* data() const noexcept { return data_; }
  // How many bytes are mapped.
  std::size_t size() const noexcept { return size_; }
  // The object's name, e.g. "/my-counter".
  const std::string& name() const noexcept { return name_; }
  // Whether this SharedMemory will remove the name (see the class comment).
  bool owns_name() const noexcept { return owns_name_; }
  explicit operator bool() const noexcept { return data_ != nullptr; }

  // Unlink()
  //
  // Removes the name now (shm_unlink), so that no process can Open() the
  // object any more, while every existing mapping, this one included, keeps
  // working. Typical use: once every party has the object mapped. Afterwards
  // owns_name() is false and the destructor only unmaps.
  //
  // Throws std::logic_error if this SharedMemory does not own the name, and
  // std::system_error naming "shm_unlink(/name)" if the call fails.
  void Unlink();

  // Reset()
  //
  // Unmaps the object (munmap) and, if this SharedMemory still owns the name,
  // removes the name (shm_unlink). Afterwards the object is empty. Failures
  // are ignored: there is nothing sensible left to do about them, and this
  // runs in the destructor, which must never throw.
  void Reset() noexcept;

 private:
  std::string name_;
  void* data_ = nullptr;
  std::size_t size_ = 0;
  bool owns_name_ = false;
};

// SharedObject<T>
//
// A `T` that lives in a shared memory object of its own (given: this glue is
// not part of the exercise). Create() makes the object with room for one T
// (SharedMemory::Create) and constructs the T in it (placement new, exactly
// once, by the creator); Open() maps an existing one. Every process then
// reaches the same T through operator->.
//
// Whatever is inside T must make sense in every process: no pointers (the
// mapping may sit at a different address in each process), no std::string or
// std::vector (they point into one process's heap). Plain numbers, arrays and
// SharedSemaphore are fine.
//
// The creator destroys the T before its segment goes away; Open() must only
// be called once the creator's Create() has returned (for example in a child
// forked after it), or the T may not be constructed yet.
template <typename T>
class [[nodiscard]] SharedObject {
 public:
  template <typename... Args>
  static SharedObject Create(std::string_view name, Args&&... args) {
    SharedObject shared;
    shared.segment_ = SharedMemory::Create(name, sizeof(T));
    // If T's constructor throws, `shared` goes out of scope with object_
    // still null: the segment is unmapped and its name removed.
    shared.object_ =
        new (shared.segment_.data()) T(std::forward<Args>(args)...);
    shared.creator_ = true;
    return shared;
  }

  static SharedObject Open(std::string_view name) {
    SharedObject shared;
    shared.segment_ = SharedMemory::Open(name, sizeof(T));
    shared.object_ = static_cast<T*>(shared.segment_.data());
    return shared;
  }

  SharedObject() = default;
  SharedObject(SharedObject&& other) noexcept
      : segment_(std::move(other.segment_)),
        object_(std::exchange(other.object_, nullptr)),
        creator_(std::exchange(other.creator_, false)) {}
  SharedObject& operator=(SharedObject&& other) noexcept {
    if (this != &other) {
      Reset();
      segment_ = std::move(other.segment_);
      object_ = std::exchange(other.object_, nullptr);
      creator_ = std::exchange(other.creator_, false);
    }
    return *this;
  }
  SharedObject(const SharedObject&) = delete;
  SharedObject& operator=(const SharedObject&) = delete;
  ~SharedObject() { Reset(); }

  T* get() const noexcept { return object_; }
  T* operator->() const noexcept { return object_; }
  T& operator*() const noexcept { return *object_; }
  SharedMemory& segment() noexcept { return segment_; }

  // Destroys the T (creator only), then the segment (see SharedMemory).
  void Reset() noexcept {
    if (object_ != nullptr && creator_) object_->~T();
    object_ = nullptr;
    creator_ = false;
    segment_.Reset();
  }

 private:
  SharedMemory segment_;
  T* object_ = nullptr;
  bool creator_ = false;
};

// -------------------------------------------------------------------- Stage 2

// SharedSemaphore
//
// An unnamed POSIX semaphore that works between processes: a counter of
// tokens that Post() adds to and WaitFor() takes from, sleeping while there is
// none. It is only shared if it lives in shared memory: construct it inside a
// SharedObject (as a member of the T there), never on the stack or in a global
// (after fork each process would hold its own copy, and posting one copy wakes
// nobody waiting on the other).
//
// Neither copyable nor movable: its address is what every process uses.
//
// Example:
//
//   struct Note {
//     kata::shm::SharedSemaphore ready{0};  // posted once `text` is written
//     char text[64] = {};
//   };
class SharedSemaphore {
 public:
  // Initialises the semaphore with `value` tokens, shared between processes
  // (sem_init with pshared = 1). With pshared = 0 the semaphore would still
  // count correctly, but a process asleep in a wait would never be woken by
  // another process's post.
  //
  // Throws std::system_error naming "sem_init" on failure (for example EINVAL
  // when `value` is larger than SEM_VALUE_MAX). See sem_init(3).
  explicit SharedSemaphore(unsigned value);

  // Destroys the semaphore (sem_destroy). Only the process that constructed
  // it destroys it, once no process can be waiting on it. Never throws.
  ~SharedSemaphore();

  SharedSemaphore(const SharedSemaphore&) = delete;
  SharedSemaphore& operator=(const SharedSemaphore&) = delete;

  // Post()
  //
  // Adds one token (sem_post), waking one waiting process if there is any.
  // Throws std::system_error naming "sem_post" on failure (EOVERFLOW).
  void Post();

  // WaitFor()
  //
  // Takes one token, waiting at most `timeout` for one to be posted. Returns
  // true once a token is taken, false if `timeout` passed first: an expected
  // outcome (the process that should post may have died), not an error.
  //
  // A timeout of zero or less only tries (sem_trywait). Otherwise the wait is
  // sem_timedwait, whose deadline is an absolute CLOCK_REALTIME time (now plus
  // `timeout`), not a duration. A signal handler that interrupts the wait
  // (EINTR) does not end it: the wait goes on, with the same deadline.
  //
  // Throws std::system_error naming "sem_timedwait" (or "sem_trywait") for
  // any other failure. See sem_wait(3).
  bool WaitFor(std::chrono::milliseconds timeout);

  // The underlying sem_t (for tests and diagnostics, e.g. sem_getvalue).
  sem_t* native() noexcept { return &sem_; }

 private:
  sem_t sem_;
};

// -------------------------------------------------------------------- Stage 3

// SharedCounter
//
// A number that several processes increment, and the lock that makes each
// increment a critical section. Lives in shared memory (SharedObject).
struct SharedCounter {
  SharedSemaphore lock{1};  // a binary semaphore: 1 = free, 0 = taken
  std::int64_t value = 0;   // only read or written while holding `lock`
};

// AddUnderLock()
//
// Adds 1 to `counter.value`, `times` times. Each increment is a critical
// section: take the lock (lock.WaitFor(timeout)), read, add, write, release
// the lock (lock.Post()). Without the lock, two processes may both read 41
// and both write 42: one increment is lost.
//
// Returns true when all `times` increments are done. Returns false, stopping
// early, when the lock could not be taken within `timeout` (the process
// holding it may have died with it, see Stage 6); the increments made so far
// stay. Throws std::invalid_argument if `times` is negative.
bool AddUnderLock(SharedCounter& counter, std::int64_t times,
                  std::chrono::milliseconds timeout);

// Reporting a failed child (CountWithProcesses, RunPipeline)
//
// When a child of these functions fails, they throw std::runtime_error whose
// what() is "<function> failed", then ": " and every child that failed on its
// own, separated by "; ". Each is named by its role and pid and how it ended:
//
//   "consumer 0 (pid 4242) ended with exit code 7"
//   "producer 1 (pid 4243) was killed by signal 9"
//
// with the words "timed out" after the exit code of a child that gave up
// because a wait timed out, and "threw" after that of a child that ended
// because something it called threw. The children the function stopped itself
// (with SIGKILL, once the first failure was known) are not named.

// CountWithProcesses()
//
// Creates a SharedCounter in a new shared memory object `name`, forks
// `processes` child processes that each call AddUnderLock(times_each) on it
// (then end with _exit: 0 on success, non-zero otherwise), waits for every one
// of them and returns the final value: processes * times_each when every
// increment was locked. The object is removed before returning, on every path.
//
// Throws std::invalid_argument if `processes` < 1 or `times_each` < 0, before
// anything is created. Throws std::runtime_error if a child did not end with
// exit code 0, naming it ("counting process 2 (pid 4244) ..."; see above), and
// std::system_error naming the call if fork, waitpid or the segment's creation
// fails. Whichever way it ends, every child has ended and been reaped by then.
// Children are processes, not threads: the point of the kata is memory shared
// between separate address spaces.
std::int64_t CountWithProcesses(std::string_view name, int processes,
                                std::int64_t times_each);

// -------------------------------------------------------------------- Stage 4

// Message
//
// What one slot of a RingBuffer holds: a fixed-size record with no pointers
// (the bytes are copied into shared memory and read by another process).
struct Message {
  std::int32_t producer = 0;    // who made it; kEndOfStream marks "no more"
  std::int32_t sequence = 0;    // its number among that producer's messages
  std::array<char, 56> text{};  // a NUL-terminated payload
};
static_assert(sizeof(Message) == 64);

// The `producer` of the marker that tells a consumer to stop (Stage 5).
inline constexpr std::int32_t kEndOfStream = -1;

// MakeMessage()
//
// The message producer `producer` sends as its number `sequence` (given):
// text "producer <producer> message <sequence>".
inline Message MakeMessage(int producer, int sequence) {
  Message message;
  message.producer = producer;
  message.sequence = sequence;
  std::snprintf(message.text.data(), message.text.size(),
                "producer %d message %d", producer, sequence);
  return message;
}

// RingBuffer
//
// A bounded buffer of kCapacity slots in shared memory, between producer and
// consumer processes: the classic solution with three semaphores.
//
//   empty_slots  counts free slots. A producer takes one before it writes,
//                so it sleeps while the buffer is full.
//   full_slots   counts filled slots. A consumer takes one before it reads,
//                so it sleeps while the buffer is empty.
//   mutex        a binary semaphore guarding next_write and next_read when
//                several producers or consumers run at once.
//
// The order matters. A producer waits for a free slot first and only then for
// the mutex: a producer asleep on a full buffer while holding the mutex would
// keep every consumer out, and nobody could ever free a slot (deadlock). A
// consumer, likewise, waits for full_slots before the mutex. And a slot is
// handed over only when its copy is complete: a producer posts full_slots
// after writing the slot, a consumer posts empty_slots after reading it.
//
// Construct it in shared memory (SharedObject<RingBuffer>::Create), once.
struct RingBuffer {
  static constexpr unsigned kCapacity = 8;

  SharedSemaphore empty_slots{kCapacity};
  SharedSemaphore full_slots{0};
  SharedSemaphore mutex{1};
  std::uint32_t next_write = 0;  // the slot the next Push fills
  std::uint32_t next_read = 0;   // the slot the next Pop empties

  // The slots start on a memory page of their own. Nothing needs this but
  // the tests: they protect that page to catch the exact moment Push and Pop
  // touch a slot, relative to their posts.
  alignas(4096) std::array<Message, kCapacity> slots{};

  // Push()
  //
  // Copies `message` into the next free slot and hands it to the consumers.
  // Waits at most `timeout` for a free slot, then at most `timeout` for the
  // mutex. Returns false if either wait timed out; nothing was written then,
  // and a free slot already taken is given back (empty_slots.Post()), or the
  // buffer would shrink by one for good. Throws std::system_error if a
  // semaphore call fails.
  bool Push(const Message& message, std::chrono::milliseconds timeout);

  // Pop()
  //
  // Takes the oldest message out: waits at most `timeout` for a filled slot,
  // then at most `timeout` for the mutex, copies the slot out and frees it.
  // Messages come out in the order they went in (first in, first out), also
  // when next_read wraps around from the last slot to the first. Returns an
  // empty optional if a wait timed out (a filled slot already taken is given
  // back then). Throws std::system_error if a semaphore call fails.
  std::optional<Message> Pop(std::chrono::milliseconds timeout);
};

// ---------------------------------------------------------------- The layout
//
// What a segment holds, byte by byte (README: "On the wire"). Each shared
// object is one of the structs above, placed at offset 0 of its own segment,
// and SharedObject<T> gives that segment exactly sizeof(T) bytes. The layout
// is whatever this compiler and C library make of these structs, and the
// asserts below pin it down: on 64-bit Linux with glibc (x86-64, AArch64),
// where a sem_t is 32 bytes,
//
//   SharedCounter (40 bytes)   lock at 0, value (int64) at 32
//   Message (64 bytes)         producer (int32) at 0, sequence (int32) at 4,
//                              text (56 chars, NUL-terminated) at 8
//   RingBuffer (8192 bytes)    empty_slots at 0, full_slots at 32, mutex at 64,
//                              next_write (uint32) at 96, next_read at 100,
//                              slots[8] at 4096, 64 bytes each
//
// Numbers are in the machine's byte order, and a semaphore is glibc's sem_t,
// initialised with pshared = 1. That is an ABI, not a cross-language format:
// a peer written in another language, or against another C library, must
// reproduce these offsets and call glibc's sem_* functions on those addresses.
static_assert(sizeof(SharedSemaphore) == sizeof(sem_t));
static_assert(offsetof(SharedCounter, lock) == 0);
static_assert(offsetof(SharedCounter, value) == sizeof(sem_t));
static_assert(sizeof(SharedCounter) == sizeof(sem_t) + 8);
static_assert(offsetof(Message, producer) == 0);
static_assert(offsetof(Message, sequence) == 4);
static_assert(offsetof(Message, text) == 8);
static_assert(offsetof(RingBuffer, empty_slots) == 0);
static_assert(offsetof(RingBuffer, full_slots) == sizeof(sem_t));
static_assert(offsetof(RingBuffer, mutex) == 2 * sizeof(sem_t));
static_assert(offsetof(RingBuffer, next_write) == 3 * sizeof(sem_t));
static_assert(offsetof(RingBuffer, next_read) == 3 * sizeof(sem_t) + 4);
static_assert(offsetof(RingBuffer, slots) == 4096);
static_assert(sizeof(RingBuffer) == 8192);

// -------------------------------------------------------------------- Stage 5

// PipelinePlan
//
// How many processes RunPipeline starts, and how long any of them waits.
struct PipelinePlan {
  int producers = 1;
  int consumers = 1;
  int messages_per_producer = 0;
  // The limit of every wait (Push, Pop): a process whose peer has died gives
  // up after this long instead of waiting forever (Stage 6).
  std::chrono::milliseconds timeout{5000};
};

// Called in a consumer process for every message it takes: `consumer` is the
// consumer's number (0 .. consumers - 1). It runs in the child, so what it
// does to ordinary memory stays in that child; it may throw (the child then
// fails).
using Consume = std::function<void(int consumer, const Message& message)>;

// RunPipeline()
//
// Moves messages from `plan.producers` producer processes to
// `plan.consumers` consumer processes through one RingBuffer, created in the
// new shared memory object `name`:
//
//   * producer p (0 .. producers - 1) pushes MakeMessage(p, s) for s = 0 ..
//     messages_per_producer - 1, in that order, then ends;
//   * consumer c pops messages and calls consume(c, message) for each, until
//     it pops an end-of-stream marker (producer == kEndOfStream);
//   * the calling process waits for every producer, then pushes one marker
//     per consumer (all messages are in the buffer before any marker), then
//     waits for every consumer.
//
// Every message is consumed exactly once, by one consumer; which consumer
// gets which message is up to the scheduler. Every child ends with _exit.
// The object is removed before returning, on every path.
//
// A producer that fails, or dies, before its last message is found when the
// caller reaps it, before any marker is pushed: the consumers are stopped
// rather than told that the stream is complete. A consumer that stops taking
// messages leaves the markers no room: the caller gives up once pushing one
// has waited plan.timeout.
//
// Output the caller has buffered in stdio is flushed before the first fork, so
// that a child writing to the same stream (`consume` may print) does not write
// the caller's pending output a second time.
//
// Throws std::invalid_argument for fewer than one producer or consumer or a
// negative message count. Throws std::runtime_error if a child fails (a wait
// timed out, `consume` threw, or the child was killed), naming the child as
// described above CountWithProcesses (for example "RunPipeline failed:
// consumer 0 (pid 4242) ended with exit code 7"), and when the end-of-stream
// markers could not all be pushed in time (its what() then says
// "end-of-stream"). Throws std::system_error naming the call if fork, waitpid
// or a semaphore call of the calling process fails. Whichever way it ends,
// every child has ended and been reaped by then (the rest are stopped with
// SIGKILL once one fails): none is left waiting.
void RunPipeline(std::string_view name, const PipelinePlan& plan,
                 const Consume& consume);

}  // namespace kata::shm

#endif  // IPC_KATAS_SHARED_MEMORY_SHARED_MEMORY_H_
