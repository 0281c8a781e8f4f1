// Kernel facts about Unix-domain and TCP sockets that docs/sockets.md relies
// on.
//
// Nothing here tests learner code: every test asks the running Linux kernel
// directly, with raw system calls, so that each sentence of the interview
// notes has a proof anyone can rerun, one test at a time if need be:
//
//   bazel test //tests/sockets:sockets_facts_test --test_filter='TcpFacts.*'
//
// The numbers checked (a 108-byte sun_path, TIME_WAIT on the side that closes
// first) are Linux's; docs/sockets.md says where other systems differ.

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <fstream>
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

// One descriptor, closed when the object goes away.
class ScopedFd {
 public:
  explicit ScopedFd(int fd = -1) : fd_(fd) {}
  ScopedFd(ScopedFd&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  ScopedFd& operator=(ScopedFd&& other) noexcept {
    if (this != &other) {
      Reset();
      fd_ = std::exchange(other.fd_, -1);
    }
    return *this;
  }
  ~ScopedFd() { Reset(); }

  int get() const { return fd_; }
  void Reset() {
    if (fd_ >= 0) close(std::exchange(fd_, -1));
  }

 private:
  int fd_;
};

// A pair of connected sockets of `type` (SOCK_STREAM, SOCK_SEQPACKET or
// SOCK_DGRAM) in the Unix domain.
std::pair<ScopedFd, ScopedFd> UnixPair(int type) {
  int ends[2] = {-1, -1};
  EXPECT_EQ(socketpair(AF_UNIX, type | SOCK_CLOEXEC, 0, ends), 0)
      << std::strerror(errno);
  return {ScopedFd(ends[0]), ScopedFd(ends[1])};
}

ScopedFd TcpSocket(bool reuse_address = false) {
  ScopedFd fd(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (reuse_address) {
    const int on = 1;
    setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on));
  }
  return fd;
}

sockaddr_in Loopback(std::uint16_t port_in_network_order) {
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = port_in_network_order;
  return address;
}

int Bind(int fd, const sockaddr_in& address) {
  return bind(fd, reinterpret_cast<const sockaddr*>(&address), sizeof(address));
}

int Connect(int fd, const sockaddr_in& address) {
  return connect(fd, reinterpret_cast<const sockaddr*>(&address),
                 sizeof(address));
}

// The port (host byte order) a socket is bound to.
std::uint16_t LocalPort(int fd) {
  sockaddr_in address{};
  socklen_t length = sizeof(address);
  getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length);
  return ntohs(address.sin_port);
}

// A TCP listener on 127.0.0.1 at a port the kernel picks.
ScopedFd TcpListener(bool reuse_address = false) {
  ScopedFd fd = TcpSocket(reuse_address);
  EXPECT_EQ(Bind(fd.get(), Loopback(0)), 0) << std::strerror(errno);
  EXPECT_EQ(listen(fd.get(), 16), 0) << std::strerror(errno);
  return fd;
}

// A connected TCP pair over loopback: {client, accepted}.
std::pair<ScopedFd, ScopedFd> TcpPair() {
  ScopedFd listener = TcpListener();
  ScopedFd client = TcpSocket();
  EXPECT_EQ(Connect(client.get(), Loopback(htons(LocalPort(listener.get())))),
            0)
      << std::strerror(errno);
  ScopedFd accepted(accept4(listener.get(), nullptr, nullptr, SOCK_CLOEXEC));
  return {std::move(client), std::move(accepted)};
}

// A sockaddr_un for a path, or for an abstract name when `abstract`, with
// the exact length (offsetof + path + NUL, or offsetof + NUL + name).
std::pair<sockaddr_un, socklen_t> UnixAddress(const std::string& name,
                                              bool abstract = false) {
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  std::memcpy(address.sun_path + (abstract ? 1 : 0), name.data(), name.size());
  return {address, static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + 1 +
                                          name.size())};
}

int BindUnix(int fd, const std::pair<sockaddr_un, socklen_t>& address) {
  return bind(fd, reinterpret_cast<const sockaddr*>(&address.first),
              address.second);
}

int ConnectUnix(int fd, const std::pair<sockaddr_un, socklen_t>& address) {
  return connect(fd, reinterpret_cast<const sockaddr*>(&address.first),
                 address.second);
}

ScopedFd UnixSocket(int flags = 0) {
  return ScopedFd(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | flags, 0));
}

// A socket file path for one test, removed when the test ends.
class ScopedPath {
 public:
  explicit ScopedPath(std::string_view what)
      : path_(kata::UniqueSocketPath(what)) {}
  ~ScopedPath() { unlink(path_.c_str()); }
  const std::string& str() const { return path_; }
  const char* c_str() const { return path_.c_str(); }

 private:
  std::string path_;
};

// How many bytes wait in the receive queue of `fd`.
int BytesWaiting(int fd) {
  int count = -1;
  ioctl(fd, FIONREAD, &count);
  return count;
}

// Polls `condition` until it holds or `limit` has passed; for states that
// stay once reached.
template <typename Condition>
bool WaitFor(Condition condition, std::chrono::milliseconds limit = 2s) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  for (;;) {
    if (condition()) return true;
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(1ms);
  }
}

// The TCP state (as /proc/net/tcp spells it, "06" is TIME_WAIT) of the
// loopback connection from `local_port` to `remote_port`, or "" if none.
std::string TcpState(std::uint16_t local_port, std::uint16_t remote_port) {
  std::ifstream table("/proc/net/tcp");
  std::string line;
  std::getline(table, line);  // header
  char local[16], remote[16];
  std::snprintf(local, sizeof(local), "0100007F:%04X", local_port);
  std::snprintf(remote, sizeof(remote), "0100007F:%04X", remote_port);
  while (std::getline(table, line)) {
    std::istringstream row(line);
    std::string slot, local_address, remote_address, state;
    row >> slot >> local_address >> remote_address >> state;
    if (local_address == local && remote_address == remote) return state;
  }
  return "";
}

constexpr char kTimeWait[] = "06";

// =========================================================== StreamFacts

// Tests that a stream keeps no message boundaries: two sends made before the
// receiver reads come out of one recv() as six bytes, over a Unix socket and
// over TCP alike.
TEST(StreamFacts, StreamKeepsNoMessageBoundaries) {
  auto unix_pair = UnixPair(SOCK_STREAM);
  auto tcp_pair = TcpPair();
  for (auto* pair : {&unix_pair, &tcp_pair}) {
    const int sender = pair->first.get(), receiver = pair->second.get();
    ASSERT_EQ(send(sender, "abc", 3, 0), 3);
    ASSERT_EQ(send(sender, "def", 3, 0), 3);
    ASSERT_TRUE(WaitFor([&] { return BytesWaiting(receiver) == 6; }))
        << "both sends should arrive";
    char buffer[64];
    EXPECT_EQ(recv(receiver, buffer, sizeof(buffer), 0), 6)
        << "one recv() returns every byte waiting, whatever the sends that "
           "put them there";
  }
}

// Tests that SOCK_SEQPACKET and SOCK_DGRAM keep each send apart: the same two
// sends come out as two receives of three bytes.
TEST(StreamFacts, SeqpacketAndDatagramKeepBoundaries) {
  for (int type : {SOCK_SEQPACKET, SOCK_DGRAM}) {
    auto [sender, receiver] = UnixPair(type);
    ASSERT_EQ(send(sender.get(), "abc", 3, 0), 3);
    ASSERT_EQ(send(sender.get(), "def", 3, 0), 3);
    char buffer[64];
    EXPECT_EQ(recv(receiver.get(), buffer, sizeof(buffer), 0), 3)
        << (type == SOCK_SEQPACKET ? "SOCK_SEQPACKET" : "SOCK_DGRAM")
        << " delivers one message per receive";
    EXPECT_EQ(recv(receiver.get(), buffer, sizeof(buffer), 0), 3);
  }
}

// Tests that one recv() may return part of what was sent: a 1 MiB send meets
// a receive queue far smaller, and the first receive gets only what fits.
TEST(StreamFacts, ReceiveMayReturnPartOfASend) {
  auto [sender, receiver] = UnixPair(SOCK_STREAM);
  const std::string data(1 << 20, 'm');
  std::thread writer([&, fd = sender.get()] {
    std::string_view rest = data;
    while (!rest.empty()) {
      ssize_t n = send(fd, rest.data(), rest.size(), MSG_NOSIGNAL);
      if (n <= 0) return;
      rest.remove_prefix(static_cast<std::size_t>(n));
    }
  });
  std::string buffer(data.size(), '\0');
  const ssize_t first = recv(receiver.get(), buffer.data(), buffer.size(), 0);
  EXPECT_GT(first, 0);
  EXPECT_LT(first, static_cast<ssize_t>(data.size()))
      << "the socket buffers cannot hold 1 MiB, so one receive cannot "
         "return the whole send: the receiver must loop";
  std::size_t total = static_cast<std::size_t>(first);
  while (total < data.size()) {
    ssize_t n = recv(receiver.get(), buffer.data(), buffer.size() - total, 0);
    if (n <= 0) break;
    total += static_cast<std::size_t>(n);
  }
  writer.join();
  EXPECT_EQ(total, data.size());
}

// Tests that send() on a non-blocking socket may take only part of the data:
// it returns how much went in, and the caller must send the rest.
TEST(StreamFacts, NonBlockingSendCanBeShort) {
  auto [sender, receiver] = UnixPair(SOCK_STREAM | SOCK_NONBLOCK);
  const std::string data(1 << 20, 's');
  const ssize_t sent = send(sender.get(), data.data(), data.size(), 0);
  EXPECT_GT(sent, 0) << std::strerror(errno);
  EXPECT_LT(sent, static_cast<ssize_t>(data.size()))
      << "a non-blocking send takes what fits in the buffers and says how "
         "much: a short send";
  const ssize_t again = send(sender.get(), data.data(), data.size(), 0);
  const int error = errno;
  EXPECT_EQ(again, -1) << "with the buffers full, nothing more goes in";
  EXPECT_EQ(error, EAGAIN) << std::strerror(error);
}

// Tests the half-close: after shutdown(SHUT_WR) the peer reads end of stream
// (recv returns 0), yet it can still answer, and the answer arrives.
TEST(StreamFacts, HalfCloseEndsOneDirectionOnly) {
  auto unix_pair = UnixPair(SOCK_STREAM);
  auto tcp_pair = TcpPair();
  for (auto* pair : {&unix_pair, &tcp_pair}) {
    const int client = pair->first.get(), server = pair->second.get();
    ASSERT_EQ(send(client, "request", 7, 0), 7);
    ASSERT_EQ(shutdown(client, SHUT_WR), 0);
    char buffer[64];
    std::string request;
    for (;;) {
      ssize_t n = recv(server, buffer, sizeof(buffer), 0);
      ASSERT_GE(n, 0) << std::strerror(errno);
      if (n == 0) break;  // end of stream: the client's half-close
      request.append(buffer, static_cast<std::size_t>(n));
    }
    EXPECT_EQ(request, "request");
    EXPECT_EQ(send(server, "reply", 5, MSG_NOSIGNAL), 5)
        << "the other direction is still open";
    EXPECT_EQ(recv(client, buffer, sizeof(buffer), 0), 5)
        << "the half-closed side still receives";
    EXPECT_EQ(send(client, "more", 4, MSG_NOSIGNAL), -1)
        << "but it can no longer send";
  }
}

// =========================================================== SignalFacts

// Tests that sending to a peer that has closed kills the sender with SIGPIPE
// when the signal has its default action.
TEST(SignalFacts, SendToAClosedPeerRaisesSigpipe) {
  kata::ExpectKilledBy(
      SIGPIPE,
      [] {
        signal(SIGPIPE, SIG_DFL);
        auto [mine, theirs] = UnixPair(SOCK_STREAM);
        theirs.Reset();  // the peer is gone before we send
        const ssize_t ignored = send(mine.get(), "x", 1, 0);
        (void)ignored;  // not reached: SIGPIPE ends the process in send()
      },
      kata::Hint("with the peer closed, send() raises SIGPIPE, whose default "
                 "action terminates the process"));
}

// Tests that MSG_NOSIGNAL turns the same send into an EPIPE error the sender
// survives, without touching the signal's disposition.
TEST(SignalFacts, MsgNosignalTurnsSigpipeIntoEpipe) {
  kata::RunInChild([] {
    signal(SIGPIPE, SIG_DFL);
    auto [mine, theirs] = UnixPair(SOCK_STREAM);
    theirs.Reset();
    const ssize_t sent = send(mine.get(), "x", 1, MSG_NOSIGNAL);
    const int error = errno;
    EXPECT_EQ(sent, -1);
    EXPECT_EQ(error, EPIPE) << std::strerror(error);
  });
}

// Tests that a signal handler installed without SA_RESTART makes a blocked
// accept() fail with EINTR, while SA_RESTART makes the kernel restart it.
TEST(SignalFacts, SignalInterruptsABlockedAcceptUnlessRestarted) {
  for (int flags : {0, SA_RESTART}) {
    kata::SharedText outcome;
    kata::Child waiter([&] {
      struct sigaction action{};
      action.sa_handler = [](int) {};
      sigemptyset(&action.sa_mask);
      action.sa_flags = flags;
      sigaction(SIGUSR1, &action, nullptr);
      ScopedFd listener = TcpListener();
      const int fd = accept(listener.get(), nullptr, nullptr);
      outcome.Store(fd < 0 ? std::strerror(errno) : "accepted");
    });
    ASSERT_TRUE(kata::WaitUntilBlocked(waiter.pid()));
    kill(waiter.pid(), SIGUSR1);
    if (flags == SA_RESTART) {
      std::this_thread::sleep_for(100ms);
      EXPECT_EQ(outcome.Load(), "")
          << "with SA_RESTART, accept() should be restarted and still wait";
      kill(waiter.pid(), SIGKILL);
    } else {
      waiter.Join();
      EXPECT_EQ(outcome.Load(), std::strerror(EINTR))
          << "without SA_RESTART, accept() fails with EINTR";
    }
  }
}

// ============================================================== TcpFacts

// Tests that sin_port is read big-endian: a program that stores the port
// without htons() on a little-endian machine binds the byte-swapped port.
TEST(TcpFacts, PortWithoutHtonsIsAnotherPort) {
  ASSERT_NE(htons(1), 1) << "this fact is about little-endian machines";
  // A port the kernel just said is free; the "intended" port is its mirror.
  // A port whose two bytes are equal (1 in 256, e.g. 0x8D8D) is its own
  // mirror and shows nothing: ask again.
  std::uint16_t free_port = 0;
  for (int attempt = 0; attempt < 64; ++attempt) {
    ScopedFd probe = TcpSocket(true);
    ASSERT_EQ(Bind(probe.get(), Loopback(0)), 0);
    free_port = LocalPort(probe.get());
    if ((free_port >> 8) != (free_port & 0xff)) break;
  }
  ASSERT_NE(free_port >> 8, free_port & 0xff)
      << "the kernel gave 64 ports whose two bytes are equal";
  const std::uint16_t intended = __builtin_bswap16(free_port);
  ScopedFd fd = TcpSocket(true);
  ASSERT_EQ(Bind(fd.get(), Loopback(intended)), 0)  // htons(intended) missed
      << std::strerror(errno);
  EXPECT_EQ(LocalPort(fd.get()), free_port)
      << "the kernel took the two bytes as a big-endian number";
  EXPECT_NE(LocalPort(fd.get()), intended)
      << "so the server is not on the port the program meant";
}

// Tests that binding port 0 makes the kernel pick a free port, which
// getsockname() then reports.
TEST(TcpFacts, PortZeroPicksAFreePort) {
  ScopedFd fd = TcpSocket();
  ASSERT_EQ(Bind(fd.get(), Loopback(0)), 0);
  EXPECT_NE(LocalPort(fd.get()), 0)
      << "getsockname() reports the port the kernel picked";
}

// Tests where TIME_WAIT lands: on the side that closes first (the active
// close), for the connection's own pair of ports.
TEST(TcpFacts, TimeWaitIsOnTheSideThatClosesFirst) {
  for (bool server_closes_first : {true, false}) {
    ScopedFd listener = TcpListener();
    const std::uint16_t server_port = LocalPort(listener.get());
    ScopedFd client = TcpSocket();
    ASSERT_EQ(Connect(client.get(), Loopback(htons(server_port))), 0);
    ScopedFd accepted(accept(listener.get(), nullptr, nullptr));
    const std::uint16_t client_port = LocalPort(client.get());
    ScopedFd& first = server_closes_first ? accepted : client;
    ScopedFd& second = server_closes_first ? client : accepted;
    first.Reset();
    char byte;
    ASSERT_EQ(recv(second.get(), &byte, 1, 0), 0) << "end of stream";
    second.Reset();
    const std::uint16_t closer =
        server_closes_first ? server_port : client_port;
    const std::uint16_t other = server_closes_first ? client_port : server_port;
    EXPECT_TRUE(WaitFor([&] { return TcpState(closer, other) == kTimeWait; }))
        << "the side that closed first should be in TIME_WAIT, state \""
        << TcpState(closer, other) << "\"";
    EXPECT_EQ(TcpState(other, closer), "")
        << "the side that closed second should be gone entirely";
  }
}

// Tests the Linux rule for rebinding a port whose connection sits in
// TIME_WAIT: it works only if both the old and the new socket set
// SO_REUSEADDR.
TEST(TcpFacts, RebindDuringTimeWaitNeedsReuseAddrOnBothSides) {
  for (bool old_reuse : {false, true}) {
    for (bool new_reuse : {false, true}) {
      ScopedFd listener = TcpListener(old_reuse);
      const std::uint16_t port = LocalPort(listener.get());
      ScopedFd client = TcpSocket();
      ASSERT_EQ(Connect(client.get(), Loopback(htons(port))), 0);
      ScopedFd accepted(accept(listener.get(), nullptr, nullptr));
      accepted.Reset();  // the server closes first: TIME_WAIT on its port
      char byte;
      ASSERT_EQ(recv(client.get(), &byte, 1, 0), 0);
      client.Reset();
      listener.Reset();
      ScopedFd restarted = TcpSocket(new_reuse);
      const int result = Bind(restarted.get(), Loopback(htons(port)));
      const int error = errno;
      if (old_reuse && new_reuse) {
        EXPECT_EQ(result, 0)
            << "both set SO_REUSEADDR: " << std::strerror(error);
      } else {
        EXPECT_EQ(result, -1)
            << "SO_REUSEADDR on the old socket " << old_reuse
            << ", on the new one " << new_reuse << ": bind should fail";
        EXPECT_EQ(error, EADDRINUSE) << std::strerror(error);
      }
    }
  }
}

// Tests that SO_REUSEADDR does not let two servers share a port: with a
// listener alive, a second bind fails even though both set it.
TEST(TcpFacts, ReuseAddrDoesNotShareALivePort) {
  ScopedFd live = TcpListener(true);
  ScopedFd second = TcpSocket(true);
  EXPECT_EQ(Bind(second.get(), Loopback(htons(LocalPort(live.get())))), -1);
  EXPECT_EQ(errno, EADDRINUSE) << std::strerror(errno);
}

// Tests that a TCP socket carries no credentials of its peer, while a Unix
// socket tells the peer's pid and uid (SO_PEERCRED).
TEST(TcpFacts, OnlyUnixSocketsKnowTheirPeer) {
  auto [unix_client, unix_server] = UnixPair(SOCK_STREAM);
  ucred peer{};
  socklen_t size = sizeof(peer);
  ASSERT_EQ(
      getsockopt(unix_server.get(), SOL_SOCKET, SO_PEERCRED, &peer, &size), 0);
  EXPECT_EQ(peer.pid, getpid()) << "the process at the other end";
  EXPECT_EQ(peer.uid, getuid());
  auto [tcp_client, tcp_server] = TcpPair();
  ucred none{};
  size = sizeof(none);
  getsockopt(tcp_server.get(), SOL_SOCKET, SO_PEERCRED, &none, &size);
  EXPECT_EQ(none.pid, 0) << "TCP knows an address and a port, not a process";
}

// A TCP listener with a backlog of 0 that already queues one connection
// nobody accepted, so the next SYN goes unanswered (the client sends it
// again about a second later): {listener, the queued client}.
std::pair<ScopedFd, ScopedFd> FullTcpListener() {
  ScopedFd listener = TcpSocket();
  EXPECT_EQ(Bind(listener.get(), Loopback(0)), 0);
  EXPECT_EQ(listen(listener.get(), 0), 0);
  ScopedFd queued = TcpSocket();
  EXPECT_EQ(Connect(queued.get(), Loopback(htons(LocalPort(listener.get())))),
            0)
      << "backlog 0 still queues one connection";
  return {std::move(listener), std::move(queued)};
}

// connect() on `fd` while a child interrupts it with SIGUSR1 (a handler
// without SA_RESTART): returns connect's result, errno kept.
int InterruptedConnect(int fd, const sockaddr_in& address) {
  kata::InterruptingSignal interrupt(SIGUSR1);
  kata::Child signaller([] { kata::InterruptRunnerWhenBlocked(SIGUSR1); });
  const int result = Connect(fd, address);
  const int error = errno;
  signaller.Join();
  errno = error;
  return result;
}

// Tests what a signal does to a TCP connect() whose SYN went unanswered (a
// full backlog drops it): EINTR, and the attempt goes on in the kernel. As
// POSIX says, connect() on a non-blocking socket then fails with EALREADY
// while the attempt is under way; once the listener has room, the SYN sent
// again completes it: poll() reports POLLOUT, SO_ERROR is 0, and connect()
// returns 0 (and EISCONN from then on).
TEST(TcpFacts, InterruptedConnectGoesOn) {
  auto [listener, queued] = FullTcpListener();
  const sockaddr_in address = Loopback(htons(LocalPort(listener.get())));
  ScopedFd client = TcpSocket();
  EXPECT_EQ(InterruptedConnect(client.get(), address), -1);
  EXPECT_EQ(errno, EINTR) << std::strerror(errno);
  ASSERT_EQ(fcntl(client.get(), F_SETFL, O_NONBLOCK), 0);
  EXPECT_EQ(Connect(client.get(), address), -1);
  EXPECT_EQ(errno, EALREADY) << "still under way: " << std::strerror(errno);
  ScopedFd accepted(accept(listener.get(), nullptr, nullptr));  // room now
  pollfd entry{client.get(), POLLOUT, 0};
  EXPECT_EQ(poll(&entry, 1, 3000), 1) << "the SYN is sent again after ~1 s";
  int error = -1;
  socklen_t size = sizeof(error);
  getsockopt(client.get(), SOL_SOCKET, SO_ERROR, &error, &size);
  EXPECT_EQ(error, 0) << std::strerror(error);
  EXPECT_EQ(Connect(client.get(), address), 0)
      << "the attempt has completed: " << std::strerror(errno);
  EXPECT_EQ(Connect(client.get(), address), -1);
  EXPECT_EQ(errno, EISCONN) << "connected: " << std::strerror(errno);
}

// Tests Linux's own answer to a second connect() on a blocking socket after
// EINTR: where POSIX says EALREADY, Linux waits for the attempt under way and
// returns 0 once it completes.
TEST(TcpFacts, BlockingConnectAgainWaitsForTheAttemptOnLinux) {
  auto [listener, queued] = FullTcpListener();
  const sockaddr_in address = Loopback(htons(LocalPort(listener.get())));
  ScopedFd client = TcpSocket();
  EXPECT_EQ(InterruptedConnect(client.get(), address), -1);
  EXPECT_EQ(errno, EINTR) << std::strerror(errno);
  ScopedFd accepted(accept(listener.get(), nullptr, nullptr));  // room now
  EXPECT_EQ(Connect(client.get(), address), 0)
      << "the second connect() waited for the first attempt: "
      << std::strerror(errno);
}

// ============================================================= UnixFacts

// Tests the size of sun_path on Linux: 108 bytes, NUL included.
TEST(UnixFacts, SunPathIs108Bytes) {
  EXPECT_EQ(sizeof(sockaddr_un{}.sun_path), 108u);
  EXPECT_EQ(offsetof(sockaddr_un, sun_path), sizeof(sa_family_t));
}

// Tests that bind() on a path creates a socket file, that the file holds no
// data (it is only a name to meet at), and that close() leaves it behind.
TEST(UnixFacts, BindCreatesASocketFileThatCloseLeaves) {
  ScopedPath path("file");
  struct stat info{};
  {
    ScopedFd server = UnixSocket();
    ASSERT_EQ(BindUnix(server.get(), UnixAddress(path.str())), 0)
        << std::strerror(errno);
    ASSERT_EQ(listen(server.get(), 1), 0);
    ScopedFd client = UnixSocket();
    ASSERT_EQ(ConnectUnix(client.get(), UnixAddress(path.str())), 0);
    ASSERT_EQ(send(client.get(), "queued", 6, 0), 6);
    ASSERT_EQ(lstat(path.c_str(), &info), 0);
    EXPECT_TRUE(S_ISSOCK(info.st_mode)) << "a socket file (type s)";
    EXPECT_EQ(info.st_size, 0)
        << "bytes in flight live in the kernel, never in the file";
  }
  EXPECT_EQ(lstat(path.c_str(), &info), 0)
      << "closing the socket does not remove its file: unlink() does";
}

// Tests a stale socket file: bind fails with EADDRINUSE while it exists,
// connect to it is refused (nobody listens), and after unlink bind works.
TEST(UnixFacts, StaleSocketFileBlocksBindUntilUnlinked) {
  ScopedPath path("stale");
  {
    ScopedFd crashed = UnixSocket();
    ASSERT_EQ(BindUnix(crashed.get(), UnixAddress(path.str())), 0);
    ASSERT_EQ(listen(crashed.get(), 1), 0);
  }  // closed without unlink, as by a server that died
  ScopedFd probe = UnixSocket();
  EXPECT_EQ(ConnectUnix(probe.get(), UnixAddress(path.str())), -1);
  EXPECT_EQ(errno, ECONNREFUSED)
      << "a file nobody listens on refuses connections: "
      << std::strerror(errno);
  ScopedFd restarted = UnixSocket();
  EXPECT_EQ(BindUnix(restarted.get(), UnixAddress(path.str())), -1);
  EXPECT_EQ(errno, EADDRINUSE) << std::strerror(errno);
  ASSERT_EQ(unlink(path.c_str()), 0);
  EXPECT_EQ(BindUnix(restarted.get(), UnixAddress(path.str())), 0)
      << std::strerror(errno);
}

// Tests how a live socket file differs from a stale one: connect() succeeds,
// so a careful server knows not to unlink it.
TEST(UnixFacts, LiveSocketFileAcceptsConnections) {
  ScopedPath path("live");
  ScopedFd live = UnixSocket();
  ASSERT_EQ(BindUnix(live.get(), UnixAddress(path.str())), 0);
  ASSERT_EQ(listen(live.get(), 1), 0);
  ScopedFd probe = UnixSocket(SOCK_NONBLOCK);
  EXPECT_EQ(ConnectUnix(probe.get(), UnixAddress(path.str())), 0)
      << std::strerror(errno);
  ScopedFd second = UnixSocket();
  EXPECT_EQ(BindUnix(second.get(), UnixAddress(path.str())), -1);
  EXPECT_EQ(errno, EADDRINUSE);
}

// Tests that connect() to a path with no socket file fails with ENOENT, and
// to a socket that is bound but not listening with ECONNREFUSED.
TEST(UnixFacts, ConnectNeedsAListeningSocket) {
  ScopedPath path("not-yet");
  ScopedFd client = UnixSocket();
  EXPECT_EQ(ConnectUnix(client.get(), UnixAddress(path.str())), -1);
  EXPECT_EQ(errno, ENOENT) << "no file at all: " << std::strerror(errno);
  ScopedFd bound = UnixSocket();
  ASSERT_EQ(BindUnix(bound.get(), UnixAddress(path.str())), 0);
  EXPECT_EQ(ConnectUnix(client.get(), UnixAddress(path.str())), -1);
  EXPECT_EQ(errno, ECONNREFUSED)
      << "bound but before listen(): " << std::strerror(errno);
}

// Tests the abstract namespace: no file, the name is listed in
// /proc/net/unix with a leading '@', and it is free again once the socket
// closes.
TEST(UnixFacts, AbstractNameHasNoFileAndVanishesOnClose) {
  const std::string name = kata::UniqueName("abstract").substr(1);
  auto listed = [&] {
    std::ifstream table("/proc/net/unix");
    std::string line;
    while (std::getline(table, line)) {
      if (line.size() > name.size() &&
          line.compare(line.size() - name.size() - 1, name.size() + 1,
                       "@" + name) == 0) {
        return true;
      }
    }
    return false;
  };
  {
    ScopedFd server = UnixSocket();
    ASSERT_EQ(BindUnix(server.get(), UnixAddress(name, true)), 0)
        << std::strerror(errno);
    EXPECT_TRUE(listed()) << "/proc/net/unix lists abstract names with '@'";
    struct stat info{};
    EXPECT_NE(lstat(("/" + name).c_str(), &info), 0) << "no file anywhere";
    ScopedFd second = UnixSocket();
    EXPECT_EQ(BindUnix(second.get(), UnixAddress(name, true)), -1)
        << "the name is taken while the socket is open";
  }
  EXPECT_FALSE(listed()) << "closed: the name is gone";
  ScopedFd again = UnixSocket();
  EXPECT_EQ(BindUnix(again.get(), UnixAddress(name, true)), 0)
      << "nothing to unlink: " << std::strerror(errno);
}

// Tests that the length is part of an abstract name: a server that binds
// with sizeof(sockaddr_un) (the name padded with NUL bytes) cannot be
// reached with the exact length, only with the same padded length.
TEST(UnixFacts, AbstractNameLengthIsPartOfTheName) {
  const std::string name = kata::UniqueName("padded").substr(1);
  auto exact = UnixAddress(name, true);
  auto padded = exact;
  padded.second = sizeof(sockaddr_un);
  ScopedFd server = UnixSocket();
  ASSERT_EQ(BindUnix(server.get(), padded), 0) << std::strerror(errno);
  ASSERT_EQ(listen(server.get(), 4), 0);
  ScopedFd exact_client = UnixSocket();
  EXPECT_EQ(ConnectUnix(exact_client.get(), exact), -1);
  EXPECT_EQ(errno, ECONNREFUSED)
      << "the exact-length name is another name: " << std::strerror(errno);
  ScopedFd padded_client = UnixSocket();
  EXPECT_EQ(ConnectUnix(padded_client.get(), padded), 0)
      << std::strerror(errno);
}

// Tests what a signal does to a Unix connect() that waits for room in a full
// backlog: it fails with EINTR and gives the attempt up. The socket is left
// unconnected, and yet poll() reports POLLOUT at once and SO_ERROR is 0, so
// "wait for POLLOUT, read SO_ERROR" alone would take it for connected; a
// second connect() starts the attempt over.
TEST(UnixFacts, InterruptedConnectIsGivenUp) {
  ScopedPath path("interrupted");
  ScopedFd listener = UnixSocket();
  ASSERT_EQ(BindUnix(listener.get(), UnixAddress(path.str())), 0);
  ASSERT_EQ(listen(listener.get(), 0), 0);
  ScopedFd queued = UnixSocket(SOCK_NONBLOCK);
  ASSERT_EQ(ConnectUnix(queued.get(), UnixAddress(path.str())), 0)
      << "backlog 0 still queues one connection";
  kata::InterruptingSignal interrupt(SIGUSR1);
  ScopedFd client = UnixSocket();
  {
    kata::Child signaller([] { kata::InterruptRunnerWhenBlocked(SIGUSR1); });
    EXPECT_EQ(ConnectUnix(client.get(), UnixAddress(path.str())), -1);
    EXPECT_EQ(errno, EINTR) << std::strerror(errno);
    signaller.Join();
  }
  pollfd entry{client.get(), POLLOUT, 0};
  EXPECT_EQ(poll(&entry, 1, 0), 1) << "POLLOUT at once";
  int error = -1;
  socklen_t size = sizeof(error);
  getsockopt(client.get(), SOL_SOCKET, SO_ERROR, &error, &size);
  EXPECT_EQ(error, 0) << "no pending error either";
  EXPECT_EQ(send(client.get(), "x", 1, MSG_NOSIGNAL), -1);
  EXPECT_EQ(errno, ENOTCONN) << "but the socket is not connected";
  ScopedFd accepted(accept(listener.get(), nullptr, nullptr));  // room now
  EXPECT_EQ(ConnectUnix(client.get(), UnixAddress(path.str())), 0)
      << "a second connect() starts over: " << std::strerror(errno);
}

// ========================================================== BacklogFacts

// Tests that the kernel completes connections before the server accepts
// them: three clients connect to a listener that never calls accept().
TEST(BacklogFacts, ConnectSucceedsBeforeAccept) {
  ScopedFd listener = TcpListener();
  std::vector<ScopedFd> clients;
  for (int i = 0; i < 3; ++i) {
    clients.push_back(TcpSocket());
    EXPECT_EQ(Connect(clients.back().get(),
                      Loopback(htons(LocalPort(listener.get())))),
              0)
        << "client " << i << ": " << std::strerror(errno);
  }
  ScopedFd first(accept(listener.get(), nullptr, nullptr));
  EXPECT_GE(first.get(), 0) << "accept() takes a connection from the queue";
}

// Tests that the backlog bounds only the queue of connections not yet
// accepted: with backlog 1, non-blocking Unix connects soon fail with
// EAGAIN, and accepting one makes room for one more.
TEST(BacklogFacts, FullBacklogRefusesMoreUntilAccept) {
  ScopedPath path("backlog");
  ScopedFd listener = UnixSocket();
  ASSERT_EQ(BindUnix(listener.get(), UnixAddress(path.str())), 0);
  ASSERT_EQ(listen(listener.get(), 1), 0);
  std::vector<ScopedFd> clients;
  int queued = 0, error = 0;
  for (int i = 0; i < 16 && error == 0; ++i) {
    clients.push_back(UnixSocket(SOCK_NONBLOCK));
    if (ConnectUnix(clients.back().get(), UnixAddress(path.str())) == 0) {
      ++queued;
    } else {
      error = errno;
    }
  }
  EXPECT_GE(queued, 1);
  EXPECT_EQ(error, EAGAIN) << "once the queue is full a non-blocking connect "
                              "cannot complete; got "
                           << std::strerror(error);
  ScopedFd accepted(accept(listener.get(), nullptr, nullptr));
  ScopedFd late = UnixSocket(SOCK_NONBLOCK);
  EXPECT_EQ(ConnectUnix(late.get(), UnixAddress(path.str())), 0)
      << "accept() made room in the queue: " << std::strerror(errno);
}

// Tests how many connections a backlog of N queues: N + 1 complete on
// Linux, over TCP (the next SYNs go unanswered) and over a Unix socket (the
// next non-blocking connect fails with EAGAIN).
TEST(BacklogFacts, BacklogOfTwoQueuesThreeConnections) {
  ScopedFd tcp = TcpSocket();
  ASSERT_EQ(Bind(tcp.get(), Loopback(0)), 0);
  ASSERT_EQ(listen(tcp.get(), 2), 0);
  const sockaddr_in address = Loopback(htons(LocalPort(tcp.get())));
  std::vector<ScopedFd> clients;
  for (int i = 0; i < 5; ++i) {
    clients.push_back(TcpSocket());
    ASSERT_EQ(fcntl(clients.back().get(), F_SETFL, O_NONBLOCK), 0);
    Connect(clients.back().get(), address);  // EINPROGRESS
  }
  auto completed = [&] {
    int count = 0;
    for (ScopedFd& client : clients) {
      pollfd entry{client.get(), POLLOUT, 0};
      if (poll(&entry, 1, 0) == 1) ++count;
    }
    return count;
  };
  EXPECT_TRUE(WaitFor([&] { return completed() == 3; }));
  std::this_thread::sleep_for(100ms);
  EXPECT_EQ(completed(), 3) << "TCP, backlog 2";
  ScopedPath path("backlog-two");
  ScopedFd unix_listener = UnixSocket();
  ASSERT_EQ(BindUnix(unix_listener.get(), UnixAddress(path.str())), 0);
  ASSERT_EQ(listen(unix_listener.get(), 2), 0);
  std::vector<ScopedFd> unix_clients;
  int queued = 0;
  for (int i = 0; i < 5; ++i) {
    unix_clients.push_back(UnixSocket(SOCK_NONBLOCK));
    if (ConnectUnix(unix_clients.back().get(), UnixAddress(path.str())) == 0) {
      ++queued;
    }
  }
  EXPECT_EQ(queued, 3) << "Unix, backlog 2";
}

// Tests that an over-large backlog is not an error: the kernel caps it at
// net.core.somaxconn (4096 by default since Linux 5.4) without a word.
TEST(BacklogFacts, OversizedBacklogIsSilentlyCapped) {
  std::ifstream somaxconn("/proc/sys/net/core/somaxconn");
  int cap = 0;
  somaxconn >> cap;
  EXPECT_GT(cap, 0) << "net.core.somaxconn";
  ScopedFd fd = TcpSocket();
  ASSERT_EQ(Bind(fd.get(), Loopback(0)), 0);
  EXPECT_EQ(listen(fd.get(), 1 << 20), 0)
      << "a backlog above somaxconn (" << cap << ") is accepted, and capped";
}

// Tests that a client racing ahead of the server is refused: bound but not
// yet listening is ECONNREFUSED, which is why servers report "ready" only
// after listen().
TEST(BacklogFacts, ConnectBeforeListenIsRefused) {
  ScopedFd server = TcpSocket();
  ASSERT_EQ(Bind(server.get(), Loopback(0)), 0);
  ScopedFd client = TcpSocket();
  EXPECT_EQ(Connect(client.get(), Loopback(htons(LocalPort(server.get())))),
            -1);
  EXPECT_EQ(errno, ECONNREFUSED) << std::strerror(errno);
}

// Tests that accept() returns a new socket for the client, while the
// listening socket stays a listener.
TEST(BacklogFacts, AcceptReturnsANewSocket) {
  ScopedFd listener = TcpListener();
  ScopedFd client = TcpSocket();
  ASSERT_EQ(Connect(client.get(), Loopback(htons(LocalPort(listener.get())))),
            0);
  ScopedFd accepted(accept(listener.get(), nullptr, nullptr));
  ASSERT_GE(accepted.get(), 0);
  EXPECT_NE(accepted.get(), listener.get());
  int listening = -1;
  socklen_t size = sizeof(listening);
  getsockopt(listener.get(), SOL_SOCKET, SO_ACCEPTCONN, &listening, &size);
  EXPECT_EQ(listening, 1) << "the listener goes on listening";
  getsockopt(accepted.get(), SOL_SOCKET, SO_ACCEPTCONN, &listening, &size);
  EXPECT_EQ(listening, 0) << "the accepted socket is a connection";
  EXPECT_NE(LocalPort(client.get()), LocalPort(listener.get()));
  EXPECT_EQ(LocalPort(accepted.get()), LocalPort(listener.get()))
      << "the new socket shares the server's port: a connection is named by "
         "both ends' addresses";
}

}  // namespace
