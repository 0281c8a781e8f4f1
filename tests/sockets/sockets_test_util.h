// File: tests/sockets/sockets_test_util.h
// -----------------------------------------------------------------------------
//
// What the sockets kata's test files share: the test's own socket code with
// raw system calls (RawListener, RawConnect, RawSendAll, RawReceiveFrame,
// ...), the hints, the three transports every typed test runs over, and the
// typed suites of stages 2 to 7, so that tests of one stage may live in
// either file (sockets_test.cc teaches the stages in order;
// sockets_contract_test.cc holds the checks by class: signals, EINTR at every
// call, limits, deadlines, injected failures, busy waiting, parameters).
//
// Nothing here uses the code under test to check the code under test.

#ifndef IPC_KATAS_TESTS_SOCKETS_SOCKETS_TEST_UTIL_H_
#define IPC_KATAS_TESTS_SOCKETS_SOCKETS_TEST_UTIL_H_

#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

#include "gtest/gtest.h"
#include "sockets/sockets.h"
#include "tests/support/kata.h"

namespace sockets_test {

using namespace std::chrono_literals;
using kata::Difference;
using kata::Hint;
using kata::InterruptingSignal;
using kata::InterruptRunnerWhenBlocked;
using kata::Scaled;
using kata::sockets::Connection;
using kata::sockets::Endpoint;
using kata::sockets::Listener;
using kata::sockets::ServerProcess;
namespace ks = kata::sockets;

#define README "exercises/sockets/README.md"

// ------------------------------------------------------------------ hints
// One per classic mistake; tools/gate looks for them in the output of the
// mutants (tests/sockets/mutants/*.patch).

inline constexpr char kHtons[] =
    "sin_port holds the port in network byte order: htons(port) going in, "
    "ntohs() coming back";
inline constexpr char kSunPath[] =
    "sun_path holds 108 bytes including the terminating NUL: refuse a longer "
    "path with std::invalid_argument, never cut it short";
inline constexpr char kAbstractLength[] =
    "an abstract name is exactly as long as addrlen says: "
    "offsetof(sockaddr_un, sun_path) + 1 + the name's size, not "
    "sizeof(sockaddr_un)";
inline constexpr char kShortSend[] =
    "send() may send fewer bytes than asked: loop until every byte is out";
inline constexpr char kEintr[] =
    "EINTR: a signal interrupted the call; retry it";
inline constexpr char kNoSignal[] =
    "pass MSG_NOSIGNAL to every send(): a peer that has gone must be an EPIPE "
    "error, not death by SIGPIPE";
inline constexpr char kBoundaries[] =
    "a stream keeps no message boundaries: receive exactly 4 header bytes, "
    "then exactly that many payload bytes, each in a loop; a send may move "
    "only part of a frame too: send until every byte is out";
inline constexpr char kFrameLimit[] =
    "check the announced length against the maximum frame size before "
    "allocating or reading the payload";
inline constexpr char kOneAtATime[] =
    "the server serves one client at a time: fork a child per client so a "
    "second client is answered while the first is still connected";
inline constexpr char kParentKeepsConnection[] =
    "the accept loop keeps its copy of each client's socket: close it in the "
    "parent right after fork, or the client never reads end of stream";
inline constexpr char kNoReaping[] =
    "finished children stay zombies until the server reaps them: "
    "waitpid(pid, &status, WNOHANG) in the accept loop";
inline constexpr char kChildExitStatus[] =
    "the child serving a client tells how it went by its exit status: "
    "_exit(0) once ServeConnection returns, _exit(1) if it threw";
inline constexpr char kChildKeepsListener[] =
    "the child serving a client still holds the listening socket: close it "
    "in the child right after fork";
inline constexpr char kStaleFile[] =
    "a stale socket file blocks bind() with EADDRINUSE: if connect() to it is "
    "refused, nobody listens there, so unlink it and bind again";
inline constexpr char kReuseAddr[] =
    "set SO_REUSEADDR before bind(): the previous run's connections in "
    "TIME_WAIT otherwise block the port for 60 s";
inline constexpr char kLiveSocket[] =
    "never unlink a live server's socket file: connect() first, and unlink "
    "only when the connection is refused";
inline constexpr char kOwnerUnlinks[] =
    "the process that bound a socket path unlinks it when it closes the "
    "listener; a forked child closing its copy must not";
inline constexpr char kStopChannel[] =
    "Serve must poll the stop descriptor together with the listener and "
    "return when it becomes readable";
inline constexpr char kReadyBeforeReturn[] =
    "Start must not return before the server process listens: wait for its "
    "\"ready\" report on a pipe, never sleep";

// ------------------------------------------------------------ raw helpers
// The test's own socket code, independent of the code under test.

// One descriptor, closed when the object goes away.
class RawFd {
 public:
  explicit RawFd(int fd = -1) : fd_(fd) {}
  RawFd(RawFd&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  RawFd& operator=(RawFd&& other) noexcept {
    if (this != &other) {
      Close();
      fd_ = std::exchange(other.fd_, -1);
    }
    return *this;
  }
  ~RawFd() { Close(); }
  int get() const { return fd_; }
  int release() { return std::exchange(fd_, -1); }
  void Close() {
    if (fd_ >= 0) close(std::exchange(fd_, -1));
  }

 private:
  int fd_;
};

struct RawPipe {
  int read_fd = -1, write_fd = -1;
  RawPipe() {
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0) {
      throw std::system_error(errno, std::generic_category(), "pipe2");
    }
    read_fd = fds[0];
    write_fd = fds[1];
  }
  RawPipe(const RawPipe&) = delete;
  RawPipe& operator=(const RawPipe&) = delete;
  ~RawPipe() {
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

// The socket address of `endpoint`, built by the test itself.
struct RawAddress {
  sockaddr_storage storage{};
  socklen_t length = 0;
  sockaddr* get() { return reinterpret_cast<sockaddr*>(&storage); }
  int family() const { return storage.ss_family; }
};

inline RawAddress RawAddressOf(const Endpoint& endpoint) {
  RawAddress result;
  if (endpoint.kind == Endpoint::Kind::kTcp) {
    auto* in = reinterpret_cast<sockaddr_in*>(&result.storage);
    in->sin_family = AF_INET;
    inet_pton(AF_INET, endpoint.address.c_str(), &in->sin_addr);
    in->sin_port = htons(endpoint.port);
    result.length = sizeof(sockaddr_in);
    return result;
  }
  auto* un = reinterpret_cast<sockaddr_un*>(&result.storage);
  un->sun_family = AF_UNIX;
  const bool abstract = endpoint.kind == Endpoint::Kind::kUnixAbstract;
  std::memcpy(un->sun_path + (abstract ? 1 : 0), endpoint.address.data(),
              endpoint.address.size());
  result.length = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + 1 +
                                         endpoint.address.size());
  return result;
}

// Sets small kernel buffers, so that a few hundred KiB fill them and a
// sender really blocks (or sends short).
inline void ShrinkBuffers(int fd) {
  const int size = 16 * 1024;
  setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof(size));
  setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof(size));
}

// A listening socket made with raw calls; TCP with SO_REUSEADDR, like a
// correct server. Removes its socket file when closed, unless Crash()ed.
class RawListener {
 public:
  explicit RawListener(Endpoint endpoint, bool listen_now = true,
                       bool small_buffers = false)
      : endpoint_(std::move(endpoint)) {
    RawAddress address = RawAddressOf(endpoint_);
    fd_ = RawFd(socket(address.family(), SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (small_buffers) ShrinkBuffers(fd_.get());
    const int on = 1;
    if (endpoint_.kind == Endpoint::Kind::kTcp) {
      setsockopt(fd_.get(), SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on));
    }
    if (bind(fd_.get(), address.get(), address.length) != 0) {
      error_ = errno;
      return;
    }
    bound_ = true;
    if (listen_now && listen(fd_.get(), 64) != 0) error_ = errno;
    if (endpoint_.kind == Endpoint::Kind::kTcp) {
      sockaddr_in bound{};
      socklen_t length = sizeof(bound);
      getsockname(fd_.get(), reinterpret_cast<sockaddr*>(&bound), &length);
      endpoint_.port = ntohs(bound.sin_port);
    }
  }
  RawListener(const RawListener&) = delete;
  RawListener& operator=(const RawListener&) = delete;
  ~RawListener() { Close(); }

  const Endpoint& endpoint() const { return endpoint_; }
  int fd() const { return fd_.get(); }
  bool ok() const { return bound_ && error_ == 0; }
  std::string Error() const {
    return "raw listener on " + endpoint_.ToString() + ": " +
           std::strerror(error_);
  }
  RawFd Accept() {
    return RawFd(accept4(fd_.get(), nullptr, nullptr, SOCK_CLOEXEC));
  }
  void Close() {
    fd_.Close();
    if (bound_ && endpoint_.kind == Endpoint::Kind::kUnixPath) {
      unlink(endpoint_.address.c_str());
    }
    bound_ = false;
  }
  // Like a server that dies: the descriptor stays open until the process
  // ends (then the kernel closes it) and nobody unlinks the socket file.
  void Crash() {
    fd_.release();
    bound_ = false;
  }

 private:
  Endpoint endpoint_;
  RawFd fd_;
  bool bound_ = false;
  int error_ = 0;
};

// Connects a raw stream socket to `endpoint`; on failure the RawFd holds -1
// and errno says why.
inline RawFd RawConnect(const Endpoint& endpoint, bool small_buffers = false) {
  RawAddress address = RawAddressOf(endpoint);
  RawFd fd(socket(address.family(), SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (small_buffers) ShrinkBuffers(fd.get());
  int result;
  do {
    result = connect(fd.get(), address.get(), address.length);
  } while (result != 0 && errno == EINTR);
  if (result != 0) {
    int error = errno;
    fd.Close();
    errno = error;
  }
  return fd;
}

// For pipes (send() works on sockets only).
inline bool RawWriteAll(int fd, std::string_view data) {
  while (!data.empty()) {
    ssize_t n = write(fd, data.data(), data.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    data.remove_prefix(static_cast<std::size_t>(n));
  }
  return true;
}

inline bool RawSendAll(int fd, std::string_view data) {
  while (!data.empty()) {
    ssize_t n = send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    data.remove_prefix(static_cast<std::size_t>(n));
  }
  return true;
}

// Whether `fd` has something to read (data or end of stream) within `limit`.
inline bool WaitReadable(int fd, std::chrono::milliseconds limit) {
  pollfd entry{fd, POLLIN, 0};
  const auto deadline = std::chrono::steady_clock::now() + limit;
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() < 0) left = 0ms;
    int n = poll(&entry, 1, static_cast<int>(left.count()));
    if (n > 0) return true;
    if (n == 0) return false;
    if (errno != EINTR) return false;
  }
}

inline std::string RawReceiveAll(int fd) {
  std::string data;
  char buffer[65536];
  for (;;) {
    ssize_t n = recv(fd, buffer, sizeof(buffer), 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return data;
    data.append(buffer, static_cast<std::size_t>(n));
  }
}

// Blocks until end of file on the pipe `fd` (every write end closed): a
// barrier between processes. (recv() works on sockets only.)
inline void WaitForEndOfFile(int fd) {
  char buffer[64];
  for (;;) {
    ssize_t n = read(fd, buffer, sizeof(buffer));
    if (n == 0 || (n < 0 && errno != EINTR)) return;
  }
}

// Receives exactly `size` bytes unless the stream ends first.
inline std::string RawReceiveExactly(int fd, std::size_t size) {
  std::string data(size, '\0');
  std::size_t got = 0;
  while (got < size) {
    ssize_t n = recv(fd, data.data() + got, size - got, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    got += static_cast<std::size_t>(n);
  }
  data.resize(got);
  return data;
}

// The wire format, written out by hand: 4 bytes of length, big-endian...
inline std::string Header(std::uint32_t size) {
  return {static_cast<char>(size >> 24), static_cast<char>(size >> 16),
          static_cast<char>(size >> 8), static_cast<char>(size)};
}

// ...then the payload.
inline std::string Frame(std::string_view payload) {
  return Header(static_cast<std::uint32_t>(payload.size())) +
         std::string(payload);
}

// The next frame's payload, or std::nullopt at end of stream (or a cut frame).
inline std::optional<std::string> RawReceiveFrame(int fd) {
  std::string header = RawReceiveExactly(fd, 4);
  if (header.size() < 4) return std::nullopt;
  const auto byte = [&](int i) {
    return static_cast<std::uint32_t>(static_cast<unsigned char>(header[i]));
  };
  const std::uint32_t size =
      byte(0) << 24 | byte(1) << 16 | byte(2) << 8 | byte(3);
  std::string payload = RawReceiveExactly(fd, size);
  if (payload.size() < size) return std::nullopt;
  return payload;
}

// Like RawReceiveFrame, but gives up after `limit` without data: "(nothing
// within N ms)". For waits that only a broken server would make long.
inline std::string RawReceiveFrameWithin(int fd,
                                         std::chrono::milliseconds limit) {
  if (!WaitReadable(fd, limit)) {
    return "(nothing within " + std::to_string(limit.count()) + " ms)";
  }
  std::optional<std::string> frame = RawReceiveFrame(fd);
  return frame ? *frame : "(end of stream)";
}

// connection.ReceiveFrame(max_size), with an exception turned into a failure
// that carries `hint` (an unfinished function's exception goes on up).
inline std::optional<std::string> ReceiveFrameOrFail(
    Connection& connection, const std::string& hint,
    std::size_t max_size = ks::kMaxFrameSize) {
  try {
    return connection.ReceiveFrame(max_size);
  } catch (const std::exception& e) {
    if (std::string_view(e.what()).starts_with("not implemented yet")) throw;
    ADD_FAILURE() << "ReceiveFrame threw " << e.what() << hint;
    return "(ReceiveFrame threw)";
  }
}

// Bytes that differ at every position mod 251, so a lost or repeated chunk
// shows up as a mismatch.
inline std::string Pattern(std::size_t size, int seed = 0) {
  std::string data(size, '\0');
  for (std::size_t i = 0; i < size; ++i) {
    data[i] = static_cast<char>('!' + (i + static_cast<std::size_t>(seed)) %
                                          251 % 90);
  }
  return data;
}

// Runs `call`, expecting std::system_error with one of `errors`, whose what()
// names `call_name`.
template <typename Call>
inline void ExpectSystemError(Call call, std::vector<int> errors,
                              std::string_view call_name,
                              const std::string& hint) {
  try {
    call();
    ADD_FAILURE() << "expected std::system_error ("
                  << std::strerror(errors.front())
                  << "), but nothing was thrown" << hint;
  } catch (const std::system_error& e) {
    EXPECT_NE(std::find(errors.begin(), errors.end(), e.code().value()),
              errors.end())
        << "std::system_error carries the wrong error: " << e.what() << hint;
    EXPECT_NE(std::string(e.what()).find(call_name), std::string::npos)
        << "the message should name the failed call " << call_name
        << ", it says: " << e.what()
        << Hint(
               "std::system_error(errno, std::generic_category(), "
               "\"<call>(<endpoint>)\")");
  }
}

inline bool SocketFileExists(const std::string& path) {
  struct stat info{};
  return lstat(path.c_str(), &info) == 0 && S_ISSOCK(info.st_mode);
}

// Checks `condition` every few milliseconds until it holds or `limit` has
// passed. For states that, once reached, stay.
template <typename Condition>
inline bool WaitUntil(Condition condition, std::chrono::milliseconds limit) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  for (;;) {
    if (condition()) return true;
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(5ms);
  }
}

// The children of `pid` (all its threads), from /proc.
inline std::vector<pid_t> ChildrenOf(pid_t pid) {
  std::vector<pid_t> children;
  const std::string tasks = "/proc/" + std::to_string(pid) + "/task";
  DIR* dir = opendir(tasks.c_str());
  if (dir == nullptr) return children;
  while (dirent* entry = readdir(dir)) {
    if (entry->d_name[0] == '.') continue;
    std::ifstream in(tasks + "/" + entry->d_name + "/children");
    pid_t child;
    while (in >> child) children.push_back(child);
  }
  closedir(dir);
  return children;
}

// How many sockets process `pid` has open (links "socket:[...]").
inline int SocketsOpenIn(pid_t pid) {
  const std::string fds = "/proc/" + std::to_string(pid) + "/fd";
  DIR* dir = opendir(fds.c_str());
  if (dir == nullptr) return -1;
  int count = 0;
  while (dirent* entry = readdir(dir)) {
    if (entry->d_name[0] == '.') continue;
    char target[128];
    ssize_t n = readlink((fds + "/" + entry->d_name).c_str(), target,
                         sizeof(target) - 1);
    if (n > 0 && std::string_view(target, n).rfind("socket:", 0) == 0) {
      ++count;
    }
  }
  closedir(dir);
  return count;
}

// How many listening sockets the calling process holds (SO_ACCEPTCONN).
inline int ListeningSocketsHere() {
  int count = 0;
  for (int fd : kata::OpenDescriptors()) {
    int listening = 0;
    socklen_t size = sizeof(listening);
    if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &size) == 0 &&
        listening) {
      ++count;
    }
  }
  return count;
}

inline std::string Echo(std::string_view request) {
  return std::string(request);
}

inline std::string Upper(std::string_view request) {
  std::string reply(request);
  std::transform(reply.begin(), reply.end(), reply.begin(), ::toupper);
  return reply;
}

// ------------------------------------------------------------- transports

struct Tcp {
  static Endpoint Fresh() { return Endpoint::Tcp("127.0.0.1", 0); }
  static Endpoint Malformed() { return Endpoint::Tcp("localhost", 80); }
  // What connect() reports where nobody listens.
  static constexpr int kNobodyThere = ECONNREFUSED;
  static constexpr const char* kRestartHint = kReuseAddr;
};

struct UnixPath {
  static Endpoint Fresh() {
    return Endpoint::UnixPath(kata::UniqueSocketPath("sock"));
  }
  static Endpoint Malformed() {
    return Endpoint::UnixPath("/tmp/" + std::string(150, 'x'));
  }
  static constexpr int kNobodyThere = ENOENT;  // no socket file at all
  static constexpr const char* kRestartHint = kStaleFile;
};

struct UnixAbstract {
  static Endpoint Fresh() {
    return Endpoint::UnixAbstract(kata::UniqueName("sock").substr(1));
  }
  static Endpoint Malformed() { return Endpoint::UnixAbstract(""); }
  static constexpr int kNobodyThere = ECONNREFUSED;
  static constexpr const char* kRestartHint =
      "an abstract name is freed when its last socket closes";
};

class TransportNames {
 public:
  template <typename T>
  static std::string GetName(int) {
    if (std::is_same_v<T, Tcp>) return "Tcp";
    if (std::is_same_v<T, UnixPath>) return "UnixPath";
    return "UnixAbstract";
  }
};

using Transports = ::testing::Types<Tcp, UnixPath, UnixAbstract>;

// An endpoint where nobody listens, that stays free for the test: for TCP a
// port bound (not listening) by `holder`.
template <typename T>
inline Endpoint NobodyListensAt(std::optional<RawListener>& holder) {
  Endpoint endpoint = T::Fresh();
  if (endpoint.kind != Endpoint::Kind::kTcp) return endpoint;
  holder.emplace(endpoint, /*listen_now=*/false);
  return holder->endpoint();
}

// A connected pair made with raw calls: `client` from connect(), `server`
// from accept().
struct RawPair {
  RawFd client, server;
};

inline RawPair MakeRawPair(const Endpoint& where, bool small_buffers = false) {
  RawListener listener(where, true, small_buffers);
  RawPair pair;
  if (!listener.ok()) {
    ADD_FAILURE() << listener.Error();
    return pair;
  }
  pair.client = RawConnect(listener.endpoint(), small_buffers);
  if (pair.client.get() < 0) {
    ADD_FAILURE() << "raw connect: " << std::strerror(errno);
    return pair;
  }
  pair.server = listener.Accept();
  return pair;
}

// Serve() in a kata::Child: the child listens (Listener::Listen), reports
// the port through a pipe, serves until the test sends a stop byte on a
// socketpair, and closes the listener when Serve returns. The test itself
// holds no copy of the listening socket, so a server that died is refused
// at once.
class ServerInChild {
 public:
  ServerInChild(const Endpoint& where, ks::Handler handler,
                std::function<void()> before_serving = {})
      : stop_(MakeStopChannel()),
        endpoint_(where),
        child_([&, handler, before_serving] {
          ready_.CloseRead();
          stop_.first.Close();
          Listener listener = Listener::Listen(where);
          const std::uint16_t port = listener.endpoint().port;
          RawWriteAll(ready_.write_fd,
                      std::string_view(reinterpret_cast<const char*>(&port),
                                       sizeof(port)));
          ready_.CloseWrite();
          if (before_serving) before_serving();
          ks::Serve(listener, handler, stop_.second.get());
        }) {
    ready_.CloseWrite();
    stop_.second.Close();
    std::uint16_t port = 0;
    ssize_t n;
    do {
      n = read(ready_.read_fd, &port, sizeof(port));
    } while (n < 0 && errno == EINTR);
    listening_ = n == sizeof(port);
    endpoint_.port = port;
  }
  ~ServerInChild() { Stop(); }

  // False if the child failed before it listened (its failure is reported
  // when the test stops it).
  bool listening() const { return listening_; }
  const Endpoint& endpoint() const { return endpoint_; }
  pid_t pid() const { return child_.pid(); }

  // Writes the stop byte and waits for Serve to return in the child.
  void Stop() {
    if (stopped_) return;
    stopped_ = true;
    // MSG_NOSIGNAL: the server child may be gone already.
    ssize_t ignored = send(stop_.first.get(), "x", 1, MSG_NOSIGNAL);
    (void)ignored;
    stop_.first.Close();
    child_.Join();
  }

 private:
  static std::pair<RawFd, RawFd> MakeStopChannel() {
    int ends[2] = {-1, -1};
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, ends) != 0) {
      ADD_FAILURE() << "socketpair: " << std::strerror(errno);
    }
    return {RawFd(ends[0]), RawFd(ends[1])};
  }

  RawPipe ready_;
  std::pair<RawFd, RawFd> stop_;  // first: ours; second: the server's
  Endpoint endpoint_;
  kata::Child child_;
  bool listening_ = false;
  bool stopped_ = false;
};

// Serve() in a kata::Child, like ServerInChild, but the child runs `serve`
// with the listener and the stop descriptor, so a test can wrap Serve (catch
// what it throws, do something after it returns), and the test decides how
// to ask for the stop (a byte, end of file, or both).
class ServeInChild {
 public:
  using Body = std::function<void(Listener& listener, int stop_fd)>;
  ServeInChild(const Endpoint& where, Body serve)
      : endpoint_(where), child_([this, where, serve] {
          ready_.CloseRead();
          stop_ours_.Close();
          Listener listener = Listener::Listen(where);
          const std::uint16_t port = listener.endpoint().port;
          {
            kata::NotCounted quiet;
            RawWriteAll(ready_.write_fd,
                        std::string_view(reinterpret_cast<const char*>(&port),
                                         sizeof(port)));
            ready_.CloseWrite();
          }
          serve(listener, stop_theirs_.get());
        }) {
    kata::NotCounted quiet;
    ready_.CloseWrite();
    stop_theirs_.Close();
    std::uint16_t port = 0;
    ssize_t n;
    do {
      n = read(ready_.read_fd, &port, sizeof(port));
    } while (n < 0 && errno == EINTR);
    listening_ = n == sizeof(port);
    endpoint_.port = port;
  }
  ~ServeInChild() {
    stop_ours_.Close();
    Join();
  }

  bool listening() const { return listening_; }
  const Endpoint& endpoint() const { return endpoint_; }
  pid_t pid() const { return child_.pid(); }
  int stop_fd() const { return stop_ours_.get(); }

  // One byte on the stop channel, which stays open.
  void SendStopByte() {
    kata::NotCounted quiet;
    ssize_t ignored = send(stop_ours_.get(), "x", 1, MSG_NOSIGNAL);
    (void)ignored;
  }
  // End of file on the stop channel (unless someone holds a copy).
  void CloseStop() { stop_ours_.Close(); }
  void Join() {
    if (joined_) return;
    joined_ = true;
    child_.Join();
  }

 private:
  static std::pair<RawFd, RawFd> StopChannel() {
    int ends[2] = {-1, -1};
    EXPECT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, ends), 0);
    return {RawFd(ends[0]), RawFd(ends[1])};
  }

  RawPipe ready_;
  std::pair<RawFd, RawFd> stop_ = StopChannel();
  RawFd& stop_ours_ = stop_.first;
  RawFd& stop_theirs_ = stop_.second;
  Endpoint endpoint_;
  kata::Child child_;
  bool listening_ = false;
  bool joined_ = false;
};

inline constexpr char kServerDidNotListen[] =
    "the server child failed before it listened (its error is reported when "
    "the test ends)";

// A client of a running echo server, made with raw calls: sends each frame
// and checks the echo; with `expect_end_of_stream`, then half-closes and
// expects end of stream. Returns "" or what went wrong.
// `reply_within` bounds the wait for each reply; the default suits a server
// with nothing queued before this client.
inline std::string EchoExchange(
    const Endpoint& where, const std::vector<std::string>& payloads,
    bool expect_end_of_stream = false,
    std::chrono::milliseconds reply_within = std::chrono::seconds(3)) {
  RawFd client = RawConnect(where);
  if (client.get() < 0) {
    return std::string("connect(") + where.ToString() +
           "): " + std::strerror(errno);
  }
  for (const std::string& payload : payloads) {
    if (!RawSendAll(client.get(), Frame(payload))) return "send failed";
    std::string reply =
        RawReceiveFrameWithin(client.get(), Scaled(reply_within));
    if (reply != payload) {
      return "expected the echo of a " + std::to_string(payload.size()) +
             "-byte frame, got " +
             (reply.size() < 80 ? "\"" + reply + "\""
                                : std::to_string(reply.size()) + " bytes");
    }
  }
  if (expect_end_of_stream) {
    shutdown(client.get(), SHUT_WR);
    if (!WaitReadable(client.get(), Scaled(3s))) {
      return "no end of stream after the last reply";
    }
    char byte;
    if (recv(client.get(), &byte, 1, 0) != 0) {
      return "more data after the last reply";
    }
  }
  return "";
}

// The typed suite of each stage: one test, three transports.
#define KATA_TRANSPORT_SUITE(suite)        \
  template <typename T>                    \
  class suite : public ::testing::Test {}; \
  TYPED_TEST_SUITE(suite, Transports, TransportNames)

KATA_TRANSPORT_SUITE(Stage2EchoRoundTrip);
KATA_TRANSPORT_SUITE(Stage3ManyFrames);
KATA_TRANSPORT_SUITE(Stage4SeveralClients);
KATA_TRANSPORT_SUITE(Stage5ServerProcess);
KATA_TRANSPORT_SUITE(Stage6Restart);
KATA_TRANSPORT_SUITE(Stage7RealClients);

}  // namespace sockets_test

#endif  // IPC_KATAS_TESTS_SOCKETS_SOCKETS_TEST_UTIL_H_
