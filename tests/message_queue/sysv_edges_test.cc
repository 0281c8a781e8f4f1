// Tests of the System V half of the message_queue kata (stages 1 to 6), by
// kind of mistake rather than by feature, each applied to every function it
// fits: the call that does the work and nothing else, the caller's signals
// left alone, EINTR at every call site, every limit at -1, = and +1, every
// failing system call reported, no busy waiting, and every parameter
// honoured (permissions, sizes, move assignment, id 0). Each test sits in
// the stage suite of the function it tests, so the stage table still reads
// "this function is done".
//
// Built with message_queue_test.cc against both the stub and the solution;
// the stages and their README anchors are registered there.

#include <signal.h>
#include <sys/ipc.h>
#include <sys/msg.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <climits>
#include <cstdio>
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
using kata::message_queue::Any;
using kata::message_queue::Call;
using kata::message_queue::Exactly;
using kata::message_queue::kRequestType;
using kata::message_queue::LowestUpTo;
using kata::message_queue::Message;
using kata::message_queue::Oversize;
using kata::message_queue::Serve;
using kata::message_queue::ServeOne;
using kata::message_queue::SysvQueue;
using namespace mq_test;  // NOLINT: the shared raw helpers and hints

constexpr char kTryReportsOtherErrors[] =
    "TrySend returns false only for a full queue (EAGAIN) and TryReceive "
    "std::nullopt only for 'nothing matches' (ENOMSG): every other error is "
    "a std::system_error";
constexpr char kMinusOneIsTheError[] =
    "msgget returns -1 on failure and any other value, 0 included, is a "
    "queue id";

std::string Octal(int mode) {
  char text[16];
  std::snprintf(text, sizeof(text), "0%03o", mode);
  return text;
}

std::string Upper(std::string_view text) {
  std::string upper(text);
  for (char& c : upper) {
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
  }
  return upper;
}

// Checks that `call` made at least one of `used` and no call of another
// mechanism, POSIX queues included.
void ExpectOnlySysv(std::string_view what, const std::function<void()>& call,
                    std::initializer_list<std::string_view> used) {
  kata::Calls forbidden = kNotAQueue;
  forbidden.insert(forbidden.end(), kPosixCalls.begin(), kPosixCalls.end());
  ExpectOnlyCalls(what, call, used, forbidden,
                  "a System V queue (msgget, msgsnd, msgrcv, msgctl)");
}

// =========================================================== Stage 1

// Tests that Create and CreatePrivate give the queue exactly the permission
// bits asked for, all nine of them.
TEST(Stage1QueueLifetime, PermissionBitsAreKeptBitForBit) {
  for (int mode : {0777, 0640, 0421, 0001, 0000}) {
    SysvQueue keyed = SysvQueue::Create(kata::UniqueSysvKey(), mode);
    SysvQueue unkeyed = SysvQueue::CreatePrivate(mode);
    EXPECT_EQ(Octal(ProcMode(keyed.id())), Octal(mode))
        << "Create(key, " << Octal(mode) << ")"
        << Hint(
               "the low 9 bits of msgget's msgflg are the permissions: pass "
               "them all");
    EXPECT_EQ(Octal(ProcMode(unkeyed.id())), Octal(mode))
        << "CreatePrivate(" << Octal(mode) << ")"
        << Hint("msgget(IPC_PRIVATE, IPC_CREAT | permissions)");
  }
}

// Tests that the permission bits hold for a caller without privileges: the
// owner of a queue of mode 0 may still open it (msgget asks for no access)
// and remove it, but sending, receiving and IPC_STAT fail with EACCES, each
// reported naming its call; TrySend and TryReceive report it too, rather than
// "full" or "empty".
TEST(Stage1QueueLifetime, PermissionsHoldWithoutPrivileges) {
  const key_t key = kata::UniqueSysvKey();
  SysvQueue owner = SysvQueue::Create(key, 0);
  RunUnprivileged([&] {
    std::optional<SysvQueue> user;
    try {
      user.emplace(SysvQueue::Open(key));
    } catch (const std::system_error& e) {
      FAIL() << "Open of a queue of mode 000 threw " << e.what()
             << Hint(
                    "Open is msgget(key, 0): it asks for no permission, so "
                    "it finds any queue; sending and receiving are checked "
                    "later");
    }
    EXPECT_EQ(user->id(), owner.id());
    const std::string denied = Hint("the kernel says EACCES: report it");
    ExpectSystemError([&] { user->Send(1, "x"); }, std::errc::permission_denied,
                      "msgsnd", denied);
    ExpectSystemError([&] { (void)user->TrySend(1, "x"); },
                      std::errc::permission_denied, "msgsnd",
                      Hint(kTryReportsOtherErrors));
    ExpectSystemError([&] { (void)user->Receive(); },
                      std::errc::permission_denied, "msgrcv", denied);
    ExpectSystemError([&] { (void)user->TryReceive(); },
                      std::errc::permission_denied, "msgrcv",
                      Hint(kTryReportsOtherErrors));
    ExpectSystemError([&] { (void)user->Status(); },
                      std::errc::permission_denied, "msgctl(IPC_STAT", denied);
    SysvQueue mine = SysvQueue::Open(key);
    mine.Remove();  // the creator may remove it, whatever the mode
    EXPECT_FALSE(QueueExists(owner.id()));
  });
}

// Tests that error messages name the key in hex (as ipcs -q lists keys), so
// a failure can be matched to its queue.
TEST(Stage1QueueLifetime, ErrorsNameTheKeyInHex) {
  RawQueue taken;
  const key_t unused = kata::UniqueSysvKey();
  for (const key_t key : {taken.key(), unused}) {
    char name[32];
    std::snprintf(name, sizeof(name), "key 0x%08x", static_cast<unsigned>(key));
    try {
      if (key == unused) {
        (void)SysvQueue::Open(key);
      } else {
        (void)SysvQueue::Create(key);
      }
      ADD_FAILURE() << "no error for " << name;
    } catch (const std::system_error& e) {
      EXPECT_NE(std::string(e.what()).find(name), std::string::npos)
          << "the message should name \"" << name << "\", it says " << e.what()
          << Hint("\"msgget(key 0x%08x)\"");
    }
  }
}

// Tests that 0 is a queue id like any other: the first queue of a fresh IPC
// namespace gets it, and Create, Open, Send, Receive, Status, Remove and the
// owner's destructor all work on it.
TEST(Stage1QueueLifetime, IdZeroIsAQueueLikeAnyOther) {
  InOwnIpcNamespace(
      [](bool own) {
        const key_t key = kata::UniqueSysvKey();
        int id = -1;
        {
          SysvQueue owner = SysvQueue::Create(key);
          id = owner.id();
          if (own) {
            ASSERT_EQ(id, 0) << "the first queue of a fresh namespace"
                             << Hint(kMinusOneIsTheError);
          }
          SysvQueue user = SysvQueue::Open(key);
          EXPECT_EQ(user.id(), id) << Hint(kMinusOneIsTheError);
          EXPECT_FALSE(user.owner());
          user.Send(2, "zero");
          EXPECT_EQ(owner.Status().messages, 1u);
          EXPECT_EQ(owner.Receive(), (Message{2, "zero"}));
        }
        EXPECT_FALSE(QueueExists(id))
            << "the owner's destructor left queue " << id
            << Hint("only -1 means 'no queue': remove when id >= 0");
      },
      /*posix=*/false);
  InOwnIpcNamespace(
      [](bool own) {
        SysvQueue unkeyed = SysvQueue::CreatePrivate();
        if (own) {
          ASSERT_EQ(unkeyed.id(), 0) << Hint(kMinusOneIsTheError);
        }
        const int id = unkeyed.id();
        unkeyed.Remove();
        EXPECT_FALSE(QueueExists(id)) << Hint("Remove works on queue 0 too");
        EXPECT_EQ(unkeyed.id(), -1);
      },
      /*posix=*/false);
}

// Tests move assignment in full: the target lets go of its old queue
// (removing it if it owned it, leaving it if it only used it), takes the
// other's id and duty, and leaves the other holding nothing; moving a queue
// onto itself keeps it.
TEST(Stage1QueueLifetime, MoveAssignmentHandsOverTheQueue) {
  SysvQueue source = SysvQueue::CreatePrivate();
  const int moved_id = source.id();
  SysvQueue target = SysvQueue::CreatePrivate();
  const int old_id = target.id();
  target = std::move(source);
  EXPECT_FALSE(QueueExists(old_id))
      << Hint("move assignment over an owner removes its old queue first");
  EXPECT_EQ(target.id(), moved_id) << Hint("take the other's id");
  EXPECT_TRUE(target.owner()) << Hint("take the other's duty to remove");
  EXPECT_EQ(source.id(), -1) << Hint(kMovedFromHoldsNothing);
  EXPECT_FALSE(source.owner()) << Hint(kMovedFromHoldsNothing);
  source = SysvQueue();  // destroys what `source` holds: nothing
  EXPECT_TRUE(QueueExists(moved_id)) << Hint(kMovedFromHoldsNothing);

  SysvQueue& same = target;
  target = std::move(same);
  EXPECT_EQ(target.id(), moved_id)
      << Hint("moving a queue onto itself must change nothing");
  EXPECT_TRUE(target.owner());
  EXPECT_TRUE(QueueExists(moved_id))
      << "self-move assignment removed the queue"
      << Hint("check `this != &other` before letting go of the old queue");

  const key_t key = kata::UniqueSysvKey();
  SysvQueue shared = SysvQueue::Create(key);
  SysvQueue user = SysvQueue::Open(key);
  user = std::move(target);
  EXPECT_TRUE(QueueExists(shared.id()))
      << "move assignment over a user removed the queue it only used"
      << Hint(kOnlyOwnerRemoves);
  EXPECT_TRUE(user.owner());
}

// Tests that Create, CreatePrivate and Open report a failing msgget, and that
// Remove and Status report a failing msgctl, naming the call.
TEST(Stage1QueueLifetime, FailingCallsAreReported) {
  ExpectEveryFailureReported({"msgget"}, [](const kata::FaultCase* fault) {
    RunOrExpectReported(fault, [] {
      SysvQueue queue = SysvQueue::Create(kata::UniqueSysvKey());
    });
  });
  ExpectEveryFailureReported({"msgget"}, [](const kata::FaultCase* fault) {
    RunOrExpectReported(fault,
                        [] { SysvQueue queue = SysvQueue::CreatePrivate(); });
  });
  RawQueue existing;
  ExpectEveryFailureReported({"msgget"}, [&](const kata::FaultCase* fault) {
    RunOrExpectReported(
        fault, [&] { SysvQueue queue = SysvQueue::Open(existing.key()); });
  });
  ExpectEveryFailureReported({"msgctl"}, [](const kata::FaultCase* fault) {
    SysvQueue queue = SysvQueue::CreatePrivate();
    RunOrExpectReported(fault, [&] { queue.Remove(); });
  });
}

// Tests that creating, opening and removing go through msgget and msgctl,
// and through nothing else.
TEST(Stage1QueueLifetime, EachCallUsesItsOwnSystemCall) {
  const key_t key = kata::UniqueSysvKey();
  std::optional<SysvQueue> owner, user, unkeyed;
  ExpectOnlySysv("Create", [&] { owner.emplace(SysvQueue::Create(key)); },
                 {"msgget"});
  ExpectOnlySysv("Open", [&] { user.emplace(SysvQueue::Open(key)); },
                 {"msgget"});
  ExpectOnlySysv("CreatePrivate",
                 [&] { unkeyed.emplace(SysvQueue::CreatePrivate()); },
                 {"msgget"});
  ExpectOnlySysv("Remove", [&] { owner->Remove(); }, {"msgctl"});
  ExpectOnlySysv("the owner's destructor", [&] { unkeyed.reset(); },
                 {"msgctl"});
}

// =========================================================== Stage 2

// Tests the text size at msgmax - 1, msgmax and msgmax + 1: the first two go
// through whole (and fit Receive's default capacity), the last is EINVAL
// naming msgsnd, for Send and TrySend alike.
TEST(Stage2TypedMessages, TextSizeLimitIsMsgmax) {
  const std::size_t max = Msgmax();
  SysvQueue queue = SysvQueue::CreatePrivate();
  for (const std::size_t size : {max - 1, max}) {
    const std::string text(size, 'm');
    queue.Send(1, text);
    EXPECT_EQ(kata::Difference(text, queue.Receive().text), "")
        << "a text of " << size << " bytes, msgmax " << max;
    EXPECT_TRUE(queue.TrySend(2, text)) << "a text of " << size << " bytes";
    EXPECT_EQ(RawTake(queue.id(), 2)->text.size(), size);
  }
  const std::string too_long(max + 1, 'x');
  ExpectSystemError([&] { queue.Send(1, too_long); },
                    std::errc::invalid_argument, "msgsnd",
                    Hint("msgsnd refuses a text longer than msgmax: EINVAL"));
  ExpectSystemError([&] { (void)queue.TrySend(1, too_long); },
                    std::errc::invalid_argument, "msgsnd",
                    Hint(kTryReportsOtherErrors));
  EXPECT_EQ(RawCount(queue.id()), 0u);
}

// Tests that a Receive waiting for a message sleeps in the kernel: it burns
// no CPU and does not wake up to poll.
TEST(Stage2TypedMessages, ReceiveSleepsWhileItWaits) {
  kata::OnDeadlock("Receive waits for the message the child sends");
  SysvQueue queue = SysvQueue::CreatePrivate();
  const int id = queue.id();
  kata::Child watcher([id] {
    kata::ExpectNoBusyWaiting(
        kata::RunnerPid(), "Receive on an empty queue",
        Hint("a blocking Receive is one msgrcv without IPC_NOWAIT, not a "
             "loop of tries and sleeps"));
    RawSend(id, 1, "wake up");
  });
  EXPECT_EQ(queue.Receive(), (Message{1, "wake up"}));
  watcher.Join();
}

// Tests that a Send waiting for room in a full queue sleeps in the kernel.
TEST(Stage2TypedMessages, SendSleepsWhileTheQueueIsFull) {
  kata::OnDeadlock("Send waits for room the child makes");
  SysvQueue queue = SysvQueue::CreatePrivate();
  const int id = queue.id();
  FillWithKilobytes(id);
  kata::Child watcher([id] {
    kata::ExpectNoBusyWaiting(
        kata::RunnerPid(), "Send on a full queue",
        Hint("a blocking Send is one msgsnd without IPC_NOWAIT, not a loop "
             "of tries and sleeps"));
    RawTake(id, 0);
  });
  queue.Send(2, std::string(1024, 's'));
  watcher.Join();
  EXPECT_TRUE(RawTake(id, 2).has_value());
}

// Tests that Send and Receive report a failing msgsnd and msgrcv.
TEST(Stage2TypedMessages, FailingCallsAreReported) {
  SysvQueue queue = SysvQueue::CreatePrivate();
  ExpectEveryFailureReported({"msgsnd"}, [&](const kata::FaultCase* fault) {
    RunOrExpectReported(fault, [&] { queue.Send(1, "x"); });
    Quietly([&] { return TakeAllRaw(queue.id()); });
  });
  ExpectEveryFailureReported({"msgrcv"}, [&](const kata::FaultCase* fault) {
    Quietly([&] { return RawSend(queue.id(), 1, "x"); });
    RunOrExpectReported(fault, [&] { (void)queue.Receive(); });
    Quietly([&] { return TakeAllRaw(queue.id()); });
  });
}

// Tests that Send and Receive go through msgsnd and msgrcv, and through
// nothing else.
TEST(Stage2TypedMessages, EachCallUsesItsOwnSystemCall) {
  SysvQueue queue = SysvQueue::CreatePrivate();
  ExpectOnlySysv("Send", [&] { queue.Send(1, "x"); }, {"msgsnd"});
  ExpectOnlySysv("Receive", [&] { (void)queue.Receive(); }, {"msgrcv"});
}

// =========================================================== Stage 3

// Tests message types at the edges: 1 and LONG_MAX are types for Send,
// Exactly and LowestUpTo alike, and TrySend and TryReceive refuse 0 as Send
// and Receive do, before any call is made.
TEST(Stage3SelectByType, TypesRunFromOneToLongMax) {
  SysvQueue queue = SysvQueue::CreatePrivate();
  queue.Send(LONG_MAX, "max");
  queue.Send(1, "one");
  EXPECT_EQ(queue.Receive(Exactly(LONG_MAX)), (Message{LONG_MAX, "max"}))
      << Hint(kExactlyIsPositive);
  EXPECT_EQ(queue.Receive(LowestUpTo(1)), (Message{1, "one"}))
      << Hint(kLowestUpToIsNegative);
  ASSERT_TRUE(queue.TrySend(LONG_MAX, "max"));
  ASSERT_TRUE(queue.TrySend(1, "one"));
  EXPECT_EQ(queue.TryReceive(Exactly(1)), (Message{1, "one"}));
  EXPECT_EQ(queue.TryReceive(LowestUpTo(LONG_MAX)), (Message{LONG_MAX, "max"}));
  kata::CallCounter calls;
  EXPECT_THROW((void)queue.TrySend(0, "zero"), std::invalid_argument)
      << Hint(kTypeMustBePositive);
  EXPECT_THROW((void)queue.TryReceive(Exactly(0)), std::invalid_argument)
      << Hint(kSelectorTypes);
  EXPECT_THROW((void)queue.TryReceive(LowestUpTo(-1)), std::invalid_argument)
      << Hint(kSelectorTypes);
  EXPECT_EQ(calls.Count({"msgsnd", "msgrcv"}), 0) << Hint(kSelectorTypes);
}

// =========================================================== Stage 4

// Tests that every blocking call site retries EINTR: each msgsnd and msgrcv
// of Send, Receive, Call, ServeOne and Serve is interrupted once before it
// gets through, and each still does its whole job.
TEST(Stage4WaitingAndNotWaiting, EveryBlockingCallSiteRetriesEintr) {
  SysvQueue queue = SysvQueue::CreatePrivate();
  const int id = queue.id();
  auto eintr = kata::InjectedFault::InterruptEach({"msgsnd", "msgrcv"});
  eintr.OnlyIn(kata::RunnerPid());
  auto expect_done = [](std::string_view what, const std::function<void()>& f) {
    try {
      f();
    } catch (const std::system_error& e) {
      ADD_FAILURE() << what << " threw " << e.what() << Hint(kRetryEintr);
    }
  };
  expect_done("Send", [&] { queue.Send(3, "sent"); });
  EXPECT_EQ(Quietly([&] { return RawTake(id, 3); }), (Message{3, "sent"}));
  Quietly([&] { return RawSend(id, 4, "received"); });
  expect_done("Receive",
              [&] { EXPECT_EQ(queue.Receive(), (Message{4, "received"})); });
  Quietly([&] { return RawSend(id, 7, "reply"); });  // waiting already
  expect_done("Call", [&] { EXPECT_EQ(Call(queue, 7, "request"), "reply"); });
  EXPECT_EQ(Quietly([&] { return RawTake(id, kRequestType); }),
            (Message{kRequestType, RequestText(7, "request")}));
  Quietly([&] { return RawSend(id, kRequestType, RequestText(8, "a")); });
  expect_done("ServeOne", [&] { EXPECT_EQ(ServeOne(queue, Upper), 8); });
  EXPECT_EQ(Quietly([&] { return RawTake(id, 8); }), (Message{8, "A"}));
  Quietly([&] { return RawSend(id, kRequestType, RequestText(9, "b")); });
  Quietly([&] { return RawSend(id, kRequestType, RequestText(9, "c")); });
  expect_done("Serve", [&] { Serve(queue, Upper, 2); });
  EXPECT_EQ(Quietly([&] { return TakeAllRaw(id); }),
            (std::vector<Message>{{9, "B"}, {9, "C"}}));
  EXPECT_GE(eintr.fired(), 10)
      << "fewer interrupted calls than the call sites above make";
}

// Tests that the System V calls leave the caller's signals as they were: a
// blocked signal stays blocked and pending, a handler stays installed and
// does not run, an ignored signal stays ignored.
TEST(Stage4WaitingAndNotWaiting, CallsLeaveTheCallersSignalsAlone) {
  kata::CallerSignal alarm = kata::CallerSignal::BlockedAndPending(SIGALRM);
  kata::CallerSignal user = kata::CallerSignal::Handled(SIGUSR1);
  kata::CallerSignal pipe = kata::CallerSignal::Ignored(SIGPIPE);
  const key_t key = kata::UniqueSysvKey();
  auto kept = [](std::string_view what, const std::function<void()>& call) {
    kata::ExpectSignalStateKept state{std::string(what)};
    call();
  };
  std::optional<SysvQueue> queue, user_queue, unkeyed;
  kept("Create", [&] { queue.emplace(SysvQueue::Create(key)); });
  kept("Open", [&] { user_queue.emplace(SysvQueue::Open(key)); });
  kept("CreatePrivate", [&] { unkeyed.emplace(SysvQueue::CreatePrivate()); });
  kept("Send", [&] { queue->Send(2, "x"); });
  kept("TrySend", [&] { (void)queue->TrySend(2, "y"); });
  kept("Receive", [&] { (void)queue->Receive(); });
  kept("TryReceive", [&] { (void)queue->TryReceive(); });
  kept("TryReceive of nothing", [&] { (void)queue->TryReceive(); });
  kept("Status", [&] { (void)queue->Status(); });
  RawSend(queue->id(), 5, "reply");
  kept("Call", [&] { (void)Call(*queue, 5, "request"); });
  kept("ServeOne", [&] { (void)ServeOne(*queue, Upper); });
  RawSend(queue->id(), kRequestType, RequestText(6, "z"));
  kept("Serve", [&] { Serve(*queue, Upper, 1); });
  kept("Remove", [&] { unkeyed->Remove(); });
  kept("the owner's destructor", [&] { queue.reset(); });
  EXPECT_EQ(user.deliveries(), 0)
      << "a signal handler ran although nobody sent the signal";
}

// Tests that TrySend, TryReceive and Status report a failing msgsnd, msgrcv
// and msgctl: "full" and "empty" are for EAGAIN and ENOMSG alone.
TEST(Stage4WaitingAndNotWaiting, FailingCallsAreReported) {
  SysvQueue queue = SysvQueue::CreatePrivate();
  ExpectEveryFailureReported({"msgsnd"}, [&](const kata::FaultCase* fault) {
    RunOrExpectReported(fault, [&] { (void)queue.TrySend(1, "x"); });
    Quietly([&] { return TakeAllRaw(queue.id()); });
  });
  ExpectEveryFailureReported({"msgrcv"}, [&](const kata::FaultCase* fault) {
    Quietly([&] { return RawSend(queue.id(), 1, "x"); });
    RunOrExpectReported(fault, [&] { (void)queue.TryReceive(); });
    Quietly([&] { return TakeAllRaw(queue.id()); });
  });
  ExpectEveryFailureReported({"msgctl"}, [&](const kata::FaultCase* fault) {
    RunOrExpectReported(fault, [&] { (void)queue.Status(); });
  });
}

// Tests that TrySend, TryReceive and Status report a queue that another
// holder removed (EINVAL or EIDRM), rather than "full" or "empty".
TEST(Stage4WaitingAndNotWaiting, ARemovedQueueIsAnErrorForEveryCall) {
  const key_t key = kata::UniqueSysvKey();
  SysvQueue owner = SysvQueue::Create(key);
  SysvQueue user = SysvQueue::Open(key);
  owner.Remove();
  const std::vector<std::errc> gone = {std::errc::invalid_argument,
                                       std::errc::identifier_removed};
  ExpectSystemError([&] { (void)user.TrySend(1, "x"); }, gone, "msgsnd",
                    Hint(kTryReportsOtherErrors));
  ExpectSystemError([&] { (void)user.TryReceive(); }, gone, "msgrcv",
                    Hint(kTryReportsOtherErrors));
  ExpectSystemError([&] { user.Send(1, "x"); }, gone, "msgsnd",
                    Hint(kReportFailures));
  ExpectSystemError([&] { (void)user.Receive(); }, gone, "msgrcv",
                    Hint(kReportFailures));
  ExpectSystemError([&] { (void)user.Status(); }, gone, "msgctl(IPC_STAT",
                    Hint(kReportFailures));
}

// Tests that removing a queue wakes a sender blocked on it (full) as well as
// a receiver, each with EIDRM: removal is the end for every waiter, whatever
// other processes still know the id.
TEST(Stage4WaitingAndNotWaiting, RemovalWakesEveryWaiter) {
  kata::OnDeadlock(std::string("a child waits on a removed queue: ") +
                   kEidrmIsFinal);
  const key_t key = kata::UniqueSysvKey();
  SysvQueue owner = SysvQueue::Create(key);
  FillWithKilobytes(owner.id());
  kata::Child sender([key] {
    SysvQueue mine = SysvQueue::Open(key);
    ExpectSystemError([&] { mine.Send(2, std::string(1024, 's')); },
                      std::errc::identifier_removed, "msgsnd",
                      Hint(kEidrmIsFinal));
  });
  kata::Child receiver([key] {
    SysvQueue mine = SysvQueue::Open(key);
    ExpectSystemError([&] { (void)mine.Receive(Exactly(99)); },
                      std::errc::identifier_removed, "msgrcv",
                      Hint(kEidrmIsFinal));
  });
  const bool both_blocked = kata::WaitUntilBlocked(sender.pid()) &&
                            kata::WaitUntilBlocked(receiver.pid());
  EXPECT_TRUE(both_blocked) << "a child never waited";
  owner.Remove();
  sender.Join();
  receiver.Join();
}

// Tests that TrySend, TryReceive and Status go through msgsnd, msgrcv and
// msgctl, and through nothing else.
TEST(Stage4WaitingAndNotWaiting, EachCallUsesItsOwnSystemCall) {
  SysvQueue queue = SysvQueue::CreatePrivate();
  ExpectOnlySysv("TrySend", [&] { (void)queue.TrySend(1, "x"); }, {"msgsnd"});
  ExpectOnlySysv("TryReceive", [&] { (void)queue.TryReceive(); }, {"msgrcv"});
  ExpectOnlySysv("Status", [&] { (void)queue.Status(); }, {"msgctl"});
}

// =========================================================== Stage 5

// Tests the capacity at the message's length - 1, = and + 1, for Receive and
// TryReceive: one byte short is E2BIG with the message kept, or with
// kTruncate a cut of exactly that byte; the length itself and one more fit.
TEST(Stage5OversizedMessages, CapacityLimitIsExact) {
  SysvQueue queue = SysvQueue::CreatePrivate();
  const int id = queue.id();
  const std::string ten = "0123456789";
  ASSERT_TRUE(RawSend(id, 1, ten));
  ExpectSystemError([&] { (void)queue.Receive(Any(), 9); },
                    std::errc::argument_list_too_long, "msgrcv",
                    Hint(kE2bigByDefault));
  ExpectSystemError([&] { (void)queue.TryReceive(Any(), 9); },
                    std::errc::argument_list_too_long, "msgrcv",
                    Hint(kE2bigByDefault));
  ASSERT_EQ(RawCount(id), 1u) << Hint(kE2bigByDefault);
  EXPECT_EQ(queue.Receive(Any(), 9, Oversize::kTruncate),
            (Message{1, "012345678"}))
      << Hint(kTruncateIsMsgNoerror);
  ASSERT_TRUE(RawSend(id, 2, ten));
  EXPECT_EQ(queue.TryReceive(Any(), 9, Oversize::kTruncate),
            (Message{2, "012345678"}))
      << "TryReceive must honour Oversize too" << Hint(kTruncateIsMsgNoerror);
  for (const std::size_t capacity : {ten.size(), ten.size() + 1}) {
    ASSERT_TRUE(RawSend(id, 3, ten));
    EXPECT_EQ(queue.Receive(Any(), capacity), (Message{3, ten}))
        << "capacity " << capacity;
    ASSERT_TRUE(RawSend(id, 4, ten));
    EXPECT_EQ(queue.TryReceive(Any(), capacity, Oversize::kTruncate),
              (Message{4, ten}))
        << "capacity " << capacity;
  }
  EXPECT_EQ(RawCount(id), 0u);
}

// =========================================================== Stage 6

// Tests the request's length at the edges: 7 bytes hold no client id (an
// error, and no reply), 8 bytes are an id with an empty body, 9 bytes an id
// and one byte of body.
TEST(Stage6OneQueueServer, RequestLengthAtTheEdges) {
  SysvQueue queue = SysvQueue::CreatePrivate();
  const int id = queue.id();
  ASSERT_TRUE(RawSend(id, kRequestType, RequestText(5, "").substr(0, 7)));
  EXPECT_THROW((void)ServeOne(queue, Upper), std::runtime_error)
      << Hint("a request shorter than a client id (8 bytes) has no client id");
  EXPECT_EQ(RawCount(id), 0u) << "a request of 7 bytes got a reply";
  std::vector<std::string> bodies;
  auto record = [&](std::string_view body) {
    bodies.emplace_back(body);
    return "ok";
  };
  ASSERT_TRUE(RawSend(id, kRequestType, RequestText(5, "")));
  ASSERT_TRUE(RawSend(id, kRequestType, RequestText(6, "b")));
  try {
    EXPECT_EQ(ServeOne(queue, record), 5) << "a request of exactly 8 bytes";
    EXPECT_EQ(ServeOne(queue, record), 6) << "a request of 9 bytes";
  } catch (const std::runtime_error& e) {
    ADD_FAILURE() << "ServeOne threw " << e.what()
                  << Hint(
                         "a request of exactly 8 bytes is a client id with "
                         "an empty body");
  }
  EXPECT_EQ(bodies, (std::vector<std::string>{"", "b"}))
      << Hint("the handler gets the text after the 8 bytes of the id");
  EXPECT_EQ(TakeAllRaw(id), (std::vector<Message>{{5, "ok"}, {6, "ok"}}));
}

// Tests client ids at the edges, on both sides: 2 is the smallest client id
// and LONG_MAX the largest (all 8 bytes of the id in use); Call refuses 1,
// and ServeOne refuses a request naming 1, 0 or a negative id.
TEST(Stage6OneQueueServer, ClientIdsRunFromTwoToLongMax) {
  SysvQueue queue = SysvQueue::CreatePrivate();
  const int id = queue.id();
  for (const long client : {2L, LONG_MAX}) {
    ASSERT_TRUE(RawSend(id, client, "waiting reply"));
    EXPECT_EQ(Call(queue, client, "ping"), "waiting reply")
        << "client " << client << Hint(kClientTakesOwnReplies);
    EXPECT_EQ(RawTake(id, kRequestType),
              (Message{kRequestType, RequestText(client, "ping")}))
        << "client " << client << Hint(kRequestFormat);
    ASSERT_TRUE(RawSend(id, kRequestType, RequestText(client, "pong")));
    EXPECT_EQ(ServeOne(queue, Upper), client) << Hint(kRequestFormat);
    EXPECT_EQ(RawTake(id, client), (Message{client, "PONG"}))
        << Hint(kReplyTypeIsClientId);
  }
  EXPECT_THROW((void)Call(queue, 1, "x"), std::invalid_argument);
  for (const long bad : {1L, 0L, -7L, LONG_MIN}) {
    ASSERT_TRUE(RawSend(id, kRequestType, RequestText(bad, "x")));
    EXPECT_THROW((void)ServeOne(queue, Upper), std::runtime_error)
        << "a request naming client " << bad
        << Hint("a client id must be > kRequestType: refuse any other");
  }
  EXPECT_EQ(RawCount(id), 0u) << "a refused request got a reply";
}

// Tests that Serve answers exactly as many requests as asked: none for 0,
// without waiting, and three for 3, leaving the fourth in the queue.
TEST(Stage6OneQueueServer, ServeAnswersExactlyThatMany) {
  kata::OnDeadlock("Serve(queue, handler, 0) waited for a request");
  SysvQueue queue = SysvQueue::CreatePrivate();
  const int id = queue.id();
  kata::CallCounter calls;
  Serve(queue, Upper, 0);
  EXPECT_EQ(calls.Count({"msgrcv", "msgsnd"}), 0)
      << Hint("Serve(..., 0) serves no request");
  for (const char* body : {"a", "b", "c", "d"}) {
    ASSERT_TRUE(RawSend(id, kRequestType, RequestText(3, body)));
  }
  Serve(queue, Upper, 3);
  EXPECT_EQ(
      TakeAllRaw(id),
      (std::vector<Message>{
          {kRequestType, RequestText(3, "d")}, {3, "A"}, {3, "B"}, {3, "C"}}))
      << Hint("Serve calls ServeOne exactly `requests` times");
}

// Tests that an exception from the handler reaches ServeOne's caller, and
// that no reply goes out for that request.
TEST(Stage6OneQueueServer, HandlerExceptionsReachTheCaller) {
  SysvQueue queue = SysvQueue::CreatePrivate();
  ASSERT_TRUE(RawSend(queue.id(), kRequestType, RequestText(4, "boom")));
  EXPECT_THROW((void)ServeOne(queue,
                              [](std::string_view) -> std::string {
                                throw std::domain_error("handler failed");
                              }),
               std::domain_error)
      << Hint("let the handler's exception through");
  EXPECT_EQ(RawCount(queue.id()), 0u) << "a failed request got a reply";
}

// Tests that Call and ServeOne wait for room in a full queue, as Send does:
// a request or a reply that does not fit now is sent when room comes, not
// dropped and not an error.
TEST(Stage6OneQueueServer, ClientAndServerWaitForRoom) {
  kata::OnDeadlock(
      "Call waits for a reply to a request that never went in, or ServeOne "
      "for room: send requests and replies with Send, which waits for room");
  SysvQueue queue = SysvQueue::CreatePrivate();
  const int id = queue.id();
  const std::string big(2048, 'b');
  FillWithKilobytes(id, 50);
  kata::Child room_maker([id] {
    if (kata::WaitUntilBlocked(kata::RunnerPid())) {
      for (int i = 0; i < 3; ++i) RawTake(id, 50);
    }
    if (RawTakeWithin(id, kRequestType)) RawSend(id, 7, "reply");
  });
  try {
    EXPECT_EQ(Call(queue, 7, big), "reply")
        << Hint("Call sends its request with Send, which waits for room");
  } catch (const std::system_error& e) {
    ADD_FAILURE() << "Call threw " << e.what();
  }
  room_maker.Join();
  // Room for the request alone: the reply must wait.
  TakeAllRaw(id);
  FillWithKilobytes(id, 50);
  RawTake(id, 50);
  ASSERT_TRUE(RawSend(id, kRequestType, RequestText(8, "x")));
  kata::Child reply_taker([id] {
    if (kata::WaitUntilBlocked(kata::RunnerPid())) {
      for (int i = 0; i < 3; ++i) RawTake(id, 50);
    }
  });
  EXPECT_EQ(ServeOne(queue, [&](std::string_view) { return big; }), 8);
  reply_taker.Join();
  std::optional<Message> reply = RawTake(id, 8);
  ASSERT_TRUE(reply.has_value())
      << "ServeOne's reply never went in"
      << Hint(
             "the reply is sent with Send, which waits for room: a reply "
             "dropped because the queue was full leaves its client waiting");
  EXPECT_EQ(reply->text.size(), big.size());
}

// Tests that Call waiting for its reply, and ServeOne waiting for a request,
// sleep in the kernel.
TEST(Stage6OneQueueServer, WaitingClientsAndServersSleep) {
  kata::OnDeadlock("Call and ServeOne wait for what the child sends");
  SysvQueue queue = SysvQueue::CreatePrivate();
  const int id = queue.id();
  kata::Child server([id] {
    kata::ExpectNoBusyWaiting(kata::RunnerPid(), "Call waiting for its reply",
                              Hint(kClientTakesOwnReplies));
    if (std::optional<Message> request = RawTakeWithin(id, kRequestType)) {
      RawSend(id, 7, "reply");
    }
  });
  EXPECT_EQ(Call(queue, 7, "request"), "reply");
  server.Join();
  kata::Child client([id] {
    kata::ExpectNoBusyWaiting(kata::RunnerPid(),
                              "ServeOne waiting for a request",
                              Hint(kServerTakesRequestsOnly));
    RawSend(id, kRequestType, RequestText(8, "hi"));
  });
  EXPECT_EQ(ServeOne(queue, Upper), 8);
  client.Join();
  EXPECT_EQ(RawTake(id, 8), (Message{8, "HI"}));
}

// Tests that Call and ServeOne, blocked and hit by a real signal whose
// handler has no SA_RESTART, go on waiting and finish their exchange.
TEST(Stage6OneQueueServer, BlockedCallAndServeOneSurviveASignal) {
  kata::OnDeadlock(std::string("Call and ServeOne wait for the child: ") +
                   kRetryEintr);
  kata::InterruptingSignal interrupt(SIGUSR1);
  SysvQueue queue = SysvQueue::CreatePrivate();
  const int id = queue.id();
  kata::Child server([id] {
    kata::InterruptRunnerWhenBlocked(SIGUSR1);
    if (RawTakeWithin(id, kRequestType)) RawSend(id, 7, "reply");
  });
  try {
    EXPECT_EQ(Call(queue, 7, "request"), "reply");
  } catch (const std::system_error& e) {
    ADD_FAILURE() << "Call threw " << e.what() << Hint(kRetryEintr);
  }
  server.Join();
  kata::Child client([id] {
    kata::InterruptRunnerWhenBlocked(SIGUSR1);
    RawSend(id, kRequestType, RequestText(8, "hi"));
  });
  try {
    EXPECT_EQ(ServeOne(queue, Upper), 8);
  } catch (const std::system_error& e) {
    ADD_FAILURE() << "ServeOne threw " << e.what() << Hint(kRetryEintr);
  }
  client.Join();
  Quietly([&] { return TakeAllRaw(id); });
}

// Tests that Call, ServeOne and Serve report each failing msgsnd and msgrcv.
TEST(Stage6OneQueueServer, FailingCallsAreReported) {
  SysvQueue queue = SysvQueue::CreatePrivate();
  const int id = queue.id();
  ExpectEveryFailureReported(
      {"msgsnd", "msgrcv"}, [&](const kata::FaultCase* fault) {
        Quietly([&] { return RawSend(id, 7, "reply"); });
        RunOrExpectReported(fault, [&] { (void)Call(queue, 7, "request"); });
        Quietly([&] { return TakeAllRaw(id); });
      });
  ExpectEveryFailureReported(
      {"msgsnd", "msgrcv"}, [&](const kata::FaultCase* fault) {
        Quietly([&] { return RawSend(id, kRequestType, RequestText(7, "x")); });
        RunOrExpectReported(fault, [&] { (void)ServeOne(queue, Upper); });
        Quietly([&] { return TakeAllRaw(id); });
      });
  ExpectEveryFailureReported(
      {"msgsnd", "msgrcv"}, [&](const kata::FaultCase* fault) {
        Quietly([&] {
          RawSend(id, kRequestType, RequestText(7, "x"));
          return RawSend(id, kRequestType, RequestText(8, "y"));
        });
        RunOrExpectReported(fault, [&] { Serve(queue, Upper, 2); });
        Quietly([&] { return TakeAllRaw(id); });
      });
}

// Tests that Call, ServeOne and Serve use nothing but the one System V queue
// they are given.
TEST(Stage6OneQueueServer, EachCallUsesOnlyTheQueue) {
  SysvQueue queue = SysvQueue::CreatePrivate();
  const int id = queue.id();
  RawSend(id, 7, "reply");
  ExpectOnlySysv("Call", [&] { (void)Call(queue, 7, "request"); }, {"msgsnd"});
  ExpectOnlySysv("ServeOne", [&] { (void)ServeOne(queue, Upper); }, {"msgrcv"});
  RawSend(id, kRequestType, RequestText(9, "x"));
  ExpectOnlySysv("Serve", [&] { Serve(queue, Upper, 1); }, {"msgsnd"});
  TakeAllRaw(id);
}

}  // namespace
