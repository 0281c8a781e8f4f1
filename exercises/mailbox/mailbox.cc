// The mailbox kata, part 1: your mailboxes go here.
//
// Every function below is declared and documented in mailbox.h; the stages
// and hints are in README.md next to this file. Run the tests with
//
//   bazel test //exercises/mailbox/...
//
// and replace each `throw NotImplemented(...)` with real code, stage by stage.
// Part 2 (direct communication, stages 6 and 7) is in inbox.cc.

#include "mailbox/mailbox.h"

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
                          " in exercises/mailbox/mailbox.cc (stage " +
                          std::to_string(stage) + ")");
}

}  // namespace

// ---------------------------------------------------------------- Stage 1

Mailbox Mailbox::Create(std::string name, Buffering buffering) {
  // Contract: mailbox.h. Stuck? tools/kata hint mailbox Mailbox::Create
  (void)name;
  (void)buffering;
  throw NotImplemented("Mailbox::Create", 1);
}

Mailbox Mailbox::Open(std::string name) {
  // Contract: mailbox.h. Stuck? tools/kata hint mailbox Mailbox::Open
  (void)name;
  throw NotImplemented("Mailbox::Open", 1);
}

// Given: moving hands every member over and leaves `other` empty.
Mailbox::Mailbox(Mailbox&& other) noexcept
    : name_(std::move(other.name_)),
      queue_(std::exchange(other.queue_, static_cast<mqd_t>(-1))),
      ready_(std::exchange(other.ready_, static_cast<mqd_t>(-1))),
      capacity_(other.capacity_),
      max_message_(other.max_message_),
      owner_(std::exchange(other.owner_, std::nullopt)) {}

// Given: the move assignment releases this mailbox first, then moves.
Mailbox& Mailbox::operator=(Mailbox&& other) noexcept {
  if (this != &other) {
    Release();
    name_ = std::move(other.name_);
    queue_ = std::exchange(other.queue_, static_cast<mqd_t>(-1));
    ready_ = std::exchange(other.ready_, static_cast<mqd_t>(-1));
    capacity_ = other.capacity_;
    max_message_ = other.max_message_;
    owner_ = std::exchange(other.owner_, std::nullopt);
  }
  return *this;
}

// Given: the destructor lets Release() do the work.
Mailbox::~Mailbox() { Release(); }

SendResult Mailbox::Send(std::string_view text, Wait wait) {
  // Contract: mailbox.h. Stuck? tools/kata hint mailbox Mailbox::Send
  (void)text;
  (void)wait;
  throw NotImplemented("Mailbox::Send", 1);
}

std::optional<std::string> Mailbox::Receive(Wait wait, unsigned* priority) {
  // Contract: mailbox.h. Stuck? tools/kata hint mailbox Mailbox::Receive
  (void)wait;
  (void)priority;
  throw NotImplemented("Mailbox::Receive", 1);
}

// ---------------------------------------------------------------- Stage 5

void Mailbox::Delete() {
  // Contract: mailbox.h. Stuck? tools/kata hint mailbox Mailbox::Delete
  throw NotImplemented("Mailbox::Delete", 5);
}

bool Mailbox::is_owner() const {
  // Contract: mailbox.h. Stuck? tools/kata hint mailbox Mailbox::is_owner
  throw NotImplemented("Mailbox::is_owner", 5);
}

void Mailbox::Release() noexcept {
  // Contract: mailbox.h. Stuck? tools/kata hint mailbox Mailbox::Delete
}

}  // namespace kata::mailbox
