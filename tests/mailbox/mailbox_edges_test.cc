// Tests of the mailbox kata at the edges of its contract. Each class of
// mistake is applied to every public function it fits (DESIGN 6a):
//
//   mechanism   each call moves its data through the POSIX queue itself;
//   signals     a call leaves the caller's signal state alone, and lets the
//               caller's handlers run while it waits;
//   EINTR       every blocking call site retries an interrupted call;
//   limits      every limit at limit - 1, limit and limit + 1;
//   deadlines   a timed call ends on time under a signal storm, across a
//               second boundary, amid letters it does not want, and not early;
//   failures    each system call failing in turn gives the documented error
//               and leaves nothing behind;
//   busy wait   a blocked call sleeps in the kernel;
//   parameters  modes, close-on-exec, sizes of queues made elsewhere, move
//               assignment and self-move;
//   holders     deleting works while a forked child holds a copy.
//
// The suites are the stages of mailbox_test.cc, so that a stage still means
// "these functions are done". This file is built into the same test binaries
// as mailbox_test.cc.

#include <fcntl.h>
#include <mqueue.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <fstream>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

#include "gtest/gtest.h"
#include "mailbox/inbox.h"
#include "mailbox/mailbox.h"
#include "tests/mailbox/mailbox_test_util.h"
#include "tests/support/kata.h"

namespace {

using namespace std::chrono_literals;
using kata::Hint;
using kata::mailbox::Buffering;
using kata::mailbox::Inbox;
using kata::mailbox::kMaxNameLength;
using kata::mailbox::kReadySuffix;
using kata::mailbox::Letter;
using kata::mailbox::Mailbox;
using kata::mailbox::SendResult;
using kata::mailbox::Wait;
using namespace mailbox_test;  // NOLINT: the kata tests' own helpers

// ------------------------------------------------------------------- hints

constexpr char kNameLimits[] =
    "a mailbox name is '/' and then 1 to kMaxNameLength - 1 characters: "
    "\"/x\" and a name of exactly kMaxNameLength characters are fine, one "
    "more is std::invalid_argument";
constexpr char kSystemLimits[] =
    "a capacity above /proc/sys/fs/mqueue/msg_max or a max_message above "
    "msgsize_max is refused (std::system_error, EINVAL, naming mq_open), for "
    "root too, who the kernel would let through: read the limit and compare, "
    "never clamp";
constexpr char kOwnerOnlyMode[] =
    "create every queue with mode 0600 (S_IRUSR | S_IWUSR): its owner's user "
    "may read and write it, nobody else";
constexpr char kCloseOnExec[] =
    "open every queue with O_CLOEXEC, so that a program the process starts "
    "with exec does not inherit it";
constexpr char kReportFailures[] =
    "a failed mq_* call is a std::system_error carrying its errno and naming "
    "that call and the mailbox; an error other than a timeout is never "
    "kTimedOut or an empty result";
constexpr char kNoBusyWaiting[] =
    "let the kernel do the waiting: block in mq_receive / mq_timedreceive "
    "(or the send), instead of trying with Wait::No() in a loop";
constexpr char kSignalsReachTheCaller[] =
    "never block or ignore signals around a wait: retry EINTR instead, so "
    "that the caller's handlers run while the call waits";
constexpr char kOneDeadline[] =
    "compute the absolute deadline once, at the start of the call, and keep "
    "it across EINTR: a wait restarted after every signal never ends while "
    "signals keep coming";
constexpr char kCarry[] =
    "normalise the deadline: carry whole seconds from tv_nsec into tv_sec, or "
    "mq_timedsend / mq_timedreceive fail with EINVAL near a second boundary";
constexpr char kNoOverflow[] =
    "a wait longer than the clock can count (Wait::For(milliseconds::max())) "
    "must not overflow: cap it where the clock ends";
constexpr char kMoveReleases[] =
    "move assignment first releases what the handle held (an owner's mailbox "
    "is removed), then takes over the other's descriptors and ownership; "
    "moving a handle into itself changes nothing";
constexpr char kTimeLeftEachTime[] =
    "one deadline covers the whole Receive(from): work out the time left "
    "before each receive, so that letters from others do not restart it";
constexpr char kTokenGoesBack[] =
    "a sender that took a ready token and then cannot hand its message over "
    "puts the token back: the receiver it stands for is still waiting";
constexpr char kReceiverTakesTokenBack[] =
    "a receiver that leaves, after a timeout or an error, takes its ready "
    "token back, or a later sender hands its message to nobody";
constexpr char kLetterFormat[] =
    "a letter is one unsigned byte n (static_cast<unsigned char>), n bytes "
    "of sender name, then the text; a message too short for its own name is "
    "malformed: std::runtime_error";

// ----------------------------------------------------------------- helpers

// A limit of the system's POSIX queues, read from /proc/sys/fs/mqueue.
long MqueueLimit(const std::string& file) {
  std::ifstream in("/proc/sys/fs/mqueue/" + file);
  long value = 0;
  in >> value;
  return value;
}

// A name of exactly `length` characters, "/" included, unique to this run.
std::string NameOfLength(std::size_t length) {
  std::string name = kata::UniqueName("n");
  name.resize(length, 'n');
  return name;
}

// Expects `call`, run with `fault` injected, to report it as mailbox.h says:
// a std::system_error carrying the injected errno, whose what() names the
// very call that failed and the queue it failed on ("mq_timedsend(/box").
void ExpectReported(const kata::FaultCase& fault,
                    const std::function<void()>& call, const std::string& queue,
                    std::string_view hint = kReportFailures) {
  try {
    call();
    ADD_FAILURE() << fault.ToString()
                  << " went unreported: the call returned as if all was well"
                  << Hint(hint);
  } catch (const std::system_error& e) {
    EXPECT_EQ(e.code().value(), fault.error)
        << "after " << fault.ToString() << ", std::system_error carried "
        << e.code().message() << " (" << e.what() << ")" << Hint(hint);
    const std::string named = fault.call + "(" + queue;
    EXPECT_NE(std::string(e.what()).find(named), std::string::npos)
        << "after " << fault.ToString() << ", the error should name \"" << named
        << "...\", but it says: " << e.what() << Hint(hint);
  } catch (const std::exception& e) {
    ADD_FAILURE() << "after " << fault.ToString() << ", the call threw "
                  << e.what() << " instead of a std::system_error"
                  << Hint(hint);
  }
}

// Runs `call`, which must block until a helper process runs `release`.
// Before releasing it, the helper watches this process and fails the test if
// it does not sleep in the kernel while it waits.
void ExpectQuietWhileBlocked(const std::string& what,
                             const std::function<void()>& release,
                             const std::function<void()>& call) {
  kata::OnDeadlock(what + " never returned after the helper released it");
  kata::Child watcher([&] {
    kata::ExpectNoBusyWaiting(kata::RunnerPid(), what, Hint(kNoBusyWaiting));
    release();
  });
  call();
  watcher.Join();
}

// Checks that each step leaves the caller's signal state as it found it,
// naming the step that changed it.
void Kept(const std::string& step, const std::function<void()>& call) {
  kata::ExpectSignalStateKept kept(step);
  call();
}

// How long `call` took.
std::chrono::milliseconds Timed(const std::function<void()>& call) {
  const auto start = std::chrono::steady_clock::now();
  call();
  return ElapsedSince(start);
}

// A timed call must end within its timeout plus this (stretched under
// sanitizers): generous, because the machine may be busy.
std::chrono::milliseconds Tolerance() { return kata::Scaled(700ms); }

// Expects a timed call that ran out after `took` to have waited its whole
// `timeout` (5 ms of clock rounding allowed) and not much longer.
void ExpectOnTime(const std::string& what, std::chrono::milliseconds took,
                  std::chrono::milliseconds timeout, std::string_view hint) {
  EXPECT_GE(took, timeout - 5ms) << what << " gave up too early" << Hint(hint);
  EXPECT_LE(took, timeout + Tolerance())
      << what << " took " << took.count() << " ms for a timeout of "
      << timeout.count() << " ms" << Hint(hint);
}

// A flag in memory shared with children, which a signal handler may set.
class SharedFlag {
 public:
  SharedFlag() {
    void* memory =
        mmap(nullptr, sizeof(std::atomic<int>), PROT_READ | PROT_WRITE,
             MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (memory == MAP_FAILED) {
      throw std::system_error(errno, std::generic_category(), "test: mmap");
    }
    flag_ = new (memory) std::atomic<int>(0);
  }
  ~SharedFlag() { munmap(flag_, sizeof(std::atomic<int>)); }
  SharedFlag(const SharedFlag&) = delete;
  SharedFlag& operator=(const SharedFlag&) = delete;

  void Set() { flag_->store(1); }
  bool IsSet() const { return flag_->load() != 0; }
  // Polls for the flag for at most `limit`.
  bool AwaitSet(std::chrono::milliseconds limit) const {
    const auto until = std::chrono::steady_clock::now() + limit;
    while (!IsSet() && std::chrono::steady_clock::now() < until) {
      std::this_thread::sleep_for(1ms);
    }
    return IsSet();
  }

 private:
  std::atomic<int>* flag_;
};

// The caller's own SIGUSR1 handler, which marks a shared flag, for as long as
// the object lives (without SA_RESTART, as a caller may well install it).
SharedFlag* g_handler_ran = nullptr;

class CallerHandler {
 public:
  explicit CallerHandler(SharedFlag& ran) {
    g_handler_ran = &ran;
    struct sigaction action{};
    action.sa_handler = [](int) { g_handler_ran->Set(); };
    sigemptyset(&action.sa_mask);
    sigaction(SIGUSR1, &action, &old_);
  }
  ~CallerHandler() {
    sigaction(SIGUSR1, &old_, nullptr);
    g_handler_ran = nullptr;
  }
  CallerHandler(const CallerHandler&) = delete;
  CallerHandler& operator=(const CallerHandler&) = delete;

 private:
  struct sigaction old_{};
};

// Runs `call`, which must block until `release` runs in a helper process.
// The helper first sends this process SIGUSR1 while it waits, and expects
// the caller's handler to run then, not only after the call returns.
void ExpectHandlerRunsWhileBlocked(const std::string& what,
                                   const std::function<void()>& release,
                                   const std::function<void()>& call) {
  kata::OnDeadlock(what + " never returned after the helper released it");
  SharedFlag ran;
  CallerHandler handler(ran);
  kata::Child helper([&] {
    ASSERT_TRUE(kata::WaitUntilBlocked(kata::RunnerPid()))
        << what << " never blocked";
    kill(kata::RunnerPid(), SIGUSR1);
    EXPECT_TRUE(ran.AwaitSet(kata::Scaled(1000ms)))
        << "the caller's SIGUSR1 handler did not run while " << what
        << " waited" << Hint(kSignalsReachTheCaller);
    release();
  });
  call();
  helper.Join();
}

// Sends letters from "/alice" to the inbox `to`, one every 5 ms, without
// waiting for room, until `stop` is set or `at_most` has passed.
kata::Child KeepWriting(const std::string& to, SharedFlag& stop,
                        std::chrono::milliseconds at_most) {
  return kata::Child([to, &stop, at_most] {
    RawQueue inbox(to);
    const auto until = std::chrono::steady_clock::now() + at_most;
    for (int i = 0; !stop.IsSet() && std::chrono::steady_clock::now() < until;
         ++i) {
      const std::string letter = Framed("/alice", "noise " + std::to_string(i));
      timespec now = RealtimeIn(0ms);
      mq_timedsend(inbox.get(), letter.data(), letter.size(), 0, &now);
      std::this_thread::sleep_for(5ms);
    }
  });
}

// ================================================================ Stage 1

// Tests names at their limits: "/x" and a name of exactly kMaxNameLength
// characters work, one character more is refused before any queue is opened,
// as are a second '/' right after the first and a zero byte.
TEST(Stage1OneMailbox, NamesAtTheirLimits) {
  for (std::size_t length :
       {std::size_t{2}, kMaxNameLength - 1, kMaxNameLength}) {
    std::optional<Mailbox> box;
    std::string name;
    try {
      // Two-character names are few and shared by every program on the
      // machine: take the first one that is free.
      for (char c : std::string("abcdefghijklmnopqrstuvwxyz0123456789")) {
        name = length == 2 ? std::string{'/', c} : NameOfLength(length);
        try {
          box = Mailbox::Create(name, {1, 16});
          break;
        } catch (const std::system_error& e) {
          if (length > 2 || e.code() != std::errc::file_exists) throw;
        }
      }
    } catch (const std::invalid_argument& e) {
      ADD_FAILURE() << "a name of " << length
                    << " characters was refused: " << e.what()
                    << Hint(kNameLimits);
      continue;
    }
    ASSERT_TRUE(box) << "test: every two-character name is taken";
    EXPECT_EQ(Mailbox::Open(name).Send("fits"), SendResult::kSent)
        << "Open(" << name << ")" << Hint(kNameLimits);
    EXPECT_EQ(Show(box->Receive(Wait::No())), "fits");
  }
  kata::CallCounter calls;
  for (const std::string& name :
       {NameOfLength(kMaxNameLength + 1), std::string("//x"),
        std::string("/a\0b", 4)}) {
    EXPECT_THROW(Mailbox::Create(name), std::invalid_argument)
        << "name of " << name.size() << " characters: \"" << name << "\""
        << Hint(kNameLimits);
    EXPECT_THROW(Mailbox::Open(name), std::invalid_argument)
        << "name of " << name.size() << " characters: \"" << name << "\""
        << Hint(kNameLimits);
  }
  EXPECT_EQ(calls.Count({"mq_open"}), 0)
      << Hint("check the name before calling mq_open");
}

// Tests message sizes at max_message - 1, max_message and max_message + 1,
// through Send and back out of Receive, and that an empty message comes out
// as an empty string, not as "nothing".
TEST(Stage1OneMailbox, MessagesAtTheSizeLimit) {
  Mailbox box = Mailbox::Create(kata::UniqueName("box"), {3, 16});
  EXPECT_EQ(box.Send(std::string(15, 'a'), Wait::No()), SendResult::kSent);
  EXPECT_EQ(box.Send(std::string(16, 'b'), Wait::No()), SendResult::kSent)
      << Hint("max_message bytes is still allowed: refuse only longer text");
  EXPECT_THROW(box.Send(std::string(17, 'c'), Wait::No()), std::length_error)
      << "a text of 17 bytes; max_message is 16"
      << Hint("one byte more than max_message is std::length_error");
  EXPECT_EQ(box.Send("", Wait::No()), SendResult::kSent);
  EXPECT_EQ(Show(box.Receive(Wait::No())), std::string(15, 'a'));
  EXPECT_EQ(Show(box.Receive(Wait::No())), std::string(16, 'b'));
  std::optional<std::string> empty = box.Receive(Wait::No());
  ASSERT_TRUE(empty.has_value())
      << "an empty message came out of Receive as nothing"
      << Hint("mq_receive returns 0 for an empty message: that is a message");
  EXPECT_EQ(*empty, "");
}

// Tests that a rendezvous refuses a message longer than max_message before it
// takes a receiver's ready token.
TEST(Stage1OneMailbox, TooLongForARendezvousTakesNoToken) {
  Mailbox box = Mailbox::Create(kata::UniqueName("meet"), {0, 16});
  RawQueue ready(box.name() + std::string(kReadySuffix));
  ASSERT_TRUE(ready.Send("r")) << "test: could not post a ready token";
  EXPECT_THROW(box.Send(std::string(17, 'x'), Wait::No()), std::length_error)
      << "a text of 17 bytes; max_message is 16";
  EXPECT_EQ(Depth(ready.name()), 1)
      << "a refused message used up a waiting receiver's token"
      << Hint("check the length before anything else");
}

// Tests the permissions of created queues: 0600, for both queues of a
// rendezvous too.
TEST(Stage1OneMailbox, CreatedQueuesAreTheOwnersAlone) {
  Mailbox box = Mailbox::Create(kata::UniqueName("box"), {2, 16});
  Mailbox meet = Mailbox::Create(kata::UniqueName("meet"), {0, 16});
  for (const std::string& name :
       {box.name(), meet.name(), meet.name() + std::string(kReadySuffix)}) {
    RawQueue queue(name);
    struct stat st{};
    ASSERT_EQ(fstat(queue.get(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0600u)
        << name << " has mode " << std::oct << (st.st_mode & 0777)
        << Hint(kOwnerOnlyMode);
  }
}

// Tests that no queue descriptor survives an exec: Create, Open (of a
// bounded mailbox and of a rendezvous) and an inbox's links all use
// O_CLOEXEC.
TEST(Stage1OneMailbox, NoQueueDescriptorLeaksIntoExec) {
  const std::vector<int> before = kata::InheritableDescriptors();
  Mailbox box = Mailbox::Create(kata::UniqueName("box"), {2, 16});
  Mailbox meet = Mailbox::Create(kata::UniqueName("meet"), {0, 16});
  Mailbox user = Mailbox::Open(box.name());
  Mailbox meet_user = Mailbox::Open(meet.name());
  Inbox alice = Inbox::Create(kata::UniqueName("alice"));
  Inbox bob = Inbox::Create(kata::UniqueName("bob"));
  alice.Send(bob.name(), "hi");
  EXPECT_EQ(kata::InheritableDescriptors(), before)
      << "descriptors without close-on-exec appeared" << Hint(kCloseOnExec);
}

// Tests that Open takes its sizes from a queue that another program created,
// with a message size far above the default, and handles its largest
// messages.
TEST(Stage1OneMailbox, OpenHonoursAQueueMadeElsewhere) {
  const long biggest = MqueueLimit("msgsize_max");
  RawQueue other = RawQueue::Create(kata::UniqueName("other"), 3, biggest);
  const std::string longest(static_cast<std::size_t>(biggest), 'L');
  ASSERT_TRUE(other.Send(longest));
  Mailbox user = Mailbox::Open(other.name());
  EXPECT_EQ(user.capacity(), 3) << Hint(kBufferFromGetattr);
  EXPECT_EQ(user.max_message(), static_cast<std::size_t>(biggest))
      << Hint(kBufferFromGetattr);
  std::optional<std::string> got;
  try {
    got = user.Receive(Wait::No());
  } catch (const std::system_error& e) {
    ADD_FAILURE() << "Receive threw " << e.what() << Hint(kBufferFromGetattr);
  }
  EXPECT_EQ(kata::Difference(longest, Show(got)), "")
      << Hint(kBufferFromGetattr);
  EXPECT_EQ(user.Send(longest, Wait::No()), SendResult::kSent);
  EXPECT_THROW(user.Send(longest + "!", Wait::No()), std::length_error);
}

// Tests, call by call, that each function does its work through the POSIX
// queue: Create and Open with mq_open (Open also asks mq_getattr), Send with
// mq_send, Receive with mq_receive (or their timed forms); and that a
// conversation between two processes uses no descriptor but POSIX queues.
TEST(Stage1OneMailbox, EachCallWorksThroughTheQueue) {
  const std::string name = kata::UniqueName("box");
  std::optional<Mailbox> box;
  {
    kata::CallCounter calls;
    box = Mailbox::Create(name, {2, 64});
    kata::ExpectUsed(calls, {"mq_open"}, 1, "Create: a POSIX queue (mq_open)");
  }
  kata::MechanismWatch watch;
  kata::RunInChild([&] {
    std::optional<Mailbox> user;
    {
      kata::CallCounter calls;
      user = Mailbox::Open(name);
      kata::ExpectUsed(calls, {"mq_open"}, 1, "Open: a POSIX queue (mq_open)");
      kata::ExpectUsed(calls, {"mq_getattr"}, 1,
                       "Open: the queue's own sizes (mq_getattr)");
    }
    kata::CallCounter calls;
    EXPECT_EQ(user->Send("through the queue"), SendResult::kSent);
    kata::ExpectUsed(calls, {"mq_send", "mq_timedsend"}, 1,
                     "Send: a POSIX queue (mq_send)");
    EXPECT_EQ(Depth(name), 1) << "Send returned, but the queue is empty";
  });
  kata::CallCounter calls;
  EXPECT_EQ(Show(box->Receive(Wait::For(1s))), "through the queue");
  kata::ExpectUsed(calls, {"mq_receive", "mq_timedreceive"}, 1,
                   "Receive: a POSIX queue (mq_receive)");
  kata::ExpectOnlyMechanism(watch, {"mqueue"}, "POSIX message queues");
}

// Tests Create's error paths: each mq_open failing in turn (both queues of a
// rendezvous) is reported, and nothing is left behind.
TEST(Stage1OneMailbox, CreateReportsEachFailureAndLeavesNothing) {
  for (int capacity : {2, 0}) {
    kata::ForEachInjectedFailure(
        {"mq_open"}, EMFILE, [&](const kata::FaultCase* fault) {
          const std::string name = kata::UniqueName("box");
          kata::ResourceSnapshot before;
          if (fault == nullptr) {
            Mailbox::Create(name, {capacity, 16});
            return;
          }
          ExpectReported(
              *fault, [&] { Mailbox::Create(name, {capacity, 16}); }, name);
          EXPECT_FALSE(QueueExists(name)) << Hint(kReportFailures);
          EXPECT_FALSE(QueueExists(name + std::string(kReadySuffix)))
              << "a failed Create left the ready queue behind";
          EXPECT_EQ(before.Leaks(), "") << "after " << fault->ToString();
        });
  }
}

// Tests Open's error paths: each call failing in turn (mq_open of the
// mailbox, mq_getattr, mq_open of its ready queue) is reported, and the
// descriptors opened before it are closed.
TEST(Stage1OneMailbox, OpenReportsEachFailureAndLeavesNothing) {
  Mailbox meet = Mailbox::Create(kata::UniqueName("meet"), {0, 16});
  Mailbox box = Mailbox::Create(kata::UniqueName("box"), {2, 16});
  for (const Mailbox* owner : {&meet, &box}) {
    kata::ForEachInjectedFailure(
        {"mq_open", "mq_getattr"}, EIO, [&](const kata::FaultCase* fault) {
          kata::ResourceSnapshot before;
          if (fault == nullptr) {
            Mailbox::Open(owner->name());
            return;
          }
          ExpectReported(
              *fault, [&] { Mailbox::Open(owner->name()); }, owner->name());
          EXPECT_EQ(before.Leaks(), "") << "after " << fault->ToString();
        });
  }
}

// Tests Send's error paths for every kind of wait: a failed mq_send or
// mq_timedsend is reported as an error naming that call (not as a timeout),
// and nothing is queued.
TEST(Stage1OneMailbox, SendReportsEachFailure) {
  Mailbox box = Mailbox::Create(kata::UniqueName("box"), {2, 16});
  for (Wait wait : {Wait::Forever(), Wait::For(1s), Wait::No()}) {
    kata::ForEachInjectedFailure(
        {"mq_send", "mq_timedsend"}, EIO, [&](const kata::FaultCase* fault) {
          if (fault == nullptr) {
            box.Send("dry run", wait);
          } else {
            ExpectReported(*fault, [&] { box.Send("x", wait); }, box.name());
          }
          kata::NotCounted quiet;  // the test's own cleanup
          RawQueue queue(box.name());
          while (queue.Receive(0ms)) {
          }
        });
  }
}

// Tests Receive's error paths for every kind of wait: a failed mq_receive or
// mq_timedreceive is reported as an error naming that call (not as "no
// message"), and the message stays in the mailbox.
TEST(Stage1OneMailbox, ReceiveReportsEachFailure) {
  Mailbox box = Mailbox::Create(kata::UniqueName("box"), {2, 16});
  for (Wait wait : {Wait::Forever(), Wait::For(1s), Wait::No()}) {
    kata::ForEachInjectedFailure(
        {"mq_receive", "mq_timedreceive"}, EIO,
        [&](const kata::FaultCase* fault) {
          RawQueue(box.name()).Send("waiting");
          if (fault == nullptr) {
            box.Receive(wait);
            return;
          }
          ExpectReported(*fault, [&] { box.Receive(wait); }, box.name());
          EXPECT_EQ(Show(RawQueue(box.name()).Receive(0ms)), "waiting")
              << "the message was lost in the failed Receive";
        });
  }
}

// Tests that no call changes the caller's signal state: with SIGUSR2 blocked
// and pending and SIGPIPE ignored, each call leaves mask, pending set and
// dispositions as they were.
TEST(Stage1OneMailbox, CallsLeaveTheCallersSignalsAlone) {
  kata::CallerSignal pending = kata::CallerSignal::BlockedAndPending(SIGUSR2);
  kata::CallerSignal ignored = kata::CallerSignal::Ignored(SIGPIPE);
  const std::string name = kata::UniqueName("box");
  const std::string meet_name = kata::UniqueName("meet");
  std::optional<Mailbox> box, meet, user;
  Kept("Mailbox::Create", [&] { box = Mailbox::Create(name, {1, 16}); });
  Kept("Mailbox::Create(capacity 0)",
       [&] { meet = Mailbox::Create(meet_name, {0, 16}); });
  Kept("Mailbox::Open", [&] { user = Mailbox::Open(name); });
  Kept("Mailbox::Send", [&] { user->Send("x", Wait::For(1s)); });
  Kept("Mailbox::Send (full)", [&] { user->Send("y", Wait::For(20ms)); });
  Kept("Mailbox::Receive", [&] { box->Receive(Wait::For(1s)); });
  Kept("Mailbox::Receive (empty)", [&] { box->Receive(Wait::For(20ms)); });
  Kept("Mailbox::Send (capacity 0)", [&] { meet->Send("z", Wait::For(20ms)); });
  Kept("Mailbox::Receive (capacity 0)",
       [&] { meet->Receive(Wait::For(20ms)); });
  Kept("Mailbox::Delete", [&] { box->Delete(); });
  const std::string alice_name = kata::UniqueName("alice");
  std::optional<Inbox> alice;
  Kept("Inbox::Create", [&] { alice = Inbox::Create(alice_name); });
  Kept("Inbox::Receive(from)",
       [&] { alice->Receive("/nobody", Wait::For(20ms)); });
  Kept("Inbox::Send", [&] { alice->Send(alice_name, "note to self"); });
  Kept("Inbox::ReceiveAny", [&] { alice->ReceiveAny(Wait::For(20ms)); });
}

// ================================================================ Stage 2

// Tests that Send retries EINTR at every call site: each blocking call fails
// once with EINTR before it gets through, for each kind of wait.
TEST(Stage2Waiting, SendRetriesEintrEverywhere) {
  Mailbox box = Mailbox::Create(kata::UniqueName("box"), {2, 16});
  auto eintr = kata::InjectedFault::InterruptEach(kata::kBlockingCalls);
  for (Wait wait : {Wait::Forever(), Wait::For(2s)}) {
    SendResult result = SendResult::kTimedOut;
    try {
      result = box.Send("once", wait);
    } catch (const std::system_error& e) {
      ADD_FAILURE() << "Send threw " << e.what() << Hint(kRetryEintr);
    }
    EXPECT_EQ(result, SendResult::kSent) << Hint(kRetryEintr);
    EXPECT_EQ(Depth(box.name()), 1) << Hint(kRetryEintr);
    RawQueue(box.name()).Receive(0ms);
  }
  EXPECT_GT(eintr.fired(), 0) << "test: no call was interrupted";
}

// Tests that Receive retries EINTR at every call site, for each kind of wait.
TEST(Stage2Waiting, ReceiveRetriesEintrEverywhere) {
  Mailbox box = Mailbox::Create(kata::UniqueName("box"), {2, 16});
  auto eintr = kata::InjectedFault::InterruptEach(kata::kBlockingCalls);
  for (Wait wait : {Wait::Forever(), Wait::For(2s)}) {
    ASSERT_TRUE(RawQueue(box.name()).Send("waiting"));
    try {
      EXPECT_EQ(Show(box.Receive(wait)), "waiting") << Hint(kRetryEintr);
    } catch (const std::system_error& e) {
      ADD_FAILURE() << "Receive threw " << e.what() << Hint(kRetryEintr);
    }
  }
  EXPECT_GT(eintr.fired(), 0) << "test: no call was interrupted";
}

// Tests timed calls under a signal storm: a signal every 2 ms, and still
// Receive on an empty mailbox and Send on a full one end on time.
TEST(Stage2Waiting, TimeoutsHoldDuringASignalStorm) {
  kata::OnDeadlock(
      "a timed call never ended while signals kept coming: it restarts its "
      "timeout after each EINTR");
  Mailbox box = Mailbox::Create(kata::UniqueName("box"), {1, 16});
  kata::SignalStorm storm(kata::RunnerPid(), SIGUSR1);
  std::optional<std::string> got;
  ExpectOnTime("Receive(Wait::For(200ms))",
               Timed([&] { got = box.Receive(Wait::For(200ms)); }), 200ms,
               kOneDeadline);
  EXPECT_EQ(Show(got), "(nothing)");
  ASSERT_EQ(box.Send("fill", Wait::No()), SendResult::kSent);
  SendResult result = SendResult::kSent;
  ExpectOnTime("Send(Wait::For(200ms))",
               Timed([&] { result = box.Send("more", Wait::For(200ms)); }),
               200ms, kOneDeadline);
  EXPECT_EQ(result, SendResult::kTimedOut);
}

// Tests deadlines that fall across a second boundary: Receive on an empty
// mailbox here, and Send to a full one in a child at the same moment, both
// start 5 ms before a whole second, so their deadlines must carry into
// tv_sec.
TEST(Stage2Waiting, DeadlinesCarryIntoTheNextSecond) {
  Mailbox empty = Mailbox::Create(kata::UniqueName("box"), {1, 16});
  Mailbox full = Mailbox::Create(kata::UniqueName("box"), {1, 16});
  ASSERT_EQ(full.Send("fill", Wait::No()), SendResult::kSent);
  kata::SleepUntilBeforeSecondBoundary(30ms);
  kata::Child sender([&] {
    kata::SleepUntilBeforeSecondBoundary(5ms);
    try {
      SendResult result = SendResult::kSent;
      ExpectOnTime("Send(Wait::For(100ms))",
                   Timed([&] { result = full.Send("more", Wait::For(100ms)); }),
                   100ms, kCarry);
      EXPECT_EQ(result, SendResult::kTimedOut);
    } catch (const std::system_error& e) {
      ADD_FAILURE() << "Send threw " << e.what() << Hint(kCarry);
    }
  });
  kata::SleepUntilBeforeSecondBoundary(5ms);
  std::optional<std::string> got;
  try {
    ExpectOnTime("Receive(Wait::For(100ms))",
                 Timed([&] { got = empty.Receive(Wait::For(100ms)); }), 100ms,
                 kCarry);
  } catch (const std::system_error& e) {
    ADD_FAILURE() << "Receive threw " << e.what() << Hint(kCarry);
  }
  EXPECT_EQ(Show(got), "(nothing)");
  sender.Join();
}

// Tests the longest wait there is, Wait::For(milliseconds::max()): it must
// not overflow into a deadline in the past or an invalid one.
TEST(Stage2Waiting, TheLongestWaitDoesNotOverflow) {
  const Wait longest = Wait::For(std::chrono::milliseconds::max());
  Mailbox box = Mailbox::Create(kata::UniqueName("box"), {1, 16});
  try {
    EXPECT_EQ(box.Send("now", longest), SendResult::kSent) << Hint(kNoOverflow);
    EXPECT_EQ(Show(box.Receive(longest)), "now") << Hint(kNoOverflow);
  } catch (const std::system_error& e) {
    ADD_FAILURE() << "a call with the longest wait threw " << e.what()
                  << Hint(kNoOverflow);
  }
  // Each call below finds its letter already queued, so none can hang.
  Inbox carol = Inbox::Create(kata::UniqueName("carol"));
  Post(carol.name(), {{"/alice", "a1"}, {"/alice", "a2"}, {"/bob", "b1"}});
  try {
    EXPECT_EQ(Show(carol.ReceiveAny(longest)), "/alice: a1")
        << Hint(kNoOverflow);
    EXPECT_EQ(Show(carol.Receive("/bob", longest)), "b1") << Hint(kNoOverflow);
  } catch (const std::system_error& e) {
    ADD_FAILURE() << "an inbox call with the longest wait threw " << e.what()
                  << Hint(kNoOverflow);
  }
}

// Tests that blocked calls sleep in the kernel: Receive on an empty mailbox
// and Send on a full one, waiting forever and with a timeout.
TEST(Stage2Waiting, BlockedCallsSleepInTheKernel) {
  kata::OnDeadlock("a blocked call never returned after it was released", 10s);
  Mailbox box = Mailbox::Create(kata::UniqueName("box"), {1, 16});
  for (Wait wait : {Wait::Forever(), Wait::For(4s)}) {
    const std::string how = wait.forever() ? "forever" : "for 4 s";
    ExpectQuietWhileBlocked(
        "Receive (" + how + ") on an empty mailbox",
        [&] { RawQueue(box.name()).Send("release"); },
        [&] { EXPECT_EQ(Show(box.Receive(wait)), "release"); });
    ASSERT_EQ(box.Send("fill", Wait::No()), SendResult::kSent);
    ExpectQuietWhileBlocked(
        "Send (" + how + ") to a full mailbox",
        [&] { RawQueue(box.name()).Receive(); },
        [&] { EXPECT_EQ(box.Send("next", wait), SendResult::kSent); });
    box.Receive(Wait::No());
  }
}

// Tests that the caller's signal handlers run while a call waits: a call
// must not block signals to keep EINTR away.
TEST(Stage2Waiting, CallersHandlersRunWhileACallWaits) {
  Mailbox box = Mailbox::Create(kata::UniqueName("box"), {1, 16});
  ExpectHandlerRunsWhileBlocked(
      "Receive on an empty mailbox",
      [&] { RawQueue(box.name()).Send("release"); },
      [&] { EXPECT_EQ(Show(box.Receive(Wait::For(4s))), "release"); });
  ASSERT_EQ(box.Send("fill", Wait::No()), SendResult::kSent);
  ExpectHandlerRunsWhileBlocked(
      "Send to a full mailbox", [&] { RawQueue(box.name()).Receive(); },
      [&] { EXPECT_EQ(box.Send("next", Wait::For(4s)), SendResult::kSent); });
}

// ================================================================ Stage 3

// Tests capacities at the system's limit: msg_max - 1 and msg_max make
// queues of exactly that capacity; msg_max + 1 is refused with EINVAL and
// leaves no queue, whoever runs the test (root included).
TEST(Stage3Capacity, CapacityAtTheSystemLimit) {
  const long msg_max = MqueueLimit("msg_max");
  ASSERT_GT(msg_max, 1) << "test: cannot read /proc/sys/fs/mqueue/msg_max";
  for (long capacity : {msg_max - 1, msg_max}) {
    Mailbox box = Mailbox::Create(kata::UniqueName("box"),
                                  {static_cast<int>(capacity), 8});
    EXPECT_EQ(QueueAttr(box.name()).mq_maxmsg, capacity)
        << Hint(kCapacityIsMaxmsg);
  }
  const std::string name = kata::UniqueName("box");
  ExpectSystemError(
      [&] { Mailbox::Create(name, {static_cast<int>(msg_max + 1), 8}); },
      std::errc::invalid_argument, "mq_open(" + name, Hint(kSystemLimits));
  EXPECT_FALSE(QueueExists(name))
      << "a capacity above msg_max was quietly made" << Hint(kSystemLimits);
}

// Tests message sizes at the system's limit: msgsize_max - 1 and msgsize_max
// make queues of exactly that message size, and the largest message goes
// through; msgsize_max + 1 is refused with EINVAL and leaves no queue.
TEST(Stage3Capacity, MessageSizeAtTheSystemLimit) {
  const long biggest = MqueueLimit("msgsize_max");
  ASSERT_GT(biggest, 1) << "test: cannot read /proc/sys/fs/mqueue/msgsize_max";
  for (long size : {biggest - 1, biggest}) {
    Mailbox box = Mailbox::Create(kata::UniqueName("box"),
                                  {1, static_cast<std::size_t>(size)});
    EXPECT_EQ(QueueAttr(box.name()).mq_msgsize, size)
        << Hint(kCapacityIsMaxmsg);
    const std::string largest(static_cast<std::size_t>(size), 'x');
    EXPECT_EQ(box.Send(largest, Wait::No()), SendResult::kSent);
    EXPECT_EQ(kata::Difference(largest, Show(box.Receive(Wait::No()))), "");
  }
  const std::string name = kata::UniqueName("box");
  ExpectSystemError(
      [&] {
        Mailbox::Create(name, {1, static_cast<std::size_t>(biggest + 1)});
      },
      std::errc::invalid_argument, "mq_open(" + name, Hint(kSystemLimits));
  EXPECT_FALSE(QueueExists(name))
      << "a max_message above msgsize_max was quietly made"
      << Hint(kSystemLimits);
  Mailbox smallest = Mailbox::Create(kata::UniqueName("box"), {1, 1});
  EXPECT_EQ(smallest.Send("1"), SendResult::kSent)
      << Hint("max_message 1 is the smallest mailbox there is");
}

// ================================================================ Stage 5

// Tests move assignment: the target's own mailbox is released first (removed,
// since the target owned it), the target then holds and owns the source's
// mailbox, and the source owns nothing any more.
TEST(Stage5Ownership, MoveAssignmentReleasesWhatTheHandleHeld) {
  Mailbox kept = Mailbox::Create(kata::UniqueName("kept"), {2, 16});
  Mailbox replaced = Mailbox::Create(kata::UniqueName("replaced"), {2, 16});
  const std::string kept_name = kept.name();
  const std::string replaced_name = replaced.name();
  replaced = std::move(kept);
  EXPECT_FALSE(QueueExists(replaced_name))
      << "the owner's mailbox that was assigned over is still there"
      << Hint(kMoveReleases);
  EXPECT_EQ(replaced.name(), kept_name) << Hint(kMoveReleases);
  EXPECT_TRUE(replaced.is_owner()) << Hint(kMoveReleases);
  EXPECT_FALSE(kept.is_owner()) << Hint(kMoveReleases);
  EXPECT_EQ(replaced.Send("still works", Wait::No()), SendResult::kSent);
  EXPECT_EQ(Show(replaced.Receive(Wait::No())), "still works");
  EXPECT_THROW(kept.Delete(), std::system_error)
      << "a moved-from handle may not Delete" << Hint(kMoveReleases);
  // Assigning a user's handle over it: the owner's mailbox goes away, the
  // descriptors of both are accounted for.
  Mailbox other = Mailbox::Create(kata::UniqueName("other"), {2, 16});
  Mailbox user_of_other = Mailbox::Open(other.name());
  user_of_other = std::move(replaced);
  EXPECT_TRUE(QueueExists(other.name()))
      << "a user's handle that was assigned over removed the mailbox"
      << Hint(kOnlyOwnerDeletes);
  EXPECT_TRUE(user_of_other.is_owner());
  {
    Mailbox last = std::move(user_of_other);
  }
  EXPECT_FALSE(QueueExists(kept_name)) << Hint(kOwnerRemovesName);
  // The moved-from handles remove nothing: a successor under the old name
  // survives them.
  Mailbox successor = Mailbox::Create(kept_name, {2, 16});
  kept = Mailbox::Open(other.name());
  EXPECT_TRUE(QueueExists(kept_name))
      << "a moved-from handle removed a mailbox when assigned over"
      << Hint(kMoveReleases);
}

// Tests that moving a handle into itself changes nothing, for a bounded
// mailbox and for a rendezvous.
TEST(Stage5Ownership, SelfMoveChangesNothing) {
  for (int capacity : {2, 0}) {
    Mailbox box = Mailbox::Create(kata::UniqueName("self"), {capacity, 16});
    const std::string name = box.name();
    Mailbox& same = box;
    box = std::move(same);
    EXPECT_EQ(box.name(), name) << Hint(kMoveReleases);
    EXPECT_TRUE(box.is_owner()) << Hint(kMoveReleases);
    EXPECT_TRUE(QueueExists(name)) << Hint(kMoveReleases);
    EXPECT_EQ(box.capacity(), capacity) << Hint(kMoveReleases);
    if (capacity > 0) {
      EXPECT_EQ(box.Send("after", Wait::No()), SendResult::kSent);
      EXPECT_EQ(Show(box.Receive(Wait::No())), "after");
    } else {
      EXPECT_EQ(box.Send("after", Wait::No()), SendResult::kTimedOut)
          << "the rendezvous forgot it is one" << Hint(kMoveReleases);
    }
  }
}

// Tests Delete when a name is already gone: the error names mq_unlink and
// the name, the other name is still removed, and the handle owns nothing.
TEST(Stage5Ownership, DeleteReportsANameAlreadyGone) {
  Mailbox box = Mailbox::Create(kata::UniqueName("gone"), {2, 16});
  mq_unlink(box.name().c_str());
  ExpectSystemError([&] { box.Delete(); }, std::errc::no_such_file_or_directory,
                    "mq_unlink(" + box.name(),
                    Hint("Delete reports a failed mq_unlink"));
  EXPECT_FALSE(box.is_owner()) << Hint(kDeleteEndsOwnership);
  Mailbox meet = Mailbox::Create(kata::UniqueName("gone"), {0, 16});
  const std::string ready = meet.name() + std::string(kReadySuffix);
  mq_unlink(ready.c_str());
  ExpectSystemError([&] { meet.Delete(); },
                    std::errc::no_such_file_or_directory,
                    "mq_unlink(" + ready + ")",
                    Hint("Delete removes both names and reports a failure of "
                         "either, naming the one that failed"));
  EXPECT_FALSE(QueueExists(meet.name()))
      << Hint("Delete removes both names and reports a failure of either");
  Mailbox meet_too = Mailbox::Create(kata::UniqueName("gone"), {0, 16});
  mq_unlink(meet_too.name().c_str());
  ExpectSystemError(
      [&] { meet_too.Delete(); }, std::errc::no_such_file_or_directory,
      "mq_unlink(" + meet_too.name(),
      Hint("Delete removes both names and reports a failure of either"));
  EXPECT_FALSE(QueueExists(meet_too.name() + std::string(kReadySuffix)))
      << "Delete gave up on the ready queue after the first name failed"
      << Hint("Delete removes both names and reports a failure of either");
}

// Tests Delete's error paths: each mq_unlink failing in turn is reported,
// the other name is still removed, and the handle owns nothing afterwards.
TEST(Stage5Ownership, DeleteReportsEachFailedUnlink) {
  kata::ForEachInjectedFailure(
      {"mq_unlink"}, EACCES, [&](const kata::FaultCase* fault) {
        Mailbox meet = Mailbox::Create(kata::UniqueName("meet"), {0, 16});
        const std::string ready = meet.name() + std::string(kReadySuffix);
        if (fault == nullptr) {
          meet.Delete();
          return;
        }
        ExpectReported(*fault, [&] { meet.Delete(); }, meet.name());
        EXPECT_FALSE(meet.is_owner()) << Hint(kDeleteEndsOwnership);
        EXPECT_NE(QueueExists(meet.name()), QueueExists(ready))
            << "after " << fault->ToString()
            << ", Delete should still remove the other name";
        mq_unlink(meet.name().c_str());  // the test cleans up what failed
        mq_unlink(ready.c_str());
      });
}

// Tests deletion while a forked child holds a copy of the owner's handle:
// the name goes at once, and the child's copy later removes nothing, not even
// a successor under the same name.
TEST(Stage5Ownership, DeleteWorksWhileAForkedChildHoldsACopy) {
  kata::OnDeadlock("the child holding a copy never ended");
  Mailbox owner = Mailbox::Create(kata::UniqueName("held"), {2, 16});
  Gate deleted, replaced;
  kata::Child holder([&] {
    Mailbox copy = std::move(owner);  // the child's copy, destroyed below
    ASSERT_TRUE(deleted.Await());
    EXPECT_FALSE(copy.is_owner()) << Hint(kForkedCopyIsNotOwner);
    ASSERT_TRUE(replaced.Await());
  });
  owner.Delete();
  EXPECT_FALSE(QueueExists(owner.name()))
      << "a child's copy of the handle kept the name alive"
      << Hint("Delete removes the name (mq_unlink) whoever holds the queue");
  deleted.Notify();
  Mailbox successor = Mailbox::Create(owner.name(), {2, 16});
  replaced.Notify();
  holder.Join();
  EXPECT_TRUE(QueueExists(successor.name()))
      << "the child's copy removed the new mailbox"
      << Hint(kForkedCopyIsNotOwner);
}

// ================================================================ Stage 6

// Tests Inbox::Create at its limits: max_message 0 is refused, 1 works, and
// since each message also holds a sender's name, max_message above
// msgsize_max - (kMaxNameLength + 1) is refused with EINVAL.
TEST(Stage6DirectNaming, InboxSizesAtTheirLimits) {
  EXPECT_THROW(Inbox::Create(kata::UniqueName("inbox"), {2, 0}),
               std::invalid_argument)
      << Hint("an inbox for letters of 0 bytes makes no sense");
  Inbox tiny = Inbox::Create(kata::UniqueName("tiny"), {2, 1});
  Inbox alice = Inbox::Create(kata::UniqueName("alice"));
  EXPECT_EQ(alice.Send(tiny.name(), "1"), SendResult::kSent)
      << Hint("an inbox of max_message 1 takes one byte of text");
  EXPECT_THROW(alice.Send(tiny.name(), "12"), std::length_error);
  const std::size_t room =
      static_cast<std::size_t>(MqueueLimit("msgsize_max")) - 1 - kMaxNameLength;
  for (std::size_t size : {room - 1, room}) {
    Inbox big = Inbox::Create(kata::UniqueName("big"), {1, size});
    EXPECT_EQ(QueueAttr(big.name()).mq_msgsize,
              static_cast<long>(size + 1 + kMaxNameLength))
        << Hint("the inbox's queue holds max_message + 1 + kMaxNameLength");
  }
  const std::string name = kata::UniqueName("big");
  ExpectSystemError([&] { Inbox::Create(name, {1, room + 1}); },
                    std::errc::invalid_argument, "mq_open(" + name,
                    Hint(kSystemLimits));
}

// Tests the text limit from a sender whose name is as long as names go: the
// receiver's max_message bytes still fit, one more does not.
TEST(Stage6DirectNaming, LongestSenderNameAtTheTextLimit) {
  Inbox carol = Inbox::Create(kata::UniqueName("carol"), {3, 16});
  const std::string long_name = NameOfLength(kMaxNameLength);
  kata::RunInChild([&] {
    Inbox me = Inbox::Create(long_name);
    EXPECT_EQ(me.Send(carol.name(), std::string(15, 'a')), SendResult::kSent);
    try {
      EXPECT_EQ(me.Send(carol.name(), std::string(16, 'b')), SendResult::kSent)
          << Hint(
                 "Inbox::Create makes room for any name: max_message + 1 + "
                 "kMaxNameLength");
    } catch (const std::exception& e) {
      ADD_FAILURE() << "16 bytes from a " << kMaxNameLength
                    << "-character name failed: " << e.what()
                    << Hint(
                           "the room for the name is 1 + kMaxNameLength, "
                           "whoever sends");
    }
    EXPECT_THROW(me.Send(carol.name(), std::string(17, 'c')),
                 std::length_error);
  });
  EXPECT_EQ(Show(carol.ReceiveAny(Wait::No())),
            long_name + ": " + std::string(15, 'a'));
  EXPECT_EQ(Show(carol.ReceiveAny(Wait::No())),
            long_name + ": " + std::string(16, 'b'));
}

// Tests inboxes made by someone else with a message size at or just above
// the room a sender's name takes: the text limit is what is left, even 0.
TEST(Stage6DirectNaming, TextLimitOfAnInboxMadeElsewhere) {
  Inbox alice = Inbox::Create(kata::UniqueName("alice"));
  RawQueue just_names = RawQueue::Create(kata::UniqueName("names"), 2,
                                         static_cast<long>(1 + kMaxNameLength));
  EXPECT_EQ(alice.Send(just_names.name(), ""), SendResult::kSent);
  EXPECT_THROW(alice.Send(just_names.name(), "x"), std::length_error) << Hint(
      "no room is left for text in a queue of 1 + kMaxNameLength bytes");
  RawQueue one_more = RawQueue::Create(kata::UniqueName("one"), 2,
                                       static_cast<long>(2 + kMaxNameLength));
  EXPECT_EQ(alice.Send(one_more.name(), "x"), SendResult::kSent);
  EXPECT_THROW(alice.Send(one_more.name(), "xy"), std::length_error);
  RawQueue too_small = RawQueue::Create(kata::UniqueName("small"), 2, 50);
  EXPECT_THROW(alice.Send(too_small.name(), "x"), std::length_error)
      << Hint("a queue smaller than a name's room takes no text at all");
}

// Tests malformed messages in an inbox (empty, or shorter than the name they
// announce, by far or by one byte) and the edges of well-formed ones: an
// empty text, and a name longer than 127 bytes, whose length byte only fits
// unsigned.
TEST(Stage6DirectNaming, LettersAtTheEdgesOfTheFormat) {
  Inbox carol = Inbox::Create(kata::UniqueName("carol"), {6, 512});
  const std::string long_from(200, 'w');
  const std::vector<std::pair<std::string, std::string>> malformed = {
      {"", "an empty message"},
      {std::string("\x05"
                   "ab",
                   3),
       "a message announcing a 5-byte name with 2 bytes after it"},
      {std::string("\x03"
                   "ab",
                   3),
       "a message announcing a 3-byte name with 2 bytes after it"}};
  kata::RunInChild([&] {
    RawQueue inbox(carol.name());
    for (const auto& [message, what] : malformed) inbox.Send(message);
    inbox.Send(Framed("/bob", ""));
    inbox.Send(Framed(long_from, "hi"));
  });
  for (const auto& [message, what] : malformed) {
    try {
      (void)carol.ReceiveAny(Wait::No());
      ADD_FAILURE() << what << ": nothing thrown" << Hint(kLetterFormat);
    } catch (const std::runtime_error& e) {
      const std::string said = e.what();
      EXPECT_TRUE(said.find(carol.name()) != std::string::npos &&
                  said.find("(" + std::to_string(message.size()) + " bytes)") !=
                      std::string::npos)
          << what << ": the message should name the inbox " << carol.name()
          << " and the size \"(" << message.size()
          << " bytes)\", it says: " << said << Hint(kLetterFormat);
    } catch (const std::exception& e) {
      ADD_FAILURE() << what << ": threw " << e.what()
                    << ", not std::runtime_error (check the announced "
                       "length against the bytes there before substr)"
                    << Hint(kLetterFormat);
    }
  }
  std::optional<Letter> empty_text;
  EXPECT_NO_THROW(empty_text = carol.ReceiveAny(Wait::No()))
      << "a letter with an empty text" << Hint(kLetterFormat);
  EXPECT_EQ(Show(empty_text), "/bob: ") << Hint(kLetterFormat);
  std::optional<Letter> long_name;
  EXPECT_NO_THROW(long_name = carol.ReceiveAny(Wait::No()))
      << "a letter from a 200-byte name" << Hint(kLetterFormat);
  EXPECT_EQ(Show(long_name), long_from + ": hi") << Hint(kLetterFormat);
}

// Tests, call by call, that an inbox works through POSIX queues: Create with
// mq_open, Send with mq_send, ReceiveAny and Receive(from) with mq_receive;
// and that a conversation between two processes uses nothing else.
TEST(Stage6DirectNaming, InboxCallsWorkThroughTheQueue) {
  kata::OnDeadlock("the conversation between two inboxes stopped");
  const std::string bob = kata::UniqueName("bob");
  std::optional<Inbox> alice;
  {
    kata::CallCounter calls;
    alice = Inbox::Create(kata::UniqueName("alice"));
    kata::ExpectUsed(calls, {"mq_open"}, 1,
                     "Inbox::Create: a POSIX queue (mq_open)");
  }
  Gate bob_ready;
  kata::MechanismWatch watch;
  kata::Child bob_process = StartPeer(bob, bob_ready, [&](Inbox& me) {
    {
      kata::CallCounter calls;
      EXPECT_EQ(me.Send(alice->name(), "hello"), SendResult::kSent);
      kata::ExpectUsed(calls, {"mq_send", "mq_timedsend"}, 1,
                       "Inbox::Send: a POSIX queue (mq_send)");
    }
    kata::CallCounter calls;
    EXPECT_EQ(Show(me.Receive(alice->name(), Wait::For(4s))), "hello back");
    kata::ExpectUsed(calls, {"mq_receive", "mq_timedreceive"}, 1,
                     "Inbox::Receive(from): a POSIX queue (mq_receive)");
  });
  ASSERT_TRUE(bob_ready.Await());
  {
    kata::CallCounter calls;
    EXPECT_EQ(Show(alice->ReceiveAny(Wait::For(4s))), bob + ": hello");
    kata::ExpectUsed(calls, {"mq_receive", "mq_timedreceive"}, 1,
                     "Inbox::ReceiveAny: a POSIX queue (mq_receive)");
  }
  alice->Send(bob, "hello back");
  bob_process.Join();
  kata::ExpectOnlyMechanism(watch, {"mqueue"}, "POSIX message queues");
}

// Tests Inbox::Create's error paths: a failed mq_open is reported and leaves
// no queue behind.
TEST(Stage6DirectNaming, InboxCreateReportsAFailure) {
  kata::ForEachInjectedFailure(
      {"mq_open"}, EMFILE, [&](const kata::FaultCase* fault) {
        const std::string name = kata::UniqueName("inbox");
        kata::ResourceSnapshot before;
        if (fault == nullptr) {
          Inbox::Create(name);
          return;
        }
        ExpectReported(*fault, [&] { Inbox::Create(name); }, name);
        EXPECT_EQ(before.Leaks(), "") << "after " << fault->ToString();
      });
}

// Tests Inbox::Send's error paths: opening the link (mq_open, mq_getattr) or
// sending failing in turn is reported; a link that failed to open is not
// kept, so the next letter opens it again and gets through.
TEST(Stage6DirectNaming, InboxSendReportsEachFailure) {
  Inbox carol = Inbox::Create(kata::UniqueName("carol"));
  kata::ForEachInjectedFailure(
      {"mq_open", "mq_getattr", "mq_send", "mq_timedsend"}, EIO,
      [&](const kata::FaultCase* fault) {
        std::optional<Inbox> sender;
        {
          kata::NotCounted quiet;  // only Send's own calls count and fail
          sender = Inbox::Create(kata::UniqueName("alice"));
        }
        Inbox& alice = *sender;
        if (fault == nullptr) {
          alice.Send(carol.name(), "dry run");
        } else {
          ExpectReported(
              *fault, [&] { alice.Send(carol.name(), "x"); }, carol.name());
          EXPECT_EQ(alice.Send(carol.name(), "again", Wait::For(1s)),
                    SendResult::kSent)
              << "after " << fault->ToString()
              << ", the next letter to the same peer failed"
              << Hint("keep a link only once it is open");
        }
        kata::NotCounted quiet;  // the test's own cleanup
        RawQueue queue(carol.name());
        while (queue.Receive(0ms)) {
        }
      });
}

// Tests ReceiveAny's error paths: a failed receive is reported and the letter
// stays in the inbox.
TEST(Stage6DirectNaming, ReceiveAnyReportsEachFailure) {
  Inbox carol = Inbox::Create(kata::UniqueName("carol"));
  for (Wait wait : {Wait::Forever(), Wait::For(1s), Wait::No()}) {
    kata::ForEachInjectedFailure(
        {"mq_receive", "mq_timedreceive"}, EIO,
        [&](const kata::FaultCase* fault) {
          RawQueue(carol.name()).Send(Framed("/alice", "waiting"));
          if (fault == nullptr) {
            carol.ReceiveAny(wait);
            return;
          }
          ExpectReported(*fault, [&] { carol.ReceiveAny(wait); }, carol.name());
          EXPECT_EQ(Show(carol.ReceiveAny(Wait::No())), "/alice: waiting")
              << "the letter was lost in the failed ReceiveAny";
        });
  }
}

// Tests that Inbox::Send and ReceiveAny retry EINTR at every call site.
TEST(Stage6DirectNaming, InboxCallsRetryEintrEverywhere) {
  Inbox carol = Inbox::Create(kata::UniqueName("carol"));
  Inbox alice = Inbox::Create(kata::UniqueName("alice"));
  auto eintr = kata::InjectedFault::InterruptEach(kata::kBlockingCalls);
  for (Wait wait : {Wait::Forever(), Wait::For(2s)}) {
    try {
      EXPECT_EQ(alice.Send(carol.name(), "hi", wait), SendResult::kSent)
          << Hint(kRetryEintr);
      EXPECT_EQ(Show(carol.ReceiveAny(wait)), alice.name() + ": hi")
          << Hint(kRetryEintr);
    } catch (const std::system_error& e) {
      ADD_FAILURE() << "an inbox call threw " << e.what() << Hint(kRetryEintr);
    }
  }
  EXPECT_GT(eintr.fired(), 0) << "test: no call was interrupted";
}

// Tests that ReceiveAny sleeps in the kernel while it waits, and lets the
// caller's handlers run meanwhile.
TEST(Stage6DirectNaming, WaitingReceiveAnySleepsInTheKernel) {
  Inbox carol = Inbox::Create(kata::UniqueName("carol"));
  auto post = [&] { RawQueue(carol.name()).Send(Framed("/bob", "b")); };
  ExpectQuietWhileBlocked("ReceiveAny on an empty inbox", post, [&] {
    EXPECT_EQ(Show(carol.ReceiveAny(Wait::For(4s))), "/bob: b");
  });
  ExpectHandlerRunsWhileBlocked("ReceiveAny on an empty inbox", post, [&] {
    EXPECT_EQ(Show(carol.ReceiveAny(Wait::For(4s))), "/bob: b");
  });
}

// Tests move assignment and self-move of an inbox: its links and the letters
// it set aside survive both, and the inbox it replaced is removed.
TEST(Stage6DirectNaming, InboxMoveKeepsLinksAndLettersSetAside) {
  Inbox carol = Inbox::Create(kata::UniqueName("carol"));
  RawQueue bob = RawQueue::Create(kata::UniqueName("bob"), 5, 256);
  Post(carol.name(), {{"/alice", "a1"}, {"/bob", "b1"}});
  ASSERT_EQ(Show(carol.Receive("/bob", Wait::No())), "b1");  // a1 set aside
  carol.Send(bob.name(), "first");                           // a link to bob
  Inbox& same = carol;
  carol = std::move(same);
  {
    kata::CallCounter calls;
    EXPECT_EQ(carol.Send(bob.name(), "second"), SendResult::kSent);
    EXPECT_EQ(calls.Count({"mq_open"}), 0)
        << "a self-move lost the link to bob" << Hint(kMoveReleases);
  }
  EXPECT_EQ(Show(carol.ReceiveAny(Wait::No())), "/alice: a1")
      << "a self-move lost the letters set aside" << Hint(kMoveReleases);
  Post(carol.name(), {{"/alice", "a2"}, {"/bob", "b2"}});
  ASSERT_EQ(Show(carol.Receive("/bob", Wait::No())), "b2");  // a2 set aside
  Inbox dave = Inbox::Create(kata::UniqueName("dave"));
  const std::string dave_name = dave.name();
  const std::string carol_name = carol.name();
  dave = std::move(carol);
  EXPECT_FALSE(QueueExists(dave_name))
      << "the inbox that was assigned over is still there"
      << Hint(kMoveReleases);
  EXPECT_EQ(dave.name(), carol_name);
  EXPECT_EQ(Show(dave.ReceiveAny(Wait::No())), "/alice: a2")
      << "the letters set aside did not move with the inbox"
      << Hint(kMoveReleases);
  {
    kata::CallCounter calls;
    EXPECT_EQ(dave.Send(bob.name(), "third"), SendResult::kSent);
    EXPECT_EQ(calls.Count({"mq_open"}), 0)
        << "the links did not move with the inbox" << Hint(kOneLinkPerPair);
  }
}

// ================================================================ Stage 7

// Tests that one deadline covers Receive(from) while another sender keeps
// writing: it ends on time, not when the other letters stop.
TEST(Stage7SymmetricReceive, DeadlineHoldsWhileOthersKeepWriting) {
  kata::OnDeadlock("Receive(from) never ended while other letters kept coming");
  Inbox carol = Inbox::Create(kata::UniqueName("carol"));
  SharedFlag stop;
  kata::Child writer = KeepWriting(carol.name(), stop, kata::Scaled(2500ms));
  ASSERT_TRUE(RawQueue(carol.name()).Receive(1s)) << "test: no letters came";
  std::optional<std::string> got;
  ExpectOnTime("Receive(\"/bob\", Wait::For(200ms)) amid alice's letters",
               Timed([&] { got = carol.Receive("/bob", Wait::For(200ms)); }),
               200ms, kTimeLeftEachTime);
  stop.Set();
  writer.Join();
  EXPECT_EQ(Show(got), "(nothing)");
  std::optional<Letter> first = carol.ReceiveAny(Wait::No());
  ASSERT_TRUE(first) << Hint(kSetAsideNotDropped);
  EXPECT_EQ(first->from, "/alice") << Hint(kSetAsideNotDropped);
}

// Tests that Receive(from) ends on time under a signal storm, and retries
// EINTR at every call site.
TEST(Stage7SymmetricReceive, DeadlineHoldsDuringASignalStorm) {
  kata::OnDeadlock(
      "Receive(from) never ended while signals kept coming: it restarts its "
      "timeout after each EINTR");
  Inbox carol = Inbox::Create(kata::UniqueName("carol"));
  Post(carol.name(), {{"/alice", "a1"}});
  {
    kata::SignalStorm storm(kata::RunnerPid(), SIGUSR1);
    std::optional<std::string> got;
    ExpectOnTime("Receive(\"/bob\", Wait::For(200ms))",
                 Timed([&] { got = carol.Receive("/bob", Wait::For(200ms)); }),
                 200ms, kOneDeadline);
    EXPECT_EQ(Show(got), "(nothing)");
  }
  Post(carol.name(), {{"/alice", "a2"}, {"/bob", "b1"}, {"/bob", "b2"}});
  auto eintr = kata::InjectedFault::InterruptEach(kata::kBlockingCalls);
  try {
    EXPECT_EQ(Show(carol.Receive("/bob", Wait::For(2s))), "b1")
        << Hint(kRetryEintr);
    EXPECT_EQ(Show(carol.Receive("/bob", Wait::Forever())), "b2")
        << Hint(kRetryEintr);
  } catch (const std::system_error& e) {
    ADD_FAILURE() << "Receive(from) threw " << e.what() << Hint(kRetryEintr);
  }
  EXPECT_EQ(Show(carol.ReceiveAny(Wait::No())), "/alice: a1");
  EXPECT_EQ(Show(carol.ReceiveAny(Wait::No())), "/alice: a2");
}

// Tests Receive(from) with Wait::Forever(): it keeps waiting past letters
// from others until its sender writes.
TEST(Stage7SymmetricReceive, WaitingForeverForTheNamedSender) {
  kata::OnDeadlock("Receive(from bob) never returned although bob wrote");
  Inbox carol = Inbox::Create(kata::UniqueName("carol"));
  kata::Child writers([&] {
    RawQueue inbox(carol.name());
    ASSERT_TRUE(kata::WaitUntilBlocked(kata::RunnerPid()));
    inbox.Send(Framed("/alice", "a1"));
    std::this_thread::sleep_for(20ms);
    ASSERT_TRUE(kata::WaitUntilBlocked(kata::RunnerPid()));
    inbox.Send(Framed("/bob", "b1"));
  });
  std::optional<std::string> got = carol.Receive("/bob", Wait::Forever());
  writers.Join();
  EXPECT_EQ(Show(got), "b1")
      << Hint("Wait::Forever() waits until the named sender writes");
  EXPECT_EQ(Show(carol.ReceiveAny(Wait::No())), "/alice: a1")
      << Hint(kSetAsideNotDropped);
}

// Tests that a waiting Receive(from) sleeps in the kernel, and lets the
// caller's handlers run meanwhile.
TEST(Stage7SymmetricReceive, WaitingReceiveSleepsInTheKernel) {
  Inbox carol = Inbox::Create(kata::UniqueName("carol"));
  auto post = [&] { RawQueue(carol.name()).Send(Framed("/bob", "b")); };
  ExpectQuietWhileBlocked("Receive(from) on an empty inbox", post, [&] {
    EXPECT_EQ(Show(carol.Receive("/bob", Wait::For(4s))), "b");
  });
  ExpectHandlerRunsWhileBlocked("Receive(from) on an empty inbox", post, [&] {
    EXPECT_EQ(Show(carol.Receive("/bob", Wait::For(4s))), "b");
  });
}

// Tests Receive(from)'s error paths: a failed receive is reported, and no
// letter is lost, neither those set aside before the failure nor those still
// queued.
TEST(Stage7SymmetricReceive, ReceiveFromReportsEachFailure) {
  Inbox carol = Inbox::Create(kata::UniqueName("carol"));
  kata::ForEachInjectedFailure(
      {"mq_receive", "mq_timedreceive"}, EIO,
      [&](const kata::FaultCase* fault) {
        Post(carol.name(), {{"/alice", "a1"}, {"/bob", "b1"}});
        if (fault == nullptr) {
          carol.Receive("/bob", Wait::For(1s));
        } else {
          ExpectReported(
              *fault, [&] { carol.Receive("/bob", Wait::For(1s)); },
              carol.name());
          EXPECT_EQ(Show(carol.Receive("/bob", Wait::No())), "b1")
              << "after " << fault->ToString() << Hint(kSetAsideNotDropped);
        }
        EXPECT_EQ(Show(carol.ReceiveAny(Wait::No())), "/alice: a1")
            << Hint(kSetAsideNotDropped);
      });
}

// ================================================================ Stage 8

// Tests that both sides of a rendezvous retry EINTR at every call site: the
// sender's wait for a token and its handover, the receiver's token and its
// wait for the message, waiting forever and with a timeout.
TEST(Stage8Rendezvous, HandoffsRetryEintrEverywhere) {
  kata::OnDeadlock("a handoff stopped: an interrupted call was not retried");
  Mailbox box = Mailbox::Create(kata::UniqueName("meet"), {0, 16});
  auto eintr = kata::InjectedFault::InterruptEach(kata::kBlockingCalls);
  for (Wait wait : {Wait::Forever(), Wait::For(3s)}) {
    kata::SharedText got;
    kata::Child receiver([&] {
      try {
        got.Store(Show(Mailbox::Open(box.name()).Receive(wait)));
      } catch (const std::system_error& e) {
        ADD_FAILURE() << "Receive threw " << e.what() << Hint(kRetryEintr);
      }
    });
    try {
      EXPECT_EQ(box.Send("to the child", wait), SendResult::kSent)
          << Hint(kRetryEintr);
    } catch (const std::system_error& e) {
      ADD_FAILURE() << "Send threw " << e.what() << Hint(kRetryEintr);
    }
    receiver.Join();
    EXPECT_EQ(got.Load(), "to the child") << Hint(kRetryEintr);
    kata::Child sender([&] {
      try {
        EXPECT_EQ(Mailbox::Open(box.name()).Send("to the parent", wait),
                  SendResult::kSent);
      } catch (const std::system_error& e) {
        ADD_FAILURE() << "Send threw " << e.what() << Hint(kRetryEintr);
      }
    });
    try {
      EXPECT_EQ(Show(box.Receive(wait)), "to the parent") << Hint(kRetryEintr);
    } catch (const std::system_error& e) {
      ADD_FAILURE() << "Receive threw " << e.what() << Hint(kRetryEintr);
    }
    sender.Join();
  }
  EXPECT_GT(eintr.fired(), 0) << "test: no call was interrupted";
}

// Tests the rendezvous' timeouts under a signal storm: a sender with no
// receiver and a receiver with no sender both end on time and leave nothing
// behind.
TEST(Stage8Rendezvous, TimeoutsHoldDuringASignalStorm) {
  kata::OnDeadlock(
      "a rendezvous call never ended while signals kept coming: it restarts "
      "its timeout after each EINTR");
  Mailbox box = Mailbox::Create(kata::UniqueName("meet"), {0, 16});
  kata::SignalStorm storm(kata::RunnerPid(), SIGUSR1);
  SendResult result = SendResult::kSent;
  ExpectOnTime("Send(Wait::For(200ms)) with no receiver",
               Timed([&] { result = box.Send("x", Wait::For(200ms)); }), 200ms,
               kOneDeadline);
  EXPECT_EQ(result, SendResult::kTimedOut);
  std::optional<std::string> got;
  ExpectOnTime("Receive(Wait::For(200ms)) with no sender",
               Timed([&] { got = box.Receive(Wait::For(200ms)); }), 200ms,
               kOneDeadline);
  EXPECT_EQ(Show(got), "(nothing)");
  EXPECT_EQ(Depth(box.name()), 0);
  EXPECT_EQ(Depth(box.name() + std::string(kReadySuffix)), 0)
      << Hint(kRetractToken);
}

// Tests that both sides of a rendezvous sleep in the kernel while they wait
// for each other.
TEST(Stage8Rendezvous, WaitingSidesSleepInTheKernel) {
  kata::OnDeadlock("a rendezvous call never returned after it was released");
  Mailbox box = Mailbox::Create(kata::UniqueName("meet"), {0, 16});
  const std::string ready = box.name() + std::string(kReadySuffix);
  kata::SharedText got;
  ExpectQuietWhileBlocked(
      "Send with no receiver",
      [&] {  // a receiver, played with raw calls
        RawQueue(ready).Send("r");
        got.Store(Show(RawQueue(box.name()).Receive()));
      },
      [&] {
        EXPECT_EQ(box.Send("handed over", Wait::For(4s)), SendResult::kSent);
      });
  EXPECT_EQ(got.Load(), "handed over");
  ExpectQuietWhileBlocked(
      "Receive with no sender",
      [&] {  // a sender, played with raw calls
        ASSERT_TRUE(RawQueue(ready).Receive()) << "no ready token came";
        RawQueue(box.name()).Send("taken");
      },
      [&] { EXPECT_EQ(Show(box.Receive(Wait::For(4s))), "taken"); });
}

// Tests a sender whose handover fails after it took a receiver's token: the
// error is reported and the token goes back to the receiver still waiting.
TEST(Stage8Rendezvous, FailedHandoverGivesTheTokenBack) {
  Mailbox box = Mailbox::Create(kata::UniqueName("meet"), {0, 16});
  const std::string ready = box.name() + std::string(kReadySuffix);
  for (Wait wait : {Wait::Forever(), Wait::For(1s)}) {
    ASSERT_TRUE(RawQueue(ready).Send("r"));  // a receiver is waiting
    const char* call = wait.forever() ? "mq_send" : "mq_timedsend";
    kata::InjectedFault fault = kata::InjectedFault::Fail({call}, EIO);
    ExpectSystemError([&] { box.Send("lost?", wait); }, std::errc::io_error,
                      std::string(call) + "(" + box.name(),
                      Hint(kReportFailures));
    EXPECT_EQ(Depth(ready), 1)
        << "the waiting receiver's token was used up by a failed handover"
        << Hint(kTokenGoesBack);
    EXPECT_EQ(Depth(box.name()), 0);
    RawQueue(ready).Receive(0ms);
  }
}

// Tests a sender that took a token but found the message slot still taken
// until its wait ran out: kTimedOut, and the token goes back.
TEST(Stage8Rendezvous, SenderThatCannotHandOverGivesTheTokenBack) {
  Mailbox box = Mailbox::Create(kata::UniqueName("meet"), {0, 16});
  const std::string ready = box.name() + std::string(kReadySuffix);
  ASSERT_TRUE(RawQueue(box.name()).Send("earlier"));  // not taken yet
  ASSERT_TRUE(RawQueue(ready).Send("r"));             // a receiver waits
  EXPECT_EQ(box.Send("later", Wait::For(100ms)), SendResult::kTimedOut);
  EXPECT_EQ(Depth(ready), 1) << Hint(kTokenGoesBack);
  EXPECT_EQ(Show(RawQueue(box.name()).Receive(0ms)), "earlier");
  EXPECT_EQ(Depth(box.name()), 0) << "the timed-out message was sent anyway";
}

// Tests a receiver whose wait for the message fails: the error is reported
// and its ready token is taken back.
TEST(Stage8Rendezvous, FailedReceiveTakesTheTokenBack) {
  Mailbox box = Mailbox::Create(kata::UniqueName("meet"), {0, 16});
  const std::string ready = box.name() + std::string(kReadySuffix);
  for (Wait wait : {Wait::Forever(), Wait::For(1s)}) {
    const char* call = wait.forever() ? "mq_receive" : "mq_timedreceive";
    kata::InjectedFault fault = kata::InjectedFault::Fail({call}, EIO);
    ExpectSystemError([&] { box.Receive(wait); }, std::errc::io_error,
                      std::string(call) + "(" + box.name(),
                      Hint(kReportFailures));
    EXPECT_EQ(Depth(ready), 0)
        << "a receiver that failed left its ready token behind"
        << Hint(kReceiverTakesTokenBack);
  }
}

}  // namespace
