// File: mailbox/inbox.h
// -----------------------------------------------------------------------------
//
// The mailbox kata, part 2: direct communication (Silberschatz, Operating
// System Concepts, section 3.6). Here a message names a process, not a
// mailbox: send(P, message) delivers to process P, and P receives either
// from one named sender (symmetric addressing) or from anyone, learning who
// sent (asymmetric addressing).
//
// Every process that takes part has its own inbox: a Mailbox (mailbox.h) that
// only it receives from, named after the process. Sending to a process opens
// its inbox once and keeps it open: that open queue is the link between the
// two processes, set up on first use, exactly one per pair and direction.
//
//   Stage 6  Create, Send,      an inbox per process; the receiver learns
//            ReceiveAny         who sent each letter
//   Stage 7  Receive(from)      take one sender's letters only; the others
//                               wait their turn
//
// Example:
//
//   // In process "/alice":
//   kata::mailbox::Inbox alice = kata::mailbox::Inbox::Create("/alice");
//   alice.Send("/bob", "lunch?");
//   // In process "/bob":
//   std::optional<kata::mailbox::Letter> letter = bob.ReceiveAny();
//   // letter->from == "/alice", letter->text == "lunch?"
//   bob.Send(letter->from, "yes");
//   std::optional<std::string> reply = alice.Receive("/bob");
//
// On the wire a letter is one message in the receiver's queue, sent with
// priority 0: one byte holding n, the length of the sender's name as an
// unsigned 8-bit number; the n bytes of the name; then the text, which runs
// to the end of the message. The kernel does not vouch for
// the name: a POSIX queue carries no sender identity, so the sender states
// its own (see docs/mailbox.md). README.md, "On the wire", has the details.
//
// Order: letters from Inbox senders all have priority 0, so the inbox is
// FIFO among them. A foreign program that sends a letter with mq_send at a
// higher priority overtakes older letters still in the queue; the receiver
// learns that priority (Letter::priority, or Receive's `priority`).
//
// Errors: as in mailbox.h (std::system_error naming the call and the queue;
// std::invalid_argument, std::length_error for bad arguments). A letter that
// does not follow the wire format throws std::runtime_error, whose message
// names the inbox and the message's size ("... (3 bytes) ...").

#ifndef IPC_KATAS_MAILBOX_INBOX_H_
#define IPC_KATAS_MAILBOX_INBOX_H_

#include <cstddef>
#include <deque>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "mailbox/mailbox.h"

namespace kata::mailbox {

// One message of direct communication: who sent it, and what it says.
struct Letter {
  std::string from;
  std::string text;
  // The priority it was queued with: 0 from any Inbox, whatever a foreign
  // mq_send chose otherwise.
  unsigned priority = 0;
};

// Inbox
//
// The calling process's own inbox, and its links to the inboxes of the
// processes it sends to. The process that creates an Inbox owns its mailbox
// (see Mailbox for what that means after fork). Move-only.
class Inbox {
 public:
  // Create()
  //
  // Creates this process's inbox, a mailbox called `name` (same rules as
  // Mailbox::Create) with the given capacity. `buffering.max_message` limits
  // the text of each letter; the queue's messages are kMaxNameLength + 1
  // bytes longer, to hold the sender's name. A name belongs to one inbox at a
  // time: EEXIST if it is taken.
  static Inbox Create(std::string name, Buffering buffering = {});

  // Moving hands over the inbox, its links and the letters set aside; an
  // inbox moved into itself keeps all three.
  Inbox(Inbox&&) noexcept = default;
  Inbox& operator=(Inbox&& other) noexcept;
  Inbox(const Inbox&) = delete;
  Inbox& operator=(const Inbox&) = delete;

  // Closes every link; the owner's inbox is deleted (see ~Mailbox). Letters
  // still waiting in it are lost.
  ~Inbox() = default;

  // This process's name: the name of its inbox, e.g. "/alice".
  const std::string& name() const { return own_.name(); }

  // Send()
  //
  // Sends `text` to the process called `to`, stamped with this process's
  // name, waiting as `wait` allows while its inbox is full. The first send
  // to `to` opens its inbox (Mailbox::Open) and keeps it open for every
  // later letter: one link per peer, however many letters.
  //
  // Throws std::system_error naming "mq_open(<to>)" with ENOENT if no process
  // has an inbox called `to`, std::length_error if `text` is longer than the
  // max_message `to` created its inbox with (its queue's mq_msgsize minus
  // kMaxNameLength + 1), and std::system_error on any other failure.
  SendResult Send(std::string_view to, std::string_view text,
                  Wait wait = Wait::Forever());

  // ReceiveAny()
  //
  // Asymmetric receive: the oldest letter from anyone, with its sender and
  // priority. Letters set aside by Receive(from) count as older than anything
  // still in the queue, so they come first, in the order they arrived. Waits
  // as `wait` allows; std::nullopt if nothing came in time. Throws
  // std::runtime_error for a message that does not follow the wire format
  // (the message is gone), std::system_error as Mailbox::Receive does.
  std::optional<Letter> ReceiveAny(Wait wait = Wait::Forever());

  // Receive()
  //
  // Symmetric receive: the text of the oldest letter from `from`, waiting as
  // `wait` allows (one deadline for the whole call, however many other
  // letters arrive meanwhile). If `priority` is given, stores there the
  // priority the letter came with. Letters from other senders met on the way
  // are not lost: they are set aside, in order, for later calls of Receive
  // and ReceiveAny. std::nullopt if no letter from `from` came in time.
  //
  // The letters set aside live in this process's memory, not in the queue:
  // they no longer count against the inbox's capacity, and they are lost if
  // the process dies.
  std::optional<std::string> Receive(std::string_view from,
                                     Wait wait = Wait::Forever(),
                                     unsigned* priority = nullptr);

 private:
  explicit Inbox(Mailbox own) : own_(std::move(own)) {}

  Mailbox own_;                                        // this process's inbox
  std::map<std::string, Mailbox, std::less<>> links_;  // peer name -> inbox
  std::deque<Letter> held_;  // set aside by Receive(from), oldest first
};

}  // namespace kata::mailbox

#endif  // IPC_KATAS_MAILBOX_INBOX_H_
