// The mailbox kata, part 2: direct communication, an inbox per process.
//
// Every function below is declared and documented in inbox.h; the stages and
// hints are in README.md next to this file. Build on your Mailbox from
// mailbox.cc: an inbox is a mailbox that only its process receives from.

#include "mailbox/inbox.h"

#include <stdexcept>
#include <string>
#include <utility>

namespace kata::mailbox {
namespace {

// Given: what every unfinished function throws; the tests print its message.
// (maybe_unused: a finished kata calls it nowhere, and compiles cleanly.)
[[maybe_unused]] std::logic_error NotImplemented(const char* function,
                                                 int stage) {
  return std::logic_error(std::string("not implemented yet: ") + function +
                          " in exercises/mailbox/inbox.cc (stage " +
                          std::to_string(stage) + ")");
}

}  // namespace

// Given: moving hands every member over and leaves a self-move alone.
Inbox& Inbox::operator=(Inbox&& other) noexcept {
  if (this != &other) {
    own_ = std::move(other.own_);
    links_ = std::move(other.links_);
    held_ = std::move(other.held_);
  }
  return *this;
}

// ---------------------------------------------------------------- Stage 6

Inbox Inbox::Create(std::string name, Buffering buffering) {
  // Contract: inbox.h. Stuck? tools/kata hint mailbox Inbox::Create
  (void)name;
  (void)buffering;
  throw NotImplemented("Inbox::Create", 6);
}

SendResult Inbox::Send(std::string_view to, std::string_view text, Wait wait) {
  // Contract: inbox.h. Stuck? tools/kata hint mailbox Inbox::Send
  (void)to;
  (void)text;
  (void)wait;
  throw NotImplemented("Inbox::Send", 6);
}

std::optional<Letter> Inbox::ReceiveAny(Wait wait) {
  // Contract: inbox.h. Stuck? tools/kata hint mailbox Inbox::ReceiveAny
  (void)wait;
  throw NotImplemented("Inbox::ReceiveAny", 6);
}

// ---------------------------------------------------------------- Stage 7

std::optional<std::string> Inbox::Receive(std::string_view from, Wait wait,
                                          unsigned* priority) {
  // Contract: inbox.h. Stuck? tools/kata hint mailbox Inbox::Receive
  (void)from;
  (void)wait;
  (void)priority;
  throw NotImplemented("Inbox::Receive", 7);
}

}  // namespace kata::mailbox
