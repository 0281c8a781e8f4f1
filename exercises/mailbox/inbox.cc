// The mailbox kata, part 2: direct communication, an inbox per process.
//
// Every function below is declared and documented in inbox.h; the stages and
// hints are in README.md next to this file. Build on your Mailbox from
// mailbox.cc: an inbox is a mailbox that only its process receives from.

#include "mailbox/inbox.h"

#include <stdexcept>
#include <string>

namespace kata::mailbox {
namespace {

// What every unfinished function throws; the tests print its message.
std::logic_error NotImplemented(const char* function, int stage) {
  return std::logic_error(std::string("not implemented yet: ") + function +
                          " in exercises/mailbox/inbox.cc (stage " +
                          std::to_string(stage) + ")");
}

}  // namespace

// ---------------------------------------------------------------- Stage 6

Inbox Inbox::Create(std::string name, Buffering buffering) {
  // TODO: Mailbox::Create(name, ...) with room for the sender's name in
  // every message: max_message + 1 + kMaxNameLength.
  (void)name;
  (void)buffering;
  throw NotImplemented("Inbox::Create", 6);
}

SendResult Inbox::Send(std::string_view to, std::string_view text, Wait wait) {
  // TODO: find the link to `to` in links_, or Mailbox::Open it and keep it
  // there; refuse text that does not fit; send one message: the length of
  // name() in one byte, name(), text.
  (void)to;
  (void)text;
  (void)wait;
  throw NotImplemented("Inbox::Send", 6);
}

std::optional<Letter> Inbox::ReceiveAny(Wait wait) {
  // TODO: receive one message from own_ and split it into sender and text
  // (std::runtime_error if it is malformed). Stage 7: letters in held_ first.
  (void)wait;
  throw NotImplemented("Inbox::ReceiveAny", 6);
}

// ---------------------------------------------------------------- Stage 7

std::optional<std::string> Inbox::Receive(std::string_view from, Wait wait) {
  // TODO: the oldest letter from `from` in held_, if any; otherwise receive
  // until one from `from` comes, setting the others aside in held_, all
  // within one deadline.
  (void)from;
  (void)wait;
  throw NotImplemented("Inbox::Receive", 7);
}

}  // namespace kata::mailbox
