// Tests of the POSIX half of the message_queue kata (stages 7 and 8), by
// kind of mistake rather than by feature, each applied to every function it
// fits: the call that does the work and nothing else, the caller's signals
// left alone, EINTR at every call site, every limit at -1, = and +1 (names,
// mq_maxmsg, mq_msgsize, priorities), every failing system call reported,
// deadlines that hold under signals and across a second boundary, no busy
// waiting, and every parameter honoured (limits set by others, modes,
// close-on-exec, move assignment, descriptor 0). Each test sits in the stage
// suite of the function it tests.
//
// Built with message_queue_test.cc against both the stub and the solution;
// the stages and their README anchors are registered there.

#include <fcntl.h>
#include <mqueue.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <functional>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "gtest/gtest.h"
#include "message_queue/message_queue.h"
#include "tests/message_queue/raw_queues.h"
#include "tests/support/kata.h"

namespace {

using namespace std::chrono_literals;
using kata::Hint;
using kata::message_queue::PosixAttributes;
using kata::message_queue::PosixLimits;
using kata::message_queue::PosixMessage;
using kata::message_queue::PosixQueue;
using namespace mq_test;  // NOLINT: the shared raw helpers and hints

using Clock = std::chrono::steady_clock;

constexpr char kTrySendReportsOtherErrors[] =
    "TrySend returns false only for a full queue: any other failure "
    "(EMSGSIZE, EINVAL, ...) is a std::system_error";
constexpr char kMinusOneIsTheError[] =
    "mq_open returns (mqd_t)-1 on failure; any other value, 0 included, is a "
    "descriptor to close";
constexpr char kSameDeadline[] =
    "compute the absolute deadline once, before the first mq_timedreceive, "
    "and retry EINTR with that same deadline";

// How far past its timeout a timed call may return on a loaded machine.
std::chrono::milliseconds Slack() { return kata::Scaled(300ms); }

long Ms(Clock::duration duration) {
  return static_cast<long>(
      std::chrono::duration_cast<std::chrono::milliseconds>(duration).count());
}

// Checks that a timed call that found nothing took its whole `timeout`,
// and not much more.
void ExpectTookTheTimeout(Clock::duration took,
                          std::chrono::milliseconds timeout,
                          std::string_view what, const std::string& hint) {
  EXPECT_GE(Ms(took), timeout.count())
      << what << " came back early: after " << Ms(took) << " ms of "
      << timeout.count() << hint;
  EXPECT_LE(Ms(took), (timeout + Slack()).count())
      << what << " came back late: after " << Ms(took) << " ms of "
      << timeout.count() << " (" << Slack().count() << " ms allowed)" << hint;
}

// A name of exactly `length` characters after the slash, unique to the run.
std::string NameOfLength(std::size_t length) {
  std::string name = kata::UniqueName("n");
  name.resize(length + 1, 'n');
  return name;
}

// Checks that `call` made at least one of `used` and no call of another
// mechanism, System V queues included.
void ExpectOnlyPosix(std::string_view what, const std::function<void()>& call,
                     std::initializer_list<std::string_view> used) {
  kata::Calls forbidden = kNotAQueue;
  forbidden.insert(forbidden.end(), kSysvCalls.begin(), kSysvCalls.end());
  ExpectOnlyCalls(what, call, used, forbidden,
                  "a POSIX message queue (mq_open, mq_send, mq_receive, ...)");
}

// =========================================================== Stage 7

// Tests name lengths at the edges: one character and NAME_MAX (255) after
// the slash are names, 256 is not; a second slash anywhere is refused, also
// right after the first.
TEST(Stage7PosixQueues, NameLengthAtTheEdges) {
  const std::string longest = NameOfLength(255);
  {
    PosixQueue queue = PosixQueue::Create(longest, {2, 16});
    EXPECT_EQ(queue.name(), longest);
    PosixQueue user = PosixQueue::Open(longest);
    EXPECT_TRUE(RawMqSend(user.descriptor(), "x", 0))
        << Hint("255 characters after the slash is NAME_MAX: allowed");
  }
  EXPECT_FALSE(NameExists(longest));
  kata::CallCounter calls;
  for (const std::string& bad :
       {NameOfLength(256), std::string("//orders"), std::string("/orders/"),
        std::string("/or/ders")}) {
    EXPECT_THROW((void)PosixQueue::Create(bad, {2, 16}), std::invalid_argument)
        << "name \"" << bad.substr(0, 40) << "\" (" << bad.size()
        << " characters)" << Hint(kPosixName);
    EXPECT_THROW((void)PosixQueue::Open(bad), std::invalid_argument)
        << "name \"" << bad.substr(0, 40) << "\"" << Hint(kPosixName);
  }
  EXPECT_EQ(calls.Count({"mq_open"}), 0) << Hint(kPosixName);
  InOwnIpcNamespace([](bool own) {
    if (!own) return;  // a one-character name is not unique machine-wide
    PosixQueue shortest = PosixQueue::Create("/a", {2, 16});
    EXPECT_TRUE(NameExists("/a"))
        << Hint("one character after the slash is a name");
  });
}

// Tests the limits at the ceilings /proc/sys/fs/mqueue sets, at -1, = and
// +1: 1 x 1 and msg_max x msgsize_max are queues, one more message or one
// more byte is the kernel's EINVAL (refused, not clamped), and negative
// limits are refused before mq_open.
TEST(Stage7PosixQueues, LimitsAtTheEdges) {
  InOwnIpcNamespace([](bool own) {
    const bool capped = own || !HasCapSysResource();
    const long max_messages = ReadProcLong("/proc/sys/fs/mqueue/msg_max", 10);
    const long max_size = ReadProcLong("/proc/sys/fs/mqueue/msgsize_max", 8192);
    for (const PosixLimits fits :
         {PosixLimits{1, 1}, PosixLimits{max_messages - 1, max_size - 1},
          PosixLimits{max_messages, max_size}}) {
      const std::string name = kata::UniqueName("fits");
      try {
        PosixQueue queue = PosixQueue::Create(name, fits);
        EXPECT_EQ(queue.Attributes(),
                  (PosixAttributes{fits.max_messages, fits.message_size, 0}))
            << Hint("pass both limits in mq_attr as they are");
      } catch (const std::exception& e) {
        ADD_FAILURE() << "Create(" << fits.max_messages << " x "
                      << fits.message_size << ") threw " << e.what()
                      << Hint("any limit from 1 up to the ceiling is fine");
      }
    }
    if (capped) {
      for (const PosixLimits above :
           {PosixLimits{max_messages + 1, 1}, PosixLimits{1, max_size + 1}}) {
        const std::string name = kata::UniqueName("above");
        UnlinkAtEnd cleanup{name};
        ExpectSystemError(
            [&] { (void)PosixQueue::Create(name, above); },
            std::errc::invalid_argument, "mq_open",
            Hint("a limit above /proc/sys/fs/mqueue's ceiling is the "
                 "kernel's EINVAL: pass it on, do not clamp it"));
      }
    }
    kata::CallCounter calls;
    for (const PosixLimits bad :
         {PosixLimits{-1, 16}, PosixLimits{2, -1}, PosixLimits{-1, -1}}) {
      EXPECT_THROW((void)PosixQueue::Create(kata::UniqueName("bad"), bad),
                   std::invalid_argument)
          << bad.max_messages << " x " << bad.message_size
          << Hint("both limits > 0, or both 0 for the defaults");
    }
    EXPECT_EQ(calls.Count({"mq_open"}), 0);
  });
}

// Tests that Create without limits takes the defaults the system gives now,
// whatever they are: here msg_default and msgsize_default are set to 3 and
// 200 in a namespace of the test's own.
TEST(Stage7PosixQueues, DefaultsAreWhatTheSystemSays) {
  InOwnIpcNamespace([](bool own) {
    long messages = ReadProcLong("/proc/sys/fs/mqueue/msg_default", 10);
    long size = ReadProcLong("/proc/sys/fs/mqueue/msgsize_default", 8192);
    if (own) {
      ASSERT_TRUE(WriteProc("/proc/sys/fs/mqueue/msg_default", "3") &&
                  WriteProc("/proc/sys/fs/mqueue/msgsize_default", "200"))
          << "the test could not set its namespace's defaults";
      messages = 3;
      size = 200;
    }
    PosixQueue queue = PosixQueue::Create(kata::UniqueName("defaults"));
    EXPECT_EQ(queue.Attributes(), (PosixAttributes{messages, size, 0})) << Hint(
        "without limits pass a null mq_attr: the kernel applies "
        "/proc/sys/fs/mqueue/msg_default and msgsize_default");
  });
}

// Tests that the descriptors of Create and Open are close-on-exec (a program
// started later must not inherit the queue), and that Create makes the queue
// with mode 0600, readable and writable by its user alone.
TEST(Stage7PosixQueues, QueuesAreClosedOnExecAndPrivateToTheirUser) {
  const std::string name = kata::UniqueName("mode");
  const mode_t old_umask = umask(0);  // the mode as Create asks for it
  std::optional<PosixQueue> owner;
  try {
    owner.emplace(PosixQueue::Create(name, {2, 16}));
  } catch (...) {
    umask(old_umask);
    throw;
  }
  umask(old_umask);
  PosixQueue user = PosixQueue::Open(name);
  for (const PosixQueue* queue : {&*owner, &user}) {
    const char* what = queue == &user ? "Open" : "Create";
    EXPECT_EQ(fcntl(queue->descriptor(), F_GETFD) & FD_CLOEXEC, FD_CLOEXEC)
        << what << "'s descriptor survives exec"
        << Hint("mq_open(name, ... | O_CLOEXEC)");
  }
  struct stat info{};
  ASSERT_EQ(fstat(owner->descriptor(), &info), 0) << std::strerror(errno);
  EXPECT_EQ(info.st_mode & 07777, 0600u) << Hint(
      "mq_open(name, O_CREAT | O_EXCL | O_RDWR | O_CLOEXEC, 0600, "
      "...)");
}

// Tests move assignment in full: the target closes its old descriptor (and
// unlinks its old name if it owned it), takes the other's descriptor, name
// and duty, and leaves the other holding nothing; moving a queue onto itself
// keeps it.
TEST(Stage7PosixQueues, MoveAssignmentHandsOverTheQueue) {
  const std::string moved = kata::UniqueName("moved");
  const std::string old = kata::UniqueName("old");
  PosixQueue source = PosixQueue::Create(moved, {2, 16});
  const mqd_t moved_descriptor = source.descriptor();
  PosixQueue target = PosixQueue::Create(old, {2, 16});
  const mqd_t old_descriptor = target.descriptor();
  target = std::move(source);
  EXPECT_FALSE(NameExists(old))
      << Hint("move assignment over an owner unlinks its old name first");
  EXPECT_EQ(fcntl(old_descriptor, F_GETFD), -1)
      << "descriptor " << old_descriptor << " of the old queue is still open"
      << Hint("move assignment closes the old descriptor first");
  EXPECT_EQ(target.descriptor(), moved_descriptor);
  EXPECT_EQ(target.name(), moved) << Hint("take the other's name too");
  EXPECT_TRUE(target.owner());
  EXPECT_EQ(source.descriptor(), -1) << Hint(kMovedFromHoldsNothing);
  EXPECT_EQ(source.name(), "") << Hint(kMovedFromHoldsNothing);
  EXPECT_FALSE(source.owner()) << Hint(kMovedFromHoldsNothing);
  source = PosixQueue();  // destroys what `source` holds: nothing
  EXPECT_TRUE(NameExists(moved)) << Hint(kMovedFromHoldsNothing);

  PosixQueue& same = target;
  target = std::move(same);
  EXPECT_EQ(target.descriptor(), moved_descriptor)
      << Hint("moving a queue onto itself must change nothing");
  EXPECT_EQ(target.name(), moved);
  EXPECT_TRUE(RawMqSend(target.descriptor(), "still open", 0))
      << "self-move assignment closed the descriptor"
      << Hint("check `this != &other` before letting go of the old queue");

  PosixQueue user = PosixQueue::Open(moved);
  const std::string other = kata::UniqueName("other");
  user = PosixQueue::Create(other, {2, 16});
  EXPECT_TRUE(NameExists(moved))
      << "move assignment over a user unlinked the name it only used"
      << Hint("only the owner unlinks the name");
  EXPECT_EQ(user.name(), other);
}

// Tests that an object that holds no queue (default-made or moved from)
// closes and unlinks nothing when it is destroyed.
TEST(Stage7PosixQueues, AnEmptyObjectReleasesNothing) {
  PosixQueue full = PosixQueue::Create(kata::UniqueName("full"), {2, 16});
  std::optional<PosixQueue> empty;
  empty.emplace();
  std::optional<PosixQueue> moved_from;
  moved_from.emplace(std::move(full));
  std::optional<PosixQueue> holder;
  holder.emplace(std::move(*moved_from));
  kata::CallCounter calls;
  empty.reset();
  moved_from.reset();
  EXPECT_EQ(calls.Count({"mq_close", "close", "mq_unlink"}), 0) << Hint(
      "an object without a queue (descriptor -1) has nothing to "
      "close or unlink");
}

// Tests that descriptor 0 is a queue like any other: in a process whose
// standard input is closed, Create gets descriptor 0, uses it, and closes it
// and unlinks the name on destruction.
TEST(Stage7PosixQueues, DescriptorZeroIsAQueueLikeAnyOther) {
  kata::RunInChild([] {
    close(0);
    const std::string name = kata::UniqueName("zero");
    {
      PosixQueue queue = PosixQueue::Create(name, {2, 16});
      ASSERT_EQ(queue.descriptor(), 0) << Hint(kMinusOneIsTheError);
      queue.Send("zero", 1);
      EXPECT_EQ(queue.Receive(), (PosixMessage{1, "zero"}));
    }
    EXPECT_EQ(fcntl(0, F_GETFD), -1)
        << "descriptor 0 was left open" << Hint(kMinusOneIsTheError);
    EXPECT_FALSE(NameExists(name)) << Hint(kPosixUnlink);
  });
}

// Tests that Unlink gives up the name for good: when someone creates a new
// queue under the same name, the old owner's destructor leaves it alone.
TEST(Stage7PosixQueues, UnlinkLeavesANewQueueOfTheSameNameAlone) {
  const std::string name = kata::UniqueName("reused");
  UnlinkAtEnd cleanup{name};
  {
    PosixQueue first = PosixQueue::Create(name, {2, 16});
    first.Unlink();
    mq_attr attr{};
    attr.mq_maxmsg = 2;
    attr.mq_msgsize = 16;
    RawMq second(name, O_CREAT | O_EXCL | O_RDWR, &attr);
    ASSERT_TRUE(second.ok()) << std::strerror(errno);
  }
  EXPECT_TRUE(NameExists(name))
      << "destroying the first queue unlinked the second one's name"
      << Hint(
             "after Unlink this object owns no name: its destructor must "
             "not unlink again");
}

// Tests that Unlink takes the name away at once even while another process
// waits on the queue, and that the queue still works for both of them.
TEST(Stage7PosixQueues, UnlinkWhileAnotherProcessWaitsOnTheQueue) {
  kata::OnDeadlock("the child waits for the message sent after Unlink");
  const std::string name = kata::UniqueName("waited-on");
  PosixQueue queue = PosixQueue::Create(name, {2, 16});
  kata::Child receiver([&] {
    PosixQueue mine = PosixQueue::Open(name);
    EXPECT_EQ(mine.Receive(), (PosixMessage{3, "after unlink"}))
        << Hint("mq_unlink removes the name, not the queue");
  });
  EXPECT_TRUE(kata::WaitUntilBlocked(receiver.pid()));
  queue.Unlink();
  EXPECT_FALSE(NameExists(name)) << Hint("Unlink is mq_unlink(name)");
  queue.Send("after unlink", 3);
  receiver.Join();
}

// Tests that Create and Open report a failing mq_open (and a failing
// mq_getattr, where they read the message size once, up front), Unlink a
// failing mq_unlink and Attributes a failing mq_getattr, naming the call.
TEST(Stage7PosixQueues, FailingCallsAreReported) {
  ExpectEveryFailureReported(
      {"mq_open", "mq_getattr"}, [](const kata::FaultCase* fault) {
        RunOrExpectReported(fault, [] {
          PosixQueue queue =
              PosixQueue::Create(kata::UniqueName("fail"), {2, 16});
        });
      });
  PosixQueue existing = PosixQueue::Create(kata::UniqueName("open"), {2, 16});
  ExpectEveryFailureReported(
      {"mq_open", "mq_getattr"}, [&](const kata::FaultCase* fault) {
        RunOrExpectReported(fault, [&] {
          PosixQueue queue = PosixQueue::Open(existing.name());
        });
      });
  ExpectEveryFailureReported({"mq_unlink"}, [](const kata::FaultCase* fault) {
    PosixQueue queue = PosixQueue::Create(kata::UniqueName("unlink"), {2, 16});
    RunOrExpectReported(fault, [&] { queue.Unlink(); });
  });
  ExpectEveryFailureReported({"mq_getattr"}, [&](const kata::FaultCase* fault) {
    RunOrExpectReported(fault, [&] { (void)existing.Attributes(); });
  });
}

// Tests that Create, Open, Unlink, Attributes and the destructor go through
// their mq_* calls and nothing else, and that the descriptor is a POSIX
// queue's.
TEST(Stage7PosixQueues, EachCallUsesItsOwnSystemCall) {
  const std::string name = kata::UniqueName("calls");
  kata::MechanismWatch watch;
  std::optional<PosixQueue> owner, user;
  ExpectOnlyPosix("Create",
                  [&] { owner.emplace(PosixQueue::Create(name, {2, 16})); },
                  {"mq_open"});
  ExpectOnlyPosix("Open", [&] { user.emplace(PosixQueue::Open(name)); },
                  {"mq_open"});
  EXPECT_EQ(kata::DescriptorKind(getpid(), owner->descriptor()), "mqueue")
      << Hint("Create's descriptor is mq_open's");
  EXPECT_EQ(kata::DescriptorKind(getpid(), user->descriptor()), "mqueue")
      << Hint("Open's descriptor is mq_open's");
  ExpectOnlyPosix("Attributes", [&] { (void)owner->Attributes(); },
                  {"mq_getattr"});
  ExpectOnlyPosix("the user's destructor", [&] { user.reset(); }, {"mq_close"});
  ExpectOnlyPosix("Unlink", [&] { owner->Unlink(); }, {"mq_unlink"});
  owner.reset();
  kata::ExpectOnlyMechanism(watch, {"mqueue"}, "a POSIX message queue");
}

// =========================================================== Stage 8

// Tests the text size at mq_msgsize - 1, = and + 1: the first two go through
// whole, the last is EMSGSIZE for Send and TrySend alike (TrySend does not
// say "full" for it).
TEST(Stage8PosixMessages, TextSizeAtTheEdges) {
  PosixQueue queue = PosixQueue::Create(kata::UniqueName("sizes"), {2, 16});
  for (const std::size_t size : {15u, 16u}) {
    const std::string text(size, 's');
    queue.Send(text);
    EXPECT_EQ(queue.Receive(), (PosixMessage{0, text}));
    EXPECT_TRUE(queue.TrySend(text)) << "a text of " << size << " bytes";
    EXPECT_EQ(queue.ReceiveFor(0ms), (PosixMessage{0, text}));
  }
  const std::string too_long(17, 'x');
  ExpectSystemError([&] { queue.Send(too_long); }, std::errc::message_size,
                    "mq_", Hint("mq_send refuses a text over mq_msgsize"));
  ExpectSystemError([&] { (void)queue.TrySend(too_long); },
                    std::errc::message_size, "mq_",
                    Hint(kTrySendReportsOtherErrors));
}

// Tests priorities at the edges: 0 and sysconf(_SC_MQ_PRIO_MAX) - 1 arrive
// as sent, and _SC_MQ_PRIO_MAX itself is the kernel's EINVAL for Send and
// TrySend alike.
TEST(Stage8PosixMessages, PrioritiesAtTheEdges) {
  const unsigned limit = static_cast<unsigned>(sysconf(_SC_MQ_PRIO_MAX));
  PosixQueue queue = PosixQueue::Create(kata::UniqueName("prio"), {4, 16});
  queue.Send("top", limit - 1);
  ASSERT_TRUE(queue.TrySend("bottom", 0));
  EXPECT_EQ(queue.Receive(), (PosixMessage{limit - 1, "top"}));
  EXPECT_EQ(queue.ReceiveFor(0ms), (PosixMessage{0, "bottom"}));
  ExpectSystemError([&] { queue.Send("x", limit); },
                    std::errc::invalid_argument, "mq_",
                    Hint("a priority of _SC_MQ_PRIO_MAX or more is EINVAL"));
  ExpectSystemError([&] { (void)queue.TrySend("x", limit); },
                    std::errc::invalid_argument, "mq_",
                    Hint(kTrySendReportsOtherErrors));
}

// Tests that an empty message is a message for Receive and ReceiveFor: a
// length of 0 is not an error.
TEST(Stage8PosixMessages, EmptyMessagesAreMessages) {
  PosixQueue queue = PosixQueue::Create(kata::UniqueName("empty"), {2, 16});
  ASSERT_TRUE(RawMqSend(queue.descriptor(), "", 5));
  ASSERT_TRUE(RawMqSend(queue.descriptor(), "", 6));
  try {
    EXPECT_EQ(queue.Receive(), (PosixMessage{6, ""}));
    EXPECT_EQ(queue.ReceiveFor(0ms), (PosixMessage{5, ""}));
  } catch (const std::system_error& e) {
    ADD_FAILURE() << "receiving an empty message threw " << e.what()
                  << Hint(
                         "mq_receive returns the length, 0 for an empty "
                         "message: only -1 is an error");
  }
}

// Tests a queue created elsewhere with a message size above the default
// (64 KiB, allowed in a namespace of the test's own): Open, Receive and
// ReceiveFor take its largest messages whole.
TEST(Stage8PosixMessages, AMessageSizeSetElsewhereIsHonoured) {
  InOwnIpcNamespace([](bool own) {
    long size = ReadProcLong("/proc/sys/fs/mqueue/msgsize_max", 8192);
    if (own) {
      ASSERT_TRUE(WriteProc("/proc/sys/fs/mqueue/msgsize_max", "65536"));
      size = 65536;
    }
    const std::string name = kata::UniqueName("large");
    mq_attr attr{};
    attr.mq_maxmsg = 2;
    attr.mq_msgsize = size;
    RawMq created(name, O_CREAT | O_EXCL | O_RDWR, &attr);
    ASSERT_TRUE(created.ok()) << "the test's mq_open: " << std::strerror(errno);
    UnlinkAtEnd cleanup{name};
    const std::string largest(static_cast<std::size_t>(size), 'L');
    PosixQueue queue = PosixQueue::Open(name);
    for (int round = 0; round < 2; ++round) {
      ASSERT_TRUE(RawMqSend(created.get(), largest, 1));
      try {
        std::optional<PosixMessage> got;
        if (round == 0) {
          got = queue.Receive();
        } else {
          got = queue.ReceiveFor(0ms);
        }
        ASSERT_TRUE(got.has_value());
        EXPECT_EQ(kata::Difference(largest, got->text), "")
            << (round == 0 ? "Receive" : "ReceiveFor");
      } catch (const std::system_error& e) {
        ADD_FAILURE() << (round == 0 ? "Receive" : "ReceiveFor") << " threw "
                      << e.what() << Hint(kPosixBufferSize);
      }
    }
  });
}

// Tests that a Send on a full queue sleeps in the kernel until there is
// room, also after a TrySend found the queue full (which must not leave the
// descriptor non-blocking).
TEST(Stage8PosixMessages, SendSleepsWhileTheQueueIsFull) {
  kata::OnDeadlock("Send waits for room the child makes");
  const std::string name = kata::UniqueName("full");
  PosixQueue queue = PosixQueue::Create(name, {2, 16});
  ASSERT_TRUE(queue.TrySend("1"));
  ASSERT_TRUE(queue.TrySend("2"));
  EXPECT_FALSE(queue.TrySend("3"));
  EXPECT_EQ(RawAttr(queue.descriptor())->mq_flags & O_NONBLOCK, 0) << Hint(
      "TrySend must not leave the descriptor O_NONBLOCK: later "
      "calls would stop waiting");
  kata::Child watcher([&] {
    kata::ExpectNoBusyWaiting(
        kata::RunnerPid(), "Send on a full POSIX queue",
        Hint("a blocking Send is one mq_send, not a loop of tries and "
             "sleeps"));
    RawMq mine(name);
    RawMqTake(mine.get());
  });
  queue.Send("4");
  watcher.Join();
  EXPECT_EQ(RawAttr(queue.descriptor())->mq_curmsgs, 2);
}

// Tests that a Receive on an empty queue sleeps in the kernel.
TEST(Stage8PosixMessages, ReceiveSleepsWhileItWaits) {
  kata::OnDeadlock("Receive waits for the child's message");
  const std::string name = kata::UniqueName("sleep");
  PosixQueue queue = PosixQueue::Create(name, {2, 16});
  kata::Child watcher([&] {
    kata::ExpectNoBusyWaiting(
        kata::RunnerPid(), "Receive on an empty POSIX queue",
        Hint("a blocking Receive is one mq_receive, not a loop of tries and "
             "sleeps"));
    RawMq mine(name);
    RawMqSend(mine.get(), "wake up", 2);
  });
  EXPECT_EQ(queue.Receive(), (PosixMessage{2, "wake up"}));
  watcher.Join();
}

// Tests that ReceiveFor on an empty queue sleeps in the kernel for the whole
// timeout, one second here, and comes back neither early nor late.
TEST(Stage8PosixMessages, ReceiveForSleepsForTheWholeTimeout) {
  const std::string name = kata::UniqueName("second");
  PosixQueue queue = PosixQueue::Create(name, {2, 16});
  kata::Child watcher([] {
    kata::ExpectNoBusyWaiting(
        kata::RunnerPid(), "ReceiveFor(1000ms) on an empty queue",
        Hint("ReceiveFor is one mq_timedreceive with an absolute deadline, "
             "not a loop of tries and sleeps"));
  });
  const auto start = Clock::now();
  std::optional<PosixMessage> got;
  try {
    got = queue.ReceiveFor(1000ms);
  } catch (const std::system_error& e) {
    ADD_FAILURE() << "ReceiveFor threw " << e.what() << Hint(kAbsoluteDeadline);
  }
  const auto took = Clock::now() - start;
  EXPECT_EQ(got, std::nullopt);
  ExpectTookTheTimeout(took, 1000ms, "ReceiveFor(1000ms)",
                       Hint(kAbsoluteDeadline));
  watcher.Join();
}

// Tests that ReceiveFor keeps its deadline while a signal arrives every 2 ms
// (each one ends mq_timedreceive with EINTR): it neither gives up early nor
// starts the timeout over.
TEST(Stage8PosixMessages, ReceiveForHoldsItsDeadlineUnderASignalStorm) {
  kata::OnDeadlock(std::string("ReceiveFor under a signal storm: ") +
                   kSameDeadline);
  PosixQueue queue = PosixQueue::Create(kata::UniqueName("storm"), {2, 16});
  std::optional<PosixMessage> got;
  Clock::duration took{};
  {
    kata::SignalStorm storm(kata::RunnerPid(), SIGUSR1);
    const auto start = Clock::now();
    try {
      got = queue.ReceiveFor(999ms);
    } catch (const std::system_error& e) {
      ADD_FAILURE() << "ReceiveFor threw " << e.what() << Hint(kSameDeadline);
    }
    took = Clock::now() - start;
  }
  EXPECT_EQ(got, std::nullopt);
  ExpectTookTheTimeout(took, 999ms, "ReceiveFor(999ms) under signals",
                       Hint(kSameDeadline));
}

// Tests a deadline that needs a carry: 5 ms before a whole second, now +
// 100 ms has more than 1e9 nanoseconds unless they carry into the seconds,
// which the kernel refuses (EINVAL).
TEST(Stage8PosixMessages, ReceiveForCarriesNanosecondsIntoSeconds) {
  PosixQueue queue = PosixQueue::Create(kata::UniqueName("carry"), {2, 16});
  kata::SleepUntilBeforeSecondBoundary(5ms);
  const auto start = Clock::now();
  std::optional<PosixMessage> got;
  try {
    got = queue.ReceiveFor(100ms);
  } catch (const std::system_error& e) {
    ADD_FAILURE() << "ReceiveFor threw " << e.what()
                  << Hint("carry tv_nsec over 999999999 into tv_sec",
                          README "#stage-8-posix-priorities-and-timeouts");
  }
  EXPECT_EQ(got, std::nullopt);
  ExpectTookTheTimeout(Clock::now() - start, 100ms,
                       "ReceiveFor(100ms) across a second boundary",
                       Hint(kAbsoluteDeadline));
}

// Tests that every blocking call site retries EINTR: each mq_send,
// mq_timedsend, mq_receive and mq_timedreceive of Send, TrySend, Receive and
// ReceiveFor is interrupted once before it gets through, and each call still
// gives the result it would have given.
TEST(Stage8PosixMessages, EveryBlockingCallSiteRetriesEintr) {
  PosixQueue queue = PosixQueue::Create(kata::UniqueName("eintr"), {2, 16});
  const mqd_t raw = queue.descriptor();
  auto eintr = kata::InjectedFault::InterruptEach(
      {"mq_send", "mq_timedsend", "mq_receive", "mq_timedreceive"});
  eintr.OnlyIn(kata::RunnerPid());
  auto expect_done = [](std::string_view what, const std::function<void()>& f) {
    try {
      f();
    } catch (const std::system_error& e) {
      ADD_FAILURE() << what << " threw " << e.what()
                    << Hint(
                           "mq_send and mq_receive fail with EINTR when a "
                           "handler runs: retry EINTR");
    }
  };
  expect_done("Send", [&] { queue.Send("a", 1); });
  EXPECT_EQ(Quietly([&] { return RawMqTake(raw); }), (PosixMessage{1, "a"}));
  expect_done("TrySend", [&] {
    if (!queue.TrySend("b", 2)) {
      ADD_FAILURE() << "TrySend on an empty queue said full";
      Quietly([&] { return RawMqSend(raw, "b", 2); });  // for Receive below
    }
  });
  expect_done("Receive",
              [&] { EXPECT_EQ(queue.Receive(), (PosixMessage{2, "b"})); });
  expect_done("TrySend", [&] { EXPECT_TRUE(queue.TrySend("c")); });
  expect_done("TrySend", [&] { EXPECT_TRUE(queue.TrySend("d")); });
  expect_done("TrySend on a full queue",
              [&] { EXPECT_FALSE(queue.TrySend("e")); });
  expect_done("ReceiveFor", [&] {
    EXPECT_EQ(queue.ReceiveFor(0ms), (PosixMessage{0, "c"}));
    EXPECT_EQ(queue.ReceiveFor(50ms), (PosixMessage{0, "d"}));
  });
  expect_done("ReceiveFor on an empty queue", [&] {
    const auto start = Clock::now();
    EXPECT_EQ(queue.ReceiveFor(30ms), std::nullopt);
    ExpectTookTheTimeout(Clock::now() - start, 30ms, "ReceiveFor(30ms)",
                         Hint(kSameDeadline));
  });
  EXPECT_GE(eintr.fired(), 9)
      << "fewer interrupted calls than the call sites above make";
}

// Tests that a Receive and a Send blocked in the kernel and hit by a real
// signal (its handler without SA_RESTART) go on waiting and finish.
TEST(Stage8PosixMessages, BlockedReceiveAndSendSurviveASignal) {
  kata::OnDeadlock("Receive and Send wait for the child");
  kata::InterruptingSignal interrupt(SIGUSR1);
  const std::string name = kata::UniqueName("signal");
  PosixQueue queue = PosixQueue::Create(name, {1, 16});
  kata::Child sender([&] {
    kata::InterruptRunnerWhenBlocked(SIGUSR1);
    RawMq mine(name);
    RawMqSend(mine.get(), "after the signal", 4);
  });
  try {
    EXPECT_EQ(queue.Receive(), (PosixMessage{4, "after the signal"}));
  } catch (const std::system_error& e) {
    ADD_FAILURE() << "Receive threw " << e.what() << Hint("retry EINTR");
  }
  sender.Join();
  ASSERT_TRUE(RawMqSend(queue.descriptor(), "fills it", 0));
  kata::Child receiver([&] {
    kata::InterruptRunnerWhenBlocked(SIGUSR1);
    RawMq mine(name);
    RawMqTake(mine.get());
  });
  try {
    queue.Send("waited", 0);
  } catch (const std::system_error& e) {
    ADD_FAILURE() << "Send threw " << e.what() << Hint("retry EINTR");
  }
  receiver.Join();
  EXPECT_EQ(RawMqTake(queue.descriptor()), (PosixMessage{0, "waited"}));
}

// Tests that the POSIX calls leave the caller's signals as they were: a
// blocked signal stays blocked and pending (SIGALRM, which a timeout built on
// alarm() would take), a handler stays installed and does not run, an
// ignored signal stays ignored.
TEST(Stage8PosixMessages, CallsLeaveTheCallersSignalsAlone) {
  kata::CallerSignal alarm = kata::CallerSignal::BlockedAndPending(SIGALRM);
  kata::CallerSignal user = kata::CallerSignal::Handled(SIGUSR1);
  kata::CallerSignal pipe = kata::CallerSignal::Ignored(SIGPIPE);
  const std::string name = kata::UniqueName("signals");
  auto kept = [](std::string_view what, const std::function<void()>& call) {
    kata::ExpectSignalStateKept state{std::string(what)};
    call();
  };
  std::optional<PosixQueue> queue, opened;
  kept("Create", [&] { queue.emplace(PosixQueue::Create(name, {2, 16})); });
  kept("Open", [&] { opened.emplace(PosixQueue::Open(name)); });
  kept("Send", [&] { queue->Send("a", 1); });
  kept("TrySend", [&] { (void)queue->TrySend("b", 2); });
  kept("TrySend on a full queue", [&] { (void)queue->TrySend("c", 3); });
  kept("Attributes", [&] { (void)queue->Attributes(); });
  kept("Receive", [&] { (void)queue->Receive(); });
  kept("ReceiveFor", [&] { (void)queue->ReceiveFor(0ms); });
  kept("ReceiveFor on an empty queue", [&] { (void)queue->ReceiveFor(20ms); });
  kept("the user's destructor", [&] { opened.reset(); });
  kept("Unlink", [&] { queue->Unlink(); });
  kept("the destructor", [&] { queue.reset(); });
  EXPECT_EQ(user.deliveries(), 0)
      << "a signal handler ran although nobody sent the signal";
}

// Tests that Send, TrySend, Receive and ReceiveFor report each failing
// mq_* call (a timeout is ETIMEDOUT alone; "full" is the full queue alone).
TEST(Stage8PosixMessages, FailingCallsAreReported) {
  PosixQueue queue = PosixQueue::Create(kata::UniqueName("fail"), {2, 16});
  const mqd_t raw = queue.descriptor();
  auto drain = [&] {
    Quietly([&] {
      while (RawMqTake(raw)) {
      }
      return 0;
    });
  };
  ExpectEveryFailureReported(
      {"mq_send", "mq_timedsend"}, [&](const kata::FaultCase* fault) {
        RunOrExpectReported(fault, [&] { queue.Send("x"); });
        drain();
      });
  ExpectEveryFailureReported(
      {"mq_send", "mq_timedsend"}, [&](const kata::FaultCase* fault) {
        RunOrExpectReported(fault, [&] { (void)queue.TrySend("x"); });
        drain();
      });
  ExpectEveryFailureReported({"mq_getattr", "mq_receive", "mq_timedreceive"},
                             [&](const kata::FaultCase* fault) {
                               Quietly([&] { return RawMqSend(raw, "x", 0); });
                               RunOrExpectReported(
                                   fault, [&] { (void)queue.Receive(); });
                               drain();
                             });
  ExpectEveryFailureReported({"mq_getattr", "mq_receive", "mq_timedreceive"},
                             [&](const kata::FaultCase* fault) {
                               Quietly([&] { return RawMqSend(raw, "x", 0); });
                               RunOrExpectReported(
                                   fault, [&] { (void)queue.ReceiveFor(0ms); });
                               drain();
                             });
  ExpectEveryFailureReported(
      {"mq_getattr", "mq_receive", "mq_timedreceive"},
      [&](const kata::FaultCase* fault) {
        RunOrExpectReported(fault, [&] { (void)queue.ReceiveFor(10ms); });
      });
}

// Tests that Send, TrySend, Receive and ReceiveFor go through mq_* calls and
// nothing else.
TEST(Stage8PosixMessages, EachCallUsesItsOwnSystemCall) {
  PosixQueue queue = PosixQueue::Create(kata::UniqueName("calls"), {2, 16});
  kata::MechanismWatch watch;
  ExpectOnlyPosix("Send", [&] { queue.Send("a"); },
                  {"mq_send", "mq_timedsend"});
  ExpectOnlyPosix("TrySend", [&] { (void)queue.TrySend("b"); },
                  {"mq_send", "mq_timedsend"});
  ExpectOnlyPosix("Receive", [&] { (void)queue.Receive(); },
                  {"mq_receive", "mq_timedreceive"});
  ExpectOnlyPosix("ReceiveFor", [&] { (void)queue.ReceiveFor(0ms); },
                  {"mq_receive", "mq_timedreceive"});
  kata::ExpectOnlyMechanism(watch, {"mqueue"}, "a POSIX message queue");
}

}  // namespace
