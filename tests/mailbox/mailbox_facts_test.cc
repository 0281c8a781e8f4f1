// Kernel facts about POSIX message queues and Unix datagram sockets that
// docs/mailbox.md relies on.
//
// Nothing here tests learner code: every test asks the running Linux kernel
// directly, with raw system calls, so that each sentence of the interview
// notes has a proof anyone can rerun, one test at a time if need be:
//
//   bazel test //tests/mailbox:mailbox_facts_test --test_filter='*Capacity*'
//
// The limits checked (10 messages, 8192 bytes, RLIMIT_MSGQUEUE) are what
// Linux gives a process without CAP_SYS_RESOURCE; the tests read them from
// /proc and getrlimit and print what they found.

#include <fcntl.h>
#include <linux/capability.h>
#include <mqueue.h>
#include <poll.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstddef>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <set>
#include <string>
#include <string_view>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

#include "gtest/gtest.h"
#include "tests/support/kata.h"

namespace {

using namespace std::chrono_literals;

constexpr mqd_t kNoQueue = static_cast<mqd_t>(-1);

// ----------------------------------------------------------------- helpers

long ReadProcNumber(const char* path) {
  std::ifstream in(path);
  long value = -1;
  in >> value;
  return value;
}

// An absolute CLOCK_REALTIME time `after` from now, as mq_timed* want it.
timespec RealtimeIn(std::chrono::milliseconds after) {
  timespec when{};
  clock_gettime(CLOCK_REALTIME, &when);
  long long nanos = when.tv_nsec + after.count() * 1'000'000LL;
  when.tv_sec += static_cast<time_t>(nanos / 1'000'000'000);
  when.tv_nsec = static_cast<long>(nanos % 1'000'000'000);
  return when;
}

// A POSIX queue the test creates (O_EXCL) and removes again.
class TestQueue {
 public:
  TestQueue(long capacity, long size, int flags = 0)
      : name_(kata::UniqueName("fact")) {
    mq_attr attr{};
    attr.mq_maxmsg = capacity;
    attr.mq_msgsize = size;
    queue_ =
        mq_open(name_.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | flags,
                0600, &attr);
    if (queue_ == kNoQueue) {
      throw std::system_error(errno, std::generic_category(),
                              "mq_open(" + name_ + ")");
    }
  }
  TestQueue(const TestQueue&) = delete;
  TestQueue& operator=(const TestQueue&) = delete;
  ~TestQueue() {
    mq_close(queue_);
    mq_unlink(name_.c_str());
  }

  mqd_t get() const { return queue_; }
  const std::string& name() const { return name_; }
  long Depth() const {
    mq_attr attr{};
    mq_getattr(queue_, &attr);
    return attr.mq_curmsgs;
  }

 private:
  std::string name_;
  mqd_t queue_;
};

bool Send(mqd_t queue, std::string_view text, unsigned priority = 0) {
  return mq_send(queue, text.data(), text.size(), priority) == 0;
}

// One message, waiting at most `within`; "(nothing)" if none came.
std::string Receive(mqd_t queue, std::chrono::milliseconds within = 2s) {
  char buffer[8192];
  timespec until = RealtimeIn(within);
  ssize_t n;
  do {
    n = mq_timedreceive(queue, buffer, sizeof(buffer), nullptr, &until);
  } while (n < 0 && errno == EINTR);
  return n < 0 ? "(nothing)" : std::string(buffer, static_cast<std::size_t>(n));
}

// Installs a handler for SIGUSR1 for the object's lifetime, with or without
// SA_RESTART.
class Sigusr1Handler {
 public:
  explicit Sigusr1Handler(bool restart) {
    struct sigaction action{};
    action.sa_handler = [](int) {};
    sigemptyset(&action.sa_mask);
    action.sa_flags = restart ? SA_RESTART : 0;
    sigaction(SIGUSR1, &action, &old_);
  }
  ~Sigusr1Handler() { sigaction(SIGUSR1, &old_, nullptr); }

 private:
  struct sigaction old_{};
};

// A Unix datagram socket bound to an abstract name (no file to clean up).
class DatagramSocket {
 public:
  explicit DatagramSocket(std::string_view what)
      : fd_(socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0)) {
    if (fd_ < 0)
      throw std::system_error(errno, std::generic_category(), "socket");
    address_ = AbstractAddress(kata::UniqueName(what), &length_);
    if (bind(fd_, reinterpret_cast<sockaddr*>(&address_), length_) != 0) {
      throw std::system_error(errno, std::generic_category(), "bind");
    }
  }
  DatagramSocket(const DatagramSocket&) = delete;
  DatagramSocket& operator=(const DatagramSocket&) = delete;
  ~DatagramSocket() { Close(); }

  void Close() {
    if (fd_ >= 0) close(std::exchange(fd_, -1));
  }
  int fd() const { return fd_; }
  const sockaddr_un& address() const { return address_; }
  socklen_t length() const { return length_; }

  // An abstract address: a 0 byte, then the name, exactly `*length` bytes.
  static sockaddr_un AbstractAddress(const std::string& name,
                                     socklen_t* length) {
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    std::memcpy(address.sun_path + 1, name.data(), name.size());
    *length = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + 1 +
                                     name.size());
    return address;
  }

 private:
  int fd_;
  sockaddr_un address_{};
  socklen_t length_ = 0;
};

// ===================================================== POSIX message queues

// Fact: a POSIX queue cannot have capacity 0, so a rendezvous (OSC's zero
// capacity) must be built on top of it. Messages of 0 bytes are refused too.
TEST(PosixQueueFacts, ZeroCapacityIsRefused) {
  const std::string name = kata::UniqueName("zero");
  mq_attr attr{};
  attr.mq_maxmsg = 0;
  attr.mq_msgsize = 64;
  errno = 0;
  EXPECT_EQ(mq_open(name.c_str(), O_RDWR | O_CREAT | O_EXCL, 0600, &attr),
            kNoQueue);
  EXPECT_EQ(errno, EINVAL);
  attr.mq_maxmsg = 1;
  attr.mq_msgsize = 0;
  errno = 0;
  EXPECT_EQ(mq_open(name.c_str(), O_RDWR | O_CREAT | O_EXCL, 0600, &attr),
            kNoQueue);
  EXPECT_EQ(errno, EINVAL);
}

// Fact: a queue created without attributes gets msg_default messages of
// msgsize_default bytes (10 and 8192 unless an administrator changed them).
TEST(PosixQueueFacts, DefaultsComeFromProcSysFsMqueue) {
  const long messages = ReadProcNumber("/proc/sys/fs/mqueue/msg_default");
  const long bytes = ReadProcNumber("/proc/sys/fs/mqueue/msgsize_default");
  const std::string name = kata::UniqueName("defaults");
  mqd_t queue = mq_open(name.c_str(), O_RDWR | O_CREAT | O_EXCL, 0600, nullptr);
  ASSERT_NE(queue, kNoQueue) << std::strerror(errno);
  mq_attr attr{};
  mq_getattr(queue, &attr);
  mq_close(queue);
  mq_unlink(name.c_str());
  EXPECT_EQ(attr.mq_maxmsg, messages);
  EXPECT_EQ(attr.mq_msgsize, bytes);
  std::printf("default queue here: %ld messages of %ld bytes\n", attr.mq_maxmsg,
              attr.mq_msgsize);
}

// Fact: without CAP_SYS_RESOURCE (any unprivileged user), a capacity above
// /proc/sys/fs/mqueue/msg_max is refused with EINVAL. The child drops the
// capability first, so the fact holds even when the test runs as root.
TEST(PosixQueueFacts, CapacityAboveMsgMaxNeedsPrivilege) {
  const long msg_max = ReadProcNumber("/proc/sys/fs/mqueue/msg_max");
  std::printf("msg_max here: %ld, msgsize_max: %ld\n", msg_max,
              ReadProcNumber("/proc/sys/fs/mqueue/msgsize_max"));
  kata::RunInChild([&] {
    __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
    __user_cap_data_struct data[2] = {};
    ASSERT_EQ(syscall(SYS_capget, &header, data), 0);
    data[CAP_TO_INDEX(CAP_SYS_RESOURCE)].effective &=
        ~CAP_TO_MASK(CAP_SYS_RESOURCE);
    ASSERT_EQ(syscall(SYS_capset, &header, data), 0) << std::strerror(errno);
    const std::string name = kata::UniqueName("too-big");
    mq_attr attr{};
    attr.mq_maxmsg = msg_max + 1;
    attr.mq_msgsize = 16;
    errno = 0;
    mqd_t queue = mq_open(name.c_str(), O_RDWR | O_CREAT | O_EXCL, 0600, &attr);
    EXPECT_EQ(queue, kNoQueue);
    EXPECT_EQ(errno, EINVAL);
    if (queue != kNoQueue) mq_unlink(name.c_str());
    attr.mq_maxmsg = msg_max;
    queue = mq_open(name.c_str(), O_RDWR | O_CREAT | O_EXCL, 0600, &attr);
    EXPECT_NE(queue, kNoQueue) << "msg_max itself is allowed";
    if (queue != kNoQueue) {
      mq_close(queue);
      mq_unlink(name.c_str());
    }
  });
}

// Fact: the bytes a user's queues may take are limited by RLIMIT_MSGQUEUE
// (819200 by default); past it, mq_open fails with EMFILE.
TEST(PosixQueueFacts, QueueBytesCountAgainstRlimitMsgqueue) {
  rlimit limit{};
  getrlimit(RLIMIT_MSGQUEUE, &limit);
  std::printf("RLIMIT_MSGQUEUE here: %llu bytes\n",
              static_cast<unsigned long long>(limit.rlim_cur));
  kata::RunInChild([] {
    rlimit small{4096, 4096};
    ASSERT_EQ(setrlimit(RLIMIT_MSGQUEUE, &small), 0);
    const std::string name = kata::UniqueName("over-limit");
    mq_attr attr{};
    attr.mq_maxmsg = 10;
    attr.mq_msgsize = 1024;  // 10 KiB, more than the 4 KiB allowed
    errno = 0;
    mqd_t queue = mq_open(name.c_str(), O_RDWR | O_CREAT | O_EXCL, 0600, &attr);
    EXPECT_EQ(queue, kNoQueue);
    EXPECT_EQ(errno, EMFILE);
    if (queue != kNoQueue) mq_unlink(name.c_str());
  });
}

// Fact: a full queue refuses a non-blocking send with EAGAIN: every real
// buffer is bounded.
TEST(PosixQueueFacts, FullQueueRefusesANonBlockingSend) {
  TestQueue queue(3, 16, O_NONBLOCK);
  int sent = 0;
  while (Send(queue.get(), "x") && sent < 100) ++sent;
  EXPECT_EQ(errno, EAGAIN);
  EXPECT_EQ(sent, 3);
}

// Fact: a full queue blocks a blocking sender until a receiver makes room.
TEST(PosixQueueFacts, FullQueueBlocksTheSender) {
  kata::OnDeadlock("the sender stayed blocked after a receive made room");
  TestQueue queue(1, 16);
  ASSERT_TRUE(Send(queue.get(), "first"));
  kata::SharedText state;
  kata::Child sender([&] {
    EXPECT_TRUE(Send(queue.get(), "second"));
    state.Store("sent");
  });
  EXPECT_TRUE(kata::WaitUntilBlocked(sender.pid()));
  EXPECT_EQ(state.Load(), "");
  EXPECT_EQ(Receive(queue.get()), "first");
  sender.Join();
  EXPECT_EQ(state.Load(), "sent");
  EXPECT_EQ(Receive(queue.get()), "second");
}

// Fact: mq_send returns once the message is queued, with no receiver in
// existence: it is not OSC's blocking send ("until the message is
// received").
TEST(PosixQueueFacts, SendReturnsWithNoReceiverAnywhere) {
  TestQueue queue(2, 16);
  EXPECT_EQ(kata::ChildProcesses(), std::vector<pid_t>{});
  EXPECT_TRUE(Send(queue.get(), "unread"));
  EXPECT_EQ(queue.Depth(), 1);
}

// Fact: OSC's "non-blocking receive returns null" is EAGAIN from mq_receive
// on an O_NONBLOCK descriptor of an empty queue.
TEST(PosixQueueFacts, EmptyQueueNonBlockingReceiveIsEagain) {
  TestQueue queue(2, 16, O_NONBLOCK);
  char buffer[16];
  errno = 0;
  EXPECT_EQ(mq_receive(queue.get(), buffer, sizeof(buffer), nullptr), -1);
  EXPECT_EQ(errno, EAGAIN);
}

// Fact: mq_timedreceive's timeout is an absolute CLOCK_REALTIME time. Passed
// a duration ("500 ms"), it reads a moment in January 1970 and gives up at
// once: the helper child, which would send as soon as we block, never sees
// us block in it.
TEST(PosixQueueFacts, TimeoutIsAnAbsoluteRealtimeMoment) {
  TestQueue queue(2, 16);
  kata::Child late_sender([&] {
    ASSERT_TRUE(kata::WaitUntilBlocked(kata::RunnerPid()));
    Send(queue.get(), "late");
  });
  char buffer[16];
  const timespec duration{0, 500'000'000};  // the mistake
  errno = 0;
  EXPECT_EQ(
      mq_timedreceive(queue.get(), buffer, sizeof(buffer), nullptr, &duration),
      -1);
  EXPECT_EQ(errno, ETIMEDOUT);
  late_sender.Join();
  const timespec moment = RealtimeIn(2s);  // the right way
  EXPECT_EQ(
      mq_timedreceive(queue.get(), buffer, sizeof(buffer), nullptr, &moment),
      4);
}

// Fact: a receive buffer smaller than the queue's mq_msgsize fails with
// EMSGSIZE, however short the message; the message stays queued.
TEST(PosixQueueFacts, ReceiveBufferSmallerThanMsgsizeIsRefused) {
  TestQueue queue(2, 256);
  ASSERT_TRUE(Send(queue.get(), "hi"));
  char buffer[100];
  errno = 0;
  EXPECT_EQ(mq_receive(queue.get(), buffer, sizeof(buffer), nullptr), -1);
  EXPECT_EQ(errno, EMSGSIZE);
  EXPECT_EQ(queue.Depth(), 1);
}

// Fact: a queue keeps message boundaries: two sends are two receives.
TEST(PosixQueueFacts, MessagesKeepTheirBoundaries) {
  TestQueue queue(4, 64);
  ASSERT_TRUE(Send(queue.get(), "one"));
  ASSERT_TRUE(Send(queue.get(), "three"));
  EXPECT_EQ(Receive(queue.get()), "one");
  EXPECT_EQ(Receive(queue.get()), "three");
}

// Fact: higher priorities come out first; equal priorities in FIFO order.
TEST(PosixQueueFacts, HigherPriorityFirstThenFifo) {
  TestQueue queue(4, 64);
  ASSERT_TRUE(Send(queue.get(), "low 1", 1));
  ASSERT_TRUE(Send(queue.get(), "high", 9));
  ASSERT_TRUE(Send(queue.get(), "low 2", 1));
  EXPECT_EQ(Receive(queue.get()), "high");
  EXPECT_EQ(Receive(queue.get()), "low 1");
  EXPECT_EQ(Receive(queue.get()), "low 2");
}

// Fact: with two processes waiting on one queue, a message goes to one of
// them only: the other keeps waiting (here, until a second message comes).
TEST(PosixQueueFacts, AMessageGoesToOneWaitingReceiver) {
  kata::OnDeadlock("a waiting receiver never got a message");
  TestQueue queue(4, 64);
  kata::SharedText got_a, got_b;
  kata::Child a([&] { got_a.Store(Receive(queue.get(), 4s)); });
  kata::Child b([&] { got_b.Store(Receive(queue.get(), 4s)); });
  ASSERT_TRUE(kata::WaitUntilBlocked(a.pid()));
  ASSERT_TRUE(kata::WaitUntilBlocked(b.pid()));
  ASSERT_TRUE(Send(queue.get(), "first"));
  // Wait until one of them has it and is gone: the other still waits.
  while (kata::ProcessState(a.pid()) != 'Z' &&
         kata::ProcessState(b.pid()) != 'Z') {
    std::this_thread::sleep_for(1ms);
  }
  const pid_t waiting = kata::ProcessState(a.pid()) == 'Z' ? b.pid() : a.pid();
  EXPECT_EQ(kata::ProcessState(waiting), 'S');
  ASSERT_TRUE(Send(queue.get(), "second"));
  a.Join();
  b.Join();
  EXPECT_EQ((std::multiset<std::string>{got_a.Load(), got_b.Load()}),
            (std::multiset<std::string>{"first", "second"}));
}

// Fact: mq_unlink removes only the name. Opening by name fails afterwards
// (ENOENT), but descriptors opened before still send and receive; the queue
// is destroyed when the last one is closed.
TEST(PosixQueueFacts, UnlinkRemovesOnlyTheName) {
  const std::string name = kata::UniqueName("unlinked");
  mq_attr attr{};
  attr.mq_maxmsg = 2;
  attr.mq_msgsize = 64;
  mqd_t owner = mq_open(name.c_str(), O_RDWR | O_CREAT | O_EXCL, 0600, &attr);
  ASSERT_NE(owner, kNoQueue);
  mqd_t holder = mq_open(name.c_str(), O_RDWR);
  ASSERT_NE(holder, kNoQueue);
  ASSERT_EQ(mq_unlink(name.c_str()), 0);
  errno = 0;
  EXPECT_EQ(mq_open(name.c_str(), O_RDWR), kNoQueue);
  EXPECT_EQ(errno, ENOENT);
  EXPECT_TRUE(Send(holder, "after unlink"));
  EXPECT_EQ(Receive(owner), "after unlink");
  mq_close(holder);
  mq_close(owner);
}

// Fact: a queue outlives the process that created it: POSIX queues have
// kernel persistence until mq_unlink (not OSC's "mailbox disappears when its
// owner terminates").
TEST(PosixQueueFacts, QueueOutlivesItsCreator) {
  const std::string name = kata::UniqueName("orphan");
  kata::RunInChild([&] {
    mq_attr attr{};
    attr.mq_maxmsg = 2;
    attr.mq_msgsize = 64;
    mqd_t queue = mq_open(name.c_str(), O_RDWR | O_CREAT | O_EXCL, 0600, &attr);
    ASSERT_NE(queue, kNoQueue);
    Send(queue, "from the dead");
    kata::ChildEndsItself();
    _exit(0);  // neither mq_close nor mq_unlink
  });
  mqd_t queue = mq_open(name.c_str(), O_RDWR);
  ASSERT_NE(queue, kNoQueue) << "the queue died with its creator";
  EXPECT_EQ(Receive(queue), "from the dead");
  mq_close(queue);
  mq_unlink(name.c_str());
}

// Fact: a signal handler installed without SA_RESTART makes a blocked
// mq_receive fail with EINTR.
TEST(PosixQueueFacts, SignalInterruptsAWaitWithEintr) {
  Sigusr1Handler handler(/*restart=*/false);
  TestQueue queue(2, 16);
  kata::Child signaller([&] {
    ASSERT_TRUE(kata::WaitUntilBlocked(kata::RunnerPid()));
    kill(kata::RunnerPid(), SIGUSR1);
  });
  char buffer[16];
  errno = 0;
  EXPECT_EQ(mq_receive(queue.get(), buffer, sizeof(buffer), nullptr), -1);
  EXPECT_EQ(errno, EINTR);
  signaller.Join();
}

// Fact: with SA_RESTART, Linux restarts a blocked mq_receive after the
// handler (signal(7) lists the mq_* calls among the restartable ones).
TEST(PosixQueueFacts, SaRestartResumesTheWait) {
  kata::OnDeadlock("mq_receive was not resumed, or the message never came");
  Sigusr1Handler handler(/*restart=*/true);
  TestQueue queue(2, 16);
  kata::Child signaller([&] {
    ASSERT_TRUE(kata::WaitUntilBlocked(kata::RunnerPid()));
    kill(kata::RunnerPid(), SIGUSR1);
    std::this_thread::sleep_for(50ms);
    Send(queue.get(), "resumed");
  });
  char buffer[16];
  EXPECT_EQ(mq_receive(queue.get(), buffer, sizeof(buffer), nullptr), 7);
  signaller.Join();
}

// Fact (Linux only): a queue descriptor is a file descriptor that poll()
// reports readable once a message is waiting.
TEST(PosixQueueFacts, DescriptorIsPollableOnLinux) {
  TestQueue queue(2, 16);
  pollfd entry{static_cast<int>(queue.get()), POLLIN, 0};
  EXPECT_EQ(poll(&entry, 1, 0), 0);
  kata::RunInChild([&] { Send(queue.get(), "ready"); });
  EXPECT_EQ(poll(&entry, 1, 1000), 1);
  EXPECT_TRUE(entry.revents & POLLIN);
}

// ================================================== Unix datagram sockets

// Fact: a Unix datagram socket tells the receiver who sent each datagram
// (the sender's address), which a POSIX queue does not.
TEST(UnixDatagramFacts, ReceiverLearnsTheSendersAddress) {
  DatagramSocket receiver("inbox");
  DatagramSocket sender("alice");
  ASSERT_EQ(sendto(sender.fd(), "hi", 2, 0,
                   reinterpret_cast<const sockaddr*>(&receiver.address()),
                   receiver.length()),
            2);
  char buffer[16];
  sockaddr_un from{};
  socklen_t from_length = sizeof(from);
  ASSERT_EQ(recvfrom(receiver.fd(), buffer, sizeof(buffer), 0,
                     reinterpret_cast<sockaddr*>(&from), &from_length),
            2);
  ASSERT_EQ(from_length, sender.length());
  EXPECT_EQ(std::memcmp(&from, &sender.address(), from_length), 0);
}

// Fact: with SO_PASSCRED, the kernel attaches the sender's pid, uid and gid
// to each datagram: identity the sender cannot make up.
TEST(UnixDatagramFacts, KernelVouchesForTheSendersPid) {
  DatagramSocket receiver("inbox");
  int on = 1;
  ASSERT_EQ(setsockopt(receiver.fd(), SOL_SOCKET, SO_PASSCRED, &on, sizeof(on)),
            0);
  kata::Child sender([&] {
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    ASSERT_EQ(sendto(fd, "me", 2, 0,
                     reinterpret_cast<const sockaddr*>(&receiver.address()),
                     receiver.length()),
              2);
    close(fd);
  });
  char buffer[16];
  char control[CMSG_SPACE(sizeof(ucred))];
  iovec data{buffer, sizeof(buffer)};
  msghdr message{};
  message.msg_iov = &data;
  message.msg_iovlen = 1;
  message.msg_control = control;
  message.msg_controllen = sizeof(control);
  ASSERT_EQ(recvmsg(receiver.fd(), &message, 0), 2);
  cmsghdr* header = CMSG_FIRSTHDR(&message);
  ASSERT_NE(header, nullptr);
  ASSERT_EQ(header->cmsg_type, SCM_CREDENTIALS);
  ucred credentials{};
  std::memcpy(&credentials, CMSG_DATA(header), sizeof(credentials));
  EXPECT_EQ(credentials.pid, sender.pid());
  EXPECT_EQ(credentials.uid, getuid());
  sender.Join();
}

// Fact: once the receiving socket is closed, a send to its address fails
// with ECONNREFUSED: the sender is told the mailbox is gone.
TEST(UnixDatagramFacts, SendingToAClosedSocketIsRefused) {
  DatagramSocket receiver("gone");
  const sockaddr_un address = receiver.address();
  const socklen_t length = receiver.length();
  receiver.Close();
  int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  ASSERT_GE(fd, 0);
  errno = 0;
  EXPECT_EQ(sendto(fd, "hello?", 6, 0,
                   reinterpret_cast<const sockaddr*>(&address), length),
            -1);
  EXPECT_EQ(errno, ECONNREFUSED);
  close(fd);
}

// Fact: a datagram socket nobody reads fills up: a non-blocking send then
// fails with EAGAIN. No mailbox is unbounded.
TEST(UnixDatagramFacts, UnreadSocketFillsUp) {
  DatagramSocket receiver("never-reads");
  int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(connect(fd, reinterpret_cast<const sockaddr*>(&receiver.address()),
                    receiver.length()),
            0);
  int sent = 0;
  while (sent < 100000 && send(fd, "x", 1, MSG_DONTWAIT) == 1) ++sent;
  EXPECT_EQ(errno, EAGAIN);
  EXPECT_LT(sent, 100000);
  std::printf("an unread datagram socket took %d one-byte datagrams\n", sent);
  close(fd);
}

}  // namespace
