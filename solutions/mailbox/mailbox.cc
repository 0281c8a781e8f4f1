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
#include <fstream>
#include <stdexcept>
#include <string>
#include <system_error>
#include <utility>

namespace kata::mailbox {
namespace {

constexpr mqd_t kNoQueue = static_cast<mqd_t>(-1);

// A ready token on the wire: one byte (README.md, "On the wire").
constexpr char kToken[] = "r";
constexpr std::size_t kTokenSize = sizeof(kToken) - 1;

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
  const bool reserved = std::string_view(name).ends_with(kReadySuffix);
  if (name.size() < 2 || name.size() > kMaxNameLength || name[0] != '/' ||
      name.find('/', 1) != std::string::npos ||
      name.find('\0') != std::string::npos || reserved) {
    throw std::invalid_argument(
        "mailbox name \"" + name +
        "\": expected '/' and then one or more "
        "characters other than '/', " +
        std::to_string(kMaxNameLength) + " in all at most, not ending in \"" +
        std::string(kReadySuffix) + "\" (see mq_overview(7))");
  }
}

// Refuses `asked` above the system's limit in /proc/sys/fs/mqueue/<file>.
// The kernel refuses it too, but only for unprivileged processes: it lets
// root go past msg_max and msgsize_max. A limit that cannot be read is left
// to the kernel.
void CheckSystemLimit(const std::string& name, const char* what,
                      unsigned long long asked, const std::string& file) {
  std::ifstream in("/proc/sys/fs/mqueue/" + file);
  unsigned long long limit;
  if (in >> limit && asked > limit) {
    throw std::system_error(EINVAL, std::generic_category(),
                            "mq_open(" + name + "): " + what + " " +
                                std::to_string(asked) +
                                " is above /proc/sys/fs/mqueue/" + file + " (" +
                                std::to_string(limit) + ")");
  }
}

// When a wait ends. mq_timedsend and mq_timedreceive take an ABSOLUTE time on
// CLOCK_REALTIME (the system_clock), not a duration: computing it once per
// call also lets an interrupted call resume with the time that is left.
class Deadline {
 public:
  explicit Deadline(Wait wait) : forever_(wait.forever()) {
    if (forever_) return;
    using namespace std::chrono;
    const nanoseconds now = system_clock::now().time_since_epoch();
    // A wait longer than the clock can count ends where the clock does.
    const milliseconds longest = floor<milliseconds>(nanoseconds::max() - now);
    const nanoseconds until = now + std::min(wait.timeout(), longest);
    const seconds whole = floor<seconds>(until);
    when_.tv_sec = static_cast<time_t>(whole.count());
    when_.tv_nsec = static_cast<long>((until - whole).count());
  }
  // nullptr for Wait::Forever(): use the untimed call.
  const timespec* get() const { return forever_ ? nullptr : &when_; }

 private:
  bool forever_;
  timespec when_{};
};

// Puts one message on `queue` (priority 0, so the queue stays FIFO); false if
// the deadline passed first.
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

// Takes the message at the head of `queue`, and its priority if asked;
// std::nullopt if the deadline passed first. `size` must be at least the
// queue's mq_msgsize, however short the message: the kernel refuses smaller
// buffers with EMSGSIZE.
std::optional<std::string> Take(mqd_t queue, const std::string& name,
                                std::size_t size, const Deadline& deadline,
                                unsigned* priority = nullptr) {
  std::string buffer(size, '\0');
  const timespec* until = deadline.get();
  ssize_t length = RetryOnEintr([&] {
    return until ? mq_timedreceive(queue, buffer.data(), size, priority, until)
                 : mq_receive(queue, buffer.data(), size, priority);
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

// Sends `text` for the receiver whose ready token the sender took. If that
// fails or times out, the receiver is still waiting: the token goes back to
// it, and the failure is passed on.
bool HandOver(mqd_t queue, const std::string& name, mqd_t ready,
              const std::string& ready_name, std::string_view text,
              const Deadline& deadline) {
  try {
    if (Put(queue, name, text, deadline)) return true;
  } catch (const std::system_error&) {
    Put(ready, ready_name, kToken, Deadline(Wait::No()));
    throw;
  }
  // The one slot stayed taken by an earlier message.
  Put(ready, ready_name, kToken, Deadline(Wait::No()));
  return false;
}

// Takes one ready token without waiting; false if there is none.
bool TakeToken(mqd_t ready, const std::string& ready_name) {
  return Take(ready, ready_name, kTokenSize, Deadline(Wait::No())).has_value();
}

// A receiver of a rendezvous whose wait ran out. If its ready token is still
// there, nobody committed to it: take the token back and leave, so that no
// sender hands a message to a receiver that has gone. If the token is gone,
// a sender has taken it and its message is on the way: wait kHandoverGrace
// for it. A sender that could not send puts the token back instead; take it
// then too.
std::optional<std::string> Withdraw(mqd_t ready, const std::string& ready_name,
                                    mqd_t queue, const std::string& name,
                                    std::size_t size, unsigned* priority) {
  if (TakeToken(ready, ready_name)) return std::nullopt;
  std::optional<std::string> message =
      Take(queue, name, size, Deadline(Wait::For(kHandoverGrace)), priority);
  if (!message) TakeToken(ready, ready_name);
  return message;
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
  CheckSystemLimit(name, "capacity",
                   static_cast<unsigned long long>(buffering.capacity),
                   "msg_max");
  CheckSystemLimit(name, "max_message", buffering.max_message, "msgsize_max");
  Mailbox box;
  box.name_ = std::move(name);
  box.capacity_ = buffering.capacity;
  box.max_message_ = buffering.max_message;
  const bool rendezvous = buffering.capacity == 0;
  // The kernel refuses mq_maxmsg 0 (EINVAL): a rendezvous keeps at most one
  // message in flight, and only once a receiver is waiting for it.
  box.queue_ = CreateQueue(box.name_, rendezvous ? 1 : buffering.capacity,
                           buffering.max_message);
  box.owner_ = getpid();  // from here on, ~Mailbox removes what we made
  if (rendezvous) {
    box.ready_ = CreateQueue(box.name_ + std::string(kReadySuffix),
                             kReadyTokens, kTokenSize);
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
      owner_(std::exchange(other.owner_, std::nullopt)) {}

Mailbox& Mailbox::operator=(Mailbox&& other) noexcept {
  if (this != &other) {
    Release();
    name_ = std::move(other.name_);
    queue_ = std::exchange(other.queue_, kNoQueue);
    ready_ = std::exchange(other.ready_, kNoQueue);
    capacity_ = other.capacity_;
    max_message_ = other.max_message_;
    owner_ = std::exchange(other.owner_, std::nullopt);
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
  if (!Take(ready_, ready_name, kTokenSize, deadline)) {
    return SendResult::kTimedOut;  // no receiver came
  }
  return HandOver(queue_, name_, ready_, ready_name, text, deadline)
             ? SendResult::kSent
             : SendResult::kTimedOut;
}

std::optional<std::string> Mailbox::Receive(Wait wait, unsigned* priority) {
  const Deadline deadline(wait);
  if (ready_ == kNoQueue) {
    return Take(queue_, name_, max_message_, deadline, priority);
  }
  // ---- Stage 8: tell senders a receiver is here, then wait for the message.
  const std::string ready_name = name_ + std::string(kReadySuffix);
  if (!Put(ready_, ready_name, kToken, deadline)) return std::nullopt;
  std::optional<std::string> message;
  try {
    message = Take(queue_, name_, max_message_, deadline, priority);
  } catch (const std::system_error&) {
    // Leave no promise behind: a later sender must not count on us.
    TakeToken(ready_, ready_name);
    throw;
  }
  if (message) return message;
  return Withdraw(ready_, ready_name, queue_, name_, max_message_, priority);
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
  owner_.reset();
  // Both names go, even if the first one is gone already; the first failure
  // is reported.
  int error = mq_unlink(name_.c_str()) == 0 ? 0 : errno;
  std::string failed = name_;
  if (ready_ != kNoQueue) {
    const std::string ready_name = name_ + std::string(kReadySuffix);
    if (mq_unlink(ready_name.c_str()) != 0 && error == 0) {
      error = errno;
      failed = ready_name;
    }
  }
  if (error != 0) ThrowErrno("mq_unlink(" + failed + ")", error);
}

bool Mailbox::is_owner() const {
  // A forked child inherits a copy of this object, owner_ included; only the
  // process that created the mailbox owns it.
  return owner_ == getpid();
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
  owner_.reset();
}

}  // namespace kata::mailbox
