// bazel run //solutions/mailbox:demo
//
// Shows the reference solution at work. Every line says which process (pid)
// does what, and when (milliseconds since the demo started), so that who
// waits for whom is visible: a mailbox shared by several receivers, an inbox
// per process, a bounded buffer that holds a sender up, a rendezvous, and
// what deleting a mailbox does to the processes that still hold it.

#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <functional>
#include <map>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#include "mailbox/inbox.h"
#include "mailbox/mailbox.h"

namespace {

using namespace std::chrono_literals;
using kata::mailbox::Inbox;
using kata::mailbox::Mailbox;
using kata::mailbox::SendResult;
using kata::mailbox::Wait;

const auto kStart = std::chrono::steady_clock::now();

void Say(const std::string& who, const std::string& what) {
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                      std::chrono::steady_clock::now() - kStart)
                      .count();
  std::printf("%6lld ms  [%-9s pid %6d] %s\n", static_cast<long long>(ms),
              who.c_str(), getpid(), what.c_str());
  std::fflush(stdout);
}

// Names unique to this run, so two demos at once do not meet.
std::string Name(const std::string& what) {
  return "/demo-" + std::to_string(getpid()) + "-" + what;
}

// Runs `body` in a child process that ends with _exit (never returning here).
pid_t Spawn(const std::function<void()>& body) {
  std::fflush(stdout);
  pid_t pid = fork();
  if (pid < 0) throw std::system_error(errno, std::generic_category(), "fork");
  if (pid == 0) {
    int code = 0;
    try {
      body();
    } catch (const std::exception& e) {
      Say("child", std::string("failed: ") + e.what());
      code = 1;
    }
    _exit(code);
  }
  return pid;
}

void Reap(pid_t pid) {
  while (waitpid(pid, nullptr, 0) < 0 && errno == EINTR) {
  }
}

std::string Shown(SendResult result) {
  return result == SendResult::kSent ? "kSent" : "kTimedOut";
}

// Two senders and two receivers on one mailbox: every message is taken
// exactly once, but how they split is up to the kernel. Run the demo again
// and the split changes.
void ManyToMany() {
  std::printf("\n== Indirect: 2 senders, 2 receivers, one mailbox ==\n");
  Mailbox box = Mailbox::Create(Name("jobs"), {4, 64});
  Say("owner", "created " + box.name() + " (capacity 4)");
  std::vector<pid_t> receivers;
  for (const char* who : {"worker A", "worker B"}) {
    receivers.push_back(Spawn([&box, who] {
      Mailbox mine = Mailbox::Open(box.name());
      std::string got;
      for (;;) {
        std::optional<std::string> job = mine.Receive(Wait::For(2s));
        if (!job || *job == "stop") break;
        got += " " + *job;
      }
      Say(who, "took:" + got);
    }));
  }
  std::vector<pid_t> senders;
  for (const char* who : {"a", "b"}) {
    senders.push_back(Spawn([&box, who] {
      Mailbox mine = Mailbox::Open(box.name());
      for (int n = 1; n <= 6; ++n) mine.Send(who + std::to_string(n));
    }));
  }
  for (pid_t pid : senders) Reap(pid);
  box.Send("stop");
  box.Send("stop");
  for (pid_t pid : receivers) Reap(pid);
  Say("owner",
      "12 jobs, each taken by exactly one worker; the split is not "
      "fair, nor round-robin");
}

// Each process has its own inbox; carol first asks for bob's letter only,
// and alice's letters wait for her in order.
void Direct() {
  std::printf("\n== Direct: an inbox per process ==\n");
  Inbox carol = Inbox::Create(Name("carol"));
  const std::string alice = Name("alice"), bob = Name("bob");
  pid_t alice_pid = Spawn([&] {
    Inbox me = Inbox::Create(alice);
    me.Send(carol.name(), "are you there?");
    me.Send(carol.name(), "hello?");
    Say("alice", "sent 2 letters to carol");
    me.Receive(carol.name(), Wait::For(3s));  // stay until carol answers
  });
  pid_t bob_pid = Spawn([&] {
    Inbox me = Inbox::Create(bob);
    std::this_thread::sleep_for(100ms);
    me.Send(carol.name(), "the answer is 42");
    Say("bob", "sent 1 letter to carol");
  });
  Say("carol", "Receive(from bob): alice's letters are set aside");
  Say("carol", "bob says: " + carol.Receive(bob, Wait::For(3s)).value_or("?"));
  while (std::optional<kata::mailbox::Letter> letter =
             carol.ReceiveAny(Wait::No())) {
    Say("carol", "ReceiveAny: " + letter->from + " says " + letter->text);
  }
  carol.Send(alice, "sorry, I was busy");
  Reap(alice_pid);
  Reap(bob_pid);
}

// A sender runs ahead of its receiver by the capacity, then waits.
void Bounded() {
  std::printf("\n== Bounded buffer: capacity 2 ==\n");
  Mailbox box = Mailbox::Create(Name("bounded"), {2, 64});
  pid_t sender = Spawn([&] {
    Mailbox mine = Mailbox::Open(box.name());
    for (int n = 1; n <= 4; ++n) {
      mine.Send("m" + std::to_string(n));
      Say("sender", "Send(m" + std::to_string(n) + ") returned");
    }
  });
  std::this_thread::sleep_for(300ms);
  Say("receiver", "(the sender is held up: the mailbox holds 2)");
  for (int n = 1; n <= 4; ++n) {
    Say("receiver", "took " + box.Receive().value_or("?"));
    std::this_thread::sleep_for(100ms);
  }
  Reap(sender);
  box.Send("x");
  box.Send("y");
  Say("owner",
      "full again; Send(z, Wait::No()) -> " + Shown(box.Send("z", Wait::No())));
  box.Receive();
  box.Receive();
  Say("owner", "empty; Receive(Wait::For(200ms)) -> " +
                   box.Receive(Wait::For(200ms)).value_or("(nothing)"));
}

// Capacity 0: the sender waits until a receiver is there to take it.
void Rendezvous() {
  std::printf("\n== Rendezvous: capacity 0 ==\n");
  Mailbox box = Mailbox::Create(Name("meet"), {0, 64});
  Say("owner", "Send(x, Wait::No()) with nobody waiting -> " +
                   Shown(box.Send("x", Wait::No())));
  pid_t sender = Spawn([&] {
    Mailbox mine = Mailbox::Open(box.name());
    Say("sender", "Send(meet me) ...");
    mine.Send("meet me");
    Say("sender", "... returned: a receiver took it");
  });
  std::this_thread::sleep_for(400ms);
  Say("receiver", "arrives 400 ms later; Receive() ...");
  Say("receiver", "... got " + box.Receive().value_or("?"));
  Reap(sender);
}

// The owner deletes the mailbox: new opens fail, holders carry on.
void Ownership() {
  std::printf("\n== Ownership: the owner deletes the mailbox ==\n");
  Mailbox owner = Mailbox::Create(Name("doomed"));
  Mailbox holder = Mailbox::Open(owner.name());
  owner.Delete();
  Say("owner", "Delete(): the name is gone");
  try {
    Mailbox::Open(owner.name());
  } catch (const std::system_error& e) {
    Say("latecomer", std::string("Open failed: ") + e.what());
  }
  holder.Send("still here");
  Say("holder", "a handle opened before still sends; the owner receives: " +
                    owner.Receive(Wait::No()).value_or("(nothing)"));
}

}  // namespace

int main() {
  ManyToMany();
  Direct();
  Bounded();
  Rendezvous();
  Ownership();
  return 0;
}
