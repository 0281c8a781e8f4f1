// "What your code did": the timeline of a test's IPC calls (interpose.c
// records them; this file reads and prints them). One column per process,
// repeated reads and writes folded into one line, and each descriptor named
// after what it is ("read end of pipe #1"), followed by the descriptors each
// process still held at its end.

#include <cxxabi.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sys/ipc.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "tests/support/internal.h"
#include "tests/support/kata.h"

namespace kata::internal {
namespace {

std::string Escaped(const char* text, int size) {
  std::string out;
  for (int i = 0; i < size; ++i) {
    unsigned char c = static_cast<unsigned char>(text[i]);
    if (c == '\n')
      out += "\\n";
    else if (c == '\t')
      out += "\\t";
    else if (c == '"' || c == '\\')
      out += std::string("\\") + char(c);
    else if (c < 32 || c > 126) {
      char hex[8];
      std::snprintf(hex, sizeof(hex), "\\x%02x", c);
      out += hex;
    } else {
      out += char(c);
    }
  }
  return out;
}

// The note an event names (args[1]), or "" when the ring has since reused
// its slot.
std::string NoteOf(const kata_event& event) {
  const long number = event.args[1];
  if (kata_trace == nullptr || number <= 0) return "";
  const kata_note& note =
      kata_trace
          ->notes[static_cast<unsigned long>(number - 1) % KATA_TRACE_NOTES];
  if (__atomic_load_n(&note.seq, __ATOMIC_ACQUIRE) !=
      static_cast<unsigned long>(number)) {
    return "(its text was overwritten by later ones)";
  }
  // One line: runs of blanks and line breaks become one space.
  std::string out;
  for (const char* c = note.text; c < note.text + KATA_NOTE_TEXT && *c; ++c) {
    const bool blank = *c == ' ' || *c == '\n' || *c == '\t' || *c == '\r';
    if (!blank) {
      out += *c;
    } else if (!out.empty() && out.back() != ' ') {
      out += ' ';
    }
  }
  while (!out.empty() && out.back() == ' ') out.pop_back();
  // Enough to say what it was; a timeline row is not the place for more.
  constexpr std::size_t kShown = 120;
  if (out.size() > kShown) out = out.substr(0, kShown - 3) + "...";
  return out;
}

// "std::system_error" for "St12system_error".
std::string Demangled(const std::string& mangled) {
  int status = 0;
  char* plain = abi::__cxa_demangle(mangled.c_str(), nullptr, nullptr, &status);
  if (status != 0 || plain == nullptr) return mangled;
  std::string out(plain);
  std::free(plain);
  return out;
}

std::string ErrnoName(int error) {
  const char* name = strerrorname_np(error);
  return name ? name : std::to_string(error);
}

std::string Flags(long flags,
                  std::initializer_list<std::pair<long, const char*>> names) {
  std::string text;
  for (const auto& [bit, name] : names) {
    if (flags & bit) text += (text.empty() ? "" : "|") + std::string(name);
  }
  return text;
}

std::string OpenFlags(long flags) {
  std::string access = (flags & O_ACCMODE) == O_WRONLY ? "O_WRONLY"
                       : (flags & O_ACCMODE) == O_RDWR ? "O_RDWR"
                                                       : "O_RDONLY";
  std::string rest = Flags(flags, {{O_CREAT, "O_CREAT"},
                                   {O_EXCL, "O_EXCL"},
                                   {O_TRUNC, "O_TRUNC"},
                                   {O_NONBLOCK, "O_NONBLOCK"},
                                   {O_CLOEXEC, "O_CLOEXEC"}});
  return access + (rest.empty() ? "" : "|" + rest);
}

std::string SocketFamily(long family) {
  return family == AF_UNIX    ? "AF_UNIX"
         : family == AF_INET  ? "AF_INET"
         : family == AF_INET6 ? "AF_INET6"
                              : std::to_string(family);
}

// SOCK_STREAM|SOCK_CLOEXEC: the type with the flags socket(2) takes in it.
std::string SocketType(long type) {
  const long base = type & 0xf;
  std::string text = base == SOCK_STREAM      ? "SOCK_STREAM"
                     : base == SOCK_DGRAM     ? "SOCK_DGRAM"
                     : base == SOCK_SEQPACKET ? "SOCK_SEQPACKET"
                                              : std::to_string(base);
  const std::string flags = Flags(
      type, {{SOCK_CLOEXEC, "SOCK_CLOEXEC"}, {SOCK_NONBLOCK, "SOCK_NONBLOCK"}});
  return flags.empty() ? text : text + "|" + flags;
}

std::string MessageFlags(long flags) {
  return Flags(flags, {{MSG_NOSIGNAL, "MSG_NOSIGNAL"},
                       {MSG_DONTWAIT, "MSG_DONTWAIT"},
                       {MSG_PEEK, "MSG_PEEK"},
                       {MSG_WAITALL, "MSG_WAITALL"},
                       {MSG_MORE, "MSG_MORE"}});
}

// setsockopt's level and option by name: "SOL_SOCKET, SO_REUSEADDR".
std::string SocketOption(long level, long name) {
  if (level == SOL_SOCKET) {
    const char* option = name == SO_REUSEADDR   ? "SO_REUSEADDR"
                         : name == SO_ERROR     ? "SO_ERROR"
                         : name == SO_RCVBUF    ? "SO_RCVBUF"
                         : name == SO_SNDBUF    ? "SO_SNDBUF"
                         : name == SO_LINGER    ? "SO_LINGER"
                         : name == SO_KEEPALIVE ? "SO_KEEPALIVE"
                         : name == SO_RCVTIMEO  ? "SO_RCVTIMEO"
                         : name == SO_SNDTIMEO  ? "SO_SNDTIMEO"
                                                : nullptr;
    return "SOL_SOCKET, " +
           (option ? std::string(option) : std::to_string(name));
  }
  if (level == IPPROTO_TCP) {
    return "IPPROTO_TCP, " + (name == TCP_NODELAY ? std::string("TCP_NODELAY")
                                                  : std::to_string(name));
  }
  return std::to_string(level) + ", " + std::to_string(name);
}

// msgctl's and shmctl's command by name: "IPC_RMID".
std::string IpcCommand(long command) {
  switch (command) {
    case IPC_RMID:
      return "IPC_RMID";
    case IPC_STAT:
      return "IPC_STAT";
    case IPC_SET:
      return "IPC_SET";
    default:
      return "command " + std::to_string(command);
  }
}

std::string WaitStatus(long status) {
  int value = static_cast<int>(status);
  if (WIFEXITED(value)) return "exited " + std::to_string(WEXITSTATUS(value));
  if (WIFSIGNALED(value)) return "killed by " + SignalName(WTERMSIG(value));
  return "status " + std::to_string(value);
}

// What each descriptor of each process is, rebuilt from the events.
class DescriptorModel {
 public:
  struct Entry {
    std::string label;
    bool cloexec = false;
  };
  using Table = std::map<long, Entry>;

  // The label of `fd` in `pid` right now ("read end of pipe #1").
  std::string Name(int pid, long fd) const {
    auto table = tables_.find(pid);
    if (table != tables_.end()) {
      auto entry = table->second.find(fd);
      if (entry != table->second.end()) {
        return std::to_string(fd) + " [" + entry->second.label + "]";
      }
    }
    // Not made in this test: the standard three are named, others were
    // opened before the test began (the runner's own, or inherited).
    if (fd >= 0 && fd <= 2) {
      static const char* const kStandard[] = {
          "standard input", "standard output", "standard error"};
      return std::to_string(fd) + " [" + kStandard[fd] + "]";
    }
    return std::to_string(fd);
  }

  // "semaphore #k": semaphores numbered by their address, in the order the
  // test first used them (a sem_init, a wait, a post). The address of one
  // in shared memory is the same in a forked child, which mapped it before.
  std::string Semaphore(long address) const {
    auto [entry, added] = semaphores_.try_emplace(
        address, static_cast<int>(semaphores_.size()) + 1);
    return "semaphore #" + std::to_string(entry->second);
  }

  void Apply(const kata_event& event, const std::string& call) {
    Table& table = TableOf(event);
    if (call == "fork" && event.result > 0) {
      // The child starts with the table as it is at the fork, whatever the
      // parent does before the child's first recorded call.
      at_fork_[static_cast<int>(event.result)] = table;
    }
    const long* a = event.args;
    const bool ok = event.result >= 0 && event.error == 0;
    if ((call == "pipe" || call == "pipe2") && event.result == 0) {
      const std::string pipe = "pipe #" + std::to_string(++pipes_);
      const bool cloexec = call == "pipe2" && (a[2] & O_CLOEXEC);
      table[a[0]] = {"read end of " + pipe, cloexec};
      table[a[1]] = {"write end of " + pipe, cloexec};
    } else if (call == "socketpair" && event.result == 0) {
      const std::string pair = "socketpair #" + std::to_string(++pairs_);
      const bool cloexec = a[1] & SOCK_CLOEXEC;
      table[a[2]] = {"end 1 of " + pair, cloexec};
      table[a[3]] = {"end 2 of " + pair, cloexec};
    } else if (call == "socket" && ok) {
      table[event.result] = {"socket #" + std::to_string(++sockets_) +
                                 (a[0] == AF_UNIX   ? " (AF_UNIX)"
                                  : a[0] == AF_INET ? " (AF_INET)"
                                                    : ""),
                             (a[1] & SOCK_CLOEXEC) != 0};
    } else if ((call == "accept" || call == "accept4") && ok) {
      table[event.result] = {"connection #" + std::to_string(++connections_) +
                                 " accepted on " + Name(event.pid, a[0]),
                             call == "accept4" && (a[1] & SOCK_CLOEXEC)};
    } else if ((call == "open" || call == "openat" || call == "creat") && ok) {
      table[event.result] = {"file " + Escaped(event.text, event.text_size),
                             (a[0] & O_CLOEXEC) != 0};
    } else if (call == "shm_open" && ok) {
      table[event.result] = {
          "shared memory " + Escaped(event.text, event.text_size), true};
    } else if (call == "mq_open" && ok) {
      table[event.result] = {"queue " + Escaped(event.text, event.text_size),
                             (a[0] & O_CLOEXEC) != 0};
    } else if ((call == "memfd_create" || call == "eventfd" ||
                call == "mkstemp" || call == "mkostemp") &&
               ok) {
      table[event.result] = {call + " " + Escaped(event.text, event.text_size),
                             false};
    } else if (call == "dup" && ok) {
      table[event.result] = {Copy(table, a[0]), false};
    } else if ((call == "dup2" || call == "dup3") && ok) {
      table[a[1]] = {Copy(table, a[0]), call == "dup3" && (a[2] & O_CLOEXEC)};
    } else if (call == "fcntl" && ok) {
      if (a[1] == F_SETFD) table[a[0]].cloexec = (a[2] & FD_CLOEXEC) != 0;
      if (a[1] == F_DUPFD || a[1] == F_DUPFD_CLOEXEC) {
        table[event.result] = {Copy(table, a[0]), a[1] == F_DUPFD_CLOEXEC};
      }
    } else if (call == "close" || call == "mq_close") {
      table.erase(a[0]);
    } else if (call.rfind("exec", 0) == 0 &&
               (event.flags & KATA_EVENT_BEFORE)) {
      // If the exec works, close-on-exec descriptors are gone.
      before_exec_[event.pid] = table;
      std::erase_if(table,
                    [](const auto& entry) { return entry.second.cloexec; });
    } else if (call.rfind("exec", 0) == 0 && event.result < 0) {
      table = before_exec_[event.pid];
    }
  }

  const Table& TableOf(int pid) const {
    static const Table empty;
    auto found = tables_.find(pid);
    return found == tables_.end() ? empty : found->second;
  }

 private:
  // A process's table; a child's starts as a copy of its parent's.
  Table& TableOf(const kata_event& event) {
    auto found = tables_.find(event.pid);
    if (found != tables_.end()) return found->second;
    Table& table = tables_[event.pid];
    auto forked = at_fork_.find(event.pid);
    auto parent = tables_.find(event.ppid);
    if (forked != at_fork_.end()) {
      table = forked->second;
    } else if (parent != tables_.end()) {
      table = parent->second;
    }
    return table;
  }

  static std::string Copy(const Table& table, long fd) {
    auto found = table.find(fd);
    return found == table.end() ? "a copy of fd " + std::to_string(fd)
                                : found->second.label;
  }

  std::map<int, Table> tables_;
  std::map<int, Table> before_exec_;
  std::map<int, Table> at_fork_;
  int pipes_ = 0, pairs_ = 0, sockets_ = 0, connections_ = 0;
  mutable std::map<long, int> semaphores_;  // address -> number
};

}  // namespace

std::string CallName(int call) {
  if (call == KATA_EVENT_EXIT) return "exit";
  if (call == KATA_EVENT_THROW) return "throw";
  if (call == KATA_EVENT_CHECK) return "check failed";
  if (call >= 0 && call < kNumCountedCalls) return kCountedCalls[call];
  return "?";
}

namespace {

// Calls whose result names new descriptors: the row shows them named.
bool Creates(const std::string& call) {
  return call == "pipe" || call == "pipe2" || call == "socketpair" ||
         call == "socket" || call == "accept" || call == "accept4" ||
         call == "open" || call == "openat" || call == "creat" ||
         call == "shm_open" || call == "mq_open" || call == "dup" ||
         call == "dup2" || call == "dup3" || call == "memfd_create" ||
         call == "eventfd";
}

bool IsTransfer(const std::string& call) {
  return call == "read" || call == "write" || call == "readv" ||
         call == "writev" || call == "recv" || call == "send" ||
         call == "recvfrom" || call == "sendto" || call == "recvmsg" ||
         call == "sendmsg";
}

// One event as a line, with the descriptors named by the model.
std::string Describe(const kata_event& event, const DescriptorModel& model) {
  const std::string call = CallName(event.call);
  const long* a = event.args;
  const std::string text = Escaped(event.text, event.text_size);
  auto fd = [&](long number) { return model.Name(event.pid, number); };
  std::string line;
  std::string result;
  const bool failed =
      event.error != 0 &&
      (event.result < 0 || call == "posix_spawn" || call == "pthread_create");
  if (failed) {
    result = " = -1 " + ErrnoName(event.error);
  } else {
    result = " = " + std::to_string(event.result);
  }
  if (call == "pipe" || call == "pipe2") {
    line = call + "(" +
           (call == "pipe2" ? Flags(a[2], {{O_CLOEXEC, "O_CLOEXEC"},
                                           {O_NONBLOCK, "O_NONBLOCK"}})
                            : "") +
           ")";
    if (!failed) result = " = " + fd(a[0]) + ", " + fd(a[1]);
  } else if (call == "fork") {
    line = "fork()";
    if (!failed) {
      result = event.result == 0 ? " = 0 (in the child)"
                                 : " = " + std::to_string(event.result) +
                                       " (the child's pid)";
    }
  } else if (IsTransfer(call)) {
    const bool out = call.find("write") != std::string::npos ||
                     call.find("send") != std::string::npos;
    // recv/send and their relatives take flags (a[2]); read/write do not.
    const bool socket_call = call.find("send") != std::string::npos ||
                             call.find("recv") != std::string::npos;
    const std::string flags = socket_call ? MessageFlags(a[2]) : "";
    line = call + "(" + fd(a[0]) + ", " +
           (out ? std::to_string(a[1]) + " bytes"
                : "up to " + std::to_string(a[1])) +
           (out && !text.empty() ? " \"" + text + "\"" : "") +
           (flags.empty() ? "" : ", " + flags) + ")";
    if (!failed) {
      result = " = " + std::to_string(event.result);
      if (!out && event.result == 0) result += " (end of file)";
      if (!out && event.result > 0 && !text.empty()) {
        result += " \"" + text + "\"";
      }
    }
  } else if (call == "close" || call == "mq_close") {
    line = call + "(" + fd(a[0]) + ")";
  } else if (call == "dup2" || call == "dup3") {
    line = call + "(" + fd(a[0]) + ", " + std::to_string(a[1]) + ")";
  } else if (call == "waitpid" || call == "wait4" || call == "wait") {
    line = call + "(" + (a[0] > 0 ? std::to_string(a[0]) : "any child") +
           (a[1] & WNOHANG ? ", WNOHANG" : "") + ")";
    if (!failed && event.result > 0 && a[3]) {
      result += " (" + WaitStatus(a[2]) + ")";
    }
  } else if (call == "_exit") {
    line = "_exit(" + std::to_string(a[0]) + ")";
    result = "";
  } else if (call == "exit") {
    line = "exit() (runs the atexit handlers it inherited)";
    result = "";
  } else if (call == "throw") {
    // "throw TYPE [ERRNO]: what()"; tools/timeline_compare.py compares the
    // part before the first ": " (the message is the code's own wording).
    line = "throw " + Demangled(std::string(event.text, event.text_size)) +
           (a[0] != 0 ? " " + ErrnoName(static_cast<int>(a[0])) : "") + ": " +
           NoteOf(event);
    result = "";
  } else if (call == "check failed") {
    line = "check failed at " + text + ":" + std::to_string(a[0]) + ": " +
           NoteOf(event);
    result = "";
  } else if (call.rfind("exec", 0) == 0) {
    line = call + "(" + text + ")";
    if (event.flags & KATA_EVENT_BEFORE) result = "";
  } else if (call == "open" || call == "openat" || call == "shm_open" ||
             call == "mq_open") {
    line = call + "(" + text + ", " + OpenFlags(a[0]) + ")";
  } else if (call == "kill") {
    line = "kill(" + std::to_string(a[0]) + ", " +
           SignalName(static_cast<int>(a[1])) + ")";
  } else if (call == "sigaction" || call == "signal") {
    line = call + "(" + SignalName(static_cast<int>(a[0])) + ", " +
           (a[1] == 0   ? "SIG_DFL"
            : a[1] == 1 ? "SIG_IGN"
            : a[1] < 0  ? "query"
                        : "a handler") +
           ")";
  } else if (call == "mmap") {
    // The address differs from run to run and says nothing to a learner;
    // whether the mapping is shared or private says a lot.
    std::string protection =
        Flags(a[1], {{PROT_READ, "PROT_READ"}, {PROT_WRITE, "PROT_WRITE"}});
    std::string sharing = Flags(a[2], {{MAP_SHARED, "MAP_SHARED"},
                                       {MAP_PRIVATE, "MAP_PRIVATE"},
                                       {MAP_ANONYMOUS, "MAP_ANONYMOUS"}});
    line = "mmap(" + std::to_string(a[0]) + " bytes, " +
           (protection.empty() ? "PROT_NONE" : protection) + ", " +
           (sharing.empty() ? std::to_string(a[2]) : sharing) +
           (a[2] & MAP_ANONYMOUS ? "" : ", " + fd(a[3])) + ")";
    if (!failed) result = " = a mapping";
  } else if (call == "munmap") {
    line = "munmap(" + std::to_string(a[0]) + " bytes)";
  } else if (call == "ftruncate") {
    line = "ftruncate(" + fd(a[0]) + ", " + std::to_string(a[1]) + " bytes)";
  } else if (call == "msgget") {
    std::string flags =
        Flags(a[1], {{IPC_CREAT, "IPC_CREAT"}, {IPC_EXCL, "IPC_EXCL"}});
    char mode[8];
    std::snprintf(mode, sizeof(mode), "0%03lo", a[1] & 0777);
    line = "msgget(" +
           (a[0] == IPC_PRIVATE ? std::string("IPC_PRIVATE")
                                : "key " + std::to_string(a[0])) +
           ", " + (flags.empty() ? "" : flags + "|") + mode + ")";
    if (!failed) result = " = queue " + std::to_string(event.result);
  } else if (call == "msgctl" || call == "shmctl") {
    line = call + "(" + (call == "msgctl" ? "queue " : "segment ") +
           std::to_string(a[0]) + ", " + IpcCommand(a[1]) + ")";
  } else if (call == "sem_open") {
    line = "sem_open(\"" + text + "\", " + OpenFlags(a[0]) +
           (a[0] & O_CREAT ? ", value " + std::to_string(a[2]) : "") + ")";
    if (!failed) result = " = " + model.Semaphore(event.result);
  } else if (call == "sem_init") {
    line = "sem_init(" + model.Semaphore(a[0]) + ", pshared " +
           std::to_string(a[1]) + ", value " + std::to_string(a[2]) + ")";
  } else if (call == "sem_timedwait") {
    line = "sem_timedwait(" + model.Semaphore(a[0]) + ", deadline in " +
           std::to_string(a[1]) + " ms)";
  } else if (call == "sem_clockwait") {
    line = "sem_clockwait(" + model.Semaphore(a[0]) + ", clock " +
           std::to_string(a[1]) + ")";
  } else if (call == "sem_getvalue") {
    line = "sem_getvalue(" + model.Semaphore(a[0]) + ")";
    if (!failed) result += ", value " + std::to_string(a[1]);
  } else if (call == "sem_wait" || call == "sem_trywait" ||
             call == "sem_post" || call == "sem_destroy") {
    line = call + "(" + model.Semaphore(a[0]) + ")";
  } else if (call == "mq_getattr") {
    line = "mq_getattr(" + fd(a[0]) + ")";
    if (!failed) {
      result += ", mq_maxmsg " + std::to_string(a[1]) + ", mq_msgsize " +
                std::to_string(a[2]) + ", mq_curmsgs " + std::to_string(a[3]);
    }
  } else if (call == "getsockname" || call == "getpeername") {
    line = call + "(" + fd(a[0]) + ")";
    if (!failed && a[1] != 0) result += ", port " + std::to_string(a[1]);
  } else if (call == "msgsnd" || call == "msgrcv") {
    line = call + "(queue " + std::to_string(a[0]) + ", type " +
           std::to_string(a[3]) + ", " + std::to_string(a[1]) + " bytes" +
           (a[2] & IPC_NOWAIT ? ", IPC_NOWAIT" : "") + ")";
    if (!text.empty() && !failed) result += " \"" + text + "\"";
  } else if (call == "mq_send" || call == "mq_timedsend" ||
             call == "mq_receive" || call == "mq_timedreceive") {
    line = call + "(" + fd(a[0]) + ", " + std::to_string(a[1]) +
           " bytes, priority " + std::to_string(a[2]) + ")";
    if (!text.empty() && !failed) result += " \"" + text + "\"";
  } else if (call == "socket") {
    line = "socket(" + SocketFamily(a[0]) + ", " + SocketType(a[1]) + ")";
  } else if (call == "socketpair") {
    line = "socketpair(" + SocketFamily(a[0]) + ", " + SocketType(a[1]) + ")";
    if (!failed) result = " = " + fd(a[2]) + ", " + fd(a[3]);
  } else if (call == "getsockopt") {
    line = "getsockopt(" + fd(a[0]) + ", " + SocketOption(a[1], a[2]) + ")";
  } else if (call == "setsockopt") {
    line = "setsockopt(" + fd(a[0]) + ", " + SocketOption(a[1], a[2]) + ", " +
           std::to_string(a[3]) + ")";
  } else if (call == "bind" || call == "connect") {
    line =
        call + "(" + fd(a[0]) + ", " +
        (text.empty() ? "port " + std::to_string(a[2]) : "\"" + text + "\"") +
        ")";
  } else if (call == "accept" || call == "accept4" || call == "listen" ||
             call == "shutdown") {
    const std::string flags =
        call == "accept4" ? Flags(a[1], {{SOCK_CLOEXEC, "SOCK_CLOEXEC"},
                                         {SOCK_NONBLOCK, "SOCK_NONBLOCK"}})
                          : "";
    line = call + "(" + fd(a[0]) +
           (call == "listen" ? ", backlog " + std::to_string(a[1]) : "") +
           (call == "shutdown" ? std::string(a[1] == SHUT_RD   ? ", SHUT_RD"
                                             : a[1] == SHUT_WR ? ", SHUT_WR"
                                                               : ", SHUT_RDWR")
                               : "") +
           (flags.empty() ? "" : ", " + flags) + ")";
  } else {
    line = call + "(";
    int last = 3;
    while (last >= 0 && a[last] == 0) --last;
    for (int i = 0; i <= last; ++i) {
      line += (i ? ", " : "") + std::to_string(a[i]);
    }
    if (!text.empty())
      line += std::string(last >= 0 ? ", " : "") + "\"" + text + "\"";
    line += ")";
  }
  if (event.flags & KATA_EVENT_INJECTED) result += "  [fault injected]";
  if (event.flags & KATA_EVENT_SHORTENED) result += "  [cut short]";
  return line + result;
}

struct Row {
  long long time_ns;
  int column;
  std::string text;
};

// Whether a process is still running (not ended, not a zombie).
bool Running(int pid) {
  if (kill(pid, 0) != 0) return false;
  std::FILE* stat =
      std::fopen(("/proc/" + std::to_string(pid) + "/stat").c_str(), "r");
  if (stat == nullptr) return false;
  char state = '?';
  // "pid (name) state ...": the name may hold blanks, so skip to its ')'.
  int c;
  while ((c = std::fgetc(stat)) != EOF && c != ')') {
  }
  const bool read = std::fscanf(stat, " %c", &state) == 1;
  std::fclose(stat);
  return read && state != 'Z';
}

// A row for each child that entered a call and never came back from it
// (recorded nowhere else: an event is written when a call returns), after
// that process's last event. Most often a process killed inside the call,
// SIGPIPE in a write or send. Processes the watchdog found blocked already
// have their BLOCKED row.
void AddUnfinishedCalls(const std::vector<kata_event>& events,
                        const std::vector<int>& pids, std::vector<Row>& rows) {
  if (kata_trace == nullptr) return;
  for (std::size_t column = 1; column < pids.size(); ++column) {
    const int pid = pids[column];
    const kata_inflight& slot = kata_trace->inflight[pid % KATA_INFLIGHT];
    const int call = __atomic_load_n(&slot.call, __ATOMIC_RELAXED);
    if (__atomic_load_n(&slot.pid, __ATOMIC_RELAXED) != pid || call < 0) {
      continue;
    }
    bool blocked = false;
    for (const Row& row : rows) {
      blocked |= row.column == static_cast<int>(column) &&
                 row.text.rfind("BLOCKED in ", 0) == 0;
    }
    if (blocked) continue;
    long long last = 0;
    std::string how = "it never returned (killed by a signal?)";
    for (const kata_event& event : events) {
      if (event.pid == pid) last = std::max(last, event.time_ns);
      // How it ended, if the code under test reaped it.
      const std::string name = CallName(event.call);
      if ((name == "waitpid" || name == "wait4" || name == "wait") &&
          event.result == pid && event.args[3] != 0) {
        how = WaitStatus(event.args[2]);
      }
    }
    rows.push_back(
        {last + 1, static_cast<int>(column),
         Running(pid) ? "still in " + CallName(call) + "() when the test ended"
                      : "DIED in " + CallName(call) + "(): " + how});
  }
  std::stable_sort(rows.begin(), rows.end(), [](const Row& a, const Row& b) {
    return a.time_ns < b.time_ns;
  });
}

}  // namespace

// Set up once by the runner (KATA_TRACE=0 leaves tracing off).
void InitTrace() {
  const char* setting = std::getenv("KATA_TRACE");
  if (setting != nullptr && std::string(setting) == "0") return;
  void* memory =
      mmap(nullptr, sizeof(struct kata_trace), PROT_READ | PROT_WRITE,
           MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (memory == MAP_FAILED) return;
  kata_trace = static_cast<struct kata_trace*>(memory);
}

bool TraceAlways() {
  const char* setting = std::getenv("KATA_TRACE");
  return setting != nullptr && std::string(setting) == "1";
}

void StartTrace() {
  if (kata_trace == nullptr) return;
  __atomic_store_n(&kata_trace->recording, 0, __ATOMIC_RELEASE);
  for (kata_event& event : kata_trace->events) {
    __atomic_store_n(&event.seq, 0, __ATOMIC_RELAXED);
  }
  for (kata_note& note : kata_trace->notes) {
    __atomic_store_n(&note.seq, 0, __ATOMIC_RELAXED);
  }
  for (kata_inflight& slot : kata_trace->inflight) {
    __atomic_store_n(&slot.call, -1, __ATOMIC_RELAXED);
    __atomic_store_n(&slot.pid, 0, __ATOMIC_RELAXED);
  }
  __atomic_store_n(&kata_trace->next_note, 0, __ATOMIC_RELEASE);
  __atomic_store_n(&kata_trace->next, 0, __ATOMIC_RELEASE);
  __atomic_store_n(&kata_trace->recording, 1, __ATOMIC_RELEASE);
}

void StopTrace() {
  if (kata_trace == nullptr) return;
  __atomic_store_n(&kata_trace->recording, 0, __ATOMIC_RELEASE);
}

std::vector<kata_event> TraceEvents(unsigned long* dropped) {
  std::vector<kata_event> events;
  *dropped = 0;
  if (kata_trace == nullptr) return events;
  const unsigned long next =
      __atomic_load_n(&kata_trace->next, __ATOMIC_ACQUIRE);
  const unsigned long first =
      next > KATA_TRACE_CAPACITY ? next - KATA_TRACE_CAPACITY : 0;
  *dropped = first;
  for (unsigned long n = first; n < next; ++n) {
    const kata_event& event = kata_trace->events[n % KATA_TRACE_CAPACITY];
    if (__atomic_load_n(&event.seq, __ATOMIC_ACQUIRE) != n + 1) continue;
    events.push_back(event);
  }
  std::stable_sort(events.begin(), events.end(),
                   [](const kata_event& a, const kata_event& b) {
                     return a.time_ns < b.time_ns;
                   });
  return events;
}

std::string RenderTimeline(const std::vector<kata_event>& events,
                           unsigned long dropped) {
  // Asked for (KATA_TRACE=1), a test that made no call still shows its
  // empty timeline: tools/kata compare then has a side to set yours against.
  if (events.empty() && !TraceAlways()) return "";
  // Columns: the runner first, then each process in order of appearance.
  std::vector<int> pids;
  std::map<int, int> column_of;
  auto column = [&](int pid) {
    auto found = column_of.find(pid);
    if (found != column_of.end()) return found->second;
    column_of[pid] = static_cast<int>(pids.size());
    pids.push_back(pid);
    return static_cast<int>(pids.size()) - 1;
  };
  column(RunnerPid());
  for (const kata_event& event : events) column(event.pid);

  DescriptorModel model;
  std::vector<Row> rows;
  std::map<int, std::size_t> open_run;  // pid -> row of a foldable run
  std::map<int, long> run_bytes, run_count;
  std::map<int, std::string> run_key;
  // Where each process was blocked when the watchdog stopped the test: the
  // calls that never returned, so were never recorded. Named with the
  // descriptors as they were at that moment.
  std::vector<BlockedCall> blocked = BlockedCalls();
  auto add_blocked_until = [&](long long time_ns) {
    for (auto it = blocked.begin(); it != blocked.end();) {
      if (it->time_ns > time_ns) {
        ++it;
        continue;
      }
      std::string call =
          it->call + "(" +
          (it->fd >= 0 ? model.Name(it->pid, it->fd) : it->argument) + ")";
      rows.push_back(
          {it->time_ns, column(it->pid),
           "BLOCKED in " + call + " when the watchdog stopped the test"});
      open_run.erase(it->pid);
      it = blocked.erase(it);
    }
  };
  for (const kata_event& event : events) {
    add_blocked_until(event.time_ns);
    const std::string call = CallName(event.call);
    // A run of the same transfer on the same descriptor folds into one row.
    const std::string key = call + "/" + std::to_string(event.args[0]);
    const bool foldable = IsTransfer(call) && event.result > 0 &&
                          !(event.flags & KATA_EVENT_INJECTED);
    if (foldable && run_key[event.pid] == key && open_run.count(event.pid)) {
      ++run_count[event.pid];
      run_bytes[event.pid] += event.result;
      Row& row = rows[open_run[event.pid]];
      row.text = call + "(" + model.Name(event.pid, event.args[0]) + ") x" +
                 std::to_string(run_count[event.pid]) + " = " +
                 std::to_string(run_bytes[event.pid]) + " bytes in all";
      model.Apply(event, call);
      continue;
    }
    if (Creates(call)) model.Apply(event, call);
    std::string text = Describe(event, model);
    if (!Creates(call)) model.Apply(event, call);
    rows.push_back({event.time_ns, column(event.pid), text});
    if (foldable) {
      open_run[event.pid] = rows.size() - 1;
      run_key[event.pid] = key;
      run_count[event.pid] = 1;
      run_bytes[event.pid] = event.result;
    } else {
      open_run.erase(event.pid);
      run_key[event.pid].clear();
    }
  }

  add_blocked_until(std::numeric_limits<long long>::max());
  AddUnfinishedCalls(events, pids, rows);
  const long long start = events.empty() ? 0 : events.front().time_ns;
  const int columns = static_cast<int>(pids.size());
  const std::size_t width = columns <= 2 ? 64 : columns == 3 ? 46 : 0;
  std::string out =
      "\nwhat your code did (every process of this test; KATA_TRACE=0 hides "
      "this, KATA_TRACE=1 shows it for passing tests too):\n";
  if (dropped > 0) {
    out += "  (" + std::to_string(dropped) +
           " earlier calls were dropped; the last " +
           std::to_string(KATA_TRACE_CAPACITY) + " are shown)\n";
  }
  auto label = [&](int index) {
    return (index == 0 ? std::string("runner")
                       : "child " + std::to_string(index)) +
           " (pid " + std::to_string(pids[index]) + ")";
  };
  // A row's text cut into lines that fit its column (at spaces if it can).
  auto wrap = [&](std::string text) {
    std::vector<std::string> lines;
    const std::size_t room = width == 0 ? std::string::npos : width - 2;
    while (text.size() > room) {
      std::size_t cut = text.rfind(' ', room);
      if (cut == std::string::npos || cut < room / 2) cut = room;
      lines.push_back(text.substr(0, cut));
      text = "  " + text.substr(cut + (text[cut] == ' ' ? 1 : 0));
    }
    lines.push_back(text);
    return lines;
  };
  char stamp[32];
  if (width > 0) {
    std::string header = "      ms  ";
    for (int i = 0; i < columns; ++i) {
      std::string name = label(i);
      name.resize(width, ' ');
      header += name;
    }
    out += header + "\n";
  }
  for (const Row& row : rows) {
    std::snprintf(stamp, sizeof(stamp), "%8.3f  ",
                  static_cast<double>(row.time_ns - start) / 1e6);
    if (width == 0) {
      out += stamp + ("[" + label(row.column) + "] " + row.text) + "\n";
      continue;
    }
    bool first = true;
    for (const std::string& piece : wrap(row.text)) {
      out += (first ? std::string(stamp) : std::string(10, ' ')) +
             std::string(width * row.column, ' ') + piece + "\n";
      first = false;
    }
  }
  out += "descriptors each process still held at its last call:\n";
  for (int i = 0; i < columns; ++i) {
    std::string held;
    for (const auto& [fd, entry] : model.TableOf(pids[i])) {
      held += (held.empty() ? "" : ", ") + std::to_string(fd) + " [" +
              entry.label + "]";
    }
    out += "  " + label(i) + ": " + (held.empty() ? "none it opened" : held) +
           "\n";
  }
  return out;
}

std::string RenderCurrentTimeline() {
  unsigned long dropped = 0;
  std::vector<kata_event> events = TraceEvents(&dropped);
  return RenderTimeline(events, dropped);
}

}  // namespace kata::internal

namespace kata {

std::vector<RecordedCall> RecordedCalls() {
  unsigned long dropped = 0;
  std::vector<RecordedCall> calls;
  for (const kata_event& event : internal::TraceEvents(&dropped)) {
    calls.push_back({event.pid, internal::CallName(event.call), event.result,
                     event.error, std::string(event.text, event.text_size)});
  }
  return calls;
}

std::string Timeline() { return internal::RenderCurrentTimeline(); }

}  // namespace kata
