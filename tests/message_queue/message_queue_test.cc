// Tests of the message_queue kata, stage by stage. The same file is built
// against the learner's stub (//exercises/message_queue:message_queue_test)
// and against the reference solution
// (//solutions/message_queue:message_queue_test).
//
// Every check uses real kernel queues and real processes. The test's side of
// each exchange uses its own raw msgsnd/msgrcv/msgctl and mq_* calls (the Raw*
// helpers of raw_queues.h), never the code under test, so a failure says what
// the kernel saw: "the queue holds 1 message of 13 bytes, expected 5".
//
// No test waits without a bound on something the code under test should have
// done: raw receives in the test runner never block, and where a process must
// be blocked before the test goes on, the test looks at /proc first.

#include "message_queue/message_queue.h"

#include <fcntl.h>
#include <mqueue.h>
#include <signal.h>
#include <sys/ipc.h>
#include <sys/msg.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <optional>
#include <stdexcept>
#include <string>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

#include "gtest/gtest.h"
#include "tests/message_queue/raw_queues.h"
#include "tests/support/kata.h"

namespace {

using namespace std::chrono_literals;
using kata::Hint;
using kata::InterruptingSignal;
using kata::InterruptRunnerWhenBlocked;
using kata::message_queue::Any;
using kata::message_queue::Exactly;
using kata::message_queue::kRequestType;
using kata::message_queue::LowestUpTo;
using kata::message_queue::Message;
using kata::message_queue::Oversize;
using kata::message_queue::PosixAttributes;
using kata::message_queue::PosixLimits;
using kata::message_queue::PosixMessage;
using kata::message_queue::PosixQueue;
using kata::message_queue::SysvQueue;
using kata::message_queue::SysvStatus;
using namespace mq_test;  // NOLINT: the shared raw helpers and hints

KATA_STAGE(Stage1QueueLifetime, "Stage 1, a queue that cleans up after itself",
           README "#stage-1-a-queue-that-cleans-up-after-itself");
KATA_STAGE(Stage2TypedMessages, "Stage 2, typed messages",
           README "#stage-2-typed-messages");
KATA_STAGE(Stage3SelectByType, "Stage 3, choosing which message to take",
           README "#stage-3-choosing-which-message-to-take");
KATA_STAGE(Stage4WaitingAndNotWaiting,
           "Stage 4, blocking, not blocking, and signals",
           README "#stage-4-blocking-not-blocking-and-signals");
KATA_STAGE(Stage5OversizedMessages,
           "Stage 5, messages too large for the buffer",
           README "#stage-5-messages-too-large-for-the-buffer");
KATA_STAGE(Stage6OneQueueServer, "Stage 6, one queue, many clients",
           README "#stage-6-one-queue-many-clients");
KATA_STAGE(Stage7PosixQueues, "Stage 7, POSIX queues: names and limits",
           README "#stage-7-posix-queues-names-and-limits");
KATA_STAGE(Stage8PosixMessages, "Stage 8, POSIX priorities and timeouts",
           README "#stage-8-posix-priorities-and-timeouts");

// =========================================================== Stage 1

// Tests that Create makes a new queue with the key and permissions asked for,
// and owns it.
TEST(Stage1QueueLifetime, CreateMakesANewQueueWithTheKey) {
  const key_t key = kata::UniqueSysvKey();
  SysvQueue queue = SysvQueue::Create(key, 0640);
  std::optional<msqid_ds> info = RawStat(queue.id());
  ASSERT_TRUE(info.has_value())
      << "msgctl(IPC_STAT) knows no queue with id " << queue.id()
      << Hint("keep the id msgget returns");
  EXPECT_EQ(info->msg_perm.__key, key)
      << Hint("msgget(key, IPC_CREAT | IPC_EXCL | permissions)");
  EXPECT_EQ(info->msg_perm.mode & 0777, 0640u)
      << Hint("the low 9 bits of msgflg are the queue's permissions");
  EXPECT_EQ(info->msg_qnum, 0u);
  EXPECT_TRUE(queue.owner()) << Hint("Create returns the queue's owner");
}

// Tests that Create refuses a key whose queue already exists (IPC_EXCL),
// rather than quietly sharing an old queue and its stale messages.
TEST(Stage1QueueLifetime, CreateRefusesAKeyInUse) {
  RawQueue existing;
  ExpectSystemError([&] { (void)SysvQueue::Create(existing.key()); },
                    std::errc::file_exists, "msgget",
                    Hint("IPC_CREAT | IPC_EXCL makes msgget fail with EEXIST "
                         "when the key is taken; turn -1 into "
                         "std::system_error"));
}

// Tests that Open finds a queue by its key, and is a user, not the owner.
TEST(Stage1QueueLifetime, OpenFindsTheQueueByKey) {
  const key_t key = kata::UniqueSysvKey();
  SysvQueue owner = SysvQueue::Create(key);
  SysvQueue user = SysvQueue::Open(key);
  EXPECT_EQ(user.id(), owner.id())
      << Hint("msgget(key, 0) returns the id of the existing queue");
  EXPECT_FALSE(user.owner()) << Hint(kOnlyOwnerRemoves);
}

// Tests that opening a key nobody created is an error naming msgget.
TEST(Stage1QueueLifetime, OpenOfAMissingKeyIsAnError) {
  const key_t unused = kata::UniqueSysvKey();
  ExpectSystemError([&] { (void)SysvQueue::Open(unused); },
                    std::errc::no_such_file_or_directory, "msgget",
                    Hint("without IPC_CREAT, msgget fails with ENOENT for a "
                         "key that has no queue"));
}

// Tests that the owner removes the queue when it goes out of scope: a queue
// outlives every process that used it unless someone removes it.
TEST(Stage1QueueLifetime, OwnerRemovesTheQueueOnDestruction) {
  int id = -1;
  {
    SysvQueue queue = SysvQueue::Create(kata::UniqueSysvKey());
    id = queue.id();
    ASSERT_TRUE(QueueExists(id));
  }
  EXPECT_FALSE(QueueExists(id))
      << "queue id " << id << " still exists after its owner was destroyed"
      << Hint(kOwnerRemoves,
              README "#stage-1-a-queue-that-cleans-up-after-itself");
}

// Tests that a user's destructor leaves the queue to its owner.
TEST(Stage1QueueLifetime, UserLeavesTheQueueInPlace) {
  const key_t key = kata::UniqueSysvKey();
  SysvQueue owner = SysvQueue::Create(key);
  {
    SysvQueue user = SysvQueue::Open(key);
  }
  EXPECT_TRUE(QueueExists(owner.id()))
      << "destroying an Open()ed queue removed it" << Hint(kOnlyOwnerRemoves);
}

// Tests that Remove deletes the queue at once, messages and all, and that
// the object then holds no queue (so its destructor removes nothing).
TEST(Stage1QueueLifetime, RemoveIsImmediate) {
  SysvQueue queue = SysvQueue::Create(kata::UniqueSysvKey());
  const int id = queue.id();
  ASSERT_TRUE(RawSend(id, 1, "lost with the queue"));
  queue.Remove();
  EXPECT_FALSE(QueueExists(id))
      << Hint("Remove is msgctl(id, IPC_RMID, nullptr)");
  EXPECT_EQ(queue.id(), -1) << Hint("after Remove the object holds no queue");
  EXPECT_FALSE(queue.owner());
}

// Tests that queues are not reference counted: once one holder removes the
// queue, another holder's id is dead, and its Remove is an error.
TEST(Stage1QueueLifetime, RemovingAQueueAlreadyRemovedIsAnError) {
  const key_t key = kata::UniqueSysvKey();
  SysvQueue owner = SysvQueue::Create(key);
  SysvQueue user = SysvQueue::Open(key);
  user.Remove();  // anyone with permission may remove it
  EXPECT_FALSE(QueueExists(owner.id()));
  ExpectSystemError(
      [&] { owner.Remove(); },
      {std::errc::invalid_argument, std::errc::identifier_removed}, "msgctl",
      Hint("throw std::system_error when msgctl returns -1"));
}

// Tests that moving a queue moves the duty to remove it: the moved-from
// object removes nothing, and move assignment lets go of the old queue.
TEST(Stage1QueueLifetime, MovedQueueIsRemovedExactlyOnce) {
  std::optional<SysvQueue> holder;
  int id = -1;
  {
    SysvQueue original = SysvQueue::Create(kata::UniqueSysvKey());
    id = original.id();
    holder.emplace(std::move(original));
    EXPECT_EQ(original.id(), -1) << Hint(kMovedFromHoldsNothing);
    EXPECT_FALSE(original.owner()) << Hint(kMovedFromHoldsNothing);
  }
  ASSERT_TRUE(QueueExists(id))
      << "the queue was removed when the moved-from object was destroyed"
      << Hint(kMovedFromHoldsNothing);
  EXPECT_EQ(holder->id(), id);
  EXPECT_TRUE(holder->owner());

  SysvQueue target;
  target = std::move(*holder);
  holder.reset();
  ASSERT_TRUE(QueueExists(id)) << Hint(kMovedFromHoldsNothing);
  target = SysvQueue();  // the old queue is let go of, as by the destructor
  EXPECT_FALSE(QueueExists(id))
      << Hint("move assignment over an owner removes its old queue first");
}

// Tests that IPC_PRIVATE makes a new queue every time, and that "private"
// only means "no key": a forked child can use it by id.
TEST(Stage1QueueLifetime, PrivateQueuesAreNewButNotSecret) {
  SysvQueue first = SysvQueue::CreatePrivate();
  SysvQueue second = SysvQueue::CreatePrivate();
  EXPECT_NE(first.id(), second.id())
      << Hint("msgget(IPC_PRIVATE, IPC_CREAT | permissions)");
  std::optional<msqid_ds> info = RawStat(first.id());
  ASSERT_TRUE(info.has_value());
  EXPECT_EQ(info->msg_perm.__key, IPC_PRIVATE);
  EXPECT_TRUE(first.owner());
  kata::RunInChild([&] {
    EXPECT_TRUE(RawSend(first.id(), 1, "found you")) << std::strerror(errno);
  });
  EXPECT_EQ(RawTake(first.id(), 0), (Message{1, "found you"}));
}

// Tests that IPC_PRIVATE is refused as a key: it would never find anything.
TEST(Stage1QueueLifetime, CreateRefusesIpcPrivateAsAKey) {
  EXPECT_THROW((void)SysvQueue::Create(IPC_PRIVATE), std::invalid_argument)
      << Hint("IPC_PRIVATE is not a key: point callers to CreatePrivate");
}

// =========================================================== Stage 2

// Tests Send and Receive against the kernel: what Send puts in, msgrcv takes
// out, and what msgsnd puts in, Receive takes out, type and text intact.
TEST(Stage2TypedMessages, SendAndReceiveKeepTypeAndText) {
  SysvQueue queue = SysvQueue::Create(kata::UniqueSysvKey());
  queue.Send(5, "hello");
  EXPECT_EQ(RawTake(queue.id(), 0), (Message{5, "hello"}))
      << Hint("fill a struct msgbuf {long mtype; char mtext[]} and msgsnd it");
  ASSERT_TRUE(RawSend(queue.id(), 7, "world"));
  EXPECT_EQ(queue.Receive(), (Message{7, "world"}))
      << Hint("msgrcv returns the text length; the type is in mtype");
}

// Tests that every Send is one message, taken whole by one Receive: a queue
// keeps message boundaries, where a pipe would run the bytes together.
TEST(Stage2TypedMessages, EachSendIsOneMessage) {
  SysvQueue queue = SysvQueue::Create(kata::UniqueSysvKey());
  queue.Send(1, "a");
  queue.Send(1, "bb");
  queue.Send(1, "ccc");
  EXPECT_EQ(RawCount(queue.id()), 3u)
      << Hint("one msgsnd per Send: a queue keeps message boundaries");
  EXPECT_EQ(queue.Receive().text, "a");
  EXPECT_EQ(queue.Receive().text, "bb");
  EXPECT_EQ(queue.Receive().text, "ccc");
}

// Tests that msgsnd's size is the length of the text alone.
TEST(Stage2TypedMessages, SendCountsOnlyTheText) {
  SysvQueue queue = SysvQueue::Create(kata::UniqueSysvKey());
  queue.Send(1, "12345");
  std::optional<msqid_ds> info = RawStat(queue.id());
  ASSERT_TRUE(info.has_value());
  EXPECT_EQ(info->__msg_cbytes, 5u)
      << "the queue holds " << info->__msg_cbytes
      << " bytes of text after sending 5" << Hint(kMsgszIsTextOnly);
  // A receiver that expects 5 bytes must get them (not E2BIG).
  std::optional<Message> taken = RawTake(queue.id(), 0, 5);
  EXPECT_EQ(taken, (Message{1, "12345"}))
      << "msgrcv with room for 5 bytes: " << std::strerror(errno)
      << Hint(kMsgszIsTextOnly);
}

// Tests that the text is bytes, not a C string: zeros and all 256 values.
TEST(Stage2TypedMessages, TextIsBytesNotACString) {
  SysvQueue queue = SysvQueue::Create(kata::UniqueSysvKey());
  std::string bytes;
  for (int i = 0; i < 256; ++i) bytes.push_back(static_cast<char>(i));
  const std::string text = std::string("a\0b", 3) + bytes;
  queue.Send(2, text);
  EXPECT_EQ(queue.Receive(), (Message{2, text}))
      << Hint("copy text.size() bytes (memcpy), not up to the first '\\0'");
}

// Tests that an empty text is still a message.
TEST(Stage2TypedMessages, EmptyMessagesAreMessagesToo) {
  SysvQueue queue = SysvQueue::Create(kata::UniqueSysvKey());
  queue.Send(3, "");
  EXPECT_EQ(RawCount(queue.id()), 1u) << Hint("msgsnd with msgsz 0 is fine");
  EXPECT_EQ(queue.Receive(), (Message{3, ""}));
}

// Tests that a type that is not > 0 is refused before anything is sent.
TEST(Stage2TypedMessages, SendRejectsATypeThatIsNotPositive) {
  SysvQueue queue = SysvQueue::Create(kata::UniqueSysvKey());
  kata::CallCounter calls;
  EXPECT_THROW(queue.Send(0, "zero"), std::invalid_argument)
      << Hint(kTypeMustBePositive);
  EXPECT_THROW(queue.Send(-4, "negative"), std::invalid_argument)
      << Hint(kTypeMustBePositive);
  EXPECT_EQ(calls.Count({"msgsnd"}), 0) << Hint(kTypeMustBePositive);
  EXPECT_EQ(RawCount(queue.id()), 0u);
}

// Tests that a text longer than msgmax is an error naming msgsnd.
TEST(Stage2TypedMessages, TooLongTextIsAnErrorNamingMsgsnd) {
  SysvQueue queue = SysvQueue::Create(kata::UniqueSysvKey());
  const std::string text(Msgmax() + 1, 'x');
  ExpectSystemError([&] { queue.Send(1, text); }, std::errc::invalid_argument,
                    "msgsnd",
                    Hint("msgsnd refuses a text longer than msgmax with "
                         "EINVAL; throw std::system_error"));
  EXPECT_EQ(RawCount(queue.id()), 0u);
}

// Tests that any process that knows the key can send, and any can receive:
// a child sends, the parent receives.
TEST(Stage2TypedMessages, AnotherProcessSendsByKey) {
  const key_t key = kata::UniqueSysvKey();
  SysvQueue queue = SysvQueue::Create(key);
  kata::RunInChild([key] {
    SysvQueue mine = SysvQueue::Open(key);
    mine.Send(4, "from pid " + std::to_string(getpid()));
  });
  ASSERT_EQ(RawCount(queue.id()), 1u) << "the child's message never arrived";
  Message message = queue.Receive();
  EXPECT_EQ(message.type, 4);
  EXPECT_EQ(message.text.rfind("from pid ", 0), 0u) << Show(message.text);
}

// Tests that Receive waits for a message that is not there yet.
TEST(Stage2TypedMessages, ReceiveWaitsForAMessage) {
  kata::OnDeadlock("Receive waits in msgrcv for a message of the wanted type");
  SysvQueue queue = SysvQueue::Create(kata::UniqueSysvKey());
  const int id = queue.id();
  kata::Child sender([id] {
    kata::WaitUntilBlocked(kata::RunnerPid());
    RawSend(id, 9, "worth the wait");
  });
  EXPECT_EQ(queue.Receive(), (Message{9, "worth the wait"}))
      << Hint("a blocking Receive calls msgrcv without IPC_NOWAIT");
  sender.Join();
}

// Tests that the kata really goes through a System V queue.
TEST(Stage2TypedMessages, UsesASystemVQueue) {
  kata::CallCounter calls;
  SysvQueue queue = SysvQueue::Create(kata::UniqueSysvKey());
  queue.Send(1, "x");
  (void)queue.Receive();
  kata::ExpectUsed(calls, {"msgget"}, 1, "a System V message queue (msgget)");
  kata::ExpectUsed(calls, {"msgsnd"}, 1, "a System V message queue (msgsnd)");
  kata::ExpectUsed(calls, {"msgrcv"}, 1, "a System V message queue (msgrcv)");
}

// Puts types 3, 1, 2, 1 into the queue, in that order.
void EnqueueThreeOneTwoOne(int id) {
  ASSERT_TRUE(RawSend(id, 3, "3a"));
  ASSERT_TRUE(RawSend(id, 1, "1a"));
  ASSERT_TRUE(RawSend(id, 2, "2a"));
  ASSERT_TRUE(RawSend(id, 1, "1b"));
}

// =========================================================== Stage 3

// Tests that Any() takes messages in the order they were sent.
TEST(Stage3SelectByType, AnyTakesTheOldestMessage) {
  SysvQueue queue = SysvQueue::Create(kata::UniqueSysvKey());
  EnqueueThreeOneTwoOne(queue.id());
  const Message first = queue.Receive(Any());
  EXPECT_EQ(first, (Message{3, "3a"})) << Hint("Any() is msgrcv with msgtyp 0");
  EXPECT_EQ(queue.Receive(Any()), (Message{1, "1a"}));
  EXPECT_EQ(queue.Receive(Any()), (Message{2, "2a"}));
  EXPECT_EQ(queue.Receive(Any()), (Message{1, "1b"}));
}

// Tests that Exactly(t) takes the oldest message of type t and leaves the
// others in their order.
TEST(Stage3SelectByType, ExactlyTakesTheOldestOfThatType) {
  SysvQueue queue = SysvQueue::Create(kata::UniqueSysvKey());
  EnqueueThreeOneTwoOne(queue.id());
  EXPECT_EQ(queue.Receive(Exactly(1)), (Message{1, "1a"}))
      << Hint(kExactlyIsPositive);
  EXPECT_EQ(queue.Receive(Exactly(1)), (Message{1, "1b"}))
      << Hint(kExactlyIsPositive);
  EXPECT_EQ(TakeAllRaw(queue.id()),
            (std::vector<Message>{{3, "3a"}, {2, "2a"}}))
      << "what is left in the queue" << Hint(kExactlyIsPositive);
}

// Tests that LowestUpTo(t) takes the lowest type <= t first (types used as
// priorities where a lower number goes first), and never a type above t.
TEST(Stage3SelectByType, LowestUpToTakesTheLowestTypeFirst) {
  SysvQueue queue = SysvQueue::Create(kata::UniqueSysvKey());
  EnqueueThreeOneTwoOne(queue.id());
  EXPECT_EQ(queue.Receive(LowestUpTo(2)), (Message{1, "1a"}))
      << Hint(kLowestUpToIsNegative);
  EXPECT_EQ(queue.Receive(LowestUpTo(2)), (Message{1, "1b"}))
      << Hint(kLowestUpToIsNegative);
  EXPECT_EQ(queue.Receive(LowestUpTo(2)), (Message{2, "2a"}))
      << Hint(kLowestUpToIsNegative);
  EXPECT_EQ(TakeAllRaw(queue.id()), (std::vector<Message>{{3, "3a"}}))
      << "what is left in the queue" << Hint(kLowestUpToIsNegative);
}

// Tests that LowestUpTo(t) passes over types above t, even at the head.
TEST(Stage3SelectByType, LowestUpToSkipsHigherTypes) {
  SysvQueue queue = SysvQueue::Create(kata::UniqueSysvKey());
  ASSERT_TRUE(RawSend(queue.id(), 5, "five"));
  ASSERT_TRUE(RawSend(queue.id(), 4, "four"));
  ASSERT_TRUE(RawSend(queue.id(), 3, "three"));
  EXPECT_EQ(queue.Receive(LowestUpTo(4)), (Message{3, "three"}))
      << Hint(kLowestUpToIsNegative);
  EXPECT_EQ(queue.Receive(LowestUpTo(4)), (Message{4, "four"}))
      << Hint(kLowestUpToIsNegative);
  EXPECT_EQ(TakeAllRaw(queue.id()), (std::vector<Message>{{5, "five"}}));
}

// Tests that Exactly and LowestUpTo refuse types that are not > 0: msgrcv
// would read 0 as "any" and -t as "lowest up to t", a silent surprise.
TEST(Stage3SelectByType, SelectorsRejectTypesThatAreNotPositive) {
  SysvQueue queue = SysvQueue::Create(kata::UniqueSysvKey());
  EnqueueThreeOneTwoOne(queue.id());  // a message for any msgtyp to take
  EXPECT_THROW((void)queue.Receive(Exactly(0)), std::invalid_argument)
      << Hint(kSelectorTypes);
  EXPECT_THROW((void)queue.Receive(Exactly(-2)), std::invalid_argument)
      << Hint(kSelectorTypes);
  EXPECT_THROW((void)queue.Receive(LowestUpTo(0)), std::invalid_argument)
      << Hint(kSelectorTypes);
  EXPECT_EQ(RawCount(queue.id()), 4u)
      << "a refused receive took a message" << Hint(kSelectorTypes);
}

// Tests that a receiver waiting for type 5 lets a type-4 message pass by and
// wakes up for the type-5 one.
TEST(Stage3SelectByType, ReceiveWaitsForTheWantedType) {
  kata::OnDeadlock("the child waits for a message of type 5");
  SysvQueue queue = SysvQueue::Create(kata::UniqueSysvKey());
  kata::SharedText got;
  kata::Child receiver([&] {
    const Message message = queue.Receive(Exactly(5));
    got.Store(std::to_string(message.type) + ":" + message.text);
  });
  if (kata::WaitUntilBlocked(receiver.pid())) {
    ASSERT_TRUE(RawSend(queue.id(), 4, "not for you"));
    std::this_thread::sleep_for(20ms);  // a wrong receiver would take it now
    ASSERT_TRUE(RawSend(queue.id(), 5, "yours"));
  }
  receiver.Join();
  EXPECT_EQ(got.Load(), "5:yours") << Hint(kExactlyIsPositive);
  EXPECT_EQ(TakeAllRaw(queue.id()), (std::vector<Message>{{4, "not for you"}}));
}

// =========================================================== Stage 4

// Tests that TryReceive on an empty queue is "nothing", not an error.
TEST(Stage4WaitingAndNotWaiting, TryReceiveOnAnEmptyQueueIsNullopt) {
  SysvQueue queue = SysvQueue::Create(kata::UniqueSysvKey());
  try {
    EXPECT_EQ(queue.TryReceive(), std::nullopt);
  } catch (const std::system_error& e) {
    ADD_FAILURE() << "TryReceive threw " << e.what() << Hint(kEmptyIsEnomsg);
  }
}

// Tests that TryReceive of a type nobody sent is "nothing" while other types
// wait, and that it takes the type once it is there.
TEST(Stage4WaitingAndNotWaiting, TryReceiveOfAMissingTypeIsNullopt) {
  SysvQueue queue = SysvQueue::Create(kata::UniqueSysvKey());
  ASSERT_TRUE(RawSend(queue.id(), 1, "one"));
  ASSERT_TRUE(RawSend(queue.id(), 2, "two"));
  try {
    EXPECT_EQ(queue.TryReceive(Exactly(3)), std::nullopt)
        << Hint(kEmptyIsEnomsg);
    EXPECT_EQ(queue.TryReceive(Exactly(2)), (Message{2, "two"}));
  } catch (const std::system_error& e) {
    ADD_FAILURE() << "TryReceive threw " << e.what() << Hint(kEmptyIsEnomsg);
  }
  EXPECT_EQ(RawCount(queue.id()), 1u);
}

// Tests that TrySend fills the queue up to its byte limit (msg_qbytes) and
// then says false instead of waiting.
TEST(Stage4WaitingAndNotWaiting, TrySendOnAFullQueueReturnsFalse) {
  kata::OnDeadlock("TrySend waited on a full queue: it must use IPC_NOWAIT");
  SysvQueue queue = SysvQueue::Create(kata::UniqueSysvKey());
  std::optional<msqid_ds> info = RawStat(queue.id());
  ASSERT_TRUE(info.has_value());
  const std::size_t fits = info->msg_qbytes / 1024;
  const std::string kilobyte(1024, 'k');
  std::size_t sent = 0;
  try {
    while (sent <= fits && queue.TrySend(1, kilobyte)) ++sent;
  } catch (const std::system_error& e) {
    ADD_FAILURE() << "TrySend threw " << e.what() << Hint(kFullIsEagain);
  }
  EXPECT_EQ(sent, fits) << "a queue of " << info->msg_qbytes << " bytes holds "
                        << fits << " messages of 1 KiB" << Hint(kFullIsEagain);
  EXPECT_EQ(RawCount(queue.id()), fits);
}

// Tests that Send on a full queue waits until a receiver makes room.
TEST(Stage4WaitingAndNotWaiting, SendWaitsForRoom) {
  kata::OnDeadlock(
      "Send waits on a full queue until the child receives a message");
  SysvQueue queue = SysvQueue::Create(kata::UniqueSysvKey());
  const int id = queue.id();
  const std::string kilobyte(1024, 'k');
  std::size_t full = 0;
  while (RawSend(id, 1, kilobyte, IPC_NOWAIT)) ++full;
  kata::Child receiver([id] {
    if (kata::WaitUntilBlocked(kata::RunnerPid())) RawTake(id, 0);
  });
  queue.Send(2, kilobyte);
  receiver.Join();
  EXPECT_EQ(RawCount(id), full);
  EXPECT_TRUE(RawTake(id, 2).has_value())
      << "the waiting message never went in";
}

// Tests that Status reports what msgctl(IPC_STAT) knows: how many messages,
// how many bytes, and who sent and received last.
TEST(Stage4WaitingAndNotWaiting, StatusReportsWhatTheKernelKnows) {
  SysvQueue queue = SysvQueue::Create(kata::UniqueSysvKey());
  const int id = queue.id();
  kata::Child sender([id] {
    RawSend(id, 1, "abc");
    RawSend(id, 2, "def");
  });
  const pid_t sender_pid = sender.pid();
  sender.Join();
  const std::size_t max_bytes = RawStat(id)->msg_qbytes;
  EXPECT_EQ(queue.Status(), (SysvStatus{2, 6, max_bytes, sender_pid, 0}))
      << Hint("copy msg_qnum, msg_cbytes, msg_qbytes, msg_lspid, msg_lrpid");
  (void)RawTake(id, 0);
  EXPECT_EQ(queue.Status().last_receiver, getpid());
}

// Tests that a Receive blocked in msgrcv survives a signal handler, even one
// installed with SA_RESTART (msgrcv is never restarted).
TEST(Stage4WaitingAndNotWaiting, BlockedReceiveSurvivesASignal) {
  kata::OnDeadlock("Receive waits for the message the child sends");
  InterruptingSignal interrupt(SIGUSR1, SA_RESTART);
  SysvQueue queue = SysvQueue::Create(kata::UniqueSysvKey());
  const int id = queue.id();
  kata::Child sender([id] {
    InterruptRunnerWhenBlocked(SIGUSR1);
    RawSend(id, 1, "after the signal");
  });
  try {
    EXPECT_EQ(queue.Receive(), (Message{1, "after the signal"}));
  } catch (const std::system_error& e) {
    ADD_FAILURE() << "Receive threw " << e.what() << Hint(kRetryEintr);
  }
  sender.Join();
}

// Tests that a Send blocked on a full queue survives a signal handler.
TEST(Stage4WaitingAndNotWaiting, BlockedSendSurvivesASignal) {
  kata::OnDeadlock("Send waits on a full queue until the child makes room");
  InterruptingSignal interrupt(SIGUSR1, SA_RESTART);
  SysvQueue queue = SysvQueue::Create(kata::UniqueSysvKey());
  const int id = queue.id();
  const std::string kilobyte(1024, 'k');
  while (RawSend(id, 1, kilobyte, IPC_NOWAIT)) {
  }
  kata::Child receiver([id] {
    InterruptRunnerWhenBlocked(SIGUSR1);
    RawTake(id, 0);
  });
  try {
    queue.Send(2, kilobyte);
  } catch (const std::system_error& e) {
    ADD_FAILURE() << "Send threw " << e.what() << Hint(kRetryEintr);
  }
  receiver.Join();
  EXPECT_TRUE(RawTake(id, 2).has_value()) << Hint(kRetryEintr);
}

// Tests that removing a queue wakes a receiver blocked on it, with EIDRM.
TEST(Stage4WaitingAndNotWaiting, RemovalWakesABlockedReceiver) {
  kata::OnDeadlock(
      "the child waits on a queue that was removed: msgrcv fails with EIDRM");
  const key_t key = kata::UniqueSysvKey();
  SysvQueue queue = SysvQueue::Create(key);
  kata::Child receiver([key] {
    SysvQueue mine = SysvQueue::Open(key);
    ExpectSystemError([&] { (void)mine.Receive(); },
                      std::errc::identifier_removed, "msgrcv",
                      Hint(kEidrmIsFinal));
  });
  if (kata::WaitUntilBlocked(receiver.pid())) queue.Remove();
  receiver.Join();
}

// =========================================================== Stage 5

// Tests that a message longer than the capacity is refused with E2BIG and
// stays in the queue for a receiver with more room.
TEST(Stage5OversizedMessages, TooLongIsE2bigAndStaysQueued) {
  SysvQueue queue = SysvQueue::Create(kata::UniqueSysvKey());
  ASSERT_TRUE(RawSend(queue.id(), 1, "0123456789"));
  ExpectSystemError([&] { (void)queue.Receive(Any(), 4); },
                    std::errc::argument_list_too_long, "msgrcv",
                    Hint(kE2bigByDefault));
  EXPECT_EQ(RawCount(queue.id()), 1u) << Hint(kE2bigByDefault);
  EXPECT_EQ(queue.Receive(Any(), 10), (Message{1, "0123456789"}))
      << Hint("capacity is msgrcv's msgsz: the room for the text alone");
}

// Tests that truncation happens only when asked, keeps the first bytes and
// loses the rest.
TEST(Stage5OversizedMessages, TruncateOnRequestKeepsThePrefix) {
  SysvQueue queue = SysvQueue::Create(kata::UniqueSysvKey());
  ASSERT_TRUE(RawSend(queue.id(), 6, "0123456789"));
  EXPECT_EQ(queue.Receive(Any(), 4, Oversize::kTruncate), (Message{6, "0123"}))
      << Hint(kTruncateIsMsgNoerror);
  EXPECT_EQ(RawCount(queue.id()), 0u)
      << "the truncated message should be gone, its tail lost"
      << Hint(kTruncateIsMsgNoerror);
}

// Tests the edges: a message exactly as long as the capacity, and an empty
// message with no room at all.
TEST(Stage5OversizedMessages, ExactFitNeedsNoTruncation) {
  SysvQueue queue = SysvQueue::Create(kata::UniqueSysvKey());
  ASSERT_TRUE(RawSend(queue.id(), 1, "0123456789"));
  ASSERT_TRUE(RawSend(queue.id(), 2, ""));
  EXPECT_EQ(queue.Receive(Any(), 10), (Message{1, "0123456789"}));
  EXPECT_EQ(queue.Receive(Any(), 0), (Message{2, ""}));
}

// Tests that TryReceive refuses an oversized message too: E2BIG is an error,
// not "nothing there".
TEST(Stage5OversizedMessages, TryReceiveAlsoRefusesOversize) {
  SysvQueue queue = SysvQueue::Create(kata::UniqueSysvKey());
  ASSERT_TRUE(RawSend(queue.id(), 1, "0123456789"));
  ExpectSystemError([&] { (void)queue.TryReceive(Any(), 4); },
                    std::errc::argument_list_too_long, "msgrcv",
                    Hint(kE2bigByDefault));
  EXPECT_EQ(RawCount(queue.id()), 1u) << Hint(kE2bigByDefault);
}

// =========================================================== Stage 6

std::string Upper(std::string_view text) {
  std::string upper(text);
  for (char& c : upper) c = static_cast<char>(std::toupper(c));
  return upper;
}

// Tests the server side against raw clients: a request of type 1 from client
// 42 is answered with a message of type 42.
TEST(Stage6OneQueueServer, ServeOneRepliesWithTheClientIdAsType) {
  SysvQueue queue = SysvQueue::Create(kata::UniqueSysvKey());
  ASSERT_TRUE(RawSend(queue.id(), kRequestType, RequestText(42, "ping")));
  const long served = kata::message_queue::ServeOne(queue, Upper);
  EXPECT_EQ(served, 42) << Hint("return the client id read from the request");
  EXPECT_EQ(TakeAllRaw(queue.id()), (std::vector<Message>{{42, "PING"}}))
      << "what the queue holds after ServeOne" << Hint(kReplyTypeIsClientId);
}

// Tests that the server takes only requests: a reply still waiting for its
// client stays in the queue, even at its head.
TEST(Stage6OneQueueServer, ServeOneTakesOnlyRequests) {
  SysvQueue queue = SysvQueue::Create(kata::UniqueSysvKey());
  ASSERT_TRUE(RawSend(queue.id(), 7, "a reply waiting for client 7"));
  ASSERT_TRUE(RawSend(queue.id(), kRequestType, RequestText(9, "hi")));
  try {
    EXPECT_EQ(kata::message_queue::ServeOne(queue, Upper), 9)
        << Hint(kServerTakesRequestsOnly);
  } catch (const std::runtime_error& e) {
    ADD_FAILURE() << "ServeOne threw " << e.what()
                  << Hint(kServerTakesRequestsOnly);
  }
  EXPECT_EQ(RawTake(queue.id(), 7),
            (Message{7, "a reply waiting for client 7"}))
      << Hint(kServerTakesRequestsOnly);
  EXPECT_EQ(RawTake(queue.id(), 9), (Message{9, "HI"}));
}

// Tests the client side against a raw server: Call sends a request of type 1
// carrying the client id, and returns the reply typed with that id.
TEST(Stage6OneQueueServer, CallSendsARequestAndWaitsForItsReply) {
  kata::OnDeadlock(std::string("the client waits for its reply: ") +
                   kRequestFormat);
  SysvQueue queue = SysvQueue::Create(kata::UniqueSysvKey());
  const int id = queue.id();
  kata::Child server([id] {
    std::optional<Message> request = RawTakeWithin(id, 0);
    ASSERT_TRUE(request.has_value()) << "no request arrived within 2 s";
    EXPECT_EQ(request->type, kRequestType) << Hint(kRequestFormat);
    EXPECT_EQ(request->text, RequestText(42, "hello"))
        << "the request's text is " << Show(request->text)
        << Hint(kRequestFormat);
    RawSend(id, 42, "hello back");
  });
  EXPECT_EQ(kata::message_queue::Call(queue, 42, "hello"), "hello back")
      << Hint(kClientTakesOwnReplies);
  server.Join();
}

// Tests that a client takes only its own reply: one for another client
// waiting at the head of the queue stays there.
TEST(Stage6OneQueueServer, CallTakesOnlyItsOwnReply) {
  kata::OnDeadlock(std::string("the client waits for its reply: ") +
                   kClientTakesOwnReplies);
  SysvQueue queue = SysvQueue::Create(kata::UniqueSysvKey());
  const int id = queue.id();
  ASSERT_TRUE(RawSend(id, 7, "for client 7"));
  kata::Child server([id] {
    if (RawTakeWithin(id, kRequestType)) RawSend(id, 9, "for client 9");
  });
  EXPECT_EQ(kata::message_queue::Call(queue, 9, "mine?"), "for client 9")
      << Hint(kClientTakesOwnReplies);
  server.Join();
  EXPECT_EQ(TakeAllRaw(id), (std::vector<Message>{{7, "for client 7"}}))
      << "what is left in the queue" << Hint(kClientTakesOwnReplies);
}

// Tests that client ids 1 and below are refused: a client of id 1 would
// read requests as if they were its replies.
TEST(Stage6OneQueueServer, ClientIdMustBeAboveTheRequestType) {
  SysvQueue queue = SysvQueue::Create(kata::UniqueSysvKey());
  kata::CallCounter calls;
  for (long bad : {1L, 0L, -5L}) {
    EXPECT_THROW((void)kata::message_queue::Call(queue, bad, "x"),
                 std::invalid_argument)
        << "client id " << bad
        << Hint(
               "check the client id before sending: it must be > "
               "kRequestType");
  }
  EXPECT_EQ(calls.Count({"msgsnd"}), 0);
}

// Tests that a request too short to hold a client id, or naming an id that
// is not a client's, is an error and gets no reply.
TEST(Stage6OneQueueServer, MalformedRequestsAreErrors) {
  SysvQueue queue = SysvQueue::Create(kata::UniqueSysvKey());
  ASSERT_TRUE(RawSend(queue.id(), kRequestType, "abc"));
  EXPECT_THROW((void)kata::message_queue::ServeOne(queue, Upper),
               std::runtime_error)
      << Hint("a request shorter than sizeof(long) has no client id");
  ASSERT_TRUE(RawSend(queue.id(), kRequestType, RequestText(1, "x")));
  EXPECT_THROW((void)kata::message_queue::ServeOne(queue, Upper),
               std::runtime_error)
      << Hint("a reply of type 1 would be read as a request");
  EXPECT_EQ(RawCount(queue.id()), 0u) << "a malformed request got a reply";
}

// Tests the whole design: 8 client processes make 100 calls each, at the
// same time, through one queue and one server process. Every client gets
// exactly its own replies, in order, and nothing is left over.
TEST(Stage6OneQueueServer, EightClientsAHundredCallsEach) {
  constexpr int kClients = 8, kCalls = 100;
  kata::OnDeadlock(std::string("a client or the server waits for a message "
                               "that never comes: ") +
                       kServerTakesRequestsOnly + "; " + kReplyTypeIsClientId +
                       "; " + kClientTakesOwnReplies,
                   10s);
  SysvQueue queue = SysvQueue::Create(kata::UniqueSysvKey());
  kata::CallCounter calls;
  auto handler = [](std::string_view request) {
    return "reply to " + std::string(request);
  };
  kata::Child server(
      [&] { kata::message_queue::Serve(queue, handler, kClients * kCalls); });
  std::vector<kata::Child> clients;
  for (int c = 0; c < kClients; ++c) {
    const long client_id = 100 + c;
    clients.emplace_back([&, client_id] {
      for (int k = 0; k < kCalls; ++k) {
        const std::string request = "client " + std::to_string(client_id) +
                                    " call " + std::to_string(k);
        const std::string reply =
            kata::message_queue::Call(queue, client_id, request);
        if (reply != "reply to " + request) {
          ADD_FAILURE() << "client " << client_id << ", call " << k
                        << ": expected \"reply to " << request << "\", got "
                        << Show(reply) << Hint(kClientTakesOwnReplies);
          return;
        }
      }
    });
  }
  for (kata::Child& client : clients) client.Join();
  if (testing::Test::HasFailure()) return;  // the server would wait forever
  server.Join();
  EXPECT_EQ(RawCount(queue.id()), 0u) << "messages left over";
  kata::ExpectUsed(calls, {"msgsnd"}, 2 * kClients * kCalls,
                   "one System V queue for requests and replies (msgsnd)");
  kata::ExpectUsed(calls, {"msgrcv"}, 2 * kClients * kCalls,
                   "one System V queue for requests and replies (msgrcv)");
  EXPECT_EQ(calls.Count({"msgget", "mq_open", "socket", "socketpair",
                         "pthread_create"}),
            0)
      << "this kata asks for ONE System V queue shared by the server and "
         "every client, in processes: no other queue, socket or thread";
}

// -------------------------------------------- Stage 6: on the wire

// A struct msgbuf as a program in another language lays it out: a long for
// the type, then raw bytes. The foreign peers below build and read every
// byte of a request themselves, as the README's "On the wire" tells them.
struct ForeignMessage {
  long mtype;
  unsigned char mtext[256];
};

// A client id that uses all 8 bytes, so that a 4-byte id or the wrong byte
// order cannot pass for it.
constexpr long kWideClientId = 0x0102030405060708L;

// Tests the wire format from outside, both ways: a foreign client process
// packs a request byte by byte (type 1; bytes 08 07 06 05 04 03 02 01 for the
// client id 0x0102030405060708, least significant first; then the body) and
// gets ServeOne's reply typed with that id; a foreign server process reads
// Call's request byte by byte and answers it.
TEST(Stage6OneQueueServer, ForeignPeersSpeakTheWireFormat) {
  kata::OnDeadlock(std::string("a foreign peer and the kata exchange a "
                               "request and its reply: ") +
                   kRequestFormat);
  SysvQueue queue = SysvQueue::Create(kata::UniqueSysvKey());
  const int id = queue.id();
  const std::string body("\0ping", 5);
  kata::Child client([id, body] {
    ForeignMessage request{};
    request.mtype = 1;
    for (int i = 0; i < 8; ++i)
      request.mtext[i] = static_cast<unsigned char>(8 - i);
    std::memcpy(request.mtext + 8, body.data(), body.size());
    ASSERT_EQ(msgsnd(id, &request, 8 + body.size(), 0), 0)
        << std::strerror(errno);
    ForeignMessage reply{};
    ssize_t length = -1;
    for (int tries = 0; tries < 2000 && length < 0; ++tries) {
      length =
          msgrcv(id, &reply, sizeof(reply.mtext), kWideClientId, IPC_NOWAIT);
      if (length < 0) std::this_thread::sleep_for(1ms);
    }
    ASSERT_GE(length, 0) << "no reply typed " << kWideClientId << " within 2 s"
                         << Hint(kReplyTypeIsClientId);
    EXPECT_EQ(std::string(reinterpret_cast<char*>(reply.mtext),
                          static_cast<std::size_t>(length)),
              "reply to " + body)
        << Hint("a reply's text is the handler's reply alone",
                README "#on-the-wire");
  });
  auto reply_to = [](std::string_view request) {
    return "reply to " + std::string(request);
  };
  long served = 0;
  try {
    served = kata::message_queue::ServeOne(queue, reply_to);
  } catch (const std::runtime_error& e) {
    ADD_FAILURE() << "ServeOne refused the foreign request: " << e.what()
                  << Hint(kRequestFormat, README "#on-the-wire");
  }
  EXPECT_EQ(served, kWideClientId)
      << "ServeOne read the client id 0x0102030405060708 as " << std::hex
      << served << Hint(kRequestFormat, README "#on-the-wire");
  client.Join();

  kata::Child server([id, body] {
    ForeignMessage request{};
    ssize_t length = -1;
    for (int tries = 0; tries < 2000 && length < 0; ++tries) {
      length = msgrcv(id, &request, sizeof(request.mtext), 1, IPC_NOWAIT);
      if (length < 0) std::this_thread::sleep_for(1ms);
    }
    ASSERT_EQ(length, static_cast<ssize_t>(8 + body.size()))
        << "the request's length"
        << Hint(kRequestFormat, README "#on-the-wire");
    long client_id = 0;
    for (int i = 7; i >= 0; --i)
      client_id = (client_id << 8) | request.mtext[i];
    EXPECT_EQ(client_id, kWideClientId)
        << "bytes 0 to 7 of the request, least significant first"
        << Hint(kRequestFormat, README "#on-the-wire");
    EXPECT_EQ(
        std::string(reinterpret_cast<char*>(request.mtext + 8), body.size()),
        body)
        << Hint("the body follows the 8 bytes of the id",
                README "#on-the-wire");
    ForeignMessage reply{};
    reply.mtype = client_id;
    std::memcpy(reply.mtext, "pong", 4);
    msgsnd(id, &reply, 4, 0);
  });
  EXPECT_EQ(kata::message_queue::Call(queue, kWideClientId, body), "pong")
      << Hint(kClientTakesOwnReplies);
  server.Join();
  EXPECT_EQ(RawCount(id), 0u);
}

// ------------------------------- Stage 6: one side finishes early

// Tests a client that is gone before its reply: killed while it waits in
// Call. The server is not held up (ServeOne answers and returns at once),
// the reply stays in the queue typed with the dead client's id, and other
// clients go on getting exactly their own replies.
TEST(Stage6OneQueueServer, AClientGoneBeforeItsReplyLeavesItQueued) {
  kata::OnDeadlock("ServeOne answers a client that is gone, then a live one");
  SysvQueue queue = SysvQueue::Create(kata::UniqueSysvKey());
  const int id = queue.id();
  const pid_t gone = fork();
  if (gone == 0) {
    try {
      (void)kata::message_queue::Call(queue, 41, "orphan");
    } catch (...) {
    }
    _exit(0);
  }
  ASSERT_GT(gone, 0) << std::strerror(errno);
  // Gone while it waits: its request is queued and it sleeps in msgrcv.
  bool waiting = false;
  for (int tries = 0; tries < 2000 && !waiting; ++tries) {
    waiting = RawCount(id) == 1 && kata::ProcessState(gone) == 'S';
    if (!waiting) std::this_thread::sleep_for(1ms);
  }
  kill(gone, SIGKILL);
  waitpid(gone, nullptr, 0);
  ASSERT_TRUE(waiting) << "the client never sent its request and waited";
  EXPECT_EQ(kata::message_queue::ServeOne(queue, Upper), 41);
  kata::Child alive([&] {
    EXPECT_EQ(kata::message_queue::Call(queue, 42, "alive"), "ALIVE")
        << Hint(kClientTakesOwnReplies);
  });
  EXPECT_EQ(kata::message_queue::ServeOne(queue, Upper), 42);
  alive.Join();
  EXPECT_EQ(TakeAllRaw(id), (std::vector<Message>{{41, "ORPHAN"}}))
      << "the queue after both replies"
      << Hint(
             "a reply waits for its client's id, whether or not the client "
             "is still there",
             README "#stage-6-one-queue-many-clients");
}

// Tests a server that stops without answering: it takes the request, its
// handler fails, and it removes the queue as it leaves. The client waiting in
// Call is not left waiting: it gets std::system_error naming msgrcv.
TEST(Stage6OneQueueServer, AServerThatStopsUnansweredEndsTheCall) {
  kata::OnDeadlock(std::string("Call waits for a reply from a server that "
                               "removed the queue: ") +
                   kEidrmIsFinal);
  const key_t key = kata::UniqueSysvKey();
  SysvQueue queue = SysvQueue::Create(key);
  kata::Child server([key] {
    SysvQueue mine = SysvQueue::Open(key);
    EXPECT_THROW((void)kata::message_queue::ServeOne(
                     mine,
                     [](std::string_view) -> std::string {
                       throw std::runtime_error("the server gives up");
                     }),
                 std::runtime_error);
    kata::WaitUntilBlocked(kata::RunnerPid());
    mine.Remove();
  });
  ExpectSystemError(
      [&] { (void)kata::message_queue::Call(queue, 7, "anyone there?"); },
      {std::errc::identifier_removed, std::errc::invalid_argument}, "msgrcv",
      Hint(kEidrmIsFinal, README "#stage-6-one-queue-many-clients"));
  server.Join();
  EXPECT_FALSE(QueueExists(queue.id()));
}

// =========================================================== Stage 7

// Tests that Create with no limits gets the system defaults, and owns the
// queue.
TEST(Stage7PosixQueues, CreateUsesTheSystemDefaults) {
  const std::string name = kata::UniqueName("defaults");
  PosixQueue queue = PosixQueue::Create(name);
  RawMq raw(name);
  ASSERT_TRUE(raw.ok()) << "mq_open(" << name << "): " << std::strerror(errno)
                        << Hint(
                               "mq_open(name, O_CREAT | O_EXCL | O_RDWR, "
                               "0600, nullptr)");
  const mq_attr attr = *RawAttr(raw.get());
  EXPECT_EQ(attr.mq_maxmsg, ReadProcLong("/proc/sys/fs/mqueue/msg_default", 10))
      << Hint("pass a null mq_attr to get the system defaults");
  EXPECT_EQ(attr.mq_msgsize,
            ReadProcLong("/proc/sys/fs/mqueue/msgsize_default", 8192));
  EXPECT_EQ(queue.Attributes(),
            (PosixAttributes{attr.mq_maxmsg, attr.mq_msgsize, 0}))
      << Hint("copy mq_maxmsg, mq_msgsize and mq_curmsgs from mq_getattr");
  EXPECT_TRUE(queue.owner());
  EXPECT_EQ(queue.name(), name);
}

// Tests that chosen limits reach the kernel.
TEST(Stage7PosixQueues, CreateWithChosenLimits) {
  const std::string name = kata::UniqueName("limits");
  PosixQueue queue = PosixQueue::Create(name, PosixLimits{4, 128});
  RawMq raw(name);
  ASSERT_TRUE(raw.ok()) << std::strerror(errno);
  const mq_attr attr = *RawAttr(raw.get());
  EXPECT_EQ(attr.mq_maxmsg, 4) << Hint("fill mq_attr's mq_maxmsg");
  EXPECT_EQ(attr.mq_msgsize, 128) << Hint("fill mq_attr's mq_msgsize");
}

// Tests that limits above the ceiling are the kernel's EINVAL, reported as
// an error naming mq_open.
TEST(Stage7PosixQueues, LimitsAboveTheCeilingAreRefused) {
  const std::string name = kata::UniqueName("too-many");
  UnlinkAtEnd cleanup{name};
  const long too_many = MaxMessagesCeiling() + 1;
  ExpectSystemError(
      [&] { (void)PosixQueue::Create(name, PosixLimits{too_many, 64}); },
      std::errc::invalid_argument, "mq_open",
      Hint("mq_maxmsg above /proc/sys/fs/mqueue/msg_max is EINVAL for an "
           "unprivileged process"));
}

// Tests that half-set limits are refused before any call is made.
TEST(Stage7PosixQueues, HalfSetLimitsAreRejected) {
  kata::CallCounter calls;
  EXPECT_THROW(
      (void)PosixQueue::Create(kata::UniqueName("half"), PosixLimits{4, 0}),
      std::invalid_argument)
      << Hint("set both limits, or neither");
  EXPECT_THROW(
      (void)PosixQueue::Create(kata::UniqueName("half"), PosixLimits{0, 64}),
      std::invalid_argument)
      << Hint("set both limits, or neither");
  EXPECT_EQ(calls.Count({"mq_open"}), 0);
}

// Tests that malformed names are refused with a clear error.
TEST(Stage7PosixQueues, NamesNeedOneLeadingSlash) {
  kata::CallCounter calls;
  const std::vector<std::string> bad_names = {"no-slash", "/two/slashes", "/",
                                              "", "/" + std::string(256, 'n')};
  for (const std::string& bad : bad_names) {
    EXPECT_THROW((void)PosixQueue::Create(bad), std::invalid_argument)
        << "name \"" << bad << "\"" << Hint(kPosixName);
    EXPECT_THROW((void)PosixQueue::Open(bad), std::invalid_argument)
        << "name \"" << bad << "\"" << Hint(kPosixName);
  }
  EXPECT_EQ(calls.Count({"mq_open"}), 0) << Hint(kPosixName);
}

// Tests that Create refuses a name that is taken (O_EXCL).
TEST(Stage7PosixQueues, CreateRefusesANameInUse) {
  const std::string name = kata::UniqueName("taken");
  UnlinkAtEnd cleanup{name};
  mq_attr attr{};
  attr.mq_maxmsg = 2;
  attr.mq_msgsize = 16;
  RawMq existing(name, O_CREAT | O_EXCL | O_RDWR, &attr);
  ASSERT_TRUE(existing.ok()) << std::strerror(errno);
  ExpectSystemError([&] { (void)PosixQueue::Create(name, {2, 16}); },
                    std::errc::file_exists, "mq_open",
                    Hint("O_CREAT | O_EXCL makes mq_open fail with EEXIST "
                         "when the name is taken"));
}

// Tests that another process opens the queue by name and can send through
// the descriptor it gets.
TEST(Stage7PosixQueues, OpenFindsTheQueueByName) {
  const std::string name = kata::UniqueName("by-name");
  PosixQueue queue = PosixQueue::Create(name, {4, 64});
  kata::RunInChild([&] {
    PosixQueue mine = PosixQueue::Open(name);
    EXPECT_FALSE(mine.owner()) << Hint("Open returns a user, not the owner");
    EXPECT_TRUE(RawMqSend(mine.descriptor(), "from the child", 3))
        << std::strerror(errno)
        << Hint("open read-write: mq_open(name, O_RDWR)");
  });
  RawMq raw(name);
  ASSERT_TRUE(raw.ok());
  EXPECT_EQ(RawMqTake(raw.get()), (PosixMessage{3, "from the child"}));
}

// Tests that opening a name nobody created is an error naming mq_open.
TEST(Stage7PosixQueues, OpenOfAMissingNameIsAnError) {
  ExpectSystemError(
      [] { (void)PosixQueue::Open(kata::UniqueName("missing")); },
      std::errc::no_such_file_or_directory, "mq_open",
      Hint("mq_open without O_CREAT fails with ENOENT for an unknown name"));
}

// Tests that the owner unlinks the name when destroyed: closing alone would
// leave the queue in the kernel until reboot.
TEST(Stage7PosixQueues, OwnerUnlinksOnDestruction) {
  const std::string name = kata::UniqueName("owned");
  {
    PosixQueue queue = PosixQueue::Create(name, {2, 16});
  }
  EXPECT_FALSE(NameExists(name))
      << name << " still exists after its owner was destroyed"
      << Hint(kPosixUnlink, README "#stage-7-posix-queues-names-and-limits");
}

// Tests that a user's destructor closes its descriptor and leaves the name.
TEST(Stage7PosixQueues, UserOnlyCloses) {
  const std::string name = kata::UniqueName("used");
  PosixQueue owner = PosixQueue::Create(name, {2, 16});
  int descriptor = -1;
  {
    PosixQueue user = PosixQueue::Open(name);
    descriptor = user.descriptor();
  }
  EXPECT_EQ(fcntl(descriptor, F_GETFD), -1)
      << "descriptor " << descriptor << " is still open"
      << Hint("the destructor closes the descriptor (mq_close)");
  EXPECT_TRUE(NameExists(name)) << Hint("only the owner unlinks the name");
}

// Tests that Unlink removes the name at once while the open queue keeps
// working, and that unlinking twice is an error.
TEST(Stage7PosixQueues, UnlinkRemovesTheNameNotTheQueue) {
  const std::string name = kata::UniqueName("unlinked");
  PosixQueue queue = PosixQueue::Create(name, {2, 16});
  ASSERT_TRUE(RawMqSend(queue.descriptor(), "still here", 0));
  queue.Unlink();
  EXPECT_FALSE(NameExists(name)) << Hint("Unlink is mq_unlink(name)");
  EXPECT_FALSE(queue.owner()) << Hint("after Unlink there is no name to own");
  EXPECT_EQ(RawMqTake(queue.descriptor()), (PosixMessage{0, "still here"}))
      << Hint("mq_unlink removes the name; the queue lives while it is open");
  ExpectSystemError([&] { queue.Unlink(); },
                    std::errc::no_such_file_or_directory, "mq_unlink",
                    Hint("throw std::system_error when mq_unlink fails"));
}

// Tests that moving a POSIX queue moves the duty to unlink it.
TEST(Stage7PosixQueues, MovedQueueIsUnlinkedOnce) {
  const std::string name = kata::UniqueName("moved");
  std::optional<PosixQueue> holder;
  {
    PosixQueue original = PosixQueue::Create(name, {2, 16});
    holder.emplace(std::move(original));
    EXPECT_EQ(original.descriptor(), -1) << Hint(kMovedFromHoldsNothing);
    EXPECT_FALSE(original.owner()) << Hint(kMovedFromHoldsNothing);
  }
  EXPECT_TRUE(NameExists(name)) << Hint(kMovedFromHoldsNothing);
  EXPECT_EQ(holder->name(), name);
  EXPECT_TRUE(RawMqSend(holder->descriptor(), "x", 0))
      << "the moved-to queue's descriptor does not work";
  holder.reset();
  EXPECT_FALSE(NameExists(name)) << Hint(kPosixUnlink);
}

// =========================================================== Stage 8

// Tests that Receive takes the highest priority first, and the oldest
// message within one priority.
TEST(Stage8PosixMessages, HighestPriorityFirstThenOldest) {
  const std::string name = kata::UniqueName("priorities");
  PosixQueue queue = PosixQueue::Create(name, {8, 64});
  const mqd_t raw = queue.descriptor();
  ASSERT_TRUE(RawMqSend(raw, "low", 1));
  ASSERT_TRUE(RawMqSend(raw, "high", 9));
  ASSERT_TRUE(RawMqSend(raw, "low2", 1));
  ASSERT_TRUE(RawMqSend(raw, "zero", 0));
  EXPECT_EQ(queue.Receive(), (PosixMessage{9, "high"}));
  EXPECT_EQ(queue.Receive(), (PosixMessage{1, "low"}));
  EXPECT_EQ(queue.Receive(), (PosixMessage{1, "low2"}));
  EXPECT_EQ(queue.Receive(), (PosixMessage{0, "zero"}));
}

// Tests that Send hands text and priority to the kernel.
TEST(Stage8PosixMessages, SendPassesTheTextAndPriority) {
  const std::string name = kata::UniqueName("send");
  PosixQueue queue = PosixQueue::Create(name, {4, 64});
  queue.Send(std::string("bytes\0too", 9), 7);
  queue.Send("");
  EXPECT_EQ(RawMqTake(queue.descriptor()),
            (PosixMessage{7, std::string("bytes\0too", 9)}));
  EXPECT_EQ(RawMqTake(queue.descriptor()), (PosixMessage{0, ""}));
}

// Tests that Receive works on a queue with the default message size, even
// for a short message: the buffer must fit the queue's LARGEST message.
TEST(Stage8PosixMessages, ReceiveBufferFitsTheLargestMessage) {
  const std::string name = kata::UniqueName("big");
  PosixQueue queue = PosixQueue::Create(name);
  const long size = RawAttr(queue.descriptor())->mq_msgsize;
  ASSERT_TRUE(RawMqSend(queue.descriptor(), "tiny", 0));
  const std::string largest(static_cast<std::size_t>(size), 'L');
  ASSERT_TRUE(RawMqSend(queue.descriptor(), largest, 0));
  try {
    EXPECT_EQ(queue.Receive(), (PosixMessage{0, "tiny"}));
    EXPECT_EQ(queue.Receive().text.size(), largest.size());
  } catch (const std::system_error& e) {
    ADD_FAILURE() << "Receive threw " << e.what() << Hint(kPosixBufferSize);
  }
}

// Tests that a text longer than the queue's message size is EMSGSIZE.
TEST(Stage8PosixMessages, SendLongerThanTheMessageSizeIsAnError) {
  const std::string name = kata::UniqueName("small");
  PosixQueue queue = PosixQueue::Create(name, {2, 16});
  ExpectSystemError([&] { queue.Send(std::string(17, 'x')); },
                    std::errc::message_size, "mq_send",
                    Hint("mq_send refuses a text longer than mq_msgsize"));
}

// Tests that TrySend fills the queue to mq_maxmsg and then says false.
TEST(Stage8PosixMessages, TrySendOnAFullQueueReturnsFalse) {
  kata::OnDeadlock("TrySend waited on a full queue");
  const std::string name = kata::UniqueName("full");
  PosixQueue queue = PosixQueue::Create(name, {3, 16});
  int sent = 0;
  try {
    while (sent <= 3 && queue.TrySend("m" + std::to_string(sent))) ++sent;
  } catch (const std::system_error& e) {
    ADD_FAILURE() << "TrySend threw " << e.what()
                  << Hint(
                         "a full queue is not an error for TrySend: return "
                         "false");
  }
  EXPECT_EQ(sent, 3);
  EXPECT_EQ(RawAttr(queue.descriptor())->mq_curmsgs, 3);
}

// Tests that ReceiveFor on an empty queue comes back empty-handed.
TEST(Stage8PosixMessages, ReceiveForOnAnEmptyQueueIsNullopt) {
  const std::string name = kata::UniqueName("empty");
  PosixQueue queue = PosixQueue::Create(name, {2, 16});
  try {
    EXPECT_EQ(queue.ReceiveFor(0ms), std::nullopt);
    EXPECT_EQ(queue.ReceiveFor(30ms), std::nullopt);
  } catch (const std::system_error& e) {
    ADD_FAILURE() << "ReceiveFor threw " << e.what()
                  << Hint("a timeout (ETIMEDOUT) is std::nullopt");
  }
}

// Tests that ReceiveFor takes a message that is already there, even with no
// time to wait.
TEST(Stage8PosixMessages, ReceiveForTakesAMessageAlreadyThere) {
  const std::string name = kata::UniqueName("ready");
  PosixQueue queue = PosixQueue::Create(name, {2, 16});
  ASSERT_TRUE(RawMqSend(queue.descriptor(), "ready", 4));
  EXPECT_EQ(queue.ReceiveFor(0ms), (PosixMessage{4, "ready"}));
}

// Tests that ReceiveFor really waits for a message that comes later.
TEST(Stage8PosixMessages, ReceiveForWaitsForALateMessage) {
  kata::OnDeadlock("ReceiveFor waits for the child's message");
  const std::string name = kata::UniqueName("late");
  PosixQueue queue = PosixQueue::Create(name, {2, 16});
  kata::Child sender([&] {
    kata::WaitUntilBlocked(kata::RunnerPid());
    RawMqSend(queue.descriptor(), "late", 2);
  });
  EXPECT_EQ(queue.ReceiveFor(4s), (PosixMessage{2, "late"}))
      << Hint(kAbsoluteDeadline);
  sender.Join();
}

// Tests that a negative timeout is refused.
TEST(Stage8PosixMessages, NegativeTimeoutIsRejected) {
  const std::string name = kata::UniqueName("negative");
  PosixQueue queue = PosixQueue::Create(name, {2, 16});
  EXPECT_THROW((void)queue.ReceiveFor(-1ms), std::invalid_argument);
}

// Tests the two processes end to end: the parent sends by priority, a child
// opens the name and receives in priority order.
TEST(Stage8PosixMessages, AnotherProcessReceivesByName) {
  kata::OnDeadlock("the child waits for messages the parent sent");
  const std::string name = kata::UniqueName("pair");
  PosixQueue queue = PosixQueue::Create(name, {4, 64});
  queue.Send("routine", 1);
  queue.Send("urgent", 20);
  kata::CallCounter calls;
  kata::RunInChild([&] {
    PosixQueue mine = PosixQueue::Open(name);
    EXPECT_EQ(mine.Receive(), (PosixMessage{20, "urgent"}));
    EXPECT_EQ(mine.Receive(), (PosixMessage{1, "routine"}));
  });
  kata::ExpectUsed(calls, {"mq_receive", "mq_timedreceive"}, 2,
                   "a POSIX message queue (mq_receive)");
}

// Tests that the POSIX half goes through POSIX queues.
TEST(Stage8PosixMessages, UsesAPosixQueue) {
  kata::CallCounter calls;
  PosixQueue queue = PosixQueue::Create(kata::UniqueName("proof"), {2, 16});
  queue.Send("x", 1);
  (void)queue.Receive();
  kata::ExpectUsed(calls, {"mq_open"}, 1, "a POSIX message queue (mq_open)");
  kata::ExpectUsed(calls, {"mq_send", "mq_timedsend"}, 1,
                   "a POSIX message queue (mq_send)");
  kata::ExpectUsed(calls, {"mq_receive", "mq_timedreceive"}, 1,
                   "a POSIX message queue (mq_receive)");
}

}  // namespace
