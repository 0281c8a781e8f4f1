// Reference solution of the mailbox kata, part 2: direct communication, an
// inbox per process. See inbox.h for each contract and
// exercises/mailbox/README.md for the stages.

#include "mailbox/inbox.h"

#include <algorithm>
#include <chrono>
#include <stdexcept>
#include <string>
#include <utility>

namespace kata::mailbox {
namespace {

// A letter on the wire: one byte with the length of the sender's name, the
// name, then the text. The queue keeps message boundaries, so the text needs
// no length of its own.
std::string Frame(std::string_view from, std::string_view text) {
  std::string letter(1, static_cast<char>(from.size()));
  letter.append(from);
  letter.append(text);
  return letter;
}

[[noreturn]] void ThrowMalformed(const std::string& message,
                                 const std::string& inbox) {
  throw std::runtime_error(
      "malformed letter in " + inbox + " (" + std::to_string(message.size()) +
      " bytes): expected a name length byte, the sender's name, the text");
}

Letter Unframe(const std::string& message, const std::string& inbox,
               unsigned priority) {
  if (message.empty()) ThrowMalformed(message, inbox);
  const std::size_t name_length = static_cast<unsigned char>(message[0]);
  if (1 + name_length > message.size()) ThrowMalformed(message, inbox);
  return Letter{message.substr(1, name_length), message.substr(1 + name_length),
                priority};
}

// One wait spread over several receives: what is left of it at each step.
class Budget {
 public:
  using Clock = std::chrono::steady_clock;

  explicit Budget(Wait wait) : wait_(wait) {
    const Clock::time_point now = Clock::now();
    // A wait longer than the clock can count ends where the clock does.
    const auto longest = std::chrono::floor<std::chrono::milliseconds>(
        Clock::time_point::max() - now);
    until_ = now + std::min(wait.timeout(), longest);
  }

  // Wait::For of a time already past is Wait::No().
  Wait Left() const {
    if (wait_.forever()) return wait_;
    return Wait::For(
        std::chrono::ceil<std::chrono::milliseconds>(until_ - Clock::now()));
  }

 private:
  Wait wait_;
  Clock::time_point until_;
};

// The next letter in `own`, with the priority it was queued with;
// std::nullopt if none came in time.
std::optional<Letter> NextLetter(Mailbox& own, Wait wait) {
  unsigned priority;  // set by Receive whenever it returns a message
  std::optional<std::string> message = own.Receive(wait, &priority);
  if (!message) return std::nullopt;
  return Unframe(*message, own.name(), priority);
}

}  // namespace

// ---------------------------------------------------------------- Stage 6

Inbox& Inbox::operator=(Inbox&& other) noexcept {
  // Not defaulted: a standard container moved into itself may empty itself,
  // and the links and the letters set aside must survive a self-move.
  if (this != &other) {
    own_ = std::move(other.own_);
    links_ = std::move(other.links_);
    held_ = std::move(other.held_);
  }
  return *this;
}

Inbox Inbox::Create(std::string name, Buffering buffering) {
  if (buffering.max_message == 0) {
    throw std::invalid_argument("Inbox::Create(" + name +
                                "): max_message must be at least 1 byte");
  }
  // Room for the longest sender name in front of the text.
  buffering.max_message += 1 + kMaxNameLength;
  return Inbox(Mailbox::Create(std::move(name), buffering));
}

SendResult Inbox::Send(std::string_view to, std::string_view text, Wait wait) {
  // The link to `to`: opened on the first letter, then kept for all others.
  auto link = links_.find(to);
  if (link == links_.end()) {
    link =
        links_.emplace(std::string(to), Mailbox::Open(std::string(to))).first;
  }
  // The peer's limit on text: its queue's message size minus room for the
  // longest name (whatever the length of ours, so the limit is the same for
  // every sender); none at all if its queue is smaller than that.
  const std::size_t size = link->second.max_message();
  const std::size_t room = size - std::min(size, 1 + kMaxNameLength);
  if (text.size() > room) {
    throw std::length_error(
        "Inbox::Send(" + std::string(to) + "): " + std::to_string(text.size()) +
        " bytes of text; that inbox takes at most " + std::to_string(room));
  }
  return link->second.Send(Frame(name(), text), wait);
}

std::optional<Letter> Inbox::ReceiveAny(Wait wait) {
  // Letters set aside by Receive(from) arrived before anything still queued.
  if (!held_.empty()) {
    Letter letter = std::move(held_.front());
    held_.pop_front();
    return letter;
  }
  return NextLetter(own_, wait);
}

// ---------------------------------------------------------------- Stage 7

std::optional<std::string> Inbox::Receive(std::string_view from, Wait wait,
                                          unsigned* priority) {
  for (auto held = held_.begin(); held != held_.end(); ++held) {
    if (held->from == from) {
      if (priority) *priority = held->priority;
      std::string text = std::move(held->text);
      held_.erase(held);
      return text;
    }
  }
  const Budget budget(wait);
  for (;;) {
    std::optional<Letter> letter = NextLetter(own_, budget.Left());
    if (!letter) return std::nullopt;
    if (letter->from == from) {
      if (priority) *priority = letter->priority;
      return std::move(letter->text);
    }
    // Another sender's letter: not what we wait for, but not ours to drop.
    held_.push_back(std::move(*letter));
  }
}

}  // namespace kata::mailbox
