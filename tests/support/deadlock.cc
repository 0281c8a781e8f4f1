// Reasoning about a hung test from what the kernel shows: which system call
// each process is blocked in (/proc/<pid>/syscall: the call and its
// arguments), on which descriptor, and who holds the other end of that pipe.
// The watchdog prints the result; a cause derived from this evidence names
// the mistake ("you waited for the child before reading what it writes")
// better than any guess a test can make in advance.

#include <fcntl.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "tests/support/internal.h"
#include "tests/support/kata.h"

namespace kata::internal {
namespace {

struct End {
  pid_t pid;
  int fd;
};

struct PipeHolders {
  std::vector<End> readers, writers;
};

// One process of the test, as the kernel sees it.
struct ProcessView {
  ProcInfo info;
  bool runner = false;
  long call = -1;  // system call number it is blocked in, or -1
  long args[6] = {};
  std::vector<FdInfo> fds;

  const FdInfo* Fd(long fd) const {
    for (const FdInfo& entry : fds) {
      if (entry.fd == fd) return &entry;
    }
    return nullptr;
  }
};

const char* CallName(long call) {
  switch (call) {
    case SYS_read:
      return "read";
    case SYS_write:
      return "write";
    case SYS_readv:
      return "readv";
    case SYS_writev:
      return "writev";
    case SYS_wait4:
      return "waitpid";
    case SYS_waitid:
      return "waitid";
    case SYS_poll:
      return "poll";
    case SYS_ppoll:
      return "ppoll";
    case SYS_select:
      return "select";
    case SYS_pselect6:
      return "pselect";
    case SYS_epoll_wait:
      return "epoll_wait";
    case SYS_epoll_pwait:
      return "epoll_pwait";
    case SYS_futex:
      return "futex";
    case SYS_msgrcv:
      return "msgrcv";
    case SYS_msgsnd:
      return "msgsnd";
    case SYS_semop:
      return "semop";
    case SYS_semtimedop:
      return "semtimedop";
    case SYS_mq_timedreceive:
      return "mq_receive";
    case SYS_mq_timedsend:
      return "mq_send";
    case SYS_accept:
      return "accept";
    case SYS_accept4:
      return "accept";
    case SYS_connect:
      return "connect";
    case SYS_recvfrom:
      return "recv";
    case SYS_sendto:
      return "send";
    case SYS_recvmsg:
      return "recvmsg";
    case SYS_sendmsg:
      return "sendmsg";
    case SYS_nanosleep:
      return "nanosleep";
    case SYS_clock_nanosleep:
      return "clock_nanosleep";
    case SYS_pause:
      return "pause";
    case SYS_rt_sigtimedwait:
      return "sigtimedwait";
    case SYS_rt_sigsuspend:
      return "sigsuspend";
    case SYS_openat:
      return "open";
    default:
      return nullptr;
  }
}

bool IsRead(long call) {
  return call == SYS_read || call == SYS_readv || call == SYS_recvfrom ||
         call == SYS_recvmsg;
}
bool IsWrite(long call) {
  return call == SYS_write || call == SYS_writev || call == SYS_sendto ||
         call == SYS_sendmsg;
}
bool IsWait(long call) { return call == SYS_wait4 || call == SYS_waitid; }

// The call `pid`'s main thread is blocked in, from /proc/<pid>/syscall:
// "<nr> <arg1> ... <arg6> <sp> <pc>" (hex arguments), "running" or "-1 ...".
void ReadSyscall(ProcessView& view) {
  Bypass quiet;
  const std::string pid = std::to_string(view.info.pid);
  std::ifstream in("/proc/" + pid + "/task/" + pid + "/syscall");
  std::string number;
  if (!(in >> number) || number == "running") return;
  char* end = nullptr;
  long call = std::strtol(number.c_str(), &end, 10);
  if (end == number.c_str() || call < 0) return;
  view.call = call;
  for (long& arg : view.args) {
    std::string hex;
    if (!(in >> hex)) break;
    arg = static_cast<long>(std::strtoul(hex.c_str(), nullptr, 16));
  }
}

std::string Who(const ProcessView& view) {
  return "pid " + std::to_string(view.info.pid) +
         (view.runner ? " (the test runner)" : "");
}

class Diagnosis {
 public:
  explicit Diagnosis(std::vector<ProcessView> views)
      : views_(std::move(views)) {
    for (const ProcessView& view : views_) {
      for (const FdInfo& fd : view.fds) {
        if (fd.target.rfind("pipe:", 0) != 0 || IsHarnessPipe(fd.target)) {
          continue;
        }
        (fd.accmode == O_WRONLY ? pipes_[fd.target].writers
                                : pipes_[fd.target].readers)
            .push_back({view.info.pid, fd.fd});
      }
    }
  }

  // One line per process: its state, the call it is blocked in and on what.
  std::string Processes() const {
    std::string text;
    for (const ProcessView& view : views_) {
      text +=
          "    pid " + std::to_string(view.info.pid) +
          (view.runner ? " (test runner)"
                       : " (child of " + std::to_string(view.info.ppid) + ")") +
          " " + view.info.comm + ": " + StateName(view.info.state);
      if (const char* name = CallName(view.call)) {
        text += ", in " + std::string(name) + "(" + Argument(view) + ")";
      }
      text += ", waiting in " + view.info.wchan + "\n";
    }
    return text;
  }

  std::vector<BlockedCall> BlockedCalls() const {
    timespec now{};
    clock_gettime(CLOCK_MONOTONIC, &now);
    std::vector<BlockedCall> calls;
    for (const ProcessView& view : views_) {
      const char* name = CallName(view.call);
      if (name == nullptr) continue;
      BlockedCall call;
      call.pid = view.info.pid;
      call.call = name;
      const FdInfo* fd = Blocked(view);
      call.fd = fd ? fd->fd : -1;
      call.argument = Argument(view);
      call.time_ns =
          static_cast<long long>(now.tv_sec) * 1000000000LL + now.tv_nsec;
      calls.push_back(std::move(call));
    }
    return calls;
  }

  // Causes derived from the evidence, most specific first, each with the
  // shape it belongs to (used to tell whether the test's own guess agrees).
  struct Cause {
    std::string shape, text;
  };
  std::vector<Cause> Causes() const {
    std::vector<Cause> causes;
    auto add = [&](std::string shape, std::string text) {
      for (const Cause& cause : causes) {
        // Both sides of one both-write deadlock tell the same story.
        if (cause.text == text ||
            (shape == "both-write" && cause.shape == shape)) {
          return;
        }
      }
      causes.push_back({std::move(shape), std::move(text)});
    };
    for (const ProcessView& view : views_) ExplainPipes(view, add);
    for (const ProcessView& view : views_) ExplainOthers(view, add);
    return causes;
  }

 private:
  template <typename Add>
  void ExplainPipes(const ProcessView& view, Add& add) const {
    const FdInfo* fd = Blocked(view);
    if (fd == nullptr || fd->target.rfind("pipe:", 0) != 0) return;
    auto found = pipes_.find(fd->target);
    if (found == pipes_.end()) return;
    const PipeHolders& pipe = found->second;
    const std::string name = fd->target;
    if (IsRead(view.call)) {
      if (IsSupportObject(name)) return;  // the runner waiting for kata::Child
      for (const End& writer : pipe.writers) {
        if (writer.pid == view.info.pid) {
          add("own-write-end",
              Who(view) + " waits for end of file on " + name +
                  ", but it still holds its own copy of the write end (fd " +
                  std::to_string(writer.fd) +
                  "): read() returns 0 only after EVERY write end is closed; "
                  "close the write end in the process that reads (right after "
                  "fork)");
          return;
        }
      }
      for (const End& writer : pipe.writers) {
        const ProcessView* other = Find(writer.pid);
        if (other == nullptr) continue;
        std::string doing = Doing(*other);
        add("write-end-held",
            Who(view) + " waits for end of file on " + name + ", but " +
                Who(*other) + " still holds the write end (fd " +
                std::to_string(writer.fd) + ")" +
                (doing.empty() ? "" : " while it " + doing) +
                ": close every write end a process no longer writes to, "
                "before it waits for anything else");
      }
      return;
    }
    if (!IsWrite(view.call)) return;
    bool other_reader = false;
    for (const End& reader : pipe.readers) {
      if (reader.pid == view.info.pid) continue;
      other_reader = true;
      const ProcessView* other = Find(reader.pid);
      if (other == nullptr) continue;
      if (IsWait(other->call)) {
        add("wait-before-drain",
            Who(*other) + " waits for a child to exit (waitpid) while " +
                Who(view) + " is blocked writing into " + name +
                ", which is full and only " + Who(*other) +
                " can read: you waited for the child before reading what it "
                "writes; waitpid() before draining deadlocks once the output "
                "fills the pipe (64 KiB): read until end of file, then wait");
        continue;
      }
      const FdInfo* theirs = Blocked(*other);
      if (IsWrite(other->call) && theirs != nullptr) {
        auto their_pipe = pipes_.find(theirs->target);
        bool we_read_it = false;
        if (their_pipe != pipes_.end()) {
          for (const End& r : their_pipe->second.readers) {
            we_read_it = we_read_it || r.pid == view.info.pid;
          }
        }
        if (we_read_it) {
          add("both-write",
              Who(view) + " writes into " + name + " (read by " + Who(*other) +
                  ") while " + Who(*other) + " writes into " + theirs->target +
                  " (read by " + Who(view) +
                  "); both pipes are full and neither side reads: feed stdin "
                  "and drain stdout at the same time (poll()), never write all "
                  "the input before reading any output");
          continue;
        }
      }
      std::string doing = Doing(*other);
      add("reader-busy", Who(view) + " is blocked writing into " + name +
                             ", which is full; its reader " + Who(*other) +
                             (doing.empty() ? " is not reading it"
                                            : " " + doing + " instead") +
                             ": drain the pipe before waiting for anything "
                             "else");
    }
    for (const End& reader : pipe.readers) {
      if (reader.pid != view.info.pid) continue;
      add(other_reader ? "own-read-end" : "own-read-end-only",
          Who(view) + " is blocked writing into " + name + ", which is full; " +
              (other_reader ? "" : "nobody else reads it, and ") + Who(view) +
              " still holds its own copy of the read end (fd " +
              std::to_string(reader.fd) +
              "), so the kernel never reports EPIPE when the real reader is "
              "gone: close the read end in the process that writes");
    }
  }

  template <typename Add>
  void ExplainOthers(const ProcessView& view, Add& add) const {
    const FdInfo* fd = Blocked(view);
    const std::string target = fd ? fd->target : "";
    switch (view.call) {
      case SYS_futex:
        add("semaphore",
            Who(view) +
                " waits on a futex: a semaphore nobody posts (sem_wait on a "
                "value stuck at 0), or a lock nobody releases; check that "
                "every wait has its post, and that the process that posts is "
                "not itself waiting");
        break;
      case SYS_semop:
      case SYS_semtimedop:
        add("semaphore", Who(view) +
                             " waits in semop on a System V semaphore nobody "
                             "posts (check the matching semop(+1))");
        break;
      case SYS_msgrcv:
        add("queue", Who(view) + " waits in msgrcv on System V queue id " +
                         std::to_string(view.args[0]) + " for type " +
                         std::to_string(view.args[3]) +
                         ": no message of that type is there and nobody sends "
                         "one (is the sender waiting itself, or sending "
                         "another type?)");
        break;
      case SYS_msgsnd:
        add("queue", Who(view) + " waits in msgsnd: System V queue id " +
                         std::to_string(view.args[0]) +
                         " is full and nobody receives");
        break;
      case SYS_mq_timedreceive:
        add("queue", Who(view) + " waits to receive from POSIX queue " +
                         target +
                         ", which is empty: nobody sends (or the sender waits "
                         "for something itself)");
        break;
      case SYS_mq_timedsend:
        add("queue", Who(view) + " waits to send to POSIX queue " + target +
                         ", which is full: nobody receives");
        break;
      case SYS_accept:
      case SYS_accept4:
        add("socket", Who(view) + " waits in accept() for a client on " +
                          target + " that never connects");
        break;
      case SYS_connect:
        add("socket", Who(view) +
                          " waits in connect(): the server's backlog "
                          "is full, or nobody accepts");
        break;
      default:
        if (IsRead(view.call) && target.rfind("socket:", 0) == 0) {
          add("socket", Who(view) + " waits for data on " + target +
                            ": its peer never sends, and never shuts down its "
                            "sending side (shutdown(SHUT_WR) or close) to mark "
                            "the end of the stream");
        }
        if (IsWait(view.call)) {
          long child = static_cast<int>(view.args[0]);
          const ProcessView* other = child > 0 ? Find(child) : nullptr;
          std::string doing = other ? Doing(*other) : "";
          if (other != nullptr && !doing.empty()) {
            add("wait", Who(view) + " waits for child " +
                            std::to_string(child) + ", which " + doing);
          }
        }
    }
  }

  // The descriptor the process is blocked on, if its call takes one first.
  const FdInfo* Blocked(const ProcessView& view) const {
    if (!(IsRead(view.call) || IsWrite(view.call) || view.call == SYS_accept ||
          view.call == SYS_accept4 || view.call == SYS_mq_timedreceive ||
          view.call == SYS_mq_timedsend || view.call == SYS_connect)) {
      return nullptr;
    }
    return view.Fd(view.args[0]);
  }

  // "is blocked reading pipe:[12] (fd 3)", for the causes.
  std::string Doing(const ProcessView& view) const {
    const char* name = CallName(view.call);
    if (name == nullptr) return "";
    return "is blocked in " + std::string(name) + "(" + Argument(view) + ")";
  }

  std::string Argument(const ProcessView& view) const {
    if (IsWait(view.call)) {
      long child = static_cast<int>(view.args[0]);
      return child > 0 ? "pid " + std::to_string(child) : "any child";
    }
    if (const FdInfo* fd = Blocked(view)) {
      std::string text = "fd " + std::to_string(fd->fd) + ": ";
      if (fd->target.rfind("pipe:", 0) == 0) {
        text += std::string(fd->accmode == O_WRONLY ? "write" : "read") +
                " end of " + fd->target;
        if (IsSupportObject(fd->target)) text += ", a test child's report";
      } else {
        text += fd->target;
      }
      return text;
    }
    return "";
  }

  const ProcessView* Find(pid_t pid) const {
    for (const ProcessView& view : views_) {
      if (view.info.pid == pid) return &view;
    }
    return nullptr;
  }

  std::vector<ProcessView> views_;
  std::map<std::string, PipeHolders> pipes_;
};

// Words that show the test's own guess is about the same mistake.
bool Agrees(const std::string& shape, const std::string& guess) {
  static const std::map<std::string, std::vector<std::string>> keywords = {
      {"own-write-end", {"write end"}},
      {"write-end-held", {"write end"}},
      {"wait-before-drain", {"drain", "before read", "waitpid"}},
      {"both-write", {"poll", "both", "at the same time"}},
      {"reader-busy", {"drain", "read"}},
      {"own-read-end", {"read end", "EPIPE"}},
      {"own-read-end-only", {"read end", "EPIPE"}},
      {"semaphore", {"semaphore", "post"}},
      {"queue", {"queue", "receive", "send"}},
      {"socket", {"socket", "connect", "shutdown", "client", "server"}},
      {"wait", {"wait"}},
  };
  auto found = keywords.find(shape);
  if (found == keywords.end()) return false;
  for (const std::string& word : found->second) {
    if (guess.find(word) != std::string::npos) return true;
  }
  return false;
}

}  // namespace

DeadlockView ExamineDeadlock(const std::string& guess) {
  Bypass quiet;
  std::vector<ProcessView> views;
  std::vector<pid_t> pids = {RunnerPid()};
  for (pid_t pid : DescendantsOf(RunnerPid())) pids.push_back(pid);
  for (pid_t pid : pids) {
    ProcessView view;
    if (!ReadProc(pid, &view.info)) continue;
    view.runner = pid == RunnerPid();
    ReadSyscall(view);
    view.fds = FdsOf(pid);
    views.push_back(std::move(view));
  }
  Diagnosis diagnosis(std::move(views));
  DeadlockView result;
  result.processes = diagnosis.Processes();
  result.pipes = DescribePipes(pids);
  result.blocked = diagnosis.BlockedCalls();
  std::vector<Diagnosis::Cause> causes = diagnosis.Causes();
  if (causes.empty()) {
    result.cause =
        "likely cause (the test's guess; the kernel's view below "
        "shows no clearer one): " +
        guess + "\n";
    return result;
  }
  result.cause = "cause, from what the kernel shows: " + causes[0].text + "\n";
  for (std::size_t i = 1; i < causes.size() && i < 3; ++i) {
    result.cause += "also: " + causes[i].text + "\n";
  }
  if (Agrees(causes[0].shape, guess)) {
    result.cause += "the test's hint agrees: " + guess + "\n";
  }
  return result;
}

}  // namespace kata::internal
