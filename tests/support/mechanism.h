// File: tests/support/mechanism.h
// -----------------------------------------------------------------------------
//
// Proof of mechanism from the kernel's side: what kind of object each
// descriptor of a process is (a pipe, a socket, a regular file, a POSIX queue,
// ...), and a watch that records which kinds the test's processes opened
// while a call ran. A kata about pipes fails a solution that moves its data
// through a socketpair or a temporary file even when the bytes arrive.
//
//   kata::MechanismWatch watch;
//   kata::pipe::RoundTrip("ping", service);
//   kata::ExpectOnlyMechanism(watch, {"pipe"}, "pipes");

#ifndef IPC_KATAS_TESTS_SUPPORT_MECHANISM_H_
#define IPC_KATAS_TESTS_SUPPORT_MECHANISM_H_

#include <sys/types.h>

#include <atomic>
#include <initializer_list>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <string_view>
#include <thread>

namespace kata {

// DescriptorKind()
//
// What descriptor `fd` of process `pid` refers to, as one word:
//   "pipe"         an anonymous pipe (pipe(2))
//   "fifo"         a named pipe (mkfifo)
//   "unix-socket"  an AF_UNIX socket (socketpair(2) makes these too)
//   "tcp-socket", "udp-socket", "socket" (another family)
//   "shm"          a file in /dev/shm (shm_open, sem_open)
//   "mqueue"       a POSIX message queue
//   "file"         a regular file elsewhere (a temporary file, say)
//   "eventfd", "signalfd", "epoll", "timerfd", "anon" (other anon inodes)
//   "device"       a character or block device (/dev/null, a terminal)
//   "?"            gone, or unreadable
std::string DescriptorKind(pid_t pid, int fd);

// MechanismWatch
//
// From construction until Stop() (or destruction), samples every millisecond
// the descriptors of the test runner and all its descendants and records the
// kind of each one opened after the watch started. Sampling can miss a
// descriptor that lives less than a millisecond: pair it with a CallCounter
// where a call must be proven.
class MechanismWatch {
 public:
  MechanismWatch();
  ~MechanismWatch();
  MechanismWatch(const MechanismWatch&) = delete;
  MechanismWatch& operator=(const MechanismWatch&) = delete;

  void Stop();
  // Kinds seen, with the processes that held them: {"pipe": {12, 23}}.
  std::map<std::string, std::set<pid_t>> Kinds() const;
  // "pipe (pids 12, 23); file (pid 23: /tmp/x)".
  std::string Describe() const;

 private:
  void Run();
  void SampleOnce();

  std::set<std::string> at_start_;  // "pid fd target" present at start
  mutable std::mutex mutex_;
  struct Seen {
    std::string kind;
    std::set<pid_t> pids;
  };
  // By target ("pipe:[123]"): whether a target is the support library's own
  // is decided when asked, since it may be registered after it was seen.
  std::map<std::string, Seen> seen_;
  std::atomic<bool> stop_{false};
  std::thread sampler_;
};

// ExpectOnlyMechanism()
//
// Stops `watch` and fails with "this kata asks for <mechanism>" if it saw
// descriptors of any kind outside `allowed` ("device" is always allowed:
// /dev/null is how a child silences itself). Seeing none of the allowed kinds
// is not a failure (a System V queue has no descriptor): prove that the
// mechanism was used with a CallCounter.
void ExpectOnlyMechanism(MechanismWatch& watch,
                         std::initializer_list<std::string_view> allowed,
                         std::string_view mechanism);

}  // namespace kata

#endif  // IPC_KATAS_TESTS_SUPPORT_MECHANISM_H_
