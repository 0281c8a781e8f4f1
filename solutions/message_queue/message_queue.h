// File: message_queue/message_queue.h
// -----------------------------------------------------------------------------
//
// The message_queue kata: typed messages through a System V message queue
// (msgget, msgsnd, msgrcv, msgctl), a request/response server that many
// client processes share through ONE queue, and the POSIX queue (mq_open,
// mq_send, mq_receive) for comparison.
//
// A message queue is a list of messages kept by the kernel. Unlike a pipe it
// keeps message boundaries (one send, one receive), any process that knows
// the queue may send or receive, and the queue outlives the processes that
// use it until someone removes it. A System V message carries a type, a
// number > 0 that receivers select by; a POSIX message carries a priority,
// and the highest comes out first. Each stage of the kata adds one idea:
//
//   Stage 1  SysvQueue            a queue you own, removed with IPC_RMID by
//                                 its owner (explicitly or on destruction)
//   Stage 2  Send, Receive        typed messages that keep their boundaries
//   Stage 3  Exactly, LowestUpTo  choose which message to take: msgtyp 0,
//                                 > 0 and < 0
//   Stage 4  TrySend, TryReceive, not waiting (IPC_NOWAIT), a full queue,
//            Status               signals (EINTR), a removed queue (EIDRM)
//   Stage 5  Receive's capacity   a message too large for the buffer: E2BIG,
//                                 or truncation when asked (MSG_NOERROR)
//   Stage 6  Call, ServeOne,      a server and many clients on one queue:
//            Serve                requests of type 1, replies typed with the
//                                 client's id
//   Stage 7  PosixQueue           POSIX queues: names, limits, mq_unlink
//   Stage 8  PosixQueue::Send,    priorities (highest first), buffers sized
//            Receive, ReceiveFor  from mq_msgsize, timeouts
//
// Example:
//
//   using namespace kata::message_queue;
//   SysvQueue queue = SysvQueue::Create(0x4b0001);  // we own it
//   queue.Send(3, "three");
//   queue.Send(1, "one");
//   Message first = queue.Receive(LowestUpTo(5));   // {1, "one"}
//   Message next = queue.Receive();                 // {3, "three"}
//   // leaving the scope removes the queue (msgctl IPC_RMID)
//
// Errors: a failed system call throws std::system_error whose what() names
// the call and the object, e.g. "msgget(key 0x4b0001): File exists" or
// "mq_open(/orders): No such file or directory". Bad arguments (a type that
// is not > 0, a malformed name) throw std::invalid_argument before any call
// is made. Expected outcomes (an empty queue, a full queue, a timeout) are
// return values, not exceptions.
//
// The exercise and the solution share this header word for word; only the .cc
// file differs. See exercises/message_queue/README.md for the stages and hints.

#ifndef IPC_KATAS_MESSAGE_QUEUE_MESSAGE_QUEUE_H_
#define IPC_KATAS_MESSAGE_QUEUE_MESSAGE_QUEUE_H_

#include <mqueue.h>
#include <sys/types.h>

#include <chrono>
#include <cstddef>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

namespace kata::message_queue {

// -------------------------------------------------------- System V messages

// Message
//
// One System V message: its type (always > 0) and its text. The text is bytes,
// not a C string: it may contain '\0' and may be empty.
struct Message {
  long type = 0;
  std::string text;

  bool operator==(const Message&) const = default;
};

// Selector
//
// Which message a receive takes; msgrcv(2) encodes the choice in the sign of
// its `msgtyp` argument. Build one with Any(), Exactly() or LowestUpTo().
struct Selector {
  enum class Kind {
    kAny,         // the first message in the queue, whatever its type
    kExactly,     // the first message whose type is `type`
    kLowestUpTo,  // the first message of the lowest type <= `type`
  };
  Kind kind = Kind::kAny;
  long type = 0;
};

// The first message in the queue (first in, first out).
inline Selector Any() { return {Selector::Kind::kAny, 0}; }
// The oldest message of exactly this type; other types stay queued.
inline Selector Exactly(long type) { return {Selector::Kind::kExactly, type}; }
// The oldest message of the lowest type that is <= `type`: types as
// priorities, where a LOWER number goes first.
inline Selector LowestUpTo(long type) {
  return {Selector::Kind::kLowestUpTo, type};
}

// The receive capacity used unless the caller chooses one: Linux's default
// msgmax, the largest message a queue accepts unless the administrator raised
// /proc/sys/kernel/msgmax.
inline constexpr std::size_t kDefaultCapacity = 8192;

// What a receive does with a message longer than its capacity.
enum class Oversize {
  kError,     // refuse it: std::system_error E2BIG; the message stays queued
  kTruncate,  // take it, keep the first `capacity` bytes, lose the rest
};

// What msgctl(IPC_STAT) reports about a queue.
struct SysvStatus {
  std::size_t messages = 0;  // msg_qnum: messages waiting
  std::size_t bytes = 0;     // msg_cbytes: their text bytes (types not counted)
  std::size_t max_bytes = 0;  // msg_qbytes: the queue's capacity in text bytes
  pid_t last_sender = 0;      // msg_lspid: pid of the last msgsnd, or 0
  pid_t last_receiver = 0;    // msg_lrpid: pid of the last msgrcv, or 0

  bool operator==(const SysvStatus&) const = default;
};

// -------------------------------------------------------------------- Stage 1

// SysvQueue
//
// One System V message queue, identified by the id msgget(2) returns. A queue
// is NOT reference counted and does not go away when processes exit: it lives
// in the kernel until someone removes it with msgctl(IPC_RMID). This object
// therefore says who removes it:
//
//   * Create() and CreatePrivate() make a new queue and return its OWNER,
//     which removes the queue when destroyed (unless Remove() already did).
//   * Open() finds an existing queue by key and returns a mere USER, which
//     never removes it on destruction.
//
// Move-only. A moved-from object holds no queue and removes nothing. The
// destructor never throws: a failed removal there is ignored. Forked children
// that end with _exit() run no destructors, so a queue created before fork()
// is removed once, by the parent that owns it.
class [[nodiscard]] SysvQueue {
 public:
  // Create()
  //
  // Creates a new queue for `key` (msgget with IPC_CREAT | IPC_EXCL) with the
  // given permission bits. The result owns the queue. Throws
  // std::system_error naming "msgget(key 0x...)" if a queue with that key
  // already exists (EEXIST) or the call fails otherwise; std::invalid_argument
  // if `key` is IPC_PRIVATE (use CreatePrivate).
  static SysvQueue Create(key_t key, int permissions = 0600);

  // CreatePrivate()
  //
  // Creates a new queue with the key IPC_PRIVATE: every call makes a new queue
  // that no other process can find by key. It is not private, though: any
  // process that learns the id (a forked child, say) and has permission can
  // use it. The result owns the queue.
  static SysvQueue CreatePrivate(int permissions = 0600);

  // Open()
  //
  // Finds the existing queue for `key` (msgget without IPC_CREAT). The result
  // is a user, not the owner: destroying it leaves the queue in place. Throws
  // std::system_error naming "msgget(key 0x...)" if there is no such queue
  // (ENOENT) or access is denied (EACCES).
  static SysvQueue Open(key_t key);

  SysvQueue() = default;  // holds no queue
  SysvQueue(SysvQueue&& other) noexcept;
  SysvQueue& operator=(SysvQueue&& other) noexcept;
  SysvQueue(const SysvQueue&) = delete;
  SysvQueue& operator=(const SysvQueue&) = delete;
  // Removes the queue if this object owns it and it was not removed yet.
  ~SysvQueue();

  // The queue's id (what ipcs -q shows as msqid), or -1 if none.
  int id() const noexcept { return id_; }
  // Whether this object removes the queue when it is destroyed.
  bool owner() const noexcept { return owner_; }

  // Remove()
  //
  // Removes the queue now (msgctl IPC_RMID), whoever owns it; afterwards this
  // object holds no queue (id() == -1). Removal is immediate: messages still
  // queued are lost, processes blocked in msgsnd or msgrcv on it wake up with
  // EIDRM, and every other holder of the id gets EINVAL from then on. Throws
  // std::system_error naming "msgctl(IPC_RMID, queue <id>)" if the kernel
  // refuses (EPERM: not the creator or owner; EINVAL: already gone).
  void Remove();

  // ------------------------------------------------------------------ Stage 2

  // Send()
  //
  // Appends a message of type `type` carrying `text` (msgsnd), waiting while
  // the queue is full. A signal that interrupts the wait does not end it.
  // Throws std::invalid_argument if `type` is not > 0 (the kernel would say
  // EINVAL), and std::system_error naming "msgsnd(queue <id>)" if the call
  // fails, e.g. EINVAL for a text longer than msgmax or EIDRM if the queue is
  // removed while we wait.
  void Send(long type, std::string_view text) const;

  // Receive()
  //
  // Takes the message `which` selects out of the queue (msgrcv), waiting until
  // there is one; returns its type and text. `capacity` is the largest text
  // accepted; a longer message is handled as `oversize` says (Stage 5). A
  // signal that interrupts the wait does not end it. Throws
  // std::invalid_argument if `which` is Exactly or LowestUpTo with a type that
  // is not > 0, and std::system_error naming "msgrcv(queue <id>)" on failure:
  // E2BIG (too long, see Oversize), EIDRM (the queue was removed while we
  // waited), EINVAL (no such queue).
  Message Receive(Selector which = Any(),
                  std::size_t capacity = kDefaultCapacity,
                  Oversize oversize = Oversize::kError) const;

  // ------------------------------------------------------------------ Stage 4

  // TrySend()
  //
  // Send() without waiting (IPC_NOWAIT): returns false, sending nothing, if
  // the queue has no room for the message now. Throws like Send() otherwise.
  [[nodiscard]] bool TrySend(long type, std::string_view text) const;

  // TryReceive()
  //
  // Receive() without waiting (IPC_NOWAIT): returns std::nullopt if no
  // message matches `which` now. Throws like Receive() otherwise.
  std::optional<Message> TryReceive(Selector which = Any(),
                                    std::size_t capacity = kDefaultCapacity,
                                    Oversize oversize = Oversize::kError) const;

  // Status()
  //
  // What the kernel reports about the queue (msgctl IPC_STAT). Throws
  // std::system_error naming "msgctl(IPC_STAT, queue <id>)" on failure.
  SysvStatus Status() const;

 private:
  SysvQueue(int id, bool owner) noexcept : id_(id), owner_(owner) {}

  int id_ = -1;
  bool owner_ = false;
};

// -------------------------------------------------------------------- Stage 6
//
// One queue carries both directions. Every request has the type kRequestType
// (1) and every reply has the type of the client it answers, so the server
// reads only requests and each client reads only its own replies, however
// many clients share the queue:
//
//   client 7 --(type 1: [7]["ping"])--> queue --> server
//   client 7 <--(type 7: "pong")------- queue <-- server
//
// On the wire (README "On the wire", for peers in any language): a request's
// text is the client id in kClientIdBytes (8) bytes, a two's-complement
// integer with the least significant byte first whatever the host's byte
// order, followed by the request body; a reply's text is the handler's reply
// alone. A peer that packs the id in 4 bytes is not understood: the server
// reads the 4 bytes after them as part of the id.
//
// When one side finishes early: a client that is gone before its reply comes
// (killed while it waits, say) leaves the reply in the queue, typed with its
// id, until someone takes it or the queue is removed; the server does not
// know and goes on (it waits only while the queue is full), and a later
// client that reuses the id would take the old reply as its own. A server
// that stops without answering leaves its clients waiting in Call until the
// queue is removed, which ends their wait with std::system_error (EIDRM).

inline constexpr long kRequestType = 1;
// How many bytes the client id takes at the start of a request's text.
inline constexpr std::size_t kClientIdBytes = 8;

// What the server does with one request body: returns the reply.
using Handler = std::function<std::string(std::string_view request)>;

// Call()
//
// Sends `request` as client `client_id` and waits for the reply addressed to
// that client (type == client_id); other messages stay in the queue. Throws
// std::invalid_argument if `client_id` is not greater than kRequestType (a
// client of id 1 would read requests), std::system_error if a call fails,
// e.g. EIDRM when the queue is removed while it waits (a server that stopped
// without answering).
std::string Call(const SysvQueue& queue, long client_id,
                 std::string_view request);

// ServeOne()
//
// Waits for one request (type kRequestType only: replies waiting for other
// clients stay in the queue), replies to it with type = the client id in the
// request and text = handler(body), and returns that client id; whether the
// client is still there to take the reply, it cannot know. Throws
// std::runtime_error for a malformed request (shorter than kClientIdBytes, or
// an id not greater than kRequestType), std::system_error if a call fails,
// and whatever `handler` throws (the request is then consumed, unanswered).
long ServeOne(const SysvQueue& queue, const Handler& handler);

// Serve()
//
// ServeOne(), `requests` times.
void Serve(const SysvQueue& queue, const Handler& handler,
           std::size_t requests);

// ----------------------------------------------------------- POSIX queues

// PosixLimits
//
// The two limits fixed when a POSIX queue is created (struct mq_attr). Leave
// both 0 for the system defaults (/proc/sys/fs/mqueue/msg_default and
// msgsize_default: 10 and 8192 unless changed); otherwise set both. Without
// CAP_SYS_RESOURCE they cannot exceed /proc/sys/fs/mqueue/msg_max and
// msgsize_max (10 and 8192 by default).
struct PosixLimits {
  long max_messages = 0;  // mq_maxmsg: how many messages the queue holds
  long message_size = 0;  // mq_msgsize: the longest message, in bytes
};

// What mq_getattr(3) reports about a queue.
struct PosixAttributes {
  long max_messages = 0;      // mq_maxmsg
  long message_size = 0;      // mq_msgsize
  long current_messages = 0;  // mq_curmsgs: messages waiting now

  bool operator==(const PosixAttributes&) const = default;
};

// One POSIX message: its priority (0 is the lowest) and its text.
struct PosixMessage {
  unsigned priority = 0;
  std::string text;

  bool operator==(const PosixMessage&) const = default;
};

// -------------------------------------------------------------------- Stage 7

// PosixQueue
//
// An open POSIX message queue (an mqd_t, which on Linux is a file
// descriptor, opened read-write and close-on-exec). Like a System V queue it
// outlives the processes that use it; unlike one, removing its name
// (mq_unlink) does not destroy it while someone still has it open.
//
//   * Create() makes a new queue and returns its OWNER, which on destruction
//     closes the descriptor and unlinks the name (unless Unlink() already did).
//   * Open() opens an existing queue and returns a USER, which only closes.
//
// A name looks like "/orders": one leading slash, then 1 to 255 characters
// with no further slash. Move-only; the destructor never throws.
class [[nodiscard]] PosixQueue {
 public:
  // Create()
  //
  // Creates a new queue (mq_open with O_CREAT | O_EXCL | O_RDWR, mode 0600)
  // with the given limits. Throws std::invalid_argument for a malformed name
  // or for limits that are neither both 0 nor both > 0, and std::system_error
  // naming "mq_open(<name>)" if the call fails: EEXIST (the name is taken),
  // EINVAL (limits above the ceiling), EMFILE (RLIMIT_MSGQUEUE exhausted).
  static PosixQueue Create(const std::string& name, PosixLimits limits = {});

  // Open()
  //
  // Opens the existing queue `name` read-write. Throws std::invalid_argument
  // for a malformed name and std::system_error naming "mq_open(<name>)" if it
  // does not exist (ENOENT) or cannot be opened.
  static PosixQueue Open(const std::string& name);

  PosixQueue() = default;  // holds no queue
  PosixQueue(PosixQueue&& other) noexcept;
  PosixQueue& operator=(PosixQueue&& other) noexcept;
  PosixQueue(const PosixQueue&) = delete;
  PosixQueue& operator=(const PosixQueue&) = delete;
  // Closes the descriptor, and unlinks the name if this object owns it.
  ~PosixQueue();

  // The queue's name, or "" if this object holds no queue.
  const std::string& name() const noexcept { return name_; }
  // Whether this object unlinks the name when it is destroyed.
  bool owner() const noexcept { return owner_; }
  // The descriptor (pollable on Linux), or -1.
  mqd_t descriptor() const noexcept { return queue_; }

  // Unlink()
  //
  // Removes the name now (mq_unlink), whoever owns it. The queue itself lives
  // on until every process has closed it: this object can still send and
  // receive, but no one can Open() the name any more. Afterwards owner() is
  // false. Throws std::system_error naming "mq_unlink(<name>)" on failure
  // (ENOENT if the name is already gone).
  void Unlink();

  // Attributes()
  //
  // mq_getattr(3). Throws std::system_error naming "mq_getattr(<name>)".
  PosixAttributes Attributes() const;

  // ------------------------------------------------------------------ Stage 8

  // Send()
  //
  // Adds a message with `priority` (0 up to sysconf(_SC_MQ_PRIO_MAX) - 1),
  // waiting while the queue is full. Throws std::system_error naming
  // "mq_send(<name>)" on failure: EMSGSIZE if `text` is longer than the
  // queue's message size, EINVAL for a priority out of range.
  void Send(std::string_view text, unsigned priority = 0) const;

  // TrySend()
  //
  // Send() without waiting: returns false, sending nothing, if the queue
  // already holds max_messages messages.
  [[nodiscard]] bool TrySend(std::string_view text,
                             unsigned priority = 0) const;

  // Receive()
  //
  // Takes the oldest message of the highest priority, waiting until there is
  // one. Works for any message the queue accepts: mq_receive refuses
  // (EMSGSIZE) a buffer smaller than the queue's message size, however short
  // the waiting message is. Throws std::system_error naming
  // "mq_receive(<name>)" on failure.
  PosixMessage Receive() const;

  // ReceiveFor()
  //
  // Receive(), waiting at most `timeout` (0: do not wait at all); returns
  // std::nullopt if no message arrived in time. Throws std::invalid_argument
  // for a negative timeout, std::system_error naming
  // "mq_timedreceive(<name>)" on failure.
  std::optional<PosixMessage> ReceiveFor(
      std::chrono::milliseconds timeout) const;

 private:
  PosixQueue(mqd_t queue, std::string name, bool owner)
      : queue_(queue), name_(std::move(name)), owner_(owner) {}

  mqd_t queue_ = -1;
  std::string name_;
  bool owner_ = false;
  // The queue's mq_msgsize, read once when it is opened: it cannot change
  // afterwards, and every receive needs a buffer of at least that size.
  std::size_t message_size_ = 0;
};

}  // namespace kata::message_queue

#endif  // IPC_KATAS_MESSAGE_QUEUE_MESSAGE_QUEUE_H_
