// File: tests/message_queue/raw_queues.h
// -----------------------------------------------------------------------------
//
// What the message_queue tests share: the test's own side of every exchange
// (raw msgget/msgsnd/msgrcv/msgctl and mq_* calls, never the code under
// test, so a failure says what the kernel saw), the hints the failures print,
// and processes set up the way a test needs them (without privileges, or in
// an IPC namespace of their own).
//
// Included by message_queue_test.cc (the stages), sysv_edges_test.cc and
// posix_edges_test.cc (limits, faults, signals, deadlines); each of them is
// compiled against the stub and against the solution.

#ifndef IPC_KATAS_TESTS_MESSAGE_QUEUE_RAW_QUEUES_H_
#define IPC_KATAS_TESTS_MESSAGE_QUEUE_RAW_QUEUES_H_

#include <fcntl.h>
#include <linux/capability.h>
#include <mqueue.h>
#include <sched.h>
#include <sys/ipc.h>
#include <sys/msg.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <functional>
#include <initializer_list>
#include <optional>
#include <ostream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "message_queue/message_queue.h"
#include "tests/support/kata.h"

namespace mq_test {

// A text as a failure message shows it: printable, quoted, cut short.
inline std::string Show(std::string_view text) {
  std::string shown = "\"";
  for (std::size_t i = 0; i < text.size() && i < 48; ++i) {
    const unsigned char c = static_cast<unsigned char>(text[i]);
    if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\') {
      shown += static_cast<char>(c);
    } else {
      char escaped[8];
      std::snprintf(escaped, sizeof(escaped), "\\x%02x", c);
      shown += escaped;
    }
  }
  if (text.size() > 48) shown += "...";
  return shown + "\" (" + std::to_string(text.size()) + " bytes)";
}

}  // namespace mq_test

// How GoogleTest prints the kata's values in a failure.
namespace kata::message_queue {

inline void PrintTo(const Message& message, std::ostream* out) {
  *out << "{type " << message.type << ", " << mq_test::Show(message.text)
       << "}";
}

inline void PrintTo(const PosixMessage& message, std::ostream* out) {
  *out << "{priority " << message.priority << ", "
       << mq_test::Show(message.text) << "}";
}

inline void PrintTo(const SysvStatus& status, std::ostream* out) {
  *out << "{messages " << status.messages << ", bytes " << status.bytes
       << ", max_bytes " << status.max_bytes << ", last_sender "
       << status.last_sender << ", last_receiver " << status.last_receiver
       << "}";
}

inline void PrintTo(const PosixAttributes& attributes, std::ostream* out) {
  *out << "{max_messages " << attributes.max_messages << ", message_size "
       << attributes.message_size << ", current_messages "
       << attributes.current_messages << "}";
}

}  // namespace kata::message_queue

namespace mq_test {

using kata::message_queue::Message;
using kata::message_queue::PosixMessage;

#define README "exercises/message_queue/README.md"

// ------------------------------------------------------ hints (one each)
// The mutants in tests/message_queue/mutants/ name these texts.

inline constexpr char kOwnerRemoves[] =
    "the owner removes the queue with msgctl(IPC_RMID) in its destructor";
inline constexpr char kOnlyOwnerRemoves[] =
    "only the owner removes the queue: an Open()ed queue is used, not owned";
inline constexpr char kMovedFromHoldsNothing[] =
    "a moved-from queue holds nothing and must not remove anything";
inline constexpr char kMsgszIsTextOnly[] =
    "msgsz counts only the text (mtext), not the type field";
inline constexpr char kTypeMustBePositive[] =
    "a message type must be > 0: check it before msgsnd and throw "
    "std::invalid_argument";
inline constexpr char kSelectorTypes[] =
    "msgrcv reads msgtyp 0 as 'any type' and a negative msgtyp as 'lowest up "
    "to': reject types <= 0 in Exactly and LowestUpTo";
inline constexpr char kLowestUpToIsNegative[] =
    "LowestUpTo(t) is msgrcv with a NEGATIVE msgtyp, -t: the lowest type <= t "
    "comes out first";
inline constexpr char kExactlyIsPositive[] =
    "Exactly(t) is msgrcv with msgtyp = t: the oldest message of that type";
inline constexpr char kEmptyIsEnomsg[] =
    "with IPC_NOWAIT, msgrcv reports 'no matching message' as ENOMSG: return "
    "std::nullopt for it (EAGAIN is msgsnd's full queue)";
inline constexpr char kFullIsEagain[] =
    "with IPC_NOWAIT, msgsnd reports a full queue as EAGAIN: return false for "
    "it";
inline constexpr char kRetryEintr[] =
    "msgsnd and msgrcv are never restarted after a signal handler ran, even "
    "with SA_RESTART: retry EINTR";
inline constexpr char kEidrmIsFinal[] =
    "EIDRM means the queue was removed while you waited: report it as "
    "std::system_error, do not retry";
inline constexpr char kE2bigByDefault[] =
    "without MSG_NOERROR a message longer than the buffer is refused (E2BIG) "
    "and stays in the queue";
inline constexpr char kTruncateIsMsgNoerror[] =
    "Oversize::kTruncate is msgrcv's MSG_NOERROR flag: keep the first "
    "`capacity` bytes";
inline constexpr char kReplyTypeIsClientId[] =
    "the reply's type is the client id taken from the request";
inline constexpr char kServerTakesRequestsOnly[] =
    "the server receives only requests: msgrcv with msgtyp = kRequestType (1)";
inline constexpr char kClientTakesOwnReplies[] =
    "a client receives only the type equal to its own id";
inline constexpr char kRequestFormat[] =
    "a request has type kRequestType (1) and its text starts with the client "
    "id: 8 bytes, little-endian (README, On the wire)";
inline constexpr char kPosixUnlink[] =
    "mq_close is not mq_unlink: the owner's destructor must unlink the name";
inline constexpr char kPosixBufferSize[] =
    "size the mq_receive buffer from mq_getattr's mq_msgsize: a smaller buffer "
    "is refused (EMSGSIZE) even for a short message";
inline constexpr char kAbsoluteDeadline[] =
    "mq_timedreceive's timeout is an ABSOLUTE CLOCK_REALTIME time: pass now + "
    "timeout";
inline constexpr char kPosixName[] =
    "a POSIX queue name is one slash followed by 1 to 255 characters and no "
    "other slash: check it and throw std::invalid_argument";

// ----------------------------------------------------------------- /proc

inline long ReadProcLong(const char* path, long fallback) {
  std::ifstream in(path);
  long value = fallback;
  in >> value;
  return value;
}

// The largest text this machine's System V queues accept.
inline std::size_t Msgmax() {
  return static_cast<std::size_t>(
      ReadProcLong("/proc/sys/kernel/msgmax", 8192));
}

// Writes `text` to a /proc file; false if the kernel refused.
inline bool WriteProc(const char* path, const std::string& text) {
  std::ofstream out(path);
  out << text;
  out.flush();
  return out.good();
}

// --------------------------------------------------- System V, raw calls

// msgctl(IPC_STAT) by the test itself; std::nullopt if the queue is gone.
inline std::optional<msqid_ds> RawStat(int id) {
  msqid_ds info{};
  if (msgctl(id, IPC_STAT, &info) != 0) return std::nullopt;
  return info;
}

inline bool QueueExists(int id) { return id >= 0 && RawStat(id).has_value(); }

inline std::size_t RawCount(int id) {
  std::optional<msqid_ds> info = RawStat(id);
  return info ? static_cast<std::size_t>(info->msg_qnum) : 0;
}

// The permission bits of queue `id` as /proc/sysvipc/msg lists them, which
// anyone may read whatever the queue's own permissions; -1 if not listed.
inline int ProcMode(int id) {
  std::ifstream in("/proc/sysvipc/msg");
  std::string line;
  std::getline(in, line);  // the column names
  while (std::getline(in, line)) {
    std::istringstream fields(line);
    long key = 0;
    int msqid = -1;
    std::string perms;
    fields >> key >> msqid >> perms;
    if (msqid == id) return std::stoi(perms, nullptr, 8);
  }
  return -1;
}

// A message buffer as msgop(2) describes it, big enough for any message.
struct RawBuffer {
  long type;
  char text[65536];
};

inline bool RawSend(int id, long type, std::string_view text, int flags = 0) {
  static RawBuffer buffer;
  buffer.type = type;
  std::memcpy(buffer.text, text.data(), text.size());
  return msgsnd(id, &buffer, text.size(), flags) == 0;
}

// msgrcv by the test itself, never waiting; errno tells why it returned
// std::nullopt.
inline std::optional<Message> RawTake(
    int id, long msgtyp, std::size_t capacity = sizeof(RawBuffer::text),
    int flags = 0) {
  static RawBuffer buffer;
  ssize_t n = msgrcv(id, &buffer, capacity, msgtyp, flags | IPC_NOWAIT);
  if (n < 0) return std::nullopt;
  return Message{buffer.type,
                 std::string(buffer.text, static_cast<std::size_t>(n))};
}

// RawTake, retried for up to `limit`: for a child of the test that plays the
// other side and must not wait forever when the code under test never sends.
// The pause between tries doubles up to 20 ms, so that a wait that runs out
// makes about a hundred calls, not thousands: every call lands in the
// timeline, which keeps only the last 2048, and the code under test's first
// calls must still be there when it fails.
inline std::optional<Message> RawTakeWithin(
    int id, long msgtyp,
    std::chrono::milliseconds limit = std::chrono::seconds(2)) {
  const auto until = std::chrono::steady_clock::now() + limit;
  std::chrono::milliseconds pause(1);
  for (;;) {
    if (std::optional<Message> message = RawTake(id, msgtyp)) return message;
    if (errno != ENOMSG || std::chrono::steady_clock::now() >= until) {
      return std::nullopt;
    }
    std::this_thread::sleep_for(pause);
    pause = std::min(pause * 2, std::chrono::milliseconds(20));
  }
}

// Takes every message left in the queue, oldest first (the test's own
// msgrcv), so a failure shows exactly what is left.
inline std::vector<Message> TakeAllRaw(int id) {
  std::vector<Message> left;
  while (std::optional<Message> message = RawTake(id, 0)) {
    left.push_back(*message);
  }
  return left;
}

// Fills the queue with 1 KiB messages of `type` until msgsnd says EAGAIN;
// returns how many went in.
inline std::size_t FillWithKilobytes(int id, long type = 1) {
  const std::string kilobyte(1024, 'k');
  std::size_t sent = 0;
  while (RawSend(id, type, kilobyte, IPC_NOWAIT)) ++sent;
  return sent;
}

// A queue made by the test with raw calls, removed when the test ends.
class RawQueue {
 public:
  explicit RawQueue(key_t key = kata::UniqueSysvKey(), int mode = 0600)
      : key_(key) {
    id_ = msgget(key, IPC_CREAT | IPC_EXCL | mode);
    if (id_ < 0) {
      throw std::system_error(errno, std::generic_category(), "test's msgget");
    }
  }
  RawQueue(const RawQueue&) = delete;
  RawQueue& operator=(const RawQueue&) = delete;
  ~RawQueue() { msgctl(id_, IPC_RMID, nullptr); }

  int id() const { return id_; }
  key_t key() const { return key_; }

 private:
  key_t key_;
  int id_;
};

// A request's text as a peer in any language builds it from the README's
// "On the wire": the client id as 8 bytes, least significant first, then the
// body. Built byte by byte here, not with the host's memcpy of a long.
inline std::string RequestText(long client_id, std::string_view body) {
  const auto bits = static_cast<std::uint64_t>(client_id);
  std::string text;
  for (int i = 0; i < 8; ++i) {
    text.push_back(static_cast<char>((bits >> (8 * i)) & 0xff));
  }
  return text.append(body);
}

// The client id at the front of a request's text, read byte by byte as the
// README's "On the wire" says; std::nullopt if the text is too short.
inline std::optional<long> ClientIdOf(std::string_view text) {
  if (text.size() < 8) return std::nullopt;
  std::uint64_t bits = 0;
  for (int i = 7; i >= 0; --i) {
    bits = (bits << 8) | static_cast<unsigned char>(text[i]);
  }
  return static_cast<long>(bits);
}

// --------------------------------------------------------- POSIX, raw calls

// A descriptor the test opened itself with mq_open.
class RawMq {
 public:
  explicit RawMq(const std::string& name, int flags = O_RDWR,
                 mq_attr* attr = nullptr) {
    queue_ = mq_open(name.c_str(), flags, 0600, attr);
  }
  RawMq(const RawMq&) = delete;
  RawMq& operator=(const RawMq&) = delete;
  ~RawMq() {
    if (ok()) mq_close(queue_);
  }

  bool ok() const { return queue_ != static_cast<mqd_t>(-1); }
  mqd_t get() const { return queue_; }

 private:
  mqd_t queue_;
};

// Unlinks a POSIX name at the end of the test (ignoring "already gone").
struct UnlinkAtEnd {
  std::string name;
  ~UnlinkAtEnd() { mq_unlink(name.c_str()); }
};

inline std::optional<mq_attr> RawAttr(mqd_t queue) {
  mq_attr attr{};
  if (mq_getattr(queue, &attr) != 0) return std::nullopt;
  return attr;
}

// Whether the name exists: an mq_open by the test itself succeeds.
inline bool NameExists(const std::string& name) {
  RawMq probe(name, O_RDONLY);
  return probe.ok();
}

inline bool RawMqSend(mqd_t queue, std::string_view text, unsigned priority) {
  return mq_send(queue, text.data(), text.size(), priority) == 0;
}

// mq_receive by the test itself, never waiting (a deadline in the past).
inline std::optional<PosixMessage> RawMqTake(mqd_t queue) {
  std::vector<char> buffer(65536);
  unsigned priority = 0;
  const timespec past{0, 0};
  ssize_t n =
      mq_timedreceive(queue, buffer.data(), buffer.size(), &priority, &past);
  if (n < 0) return std::nullopt;
  return PosixMessage{priority,
                      std::string(buffer.data(), static_cast<std::size_t>(n))};
}

// Whether the POSIX queue ceilings do not apply to this process: it holds
// CAP_SYS_RESOURCE (bit 24 of CapEff) in the INITIAL user namespace. Inside
// Bazel's sandbox the test runs as root of a user namespace of its own
// (uid_map "0 0 1"), whose capabilities the mqueue limits ignore.
inline bool HasCapSysResource() {
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

// The largest mq_maxmsg this process may ask for: msg_max, unless it holds
// CAP_SYS_RESOURCE, which lifts the ceiling to the kernel's hard limit.
inline long MaxMessagesCeiling() {
  return HasCapSysResource() ? 65536
                             : ReadProcLong("/proc/sys/fs/mqueue/msg_max", 10);
}

// ------------------------------------------------------------ expectations

// Runs `call`, expecting std::system_error with one of `errors` whose what()
// names `call_name`.
template <typename Call>
void ExpectSystemError(Call call, std::vector<std::errc> errors,
                       std::string_view call_name, const std::string& hint) {
  std::string expected;
  for (std::errc error : errors) {
    expected += (expected.empty() ? "" : " or ") +
                std::make_error_code(error).message();
  }
  try {
    call();
    ADD_FAILURE() << "expected std::system_error (" << expected
                  << "), but nothing was thrown" << hint;
  } catch (const std::system_error& e) {
    bool known = false;
    for (std::errc error : errors) {
      known = known || e.code() == std::make_error_code(error);
    }
    EXPECT_TRUE(known) << "expected std::system_error (" << expected
                       << "), got: " << e.what() << hint;
    EXPECT_NE(std::string(e.what()).find(call_name), std::string::npos)
        << "the message should name the failed call " << call_name
        << " and its object, it says: " << e.what()
        << kata::Hint(
               "std::system_error(errno, std::generic_category(), "
               "\"<call>(<object>)\")");
  }
}

template <typename Call>
void ExpectSystemError(Call call, std::errc error, std::string_view call_name,
                       const std::string& hint) {
  ExpectSystemError(call, std::vector<std::errc>{error}, call_name, hint);
}

// Raw calls of the test itself, hidden from call counters and injected
// faults (kata::NotCounted).
template <typename Body>
auto Quietly(Body body) {
  kata::NotCounted quiet;
  return body();
}

inline constexpr char kReportFailures[] =
    "when a system call returns -1, throw std::system_error(errno, "
    "std::generic_category(), \"<call>(<object>)\")";

// For the body of kata::ForEachInjectedFailure: runs `call` plainly on the
// dry run, and on every other run expects the injected failure reported.
inline void RunOrExpectReported(const kata::FaultCase* fault,
                                const std::function<void()>& call) {
  if (fault == nullptr) {
    call();
    return;
  }
  kata::ExpectReportedOrRecovered(*fault, call, /*recovered_is_fine=*/false,
                                  kata::Hint(kReportFailures));
}

// ExpectEveryFailureReported()
//
// Makes each of `calls` fail in turn (ENOMEM; each occurrence of each call,
// see kata::ForEachInjectedFailure) while `body` runs, and checks that
// nothing is left behind after each run. `body` sets up what it needs with
// Quietly() and hands the function under test to RunOrExpectReported.
inline void ExpectEveryFailureReported(
    const kata::Calls& calls,
    const std::function<void(const kata::FaultCase*)>& body) {
  const std::vector<kata::FaultCase> cases = kata::ForEachInjectedFailure(
      calls, ENOMEM, [&](const kata::FaultCase* fault) {
        kata::ResourceSnapshot before;
        body(fault);
        EXPECT_EQ(before.Leaks(), "")
            << "left behind " << (fault ? "after " + fault->ToString() : "")
            << kata::Hint(
                   "a failed call must release what the function got so far");
      });
  EXPECT_FALSE(cases.empty())
      << "the function made none of the calls it is about";
}

// Calls that move data, or start someone else to move it, through another
// mechanism than a message queue: a pipe, a socket, a file, shared memory, a
// process or a thread.
inline const kata::Calls kNotAQueue = {
    "pipe",    "pipe2",    "socketpair", "socket",       "mkfifo",
    "open",    "openat",   "creat",      "memfd_create", "mkstemp",
    "tmpfile", "shm_open", "fork",       "posix_spawn",  "pthread_create"};
inline const kata::Calls kSysvCalls = {"msgget", "msgsnd", "msgrcv", "msgctl"};
inline const kata::Calls kPosixCalls = {"mq_open",         "mq_send",
                                        "mq_timedsend",    "mq_receive",
                                        "mq_timedreceive", "mq_getattr"};

// ExpectOnlyCalls()
//
// Runs `call` (the function `what`) and checks that it made at least one of
// `used` and none of `forbidden`: proof of mechanism for one function.
inline void ExpectOnlyCalls(std::string_view what,
                            const std::function<void()>& call,
                            std::initializer_list<std::string_view> used,
                            const kata::Calls& forbidden,
                            std::string_view mechanism) {
  kata::CallCounter calls;
  call();
  kata::ExpectUsed(calls, used, 1,
                   std::string(what) + ": " + std::string(mechanism));
  std::string seen;
  for (std::string_view name : forbidden) {
    if (const long count = calls.Count({name})) {
      seen += " " + std::string(name) + " x" + std::to_string(count);
    }
  }
  EXPECT_EQ(seen, "") << what << " made calls of another mechanism"
                      << kata::Hint(std::string("this part of the kata asks "
                                                "for ") +
                                    std::string(mechanism) + " alone");
}

// ------------------------------------------------------------- processes

// RunUnprivileged()
//
// Runs `body` in a child that has dropped every capability, so the kernel
// checks a queue's permission bits even when the tests run as root (or as
// root of Bazel's sandbox); the unprivileged run as nobody sees the same.
inline void RunUnprivileged(const std::function<void()>& body) {
  kata::RunInChild([&] {
    __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
    __user_cap_data_struct none[2] = {};
    ASSERT_EQ(syscall(SYS_capset, &header, none), 0)
        << "the test's capset: " << std::strerror(errno);
    body();
  });
}

// The uid_map or gid_map line that makes `id` root of a new user namespace.
inline std::string RootMapOf(unsigned id) {
  return "0 " + std::to_string(id) + " 1";
}

// EnterOwnIpcNamespace()
//
// Moves the calling process into a new user and IPC namespace where the
// runner's user is root (`uid_map`, `gid_map`: RootMapOf the runner's ids).
// Returns "" or what failed, with errno's text.
inline std::string EnterOwnIpcNamespace(const std::string& uid_map,
                                        const std::string& gid_map) {
  if (unshare(CLONE_NEWUSER | CLONE_NEWIPC) != 0) {
    return std::string("unshare: ") + std::strerror(errno);
  }
  if (!WriteProc("/proc/self/uid_map", uid_map) ||
      !WriteProc("/proc/self/setgroups", "deny") ||
      !WriteProc("/proc/self/gid_map", gid_map)) {
    return std::string("mapping its user: ") + std::strerror(errno);
  }
  return "";
}

// OwnIpcNamespaceProblem()
//
// Tries, in a throwaway child, what InOwnIpcNamespace needs: the namespaces
// and, for `posix`, a POSIX queue in them (a Landlock domain such as the
// grader's confined run reaches only the queue file systems it was given,
// so a new namespace's is out of its reach). Returns "" or what failed.
inline std::string OwnIpcNamespaceProblem(bool posix) {
  const std::string uid_map = RootMapOf(geteuid());
  const std::string gid_map = RootMapOf(getegid());
  int report[2];
  if (pipe2(report, O_CLOEXEC) != 0) return std::strerror(errno);
  const pid_t probe = fork();
  if (probe == 0) {
    close(report[0]);
    std::string problem = EnterOwnIpcNamespace(uid_map, gid_map);
    if (problem.empty() && posix) {
      mq_attr attr{};
      attr.mq_maxmsg = 1;
      attr.mq_msgsize = 1;
      if (mq_open("/probe", O_CREAT | O_EXCL | O_RDWR, 0600, &attr) < 0) {
        problem = std::string("mq_open in it: ") + std::strerror(errno);
      }
    }
    (void)!write(report[1], problem.data(), problem.size());
    _exit(0);
  }
  close(report[1]);
  std::string problem;
  char chunk[256];
  ssize_t got = 0;
  while ((got = read(report[0], chunk, sizeof chunk)) != 0) {
    if (got > 0) problem.append(chunk, static_cast<std::size_t>(got));
    if (got < 0 && errno != EINTR) break;
  }
  close(report[0]);
  if (probe < 0) return std::string("fork: ") + std::strerror(errno);
  while (waitpid(probe, nullptr, 0) < 0 && errno == EINTR) {
  }
  return problem;
}

// InOwnIpcNamespace()
//
// Runs `body(true)` in a child with an IPC namespace of its own, made with a
// user namespace (which is how an unprivileged runner may make one) that maps
// the runner's user to root: its first System V queue gets id 0, its POSIX
// names are its own, and it may set /proc/sys/fs/mqueue's limits, which hold
// for it alone (nothing is privileged there: the kernel's CAP_SYS_RESOURCE
// exception needs the initial namespace). Everything made inside is gone when
// the child ends. Where the machine allows no such namespace (no user
// namespaces, or, for `posix`, no POSIX queues in it), `body(false)` runs in
// the child as it is, and the test checks what it still can.
inline void InOwnIpcNamespace(const std::function<void(bool own)>& body,
                              bool posix = true) {
  kata::RunInChild([&] {
    const std::string problem = OwnIpcNamespaceProblem(posix);
    const bool own = problem.empty();
    if (own) {
      const std::string entered =
          EnterOwnIpcNamespace(RootMapOf(geteuid()), RootMapOf(getegid()));
      ASSERT_EQ(entered, "") << "the same steps worked in a probe just before";
    } else {
      std::printf(
          "note: no IPC namespace of the test's own here (%s): checks that "
          "need one are left out\n",
          problem.c_str());
    }
    body(own);
  });
}

}  // namespace mq_test

#endif  // IPC_KATAS_TESTS_MESSAGE_QUEUE_RAW_QUEUES_H_
