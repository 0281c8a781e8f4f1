// POSIX message queues: the message_queue kata's PosixQueue
// (solutions/message_queue) against mq_send(3) and mq_receive(3).
//
// A POSIX queue has no types to tell directions apart, so a round trip uses
// two queues. Every queue holds 10 messages (the default msg_max, the most
// an unprivileged process may ask for) of exactly the message size; a
// message cannot exceed msgsize_max (8192 bytes by default), so 64 KiB
// travel as eight 8 KiB messages, the same way in both versions. Each name
// is removed (mq_unlink) as soon as the queue is open: the peer inherits the
// descriptor across fork and needs no name.

#include <fcntl.h>
#include <mqueue.h>

#include <algorithm>
#include <string>
#include <system_error>
#include <vector>

#include "bench/drivers.h"
#include "bench/harness.h"
#include "message_queue/message_queue.h"

namespace bench {
namespace {

constexpr std::size_t kMsgSizeMax = 8192;  // fs.mqueue.msgsize_max
constexpr long kMaxMessages = 10;          // fs.mqueue.msg_max

[[noreturn]] void ThrowErrno(const std::string& call) {
  throw std::system_error(errno, std::generic_category(), call);
}

// An open queue whose name is already gone; closed when destroyed.
class RawQueue {
 public:
  explicit RawQueue(std::size_t message_size)
      : name_(UniqueName("/")), message_size_(message_size) {
    mq_attr attr{};
    attr.mq_maxmsg = kMaxMessages;
    attr.mq_msgsize = static_cast<long>(message_size);
    queue_ = mq_open(name_.c_str(), O_CREAT | O_EXCL | O_RDWR | O_CLOEXEC, 0600,
                     &attr);
    if (queue_ == static_cast<mqd_t>(-1)) ThrowErrno("mq_open(" + name_ + ")");
    mq_unlink(name_.c_str());
  }
  RawQueue(const RawQueue&) = delete;
  RawQueue& operator=(const RawQueue&) = delete;
  ~RawQueue() { mq_close(queue_); }

  void Send(const char* data, std::size_t size) const {
    if (RetryOnEintr([&] { return mq_send(queue_, data, size, 0); }) != 0) {
      ThrowErrno("mq_send(" + name_ + ")");
    }
  }
  // `buffer` must hold message_size bytes.
  std::size_t Receive(char* buffer) const {
    ssize_t n = RetryOnEintr(
        [&] { return mq_receive(queue_, buffer, message_size_, nullptr); });
    if (n < 0) ThrowErrno("mq_receive(" + name_ + ")");
    return static_cast<std::size_t>(n);
  }

 private:
  std::string name_;
  std::size_t message_size_;
  mqd_t queue_;
};

// A kata queue whose name is removed at once (the owner's Unlink).
kata::message_queue::PosixQueue KataQueue(std::size_t message_size) {
  auto queue = kata::message_queue::PosixQueue::Create(
      UniqueName("/"), {kMaxMessages, static_cast<long>(message_size)});
  queue.Unlink();
  return queue;
}

class RawPosixRoundTrip {
 public:
  explicit RawPosixRoundTrip(std::size_t size)
      : size_(size),
        payload_(Payload(size)),
        buffer_(size, '\0'),
        to_peer_(size),
        to_parent_(size) {}

  void ParentSetup() {}
  void PeerSetup() {}
  void Ping() {
    to_peer_.Send(payload_.data(), size_);
    ExpectSize(to_parent_.Receive(buffer_.data()), size_, "POSIX queue");
  }
  void Echo() {
    const std::size_t n = to_peer_.Receive(buffer_.data());
    to_parent_.Send(buffer_.data(), n);
  }

 private:
  std::size_t size_;
  std::string payload_;
  std::string buffer_;
  RawQueue to_peer_;
  RawQueue to_parent_;
};

class KataPosixRoundTrip {
 public:
  explicit KataPosixRoundTrip(std::size_t size)
      : size_(size), payload_(Payload(size)) {}

  void ParentSetup() {}
  void PeerSetup() {}
  void Ping() {
    to_peer_.Send(payload_);
    ExpectSize(to_parent_.Receive().text.size(), size_, "POSIX queue");
  }
  void Echo() { to_parent_.Send(to_peer_.Receive().text); }

 private:
  std::size_t size_;
  std::string payload_;
  kata::message_queue::PosixQueue to_peer_ = KataQueue(size_);
  kata::message_queue::PosixQueue to_parent_ = KataQueue(size_);
};

class RawPosixStream {
 public:
  explicit RawPosixStream(std::size_t size)
      : chunk_(std::min(size, kMsgSizeMax)),
        chunks_(size / chunk_),
        payload_(Payload(size)),
        buffer_(chunk_, '\0'),
        queue_(chunk_) {}

  void ParentSetup() {}
  void PeerSetup() {}
  void Send() {
    for (std::size_t i = 0; i < chunks_; ++i) {
      queue_.Send(payload_.data() + i * chunk_, chunk_);
    }
  }
  void Receive() {
    for (std::size_t i = 0; i < chunks_; ++i) {
      ExpectSize(queue_.Receive(buffer_.data()), chunk_, "POSIX queue");
    }
  }

 private:
  std::size_t chunk_;
  std::size_t chunks_;
  std::string payload_;
  std::string buffer_;
  RawQueue queue_;
};

class KataPosixStream {
 public:
  explicit KataPosixStream(std::size_t size)
      : chunk_(std::min(size, kMsgSizeMax)),
        chunks_(size / chunk_),
        payload_(Payload(size)) {}

  void ParentSetup() {}
  void PeerSetup() {}
  void Send() {
    const std::string_view all(payload_);
    for (std::size_t i = 0; i < chunks_; ++i) {
      queue_.Send(all.substr(i * chunk_, chunk_));
    }
  }
  void Receive() {
    for (std::size_t i = 0; i < chunks_; ++i) {
      ExpectSize(queue_.Receive().text.size(), chunk_, "POSIX queue");
    }
  }

 private:
  std::size_t chunk_;
  std::size_t chunks_;
  std::string payload_;
  kata::message_queue::PosixQueue queue_ = KataQueue(chunk_);
};

}  // namespace

void RegisterPosixQueue() {
  for (std::size_t size : {kSmall, kKiB}) {
    AddRoundTrip<KataPosixRoundTrip>("posix-queue", "kata", size);
    AddRoundTrip<RawPosixRoundTrip>("posix-queue", "raw", size);
  }
  for (std::size_t size : {k4KiB, k64KiB}) {
    AddOneWay<KataPosixStream>("posix-queue", "kata", size);
    AddOneWay<RawPosixStream>("posix-queue", "raw", size);
  }
}

}  // namespace bench
