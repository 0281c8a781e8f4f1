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

// What every unfinished function throws; the tests print its message.
std::logic_error NotImplemented(const char* function, int stage) {
  return std::logic_error(std::string("not implemented yet: ") + function +
                          " in exercises/mailbox/mailbox.cc (stage " +
                          std::to_string(stage) + ")");
}

}  // namespace

// ---------------------------------------------------------------- Stage 1

Mailbox Mailbox::Create(std::string name, Buffering buffering) {
  // TODO: check the name (std::invalid_argument), then mq_open(name,
  // O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600, &attr) with mq_maxmsg and
  // mq_msgsize from `buffering` (Stage 3). Throw std::system_error(errno,
  // std::generic_category(), "mq_open(" + name + ")") if it fails. Remember
  // who created it: owner_pid_ = getpid() (Stage 5).
  // Stage 8: capacity 0 creates a second queue, name + kReadySuffix.
  (void)name;
  (void)buffering;
  throw NotImplemented("Mailbox::Create", 1);
}

Mailbox Mailbox::Open(std::string name) {
  // TODO: check the name, mq_open(name, O_RDWR | O_CLOEXEC) without O_CREAT,
  // then learn capacity_ and max_message_ from mq_getattr.
  // Stage 8: if name + kReadySuffix exists too, it is a rendezvous.
  (void)name;
  throw NotImplemented("Mailbox::Open", 1);
}

// Moving is given: it hands every member over and leaves `other` empty.
Mailbox::Mailbox(Mailbox&& other) noexcept
    : name_(std::move(other.name_)),
      queue_(std::exchange(other.queue_, static_cast<mqd_t>(-1))),
      ready_(std::exchange(other.ready_, static_cast<mqd_t>(-1))),
      capacity_(other.capacity_),
      max_message_(other.max_message_),
      owner_pid_(std::exchange(other.owner_pid_, 0)) {}

Mailbox& Mailbox::operator=(Mailbox&& other) noexcept {
  if (this != &other) {
    Release();
    name_ = std::move(other.name_);
    queue_ = std::exchange(other.queue_, static_cast<mqd_t>(-1));
    ready_ = std::exchange(other.ready_, static_cast<mqd_t>(-1));
    capacity_ = other.capacity_;
    max_message_ = other.max_message_;
    owner_pid_ = std::exchange(other.owner_pid_, 0);
  }
  return *this;
}

Mailbox::~Mailbox() { Release(); }

SendResult Mailbox::Send(std::string_view text, Wait wait) {
  // TODO: refuse text longer than max_message_ (std::length_error), then
  // mq_send (Stage 1). Stage 2: mq_timedsend with an absolute CLOCK_REALTIME
  // deadline for Wait::For and Wait::No; ETIMEDOUT is kTimedOut; retry EINTR.
  // Stage 8: on a rendezvous, first take a ready token, then send.
  (void)text;
  (void)wait;
  throw NotImplemented("Mailbox::Send", 1);
}

std::optional<std::string> Mailbox::Receive(Wait wait) {
  // TODO: mq_receive into a buffer of max_message_ bytes (Stage 1).
  // Stage 2: mq_timedreceive, std::nullopt on ETIMEDOUT, retry EINTR.
  // Stage 8: on a rendezvous, post a ready token first, and take it back if
  // you give up.
  (void)wait;
  throw NotImplemented("Mailbox::Receive", 1);
}

// ---------------------------------------------------------------- Stage 5

void Mailbox::Delete() {
  // TODO: only the owner (is_owner()) may delete: EPERM otherwise. Stop
  // owning, then mq_unlink the name (and the ready queue's, Stage 8).
  throw NotImplemented("Mailbox::Delete", 5);
}

bool Mailbox::is_owner() const {
  // TODO: the creating process, and only it, until it deletes the mailbox.
  throw NotImplemented("Mailbox::is_owner", 5);
}

void Mailbox::Release() noexcept {
  // TODO (stages 1 and 5): close the descriptors (mq_close); in the owner's
  // process, remove the name(s) first. Must not throw.
}

}  // namespace kata::mailbox
