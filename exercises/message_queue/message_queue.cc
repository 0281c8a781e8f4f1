// The message_queue kata: your implementation goes here.
//
// Every function below is declared and documented in message_queue.h; the
// stages and hints are in README.md next to this file. Run the tests with
//
//   bazel test //exercises/message_queue/...
//
// and replace each `throw NotImplemented(...)` with real code, stage by stage.

#include "message_queue/message_queue.h"

#include <stdexcept>
#include <string>

namespace kata::message_queue {
namespace {

// Given: what every unfinished function throws; the tests print its message.
// (maybe_unused: a finished kata calls it nowhere, and compiles cleanly.)
[[maybe_unused]] std::logic_error NotImplemented(const char* function,
                                                 int stage) {
  return std::logic_error(std::string("not implemented yet: ") + function +
                          " in exercises/message_queue/message_queue.cc "
                          "(stage " +
                          std::to_string(stage) + ")");
}

}  // namespace

// ---------------------------------------------------------------- Stage 1

SysvQueue SysvQueue::Create(key_t key, int permissions) {
  // Contract: message_queue.h; tools/kata hint message_queue SysvQueue::Create
  (void)key;
  (void)permissions;
  throw NotImplemented("SysvQueue::Create", 1);
}

SysvQueue SysvQueue::CreatePrivate(int permissions) {
  // Contract: message_queue.h; tools/kata hint message_queue CreatePrivate
  (void)permissions;
  throw NotImplemented("SysvQueue::CreatePrivate", 1);
}

SysvQueue SysvQueue::Open(key_t key) {
  // Contract: message_queue.h; tools/kata hint message_queue SysvQueue::Open
  (void)key;
  throw NotImplemented("SysvQueue::Open", 1);
}

SysvQueue::SysvQueue(SysvQueue&& other) noexcept {
  // Contract: message_queue.h; tools/kata hint message_queue SysvQueue::Create
  (void)other;
}

SysvQueue& SysvQueue::operator=(SysvQueue&& other) noexcept {
  // Contract: message_queue.h; tools/kata hint message_queue SysvQueue::Create
  (void)other;
  return *this;
}

SysvQueue::~SysvQueue() {
  // Contract: message_queue.h; tools/kata hint message_queue SysvQueue::Create
}

void SysvQueue::Remove() {
  // Contract: message_queue.h. Stuck? tools/kata hint message_queue Remove
  throw NotImplemented("SysvQueue::Remove", 1);
}

// ---------------------------------------------------------------- Stage 2

void SysvQueue::Send(long type, std::string_view text) const {
  // Contract: message_queue.h; tools/kata hint message_queue SysvQueue::Send
  (void)type;
  (void)text;
  throw NotImplemented("SysvQueue::Send", 2);
}

Message SysvQueue::Receive(Selector which, std::size_t capacity,
                           Oversize oversize) const {
  // Contract: message_queue.h; tools/kata hint message_queue SysvQueue::Receive
  (void)which;
  (void)capacity;
  (void)oversize;
  throw NotImplemented("SysvQueue::Receive", 2);
}

// ---------------------------------------------------------------- Stage 4

bool SysvQueue::TrySend(long type, std::string_view text) const {
  // Contract: message_queue.h; tools/kata hint message_queue SysvQueue::TrySend
  (void)type;
  (void)text;
  throw NotImplemented("SysvQueue::TrySend", 4);
}

std::optional<Message> SysvQueue::TryReceive(Selector which,
                                             std::size_t capacity,
                                             Oversize oversize) const {
  // Contract: message_queue.h. Stuck? tools/kata hint message_queue TryReceive
  (void)which;
  (void)capacity;
  (void)oversize;
  throw NotImplemented("SysvQueue::TryReceive", 4);
}

SysvStatus SysvQueue::Status() const {
  // Contract: message_queue.h. Stuck? tools/kata hint message_queue Status
  throw NotImplemented("SysvQueue::Status", 4);
}

// ---------------------------------------------------------------- Stage 6

std::string Call(const SysvQueue& queue, long client_id,
                 std::string_view request) {
  // Contract: message_queue.h. Stuck? tools/kata hint message_queue Call
  (void)queue;
  (void)client_id;
  (void)request;
  throw NotImplemented("Call", 6);
}

long ServeOne(const SysvQueue& queue, const Handler& handler) {
  // Contract: message_queue.h. Stuck? tools/kata hint message_queue ServeOne
  (void)queue;
  (void)handler;
  throw NotImplemented("ServeOne", 6);
}

void Serve(const SysvQueue& queue, const Handler& handler,
           std::size_t requests) {
  // Contract: message_queue.h. Stuck? tools/kata hint message_queue Serve
  (void)queue;
  (void)handler;
  (void)requests;
  throw NotImplemented("Serve", 6);
}

// ---------------------------------------------------------------- Stage 7

PosixQueue PosixQueue::Create(const std::string& name, PosixLimits limits) {
  // Contract: message_queue.h; tools/kata hint message_queue PosixQueue::Create
  (void)name;
  (void)limits;
  throw NotImplemented("PosixQueue::Create", 7);
}

PosixQueue PosixQueue::Open(const std::string& name) {
  // Contract: message_queue.h; tools/kata hint message_queue PosixQueue::Open
  (void)name;
  throw NotImplemented("PosixQueue::Open", 7);
}

PosixQueue::PosixQueue(PosixQueue&& other) noexcept {
  // Contract: message_queue.h; tools/kata hint message_queue PosixQueue::Create
  (void)other;
}

PosixQueue& PosixQueue::operator=(PosixQueue&& other) noexcept {
  // Contract: message_queue.h; tools/kata hint message_queue PosixQueue::Create
  (void)other;
  return *this;
}

PosixQueue::~PosixQueue() {
  // Contract: message_queue.h; tools/kata hint message_queue PosixQueue::Create
}

void PosixQueue::Unlink() {
  // Contract: message_queue.h. Stuck? tools/kata hint message_queue Unlink
  throw NotImplemented("PosixQueue::Unlink", 7);
}

PosixAttributes PosixQueue::Attributes() const {
  // Contract: message_queue.h. Stuck? tools/kata hint message_queue Attributes
  throw NotImplemented("PosixQueue::Attributes", 7);
}

// ---------------------------------------------------------------- Stage 8

void PosixQueue::Send(std::string_view text, unsigned priority) const {
  // Contract: message_queue.h; tools/kata hint message_queue PosixQueue::Send
  (void)text;
  (void)priority;
  throw NotImplemented("PosixQueue::Send", 8);
}

bool PosixQueue::TrySend(std::string_view text, unsigned priority) const {
  // See message_queue.h; tools/kata hint message_queue PosixQueue::TrySend
  (void)text;
  (void)priority;
  throw NotImplemented("PosixQueue::TrySend", 8);
}

PosixMessage PosixQueue::Receive() const {
  // See message_queue.h; tools/kata hint message_queue PosixQueue::Receive
  throw NotImplemented("PosixQueue::Receive", 8);
}

std::optional<PosixMessage> PosixQueue::ReceiveFor(
    std::chrono::milliseconds timeout) const {
  // Contract: message_queue.h. Stuck? tools/kata hint message_queue ReceiveFor
  (void)timeout;
  throw NotImplemented("PosixQueue::ReceiveFor", 8);
}

}  // namespace kata::message_queue
