// Kernel facts about pipes, FIFOs and fork that docs/pipe.md relies on.
//
// Nothing here tests learner code: every test asks the running Linux kernel
// directly, with raw system calls, so that each sentence of the interview notes
// has a proof anyone can rerun, one test at a time if need be:
//
//   bazel test //tests/pipe:pipe_facts_test --test_filter='*Capacity*'
//
// The numbers checked (64 KiB capacity, PIPE_BUF of 4096) are Linux's; POSIX
// only promises less, and docs/pipe.md says which is which.

#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
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

// ----------------------------------------------------------------- helpers

// One descriptor, closed when the object goes away.
class ScopedFd {
 public:
  explicit ScopedFd(int fd = -1) : fd_(fd) {}
  ScopedFd(const ScopedFd&) = delete;
  ScopedFd& operator=(const ScopedFd&) = delete;
  ~ScopedFd() { Reset(); }

  int get() const { return fd_; }
  void Reset() {
    if (fd_ >= 0) close(std::exchange(fd_, -1));
  }

 private:
  int fd_;
};

// A pipe made by the test itself. Close-on-exec unless `flags` says otherwise,
// so a program a test starts with exec never inherits it by accident.
struct TestPipe {
  int read_fd = -1, write_fd = -1;

  explicit TestPipe(int flags = O_CLOEXEC) {
    int fds[2];
    if (pipe2(fds, flags) != 0) {
      throw std::system_error(errno, std::generic_category(), "pipe2");
    }
    read_fd = fds[0];
    write_fd = fds[1];
  }
  TestPipe(const TestPipe&) = delete;
  TestPipe& operator=(const TestPipe&) = delete;
  ~TestPipe() {
    CloseRead();
    CloseWrite();
  }

  void CloseRead() {
    if (read_fd >= 0) close(std::exchange(read_fd, -1));
  }
  void CloseWrite() {
    if (write_fd >= 0) close(std::exchange(write_fd, -1));
  }
};

// Writes all of `data`, looping over short writes and EINTR; false on error.
bool WriteAllBytes(int fd, std::string_view data) {
  while (!data.empty()) {
    ssize_t n = write(fd, data.data(), data.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    data.remove_prefix(static_cast<std::size_t>(n));
  }
  return true;
}

// Reads until end of file (or an error) and returns what arrived.
std::string ReadUntilEof(int fd) {
  std::string data;
  char buffer[16384];
  for (;;) {
    ssize_t n = read(fd, buffer, sizeof(buffer));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return data;
    data.append(buffer, static_cast<std::size_t>(n));
  }
}

// How many unread bytes the pipe or FIFO behind `fd` holds (FIONREAD).
int BytesIn(int fd) {
  int count = -1;
  if (ioctl(fd, FIONREAD, &count) != 0) return -1;
  return count;
}

// Reads exactly the bytes waiting in the pipe now, without blocking for more.
std::string ReadWhatIsThere(int fd) {
  const int waiting = BytesIn(fd);
  if (waiting <= 0) return "";
  std::string data(static_cast<std::size_t>(waiting), '\0');
  std::size_t got = 0;
  while (got < data.size()) {
    ssize_t n = read(fd, data.data() + got, data.size() - got);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    got += static_cast<std::size_t>(n);
  }
  data.resize(got);
  return data;
}

// Checks `condition` every millisecond until it holds or `limit` has passed.
// For states that, once reached, stay (a zombie, a closed descriptor), so
// polling decides nothing by timing: it only bounds how long we look.
template <typename Condition>
bool WaitFor(Condition condition, std::chrono::milliseconds limit = 2s) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  for (;;) {
    if (condition()) return true;
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(1ms);
  }
}

// The target of a /proc symlink, e.g. "pipe:[123456]" for a pipe end.
std::string Link(const std::string& path) {
  char target[256];
  ssize_t n = readlink(path.c_str(), target, sizeof(target) - 1);
  return n < 0 ? "" : std::string(target, static_cast<std::size_t>(n));
}

std::string LinkOf(pid_t pid, int fd) {
  return Link("/proc/" + std::to_string(pid) + "/fd/" + std::to_string(fd));
}

// The access mode (O_RDONLY or O_WRONLY) of a descriptor, from the "flags:"
// line of /proc/<pid>/fdinfo/<fd>.
int AccessMode(const std::string& fdinfo_path) {
  std::ifstream in(fdinfo_path);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("flags:", 0) == 0) {
      return static_cast<int>(std::strtol(line.c_str() + 6, nullptr, 8) &
                              O_ACCMODE);
    }
  }
  return -1;
}

// Which ends of the pipe `pipe_name` ("pipe:[N]") process `pid` holds, as the
// sorted list "read", "write", "read write" or "" (none).
std::string PipeEndsOf(pid_t pid, const std::string& pipe_name) {
  const std::string base = "/proc/" + std::to_string(pid);
  DIR* dir = opendir((base + "/fd").c_str());
  if (dir == nullptr) return "(no process " + std::to_string(pid) + ")";
  std::vector<std::string> ends;
  while (dirent* entry = readdir(dir)) {
    if (entry->d_name[0] == '.') continue;
    if (Link(base + "/fd/" + entry->d_name) != pipe_name) continue;
    const int mode = AccessMode(base + "/fdinfo/" + entry->d_name);
    ends.push_back(mode == O_WRONLY ? "write" : "read");
  }
  closedir(dir);
  std::sort(ends.begin(), ends.end());
  std::string text;
  for (const std::string& end : ends) text += (text.empty() ? "" : " ") + end;
  return text;
}

// A FIFO created for one test and unlinked when the test ends. It lives in
// Bazel's private TEST_TMPDIR, or in /tmp under a name unique to this run.
class ScopedFifo {
 public:
  explicit ScopedFifo(std::string_view what) {
    const char* dir = std::getenv("TEST_TMPDIR");
    path_ = dir != nullptr ? std::string(dir) + kata::UniqueName(what)
                           : kata::UniqueSocketPath(what);
    if (mkfifo(path_.c_str(), 0600) != 0) error_ = errno;
  }
  ScopedFifo(const ScopedFifo&) = delete;
  ScopedFifo& operator=(const ScopedFifo&) = delete;
  ~ScopedFifo() { unlink(path_.c_str()); }  // ENOENT if the test unlinked it

  const std::string& path() const { return path_; }
  const char* c_str() const { return path_.c_str(); }
  bool created() const { return error_ == 0; }
  std::string Error() const {
    return "mkfifo(" + path_ + "): " + std::strerror(error_);
  }

 private:
  std::string path_;
  int error_ = 0;
};

// =========================================================== PipeFacts

// Tests that a new pipe holds 64 KiB on Linux: F_GETPIPE_SZ reports it, and a
// non-blocking writer gets exactly that many bytes in before EAGAIN.
TEST(PipeFacts, CapacityIs64KiB) {
  TestPipe pipe;
  const int reported = fcntl(pipe.write_fd, F_GETPIPE_SZ);
  EXPECT_EQ(reported, 65536)
      << "since Linux 2.6.11 a new pipe has 16 pages of 4096 bytes";
  ASSERT_EQ(fcntl(pipe.write_fd, F_SETFL, O_NONBLOCK), 0);
  long accepted = 0;
  int error = 0;
  for (;;) {
    if (write(pipe.write_fd, "x", 1) == 1) {
      ++accepted;
      continue;
    }
    error = errno;
    break;
  }
  EXPECT_EQ(error, EAGAIN)
      << "a full pipe makes a non-blocking write fail with EAGAIN; got "
      << std::strerror(error);
  EXPECT_EQ(accepted, reported)
      << "the pipe should take exactly the capacity F_GETPIPE_SZ reports";
  EXPECT_EQ(BytesIn(pipe.read_fd), reported)
      << "every accepted byte should be waiting in the pipe";
}

// Tests that PIPE_BUF, the limit of atomic writes, is 4096 on Linux, and that
// the value a program can ask for at run time agrees.
TEST(PipeFacts, PipeBufIs4096) {
  EXPECT_EQ(PIPE_BUF, 4096) << "<limits.h> on Linux defines PIPE_BUF as 4096";
  EXPECT_GE(PIPE_BUF, _POSIX_PIPE_BUF)
      << "POSIX requires PIPE_BUF to be at least 512";
  TestPipe pipe;
  EXPECT_EQ(fpathconf(pipe.write_fd, _PC_PIPE_BUF), PIPE_BUF)
      << "fpathconf(_PC_PIPE_BUF) should report the same limit as the header";
  EXPECT_EQ(fpathconf(pipe.read_fd, _PC_PIPE_BUF), PIPE_BUF)
      << "both ends belong to the same pipe, so both report the same limit";
}

// Tests that a write of at most PIPE_BUF bytes is never split: with only 100
// bytes of room, a non-blocking 200-byte write is refused whole.
TEST(PipeFacts, SmallWriteIsAllOrNothing) {
  TestPipe pipe;
  ASSERT_EQ(fcntl(pipe.write_fd, F_SETFL, O_NONBLOCK), 0);
  const int capacity = fcntl(pipe.write_fd, F_GETPIPE_SZ);
  ASSERT_TRUE(WriteAllBytes(pipe.write_fd, std::string(capacity - 100, '#')));
  const std::string record(200, 'r');
  const ssize_t written = write(pipe.write_fd, record.data(), record.size());
  const int error = errno;
  EXPECT_EQ(written, -1)
      << "a write of up to PIPE_BUF bytes goes in whole or not at all";
  EXPECT_EQ(error, EAGAIN) << "with O_NONBLOCK, 'not at all' is EAGAIN; got "
                           << std::strerror(error);
  EXPECT_EQ(BytesIn(pipe.read_fd), capacity - 100)
      << "no part of the record may have entered the pipe";
}

// Tests that a write larger than PIPE_BUF may be split: with one page free, a
// non-blocking write of two pages puts part of the data in and says how much.
TEST(PipeFacts, LargeWriteCanBePartial) {
  TestPipe pipe;
  ASSERT_EQ(fcntl(pipe.write_fd, F_SETFL, O_NONBLOCK), 0);
  const int capacity = fcntl(pipe.write_fd, F_GETPIPE_SZ);
  ASSERT_TRUE(WriteAllBytes(pipe.write_fd, std::string(capacity, '#')));
  char page[PIPE_BUF];
  ASSERT_EQ(read(pipe.read_fd, page, sizeof(page)), PIPE_BUF);
  const std::string large(2 * PIPE_BUF, 'L');
  const ssize_t written = write(pipe.write_fd, large.data(), large.size());
  EXPECT_GT(written, 0)
      << "there is room for part of the data, so the write should take it";
  EXPECT_LT(written, static_cast<ssize_t>(large.size()))
      << "a write over PIPE_BUF may be partial: the return value is the only "
         "record of how much went in, so callers must loop";
}

// Tests that a pipe is a byte stream: two writes made before a read come out
// of one read() as six bytes, with no boundary between "abc" and "def".
TEST(PipeFacts, BytesHaveNoBoundaries) {
  TestPipe pipe;
  ASSERT_EQ(write(pipe.write_fd, "abc", 3), 3);
  ASSERT_EQ(write(pipe.write_fd, "def", 3), 3);
  char buffer[64];
  const ssize_t n = read(pipe.read_fd, buffer, sizeof(buffer));
  ASSERT_EQ(n, 6) << "one read() returns every byte that is waiting, whatever "
                     "the writes that put them there";
  EXPECT_EQ(std::string(buffer, 6), "abcdef");
}

// Tests that data goes one way only: the read end refuses write() and the
// write end refuses read(), both with EBADF.
TEST(PipeFacts, DataFlowsOneWayOnly) {
  TestPipe pipe;
  EXPECT_EQ(fcntl(pipe.read_fd, F_GETFL) & O_ACCMODE, O_RDONLY)
      << "pipe() opens fds[0] for reading only";
  EXPECT_EQ(fcntl(pipe.write_fd, F_GETFL) & O_ACCMODE, O_WRONLY)
      << "pipe() opens fds[1] for writing only";
  const ssize_t wrote = write(pipe.read_fd, "x", 1);
  const int write_error = errno;
  EXPECT_EQ(wrote, -1) << "writing into the read end must fail";
  EXPECT_EQ(write_error, EBADF) << "the read end is not open for writing";
  char byte;
  const ssize_t got = read(pipe.write_fd, &byte, 1);
  const int read_error = errno;
  EXPECT_EQ(got, -1) << "reading from the write end must fail";
  EXPECT_EQ(read_error, EBADF) << "the write end is not open for reading";
}

// Tests that end of file needs every write end closed, the reader's own
// included: after the writer child is gone, the reader still sees nothing
// until it closes the write end it kept.
TEST(PipeFacts, ReaderHoldingAWriteEndNeverSeesEof) {
  kata::OnDeadlock("the writer child never delivered its message");
  TestPipe pipe;
  const std::string message = "last words";
  kata::Child writer([&] {
    pipe.CloseRead();
    EXPECT_TRUE(WriteAllBytes(pipe.write_fd, message));
  });
  std::string received(message.size(), '\0');
  std::size_t got = 0;
  while (got < received.size()) {
    ssize_t n =
        read(pipe.read_fd, received.data() + got, received.size() - got);
    ASSERT_GT(n, 0) << "the message should arrive before any end of file";
    got += static_cast<std::size_t>(n);
  }
  EXPECT_EQ(received, message);
  writer.Join();  // the child and its write end are gone

  pollfd entry{pipe.read_fd, POLLIN, 0};
  EXPECT_EQ(poll(&entry, 1, 200), 0)
      << "no data and no end of file should be reported: the reader's own "
         "write end still keeps the pipe open (revents "
      << entry.revents << ")";
  pipe.CloseWrite();
  entry.revents = 0;
  EXPECT_EQ(poll(&entry, 1, 200), 1)
      << "with the last write end closed, poll() reports the hang-up at once";
  char byte;
  EXPECT_EQ(read(pipe.read_fd, &byte, 1), 0)
      << "with every write end closed, read() returns 0: end of file";
}

// Tests that writing into a pipe nobody can read from kills the writer with
// SIGPIPE when the signal has its default action.
TEST(PipeFacts, WriteWithNoReaderRaisesSigpipe) {
  kata::ExpectKilledBy(
      SIGPIPE,
      [] {
        signal(SIGPIPE, SIG_DFL);
        sigset_t pipe_signal;
        sigemptyset(&pipe_signal);
        sigaddset(&pipe_signal, SIGPIPE);
        sigprocmask(SIG_UNBLOCK, &pipe_signal, nullptr);
        TestPipe pipe;
        pipe.CloseRead();  // before the write: no reader can ever exist now
        const ssize_t ignored = write(pipe.write_fd, "x", 1);
        (void)ignored;  // not reached: SIGPIPE ends the process in write()
      },
      kata::Hint("with no read end left, write() raises SIGPIPE, whose "
                 "default action terminates the process"));
}

// Tests that with SIGPIPE ignored, the same write fails with EPIPE instead,
// and the writer lives on to handle the error.
TEST(PipeFacts, WriteWithSigpipeIgnoredFailsWithEpipe) {
  kata::RunInChild([] {
    signal(SIGPIPE, SIG_IGN);
    TestPipe pipe;
    pipe.CloseRead();
    const ssize_t written = write(pipe.write_fd, "x", 1);
    const int error = errno;
    EXPECT_EQ(written, -1) << "a write with no reader left must fail";
    EXPECT_EQ(error, EPIPE)
        << "an ignored SIGPIPE turns into EPIPE; got " << std::strerror(error);
  });
}

// Tests that SIGPIPE comes also when a blocking write has already moved some
// bytes: the writer fills the pipe and sleeps with bytes left over, the reader
// leaves without reading, and write() returns the short count (not -1/EPIPE)
// while SIGPIPE is raised all the same. With the signal blocked it waits as
// pending, so code that takes a pending SIGPIPE only after EPIPE leaves this
// one behind, to strike when the mask is restored.
TEST(PipeFacts, PartialWriteStillRaisesSigpipe) {
  kata::RunInChild([] {
    sigset_t pipe_signal;
    sigemptyset(&pipe_signal);
    sigaddset(&pipe_signal, SIGPIPE);
    ASSERT_EQ(sigprocmask(SIG_BLOCK, &pipe_signal, nullptr), 0);
    TestPipe pipe;
    const int capacity = fcntl(pipe.write_fd, F_GETPIPE_SZ);
    ASSERT_GT(capacity, 0);
    kata::Child reader([&] {
      pipe.CloseWrite();
      // A full pipe means the writer is inside its one write() with bytes
      // still to go: it can leave only once there is room or no reader.
      EXPECT_TRUE(WaitFor([&] { return BytesIn(pipe.read_fd) == capacity; }))
          << "the writer should fill the pipe's " << capacity << " bytes";
      // Returning closes the last read end, without reading a byte.
    });
    pipe.CloseRead();
    const std::string data(2 * static_cast<std::size_t>(capacity), 'p');
    const ssize_t written = write(pipe.write_fd, data.data(), data.size());
    const int error = errno;
    reader.Join();
    EXPECT_GT(written, 0) << "bytes already in the pipe count as written: "
                             "write() returns their number, not -1 ("
                          << (written < 0 ? std::strerror(error) : "no error")
                          << ")";
    EXPECT_LT(written, static_cast<ssize_t>(data.size()))
        << "the reader left before taking anything: the write is short";
    sigset_t pending;
    sigemptyset(&pending);
    ASSERT_EQ(sigpending(&pending), 0);
    EXPECT_EQ(sigismember(&pending, SIGPIPE), 1)
        << "a short write of " << written << " of " << data.size()
        << " bytes to a pipe whose reader left still raises SIGPIPE; blocked, "
           "it stays pending";
    const timespec no_wait{0, 0};
    EXPECT_EQ(sigtimedwait(&pipe_signal, nullptr, &no_wait), SIGPIPE)
        << "a zero-timeout sigtimedwait takes the pending SIGPIPE";
  });
}

// Tests that a writer which still holds a read end is never told the reader
// has gone: the pipe merely fills up (EAGAIN here; a blocking write would
// wait forever), and EPIPE comes only once the writer closes that read end.
TEST(PipeFacts, WriterHoldingAReadEndNeverSeesEpipe) {
  kata::RunInChild([] {
    signal(SIGPIPE, SIG_IGN);
    TestPipe pipe;
    kata::Child reader([&] { pipe.CloseWrite(); });  // quits without reading
    reader.Join();
    ASSERT_EQ(fcntl(pipe.write_fd, F_SETFL, O_NONBLOCK), 0);
    const std::string chunk(PIPE_BUF, 'w');
    while (write(pipe.write_fd, chunk.data(), chunk.size()) > 0) {
    }
    int error = errno;
    EXPECT_EQ(error, EAGAIN)
        << "the writer's own read end counts as a reader, so the pipe is only "
           "full, not broken; got "
        << std::strerror(error);
    pipe.CloseRead();
    const ssize_t written = write(pipe.write_fd, chunk.data(), chunk.size());
    error = errno;
    EXPECT_EQ(written, -1);
    EXPECT_EQ(error, EPIPE)
        << "once the last read end is closed the write fails with EPIPE; got "
        << std::strerror(error);
  });
}

// Tests that a full pipe blocks its writer: a child writing one byte more than
// the capacity sleeps in write() (and so cannot exit) until the parent reads.
TEST(PipeFacts, FullPipeBlocksTheWriter) {
  kata::OnDeadlock(
      "the writer stayed blocked although the parent drained the pipe");
  TestPipe pipe;
  const int capacity = fcntl(pipe.write_fd, F_GETPIPE_SZ);
  const std::string data(static_cast<std::size_t>(capacity) + 1, 'f');
  kata::Child writer([&] {
    pipe.CloseRead();
    EXPECT_TRUE(WriteAllBytes(pipe.write_fd, data));
  });
  pipe.CloseWrite();

  ASSERT_TRUE(WaitFor([&] { return BytesIn(pipe.read_fd) == capacity; }))
      << "the writer should fill the pipe to its capacity of " << capacity
      << " bytes; it holds " << BytesIn(pipe.read_fd);
  ASSERT_TRUE(kata::WaitUntilBlocked(writer.pid()))
      << "the writer should be asleep in write(), one byte short";
  // Give it time: a writer that could go on would be done by now.
  std::this_thread::sleep_for(100ms);
  EXPECT_EQ(kata::ProcessState(writer.pid()), 'S')
      << "the writer should still be blocked: the last byte does not fit";
  EXPECT_EQ(BytesIn(pipe.read_fd), capacity)
      << "nothing more can enter a full pipe until someone reads";
  int status = 0;
  EXPECT_EQ(waitpid(writer.pid(), &status, WNOHANG), 0)
      << "the writer cannot have ended: a parent that called a blocking "
         "waitpid() here, before reading, would wait forever";

  EXPECT_EQ(ReadUntilEof(pipe.read_fd).size(), data.size())
      << "as soon as the parent reads, the writer finishes and closes its end";
  writer.Join();
}

// Tests the deadlock of a popen-like runner that writes all the input before
// reading any output: once cat's output pipe is full, cat stops reading, its
// input pipe fills, and the runner's next write could never complete.
TEST(PipeFacts, WritingAllInputBeforeReadingOutputStalls) {
  kata::OnDeadlock("cat did not finish after its output was drained");
  TestPipe input, output;
  kata::Child cat([&] {
    ASSERT_EQ(dup2(input.read_fd, STDIN_FILENO), STDIN_FILENO);
    ASSERT_EQ(dup2(output.write_fd, STDOUT_FILENO), STDOUT_FILENO);
    kata::ChildEndsItself();
    execl("/bin/cat", "cat", static_cast<char*>(nullptr));
    ADD_FAILURE() << "execl(/bin/cat): " << std::strerror(errno);
  });
  input.CloseRead();
  output.CloseWrite();
  ASSERT_EQ(fcntl(input.write_fd, F_SETFL, O_NONBLOCK), 0);
  const int output_capacity = fcntl(output.read_fd, F_GETPIPE_SZ);

  // Feed cat without ever reading, as the naive runner does. O_NONBLOCK turns
  // "would wait forever" into EAGAIN, which the test can observe.
  const std::string chunk(PIPE_BUF, 'c');
  std::size_t fed = 0;
  int last_error = 0;
  auto feed = [&] {
    const ssize_t n = write(input.write_fd, chunk.data(), chunk.size());
    if (n > 0) fed += static_cast<std::size_t>(n);
    last_error = n < 0 ? errno : 0;
    return n;
  };
  // Stuck for good when cat's output pipe is full, cat sleeps, and the input
  // pipe still refuses data afterwards: a cat asleep in read() would have an
  // empty input pipe, so it must be asleep in write() and will stay there.
  const bool stuck = WaitFor([&] {
    while (feed() > 0) {
    }
    return BytesIn(output.read_fd) == output_capacity &&
           kata::WaitUntilBlocked(cat.pid(), 50ms) && feed() < 0;
  });
  ASSERT_TRUE(stuck)
      << "cat's output pipe should fill and cat should block; fed " << fed
      << " bytes, output holds " << BytesIn(output.read_fd);
  EXPECT_EQ(last_error, EAGAIN)
      << "the input pipe should be full; a blocking write() would never return";
  EXPECT_GT(fed, static_cast<std::size_t>(output_capacity))
      << "more than a pipe-full went in before the runner stuck: the input "
         "pipe, cat's buffer and the output pipe each hold part of it";

  // The way out is to read the output; a real runner does it all along.
  input.CloseWrite();
  EXPECT_EQ(ReadUntilEof(output.read_fd).size(), fed)
      << "draining the output lets cat copy everything and reach end of file";
  cat.Join();
}

// Tests that fork() copies the whole descriptor table: the child holds both
// ends of the pipe, the write end it will never use included. The pipe is
// close-on-exec, which changes nothing here: that flag acts at exec, not fork.
TEST(PipeFacts, ChildInheritsBothEnds) {
  TestPipe pipe;
  const std::string name = LinkOf(getpid(), pipe.read_fd);
  ASSERT_EQ(name.rfind("pipe:[", 0), 0u)
      << "a pipe end should link to pipe:[<inode>], got \"" << name << "\"";
  EXPECT_EQ(LinkOf(getpid(), pipe.write_fd), name)
      << "both ends belong to one pipe object, so they name the same inode";
  ASSERT_TRUE(fcntl(pipe.write_fd, F_GETFD) & FD_CLOEXEC)
      << "the test pipe is made with pipe2(O_CLOEXEC)";
  kata::Child child([&] {
    char byte;
    // Blocks until the parent has looked and writes a byte.
    const ssize_t ignored = read(pipe.read_fd, &byte, 1);
    (void)ignored;
  });
  EXPECT_EQ(PipeEndsOf(child.pid(), name), "read write")
      << "after fork the child holds both ends, though it only reads "
         "(O_CLOEXEC does not close anything at fork)";
  EXPECT_EQ(PipeEndsOf(getpid(), name), "read write")
      << "and the parent still holds both ends too";
  ASSERT_EQ(write(pipe.write_fd, "x", 1), 1);
  child.Join();
}

// Tests the usual repair: after each side closes the end it does not use, the
// child holds only the read end and the parent only the write end.
TEST(PipeFacts, EachSideKeepsOnlyTheEndItUses) {
  kata::OnDeadlock("the reader child never saw end of file");
  TestPipe pipe;
  const std::string name = LinkOf(getpid(), pipe.read_fd);
  kata::Child reader([&] {
    pipe.CloseWrite();
    ReadUntilEof(pipe.read_fd);
  });
  pipe.CloseRead();
  EXPECT_TRUE(WaitFor([&] { return PipeEndsOf(reader.pid(), name) == "read"; }))
      << "the child should keep only the read end; it holds \""
      << PipeEndsOf(reader.pid(), name) << "\"";
  EXPECT_EQ(PipeEndsOf(getpid(), name), "write")
      << "the parent should keep only the write end";
  pipe.CloseWrite();  // the last write end: the reader now sees end of file
  reader.Join();
}

// Tests the two-way alternative to a pair of pipes: both ends of a
// socketpair() can read and write.
TEST(PipeFacts, SocketpairCarriesBothDirections) {
  int ends[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, ends), 0)
      << std::strerror(errno);
  ScopedFd one(ends[0]), other(ends[1]);
  char buffer[8];
  ASSERT_EQ(write(one.get(), "ping", 4), 4);
  ASSERT_EQ(read(other.get(), buffer, sizeof(buffer)), 4);
  EXPECT_EQ(std::string(buffer, 4), "ping");
  ASSERT_EQ(write(other.get(), "pong", 4), 4)
      << "unlike a pipe's read end, this end can write as well";
  ASSERT_EQ(read(one.get(), buffer, sizeof(buffer)), 4);
  EXPECT_EQ(std::string(buffer, 4), "pong");
}

// =========================================================== FifoFacts

// Tests that mkfifo() creates a name in the filesystem, of type FIFO, which
// unlink() removes like any other file.
TEST(FifoFacts, HasANameInTheFilesystem) {
  ScopedFifo fifo("named");
  ASSERT_TRUE(fifo.created()) << fifo.Error();
  struct stat info{};
  ASSERT_EQ(stat(fifo.c_str(), &info), 0) << std::strerror(errno);
  EXPECT_TRUE(S_ISFIFO(info.st_mode))
      << "stat() should report a FIFO (S_IFIFO), mode " << std::oct
      << info.st_mode;
  EXPECT_EQ(unlink(fifo.c_str()), 0)
      << "a FIFO is removed with unlink(), like a file";
  const int found = stat(fifo.c_str(), &info);
  const int error = errno;
  EXPECT_EQ(found, -1) << "the name should be gone after unlink()";
  EXPECT_EQ(error, ENOENT);
}

// Tests that the bytes in a FIFO live in the kernel, not in the file: with
// data waiting in it, the FIFO's size in the filesystem is still 0.
TEST(FifoFacts, DataNeverReachesTheFilesystem) {
  ScopedFifo fifo("in-kernel");
  ASSERT_TRUE(fifo.created()) << fifo.Error();
  ScopedFd reader(open(fifo.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC));
  ASSERT_GE(reader.get(), 0) << std::strerror(errno);
  ScopedFd writer(open(fifo.c_str(), O_WRONLY | O_NONBLOCK | O_CLOEXEC));
  ASSERT_GE(writer.get(), 0) << std::strerror(errno);
  const std::string message = "kept in a kernel buffer";
  ASSERT_TRUE(WriteAllBytes(writer.get(), message));
  EXPECT_EQ(BytesIn(reader.get()), static_cast<int>(message.size()))
      << "the message should be waiting in the FIFO";
  struct stat info{};
  ASSERT_EQ(stat(fifo.c_str(), &info), 0);
  EXPECT_EQ(info.st_size, 0)
      << "the data sits in the kernel's pipe buffer, never in the file";
  EXPECT_EQ(ReadWhatIsThere(reader.get()), message);
}

// Tests that a non-blocking open for writing fails with ENXIO while nobody
// has the FIFO open for reading, and succeeds once someone has.
TEST(FifoFacts, NonBlockingOpenForWriteWithoutReaderFailsWithEnxio) {
  ScopedFifo fifo("no-reader");
  ASSERT_TRUE(fifo.created()) << fifo.Error();
  ScopedFd early_writer(open(fifo.c_str(), O_WRONLY | O_NONBLOCK | O_CLOEXEC));
  const int error = errno;
  EXPECT_EQ(early_writer.get(), -1)
      << "with no reader, a non-blocking open for writing cannot succeed";
  EXPECT_EQ(error, ENXIO) << "the error for 'no reader yet' is ENXIO; got "
                          << std::strerror(error);
  ScopedFd reader(open(fifo.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC));
  ASSERT_GE(reader.get(), 0)
      << "a non-blocking open for reading succeeds even with no writer";
  ScopedFd writer(open(fifo.c_str(), O_WRONLY | O_NONBLOCK | O_CLOEXEC));
  EXPECT_GE(writer.get(), 0)
      << "with a reader present the same open should succeed: "
      << std::strerror(errno);
}

// Tests that a blocking open() of a FIFO waits for the other end: a reader's
// open() does not return until a writer opens the FIFO.
TEST(FifoFacts, OpenBlocksUntilTheOtherEndOpens) {
  kata::OnDeadlock(
      "the reader's open() never returned after the writer opened");
  ScopedFifo fifo("rendezvous");
  ASSERT_TRUE(fifo.created()) << fifo.Error();
  kata::SharedText progress;
  kata::Child reader([&] {
    const int fd = open(fifo.c_str(), O_RDONLY | O_CLOEXEC);
    progress.Store(fd >= 0 ? "opened" : std::strerror(errno));
    if (fd >= 0) {
      ReadUntilEof(fd);
      close(fd);
    }
  });
  ASSERT_TRUE(kata::WaitUntilBlocked(reader.pid()))
      << "the reader should be asleep in open()";
  // Give it time: an open() that could return would have returned by now.
  std::this_thread::sleep_for(100ms);
  EXPECT_EQ(progress.Load(), "")
      << "open() for reading should still be waiting for a writer";
  // Does not block: the reader is already waiting in its open().
  ScopedFd writer(open(fifo.c_str(), O_WRONLY | O_CLOEXEC));
  ASSERT_GE(writer.get(), 0) << std::strerror(errno);
  writer.Reset();  // end of file for the reader
  reader.Join();
  EXPECT_EQ(progress.Load(), "opened")
      << "the reader's open() should return once a writer has opened";
}

// Tests the same rendezvous the other way round: a writer's blocking open()
// does not return until a reader opens the FIFO.
TEST(FifoFacts, OpenForWriteBlocksUntilAReaderOpens) {
  kata::OnDeadlock(
      "the writer's open() never returned after the reader opened");
  ScopedFifo fifo("writer-waits");
  ASSERT_TRUE(fifo.created()) << fifo.Error();
  kata::SharedText progress;
  kata::Child writer([&] {
    const int fd = open(fifo.c_str(), O_WRONLY | O_CLOEXEC);
    progress.Store(fd >= 0 ? "opened" : std::strerror(errno));
    if (fd >= 0) close(fd);
  });
  ASSERT_TRUE(kata::WaitUntilBlocked(writer.pid()))
      << "the writer should be asleep in open()";
  // Give it time: an open() that could return would have returned by now.
  std::this_thread::sleep_for(100ms);
  EXPECT_EQ(progress.Load(), "")
      << "open() for writing should still be waiting for a reader";
  // Does not block: the writer is already waiting in its open().
  ScopedFd reader(open(fifo.c_str(), O_RDONLY | O_CLOEXEC));
  ASSERT_GE(reader.get(), 0) << std::strerror(errno);
  EXPECT_EQ(ReadUntilEof(reader.get()), "")
      << "the writer closes without writing: the reader gets end of file";
  writer.Join();
  EXPECT_EQ(progress.Load(), "opened")
      << "the writer's open() should return once a reader has opened";
}

// Tests that processes meet at a FIFO by its name alone: the child opens the
// path for writing, the parent opens the same path for reading, and no
// inherited descriptor carries the data.
TEST(FifoFacts, UnrelatedOpenersMeetByName) {
  kata::OnDeadlock("one side's open() of the FIFO never met the other side");
  ScopedFifo fifo("by-name");
  ASSERT_TRUE(fifo.created()) << fifo.Error();
  const std::string path = fifo.path();
  const std::string message = "found you by name";
  kata::Child writer([path, message] {
    const int fd = open(path.c_str(), O_WRONLY | O_CLOEXEC);
    ASSERT_GE(fd, 0) << "open(" << path
                     << ", O_WRONLY): " << std::strerror(errno);
    EXPECT_TRUE(WriteAllBytes(fd, message));
    close(fd);
  });
  ScopedFd reader(open(path.c_str(), O_RDONLY | O_CLOEXEC));
  ASSERT_GE(reader.get(), 0)
      << "open(" << path << ", O_RDONLY): " << std::strerror(errno);
  EXPECT_EQ(ReadUntilEof(reader.get()), message)
      << "the reader should get what the writer wrote through the named FIFO";
  writer.Join();
}

// =========================================================== ForkFacts

// Tests that a child which has ended stays in the process table as a zombie
// (state Z) until its parent collects it with waitpid().
TEST(ForkFacts, UnreapedChildIsAZombie) {
  const pid_t pid = fork();
  ASSERT_GE(pid, 0) << std::strerror(errno);
  if (pid == 0) _exit(0);
  EXPECT_TRUE(WaitFor([&] { return kata::ProcessState(pid) == 'Z'; }))
      << "an ended child nobody has waited for should be a zombie (Z); its "
         "state is "
      << kata::ProcessState(pid);
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  EXPECT_EQ(kata::ProcessState(pid), '?')
      << "waitpid() reaps the zombie: its entry should be gone";
}

int g_cleanup_fd = -1;  // where the atexit handler of the next test writes

// Tests why a forked child ends with _exit(): exit() runs the atexit handlers
// and flushes the stdio buffers the child inherited, so the parent's cleanup
// and buffered output happen twice. _exit() does neither.
TEST(ForkFacts, ExitInAChildRepeatsTheParentsCleanup) {
  // A throwaway parent, so the runner's own atexit list is left alone.
  kata::RunInChild([] {
    TestPipe pipe;
    g_cleanup_fd = pipe.write_fd;
    std::atexit([] { WriteAllBytes(g_cleanup_fd, "[atexit handler]"); });
    std::FILE* out = fdopen(dup(pipe.write_fd), "w");
    ASSERT_NE(out, nullptr) << std::strerror(errno);
    std::setvbuf(out, nullptr, _IOFBF, BUFSIZ);
    std::fputs("[buffered line]", out);  // still in this process's buffer
    std::fflush(stdout);

    const pid_t with_exit = fork();
    ASSERT_GE(with_exit, 0);
    if (with_exit == 0) std::exit(0);
    ASSERT_EQ(waitpid(with_exit, nullptr, 0), with_exit);
    // The runner noticed (and would report it as a mistake elsewhere).
    EXPECT_EQ(kata::TakeChildThatCalledExit(), with_exit);
    EXPECT_EQ(ReadWhatIsThere(pipe.read_fd), "[atexit handler][buffered line]")
        << "exit() in the child should run the inherited handler, then flush "
           "the inherited copy of the buffer";

    const pid_t with_underscore_exit = fork();
    ASSERT_GE(with_underscore_exit, 0);
    if (with_underscore_exit == 0) _exit(0);
    ASSERT_EQ(waitpid(with_underscore_exit, nullptr, 0), with_underscore_exit);
    EXPECT_EQ(BytesIn(pipe.read_fd), 0)
        << "_exit() should end the child at once: no handler, no flush";

    std::fclose(out);  // the parent's own flush: the line's one intended copy
    EXPECT_EQ(ReadWhatIsThere(pipe.read_fd), "[buffered line]");
  });
}

// Tests what exec keeps: descriptors without FD_CLOEXEC survive into the new
// program, close-on-exec ones are closed by it, and a dup2() copy starts
// without the flag.
TEST(ForkFacts, ExecClosesOnlyCloseOnExecDescriptors) {
  kata::OnDeadlock("cat never saw end of file on its standard input");
  TestPipe plain(0);           // pipe2 without O_CLOEXEC, like pipe()
  TestPipe marked(O_CLOEXEC);  // closed by exec
  TestPipe stdin_pipe;         // becomes the program's standard input
  const std::string plain_name = LinkOf(getpid(), plain.read_fd);
  const std::string marked_name = LinkOf(getpid(), marked.read_fd);
  const std::string stdin_name = LinkOf(getpid(), stdin_pipe.read_fd);
  kata::Child program([&] {
    ASSERT_EQ(dup2(stdin_pipe.read_fd, STDIN_FILENO), STDIN_FILENO);
    kata::ChildEndsItself();
    execl("/bin/cat", "cat", static_cast<char*>(nullptr));
    ADD_FAILURE() << "execl(/bin/cat): " << std::strerror(errno);
  });
  stdin_pipe.CloseRead();
  marked.CloseWrite();
  // The child's copy of marked's write end was the last one; exec closes it,
  // so end of file here means the exec has happened.
  EXPECT_EQ(ReadUntilEof(marked.read_fd), "");

  EXPECT_EQ(PipeEndsOf(program.pid(), plain_name), "read write")
      << "descriptors without close-on-exec are inherited by the new program";
  EXPECT_EQ(PipeEndsOf(program.pid(), marked_name), "")
      << "close-on-exec descriptors should have been closed by exec";
  EXPECT_EQ(PipeEndsOf(program.pid(), stdin_name), "read")
      << "only the dup2() copy on fd 0 should remain: a copy does not inherit "
         "the close-on-exec flag, the original had it";
  stdin_pipe.CloseWrite();  // cat sees end of file and exits
  program.Join();
}

}  // namespace
