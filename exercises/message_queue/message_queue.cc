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

// What every unfinished function throws; the tests print its message.
std::logic_error NotImplemented(const char* function, int stage) {
  return std::logic_error(std::string("not implemented yet: ") + function +
                          " in exercises/message_queue/message_queue.cc "
                          "(stage " +
                          std::to_string(stage) + ")");
}

}  // namespace

// ---------------------------------------------------------------- Stage 1

SysvQueue SysvQueue::Create(key_t key, int permissions) {
  // TODO: refuse IPC_PRIVATE (std::invalid_argument); msgget(key,
  // IPC_CREAT | IPC_EXCL | permissions); on -1 throw std::system_error(errno,
  // std::generic_category(), "msgget(key 0x...)"). The result is the owner.
  (void)key;
  (void)permissions;
  throw NotImplemented("SysvQueue::Create", 1);
}

SysvQueue SysvQueue::CreatePrivate(int permissions) {
  // TODO: msgget(IPC_PRIVATE, IPC_CREAT | permissions); the result is the
  // owner.
  (void)permissions;
  throw NotImplemented("SysvQueue::CreatePrivate", 1);
}

SysvQueue SysvQueue::Open(key_t key) {
  // TODO: msgget(key, 0) finds an existing queue; the result is a user, not
  // the owner.
  (void)key;
  throw NotImplemented("SysvQueue::Open", 1);
}

SysvQueue::SysvQueue(SysvQueue&& other) noexcept {
  // TODO: take other's id and ownership, and leave `other` holding nothing
  // (std::exchange), so that only one object ever removes the queue.
  (void)other;
}

SysvQueue& SysvQueue::operator=(SysvQueue&& other) noexcept {
  // TODO: let go of the queue this object holds (as the destructor would),
  // then take other's id and ownership.
  (void)other;
  return *this;
}

SysvQueue::~SysvQueue() {
  // TODO: if this object owns a queue, remove it: msgctl(id, IPC_RMID,
  // nullptr). A destructor must not throw: ignore a failure here.
}

void SysvQueue::Remove() {
  // TODO: msgctl(id, IPC_RMID, nullptr); throw std::system_error naming
  // "msgctl(IPC_RMID, queue <id>)" on failure; then hold no queue.
  throw NotImplemented("SysvQueue::Remove", 1);
}

// ---------------------------------------------------------------- Stage 2

void SysvQueue::Send(long type, std::string_view text) const {
  // TODO: check type > 0; fill a buffer laid out as {long mtype; char
  // mtext[]}; msgsnd(id, buffer, text.size(), 0). Stage 4: retry EINTR.
  (void)type;
  (void)text;
  throw NotImplemented("SysvQueue::Send", 2);
}

Message SysvQueue::Receive(Selector which, std::size_t capacity,
                           Oversize oversize) const {
  // TODO: a buffer with room for a long and `capacity` bytes; msgrcv(id,
  // buffer, capacity, msgtyp, flags) returns the text's length. Stage 3:
  // msgtyp from `which`. Stage 4: retry EINTR. Stage 5: MSG_NOERROR.
  (void)which;
  (void)capacity;
  (void)oversize;
  throw NotImplemented("SysvQueue::Receive", 2);
}

// ---------------------------------------------------------------- Stage 4

bool SysvQueue::TrySend(long type, std::string_view text) const {
  // TODO: Send with IPC_NOWAIT; a full queue (EAGAIN) returns false.
  (void)type;
  (void)text;
  throw NotImplemented("SysvQueue::TrySend", 4);
}

std::optional<Message> SysvQueue::TryReceive(Selector which,
                                             std::size_t capacity,
                                             Oversize oversize) const {
  // TODO: Receive with IPC_NOWAIT; "nothing matches" returns std::nullopt.
  (void)which;
  (void)capacity;
  (void)oversize;
  throw NotImplemented("SysvQueue::TryReceive", 4);
}

SysvStatus SysvQueue::Status() const {
  // TODO: msgctl(id, IPC_STAT, &info) into a msqid_ds.
  throw NotImplemented("SysvQueue::Status", 4);
}

// ---------------------------------------------------------------- Stage 6

std::string Call(const SysvQueue& queue, long client_id,
                 std::string_view request) {
  // TODO: check client_id > kRequestType; send type kRequestType with the
  // client id as the header's "On the wire" lays it out, followed by the
  // request; receive the reply.
  (void)queue;
  (void)client_id;
  (void)request;
  throw NotImplemented("Call", 6);
}

long ServeOne(const SysvQueue& queue, const Handler& handler) {
  // TODO: receive one request; read the client id; reply; return the id.
  (void)queue;
  (void)handler;
  throw NotImplemented("ServeOne", 6);
}

void Serve(const SysvQueue& queue, const Handler& handler,
           std::size_t requests) {
  // TODO: ServeOne, `requests` times.
  (void)queue;
  (void)handler;
  (void)requests;
  throw NotImplemented("Serve", 6);
}

// ---------------------------------------------------------------- Stage 7

PosixQueue PosixQueue::Create(const std::string& name, PosixLimits limits) {
  // TODO: check the name and the limits; mq_open(name, O_CREAT | O_EXCL |
  // O_RDWR, 0600, attr or nullptr). The result is the owner.
  (void)name;
  (void)limits;
  throw NotImplemented("PosixQueue::Create", 7);
}

PosixQueue PosixQueue::Open(const std::string& name) {
  // TODO: check the name; mq_open(name, O_RDWR). The result is a user.
  (void)name;
  throw NotImplemented("PosixQueue::Open", 7);
}

PosixQueue::PosixQueue(PosixQueue&& other) noexcept {
  // TODO: take other's descriptor, name and ownership; leave it empty.
  (void)other;
}

PosixQueue& PosixQueue::operator=(PosixQueue&& other) noexcept {
  // TODO: let go of what this object holds, then take other's.
  (void)other;
  return *this;
}

PosixQueue::~PosixQueue() {
  // TODO: mq_close the descriptor if open; mq_unlink the name if the owner.
}

void PosixQueue::Unlink() {
  // TODO: mq_unlink(name); throw std::system_error naming "mq_unlink(<name>)"
  // on failure; afterwards this object no longer owns a name.
  throw NotImplemented("PosixQueue::Unlink", 7);
}

PosixAttributes PosixQueue::Attributes() const {
  // TODO: mq_getattr.
  throw NotImplemented("PosixQueue::Attributes", 7);
}

// ---------------------------------------------------------------- Stage 8

void PosixQueue::Send(std::string_view text, unsigned priority) const {
  // TODO: mq_send.
  (void)text;
  (void)priority;
  throw NotImplemented("PosixQueue::Send", 8);
}

bool PosixQueue::TrySend(std::string_view text, unsigned priority) const {
  // TODO: send without waiting: a full queue returns false.
  (void)text;
  (void)priority;
  throw NotImplemented("PosixQueue::TrySend", 8);
}

PosixMessage PosixQueue::Receive() const {
  // TODO: mq_receive into a buffer of the queue's mq_msgsize.
  throw NotImplemented("PosixQueue::Receive", 8);
}

std::optional<PosixMessage> PosixQueue::ReceiveFor(
    std::chrono::milliseconds timeout) const {
  // TODO: mq_timedreceive; its deadline is an absolute CLOCK_REALTIME time.
  (void)timeout;
  throw NotImplemented("PosixQueue::ReceiveFor", 8);
}

}  // namespace kata::message_queue
