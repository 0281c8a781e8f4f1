// Tests of the mailbox kata, stage by stage. The same file is built against
// the learner's stub (//exercises/mailbox:mailbox_test) and against the
// reference solution (//solutions/mailbox:mailbox_test).
//
// Every test uses real POSIX message queues and, wherever two parties talk,
// real processes (kata::Child). The test's side of a conversation uses its
// own raw mq_* calls (RawQueue, Post) and never trusts the code under test to
// send or receive for it. Where a process must be waiting before the other
// acts, the test waits until the kernel reports it blocked
// (kata::WaitUntilBlocked) instead of sleeping and hoping.

#include "mailbox/mailbox.h"

#include <fcntl.h>
#include <mqueue.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <functional>
#include <memory>
#include <optional>
#include <ostream>
#include <set>
#include <sstream>
#include <string>
#include <string_view>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

#include "gtest/gtest.h"
#include "mailbox/inbox.h"
#include "tests/mailbox/mailbox_test_util.h"
#include "tests/support/kata.h"

namespace {

using namespace std::chrono_literals;
using kata::Hint;
using kata::InterruptingSignal;
using kata::InterruptRunnerWhenBlocked;
using kata::mailbox::Buffering;
using kata::mailbox::Inbox;
using kata::mailbox::Letter;
using kata::mailbox::Mailbox;
using kata::mailbox::SendResult;
using kata::mailbox::Wait;
using namespace mailbox_test;  // NOLINT: the kata tests' own helpers

#define README "exercises/mailbox/README.md"

KATA_STAGE(Stage1OneMailbox, "Stage 1, one mailbox, two processes",
           README "#stage-1-one-mailbox-two-processes");
KATA_STAGE(Stage2Waiting, "Stage 2, blocking, non-blocking and timeouts",
           README "#stage-2-blocking-non-blocking-and-timeouts");
KATA_STAGE(Stage3Capacity, "Stage 3, a bounded buffer",
           README "#stage-3-a-bounded-buffer");
KATA_STAGE(Stage4ManyToMany, "Stage 4, many senders, many receivers",
           README "#stage-4-many-senders-many-receivers");
KATA_STAGE(Stage5Ownership, "Stage 5, who owns a mailbox",
           README "#stage-5-who-owns-a-mailbox");
KATA_STAGE(Stage6DirectNaming, "Stage 6, an inbox per process",
           README "#stage-6-an-inbox-per-process");
KATA_STAGE(Stage7SymmetricReceive, "Stage 7, receive from one sender",
           README "#stage-7-receive-from-one-sender");
KATA_STAGE(Stage8Rendezvous, "Stage 8, zero capacity, the rendezvous",
           README "#stage-8-zero-capacity-the-rendezvous");

// ================================================================ Stage 1

// Tests that a message sent into a mailbox comes out, byte for byte, in
// another process reading the POSIX queue of that name with raw mq_receive.
TEST(Stage1OneMailbox, ChildReceivesWhatTheParentSent) {
  Mailbox box = Mailbox::Create(kata::UniqueName("box"));
  EXPECT_EQ(box.Send("hello, child"), SendResult::kSent);
  kata::SharedText received;
  kata::RunInChild([&] {
    RawQueue queue(box.name());
    received.Store(Show(queue.Receive()));
  });
  EXPECT_EQ(received.Load(), "hello, child") << Hint(
      "Send puts the text into the POSIX queue named name() as one "
      "message (mq_send)");
}

// Tests that messages a child puts into the queue come out of Receive as
// separate messages, in the order they were sent.
TEST(Stage1OneMailbox, MessagesKeepTheirBoundariesAndOrder) {
  Mailbox box = Mailbox::Create(kata::UniqueName("box"));
  kata::RunInChild([&] {
    RawQueue queue(box.name());
    for (const char* text : {"one", "two", "three"}) queue.Send(text);
  });
  EXPECT_EQ(Show(box.Receive()), "one");
  EXPECT_EQ(Show(box.Receive()), "two")
      << Hint("a message queue keeps each message whole and separate");
  EXPECT_EQ(Show(box.Receive()), "three");
}

// Tests order and priorities with a foreign sender: messages that a program
// sent with raw mq_send at priorities 9 and 5 overtake older ones of priority
// 0, as in any POSIX queue, and Receive reports each message's priority
// (and leaves it alone when no message comes).
TEST(Stage1OneMailbox, ForeignPrioritiesOvertakeAndAreReported) {
  Mailbox box = Mailbox::Create(kata::UniqueName("box"), {5, 32});
  auto post = [&] {
    kata::RunInChild([&] {  // a program that is not the kata's
      RawQueue queue(box.name());
      ASSERT_TRUE(queue.Send("old", 0));
      ASSERT_TRUE(queue.Send("urgent", 9));
      ASSERT_TRUE(queue.Send("soon", 5));
      ASSERT_TRUE(queue.Send("new", 0));
    });
  };
  post();
  std::string order;
  for (int i = 0; i < 4; ++i) {
    unsigned priority = 12345;
    const std::string text = Show(box.Receive(Wait::No(), &priority));
    order += text + "@" + std::to_string(priority) + " ";
  }
  EXPECT_EQ(order, "urgent@9 soon@5 old@0 new@0 ") << Hint(kPriorities);
  unsigned untouched = 12345;
  EXPECT_EQ(Show(box.Receive(Wait::No(), &untouched)), "(nothing)");
  EXPECT_EQ(untouched, 12345u)
      << "Receive changed *priority although no message came";
  post();
  order.clear();
  for (int i = 0; i < 4; ++i) order += Show(box.Receive(Wait::No())) + " ";
  EXPECT_EQ(order, "urgent soon old new ")
      << "without asking for priorities, the kernel's order still holds"
      << Hint(kPriorities);
}

// Tests that the mailbox sends every message with priority 0, whatever the
// wait, so that its own messages stay in the order they were sent.
TEST(Stage1OneMailbox, SendUsesPriorityZero) {
  Mailbox box = Mailbox::Create(kata::UniqueName("box"), {5, 32});
  box.Send("forever", Wait::Forever());
  box.Send("timed", Wait::For(1s));
  box.Send("now", Wait::No());
  kata::SharedText seen;
  kata::RunInChild([&] {
    RawQueue queue(box.name());
    for (int i = 0; i < 3; ++i) {
      unsigned priority = 12345;
      const std::string text = Show(queue.Receive(0ms, &priority));
      seen.Append(text + "@" + std::to_string(priority) + " ");
    }
  });
  EXPECT_EQ(seen.Load(), "forever@0 timed@0 now@0 ") << Hint(kPriorities);
}

// Tests that receiving takes a message out of the mailbox: no other receiver
// can get it again.
TEST(Stage1OneMailbox, ReceivingTakesTheMessageOut) {
  Mailbox box = Mailbox::Create(kata::UniqueName("box"));
  box.Send("once");
  EXPECT_EQ(Show(box.Receive()), "once");
  EXPECT_EQ(Depth(box.name()), 0)
      << "the message is still in the mailbox after it was received"
      << Hint(kExactlyOnce);
}

// Tests that a mailbox is a POSIX message queue: created with mq_open, used
// with mq_send and mq_receive (or their timed forms).
TEST(Stage1OneMailbox, IsAPosixMessageQueue) {
  kata::CallCounter calls;
  Mailbox box = Mailbox::Create(kata::UniqueName("box"));
  box.Send("x");
  box.Receive(Wait::For(1s));
  kata::ExpectUsed(calls, {"mq_open"}, 1, "a POSIX message queue (mq_open)");
  kata::ExpectUsed(calls, {"mq_send", "mq_timedsend"}, 1,
                   "a POSIX message queue (mq_send)");
  kata::ExpectUsed(calls, {"mq_receive", "mq_timedreceive"}, 1,
                   "a POSIX message queue (mq_receive)");
  EXPECT_TRUE(QueueExists(box.name()))
      << "no POSIX queue called " << box.name() << " exists"
      << Hint("create the queue with mq_open(name, O_CREAT | O_EXCL | ...)");
}

// Tests that another process opening the mailbox by name learns its
// capacity and message size from the queue itself.
TEST(Stage1OneMailbox, OpenFindsTheMailboxByName) {
  Mailbox box = Mailbox::Create(kata::UniqueName("box"), {4, 100});
  kata::RunInChild([&] {
    Mailbox same = Mailbox::Open(box.name());
    EXPECT_EQ(same.name(), box.name());
    EXPECT_EQ(same.capacity(), 4) << Hint(kBufferFromGetattr);
    EXPECT_EQ(same.max_message(), 100u) << Hint(kBufferFromGetattr);
    EXPECT_EQ(same.Send("via Open"), SendResult::kSent);
  });
  EXPECT_EQ(Show(box.Receive(Wait::For(1s))), "via Open");
}

// Tests that a user's handle receives the longest message the mailbox takes,
// however its creator sized it.
TEST(Stage1OneMailbox, UserReceivesTheLongestMessage) {
  Mailbox box = Mailbox::Create(kata::UniqueName("box"), {2, 4000});
  const std::string longest(4000, 'L');
  EXPECT_EQ(box.Send(longest), SendResult::kSent);
  kata::SharedText received;
  kata::RunInChild([&] {
    Mailbox user = Mailbox::Open(box.name());
    try {
      received.Store(Show(user.Receive(Wait::For(1s))));
    } catch (const std::system_error& e) {
      ADD_FAILURE() << "Receive threw " << e.what() << Hint(kBufferFromGetattr);
    }
  });
  EXPECT_EQ(received.Load().size(), longest.size()) << Hint(kBufferFromGetattr);
}

// Tests that empty and binary messages (zero bytes included) arrive intact.
TEST(Stage1OneMailbox, EmptyAndBinaryMessagesArriveIntact) {
  Mailbox box = Mailbox::Create(kata::UniqueName("box"));
  const std::string binary("\0\x01\xff zero\0bytes", 14);
  box.Send("");
  box.Send(binary);
  kata::SharedText received;
  kata::RunInChild([&] {
    RawQueue queue(box.name());
    const std::string first = Show(queue.Receive());
    received.Store(first + "|" + Show(queue.Receive()));
  });
  EXPECT_EQ(received.Load(), "|" + binary)
      << Hint("send text.size() bytes from text.data(): not a C string");
}

// Tests that a message longer than max_message is refused before anything
// is sent.
TEST(Stage1OneMailbox, TooLongAMessageIsRefused) {
  Mailbox box = Mailbox::Create(kata::UniqueName("box"), {2, 16});
  EXPECT_THROW(box.Send(std::string(17, 'x')), std::length_error)
      << "a text of 17 bytes; max_message is 16"
      << Hint(
             "check text.size() against max_message() and throw "
             "std::length_error");
  EXPECT_EQ(Depth(box.name()), 0);
  EXPECT_EQ(box.Send(std::string(16, 'x')), SendResult::kSent);
}

// Tests that names which are not of the form "/name" are refused before any
// queue is opened.
TEST(Stage1OneMailbox, BadNamesAreRefused) {
  kata::CallCounter calls;
  for (const std::string& name :
       {std::string("no-slash"), std::string("/two/slashes"), std::string("/"),
        std::string(""), "/" + std::string(100, 'n'),
        kata::UniqueName("x") + ".ready"}) {
    EXPECT_THROW(Mailbox::Create(name), std::invalid_argument)
        << "name \"" << name << "\""
        << Hint(
               "a mailbox name is '/' and 1 to 99 other characters, no "
               "second '/' (mq_overview(7)); check it and throw "
               "std::invalid_argument");
    EXPECT_THROW(Mailbox::Open(name), std::invalid_argument)
        << "name \"" << name << "\"";
  }
  EXPECT_EQ(calls.Count({"mq_open"}), 0)
      << Hint("check the name before calling mq_open");
}

// Tests that a negative capacity and an empty max_message are refused.
TEST(Stage1OneMailbox, ImpossibleBufferingIsRefused) {
  EXPECT_THROW(Mailbox::Create(kata::UniqueName("box"), {-1, 16}),
               std::invalid_argument)
      << Hint("a capacity below 0 makes no sense: std::invalid_argument");
  EXPECT_THROW(Mailbox::Create(kata::UniqueName("box"), {1, 0}),
               std::invalid_argument)
      << Hint("a mailbox for messages of at most 0 bytes makes no sense");
}

// Tests that opening a mailbox nobody created is an error naming mq_open and
// the mailbox (ENOENT), not a crash or a new mailbox.
TEST(Stage1OneMailbox, OpeningAMissingMailboxIsAnError) {
  const std::string name = kata::UniqueName("missing");
  ExpectSystemError([&] { Mailbox::Open(name); },
                    std::errc::no_such_file_or_directory, "mq_open(" + name,
                    Hint(kOpenNeverCreates));
  EXPECT_FALSE(QueueExists(name)) << Hint(kOpenNeverCreates);
}

// Tests that creating a mailbox whose name is taken fails (EEXIST) and leaves
// the existing mailbox alone.
TEST(Stage1OneMailbox, CreatingATakenNameFails) {
  Mailbox first = Mailbox::Create(kata::UniqueName("taken"));
  first.Send("mine");
  ExpectSystemError([&] { Mailbox::Create(first.name()); },
                    std::errc::file_exists, "mq_open(" + first.name(),
                    Hint("create with O_CREAT | O_EXCL: a taken name is "
                         "someone else's mailbox"));
  EXPECT_EQ(Show(first.Receive(Wait::No())), "mine")
      << Hint("a failed Create must not remove or empty the existing mailbox");
}

// ================================================================ Stage 2

// Tests that a blocking receive waits until a message comes.
TEST(Stage2Waiting, BlockingReceiveWaitsForASender) {
  kata::OnDeadlock("Receive never returned although a message was sent");
  Mailbox box = Mailbox::Create(kata::UniqueName("box"));
  kata::Child sender([&] {
    ASSERT_TRUE(kata::WaitUntilBlocked(kata::RunnerPid()));
    RawQueue(box.name()).Send("worth the wait");
  });
  EXPECT_EQ(Show(box.Receive(Wait::Forever())), "worth the wait");
  sender.Join();
}

// Tests that a non-blocking receive of an empty mailbox returns nothing at
// once. A helper process sends a message only once this process blocks, so a
// receive that waits gets that message instead of nothing.
TEST(Stage2Waiting, NonBlockingReceiveOfAnEmptyMailboxReturnsNothing) {
  Mailbox box = Mailbox::Create(kata::UniqueName("box"));
  kata::Child late_sender([&] {
    ASSERT_TRUE(kata::WaitUntilBlocked(kata::RunnerPid()));
    RawQueue(box.name()).Send("late");
  });
  EXPECT_EQ(Show(box.Receive(Wait::No())), "(nothing)")
      << Hint(kNonBlockingReceive);
  late_sender.Join();
  EXPECT_EQ(Show(box.Receive(Wait::No())), "late") << Hint(
      "a message that is there already is taken, even without "
      "waiting");
}

// Tests that a timed receive gives up after its timeout, and not before.
TEST(Stage2Waiting, TimedReceiveGivesUpAfterTheTimeout) {
  Mailbox box = Mailbox::Create(kata::UniqueName("box"));
  const auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(Show(box.Receive(Wait::For(150ms))), "(nothing)");
  EXPECT_GE(ElapsedSince(start), 140ms)
      << "Receive(Wait::For(150ms)) gave up too early"
      << Hint(kAbsoluteDeadline);
}

// Tests that a timed receive takes a message that comes before the timeout.
TEST(Stage2Waiting, TimedReceiveGetsAMessageThatComesInTime) {
  Mailbox box = Mailbox::Create(kata::UniqueName("box"));
  kata::Child sender([&] {
    ASSERT_TRUE(kata::WaitUntilBlocked(kata::RunnerPid()));
    RawQueue(box.name()).Send("in time");
  });
  EXPECT_EQ(Show(box.Receive(Wait::For(4s))), "in time")
      << Hint(kAbsoluteDeadline);
  sender.Join();
}

// Tests that a non-blocking send to a full mailbox returns kTimedOut at once.
// A helper process takes a message only once this process blocks, so a send
// that waits succeeds instead.
TEST(Stage2Waiting, NonBlockingSendToAFullMailboxTimesOut) {
  Mailbox box = Mailbox::Create(kata::UniqueName("box"), {2, 16});
  ASSERT_EQ(box.Send("1", Wait::No()), SendResult::kSent);
  ASSERT_EQ(box.Send("2", Wait::No()), SendResult::kSent);
  kata::Child late_receiver([&] {
    ASSERT_TRUE(kata::WaitUntilBlocked(kata::RunnerPid()));
    RawQueue(box.name()).Receive();
  });
  EXPECT_EQ(box.Send("3", Wait::No()), SendResult::kTimedOut)
      << Hint(kNonBlockingSend);
  late_receiver.Join();
  EXPECT_EQ(Depth(box.name()), 1) << "the refused message must not be queued";
}

// Tests that a timed send gives up when the mailbox stays full, and not
// before its timeout.
TEST(Stage2Waiting, TimedSendGivesUpWhenTheMailboxStaysFull) {
  Mailbox box = Mailbox::Create(kata::UniqueName("box"), {1, 16});
  ASSERT_EQ(box.Send("first"), SendResult::kSent);
  const auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(box.Send("second", Wait::For(150ms)), SendResult::kTimedOut);
  EXPECT_GE(ElapsedSince(start), 140ms)
      << "Send(Wait::For(150ms)) gave up too early" << Hint(kAbsoluteDeadline);
  EXPECT_EQ(Show(box.Receive(Wait::No())), "first");
}

// Tests that a blocking send into a full mailbox waits until a receiver
// makes room, then sends.
TEST(Stage2Waiting, BlockingSendWaitsForRoom) {
  kata::OnDeadlock("Send never returned although a receiver made room");
  Mailbox box = Mailbox::Create(kata::UniqueName("box"), {1, 16});
  ASSERT_EQ(box.Send("first"), SendResult::kSent);
  kata::SharedText taken;
  kata::Child receiver([&] {
    ASSERT_TRUE(kata::WaitUntilBlocked(kata::RunnerPid()));
    taken.Store(Show(RawQueue(box.name()).Receive()));
  });
  EXPECT_EQ(box.Send("second", Wait::Forever()), SendResult::kSent);
  receiver.Join();
  EXPECT_EQ(taken.Load(), "first");
  EXPECT_EQ(Show(box.Receive(Wait::No())), "second");
}

// Tests that a signal arriving while Receive waits does not end the wait.
TEST(Stage2Waiting, ReceiveCarriesOnAfterASignal) {
  InterruptingSignal interrupt(SIGUSR1);
  Mailbox box = Mailbox::Create(kata::UniqueName("box"));
  kata::Child sender([&] {
    InterruptRunnerWhenBlocked(SIGUSR1);
    RawQueue(box.name()).Send("after the signal");
  });
  try {
    EXPECT_EQ(Show(box.Receive(Wait::For(4s))), "after the signal")
        << Hint(kRetryEintr);
  } catch (const std::system_error& e) {
    ADD_FAILURE() << "Receive threw " << e.what() << Hint(kRetryEintr);
  }
  sender.Join();
}

// Tests that a signal arriving while Send waits for room does not end the
// wait.
TEST(Stage2Waiting, SendCarriesOnAfterASignal) {
  InterruptingSignal interrupt(SIGUSR1);
  Mailbox box = Mailbox::Create(kata::UniqueName("box"), {1, 16});
  ASSERT_EQ(box.Send("first"), SendResult::kSent);
  kata::Child receiver([&] {
    InterruptRunnerWhenBlocked(SIGUSR1);
    RawQueue(box.name()).Receive();
  });
  try {
    EXPECT_EQ(box.Send("second", Wait::Forever()), SendResult::kSent)
        << Hint(kRetryEintr);
  } catch (const std::system_error& e) {
    ADD_FAILURE() << "Send threw " << e.what() << Hint(kRetryEintr);
  }
  receiver.Join();
}

// ================================================================ Stage 3

// Tests that the queue has the capacity and message size asked for.
TEST(Stage3Capacity, QueueHasTheRequestedCapacityAndSize) {
  Mailbox box = Mailbox::Create(kata::UniqueName("box"), {3, 64});
  const mq_attr attr = QueueAttr(box.name());
  EXPECT_EQ(attr.mq_maxmsg, 3) << Hint(kCapacityIsMaxmsg);
  EXPECT_EQ(attr.mq_msgsize, 64) << Hint(kCapacityIsMaxmsg);
  EXPECT_EQ(box.capacity(), 3);
  EXPECT_EQ(box.max_message(), 64u);
}

// Tests that a mailbox of capacity 3 takes three messages and refuses a
// fourth until one is received.
TEST(Stage3Capacity, FullMailboxRefusesTheNextMessage) {
  Mailbox box = Mailbox::Create(kata::UniqueName("box"), {3, 16});
  for (const char* text : {"a", "b", "c"}) {
    EXPECT_EQ(box.Send(text, Wait::No()), SendResult::kSent) << text;
  }
  EXPECT_EQ(box.Send("d", Wait::No()), SendResult::kTimedOut)
      << "a mailbox of capacity 3 took a fourth message"
      << Hint(kCapacityIsMaxmsg);
  EXPECT_EQ(Depth(box.name()), 3);
  EXPECT_EQ(Show(box.Receive(Wait::No())), "a");
  EXPECT_EQ(box.Send("d", Wait::No()), SendResult::kSent)
      << Hint("receiving one message makes room for one more");
}

// Tests capacity 1: the mailbox holds one message at a time.
TEST(Stage3Capacity, CapacityOneHoldsOneMessageAtATime) {
  Mailbox box = Mailbox::Create(kata::UniqueName("box"), {1, 16});
  EXPECT_EQ(box.Send("only", Wait::No()), SendResult::kSent);
  EXPECT_EQ(box.Send("more", Wait::No()), SendResult::kTimedOut)
      << Hint(kCapacityIsMaxmsg);
  EXPECT_EQ(Show(box.Receive(Wait::No())), "only");
  EXPECT_EQ(box.Send("more", Wait::No()), SendResult::kSent);
}

// Tests that a sender runs ahead of its receiver by exactly the capacity: it
// blocks with `capacity` messages queued, then finishes as they are taken.
TEST(Stage3Capacity, SenderRunsAheadByTheCapacityOnly) {
  kata::OnDeadlock(
      "the sender never finished although every message was "
      "received");
  Mailbox box = Mailbox::Create(kata::UniqueName("box"), {2, 16});
  kata::Child sender([&] {
    Mailbox mine = Mailbox::Open(box.name());
    for (int i = 0; i < 6; ++i) mine.Send("m" + std::to_string(i));
  });
  EXPECT_TRUE(kata::WaitUntilBlocked(sender.pid()))
      << "the sender of 6 messages never blocked on a mailbox of capacity 2"
      << Hint(kCapacityIsMaxmsg);
  EXPECT_EQ(Depth(box.name()), 2)
      << "a blocked sender should have exactly `capacity` messages queued";
  for (int i = 0; i < 6; ++i) {
    EXPECT_EQ(Show(box.Receive(Wait::For(2s))), "m" + std::to_string(i));
  }
  sender.Join();
}

// Tests that Send returns as soon as the message is queued, while no other
// process exists that could receive it: sent is not received (POSIX mq is a
// bounded buffer, not a rendezvous).
TEST(Stage3Capacity, SendReturnsBeforeAnyoneReceives) {
  Mailbox box = Mailbox::Create(kata::UniqueName("box"), {1, 16});
  EXPECT_EQ(kata::ChildProcesses(), std::vector<pid_t>{});
  EXPECT_EQ(box.Send("anybody there?", Wait::Forever()), SendResult::kSent);
  EXPECT_EQ(Depth(box.name()), 1);
}

// ================================================================ Stage 4

// Tests who gets a message when two processes wait on one mailbox: exactly
// one of them. (Which one is up to the kernel: the test does not care.)
TEST(Stage4ManyToMany, TwoWaitingReceiversOneMessageEach) {
  kata::OnDeadlock("a receiver never got a message", 10s);
  Mailbox box = Mailbox::Create(kata::UniqueName("box"));
  kata::SharedText got_a, got_b;
  auto receive_one = [&](kata::SharedText& got) {
    return [&] {
      Mailbox mine = Mailbox::Open(box.name());
      got.Store(Show(mine.Receive(Wait::For(4s))));
    };
  };
  kata::Child a(receive_one(got_a));
  kata::Child b(receive_one(got_b));
  ASSERT_TRUE(kata::WaitUntilBlocked(a.pid()));
  ASSERT_TRUE(kata::WaitUntilBlocked(b.pid()));
  box.Send("first");
  box.Send("second");
  a.Join();
  b.Join();
  EXPECT_EQ((std::multiset<std::string>{got_a.Load(), got_b.Load()}),
            (std::multiset<std::string>{"first", "second"}))
      << "receiver A got " << got_a.Load() << ", receiver B got "
      << got_b.Load() << Hint(kExactlyOnce);
  EXPECT_EQ(Depth(box.name()), 0) << Hint(kExactlyOnce);
}

// Tests the many-to-many case: 4 sender processes send 1,000 messages each
// into one mailbox that 4 receiver processes drain. Every message must be
// received exactly once; how they are split among the receivers is the
// kernel's business and is not checked.
TEST(Stage4ManyToMany, FourByFourEachMessageExactlyOnce) {
  constexpr int kSenders = 4, kReceivers = 4, kEach = 1000;
  kata::OnDeadlock(
      "senders or receivers stopped moving: a lost message, a "
      "receiver that never stops, or a send that never returns",
      30s);
  kata::CallCounter calls;
  Mailbox box = Mailbox::Create(kata::UniqueName("many"), {10, 32});
  std::vector<std::unique_ptr<kata::SharedText>> seen;
  for (int r = 0; r < kReceivers; ++r) {
    seen.push_back(std::make_unique<kata::SharedText>(64 << 10));
  }
  std::vector<kata::Child> receivers;
  for (int r = 0; r < kReceivers; ++r) {
    receivers.emplace_back([&, r] {
      Mailbox mine = Mailbox::Open(box.name());
      std::string log;
      for (;;) {
        std::optional<std::string> message = mine.Receive(Wait::For(10s));
        ASSERT_TRUE(message) << "no message for 10 s" << Hint(kNoneLost);
        if (*message == "stop") break;
        log += *message + "\n";
      }
      seen[static_cast<std::size_t>(r)]->Store(log);
    });
  }
  std::vector<kata::Child> senders;
  for (int s = 0; s < kSenders; ++s) {
    senders.emplace_back([&, s] {
      Mailbox mine = Mailbox::Open(box.name());
      for (int n = 0; n < kEach; ++n) {
        ASSERT_EQ(mine.Send(std::to_string(s) + " " + std::to_string(n)),
                  SendResult::kSent);
      }
    });
  }
  for (kata::Child& sender : senders) sender.Join();
  // Every message is queued before these: each receiver stops at one.
  for (int r = 0; r < kReceivers; ++r) box.Send("stop");
  for (kata::Child& receiver : receivers) receiver.Join();

  std::vector<int> times(kSenders * kEach, 0);
  int out_of_order = 0;
  for (const auto& text : seen) {
    std::istringstream lines(text->Load());
    std::vector<int> last(kSenders, -1);
    int s, n;
    while (lines >> s >> n) {
      ASSERT_TRUE(s >= 0 && s < kSenders && n >= 0 && n < kEach);
      ++times[static_cast<std::size_t>(s * kEach + n)];
      // One queue is FIFO: a receiver meets each sender's messages in order.
      if (n < last[static_cast<std::size_t>(s)]) ++out_of_order;
      last[static_cast<std::size_t>(s)] = n;
    }
  }
  int twice = 0, never = 0;
  for (int count : times) {
    twice += count > 1;
    never += count == 0;
  }
  EXPECT_EQ(twice, 0) << twice << " messages were received more than once"
                      << Hint(kExactlyOnce);
  EXPECT_EQ(never, 0) << never << " messages were never received"
                      << Hint(kNoneLost);
  EXPECT_EQ(out_of_order, 0)
      << "a receiver got one sender's messages out of order";
  kata::ExpectUsed(calls, {"mq_send", "mq_timedsend"}, kSenders * kEach,
                   "a POSIX message queue (mq_send)");
  kata::ExpectUsed(calls, {"mq_receive", "mq_timedreceive"}, kSenders * kEach,
                   "a POSIX message queue (mq_receive)");
}

// Tests that two processes may share several mailboxes, and that each keeps
// its own messages.
TEST(Stage4ManyToMany, SeveralMailboxesBetweenOnePair) {
  Mailbox orders = Mailbox::Create(kata::UniqueName("orders"));
  Mailbox cancels = Mailbox::Create(kata::UniqueName("cancels"));
  kata::RunInChild([&] {
    Mailbox my_orders = Mailbox::Open(orders.name());
    Mailbox my_cancels = Mailbox::Open(cancels.name());
    my_orders.Send("order 1");
    my_cancels.Send("cancel 1");
    my_orders.Send("order 2");
  });
  EXPECT_EQ(Show(cancels.Receive(Wait::No())), "cancel 1");
  EXPECT_EQ(Show(cancels.Receive(Wait::No())), "(nothing)");
  EXPECT_EQ(Show(orders.Receive(Wait::No())), "order 1");
  EXPECT_EQ(Show(orders.Receive(Wait::No())), "order 2");
}

// Tests that processes which did not create a mailbox meet through it by
// name: one sibling sends, the other receives.
TEST(Stage4ManyToMany, SiblingsMeetByName) {
  kata::OnDeadlock("the receiving sibling never got the message");
  Mailbox box = Mailbox::Create(kata::UniqueName("meeting"));
  kata::SharedText got;
  kata::Child receiver([&] {
    got.Store(Show(Mailbox::Open(box.name()).Receive(Wait::For(4s))));
  });
  kata::Child sender([&] { Mailbox::Open(box.name()).Send("hello, sibling"); });
  sender.Join();
  receiver.Join();
  EXPECT_EQ(got.Load(), "hello, sibling");
}

// ================================================================ Stage 5

// Tests who owns what: the creator's handle is the owner's; a handle from
// Open is a user's, even in the creator's own process.
TEST(Stage5Ownership, CreatorOwnsOpenersUse) {
  Mailbox owner = Mailbox::Create(kata::UniqueName("owned"));
  Mailbox user = Mailbox::Open(owner.name());
  EXPECT_TRUE(owner.is_owner());
  EXPECT_FALSE(user.is_owner()) << Hint(kOnlyOwnerDeletes);
  kata::RunInChild([&] {
    EXPECT_FALSE(owner.is_owner())
        << "a forked child counts as the owner" << Hint(kForkedCopyIsNotOwner);
  });
}

// Tests that the mailbox goes away when its owner's handle does.
TEST(Stage5Ownership, OwnerClosingRemovesTheMailbox) {
  std::string name;
  {
    Mailbox owner = Mailbox::Create(kata::UniqueName("short-lived"));
    name = owner.name();
  }
  EXPECT_FALSE(QueueExists(name)) << Hint(kOwnerRemovesName);
}

// Tests that a user closing its handle leaves the mailbox to its owner.
TEST(Stage5Ownership, UserClosingLeavesTheMailbox) {
  Mailbox owner = Mailbox::Create(kata::UniqueName("owned"));
  kata::RunInChild([&] {
    Mailbox user = Mailbox::Open(owner.name());
    user.Send("still here?");
  });  // the user's handle is gone, and so is the user
  EXPECT_TRUE(QueueExists(owner.name()))
      << "the mailbox was removed while its owner is still alive"
      << Hint(kOnlyOwnerDeletes);
  EXPECT_EQ(Show(owner.Receive(Wait::No())), "still here?");
}

// Tests that a forked child's copy of the owner's handle removes nothing when
// the child destroys it, and may not Delete.
TEST(Stage5Ownership, ForkedCopyOfTheOwnerRemovesNothing) {
  Mailbox owner = Mailbox::Create(kata::UniqueName("owned"));
  kata::RunInChild([&] {
    Mailbox copy = std::move(owner);  // the child's copy, destroyed below
    EXPECT_FALSE(copy.is_owner()) << Hint(kForkedCopyIsNotOwner);
  });
  EXPECT_TRUE(QueueExists(owner.name()))
      << "a child destroyed its copy of the owner's handle, and the mailbox "
         "was removed while its owner is still alive"
      << Hint(kForkedCopyIsNotOwner);
  EXPECT_EQ(owner.Send("still mine"), SendResult::kSent);
}

// Tests that only the owner may delete: a user gets EPERM, and the mailbox
// stays.
TEST(Stage5Ownership, OnlyTheOwnerMayDelete) {
  Mailbox owner = Mailbox::Create(kata::UniqueName("owned"));
  Mailbox user = Mailbox::Open(owner.name());
  ExpectSystemError([&] { user.Delete(); }, std::errc::operation_not_permitted,
                    "Delete(", Hint(kOnlyOwnerDeletes));
  EXPECT_TRUE(QueueExists(owner.name())) << Hint(kOnlyOwnerDeletes);
}

// Tests what a sender sees once the owner deleted the mailbox: opening it
// fails with ENOENT ("no such mailbox"), and no new mailbox appears.
TEST(Stage5Ownership, AfterDeleteOpenFails) {
  Mailbox owner = Mailbox::Create(kata::UniqueName("doomed"));
  owner.Delete();
  EXPECT_FALSE(owner.is_owner()) << Hint(kDeleteEndsOwnership);
  EXPECT_FALSE(QueueExists(owner.name()))
      << Hint("Delete removes the name: mq_unlink");
  kata::RunInChild([&] {
    ExpectSystemError([&] { Mailbox::Open(owner.name()).Send("anyone?"); },
                      std::errc::no_such_file_or_directory,
                      "mq_open(" + owner.name(), Hint(kOpenNeverCreates));
  });
  EXPECT_FALSE(QueueExists(owner.name()))
      << "opening the deleted mailbox made a new one"
      << Hint(kOpenNeverCreates);
}

// Tests what holders see after Delete: POSIX removes the name only, so a
// sender that opened the mailbox before still reaches a receiver that did
// too, on a queue that no longer has a name.
TEST(Stage5Ownership, HoldersKeepTheNamelessQueue) {
  kata::OnDeadlock("the letter sent after Delete never arrived");
  Mailbox owner = Mailbox::Create(kata::UniqueName("doomed"));
  Gate opened, deleted;
  kata::SharedText result;
  kata::Child sender([&] {
    Mailbox user = Mailbox::Open(owner.name());
    opened.Notify();
    ASSERT_TRUE(deleted.Await());
    result.Store(user.Send("after Delete", Wait::For(1s)) == SendResult::kSent
                     ? "sent"
                     : "timed out");
  });
  ASSERT_TRUE(opened.Await());
  owner.Delete();
  deleted.Notify();
  sender.Join();
  EXPECT_EQ(result.Load(), "sent");
  EXPECT_EQ(Show(owner.Receive(Wait::For(1s))), "after Delete") << Hint(
      "Delete removes the name; the queue lives on for its holders "
      "(mq_unlink(3))");
}

// Tests that a handle whose mailbox was deleted owns nothing: destroying it
// leaves alone a new mailbox created under the same name.
TEST(Stage5Ownership, DeletedHandleLeavesASuccessorAlone) {
  const std::string name = kata::UniqueName("reused");
  std::optional<Mailbox> old_owner = Mailbox::Create(name);
  old_owner->Delete();
  Mailbox successor = Mailbox::Create(name);
  old_owner.reset();
  EXPECT_TRUE(QueueExists(name)) << Hint(kDeleteEndsOwnership);
  EXPECT_TRUE(successor.is_owner());
}

// Tests that a creator that ends without destroying its handle (a crash,
// _exit) leaves the mailbox behind: POSIX queues outlive their creators.
TEST(Stage5Ownership, MailboxOutlivesACreatorThatNeverClosesIt) {
  const std::string name = kata::UniqueName("orphan");
  kata::RunInChild([&] {
    Mailbox box = Mailbox::Create(name);
    box.Send("left behind");
    kata::ChildEndsItself();
    _exit(0);  // no destructor runs
  });
  EXPECT_TRUE(QueueExists(name))
      << "the queue died with its creator; POSIX queues should outlive it";
  {
    Mailbox adopter = Mailbox::Open(name);
    EXPECT_EQ(Show(adopter.Receive(Wait::No())), "left behind");
  }
  mq_unlink(name.c_str());  // the test cleans up after the dead creator
}

// ================================================================ Stage 6

// Tests that an inbox is a POSIX queue named after its process, and that a
// name belongs to one inbox at a time.
TEST(Stage6DirectNaming, EachProcessHasItsOwnInbox) {
  const std::string name = kata::UniqueName("alice");
  Inbox alice = Inbox::Create(name);
  EXPECT_EQ(alice.name(), name);
  EXPECT_TRUE(QueueExists(name))
      << Hint("an inbox is a mailbox: Mailbox::Create(name, ...)");
  kata::RunInChild([&] {
    ExpectSystemError([&] { Inbox::Create(name); }, std::errc::file_exists,
                      "mq_open(" + name,
                      Hint("one inbox per name: Mailbox::Create refuses a "
                           "taken name"));
  });
}

// Tests that a letter reaches the process it names and no other.
TEST(Stage6DirectNaming, LetterReachesTheNamedProcessOnly) {
  kata::OnDeadlock("bob never got the letter sent to him");
  Inbox carol = Inbox::Create(kata::UniqueName("carol"));
  const std::string alice = kata::UniqueName("alice");
  const std::string bob = kata::UniqueName("bob");
  Gate alice_ready, bob_ready, check_alice;
  kata::SharedText bob_got, alice_got;
  kata::Child bob_process = StartPeer(bob, bob_ready, [&](Inbox& me) {
    bob_got.Store(Show(me.ReceiveAny(Wait::For(4s))));
  });
  kata::Child alice_process = StartPeer(alice, alice_ready, [&](Inbox& me) {
    ASSERT_TRUE(check_alice.Await());
    alice_got.Store(Show(me.ReceiveAny(Wait::No())));
  });
  ASSERT_TRUE(alice_ready.Await() && bob_ready.Await())
      << "a peer never created its inbox";
  EXPECT_EQ(carol.Send(bob, "for bob"), SendResult::kSent);
  bob_process.Join();
  check_alice.Notify();
  alice_process.Join();
  EXPECT_EQ(bob_got.Load(), carol.name() + ": for bob")
      << Hint("Send(to, text) opens the inbox called `to`");
  EXPECT_EQ(alice_got.Load(), "(nothing)")
      << Hint("a letter goes to the inbox of the process it names, no other");
}

// Tests the asymmetric receive: letters from three processes, each reported
// with its sender.
TEST(Stage6DirectNaming, ReceiveAnyReportsTheSender) {
  Inbox carol = Inbox::Create(kata::UniqueName("carol"));
  std::set<std::string> expected;
  for (const char* who : {"alice", "bob", "dave"}) {
    const std::string name = kata::UniqueName(who);
    expected.insert(name + ": hello from " + name);
    kata::RunInChild([&] {
      Inbox me = Inbox::Create(name);
      EXPECT_EQ(me.Send(carol.name(), "hello from " + name), SendResult::kSent);
    });
  }
  std::set<std::string> got;
  for (int i = 0; i < 3; ++i) got.insert(Show(carol.ReceiveAny(Wait::For(1s))));
  EXPECT_EQ(got, expected) << Hint(kSenderIdentity);
}

// Tests the letter format on the wire, against the test's own raw queues: a
// letter sent is framed as inbox.h says, and a framed letter received is
// split into sender and text.
TEST(Stage6DirectNaming, LettersFollowTheWireFormat) {
  Inbox alice = Inbox::Create(kata::UniqueName("alice"));
  RawQueue bob = RawQueue::Create(kata::UniqueName("bob"), 4, 256);
  ASSERT_EQ(alice.Send(bob.name(), "hi, bob", Wait::For(1s)),
            SendResult::kSent);
  kata::SharedText on_the_wire;
  kata::RunInChild([&] {  // bob, played by the test with raw calls
    unsigned priority = 12345;
    on_the_wire.Store(Show(RawQueue(bob.name()).Receive(2s, &priority)));
    EXPECT_EQ(priority, 0u) << Hint(kPriorities);
    RawQueue(alice.name()).Send(Framed(bob.name(), "hi, alice"));
  });
  EXPECT_EQ(on_the_wire.Load(), Framed(alice.name(), "hi, bob")) << Hint(
      "a letter is: one byte with the length of the sender's name, "
      "the name, the text");
  std::optional<Letter> letter = alice.ReceiveAny(Wait::For(1s));
  ASSERT_TRUE(letter) << "the framed letter from bob never arrived";
  EXPECT_EQ(letter->from, bob.name()) << Hint(kSenderIdentity);
  EXPECT_EQ(letter->text, "hi, alice");
}

// Tests priorities in an inbox: a letter a foreign program sent at priority
// 7 overtakes older letters, ReceiveAny and Receive(from) report each
// letter's priority, and a letter set aside keeps its priority.
TEST(Stage6DirectNaming, LettersReportTheirPriority) {
  Inbox carol = Inbox::Create(kata::UniqueName("carol"));
  kata::RunInChild([&] {  // foreign senders, with raw mq_send
    RawQueue inbox(carol.name());
    ASSERT_TRUE(inbox.Send(Framed("/alice", "a1"), 0));
    ASSERT_TRUE(inbox.Send(Framed("/bob", "b1"), 0));
    ASSERT_TRUE(inbox.Send(Framed("/dave", "urgent"), 7));
    ASSERT_TRUE(inbox.Send(Framed("/bob", "b2"), 3));
  });
  std::optional<Letter> first = carol.ReceiveAny(Wait::No());
  ASSERT_TRUE(first) << "no letter came";
  EXPECT_EQ(Show(first), "/dave: urgent") << Hint(kPriorities);
  EXPECT_EQ(first->priority, 7u) << Hint(kPriorities);
  unsigned priority = 12345;
  EXPECT_EQ(Show(carol.Receive("/alice", Wait::No(), &priority)), "a1")
      << Hint(kPriorities);  // sets bob's b2 aside on the way
  EXPECT_EQ(priority, 0u) << Hint(kPriorities);
  EXPECT_EQ(Show(carol.Receive("/bob", Wait::No(), &priority)), "b2")
      << Hint(kSetAsideNotDropped);
  EXPECT_EQ(priority, 3u) << "the letter set aside lost its priority"
                          << Hint(kPriorities);
  std::optional<Letter> last = carol.ReceiveAny(Wait::No());
  ASSERT_TRUE(last) << Hint(kSetAsideNotDropped);
  EXPECT_EQ(Show(last), "/bob: b1");
  EXPECT_EQ(last->priority, 0u);
}

// Tests that a process keeps exactly one link per peer: the first letter to
// a peer opens its inbox, later letters reuse it.
TEST(Stage6DirectNaming, ExactlyOneLinkPerPair) {
  Inbox alice = Inbox::Create(kata::UniqueName("alice"));
  RawQueue bob = RawQueue::Create(kata::UniqueName("bob"), 10, 256);
  RawQueue carol = RawQueue::Create(kata::UniqueName("carol"), 10, 256);
  kata::CallCounter calls;
  alice.Send(bob.name(), "b0");
  alice.Send(carol.name(), "c0");
  const long opened = calls.Count({"mq_open"});
  EXPECT_GE(opened, 2) << Hint("send to a peer through its inbox: mq_open");
  for (int i = 1; i < 5; ++i) alice.Send(bob.name(), "b" + std::to_string(i));
  for (int i = 1; i < 3; ++i) alice.Send(carol.name(), "c" + std::to_string(i));
  EXPECT_EQ(calls.Count({"mq_open"}), opened)
      << "later letters to the same peers opened their inboxes again"
      << Hint(kOneLinkPerPair);
  kata::SharedText got;
  kata::RunInChild([&] {  // bob and carol, played with raw calls
    RawQueue bob_side(bob.name()), carol_side(carol.name());
    for (int i = 0; i < 5; ++i) got.Append(Show(bob_side.Receive(1s)) + "|");
    for (int i = 0; i < 3; ++i) got.Append(Show(carol_side.Receive(1s)) + "|");
  });
  std::string expected;
  for (int i = 0; i < 5; ++i) {
    expected += Framed(alice.name(), "b" + std::to_string(i)) + "|";
  }
  for (int i = 0; i < 3; ++i) {
    expected += Framed(alice.name(), "c" + std::to_string(i)) + "|";
  }
  EXPECT_EQ(got.Load(), expected)
      << "each peer should get its own letters, in order"
      << Hint(kOneLinkPerPair);
}

// Tests that the letters of one sender arrive in the order sent.
TEST(Stage6DirectNaming, LettersFromOneSenderArriveInOrder) {
  kata::OnDeadlock("the sender blocked on a full inbox nobody drains");
  Inbox carol = Inbox::Create(kata::UniqueName("carol"));
  const std::string bob = kata::UniqueName("bob");
  kata::Child sender([&] {
    Inbox me = Inbox::Create(bob);
    for (int i = 0; i < 25; ++i) me.Send(carol.name(), std::to_string(i));
  });
  for (int i = 0; i < 25; ++i) {
    EXPECT_EQ(Show(carol.ReceiveAny(Wait::For(2s))),
              bob + ": " + std::to_string(i));
  }
  sender.Join();
}

// Tests a request and its reply: the receiver answers whoever ReceiveAny
// says sent the request.
TEST(Stage6DirectNaming, ReplyGoesBackToTheSender) {
  kata::OnDeadlock("the reply never reached the process that asked");
  Inbox server = Inbox::Create(kata::UniqueName("server"));
  const std::string client = kata::UniqueName("client");
  kata::SharedText answer;
  kata::Child client_process([&] {
    Inbox me = Inbox::Create(client);
    me.Send(server.name(), "ping");
    answer.Store(Show(me.ReceiveAny(Wait::For(4s))));
  });
  std::optional<Letter> request = server.ReceiveAny(Wait::For(4s));
  ASSERT_TRUE(request) << "no request came";
  EXPECT_EQ(request->from, client) << Hint(kSenderIdentity);
  server.Send(request->from, "pong");
  client_process.Join();
  EXPECT_EQ(answer.Load(), server.name() + ": pong") << Hint(kSenderIdentity);
}

// Tests that an inbox goes away with its process, and that a letter to a
// process that is gone is an error naming mq_open (ENOENT).
TEST(Stage6DirectNaming, InboxGoesAwayWithItsProcess) {
  Inbox carol = Inbox::Create(kata::UniqueName("carol"));
  const std::string dave = kata::UniqueName("dave");
  kata::RunInChild([&] {
    Inbox me = Inbox::Create(dave);
    me.Send(carol.name(), "bye");
  });  // dave's inbox is destroyed as dave ends
  EXPECT_EQ(Show(carol.ReceiveAny(Wait::For(1s))), dave + ": bye");
  EXPECT_FALSE(QueueExists(dave)) << Hint(kOwnerRemovesName);
  ExpectSystemError([&] { carol.Send(dave, "are you there?"); },
                    std::errc::no_such_file_or_directory, "mq_open(" + dave,
                    Hint(kOpenNeverCreates));
}

// Tests that a text too long for the receiver's inbox is refused, and one
// that fits is sent.
TEST(Stage6DirectNaming, TextTooLongForTheReceiverIsRefused) {
  Inbox carol = Inbox::Create(kata::UniqueName("carol"), {2, 16});
  Inbox alice = Inbox::Create(kata::UniqueName("alice"));
  EXPECT_THROW(alice.Send(carol.name(), std::string(17, 'x')),
               std::length_error)
      << "a text of 17 bytes; carol's max_message is 16"
      << Hint("carol's inbox takes letters of at most 16 bytes of text");
  EXPECT_EQ(alice.Send(carol.name(), std::string(16, 'x')), SendResult::kSent)
      << Hint(
             "Inbox::Create makes room for the sender's name: max_message + "
             "1 + kMaxNameLength");
}

// ================================================================ Stage 7

// Tests the symmetric receive: Receive(from) takes the named sender's letter
// even when others' letters came first.
TEST(Stage7SymmetricReceive, TakesOnlyTheNamedSendersLetter) {
  Inbox carol = Inbox::Create(kata::UniqueName("carol"));
  Post(carol.name(), {{"/alice", "a1"}, {"/bob", "b1"}, {"/alice", "a2"}});
  EXPECT_EQ(Show(carol.Receive("/bob", Wait::No())), "b1")
      << Hint("Receive(from) returns the first letter whose sender is from");
}

// Tests that the letters skipped by Receive(from) are kept for later, in
// order.
TEST(Stage7SymmetricReceive, OtherLettersWaitForLater) {
  Inbox carol = Inbox::Create(kata::UniqueName("carol"));
  Post(carol.name(), {{"/alice", "a1"}, {"/bob", "b1"}, {"/alice", "a2"}});
  EXPECT_EQ(Show(carol.Receive("/bob", Wait::No())), "b1");
  EXPECT_EQ(Show(carol.Receive("/alice", Wait::No())), "a1")
      << Hint(kSetAsideNotDropped);
  EXPECT_EQ(Show(carol.Receive("/alice", Wait::No())), "a2")
      << Hint(kSetAsideNotDropped);
  EXPECT_EQ(Show(carol.ReceiveAny(Wait::No())), "(nothing)");
}

// Tests that ReceiveAny hands out the letters Receive(from) set aside first,
// oldest first, before anything still in the queue.
TEST(Stage7SymmetricReceive, SetAsideLettersComeFirstAndInOrder) {
  Inbox carol = Inbox::Create(kata::UniqueName("carol"));
  Post(carol.name(),
       {{"/alice", "a1"}, {"/alice", "a2"}, {"/bob", "b1"}, {"/alice", "a3"}});
  EXPECT_EQ(Show(carol.Receive("/bob", Wait::No())), "b1");
  Post(carol.name(), {{"/alice", "a4"}});
  for (const char* text : {"a1", "a2", "a3", "a4"}) {
    EXPECT_EQ(Show(carol.ReceiveAny(Wait::No())),
              std::string("/alice: ") + text)
        << Hint(kSetAsideFirst);
  }
}

// Tests that a non-blocking Receive(from) a silent sender returns nothing and
// keeps the other letters.
TEST(Stage7SymmetricReceive, NothingFromASilentSenderNow) {
  Inbox carol = Inbox::Create(kata::UniqueName("carol"));
  Post(carol.name(), {{"/alice", "a1"}, {"/alice", "a2"}});
  EXPECT_EQ(Show(carol.Receive("/bob", Wait::No())), "(nothing)")
      << Hint(kNonBlockingReceive);
  EXPECT_EQ(Show(carol.ReceiveAny(Wait::No())), "/alice: a1")
      << Hint(kSetAsideNotDropped);
  EXPECT_EQ(Show(carol.Receive("/alice", Wait::No())), "a2")
      << Hint(kSetAsideNotDropped);
}

// Tests that Receive(from) keeps waiting for its sender while letters from
// someone else arrive, and keeps those letters.
TEST(Stage7SymmetricReceive, WaitsForTheNamedSenderWhileOthersWrite) {
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
  EXPECT_EQ(Show(carol.Receive("/bob", Wait::For(4s))), "b1");
  writers.Join();
  EXPECT_EQ(Show(carol.ReceiveAny(Wait::No())), "/alice: a1")
      << Hint(kSetAsideNotDropped);
}

// Tests that a timed Receive(from) gives up on time, and that the letters
// it went through are still there.
TEST(Stage7SymmetricReceive, TimeoutCoversTheWholeCall) {
  Inbox carol = Inbox::Create(kata::UniqueName("carol"));
  Post(carol.name(), {{"/alice", "a1"}, {"/alice", "a2"}});
  const auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(Show(carol.Receive("/bob", Wait::For(150ms))), "(nothing)");
  EXPECT_GE(ElapsedSince(start), 140ms) << Hint(kAbsoluteDeadline);
  EXPECT_EQ(Show(carol.ReceiveAny(Wait::No())), "/alice: a1")
      << Hint(kSetAsideNotDropped);
  EXPECT_EQ(Show(carol.ReceiveAny(Wait::No())), "/alice: a2")
      << Hint(kSetAsideNotDropped);
}

// Tests a conversation between two processes while a third floods the
// asker's inbox: the answer is found, and none of the flood is lost.
TEST(Stage7SymmetricReceive, ConversationAmidOtherMail) {
  kata::OnDeadlock("the answer never came, or the flood filled the inbox");
  Inbox alice = Inbox::Create(kata::UniqueName("alice"));
  const std::string bob = kata::UniqueName("bob");
  const std::string dave = kata::UniqueName("dave");
  Gate bob_ready, flood_done;
  kata::Child bob_process = StartPeer(bob, bob_ready, [&](Inbox& me) {
    ASSERT_TRUE(flood_done.Await());
    std::optional<std::string> question =
        me.Receive(alice.name(), Wait::For(4s));
    ASSERT_TRUE(question) << "bob never got the question";
    me.Send(alice.name(), "answer to " + *question);
  });
  ASSERT_TRUE(bob_ready.Await()) << "bob never created his inbox";
  kata::RunInChild([&] {
    Inbox me = Inbox::Create(dave);
    for (int i = 0; i < 5; ++i)
      me.Send(alice.name(), "news " + std::to_string(i));
  });
  alice.Send(bob, "the question");
  flood_done.Notify();
  EXPECT_EQ(Show(alice.Receive(bob, Wait::For(4s))), "answer to the question");
  bob_process.Join();
  for (int i = 0; i < 5; ++i) {
    EXPECT_EQ(Show(alice.ReceiveAny(Wait::No())),
              dave + ": news " + std::to_string(i))
        << Hint(kSetAsideNotDropped);
  }
}

// ================================================================ Stage 8

// Tests that capacity 0 makes the two queues mailbox.h describes, that Open
// recognises the rendezvous, and that the owner removes both.
TEST(Stage8Rendezvous, ZeroCapacityIsBuiltFromTwoQueues) {
  const std::string name = kata::UniqueName("meet");
  const std::string ready = name + std::string(kata::mailbox::kReadySuffix);
  {
    Mailbox owner = Mailbox::Create(name, {0, 64});
    EXPECT_EQ(owner.capacity(), 0);
    EXPECT_EQ(QueueAttr(name).mq_maxmsg, 1) << Hint(
        "POSIX queues cannot have capacity 0 (EINVAL): the message "
        "queue of a rendezvous has room for 1");
    EXPECT_TRUE(QueueExists(ready)) << Hint(
        "a rendezvous also needs the queue name + kReadySuffix for "
        "the tokens of waiting receivers");
    kata::RunInChild([&] {
      EXPECT_EQ(Mailbox::Open(name).capacity(), 0)
          << Hint("Open: a mailbox whose ready queue exists has capacity 0");
    });
  }
  EXPECT_FALSE(QueueExists(name)) << Hint(kOwnerRemovesName);
  EXPECT_FALSE(QueueExists(ready)) << Hint(kOwnerRemovesName);
}

// Tests that a send to a zero-capacity mailbox waits until a receiver comes,
// and buffers nothing meanwhile.
TEST(Stage8Rendezvous, SendWaitsForAReceiver) {
  kata::OnDeadlock("the rendezvous never happened");
  Mailbox box = Mailbox::Create(kata::UniqueName("meet"), {0, 64});
  kata::SharedText returned;
  kata::Child sender([&] {
    Mailbox mine = Mailbox::Open(box.name());
    EXPECT_EQ(mine.Send("meet me", Wait::Forever()), SendResult::kSent);
    returned.Store("returned");
  });
  kata::WaitUntilBlocked(sender.pid());
  EXPECT_EQ(returned.Load(), "") << "Send returned while no receiver was there"
                                 << Hint(kRendezvousSendWaits);
  EXPECT_EQ(Depth(box.name()), 0) << "a message sits in a zero-capacity mailbox"
                                  << Hint(kRendezvousSendWaits);
  EXPECT_EQ(Show(box.Receive(Wait::For(4s))), "meet me");
  sender.Join();
  EXPECT_EQ(returned.Load(), "returned");
}

// Tests that a non-blocking send with no receiver waiting sends nothing.
TEST(Stage8Rendezvous, NonBlockingSendWithoutAReceiverSendsNothing) {
  Mailbox box = Mailbox::Create(kata::UniqueName("meet"), {0, 64});
  EXPECT_EQ(box.Send("anyone?", Wait::No()), SendResult::kTimedOut)
      << Hint(kRendezvousSendWaits);
  EXPECT_EQ(Depth(box.name()), 0) << Hint(kRendezvousSendWaits);
}

// Tests that a receiver that gave up leaves no promise behind: a later
// non-blocking send still finds no receiver.
TEST(Stage8Rendezvous, ReceiverThatGaveUpLeavesNoPromise) {
  Mailbox box = Mailbox::Create(kata::UniqueName("meet"), {0, 64});
  EXPECT_EQ(Show(box.Receive(Wait::For(100ms))), "(nothing)");
  EXPECT_EQ(Show(box.Receive(Wait::No())), "(nothing)");
  EXPECT_EQ(box.Send("too late", Wait::No()), SendResult::kTimedOut)
      << "a receiver that is gone still counted as waiting"
      << Hint(kRetractToken);
  EXPECT_EQ(Depth(box.name()), 0) << Hint(kRetractToken);
}

// Tests that a waiting receiver meets a sender that does not wait.
TEST(Stage8Rendezvous, WaitingReceiverMeetsANonBlockingSender) {
  kata::OnDeadlock("the waiting receiver never got the message");
  Mailbox box = Mailbox::Create(kata::UniqueName("meet"), {0, 64});
  kata::SharedText got;
  kata::Child receiver([&] {
    got.Store(Show(Mailbox::Open(box.name()).Receive(Wait::For(4s))));
  });
  ASSERT_TRUE(kata::WaitUntilBlocked(receiver.pid()));
  EXPECT_EQ(box.Send("now", Wait::No()), SendResult::kSent)
      << Hint("a receiver is waiting: its ready token is there to take");
  receiver.Join();
  EXPECT_EQ(got.Load(), "now");
}

// Tests that a waiting sender meets a receiver that does not wait.
TEST(Stage8Rendezvous, WaitingSenderMeetsANonBlockingReceiver) {
  kata::OnDeadlock("the waiting sender never handed over its message");
  Mailbox box = Mailbox::Create(kata::UniqueName("meet"), {0, 64});
  kata::Child sender(
      [&] { Mailbox::Open(box.name()).Send("now", Wait::For(4s)); });
  ASSERT_TRUE(kata::WaitUntilBlocked(sender.pid()));
  EXPECT_EQ(Show(box.Receive(Wait::No())), "now") << Hint(
      "a sender waits for a token: posting one wakes it, and its "
      "message follows at once; wait for it if your token is gone");
  sender.Join();
}

// Tests many handoffs through one rendezvous mailbox, two senders and two
// receivers: every message is received exactly once.
TEST(Stage8Rendezvous, EachHandoffReachesExactlyOneReceiver) {
  constexpr int kEach = 50;
  kata::OnDeadlock("the handoffs stopped: a lost token or a lost message", 15s);
  Mailbox box = Mailbox::Create(kata::UniqueName("meet"), {0, 32});
  kata::SharedText got_a, got_b;
  auto receiver = [&](kata::SharedText& got) {
    return [&] {
      Mailbox mine = Mailbox::Open(box.name());
      std::string log;
      for (;;) {
        std::optional<std::string> message = mine.Receive(Wait::For(4s));
        ASSERT_TRUE(message) << "no handoff for 4 s";
        if (*message == "stop") break;
        log += *message + "\n";
      }
      got.Store(log);
    };
  };
  kata::Child a(receiver(got_a));
  kata::Child b(receiver(got_b));
  std::vector<kata::Child> senders;
  for (int s = 0; s < 2; ++s) {
    senders.emplace_back([&, s] {
      Mailbox mine = Mailbox::Open(box.name());
      for (int n = 0; n < kEach; ++n) {
        ASSERT_EQ(mine.Send(std::to_string(s) + " " + std::to_string(n),
                            Wait::For(4s)),
                  SendResult::kSent);
      }
    });
  }
  for (kata::Child& sender : senders) sender.Join();
  EXPECT_EQ(box.Send("stop", Wait::For(4s)), SendResult::kSent);
  EXPECT_EQ(box.Send("stop", Wait::For(4s)), SendResult::kSent);
  a.Join();
  b.Join();
  std::multiset<std::string> all;
  for (const kata::SharedText* got : {&got_a, &got_b}) {
    std::istringstream lines(got->Load());
    std::string line;
    while (std::getline(lines, line)) all.insert(line);
  }
  std::multiset<std::string> expected;
  for (int s = 0; s < 2; ++s) {
    for (int n = 0; n < kEach; ++n) {
      expected.insert(std::to_string(s) + " " + std::to_string(n));
    }
  }
  EXPECT_EQ(all.size(), expected.size()) << Hint(kExactlyOnce);
  EXPECT_TRUE(all == expected) << Hint(kExactlyOnce);
}

// Tests the ready-token protocol of README.md's "On the wire" against peers
// that use raw mq_send and mq_receive: a raw receiver that posts a one-byte
// token and reads the message queue is handed the mailbox's message (at
// priority 0); a raw sender finds the one-byte token "r" that a waiting
// Receive posted (at priority 0), and its message comes out of Receive with
// the priority it was sent at.
TEST(Stage8Rendezvous, RawPeersSpeakTheReadyTokenProtocol) {
  kata::OnDeadlock("a raw peer and the mailbox never met");
  Mailbox box = Mailbox::Create(kata::UniqueName("meet"), {0, 64});
  const std::string ready =
      box.name() + std::string(kata::mailbox::kReadySuffix);
  EXPECT_EQ(QueueAttr(box.name()).mq_maxmsg, 1);
  EXPECT_EQ(QueueAttr(box.name()).mq_msgsize, 64);
  EXPECT_EQ(QueueAttr(ready).mq_maxmsg, kata::mailbox::kReadyTokens)
      << Hint("the ready queue has room for kReadyTokens waiting receivers");
  EXPECT_EQ(QueueAttr(ready).mq_msgsize, 1)
      << Hint("a ready token is one byte");
  kata::SharedText handed;
  kata::Child raw_receiver([&] {
    RawQueue tokens(ready), messages(box.name());
    ASSERT_TRUE(tokens.Send("r"));
    unsigned priority = 12345;
    const std::string text = Show(messages.Receive(4s, &priority));
    handed.Store(text + "@" + std::to_string(priority));
  });
  EXPECT_EQ(box.Send("for a raw receiver", Wait::For(4s)), SendResult::kSent)
      << Hint(kRendezvousSendWaits);
  raw_receiver.Join();
  EXPECT_EQ(handed.Load(), "for a raw receiver@0");
  kata::SharedText token;
  kata::Child raw_sender([&] {
    RawQueue tokens(ready), messages(box.name());
    unsigned priority = 12345;
    std::optional<std::string> taken = tokens.Receive(4s, &priority);
    token.Store(Show(taken) + "@" + std::to_string(priority));
    ASSERT_TRUE(taken) << "no ready token came";
    ASSERT_TRUE(messages.Send("from a raw sender", 3));
  });
  unsigned priority = 12345;
  EXPECT_EQ(Show(box.Receive(Wait::For(4s), &priority)), "from a raw sender");
  EXPECT_EQ(priority, 3u) << Hint(kPriorities);
  raw_sender.Join();
  EXPECT_EQ(token.Load(), "r@0")
      << Hint("a receiver posts the one-byte token \"r\" at priority 0");
  EXPECT_EQ(Depth(ready), 0) << Hint(kRetractToken);
  EXPECT_EQ(Depth(box.name()), 0);
}

// Tests a receiver whose wait runs out just after a sender took its token:
// that sender's message is on the way, and the receiver still gets it when it
// comes within kHandoverGrace.
TEST(Stage8Rendezvous, ReceiverGetsTheMessageOfASenderThatCommitted) {
  kata::OnDeadlock("the receiver never returned although the sender sent");
  Mailbox box = Mailbox::Create(kata::UniqueName("meet"), {0, 64});
  const std::string ready =
      box.name() + std::string(kata::mailbox::kReadySuffix);
  kata::Child sender([&] {  // a slow sender, played with raw calls
    ASSERT_TRUE(RawQueue(ready).Receive(2s)) << "no receiver posted a token";
    std::this_thread::sleep_for(300ms);  // the receiver's 100 ms run out
    ASSERT_TRUE(RawQueue(box.name()).Send("late, as promised"));
  });
  const auto start = std::chrono::steady_clock::now();
  std::optional<std::string> got = box.Receive(Wait::For(100ms));
  const auto took = ElapsedSince(start);
  sender.Join();
  EXPECT_EQ(Show(got), "late, as promised") << Hint(kWaitForCommittedSender);
  EXPECT_LE(took, 100ms + kata::mailbox::kHandoverGrace + kata::Scaled(700ms))
      << Hint(kGraceIsBounded);
  EXPECT_EQ(Depth(ready), 0) << Hint(kRetractToken);
  EXPECT_EQ(Depth(box.name()), 0);
}

// Tests a receiver whose sender took its token and then died without
// sending: the receiver gives up after at most kHandoverGrace more, and
// leaves nothing behind.
TEST(Stage8Rendezvous, ReceiverOfASenderThatDiedGivesUpAfterTheGrace) {
  kata::OnDeadlock(
      "the receiver waited for ever for a sender that died: wait "
      "kHandoverGrace at most");
  Mailbox box = Mailbox::Create(kata::UniqueName("meet"), {0, 64});
  const std::string ready =
      box.name() + std::string(kata::mailbox::kReadySuffix);
  kata::Child sender([&] {  // takes the token and ends without sending
    ASSERT_TRUE(RawQueue(ready).Receive(2s)) << "no receiver posted a token";
  });
  const auto start = std::chrono::steady_clock::now();
  std::optional<std::string> got = box.Receive(Wait::For(100ms));
  const auto took = ElapsedSince(start);
  sender.Join();
  EXPECT_EQ(Show(got), "(nothing)");
  EXPECT_GE(took, 95ms) << "Receive(Wait::For(100ms)) gave up too early";
  EXPECT_LE(took, 100ms + kata::mailbox::kHandoverGrace + kata::Scaled(700ms))
      << "the receiver waited too long for a sender that died"
      << Hint(kGraceIsBounded);
  EXPECT_EQ(Depth(ready), 0) << Hint(kRetractToken);
  EXPECT_EQ(Depth(box.name()), 0);
}

// Tests a receiver whose sender took its token, could not send in time and
// put the token back, as Send does: the receiver takes the token back and
// leaves nothing behind.
TEST(Stage8Rendezvous, ReceiverTakesBackATokenASenderReturned) {
  kata::OnDeadlock("the receiver never returned");
  Mailbox box = Mailbox::Create(kata::UniqueName("meet"), {0, 64});
  const std::string ready =
      box.name() + std::string(kata::mailbox::kReadySuffix);
  kata::Child sender([&] {  // a sender that gives up, played with raw calls
    RawQueue tokens(ready);
    ASSERT_TRUE(tokens.Receive(2s)) << "no receiver posted a token";
    std::this_thread::sleep_for(300ms);  // the receiver's 100 ms run out
    ASSERT_TRUE(tokens.Send("r"));       // gives the token back
  });
  std::optional<std::string> got = box.Receive(Wait::For(100ms));
  sender.Join();
  EXPECT_EQ(Show(got), "(nothing)");
  EXPECT_EQ(Depth(ready), 0)
      << "the token the sender gave back was left behind, as if a receiver "
         "were still waiting"
      << Hint(kGraceIsBounded);
  EXPECT_EQ(box.Send("nobody waits", Wait::No()), SendResult::kTimedOut)
      << Hint(kRetractToken);
}

// Tests a sender that gives up because no receiver came: kTimedOut on time,
// and nothing left for a receiver that comes later.
TEST(Stage8Rendezvous, SenderThatGivesUpLeavesNothing) {
  Mailbox box = Mailbox::Create(kata::UniqueName("meet"), {0, 64});
  const std::string ready =
      box.name() + std::string(kata::mailbox::kReadySuffix);
  const auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(box.Send("too early", Wait::For(100ms)), SendResult::kTimedOut)
      << Hint(kRendezvousSendWaits);
  EXPECT_GE(ElapsedSince(start), 95ms)
      << "Send(Wait::For(100ms)) gave up too early" << Hint(kAbsoluteDeadline);
  EXPECT_EQ(Depth(box.name()), 0) << Hint(kRendezvousSendWaits);
  EXPECT_EQ(Depth(ready), 0);
  kata::RunInChild([&] {
    EXPECT_EQ(Show(Mailbox::Open(box.name()).Receive(Wait::For(50ms))),
              "(nothing)")
        << "a receiver that came later got the message of a sender that had "
           "given up"
        << Hint(kRendezvousSendWaits);
  });
}

// Tests that deleting a rendezvous mailbox removes both of its queues.
TEST(Stage8Rendezvous, DeleteRemovesBothQueues) {
  Mailbox owner = Mailbox::Create(kata::UniqueName("meet"), {0, 64});
  owner.Delete();
  EXPECT_FALSE(QueueExists(owner.name()));
  EXPECT_FALSE(
      QueueExists(owner.name() + std::string(kata::mailbox::kReadySuffix)))
      << Hint("Delete removes the ready queue too");
}

}  // namespace
