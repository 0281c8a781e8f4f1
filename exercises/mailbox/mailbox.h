// File: mailbox/mailbox.h
// -----------------------------------------------------------------------------
//
// The mailbox kata, part 1: indirect communication (Silberschatz, Operating
// System Concepts, section 3.6). A mailbox is a named place in the kernel
// that holds messages. It exists on its own, apart from any process: whoever
// knows its name may send to it or receive from it, many senders and many
// receivers may share one, and each message is taken by exactly one receiver.
// Its owner (the process that created it) is the one who deletes it.
//
// A Mailbox here is a POSIX message queue (mq_overview(7)): the kernel keeps
// the messages, with their boundaries, until a receiver takes them.
//
//   Stage 1  Create, Open,      one message between two processes
//            Send, Receive
//   Stage 2  Wait               blocking, non-blocking and timeouts
//   Stage 3  Buffering          a bounded buffer: a full mailbox holds up the
//                               sender
//   Stage 4  (Receive again)    many senders, many receivers: each message
//                               goes to exactly one of them
//   Stage 5  Delete, ~Mailbox   ownership: who removes a mailbox, and what
//                               the others see afterwards
//   Stage 8  Buffering{0}       zero capacity: the rendezvous
//
// (Stages 6 and 7, direct communication, are in inbox.h.)
//
// Example:
//
//   // In one process:
//   kata::mailbox::Mailbox box = kata::mailbox::Mailbox::Create("/orders");
//   // In another:
//   kata::mailbox::Mailbox orders = kata::mailbox::Mailbox::Open("/orders");
//   orders.Send("two coffees");
//   // Back in the first:
//   std::optional<std::string> order = box.Receive(Wait::For(1s));
//
// Errors: a failed system call throws std::system_error whose what() names
// the call and the mailbox (for example "mq_open(/orders): No such file or
// directory"); bad arguments throw std::invalid_argument or std::length_error.
// Expected outcomes are values: a mailbox that stays full or empty until the
// wait runs out gives SendResult::kTimedOut or an empty std::optional.
//
// Order and priorities: a POSIX queue is a priority queue. mq_receive takes
// the oldest message of the highest priority, so it is first in, first out
// only among messages of one priority. A Mailbox always sends with priority
// 0, so among the mailbox's own senders a mailbox is FIFO. A program that is
// not the kata's may send with mq_send at another priority; its message then
// overtakes older ones, and Receive reports its priority to a caller who asks
// (see Mailbox::Receive).
//
// A handle is not thread-safe; give each thread its own (Open again).
//
// The exercise and the solution share this header word for word; only the .cc
// files differ. See exercises/mailbox/README.md for the stages and hints.

#ifndef IPC_KATAS_MAILBOX_MAILBOX_H_
#define IPC_KATAS_MAILBOX_MAILBOX_H_

#include <mqueue.h>
#include <sys/types.h>

#include <chrono>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace kata::mailbox {

// The longest mailbox name, counting its leading '/'.
inline constexpr std::size_t kMaxNameLength = 100;

// The suffix of the second queue that a zero-capacity mailbox uses (Stage 8);
// no mailbox name may end with it.
inline constexpr std::string_view kReadySuffix = ".ready";

// How many receivers may wait on one zero-capacity mailbox at once: the
// capacity of its ready queue (Stage 8).
inline constexpr int kReadyTokens = 10;

// How long a receiver of a zero-capacity mailbox whose own wait has run out
// still waits for a sender that has already taken its ready token (Stage 8).
inline constexpr std::chrono::milliseconds kHandoverGrace{1000};

// -------------------------------------------------------------------- Stage 2

// Wait
//
// How long a Send or Receive may block (given: not part of the exercise).
//
//   Wait::Forever()  block until the call can complete (the default);
//   Wait::No()       never block: complete now or report that it could not
//                    (OSC's "non-blocking" send and receive);
//   Wait::For(d)     block for at most `d`, then report a timeout. A negative
//                    `d` is 0; a `d` too long for the clock to express (say
//                    milliseconds::max()) waits as long as the clock can.
class Wait {
 public:
  static constexpr Wait Forever() { return Wait(true, {}); }
  static constexpr Wait No() { return Wait(false, {}); }
  static constexpr Wait For(std::chrono::milliseconds timeout) {
    return Wait(false,
                timeout.count() > 0 ? timeout : std::chrono::milliseconds(0));
  }

  // True for Wait::Forever().
  constexpr bool forever() const { return forever_; }
  // The longest time to block; 0 for Wait::No(), unused for Wait::Forever().
  constexpr std::chrono::milliseconds timeout() const { return timeout_; }

 private:
  constexpr Wait(bool forever, std::chrono::milliseconds timeout)
      : forever_(forever), timeout_(timeout) {}
  bool forever_;
  std::chrono::milliseconds timeout_;
};

// What became of a Send.
enum class SendResult {
  kSent,      // the message is in the mailbox (Stage 8: handed to a receiver)
  kTimedOut,  // the wait ran out first: the mailbox stayed full (Stage 8: no
              // receiver came); nothing was sent
};

// -------------------------------------------------------------------- Stage 3

// Buffering
//
// How many messages a mailbox holds, and how long each may be.
//
// `capacity` 1 to msg_max makes a bounded buffer: a sender waits while the
// mailbox holds `capacity` messages. msg_max is the system's limit,
// /proc/sys/fs/mqueue/msg_max (10 by default). There is no unbounded mailbox:
// every real buffer has a limit.
//
// `capacity` 0 is the rendezvous (Stage 8): no message is ever buffered; a
// sender waits until a receiver is there to take its message. The kernel
// refuses queues of capacity 0, so the mailbox builds the rendezvous from two
// queues (see Mailbox::Create).
//
// `max_message` is the longest message in bytes (the queue's mq_msgsize), 1
// to msgsize_max (/proc/sys/fs/mqueue/msgsize_max, 8192 by default). The
// kernel accounts capacity * max_message bytes (plus a little) against the
// owner's RLIMIT_MSGQUEUE (819200 bytes by default), so keep both small.
//
// Above msg_max or msgsize_max a mailbox is refused, never quietly made
// smaller, and for every process alike: the kernel lets a privileged one
// (root, CAP_SYS_RESOURCE) go past both limits, the mailbox does not.
struct Buffering {
  int capacity = 10;
  std::size_t max_message = 512;
};

// -------------------------------------------------------------------- Stage 1

// Mailbox
//
// A handle to one mailbox. The process that creates a mailbox owns it; other
// handles (from Open) are users. Move-only.
//
// Ownership (Stage 5): removing the mailbox's name is the owner's job. The
// owner's handle removes it in Delete() or, at the latest, when the owner
// destroys its handle. A user's handle only closes its descriptors. So does
// the copy of an owner's handle that a forked child inherits: the owner is a
// process (the one that called Create), not a bag of bytes fork can copy.
//
// Like a file, a POSIX queue lives on while someone holds it open: after the
// name is removed, Open fails, but handles opened earlier still send and
// receive on the now nameless queue until they are closed (mq_unlink(3)). A
// process that dies without destroying its handle (a crash, _exit) leaves the
// mailbox behind: POSIX queues outlive their creators.
class Mailbox {
 public:
  // Create()
  //
  // Creates a new, empty mailbox called `name` and returns the owner's handle.
  // `name` is "/" followed by 1 to kMaxNameLength - 1 characters, none of
  // them '/', and does not end with kReadySuffix (std::invalid_argument
  // otherwise). The queue is created with mq_maxmsg = capacity and mq_msgsize
  // = max_message, readable and writable by its owner's user only.
  //
  // Capacity 0 (Stage 8) creates two queues: `name` with room for 1 message,
  // and `name` + kReadySuffix with room for kReadyTokens one-byte "ready"
  // tokens. A receiver first posts a token, then waits for the message; a
  // sender first takes a token (so it waits until some receiver is waiting),
  // then sends. The bytes of both are in README.md, "On the wire".
  //
  // Throws std::invalid_argument for a bad name, a negative capacity or a
  // max_message of 0; std::system_error with EINVAL naming "mq_open(<name>)"
  // for a capacity above msg_max or a max_message above msgsize_max (checked
  // before any queue is opened, for every user; see Buffering); and
  // std::system_error naming "mq_open(<name>)" if the kernel refuses: EEXIST
  // if the name is taken, EMFILE past RLIMIT_MSGQUEUE. Nothing is left behind
  // on failure.
  static Mailbox Create(std::string name, Buffering buffering = {});

  // Open()
  //
  // Opens the existing mailbox `name` as a user: any process that knows the
  // name may send to it and receive from it. Learns its capacity and
  // max_message from the queue itself (mq_getattr); a mailbox whose ready
  // queue exists has capacity 0. Never creates a mailbox.
  //
  // Throws std::invalid_argument for a bad name and std::system_error naming
  // "mq_open(<name>)" otherwise, with ENOENT if there is no such mailbox (it
  // was never created, or its owner has deleted it).
  static Mailbox Open(std::string name);

  // Moving hands the descriptors and the ownership over; the moved-from
  // handle holds nothing, owns nothing and removes nothing. Assigning to a
  // handle first releases what it held, as its destructor would (an owner's
  // mailbox is removed). Moving a handle into itself changes nothing.
  Mailbox(Mailbox&& other) noexcept;
  Mailbox& operator=(Mailbox&& other) noexcept;
  Mailbox(const Mailbox&) = delete;
  Mailbox& operator=(const Mailbox&) = delete;

  // Closes the handle's descriptors. In the owner's process, an owner's
  // handle whose mailbox was not deleted yet also removes the name(s), as
  // Delete() does. Never throws.
  ~Mailbox();

  // Send()
  //
  // Puts `text` (0 to max_message() bytes, any bytes) into the mailbox as one
  // message. If the mailbox is full, waits as `wait` allows for a receiver to
  // make room. Returning kSent means the message is in the mailbox, not that
  // anyone has received it; for capacity 0 it means a receiver that was
  // waiting has been handed the message. Every message is sent with priority
  // 0.
  //
  // Capacity 0 (Stage 8): the wait covers finding a receiver and handing the
  // message over. A sender that took a receiver's ready token and then cannot
  // hand over (the wait ran out, or the call failed) puts the token back for
  // that receiver before it returns kTimedOut or throws.
  //
  // A signal that interrupts the wait (EINTR) does not end it. Throws
  // std::length_error if `text` is longer than max_message(), and
  // std::system_error naming the call and the mailbox (e.g.
  // "mq_timedsend(/orders)") if the kernel fails otherwise.
  SendResult Send(std::string_view text, Wait wait = Wait::Forever());

  // Receive()
  //
  // Takes the message at the head of the mailbox: the oldest one of the
  // highest priority, which is the oldest message when every sender used the
  // Mailbox (priority 0). If `priority` is given, stores there the priority
  // the message was sent with: 0 from any Mailbox, anything a foreign
  // mq_send chose otherwise. If the mailbox is empty, waits as `wait` allows
  // for a sender; returns std::nullopt if none came in time (OSC: "either a
  // valid message or a null") and leaves *priority alone. When several
  // processes wait on one mailbox, each message goes to exactly one of them;
  // which one is up to the kernel.
  //
  // Capacity 0 (Stage 8): the wait covers finding a sender and taking its
  // message. If it runs out after a sender has taken this receiver's ready
  // token, the sender's message is on the way: Receive waits up to
  // kHandoverGrace longer for it, and returns it if it comes (std::nullopt if
  // that sender died or gave up). A receiver that returns or throws leaves
  // no ready token behind.
  //
  // A signal that interrupts the wait does not end it. Throws
  // std::system_error naming the call and the mailbox on failure.
  std::optional<std::string> Receive(Wait wait = Wait::Forever(),
                                     unsigned* priority = nullptr);

  // Delete()
  //
  // Removes the mailbox's name(s) now (mq_unlink). Only the owner may: a
  // user's handle, a moved-from handle and a forked child's copy of the
  // owner's handle all throw std::system_error with EPERM naming
  // "Mailbox::Delete(<name>)". Afterwards this handle owns nothing (its
  // destructor removes nothing, even if someone creates a new mailbox with
  // the same name), but it still sends and receives on the nameless queue
  // until destroyed. Throws std::system_error naming "mq_unlink(<name>)" if
  // the name is already gone.
  void Delete();

  // The mailbox's name, e.g. "/orders".
  const std::string& name() const { return name_; }
  // Messages the mailbox holds at most; 0 for a rendezvous.
  int capacity() const { return capacity_; }
  // The longest message, in bytes.
  std::size_t max_message() const { return max_message_; }
  // True only in the process that created the mailbox, until it deletes it.
  bool is_owner() const;

 private:
  Mailbox() = default;
  // Closes the descriptors and, in the owner, removes the names. Never throws.
  void Release() noexcept;

  std::string name_;
  mqd_t queue_ = static_cast<mqd_t>(-1);  // the messages
  mqd_t ready_ = static_cast<mqd_t>(-1);  // capacity 0 only: ready tokens
  int capacity_ = 0;
  std::size_t max_message_ = 0;
  std::optional<pid_t> owner_;  // the creating process, until it deletes
};

}  // namespace kata::mailbox

#endif  // IPC_KATAS_MAILBOX_MAILBOX_H_
