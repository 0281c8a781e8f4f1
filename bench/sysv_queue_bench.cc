// System V message queues: the message_queue kata's SysvQueue
// (solutions/message_queue) against msgsnd(2) and msgrcv(2).
//
// A round trip uses one queue in both directions, told apart by type: 1
// goes to the peer, 2 comes back (what the kata's request/response server
// does with client ids). A one-way message larger than msgmax (8192 bytes on
// Linux unless raised) cannot be one System V message: 64 KiB travel as
// eight 8 KiB messages, the same way in both versions. The queue holds at
// most msgmnb bytes (16384 by default), two such messages.

#include <sys/ipc.h>
#include <sys/msg.h>

#include <algorithm>
#include <memory>
#include <string>
#include <system_error>

#include "bench/drivers.h"
#include "bench/harness.h"
#include "message_queue/message_queue.h"

namespace bench {
namespace {

// The largest System V message on a default Linux system (msgmax).
constexpr std::size_t kMsgMax = 8192;
constexpr long kToPeer = 1;
constexpr long kToParent = 2;

std::string QueueName(int id) { return "queue " + std::to_string(id); }

[[noreturn]] void ThrowErrno(const std::string& call) {
  throw std::system_error(errno, std::generic_category(), call);
}

// struct msgbuf of msgop(2), with room for the largest message.
struct MessageBuffer {
  long type = 0;
  char text[kMsgMax];
};

// A private queue the parent removes when done (IPC_RMID).
class RawQueue {
 public:
  RawQueue() : id_(msgget(IPC_PRIVATE, IPC_CREAT | 0600)) {
    if (id_ < 0) ThrowErrno("msgget(IPC_PRIVATE)");
  }
  RawQueue(const RawQueue&) = delete;
  RawQueue& operator=(const RawQueue&) = delete;
  ~RawQueue() { msgctl(id_, IPC_RMID, nullptr); }

  void Send(MessageBuffer& message, long type, std::size_t size) const {
    message.type = type;
    if (RetryOnEintr([&] { return msgsnd(id_, &message, size, 0); }) != 0) {
      ThrowErrno("msgsnd(" + QueueName(id_) + ")");
    }
  }
  std::size_t Receive(MessageBuffer& message, long type) const {
    ssize_t n = RetryOnEintr(
        [&] { return msgrcv(id_, &message, sizeof(message.text), type, 0); });
    if (n < 0) ThrowErrno("msgrcv(" + QueueName(id_) + ")");
    return static_cast<std::size_t>(n);
  }

 private:
  int id_;
};

// Fills a message buffer with the benchmark's payload once: a program
// written with raw calls builds its message in place, with no extra copy.
std::unique_ptr<MessageBuffer> FilledBuffer(std::size_t size) {
  auto buffer = std::make_unique<MessageBuffer>();
  const std::string payload = Payload(std::min(size, kMsgMax));
  std::copy(payload.begin(), payload.end(), buffer->text);
  return buffer;
}

class RawSysvRoundTrip {
 public:
  explicit RawSysvRoundTrip(std::size_t size)
      : size_(size), out_(FilledBuffer(size)) {}

  void ParentSetup() {}
  void PeerSetup() {}
  void Ping() {
    queue_.Send(*out_, kToPeer, size_);
    ExpectSize(queue_.Receive(*in_, kToParent), size_, "System V queue");
  }
  void Echo() {
    const std::size_t n = queue_.Receive(*in_, kToPeer);
    queue_.Send(*in_, kToParent, n);
  }

 private:
  std::size_t size_;
  RawQueue queue_;
  std::unique_ptr<MessageBuffer> out_;
  std::unique_ptr<MessageBuffer> in_ = std::make_unique<MessageBuffer>();
};

class KataSysvRoundTrip {
 public:
  explicit KataSysvRoundTrip(std::size_t size)
      : size_(size), payload_(Payload(size)) {}

  void ParentSetup() {}
  void PeerSetup() {}
  void Ping() {
    using kata::message_queue::Exactly;
    queue_.Send(kToPeer, payload_);
    ExpectSize(queue_.Receive(Exactly(kToParent)).text.size(), size_,
               "System V queue");
  }
  void Echo() {
    using kata::message_queue::Exactly;
    kata::message_queue::Message request = queue_.Receive(Exactly(kToPeer));
    queue_.Send(kToParent, request.text);
  }

 private:
  std::size_t size_;
  std::string payload_;
  kata::message_queue::SysvQueue queue_ =
      kata::message_queue::SysvQueue::CreatePrivate();
};

class RawSysvStream {
 public:
  explicit RawSysvStream(std::size_t size)
      : chunk_(std::min(size, kMsgMax)),
        chunks_(size / chunk_),
        out_(FilledBuffer(size)) {}

  void ParentSetup() {}
  void PeerSetup() {}
  void Send() {
    for (std::size_t i = 0; i < chunks_; ++i) queue_.Send(*out_, 1, chunk_);
  }
  void Receive() {
    for (std::size_t i = 0; i < chunks_; ++i) {
      ExpectSize(queue_.Receive(*in_, 0), chunk_, "System V queue");
    }
  }

 private:
  std::size_t chunk_;
  std::size_t chunks_;
  RawQueue queue_;
  std::unique_ptr<MessageBuffer> out_;
  std::unique_ptr<MessageBuffer> in_ = std::make_unique<MessageBuffer>();
};

class KataSysvStream {
 public:
  explicit KataSysvStream(std::size_t size)
      : chunk_(std::min(size, kMsgMax)),
        chunks_(size / chunk_),
        payload_(Payload(size)) {}

  void ParentSetup() {}
  void PeerSetup() {}
  void Send() {
    const std::string_view all(payload_);
    for (std::size_t i = 0; i < chunks_; ++i) {
      queue_.Send(1, all.substr(i * chunk_, chunk_));
    }
  }
  void Receive() {
    for (std::size_t i = 0; i < chunks_; ++i) {
      ExpectSize(queue_.Receive().text.size(), chunk_, "System V queue");
    }
  }

 private:
  std::size_t chunk_;
  std::size_t chunks_;
  std::string payload_;
  kata::message_queue::SysvQueue queue_ =
      kata::message_queue::SysvQueue::CreatePrivate();
};

}  // namespace

void RegisterSysvQueue() {
  for (std::size_t size : {kSmall, kKiB}) {
    AddRoundTrip<KataSysvRoundTrip>("sysv-queue", "kata", size);
    AddRoundTrip<RawSysvRoundTrip>("sysv-queue", "raw", size);
  }
  for (std::size_t size : {k4KiB, k64KiB}) {
    AddOneWay<KataSysvStream>("sysv-queue", "kata", size);
    AddOneWay<RawSysvStream>("sysv-queue", "raw", size);
  }
}

}  // namespace bench
