// Reference solution of the mailbox kata, part 2: direct communication, an
// inbox per process. See inbox.h for each contract and
// exercises/mailbox/README.md for the stages.

#include "mailbox/inbox.h"

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
  std::string letter;
  letter.reserve(1 + from.size() + text.size());
  letter.push_back(static_cast<char>(from.size()));
  letter.append(from);
  letter.append(text);
  return letter;
}

Letter Unframe(const std::string& message, const std::string& inbox) {
  const std::size_t name_length =
      message.empty() ? 0 : static_cast<unsigned char>(message[0]);
  if (message.empty() || 1 + name_length > message.size()) {
    throw std::runtime_error(
        "malformed letter in " + inbox + " (" + std::to_string(message.size()) +
        " bytes): expected a name length byte, the sender's name, the text");
  }
  return Letter{message.substr(1, name_length),
                message.substr(1 + name_length)};
}

// One wait spread over several receives: what is left of it at each step.
class Budget {
 public:
  explicit Budget(Wait wait)
      : wait_(wait),
        until_(std::chrono::steady_clock::now() + wait.timeout()) {}

  Wait Left() const {
    if (wait_.forever()) return wait_;
    auto left = std::chrono::ceil<std::chrono::milliseconds>(
        until_ - std::chrono::steady_clock::now());
    return left.count() > 0 ? Wait::For(left) : Wait::No();
  }

 private:
  Wait wait_;
  std::chrono::steady_clock::time_point until_;
};

}  // namespace

// ---------------------------------------------------------------- Stage 6

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
  // every sender).
  const std::size_t size = link->second.max_message();
  const std::size_t room =
      size > 1 + kMaxNameLength ? size - 1 - kMaxNameLength : 0;
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
  std::optional<std::string> message = own_.Receive(wait);
  if (!message) return std::nullopt;
  return Unframe(*message, name());
}

// ---------------------------------------------------------------- Stage 7

std::optional<std::string> Inbox::Receive(std::string_view from, Wait wait) {
  for (auto held = held_.begin(); held != held_.end(); ++held) {
    if (held->from == from) {
      std::string text = std::move(held->text);
      held_.erase(held);
      return text;
    }
  }
  const Budget budget(wait);
  for (;;) {
    std::optional<std::string> message = own_.Receive(budget.Left());
    if (!message) return std::nullopt;
    Letter letter = Unframe(*message, name());
    if (letter.from == from) return std::move(letter.text);
    // Another sender's letter: not what we wait for, but not ours to drop.
    held_.push_back(std::move(letter));
  }
}

}  // namespace kata::mailbox
