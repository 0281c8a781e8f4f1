// Reference solution of the mailbox kata, part 1: mailboxes (indirect
// communication) on POSIX message queues. See mailbox.h for each contract and
// exercises/mailbox/README.md for the stages.

#include "mailbox/mailbox.h"

#include <fcntl.h>
#include <mqueue.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <climits>
#include <cstdio>
#include <stdexcept>
#include <string>
#include <system_error>
#include <utility>

namespace kata::mailbox {
namespace {

constexpr mqd_t kNoQueue = static_cast<mqd_t>(-1);

// How many receivers may wait on one rendezvous mailbox at the same time: the
// capacity of its ready queue (at most msg_max, 10 for unprivileged users).
constexpr long kReadyTokens = 10;
constexpr char kToken[] = "r";

[[noreturn]] void ThrowErrno(const std::string& what, int error = errno) {
  throw std::system_error(error, std::generic_category(), what);
}

// Calls `call` again while it fails with EINTR: a signal handler ran while we
// were blocked, nothing went wrong. Every mq_* call goes through here.
template <typename Call>
auto RetryOnEintr(Call call) {
  for (;;) {
    auto result = call();
    if (result != -1 || errno != EINTR) return result;
  }
}

void CheckName(const std::string& name) {
  const bool reserved = name.size() >= kReadySuffix.size() &&
                        name.compare(name.size() - kReadySuffix.size(),
                                     kReadySuffix.size(), kReadySuffix) == 0;
  if (name.size() < 2 || name.size() > kMaxNameLength || name[0] != '/' ||
      name.find('/', 1) != std::string::npos ||
      name.find('\0') != std::string::npos || reserved) {
    throw std::invalid_argument(
        "mailbox name \"" + name + "\": expected '/' followed by 1 to " +
        std::to_string(kMaxNameLength - 1) +
        " characters other than '/', not ending in \"" +
        std::string(kReadySuffix) + "\" (see mq_overview(7))");
  }
}

// When a wait ends. mq_timedsend and mq_timedreceive take an ABSOLUTE time on
// CLOCK_REALTIME, not a duration: computing it once per call also lets an
// interrupted call resume with the time that is left.
class Deadline {
 public:
  explicit Deadline(Wait wait) : forever_(wait.forever()) {
    if (forever_) return;
    clock_gettime(CLOCK_REALTIME, &when_);
    const long long nanos =
        std::chrono::nanoseconds(wait.timeout()).count() + when_.tv_nsec;
    when_.tv_sec += static_cast<time_t>(nanos / 1'000'000'000);
    when_.tv_nsec = static_cast<long>(nanos % 1'000'000'000);
  }
  // nullptr for Wait::Forever(): use the untimed call.
  const timespec* get() const { return forever_ ? nullptr : &when_; }

 private:
  bool forever_;
  timespec when_{};
};

// Puts one message on `queue`; false if the deadline passed first.
bool Put(mqd_t queue, const std::string& name, std::string_view data,
         const Deadline& deadline) {
  const timespec* until = deadline.get();
  int result = RetryOnEintr([&] {
    return until ? mq_timedsend(queue, data.data(), data.size(), 0, until)
                 : mq_send(queue, data.data(), data.size(), 0);
  });
  if (result == 0) return true;
  if (errno == ETIMEDOUT || errno == EAGAIN) return false;
  ThrowErrno((until ? "mq_timedsend(" : "mq_send(") + name + ")");
}

// Takes the oldest message off `queue`; std::nullopt if the deadline passed
// first. `size` must be at least the queue's mq_msgsize, however short the
// message: the kernel refuses smaller buffers with EMSGSIZE.
std::optional<std::string> Take(mqd_t queue, const std::string& name,
                                std::size_t size, const Deadline& deadline) {
  std::string buffer(size, '\0');
  const timespec* until = deadline.get();
  ssize_t length = RetryOnEintr([&] {
    return until ? mq_timedreceive(queue, buffer.data(), size, nullptr, until)
                 : mq_receive(queue, buffer.data(), size, nullptr);
  });
  if (length >= 0) {
    buffer.resize(static_cast<std::size_t>(length));
    return buffer;
  }
  if (errno == ETIMEDOUT || errno == EAGAIN) return std::nullopt;
  ThrowErrno((until ? "mq_timedreceive(" : "mq_receive(") + name + ")");
}

mqd_t CreateQueue(const std::string& name, long capacity, std::size_t size) {
  mq_attr attr{};
  attr.mq_maxmsg = capacity;
  attr.mq_msgsize = static_cast<long>(std::min<std::size_t>(size, LONG_MAX));
  // O_EXCL: a mailbox is created once, by its owner; a name already taken is
  // someone else's mailbox, not ours to reuse.
  mqd_t queue = mq_open(name.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC,
                        S_IRUSR | S_IWUSR, &attr);
  if (queue == kNoQueue) ThrowErrno("mq_open(" + name + ")");
  return queue;
}

// Opens an existing queue; kNoQueue if there is none and `must_exist` is
// false. Never O_CREAT: opening a mailbox that was deleted must fail, not
// quietly make a new one that nobody owns.
mqd_t OpenQueue(const std::string& name, bool must_exist) {
  mqd_t queue = mq_open(name.c_str(), O_RDWR | O_CLOEXEC);
  if (queue == kNoQueue && (must_exist || errno != ENOENT)) {
    ThrowErrno("mq_open(" + name + ")");
  }
  return queue;
}

// A receiver of a rendezvous gave up waiting. Take its ready token back, so
// that no sender hands a message to a receiver that has left. If no token is
// left, a sender has taken it and its message is on the way: that message is
// this receiver's (waiting for it is bounded by the sender's next call).
std::optional<std::string> Withdraw(mqd_t ready, const std::string& ready_name,
                                    mqd_t queue, const std::string& name,
                                    std::size_t size) {
  using std::chrono::milliseconds;
  for (int attempt = 0; attempt < 200; ++attempt) {
    if (Take(ready, ready_name, 1, Deadline(Wait::No()))) return std::nullopt;
    if (std::optional<std::string> message =
            Take(queue, name, size, Deadline(Wait::For(milliseconds(10))))) {
      return message;
    }
  }
  return std::nullopt;  // the sender died between taking the token and sending
}

}  // namespace

// ---------------------------------------------------------------- Stage 1

Mailbox Mailbox::Create(std::string name, Buffering buffering) {
  CheckName(name);
  if (buffering.capacity < 0) {
    throw std::invalid_argument("Mailbox::Create(" + name + "): capacity " +
                                std::to_string(buffering.capacity) +
                                " is negative");
  }
  if (buffering.max_message == 0) {
    throw std::invalid_argument("Mailbox::Create(" + name +
                                "): max_message must be at least 1 byte");
  }
  Mailbox box;
  box.name_ = std::move(name);
  box.capacity_ = buffering.capacity;
  box.max_message_ = buffering.max_message;
  const bool rendezvous = buffering.capacity == 0;
  // The kernel refuses mq_maxmsg 0 (EINVAL): a rendezvous keeps at most one
  // message in flight, and only once a receiver is waiting for it.
  box.queue_ = CreateQueue(box.name_, rendezvous ? 1 : buffering.capacity,
                           buffering.max_message);
  box.owner_pid_ = getpid();  // from here on, ~Mailbox removes what we made
  if (rendezvous) {
    box.ready_ = CreateQueue(box.name_ + std::string(kReadySuffix),
                             kReadyTokens, sizeof(kToken) - 1);
  }
  return box;
}

Mailbox Mailbox::Open(std::string name) {
  CheckName(name);
  Mailbox box;
  box.name_ = std::move(name);
  box.queue_ = OpenQueue(box.name_, /*must_exist=*/true);
  // Sizes come from the queue, not from a guess: a receive buffer smaller
  // than the queue's mq_msgsize fails with EMSGSIZE.
  mq_attr attr{};
  if (mq_getattr(box.queue_, &attr) != 0) {
    ThrowErrno("mq_getattr(" + box.name_ + ")");
  }
  box.capacity_ = static_cast<int>(attr.mq_maxmsg);
  box.max_message_ = static_cast<std::size_t>(attr.mq_msgsize);
  box.ready_ = OpenQueue(box.name_ + std::string(kReadySuffix),
                         /*must_exist=*/false);
  if (box.ready_ != kNoQueue) box.capacity_ = 0;
  return box;
}

Mailbox::Mailbox(Mailbox&& other) noexcept
    : name_(std::move(other.name_)),
      queue_(std::exchange(other.queue_, kNoQueue)),
      ready_(std::exchange(other.ready_, kNoQueue)),
      capacity_(other.capacity_),
      max_message_(other.max_message_),
      owner_pid_(std::exchange(other.owner_pid_, 0)) {}

Mailbox& Mailbox::operator=(Mailbox&& other) noexcept {
  if (this != &other) {
    Release();
    name_ = std::move(other.name_);
    queue_ = std::exchange(other.queue_, kNoQueue);
    ready_ = std::exchange(other.ready_, kNoQueue);
    capacity_ = other.capacity_;
    max_message_ = other.max_message_;
    owner_pid_ = std::exchange(other.owner_pid_, 0);
  }
  return *this;
}

Mailbox::~Mailbox() { Release(); }

SendResult Mailbox::Send(std::string_view text, Wait wait) {
  if (text.size() > max_message_) {
    throw std::length_error("Mailbox::Send(" + name_ +
                            "): " + std::to_string(text.size()) +
                            " bytes is more than the mailbox's max_message (" +
                            std::to_string(max_message_) + ")");
  }
  const Deadline deadline(wait);
  if (ready_ == kNoQueue) {
    return Put(queue_, name_, text, deadline) ? SendResult::kSent
                                              : SendResult::kTimedOut;
  }
  // ---- Stage 8: a rendezvous. Wait for a receiver's token, then hand over.
  const std::string ready_name = name_ + std::string(kReadySuffix);
  if (!Take(ready_, ready_name, sizeof(kToken) - 1, deadline)) {
    return SendResult::kTimedOut;  // no receiver came
  }
  if (Put(queue_, name_, text, deadline)) return SendResult::kSent;
  // The one slot stayed taken by an earlier message: give the token back for
  // the receiver it stands for, who is still waiting.
  Put(ready_, ready_name, kToken, Deadline(Wait::No()));
  return SendResult::kTimedOut;
}

std::optional<std::string> Mailbox::Receive(Wait wait) {
  const Deadline deadline(wait);
  if (ready_ == kNoQueue) return Take(queue_, name_, max_message_, deadline);
  // ---- Stage 8: tell senders a receiver is here, then wait for the message.
  const std::string ready_name = name_ + std::string(kReadySuffix);
  if (!Put(ready_, ready_name, kToken, deadline)) return std::nullopt;
  if (std::optional<std::string> message =
          Take(queue_, name_, max_message_, deadline)) {
    return message;
  }
  return Withdraw(ready_, ready_name, queue_, name_, max_message_);
}

// ---------------------------------------------------------------- Stage 5

void Mailbox::Delete() {
  if (!is_owner()) {
    throw std::system_error(EPERM, std::generic_category(),
                            "Mailbox::Delete(" + name_ +
                                "): only the process that created a mailbox "
                                "may delete it");
  }
  // Owning nothing from now on: if someone creates a new mailbox under this
  // name, our destructor must not remove theirs.
  owner_pid_ = 0;
  int error = 0;
  if (mq_unlink(name_.c_str()) != 0) error = errno;
  if (ready_ != kNoQueue &&
      mq_unlink((name_ + std::string(kReadySuffix)).c_str()) != 0 &&
      error == 0) {
    error = errno;
  }
  if (error != 0) ThrowErrno("mq_unlink(" + name_ + ")", error);
}

bool Mailbox::is_owner() const {
  // A forked child inherits a copy of this object, owner_pid_ included; only
  // the process that created the mailbox owns it.
  return owner_pid_ != 0 && owner_pid_ == getpid();
}

void Mailbox::Release() noexcept {
  if (is_owner()) {
    mq_unlink(name_.c_str());
    if (ready_ != kNoQueue) {
      // No std::string here: a destructor must not throw, not even bad_alloc.
      char ready_name[kMaxNameLength + 16];
      std::snprintf(ready_name, sizeof(ready_name), "%s%s", name_.c_str(),
                    kReadySuffix.data());
      mq_unlink(ready_name);
    }
  }
  if (queue_ != kNoQueue) mq_close(queue_);
  if (ready_ != kNoQueue) mq_close(ready_);
  queue_ = kNoQueue;
  ready_ = kNoQueue;
  owner_pid_ = 0;
}

}  // namespace kata::mailbox
