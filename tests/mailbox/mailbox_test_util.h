// File: tests/mailbox/mailbox_test_util.h
// -----------------------------------------------------------------------------
//
// What the mailbox kata's test files share: the hint lines that name each
// classic mistake, and the tests' own raw view of POSIX message queues
// (RawQueue, Framed, Post), which never goes through the code under test.

#ifndef IPC_KATAS_TESTS_MAILBOX_MAILBOX_TEST_UTIL_H_
#define IPC_KATAS_TESTS_MAILBOX_MAILBOX_TEST_UTIL_H_

#include <fcntl.h>
#include <mqueue.h>
#include <poll.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <functional>
#include <optional>
#include <ostream>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include "gtest/gtest.h"
#include "mailbox/inbox.h"
#include "mailbox/mailbox.h"
#include "tests/support/kata.h"

namespace kata::mailbox {
// Lets GoogleTest print a SendResult by name.
inline void PrintTo(SendResult result, std::ostream* out) {
  *out << (result == SendResult::kSent ? "kSent" : "kTimedOut");
}
}  // namespace kata::mailbox

namespace mailbox_test {

using kata::Hint;
using kata::mailbox::Inbox;
using kata::mailbox::Letter;

// ------------------------------------------------------------------- hints
// One line per classic mistake. The mutants in tests/mailbox/mutants/ name
// these words in their "# Hint:" header.

inline constexpr char kCapacityIsMaxmsg[] =
    "the capacity is the queue's mq_maxmsg: pass mq_open an mq_attr with "
    "mq_maxmsg = capacity and mq_msgsize = max_message";
inline constexpr char kBufferFromGetattr[] =
    "size the receive buffer from the queue's mq_msgsize (mq_getattr): a "
    "smaller buffer fails with EMSGSIZE, however short the message";
inline constexpr char kNonBlockingReceive[] =
    "a non-blocking receive returns nothing at once when the mailbox is "
    "empty: it must never wait";
inline constexpr char kNonBlockingSend[] =
    "a non-blocking send to a full mailbox returns kTimedOut at once: it must "
    "never wait";
inline constexpr char kAbsoluteDeadline[] =
    "mq_timedsend and mq_timedreceive take an absolute CLOCK_REALTIME time, "
    "not a duration: add the timeout to clock_gettime(CLOCK_REALTIME)";
inline constexpr char kRetryEintr[] =
    "EINTR only means a signal handler ran while the call waited: call it "
    "again, with the same deadline";
inline constexpr char kExactlyOnce[] =
    "each message goes to exactly one receiver: receiving takes it out of the "
    "mailbox for good (a mailbox is a queue, not a bulletin board)";
inline constexpr char kNoneLost[] =
    "every message sent must reach some receiver: none may be dropped";
inline constexpr char kOwnerRemovesName[] =
    "the owner's handle removes the mailbox's name (mq_unlink) when it is "
    "destroyed";
inline constexpr char kOnlyOwnerDeletes[] =
    "only the owner removes a mailbox: a user's handle (from Open) closes its "
    "descriptor and nothing more";
inline constexpr char kForkedCopyIsNotOwner[] =
    "a forked child's copy of the owner's handle is not the owner: compare "
    "the creator's pid with getpid() before removing anything";
inline constexpr char kOpenNeverCreates[] =
    "Open must never create a mailbox (no O_CREAT): once the owner deleted "
    "it, a sender must learn that it is gone";
inline constexpr char kDeleteEndsOwnership[] =
    "after Delete the handle owns nothing: its destructor must not remove a "
    "new mailbox that took the same name";
inline constexpr char kSenderIdentity[] =
    "stamp the sender's own name on every letter, so that ReceiveAny can "
    "report who sent it";
inline constexpr char kOneLinkPerPair[] =
    "exactly one link per pair: open a peer's inbox on the first letter and "
    "keep it open for all later ones";
inline constexpr char kSetAsideNotDropped[] =
    "a letter from another sender is not what Receive(from) waits for, but it "
    "is not yours to drop: set it aside for later";
inline constexpr char kSetAsideFirst[] =
    "letters set aside by Receive(from) are older than anything still queued: "
    "hand them out first, oldest first";
inline constexpr char kRendezvousSendWaits[] =
    "a zero-capacity send waits for a receiver: take a ready token first, and "
    "only then send the message";
inline constexpr char kRetractToken[] =
    "a receiver that gives up must take its ready token back, or a later "
    "sender hands its message to nobody";
inline constexpr char kPriorities[] =
    "a POSIX queue hands out the highest priority first and is FIFO only "
    "within one priority: send with priority 0, and pass mq_receive's "
    "priority pointer through to the caller";
inline constexpr char kWaitForCommittedSender[] =
    "if your ready token is gone when your wait runs out, a sender took it "
    "and its message is on the way: wait up to kHandoverGrace for it";
inline constexpr char kGraceIsBounded[] =
    "wait for a sender that took your token kHandoverGrace at most (it may "
    "have died, or put the token back), then take back any token there is";

// ------------------------------------------------------------- raw helpers
// The tests' own view of POSIX message queues, through raw mq_* calls.

inline constexpr mqd_t kNoQueue = static_cast<mqd_t>(-1);

// An absolute CLOCK_REALTIME time `after` from now, as mq_timed* want it.
inline timespec RealtimeIn(std::chrono::milliseconds after) {
  timespec when{};
  clock_gettime(CLOCK_REALTIME, &when);
  long long nanos = when.tv_nsec + after.count() * 1'000'000LL;
  when.tv_sec += static_cast<time_t>(nanos / 1'000'000'000);
  when.tv_nsec = static_cast<long>(nanos % 1'000'000'000);
  return when;
}

// Whether a POSIX queue called `name` exists.
inline bool QueueExists(const std::string& name) {
  mqd_t queue = mq_open(name.c_str(), O_RDONLY | O_CLOEXEC);
  if (queue == kNoQueue) return false;
  mq_close(queue);
  return true;
}

// The kernel's attributes of the queue `name`; all -1 if there is none.
inline mq_attr QueueAttr(const std::string& name) {
  mq_attr attr{};
  attr.mq_maxmsg = attr.mq_msgsize = attr.mq_curmsgs = -1;
  mqd_t queue = mq_open(name.c_str(), O_RDONLY | O_CLOEXEC);
  if (queue == kNoQueue) return attr;
  mq_getattr(queue, &attr);
  mq_close(queue);
  return attr;
}

// How many messages the queue `name` holds right now.
inline long Depth(const std::string& name) {
  return QueueAttr(name).mq_curmsgs;
}

// One open POSIX queue of the test's own, closed (and, if the test created
// it, removed) when the object goes away.
class RawQueue {
 public:
  // Opens the existing queue `name`.
  explicit RawQueue(std::string name) : name_(std::move(name)) {
    queue_ = mq_open(name_.c_str(), O_RDWR | O_CLOEXEC);
    if (queue_ == kNoQueue) {
      throw std::system_error(errno, std::generic_category(),
                              "test: mq_open(" + name_ + ")");
    }
  }
  // Creates a new queue, removed again when the object goes away: it stands
  // for a peer the test plays itself.
  static RawQueue Create(std::string name, long capacity, long size) {
    mq_attr attr{};
    attr.mq_maxmsg = capacity;
    attr.mq_msgsize = size;
    mqd_t queue = mq_open(name.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC,
                          0600, &attr);
    if (queue == kNoQueue) {
      throw std::system_error(errno, std::generic_category(),
                              "test: mq_open(O_CREAT, " + name + ")");
    }
    return RawQueue(std::move(name), queue);
  }
  RawQueue(RawQueue&& other) noexcept
      : name_(std::move(other.name_)),
        queue_(std::exchange(other.queue_, kNoQueue)),
        created_(std::exchange(other.created_, false)) {}
  RawQueue& operator=(RawQueue&&) = delete;
  ~RawQueue() {
    if (queue_ != kNoQueue) mq_close(queue_);
    if (created_) mq_unlink(name_.c_str());
  }

  const std::string& name() const { return name_; }
  mqd_t get() const { return queue_; }

  // Sends one message with `priority`, waiting at most 2 s for room; false
  // if it could not.
  bool Send(std::string_view text, unsigned priority = 0) {
    timespec until = RealtimeIn(std::chrono::milliseconds(2000));
    int result;
    do {
      result = mq_timedsend(queue_, text.data(), text.size(), priority, &until);
    } while (result != 0 && errno == EINTR);
    return result == 0;
  }

  // Takes one message, waiting at most `within`, and its priority if asked;
  // std::nullopt if none came.
  std::optional<std::string> Receive(
      std::chrono::milliseconds within = std::chrono::milliseconds(2000),
      unsigned* priority = nullptr) {
    mq_attr attr{};
    mq_getattr(queue_, &attr);
    std::string buffer(static_cast<std::size_t>(attr.mq_msgsize), '\0');
    timespec until = RealtimeIn(within);
    ssize_t length;
    do {
      length = mq_timedreceive(queue_, buffer.data(), buffer.size(), priority,
                               &until);
    } while (length < 0 && errno == EINTR);
    if (length < 0) return std::nullopt;
    buffer.resize(static_cast<std::size_t>(length));
    return buffer;
  }

 private:
  RawQueue(std::string name, mqd_t queue)
      : name_(std::move(name)), queue_(queue), created_(true) {}
  std::string name_;
  mqd_t queue_ = kNoQueue;
  bool created_ = false;
};

// A letter as inbox.h puts it on the wire: the length of the sender's name in
// one byte, the name, then the text.
inline std::string Framed(std::string_view from, std::string_view text) {
  std::string letter(1, static_cast<char>(from.size()));
  letter.append(from);
  letter.append(text);
  return letter;
}

// Drops letters into the inbox `to` from a forked child, raw and in order, as
// if each came from the sender it names; returns once all are queued.
inline void Post(const std::string& to,
                 std::vector<std::pair<std::string, std::string>> letters) {
  kata::RunInChild([&] {
    RawQueue inbox(to);
    for (const auto& [from, text] : letters) {
      ASSERT_TRUE(inbox.Send(Framed(from, text))) << "test: could not post";
    }
  });
}

// "text" for a received message, "(nothing)" for none: failures then read
// "expected X, got (nothing)".
inline std::string Show(const std::optional<std::string>& message) {
  return message ? *message : "(nothing)";
}
inline std::string Show(const std::optional<Letter>& letter) {
  return letter ? letter->from + ": " + letter->text : "(nothing)";
}

// A one-way signal between two processes, through a pipe of the test's own.
// Await() gives up after a few seconds, so a peer that died before
// signalling fails the test instead of hanging it.
class Gate {
 public:
  Gate() {
    if (pipe2(fds_, O_CLOEXEC) != 0) {
      throw std::system_error(errno, std::generic_category(), "test: pipe2");
    }
  }
  Gate(const Gate&) = delete;
  Gate& operator=(const Gate&) = delete;
  ~Gate() {
    close(fds_[0]);
    close(fds_[1]);
  }
  void Notify() {
    while (write(fds_[1], "!", 1) < 0 && errno == EINTR) {
    }
  }
  bool Await() {
    pollfd entry{fds_[0], POLLIN, 0};
    int ready;
    do {
      ready = poll(&entry, 1, 5000);
    } while (ready < 0 && errno == EINTR);
    char byte;
    return ready == 1 && read(fds_[0], &byte, 1) == 1;
  }

 private:
  int fds_[2];
};

// Starts a process that creates its own inbox called `name`, signals
// `ready`, then runs `body` with the inbox; the inbox goes away with the
// body, as a process's inbox goes away with the process.
inline kata::Child StartPeer(const std::string& name, Gate& ready,
                             std::function<void(Inbox&)> body) {
  return kata::Child([name, &ready, body] {
    Inbox inbox = Inbox::Create(name);
    ready.Notify();
    body(inbox);
  });
}

// Runs `call`, expecting std::system_error with `error` whose what() names
// `call_name`.
template <typename Call>
void ExpectSystemError(Call call, std::errc error, const std::string& call_name,
                       const std::string& hint) {
  try {
    call();
    ADD_FAILURE() << "expected std::system_error ("
                  << std::make_error_code(error).message()
                  << "), but nothing was thrown" << hint;
  } catch (const std::system_error& e) {
    EXPECT_EQ(e.code(), std::make_error_code(error))
        << "std::system_error carries the wrong error: " << e.what() << hint;
    EXPECT_NE(std::string(e.what()).find(call_name), std::string::npos)
        << "the message should name " << call_name << ", it says: " << e.what()
        << Hint(
               "std::system_error(errno, std::generic_category(), "
               "\"mq_open(\" + name + \")\")");
  }
}

inline std::chrono::milliseconds ElapsedSince(
    std::chrono::steady_clock::time_point start) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
      std::chrono::steady_clock::now() - start);
}

}  // namespace mailbox_test

#endif  // IPC_KATAS_TESTS_MAILBOX_MAILBOX_TEST_UTIL_H_
