// Reference solution of the message_queue kata. See message_queue.h for each
// contract and exercises/message_queue/README.md for the stages.

#include "message_queue/message_queue.h"

#include <endian.h>
#include <fcntl.h>
#include <mqueue.h>
#include <sys/ipc.h>
#include <sys/msg.h>
#include <time.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <memory>
#include <stdexcept>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

namespace kata::message_queue {
namespace {

[[noreturn]] void ThrowErrno(const std::string& call, int error = errno) {
  throw std::system_error(error, std::generic_category(), call);
}

// Runs `call` again for as long as it fails with EINTR. msgsnd and msgrcv
// are never restarted by the kernel after a signal handler ran, not even with
// SA_RESTART, so every blocking call goes through here.
template <typename Call>
auto RetryOnEintr(Call call) {
  for (;;) {
    auto result = call();
    if (result != -1 || errno != EINTR) return result;
  }
}

std::string KeyName(key_t key) {
  char text[32];
  std::snprintf(text, sizeof(text), "key 0x%08x", static_cast<unsigned>(key));
  return text;
}

std::string QueueName(int id) { return "queue " + std::to_string(id); }

// The buffer msgsnd and msgrcv work on: a long for the type, then the text
// (the struct msgbuf of msgop(2)). Kept in longs so the type is aligned, and
// not zero-filled: every byte is written before it is read (by memcpy before
// msgsnd, by the kernel in msgrcv), and zeroing the 8 KiB a receive reserves
// would cost more than a small message's copy (docs/benchmarks.md).
class MessageBuffer {
 public:
  explicit MessageBuffer(std::size_t text_capacity)
      : words_(std::make_unique_for_overwrite<long[]>(
            1 + (text_capacity + sizeof(long) - 1) / sizeof(long))) {}

  void* data() { return words_.get(); }
  long& type() { return words_[0]; }
  char* text() { return reinterpret_cast<char*>(words_.get() + 1); }

 private:
  std::unique_ptr<long[]> words_;
};

void CheckType(long type, const char* what) {
  if (type <= 0) {
    throw std::invalid_argument(std::string(what) +
                                ": a message type must be > 0, got " +
                                std::to_string(type));
  }
}

// msgrcv's msgtyp for a selector: 0 takes the head of the queue, t > 0 the
// first message of type t, and -t the first message of the lowest type <= t.
long MsgtypFor(Selector which) {
  switch (which.kind) {
    case Selector::Kind::kAny:
      return 0;
    case Selector::Kind::kExactly:
      CheckType(which.type, "Exactly");
      return which.type;
    case Selector::Kind::kLowestUpTo:
      CheckType(which.type, "LowestUpTo");
      return -which.type;
  }
  throw std::invalid_argument("unknown Selector kind");
}

// msgsnd with `flags`; false if IPC_NOWAIT was given and the queue is full.
bool SendMessage(int id, long type, std::string_view text, int flags) {
  CheckType(type, "Send");
  MessageBuffer buffer(text.size());
  buffer.type() = type;
  if (!text.empty()) std::memcpy(buffer.text(), text.data(), text.size());
  // msgsz is the length of the text alone: the type is not counted.
  int result = RetryOnEintr(
      [&] { return msgsnd(id, buffer.data(), text.size(), flags); });
  if (result == 0) return true;
  if (errno == EAGAIN && (flags & IPC_NOWAIT)) return false;
  ThrowErrno("msgsnd(" + QueueName(id) + ")");
}

// msgrcv; std::nullopt if IPC_NOWAIT was given and nothing matches.
std::optional<Message> ReceiveMessage(int id, Selector which,
                                      std::size_t capacity, Oversize oversize,
                                      int flags) {
  const long msgtyp = MsgtypFor(which);
  if (oversize == Oversize::kTruncate) flags |= MSG_NOERROR;
  MessageBuffer buffer(capacity);
  ssize_t length = RetryOnEintr(
      [&] { return msgrcv(id, buffer.data(), capacity, msgtyp, flags); });
  if (length < 0) {
    // With IPC_NOWAIT "nothing to take" is ENOMSG (EAGAIN is msgsnd's word
    // for a full queue).
    if (errno == ENOMSG && (flags & IPC_NOWAIT)) return std::nullopt;
    ThrowErrno("msgrcv(" + QueueName(id) + ")");
  }
  return Message{buffer.type(),
                 std::string(buffer.text(), static_cast<std::size_t>(length))};
}

// The client id at the front of a request, as README "On the wire" gives it
// to peers in other languages: 8 bytes, least significant first, whatever
// the host's byte order (htole64 and le64toh do nothing on x86-64).
static_assert(sizeof(std::uint64_t) == kClientIdBytes);

std::string ClientIdBytes(long client_id) {
  const std::uint64_t wire = htole64(static_cast<std::uint64_t>(client_id));
  std::string bytes(sizeof(wire), '\0');
  std::memcpy(bytes.data(), &wire, sizeof(wire));
  return bytes;
}

long ClientIdFrom(std::string_view text) {
  std::uint64_t wire;
  std::memcpy(&wire, text.data(), sizeof(wire));
  return static_cast<long>(le64toh(wire));
}

void CheckName(const std::string& name) {
  const bool well_formed = name.size() >= 2 && name.size() <= 256 &&
                           name[0] == '/' &&
                           name.find('/', 1) == std::string::npos;
  if (!well_formed) {
    throw std::invalid_argument(
        "POSIX queue name \"" + name +
        "\": it must be a slash followed by 1 to 255 characters, no other "
        "slash (e.g. \"/orders\")");
  }
}

// A buffer of at least `size` bytes, one per thread, kept for the next
// receive: allocating a message-size buffer anew for every message costs
// more than the message's own copy (docs/benchmarks.md).
std::vector<char>& ReceiveBuffer(std::size_t size) {
  thread_local std::vector<char> buffer;
  if (buffer.size() < size) buffer.resize(size);
  return buffer;
}

timespec RealtimeIn(std::chrono::milliseconds timeout) {
  // mq_timedreceive and mq_timedsend take an ABSOLUTE CLOCK_REALTIME time.
  timespec deadline{};
  clock_gettime(CLOCK_REALTIME, &deadline);
  const long long ns = deadline.tv_nsec + (timeout.count() % 1000) * 1000000LL;
  deadline.tv_sec +=
      static_cast<time_t>(timeout.count() / 1000 + ns / 1000000000);
  deadline.tv_nsec = static_cast<long>(ns % 1000000000);
  return deadline;
}

}  // namespace

// ---------------------------------------------------------------- Stage 1

SysvQueue SysvQueue::Create(key_t key, int permissions) {
  if (key == IPC_PRIVATE) {
    throw std::invalid_argument(
        "SysvQueue::Create: IPC_PRIVATE is not a key; use CreatePrivate()");
  }
  int id = msgget(key, IPC_CREAT | IPC_EXCL | (permissions & 0777));
  if (id < 0) ThrowErrno("msgget(" + KeyName(key) + ")");
  return SysvQueue(id, /*owner=*/true);
}

SysvQueue SysvQueue::CreatePrivate(int permissions) {
  int id = msgget(IPC_PRIVATE, IPC_CREAT | (permissions & 0777));
  if (id < 0) ThrowErrno("msgget(IPC_PRIVATE)");
  return SysvQueue(id, /*owner=*/true);
}

SysvQueue SysvQueue::Open(key_t key) {
  int id = msgget(key, 0);
  if (id < 0) ThrowErrno("msgget(" + KeyName(key) + ")");
  return SysvQueue(id, /*owner=*/false);
}

SysvQueue::SysvQueue(SysvQueue&& other) noexcept
    : id_(std::exchange(other.id_, -1)),
      owner_(std::exchange(other.owner_, false)) {}

SysvQueue& SysvQueue::operator=(SysvQueue&& other) noexcept {
  if (this != &other) {
    // Let go of our own queue the way the destructor would.
    SysvQueue old(std::move(*this));
    id_ = std::exchange(other.id_, -1);
    owner_ = std::exchange(other.owner_, false);
  }
  return *this;
}

SysvQueue::~SysvQueue() {
  // The kernel keeps a queue until someone removes it; the owner does.
  if (owner_ && id_ >= 0) msgctl(id_, IPC_RMID, nullptr);
}

void SysvQueue::Remove() {
  if (msgctl(id_, IPC_RMID, nullptr) < 0) {
    ThrowErrno("msgctl(IPC_RMID, " + QueueName(id_) + ")");
  }
  id_ = -1;
  owner_ = false;
}

// ---------------------------------------------------------------- Stage 2

void SysvQueue::Send(long type, std::string_view text) const {
  SendMessage(id_, type, text, 0);
}

Message SysvQueue::Receive(Selector which, std::size_t capacity,
                           Oversize oversize) const {
  return *ReceiveMessage(id_, which, capacity, oversize, 0);
}

// ---------------------------------------------------------------- Stage 4

bool SysvQueue::TrySend(long type, std::string_view text) const {
  return SendMessage(id_, type, text, IPC_NOWAIT);
}

std::optional<Message> SysvQueue::TryReceive(Selector which,
                                             std::size_t capacity,
                                             Oversize oversize) const {
  return ReceiveMessage(id_, which, capacity, oversize, IPC_NOWAIT);
}

SysvStatus SysvQueue::Status() const {
  msqid_ds info{};
  if (msgctl(id_, IPC_STAT, &info) < 0) {
    ThrowErrno("msgctl(IPC_STAT, " + QueueName(id_) + ")");
  }
  return SysvStatus{static_cast<std::size_t>(info.msg_qnum),
                    static_cast<std::size_t>(info.__msg_cbytes),
                    static_cast<std::size_t>(info.msg_qbytes), info.msg_lspid,
                    info.msg_lrpid};
}

// ---------------------------------------------------------------- Stage 6

std::string Call(const SysvQueue& queue, long client_id,
                 std::string_view request) {
  if (client_id <= kRequestType) {
    throw std::invalid_argument(
        "Call: a client id must be > " + std::to_string(kRequestType) +
        " (type " + std::to_string(kRequestType) + " is for requests), got " +
        std::to_string(client_id));
  }
  std::string text = ClientIdBytes(client_id);
  text.append(request);
  queue.Send(kRequestType, text);
  // Only our own type: replies to other clients stay where they are.
  return queue.Receive(Exactly(client_id)).text;
}

long ServeOne(const SysvQueue& queue, const Handler& handler) {
  // Only requests: a reply still waiting for its client is not ours to take.
  Message request = queue.Receive(Exactly(kRequestType));
  if (request.text.size() < kClientIdBytes) {
    throw std::runtime_error("ServeOne: a request of " +
                             std::to_string(request.text.size()) +
                             " bytes has no client id");
  }
  const long client_id = ClientIdFrom(request.text);
  if (client_id <= kRequestType) {
    throw std::runtime_error("ServeOne: a request names client id " +
                             std::to_string(client_id) + ", which is not > " +
                             std::to_string(kRequestType));
  }
  std::string_view body(request.text);
  body.remove_prefix(kClientIdBytes);
  queue.Send(client_id, handler(body));  // the reply's type is the client id
  return client_id;
}

void Serve(const SysvQueue& queue, const Handler& handler,
           std::size_t requests) {
  for (std::size_t i = 0; i < requests; ++i) ServeOne(queue, handler);
}

// ---------------------------------------------------------------- Stage 7

PosixQueue PosixQueue::Create(const std::string& name, PosixLimits limits) {
  CheckName(name);
  const bool defaults = limits.max_messages == 0 && limits.message_size == 0;
  if (!defaults && (limits.max_messages <= 0 || limits.message_size <= 0)) {
    throw std::invalid_argument(
        "PosixQueue::Create(" + name +
        "): set both limits > 0, or leave both 0 for the system defaults");
  }
  mq_attr attr{};
  attr.mq_maxmsg = limits.max_messages;
  attr.mq_msgsize = limits.message_size;
  mqd_t queue = mq_open(name.c_str(), O_CREAT | O_EXCL | O_RDWR | O_CLOEXEC,
                        0600, defaults ? nullptr : &attr);
  if (queue == static_cast<mqd_t>(-1)) ThrowErrno("mq_open(" + name + ")");
  PosixQueue created(queue, name, /*owner=*/true);
  // Read once: a queue's message size never changes after mq_open.
  created.message_size_ =
      static_cast<std::size_t>(created.Attributes().message_size);
  return created;
}

PosixQueue PosixQueue::Open(const std::string& name) {
  CheckName(name);
  mqd_t queue = mq_open(name.c_str(), O_RDWR | O_CLOEXEC);
  if (queue == static_cast<mqd_t>(-1)) ThrowErrno("mq_open(" + name + ")");
  PosixQueue opened(queue, name, /*owner=*/false);
  opened.message_size_ =
      static_cast<std::size_t>(opened.Attributes().message_size);
  return opened;
}

PosixQueue::PosixQueue(PosixQueue&& other) noexcept
    : queue_(std::exchange(other.queue_, -1)),
      name_(std::move(other.name_)),
      owner_(std::exchange(other.owner_, false)),
      message_size_(std::exchange(other.message_size_, 0)) {
  other.name_.clear();
}

PosixQueue& PosixQueue::operator=(PosixQueue&& other) noexcept {
  if (this != &other) {
    PosixQueue old(std::move(*this));
    queue_ = std::exchange(other.queue_, -1);
    name_ = std::move(other.name_);
    other.name_.clear();
    owner_ = std::exchange(other.owner_, false);
    message_size_ = std::exchange(other.message_size_, 0);
  }
  return *this;
}

PosixQueue::~PosixQueue() {
  if (queue_ != static_cast<mqd_t>(-1)) mq_close(queue_);
  // Closing is not removing: the name (and the queue) would stay until reboot.
  if (owner_) mq_unlink(name_.c_str());
}

void PosixQueue::Unlink() {
  if (mq_unlink(name_.c_str()) < 0) ThrowErrno("mq_unlink(" + name_ + ")");
  owner_ = false;
}

PosixAttributes PosixQueue::Attributes() const {
  mq_attr attr{};
  if (mq_getattr(queue_, &attr) < 0) ThrowErrno("mq_getattr(" + name_ + ")");
  return PosixAttributes{attr.mq_maxmsg, attr.mq_msgsize, attr.mq_curmsgs};
}

// ---------------------------------------------------------------- Stage 8

void PosixQueue::Send(std::string_view text, unsigned priority) const {
  int result = RetryOnEintr(
      [&] { return mq_send(queue_, text.data(), text.size(), priority); });
  if (result < 0) ThrowErrno("mq_send(" + name_ + ")");
}

bool PosixQueue::TrySend(std::string_view text, unsigned priority) const {
  // A deadline already in the past: the call never waits for room.
  const timespec past{0, 0};
  int result = RetryOnEintr([&] {
    return mq_timedsend(queue_, text.data(), text.size(), priority, &past);
  });
  if (result == 0) return true;
  if (errno == ETIMEDOUT || errno == EAGAIN) return false;
  ThrowErrno("mq_timedsend(" + name_ + ")");
}

PosixMessage PosixQueue::Receive() const {
  std::vector<char>& buffer = ReceiveBuffer(message_size_);
  unsigned priority = 0;
  // The length passed is the queue's LARGEST message, not the next one's:
  // anything less is EMSGSIZE, however short the waiting message.
  ssize_t length = RetryOnEintr([&] {
    return mq_receive(queue_, buffer.data(), message_size_, &priority);
  });
  if (length < 0) ThrowErrno("mq_receive(" + name_ + ")");
  return PosixMessage{
      priority, std::string(buffer.data(), static_cast<std::size_t>(length))};
}

std::optional<PosixMessage> PosixQueue::ReceiveFor(
    std::chrono::milliseconds timeout) const {
  if (timeout.count() < 0) {
    throw std::invalid_argument("ReceiveFor(" + name_ + "): negative timeout");
  }
  std::vector<char>& buffer = ReceiveBuffer(message_size_);
  // Computed once: after EINTR the retry waits only for what is left.
  const timespec deadline = RealtimeIn(timeout);
  unsigned priority = 0;
  ssize_t length = RetryOnEintr([&] {
    return mq_timedreceive(queue_, buffer.data(), message_size_, &priority,
                           &deadline);
  });
  if (length < 0) {
    if (errno == ETIMEDOUT) return std::nullopt;
    ThrowErrno("mq_timedreceive(" + name_ + ")");
  }
  return PosixMessage{
      priority, std::string(buffer.data(), static_cast<std::size_t>(length))};
}

}  // namespace kata::message_queue
