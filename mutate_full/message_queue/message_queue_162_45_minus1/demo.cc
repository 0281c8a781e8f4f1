// bazel run //solutions/message_queue:demo
// bazel run //solutions/message_queue:demo -- --pause
//
// Shows the reference solution at work. Every line says which process (pid)
// does what, so you can see one queue shared by unrelated senders and
// receivers. The demo asks the real `ipcs -q` (util-linux) what the kernel
// holds while the queue is full, and again after the queue is removed.
//
// With --pause it stops while the System V queue holds its four messages,
// so you can look for yourself from another terminal (ipcs -q, ipcs -q -i
// <id>); press Enter to go on. tests/message_queue/demo_ipcs_test.cc drives
// exactly that and checks what ipcs shows.

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "message_queue/message_queue.h"

namespace {

namespace mq = kata::message_queue;

void Say(const char* who, const std::string& what) {
  std::printf("[%-10s pid %6d] %s\n", who, getpid(), what.c_str());
  std::fflush(stdout);
}

std::string Quoted(std::string_view text) {
  return "\"" + std::string(text) + "\"";
}

std::string Describe(const mq::Message& message) {
  return "type " + std::to_string(message.type) + " " + Quoted(message.text);
}

std::string Hex(key_t key) {
  char text[16];
  std::snprintf(text, sizeof(text), "0x%08x", static_cast<unsigned>(key));
  return text;
}

// Forks a child that runs `body` and ends with _exit (never returning here);
// returns its pid.
template <typename Body>
pid_t Spawn(Body body) {
  std::fflush(stdout);
  pid_t pid = fork();
  if (pid < 0) throw std::system_error(errno, std::generic_category(), "fork");
  if (pid == 0) {
    int code = 0;
    try {
      code = body();
    } catch (const std::exception& e) {
      Say("child", std::string("failed: ") + e.what());
      code = 100;
    }
    std::fflush(stdout);
    _exit(code);
  }
  return pid;
}

int Reap(pid_t pid) {
  int status = 0;
  while (waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) return -1;
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

// Runs `ipcs -q` and prints its header and the line of the queue with `key`
// (or says there is none). Returns whether that line was there.
bool ShowIpcs(key_t key) {
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) return false;
  std::fflush(stdout);
  pid_t pid = fork();
  if (pid == 0) {
    dup2(fds[1], STDOUT_FILENO);
    execlp("ipcs", "ipcs", "-q", static_cast<char*>(nullptr));
    std::printf("ipcs: %s (Debian: apt-get install util-linux)\n",
                std::strerror(errno));
    std::fflush(stdout);
    _exit(127);
  }
  close(fds[1]);
  std::string output;
  char buffer[4096];
  for (ssize_t n; (n = read(fds[0], buffer, sizeof(buffer))) != 0;) {
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) break;
    output.append(buffer, static_cast<std::size_t>(n));
  }
  close(fds[0]);
  if (pid > 0) Reap(pid);

  bool found = false;
  std::size_t start = 0;
  std::printf("    $ ipcs -q\n");
  while (start < output.size()) {
    std::size_t end = output.find('\n', start);
    if (end == std::string::npos) end = output.size();
    const std::string line = output.substr(start, end - start);
    start = end + 1;
    const bool ours = line.rfind(Hex(key), 0) == 0;
    found = found || ours;
    // The header, and our queue; other queues on the machine are not ours.
    if (ours || line.rfind("key", 0) == 0 || line.rfind("------", 0) == 0) {
      std::printf("    %s\n", line.c_str());
    }
  }
  if (!found) std::printf("    (no line for key %s)\n", Hex(key).c_str());
  std::fflush(stdout);
  return found;
}

void TypedMessages(mq::SysvQueue& queue, key_t key, bool pause) {
  std::printf("== Stages 1-3: one System V queue, typed messages ==\n");
  Say("parent", "created the queue: key " + Hex(key) + " id " +
                    std::to_string(queue.id()) +
                    " (this process owns it and removes it at the end)");
  pid_t sender = Spawn([key] {
    mq::SysvQueue mine = mq::SysvQueue::Open(key);  // found by key
    mine.Send(3, "three");
    mine.Send(1, "one");
    mine.Send(2, "two");
    mine.Send(1, "one again");
    Say("sender", "opened key " + Hex(key) +
                      " and sent types 3, 1, 2, 1; exiting without "
                      "receiving anything");
    return 0;
  });
  Reap(sender);
  const mq::SysvStatus status = queue.Status();
  Say("parent", "the sender is gone; the kernel still holds " +
                    std::to_string(status.messages) + " messages (" +
                    std::to_string(status.bytes) + " bytes of " +
                    std::to_string(status.max_bytes) + "), last sent by pid " +
                    std::to_string(status.last_sender));
  ShowIpcs(key);
  if (pause) {
    std::printf(
        "paused: queue key %s id %d holds %zu messages. Look from another "
        "terminal (ipcs -q; ipcs -q -i %d), then press Enter.\n",
        Hex(key).c_str(), queue.id(), status.messages, queue.id());
    std::fflush(stdout);
    std::string line;
    std::getline(std::cin, line);
  }
  Say("parent", "Receive(Any())          -> " +
                    Describe(queue.Receive(mq::Any())) + "   (the oldest)");
  Say("parent", "Receive(Exactly(2))     -> " +
                    Describe(queue.Receive(mq::Exactly(2))) +
                    "     (type 2 only)");
  Say("parent", "Receive(LowestUpTo(5))  -> " +
                    Describe(queue.Receive(mq::LowestUpTo(5))) +
                    "     (lowest type <= 5 first)");
  std::optional<mq::Message> missing = queue.TryReceive(mq::Exactly(9));
  Say("parent", std::string("TryReceive(Exactly(9))  -> ") +
                    (missing ? Describe(*missing)
                             : "nothing: ENOMSG means empty, not an error"));
}

void Oversized(mq::SysvQueue& queue) {
  std::printf("\n== Stage 5: a message larger than the buffer ==\n");
  try {
    queue.Receive(mq::Any(), 4);
  } catch (const std::system_error& e) {
    Say("parent", std::string("Receive(Any(), 4)       -> error: ") + e.what() +
                      "; still queued: " +
                      std::to_string(queue.Status().messages) + " message");
  }
  Say("parent",
      "Receive(Any(), 4, kTruncate) -> " +
          Describe(queue.Receive(mq::Any(), 4, mq::Oversize::kTruncate)) +
          " (MSG_NOERROR: the rest is lost)");
}

void OneQueueServer(mq::SysvQueue& queue, key_t key) {
  constexpr int kClients = 3, kCalls = 2;
  std::printf("\n== Stage 6: one queue, one server, %d clients ==\n", kClients);
  pid_t server = Spawn([key] {
    mq::SysvQueue mine = mq::SysvQueue::Open(key);
    const std::string me = std::to_string(getpid());
    Say("server", "waiting for requests (type 1 only)");
    for (int i = 0; i < kClients * kCalls; ++i) {
      long client = mq::ServeOne(mine, [&](std::string_view request) {
        return "done " + std::string(request) + " (server " + me + ")";
      });
      Say("server", "answered client " + std::to_string(client) +
                        " with a message of type " + std::to_string(client));
    }
    return 0;
  });
  std::vector<pid_t> clients;
  for (int c = 0; c < kClients; ++c) {
    const long id = 100 + c;
    clients.push_back(Spawn([key, id] {
      mq::SysvQueue mine = mq::SysvQueue::Open(key);
      for (int k = 0; k < kCalls; ++k) {
        const std::string request =
            "job " + std::to_string(k) + " of client " + std::to_string(id);
        Say("client", "Call(" + std::to_string(id) + ", " + Quoted(request) +
                          ") -> " + Quoted(mq::Call(mine, id, request)));
      }
      return 0;
    }));
  }
  for (pid_t client : clients) Reap(client);
  Reap(server);
}

void SeveralReceivers(mq::SysvQueue& queue) {
  constexpr int kJobs = 20;
  std::printf(
      "\n== Several receivers on one queue: who gets what is up to the "
      "scheduler ==\n");
  std::vector<pid_t> workers;
  for (int w = 0; w < 2; ++w) {
    workers.push_back(Spawn([&queue] {
      int taken = 0;
      // Type 1 is work, type 2 is "stop": LowestUpTo(2) drains all work
      // before any worker sees a stop message.
      while (queue.Receive(mq::LowestUpTo(2)).type == 1) {
        ++taken;
        usleep(500);  // "work" on the job, so the other worker gets a turn
      }
      return taken;
    }));
  }
  for (int j = 0; j < kJobs; ++j) queue.Send(1, "job " + std::to_string(j));
  for (std::size_t w = 0; w < workers.size(); ++w) queue.Send(2, "stop");
  int total = 0;
  std::string split;
  for (pid_t worker : workers) {
    const int taken = Reap(worker);
    total += taken;
    split += (split.empty() ? "" : " + ") + std::to_string(taken);
  }
  Say("parent", std::to_string(kJobs) + " jobs split " + split + " = " +
                    std::to_string(total) +
                    ": each job exactly once; the split changes from run to "
                    "run");
}

void PosixPriorities() {
  std::printf("\n== Stages 7-8: a POSIX queue, priorities ==\n");
  const std::string name = "/kata-demo-" + std::to_string(getpid());
  mq::PosixQueue queue = mq::PosixQueue::Create(name);
  const mq::PosixAttributes attributes = queue.Attributes();
  Say("parent", "created " + name + ": mq_maxmsg " +
                    std::to_string(attributes.max_messages) + ", mq_msgsize " +
                    std::to_string(attributes.message_size) +
                    " (the defaults)");
  pid_t sender = Spawn([&name] {
    mq::PosixQueue mine = mq::PosixQueue::Open(name);
    mine.Send("routine", 1);
    mine.Send("urgent", 9);
    mine.Send("routine again", 1);
    Say("sender", "opened " + name +
                      " and sent priorities 1, 9, 1; closing (not unlinking)");
    return 0;
  });
  Reap(sender);
  for (int i = 0; i < 3; ++i) {
    mq::PosixMessage message = queue.Receive();
    Say("parent", "Receive() -> priority " + std::to_string(message.priority) +
                      " " + Quoted(message.text));
  }
  Say("parent", std::string("ReceiveFor(50ms) on the empty queue -> ") +
                    (queue.ReceiveFor(std::chrono::milliseconds(50))
                         ? "a message?"
                         : "nothing (timed out)"));
  queue.Unlink();
  Say("parent", "mq_unlink(" + name +
                    "): the name is gone; the queue goes when we close it");
}

}  // namespace

int main(int argc, char** argv) {
  const bool pause = argc > 1 && std::string_view(argv[1]) == "--pause";
  // An agreed key lets unrelated processes find the queue. Deriving it from
  // our pid keeps two demos running at once from sharing one queue.
  const key_t key = static_cast<key_t>(0x4b000000 | (getpid() & 0xffffff));
  try {
    mq::SysvQueue queue = mq::SysvQueue::Create(key);
    const int id = queue.id();
    TypedMessages(queue, key, pause);
    Oversized(queue);
    OneQueueServer(queue, key);
    SeveralReceivers(queue);
    PosixPriorities();

    std::printf("\n== Removing the System V queue ==\n");
    queue.Remove();
    Say("parent", "msgctl(IPC_RMID) on id " + std::to_string(id) +
                      ": gone at once, whatever it still held");
    ShowIpcs(key);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "demo failed: %s\n", e.what());
    return 1;
  }
  return 0;
}
