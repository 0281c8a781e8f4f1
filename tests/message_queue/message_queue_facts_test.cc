// Kernel facts about System V and POSIX message queues that
// docs/message_queue.md relies on.
//
// Nothing here tests learner code: every test asks the running Linux kernel
// directly, with raw msgget/msgsnd/msgrcv/msgctl and mq_* calls, so that each
// sentence of the interview notes has a proof anyone can rerun, one test at a
// time if need be:
//
//   bazel test //tests/message_queue:message_queue_facts_test \
//       --test_filter='SysvFacts.NegativeMsgtyp*'
//
// The limits checked (msgmnb 16384, msgmax 8192, POSIX 10 x 8192) are Linux's
// defaults, read from /proc here; the tests print what they find, so a
// machine with other settings shows its own figures.

#include <fcntl.h>
#include <mqueue.h>
#include <poll.h>
#include <signal.h>
#include <sys/ipc.h>
#include <sys/msg.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <memory>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "gtest/gtest.h"
#include "tests/support/kata.h"

namespace {

using namespace std::chrono_literals;

// ----------------------------------------------------------------- helpers

long ReadProcLong(const char* path) {
  std::ifstream in(path);
  long value = -1;
  in >> value;
  return value;
}

// The struct msgbuf of msgop(2), with room for any message.
struct Buffer {
  long type;
  char text[65536];
};

// A System V queue made by the test, removed when the test ends.
class Queue {
 public:
  explicit Queue(key_t key = kata::UniqueSysvKey()) : key_(key) {
    id_ = msgget(key, IPC_CREAT | IPC_EXCL | 0600);
    if (id_ < 0) {
      throw std::system_error(errno, std::generic_category(), "msgget");
    }
  }
  Queue(const Queue&) = delete;
  Queue& operator=(const Queue&) = delete;
  ~Queue() { msgctl(id_, IPC_RMID, nullptr); }

  int id() const { return id_; }
  key_t key() const { return key_; }

  // msgsnd of `text` with type `type`; errno on false.
  bool Send(long type, std::string_view text, int flags = 0) const {
    static Buffer buffer;
    buffer.type = type;
    std::memcpy(buffer.text, text.data(), text.size());
    return msgsnd(id_, &buffer, text.size(), flags) == 0;
  }

  // msgrcv that never waits; "" and errno set when nothing came.
  struct Taken {
    bool ok = false;
    long type = 0;
    std::string text;
  };
  Taken Take(long msgtyp, std::size_t capacity = sizeof(Buffer::text),
             int flags = 0) const {
    static Buffer buffer;
    ssize_t n = msgrcv(id_, &buffer, capacity, msgtyp, flags | IPC_NOWAIT);
    if (n < 0) return {};
    return {true, buffer.type,
            std::string(buffer.text, static_cast<std::size_t>(n))};
  }

  msqid_ds Stat() const {
    msqid_ds info{};
    msgctl(id_, IPC_STAT, &info);
    return info;
  }

 private:
  key_t key_;
  int id_;
};

bool QueueExists(int id) {
  msqid_ds info{};
  return msgctl(id, IPC_STAT, &info) == 0;
}

// A POSIX queue made by the test, closed and unlinked when the test ends.
class PosixQueue {
 public:
  explicit PosixQueue(long max_messages = 0, long message_size = 0,
                      int flags = O_RDWR)
      : name_(kata::UniqueName("fact")) {
    mq_attr attr{};
    attr.mq_maxmsg = max_messages;
    attr.mq_msgsize = message_size;
    queue_ = mq_open(name_.c_str(), O_CREAT | O_EXCL | flags, 0600,
                     max_messages > 0 ? &attr : nullptr);
    if (queue_ == static_cast<mqd_t>(-1)) {
      throw std::system_error(errno, std::generic_category(), "mq_open");
    }
  }
  PosixQueue(const PosixQueue&) = delete;
  PosixQueue& operator=(const PosixQueue&) = delete;
  ~PosixQueue() {
    mq_close(queue_);
    mq_unlink(name_.c_str());
  }

  mqd_t get() const { return queue_; }
  const std::string& name() const { return name_; }
  mq_attr Attr() const {
    mq_attr attr{};
    mq_getattr(queue_, &attr);
    return attr;
  }

 private:
  std::string name_;
  mqd_t queue_;
};

// mq_receive with a buffer as large as the queue's message size; priority
// and text, or nullopt (errno set).
std::optional<std::pair<unsigned, std::string>> PosixTake(mqd_t queue) {
  mq_attr attr{};
  mq_getattr(queue, &attr);
  std::vector<char> buffer(static_cast<std::size_t>(attr.mq_msgsize));
  unsigned priority = 0;
  const timespec past{0, 0};
  ssize_t n =
      mq_timedreceive(queue, buffer.data(), buffer.size(), &priority, &past);
  if (n < 0) return std::nullopt;
  return std::make_pair(
      priority, std::string(buffer.data(), static_cast<std::size_t>(n)));
}

// Whether the POSIX queue ceilings do not apply to this process: it holds
// CAP_SYS_RESOURCE (bit 24 of CapEff) in the INITIAL user namespace. Inside
// Bazel's sandbox the test runs as root of a user namespace of its own
// (uid_map "0 0 1"), whose capabilities the mqueue limits ignore.
bool HasCapSysResource() {
  std::ifstream map("/proc/self/uid_map");
  long inside = -1, outside = -1, count = 0;
  map >> inside >> outside >> count;
  if (count != 4294967295L) return false;  // not the initial namespace
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("CapEff:", 0) != 0) continue;
    unsigned long long mask = 0;
    std::istringstream(line.substr(7)) >> std::hex >> mask;
    return (mask >> 24) & 1;
  }
  return false;
}

// ======================================================= System V facts

// msgop(2): "The mtype field must have a strictly positive integer value."
TEST(SysvFacts, TypeMustBePositive) {
  Queue queue;
  EXPECT_FALSE(queue.Send(0, "zero"));
  EXPECT_EQ(errno, EINVAL);
  EXPECT_FALSE(queue.Send(-1, "negative"));
  EXPECT_EQ(errno, EINVAL);
  EXPECT_EQ(queue.Stat().msg_qnum, 0u);
}

// msgsz is the size of mtext only. A sender that passes the size of the
// whole struct (type included) sends 8 bytes more than it means to, and a
// receiver sized for the real text gets E2BIG; the message stays queued.
TEST(SysvFacts, MsgszCountingTheTypeBreaksTheReceiver) {
  Queue queue;
  struct Request {  // what the sender meant to send: an 8-byte text
    long type;
    char text[8];
  };
  // The mistake is msgsnd(id, &request, sizeof(Request), 0): it sends
  // sizeof(Request) == 16 bytes of text and reads 8 bytes past `request`.
  // Sending from a larger buffer keeps this test itself within bounds.
  Buffer buffer{1, "hello"};
  ASSERT_EQ(msgsnd(queue.id(), &buffer, sizeof(Request), 0), 0);
  EXPECT_EQ(queue.Stat().__msg_cbytes, sizeof(Request))
      << "the queue counts " << sizeof(Request) << " text bytes, not 8";
  Queue::Taken taken = queue.Take(0, sizeof(Request::text));
  EXPECT_FALSE(taken.ok);
  EXPECT_EQ(errno, E2BIG);
  EXPECT_EQ(queue.Stat().msg_qnum, 1u);
}

// Enqueues types 3, 1, 2, 1 in this order.
void ThreeOneTwoOne(const Queue& queue) {
  ASSERT_TRUE(queue.Send(3, "3a"));
  ASSERT_TRUE(queue.Send(1, "1a"));
  ASSERT_TRUE(queue.Send(2, "2a"));
  ASSERT_TRUE(queue.Send(1, "1b"));
}

// msgtyp 0: "the first message in the queue is read", whatever its type.
TEST(SysvFacts, MsgtypZeroTakesTheOldestMessage) {
  Queue queue;
  ThreeOneTwoOne(queue);
  EXPECT_EQ(queue.Take(0).text, "3a");
  EXPECT_EQ(queue.Take(0).text, "1a");
}

// msgtyp > 0: the first message of exactly that type; the rest keep their
// order.
TEST(SysvFacts, PositiveMsgtypTakesTheOldestOfThatType) {
  Queue queue;
  ThreeOneTwoOne(queue);
  EXPECT_EQ(queue.Take(1).text, "1a");
  EXPECT_EQ(queue.Take(1).text, "1b");
  EXPECT_FALSE(queue.Take(1).ok);
  EXPECT_EQ(errno, ENOMSG);
  EXPECT_EQ(queue.Take(0).text, "3a");
}

// msgtyp < 0: "the first message in the queue with the lowest type less than
// or equal to the absolute value of msgtyp"; higher types are never taken.
TEST(SysvFacts, NegativeMsgtypTakesTheLowestTypeFirst) {
  Queue queue;
  ThreeOneTwoOne(queue);
  EXPECT_EQ(queue.Take(-2).text, "1a");
  EXPECT_EQ(queue.Take(-2).text, "1b");
  EXPECT_EQ(queue.Take(-2).text, "2a");
  EXPECT_FALSE(queue.Take(-2).ok) << "type 3 is above 2";
  EXPECT_EQ(errno, ENOMSG);
  EXPECT_EQ(queue.Stat().msg_qnum, 1u);
}

// Linux's MSG_EXCEPT turns msgtyp > 0 around: the first message NOT of that
// type.
TEST(SysvFacts, MsgExceptTakesTheFirstOfAnyOtherType) {
  Queue queue;
  ThreeOneTwoOne(queue);
  EXPECT_EQ(queue.Take(3, sizeof(Buffer::text), MSG_EXCEPT).text, "1a");
  EXPECT_EQ(queue.Take(1, sizeof(Buffer::text), MSG_EXCEPT).text, "3a");
}

// The type is a label receivers select by, not a sequence number: any
// number of messages may share one, and within a type the order of arrival
// holds.
TEST(SysvFacts, TypeIsALabelNotASequenceNumber) {
  Queue queue;
  for (const char* text : {"first", "second", "third"}) {
    ASSERT_TRUE(queue.Send(7, text));
  }
  EXPECT_EQ(queue.Stat().msg_qnum, 3u);
  EXPECT_EQ(queue.Take(7).text, "first");
  EXPECT_EQ(queue.Take(7).text, "second");
  EXPECT_EQ(queue.Take(7).text, "third");
}

// With IPC_NOWAIT an empty queue (or no message of the wanted type) is
// ENOMSG for msgrcv...
TEST(SysvFacts, NoWaitReceiveOnAnEmptyQueueIsEnomsg) {
  Queue queue;
  EXPECT_FALSE(queue.Take(0).ok);
  EXPECT_EQ(errno, ENOMSG);
  ASSERT_TRUE(queue.Send(1, "one"));
  EXPECT_FALSE(queue.Take(7).ok);
  EXPECT_EQ(errno, ENOMSG);
}

// ...while a full queue is EAGAIN for msgsnd. A new queue holds msgmnb bytes
// of text (16384 by default): sixteen messages of 1 KiB.
TEST(SysvFacts, NoWaitSendOnAFullQueueIsEagain) {
  Queue queue;
  const msqid_ds info = queue.Stat();
  const long msgmnb = ReadProcLong("/proc/sys/kernel/msgmnb");
  EXPECT_EQ(static_cast<long>(info.msg_qbytes), msgmnb);
  std::printf("msg_qbytes of a new queue: %lu (/proc/sys/kernel/msgmnb)\n",
              static_cast<unsigned long>(info.msg_qbytes));
  const std::string kilobyte(1024, 'k');
  std::size_t sent = 0;
  while (queue.Send(1, kilobyte, IPC_NOWAIT)) ++sent;
  EXPECT_EQ(errno, EAGAIN);
  EXPECT_EQ(sent, info.msg_qbytes / 1024);
  std::printf("1 KiB messages that fit: %zu\n", sent);
}

// A text longer than msgmax (8192 by default) is refused with EINVAL.
TEST(SysvFacts, TextLongerThanMsgmaxIsEinval) {
  Queue queue;
  const long msgmax = ReadProcLong("/proc/sys/kernel/msgmax");
  std::printf("msgmax: %ld\n", msgmax);
  EXPECT_TRUE(
      queue.Send(1, std::string(static_cast<std::size_t>(msgmax), 'm')));
  EXPECT_FALSE(
      queue.Send(1, std::string(static_cast<std::size_t>(msgmax) + 1, 'm')));
  EXPECT_EQ(errno, EINVAL);
}

// A buffer too small for the message: E2BIG, and the message stays queued.
TEST(SysvFacts, TooSmallBufferIsE2bigAndKeepsTheMessage) {
  Queue queue;
  ASSERT_TRUE(queue.Send(1, "0123456789"));
  EXPECT_FALSE(queue.Take(0, 4).ok);
  EXPECT_EQ(errno, E2BIG);
  EXPECT_EQ(queue.Stat().msg_qnum, 1u);
  EXPECT_EQ(queue.Take(0, 10).text, "0123456789");
}

// MSG_NOERROR truncates: the first msgsz bytes arrive, "the truncated part
// will be lost", and nothing says it happened except the length.
TEST(SysvFacts, MsgNoerrorTruncatesAndLosesTheRest) {
  Queue queue;
  ASSERT_TRUE(queue.Send(1, "0123456789"));
  Queue::Taken taken = queue.Take(0, 4, MSG_NOERROR);
  EXPECT_TRUE(taken.ok);
  EXPECT_EQ(taken.text, "0123");
  EXPECT_EQ(queue.Stat().msg_qnum, 0u);
}

// A queue belongs to no process: created and filled by a process that exits
// without removing it, it is still there, messages and all, for anyone who
// knows the key.
TEST(SysvFacts, QueueOutlivesTheProcessThatMadeIt) {
  const key_t key = kata::UniqueSysvKey();
  kata::RunInChild([key] {
    int id = msgget(key, IPC_CREAT | IPC_EXCL | 0600);
    ASSERT_GE(id, 0);
    Buffer buffer{5, "left behind"};
    ASSERT_EQ(msgsnd(id, &buffer, 11, 0), 0);
    // no IPC_RMID: the child ends here
  });
  const int id = msgget(key, 0);
  ASSERT_GE(id, 0) << "msgget(key) found nothing: " << std::strerror(errno);
  Buffer buffer{};
  ssize_t n = msgrcv(id, &buffer, sizeof(buffer.text), 0, IPC_NOWAIT);
  EXPECT_EQ(std::string(buffer.text, n > 0 ? static_cast<std::size_t>(n) : 0),
            "left behind");
  EXPECT_EQ(msgctl(id, IPC_RMID, nullptr), 0);
}

// IPC_RMID is immediate and final for everybody: there is no reference
// count. The key finds nothing any more and every holder's id is dead.
TEST(SysvFacts, RemovalIsImmediateForEveryHolder) {
  Queue queue;
  const int id = queue.id();
  ASSERT_TRUE(queue.Send(1, "lost"));
  const int other_holder = msgget(queue.key(), 0);
  ASSERT_EQ(other_holder, id);
  ASSERT_EQ(msgctl(id, IPC_RMID, nullptr), 0);
  EXPECT_EQ(msgget(queue.key(), 0), -1);
  EXPECT_EQ(errno, ENOENT);
  Buffer buffer{1, "x"};
  EXPECT_EQ(msgsnd(other_holder, &buffer, 1, IPC_NOWAIT), -1);
  EXPECT_TRUE(errno == EINVAL || errno == EIDRM) << std::strerror(errno);
}

// A receiver blocked on a queue that is removed wakes up with EIDRM.
TEST(SysvFacts, RemovalWakesABlockedReceiverWithEidrm) {
  kata::OnDeadlock("the child waits in msgrcv on a queue being removed");
  Queue queue;
  const int id = queue.id();
  kata::SharedText seen;
  kata::Child receiver([&] {
    Buffer buffer;
    ssize_t n = msgrcv(id, &buffer, sizeof(buffer.text), 0, 0);
    seen.Store(n < 0 ? std::strerror(errno) : "a message");
  });
  ASSERT_TRUE(kata::WaitUntilBlocked(receiver.pid()));
  ASSERT_EQ(msgctl(id, IPC_RMID, nullptr), 0);
  receiver.Join();
  EXPECT_EQ(seen.Load(), std::strerror(EIDRM));
}

// signal(7): msgrcv is "never automatically restarted after being
// interrupted by a signal handler, regardless of the use of SA_RESTART"...
TEST(SysvFacts, SignalInterruptsMsgrcvEvenWithSaRestart) {
  kata::OnDeadlock("msgrcv was restarted after the signal");
  kata::InterruptingSignal handler(SIGUSR1, SA_RESTART);
  Queue queue;
  kata::Child interrupter([] {
    if (kata::WaitUntilBlocked(kata::RunnerPid()))
      kill(kata::RunnerPid(), SIGUSR1);
  });
  Buffer buffer;
  const ssize_t n = msgrcv(queue.id(), &buffer, sizeof(buffer.text), 0, 0);
  const int error = errno;
  interrupter.Join();
  EXPECT_EQ(n, -1);
  EXPECT_EQ(error, EINTR);
}

// ...whereas a read() from a pipe, under the same handler, is restarted.
TEST(SysvFacts, PipeReadIsRestartedUnderTheSameHandler) {
  kata::OnDeadlock("read() was not restarted after the signal");
  kata::InterruptingSignal handler(SIGUSR1, SA_RESTART);
  int fds[2];
  ASSERT_EQ(pipe2(fds, O_CLOEXEC), 0);
  kata::Child writer([&] {
    close(fds[0]);
    if (kata::WaitUntilBlocked(kata::RunnerPid()))
      kill(kata::RunnerPid(), SIGUSR1);
    std::this_thread::sleep_for(50ms);
    EXPECT_EQ(write(fds[1], "x", 1), 1);
  });
  close(fds[1]);
  char byte = 0;
  const ssize_t n = read(fds[0], &byte, 1);
  writer.Join();
  close(fds[0]);
  EXPECT_EQ(n, 1) << "read() failed: " << std::strerror(errno);
}

// IPC_PRIVATE makes a new queue on every call; "private" only means no key.
// A child that knows the id uses it like any other queue.
TEST(SysvFacts, IpcPrivateMakesANewQueueThatAnyoneWithTheIdCanUse) {
  const int first = msgget(IPC_PRIVATE, IPC_CREAT | 0600);
  const int second = msgget(IPC_PRIVATE, IPC_CREAT | 0600);
  ASSERT_GE(first, 0);
  ASSERT_GE(second, 0);
  EXPECT_NE(first, second);
  kata::RunInChild([first] {
    Buffer buffer{1, "by id"};
    EXPECT_EQ(msgsnd(first, &buffer, 5, 0), 0);
  });
  msqid_ds info{};
  EXPECT_EQ(msgctl(first, IPC_STAT, &info), 0);
  EXPECT_EQ(info.msg_qnum, 1u);
  EXPECT_EQ(info.msg_perm.__key, IPC_PRIVATE);
  msgctl(first, IPC_RMID, nullptr);
  msgctl(second, IPC_RMID, nullptr);
}

// IPC_PRIVATE creates a new queue by itself: IPC_CREAT adds nothing to it
// (msgget(2): "If key has the value IPC_PRIVATE or ... IPC_CREAT").
TEST(SysvFacts, IpcPrivateCreatesWithoutIpcCreat) {
  const int id = msgget(IPC_PRIVATE, 0600);
  ASSERT_GE(id, 0) << "msgget(IPC_PRIVATE, 0600): " << std::strerror(errno);
  EXPECT_TRUE(QueueExists(id));
  msgctl(id, IPC_RMID, nullptr);
}

// A System V queue id is not a file descriptor: making and using a queue
// opens none, so poll/select/epoll cannot wait on it.
TEST(SysvFacts, QueueIdIsNotAFileDescriptor) {
  const std::vector<int> before = kata::OpenDescriptors();
  Queue queue;
  ASSERT_TRUE(queue.Send(1, "x"));
  EXPECT_EQ(kata::OpenDescriptors(), before);
}

// Three receivers on one queue share 300 messages: each message reaches
// exactly one of them. Who gets how many is up to the scheduler and is not
// checked (the demo shows it change from run to run).
TEST(SysvFacts, EachMessageGoesToExactlyOneReceiver) {
  constexpr int kReceivers = 3, kMessages = 300;
  kata::OnDeadlock("a receiver waits for a stop message", 10s);
  Queue queue;
  const int id = queue.id();
  std::vector<std::unique_ptr<kata::SharedText>> got;
  std::vector<kata::Child> receivers;
  for (int r = 0; r < kReceivers; ++r) {
    got.push_back(std::make_unique<kata::SharedText>(1 << 16));
    kata::SharedText* mine = got.back().get();
    receivers.emplace_back([id, mine] {
      Buffer buffer;
      std::string seen;
      // Type 1 is work, type 2 "stop": msgtyp -2 takes all work first.
      while (msgrcv(id, &buffer, sizeof(buffer.text), -2, 0) >= 0 &&
             buffer.type == 1) {
        seen += std::string(buffer.text, 3) + " ";
      }
      mine->Store(seen);
    });
  }
  for (int m = 0; m < kMessages; ++m) {
    char text[4];
    std::snprintf(text, sizeof(text), "%03d", m);
    ASSERT_TRUE(queue.Send(1, std::string_view(text, 3)));
  }
  for (int r = 0; r < kReceivers; ++r) ASSERT_TRUE(queue.Send(2, "stop"));
  for (kata::Child& receiver : receivers) receiver.Join();
  std::vector<int> counts(kMessages, 0);
  std::string split;
  for (const auto& text : got) {
    std::istringstream numbers(text->Load());
    int taken = 0;
    for (int m; numbers >> m;) {
      ++taken;
      if (m >= 0 && m < kMessages) ++counts[static_cast<std::size_t>(m)];
    }
    split += (split.empty() ? "" : " + ") + std::to_string(taken);
  }
  std::printf("300 messages split %s\n", split.c_str());
  EXPECT_EQ(std::count(counts.begin(), counts.end(), 1), kMessages)
      << "some message was taken twice or never";
}

// One queue for both directions has a trap: when requests fill it, there
// is no room for the server's replies, and a server that blocks in msgsnd
// while its clients block too waits forever.
TEST(SysvFacts, RequestsThatFillTheQueueLeaveNoRoomForReplies) {
  Queue queue;
  const std::string request(512, 'r');
  while (queue.Send(1, request, IPC_NOWAIT)) {
  }
  ASSERT_EQ(errno, EAGAIN);
  EXPECT_FALSE(queue.Send(42, "reply", IPC_NOWAIT));
  EXPECT_EQ(errno, EAGAIN) << "the server's reply does not fit either";
}

// A queue keeps message boundaries: three sends are three receives. The same
// three writes into a pipe come out of one read as one run of bytes.
TEST(SysvFacts, MessagesKeepBoundariesWhereAPipeDoesNot) {
  Queue queue;
  int fds[2];
  ASSERT_EQ(pipe2(fds, O_CLOEXEC), 0);
  for (const char* piece : {"one", "two", "three"}) {
    ASSERT_TRUE(queue.Send(1, piece));
    ASSERT_EQ(write(fds[1], piece, std::strlen(piece)),
              static_cast<ssize_t>(std::strlen(piece)));
  }
  EXPECT_EQ(queue.Take(0).text, "one");
  EXPECT_EQ(queue.Take(0).text, "two");
  EXPECT_EQ(queue.Take(0).text, "three");
  char buffer[64];
  const ssize_t n = read(fds[0], buffer, sizeof(buffer));
  EXPECT_EQ(std::string(buffer, n > 0 ? static_cast<std::size_t>(n) : 0),
            "onetwothree");
  close(fds[0]);
  close(fds[1]);
}

// ========================================================== POSIX facts

// With attr == NULL a queue gets msg_default messages of msgsize_default
// bytes (10 and 8192 unless changed).
TEST(PosixFacts, DefaultAttributesComeFromProc) {
  PosixQueue queue;
  const mq_attr attr = queue.Attr();
  EXPECT_EQ(attr.mq_maxmsg, ReadProcLong("/proc/sys/fs/mqueue/msg_default"));
  EXPECT_EQ(attr.mq_msgsize,
            ReadProcLong("/proc/sys/fs/mqueue/msgsize_default"));
  std::printf("default POSIX queue: mq_maxmsg %ld, mq_msgsize %ld\n",
              attr.mq_maxmsg, attr.mq_msgsize);
  std::printf(
      "ceilings without CAP_SYS_RESOURCE: msg_max %ld, msgsize_max "
      "%ld, queues_max %ld\n",
      ReadProcLong("/proc/sys/fs/mqueue/msg_max"),
      ReadProcLong("/proc/sys/fs/mqueue/msgsize_max"),
      ReadProcLong("/proc/sys/fs/mqueue/queues_max"));
  rlimit limit{};
  getrlimit(RLIMIT_MSGQUEUE, &limit);
  std::printf("RLIMIT_MSGQUEUE: %llu bytes\n",
              static_cast<unsigned long long>(limit.rlim_cur));
}

// mq_receive takes the oldest message of the highest priority.
TEST(PosixFacts, HighestPriorityFirstOldestWithin) {
  PosixQueue queue(8, 64);
  ASSERT_EQ(mq_send(queue.get(), "low", 3, 1), 0);
  ASSERT_EQ(mq_send(queue.get(), "high", 4, 9), 0);
  ASSERT_EQ(mq_send(queue.get(), "low2", 4, 1), 0);
  EXPECT_EQ(PosixTake(queue.get()), std::make_pair(9u, std::string("high")));
  EXPECT_EQ(PosixTake(queue.get()), std::make_pair(1u, std::string("low")));
  EXPECT_EQ(PosixTake(queue.get()), std::make_pair(1u, std::string("low2")));
}

// Priorities run from 0 to sysconf(_SC_MQ_PRIO_MAX) - 1 (32767 on Linux;
// POSIX promises at least 0 to 31); one more is EINVAL.
TEST(PosixFacts, PrioritiesRunUpToMqPrioMaxMinusOne) {
  PosixQueue queue(2, 16);
  const long prio_max = sysconf(_SC_MQ_PRIO_MAX);
  std::printf("sysconf(_SC_MQ_PRIO_MAX): %ld\n", prio_max);
  ASSERT_GT(prio_max, 31);
  EXPECT_EQ(mq_send(queue.get(), "top", 3, static_cast<unsigned>(prio_max - 1)),
            0);
  EXPECT_EQ(mq_send(queue.get(), "over", 4, static_cast<unsigned>(prio_max)),
            -1);
  EXPECT_EQ(errno, EINVAL);
}

// The same numbers mean opposite things: System V's msgtyp -9 takes the
// LOWEST type first, POSIX takes the HIGHEST priority first.
TEST(PosixFacts, PriorityRunsOppositeToSysvLowestType) {
  Queue sysv;
  PosixQueue posix(8, 64);
  for (auto [number, text] :
       {std::pair{1, "one"}, std::pair{9, "nine"}, std::pair{5, "five"}}) {
    ASSERT_TRUE(sysv.Send(number, text));
    ASSERT_EQ(mq_send(posix.get(), text, std::strlen(text),
                      static_cast<unsigned>(number)),
              0);
  }
  EXPECT_EQ(sysv.Take(-9).text, "one");
  EXPECT_EQ(PosixTake(posix.get())->second, "nine");
}

// mq_receive refuses a buffer smaller than mq_msgsize, however short the
// waiting message: EMSGSIZE, and the message stays.
TEST(PosixFacts, ReceiveBufferSmallerThanMsgsizeIsEmsgsize) {
  PosixQueue queue;  // mq_msgsize 8192 by default
  ASSERT_EQ(mq_send(queue.get(), "tiny", 4, 0), 0);
  char buffer[100];
  unsigned priority = 0;
  EXPECT_EQ(mq_receive(queue.get(), buffer, sizeof(buffer), &priority), -1);
  EXPECT_EQ(errno, EMSGSIZE);
  EXPECT_EQ(queue.Attr().mq_curmsgs, 1);
}

// mq_send refuses a message longer than mq_msgsize with EMSGSIZE.
TEST(PosixFacts, SendLongerThanMsgsizeIsEmsgsize) {
  PosixQueue queue(2, 16);
  const std::string text(17, 'x');
  EXPECT_EQ(mq_send(queue.get(), text.data(), text.size(), 0), -1);
  EXPECT_EQ(errno, EMSGSIZE);
}

// A full queue: a non-blocking send fails with EAGAIN after mq_maxmsg.
TEST(PosixFacts, NonBlockingSendOnAFullQueueIsEagain) {
  PosixQueue queue(3, 16, O_RDWR | O_NONBLOCK);
  for (int i = 0; i < 3; ++i) ASSERT_EQ(mq_send(queue.get(), "m", 1, 0), 0);
  EXPECT_EQ(mq_send(queue.get(), "m", 1, 0), -1);
  EXPECT_EQ(errno, EAGAIN);
}

// mq_maxmsg above the ceiling is EINVAL: msg_max (10) for a process without
// CAP_SYS_RESOURCE, the kernel's hard limit (65536) with it. 0 is EINVAL
// too: there are no zero-capacity POSIX queues.
TEST(PosixFacts, MaxmsgAboveTheCeilingOrZeroIsEinval) {
  const bool privileged = HasCapSysResource();
  const long ceiling =
      privileged ? 65536 : ReadProcLong("/proc/sys/fs/mqueue/msg_max");
  std::printf("this process %s CAP_SYS_RESOURCE; mq_maxmsg ceiling %ld\n",
              privileged ? "has" : "lacks", ceiling);
  for (long maxmsg : {ceiling + 1, 0L}) {
    const std::string name = kata::UniqueName("ceiling");
    mq_attr attr{};
    attr.mq_maxmsg = maxmsg;
    attr.mq_msgsize = 16;
    mqd_t queue = mq_open(name.c_str(), O_CREAT | O_EXCL | O_RDWR, 0600, &attr);
    EXPECT_EQ(queue, static_cast<mqd_t>(-1)) << "mq_maxmsg " << maxmsg;
    EXPECT_EQ(errno, EINVAL) << "mq_maxmsg " << maxmsg;
    if (queue != static_cast<mqd_t>(-1)) {
      mq_close(queue);
      mq_unlink(name.c_str());
    }
  }
}

// A name must start with a slash (glibc says EINVAL otherwise).
TEST(PosixFacts, NameWithoutLeadingSlashIsEinval) {
  mqd_t queue =
      mq_open("kata-no-slash", O_CREAT | O_EXCL | O_RDWR, 0600, nullptr);
  EXPECT_EQ(queue, static_cast<mqd_t>(-1));
  EXPECT_EQ(errno, EINVAL);
  if (queue != static_cast<mqd_t>(-1)) {
    mq_close(queue);
    mq_unlink("/kata-no-slash");
  }
}

// mq_unlink removes the name at once; the queue itself lives on for those
// who have it open, and the name can even be reused for a new queue.
TEST(PosixFacts, UnlinkRemovesTheNameNotTheOpenQueue) {
  PosixQueue queue(2, 16);
  ASSERT_EQ(mq_send(queue.get(), "kept", 4, 0), 0);
  ASSERT_EQ(mq_unlink(queue.name().c_str()), 0);
  EXPECT_EQ(mq_open(queue.name().c_str(), O_RDWR), static_cast<mqd_t>(-1));
  EXPECT_EQ(errno, ENOENT);
  mqd_t reused =
      mq_open(queue.name().c_str(), O_CREAT | O_EXCL | O_RDWR, 0600, nullptr);
  ASSERT_NE(reused, static_cast<mqd_t>(-1)) << std::strerror(errno);
  EXPECT_EQ(PosixTake(reused), std::nullopt) << "the new queue is empty";
  EXPECT_EQ(PosixTake(queue.get())->second, "kept");
  mq_close(reused);
  // ~PosixQueue unlinks the reused name.
}

// A POSIX queue also outlives its creator: "kernel persistence".
TEST(PosixFacts, QueueOutlivesTheProcessThatMadeIt) {
  const std::string name = kata::UniqueName("persists");
  kata::RunInChild([&] {
    mq_attr attr{};
    attr.mq_maxmsg = 2;
    attr.mq_msgsize = 16;
    mqd_t queue = mq_open(name.c_str(), O_CREAT | O_EXCL | O_RDWR, 0600, &attr);
    ASSERT_NE(queue, static_cast<mqd_t>(-1));
    ASSERT_EQ(mq_send(queue, "left behind", 11, 0), 0);
    mq_close(queue);  // closed, not unlinked
  });
  mqd_t queue = mq_open(name.c_str(), O_RDWR);
  ASSERT_NE(queue, static_cast<mqd_t>(-1)) << std::strerror(errno);
  EXPECT_EQ(PosixTake(queue)->second, "left behind");
  mq_close(queue);
  EXPECT_EQ(mq_unlink(name.c_str()), 0);
}

// On Linux an mqd_t is a file descriptor: poll() reports POLLIN when a
// message is waiting (mq_overview(7) notes this is not portable).
TEST(PosixFacts, DescriptorIsPollableOnLinux) {
  PosixQueue queue(2, 16);
  pollfd entry{queue.get(), POLLIN, 0};
  EXPECT_EQ(poll(&entry, 1, 0), 0) << "nothing to read yet";
  ASSERT_EQ(mq_send(queue.get(), "ready", 5, 0), 0);
  EXPECT_EQ(poll(&entry, 1, 0), 1);
  EXPECT_TRUE(entry.revents & POLLIN);
  EXPECT_GE(fcntl(queue.get(), F_GETFD), 0) << "it is a descriptor";
}

// Linux opens every POSIX queue close-on-exec, whether or not mq_open's flags
// say O_CLOEXEC (ipc/mqueue.c asks for a close-on-exec descriptor itself).
TEST(PosixFacts, MqOpenIsAlwaysCloseOnExec) {
  PosixQueue queue(2, 16, O_RDWR);  // no O_CLOEXEC
  EXPECT_EQ(fcntl(queue.get(), F_GETFD) & FD_CLOEXEC, FD_CLOEXEC);
  const mqd_t opened = mq_open(queue.name().c_str(), O_RDONLY);
  ASSERT_NE(opened, static_cast<mqd_t>(-1)) << std::strerror(errno);
  EXPECT_EQ(fcntl(opened, F_GETFD) & FD_CLOEXEC, FD_CLOEXEC);
  mq_close(opened);
}

// Unlike msgrcv, a blocked mq_receive is restarted after a handler installed
// with SA_RESTART (signal(7), since Linux 2.6.22): the caller never sees
// EINTR and simply gets the message sent after the signal.
TEST(PosixFacts, ReceiveIsRestartedUnderSaRestart) {
  kata::OnDeadlock("mq_receive waits for the message sent after the signal");
  kata::InterruptingSignal handler(SIGUSR1, SA_RESTART);
  PosixQueue queue(2, 16);
  const mqd_t descriptor = queue.get();
  kata::Child sender([descriptor] {
    if (kata::WaitUntilBlocked(kata::RunnerPid()))
      kill(kata::RunnerPid(), SIGUSR1);
    std::this_thread::sleep_for(50ms);
    EXPECT_EQ(mq_send(descriptor, "after", 5, 0), 0);
  });
  char buffer[16];
  const ssize_t n = mq_receive(descriptor, buffer, sizeof(buffer), nullptr);
  const int error = errno;
  sender.Join();
  EXPECT_EQ(n, 5) << "mq_receive failed: " << std::strerror(error);
}

// mq_timedreceive's timeout is an absolute CLOCK_REALTIME time: a "relative"
// 10 s is 10 s after 1970, long past, so an empty queue times out at once
// (if it were relative, the watchdog would stop this test after 5 s).
TEST(PosixFacts, TimedReceiveTakesAnAbsoluteDeadline) {
  kata::OnDeadlock("mq_timedreceive read the timeout as relative");
  PosixQueue queue(2, 16);
  std::vector<char> buffer(16);
  const timespec ten_seconds{10, 0};
  EXPECT_EQ(mq_timedreceive(queue.get(), buffer.data(), buffer.size(), nullptr,
                            &ten_seconds),
            -1);
  EXPECT_EQ(errno, ETIMEDOUT);
}

}  // namespace
