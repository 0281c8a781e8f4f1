// File: sockets/sockets.h
// -----------------------------------------------------------------------------
//
// The sockets kata: one client/server code path for Unix-domain sockets
// (AF_UNIX, a path or an abstract name) and TCP over loopback (AF_INET).
//
// A connected stream socket is a two-way byte stream between two processes,
// like two pipes in one descriptor, but the processes need not be related:
// they meet at an address. A server binds an address, listens, and accepts
// one new socket per client; a client connects to the address. Only the
// address differs between the two families (sockaddr_un with a path, or
// sockaddr_in with a host and a port); everything after connect() and
// accept() is the same code. Each stage of the kata adds one idea:
//
//   Stage 1  ToSocketAddress,       an Endpoint becomes a sockaddr: the port
//            FromSocketAddress      in network byte order, the 108-byte
//                                   sun_path, abstract names
//   Stage 2  Listener, Connect,     one echo round trip: socket, bind, listen,
//            SendAll, ReceiveAll,   accept, connect; every byte across short
//            ShutdownWrite          sends and receives; half-close
//   Stage 3  SendFrame,             many messages on one connection: a stream
//            ReceiveFrame,          keeps no boundaries, so each message
//            ServeConnection        carries its length
//   Stage 4  Serve                  several clients at once, one child process
//                                   per client
//   Stage 5  ServerProcess          the server in its own process, ready
//                                   before Start() returns
//   Stage 6  (Listener again)       restarting a server: TIME_WAIT and
//                                   SO_REUSEADDR, stale socket files
//   Stage 7  (all of it)            clients nobody here wrote: socat, Python
//
// Example:
//
//   using namespace kata::sockets;
//   ServerProcess server = ServerProcess::Start(
//       Endpoint::Tcp("127.0.0.1", 0),   // port 0: the kernel picks one
//       [](std::string_view request) { return std::string(request); });
//   Connection client = Connect(server.endpoint());
//   client.SendFrame("hello");
//   std::optional<std::string> reply = client.ReceiveFrame();  // "hello"
//   client.ShutdownWrite();            // "no more requests"
//   client.ReceiveFrame();             // std::nullopt: the server closed
//   server.Stop();                     // 0: no client had to be cut off
//
// The frame format, shared with any client in any language: a 4-byte
// unsigned length in network byte order (big-endian), then that many bytes.
//
// Errors: a failed system call throws std::system_error whose what() names
// the call and the object (for example "bind(unix:/tmp/echo): Address already
// in use"); bad arguments throw std::invalid_argument; expected outcomes such
// as end of stream are ordinary return values.
//
// The exercise and the solution share this header word for word; only the .cc
// file differs. See exercises/sockets/README.md for the stages and hints.

#ifndef IPC_KATAS_SOCKETS_SOCKETS_H_
#define IPC_KATAS_SOCKETS_SOCKETS_H_

#include <sys/socket.h>
#include <sys/types.h>
#include <unistd.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <ostream>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>

namespace kata::sockets {

// Fd
//
// Owns one file descriptor and closes it when destroyed (given: this is the
// RAII helper every stage uses, not part of the exercise). Move-only.
class [[nodiscard]] Fd {
 public:
  Fd() = default;
  explicit Fd(int fd) noexcept : fd_(fd) {}
  Fd(Fd&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  Fd& operator=(Fd&& other) noexcept {
    if (this != &other) reset(std::exchange(other.fd_, -1));
    return *this;
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() { reset(); }

  int get() const noexcept { return fd_; }
  bool valid() const noexcept { return fd_ >= 0; }
  explicit operator bool() const noexcept { return valid(); }

  // Gives up ownership without closing.
  int release() noexcept { return std::exchange(fd_, -1); }

  // Closes the descriptor now (if any) and owns `fd` instead. The result of
  // close() is ignored: after close() the descriptor is gone either way.
  void reset(int fd = -1) noexcept {
    if (fd_ >= 0) ::close(fd_);
    fd_ = fd;
  }

 private:
  int fd_ = -1;
};

// Endpoint
//
// Where a server listens and a client connects, for either family (given).
//
//   Endpoint::Tcp("127.0.0.1", 8080)    AF_INET: a numeric IPv4 address and
//                                       a port in host byte order; port 0
//                                       asks Listen for any free port
//   Endpoint::UnixPath("/tmp/echo")     AF_UNIX: a socket file at that path
//   Endpoint::UnixAbstract("echo")      AF_UNIX, Linux's abstract namespace:
//                                       a name with no file, which vanishes
//                                       when its last socket closes
struct Endpoint {
  enum class Kind { kTcp, kUnixPath, kUnixAbstract };

  Kind kind = Kind::kTcp;
  // kTcp: the IPv4 address ("127.0.0.1"); kUnixPath: the path;
  // kUnixAbstract: the name, without the leading NUL byte.
  std::string address;
  // kTcp only, in host byte order.
  std::uint16_t port = 0;

  static Endpoint Tcp(std::string host, std::uint16_t port) {
    return Endpoint{Kind::kTcp, std::move(host), port};
  }
  static Endpoint UnixPath(std::string path) {
    return Endpoint{Kind::kUnixPath, std::move(path), 0};
  }
  static Endpoint UnixAbstract(std::string name) {
    return Endpoint{Kind::kUnixAbstract, std::move(name), 0};
  }

  // "tcp:127.0.0.1:8080", "unix:/tmp/echo" or "unix-abstract:echo": how
  // error messages name the endpoint.
  std::string ToString() const {
    switch (kind) {
      case Kind::kTcp:
        return "tcp:" + address + ":" + std::to_string(port);
      case Kind::kUnixPath:
        return "unix:" + address;
      case Kind::kUnixAbstract:
        return "unix-abstract:" + address;
    }
    return "?";
  }

  friend bool operator==(const Endpoint&, const Endpoint&) = default;
  friend std::ostream& operator<<(std::ostream& out, const Endpoint& e) {
    return out << e.ToString();
  }
};

// -------------------------------------------------------------------- Stage 1

// SocketAddress
//
// A socket address of any family plus its length: what bind(), connect() and
// getsockname() take (given). sockaddr_storage is large enough for both
// sockaddr_in and sockaddr_un.
struct SocketAddress {
  sockaddr_storage storage{};
  socklen_t length = 0;

  int family() const { return storage.ss_family; }
  const sockaddr* get() const {
    return reinterpret_cast<const sockaddr*>(&storage);
  }
  sockaddr* get() { return reinterpret_cast<sockaddr*>(&storage); }
};

// ToSocketAddress()
//
// Builds the socket address of `endpoint`:
//
//   kTcp          a sockaddr_in: AF_INET, the address from inet_pton(3), and
//                 the port in network byte order (htons: the kernel reads
//                 the two bytes big-endian). length is sizeof(sockaddr_in).
//   kUnixPath     a sockaddr_un: AF_UNIX, the path with its terminating NUL
//                 inside sun_path (108 bytes on Linux, so at most 107
//                 characters). length is offsetof(sockaddr_un, sun_path) +
//                 path size + 1.
//   kUnixAbstract a sockaddr_un whose sun_path starts with a NUL byte,
//                 followed by the name and no terminator. length is
//                 offsetof(sockaddr_un, sun_path) + 1 + name size exactly:
//                 the kernel takes every byte that length covers as part of
//                 the name, so a longer length names a different socket.
//
// Throws std::invalid_argument if the host is not a numeric IPv4 address, if
// the path or name is empty, or if it does not fit in sun_path (never
// silently cut short: two programs that cut differently would never meet);
// the message then says how many bytes fit (107).
SocketAddress ToSocketAddress(const Endpoint& endpoint);

// FromSocketAddress()
//
// The endpoint a socket address names: the inverse of ToSocketAddress, used
// to read what getsockname(2) reports (for example the port the kernel chose
// for port 0, converted back with ntohs). A Unix address is abstract when
// sun_path starts with a NUL byte; its name is the rest of the bytes that
// `length` covers (none: an empty name). An address whose `length` covers no
// byte of sun_path names an unnamed socket (a client that never bound, as
// getpeername reports it): a kUnixPath endpoint with an empty path. Throws
// std::invalid_argument for another family.
Endpoint FromSocketAddress(const SocketAddress& address);

// -------------------------------------------------------------------- Stage 2

// The largest frame payload ReceiveFrame accepts and SendFrame sends, unless
// told otherwise. A peer's length prefix is only a claim: checking it before
// allocating is what stops a hostile "4 GiB follows" from exhausting memory.
inline constexpr std::size_t kMaxFrameSize = std::size_t{16} << 20;  // 16 MiB

// A received frame was cut short: the peer closed in the middle of it.
class FrameError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// A received frame announced more bytes than the receiver allows.
class FrameTooLarge : public FrameError {
 public:
  using FrameError::FrameError;
};

// Connection
//
// One connected stream socket, from Connect() or Listener::Accept(). Owns
// its descriptor (close-on-exec) and closes it when destroyed. Move-only.
class Connection {
 public:
  Connection() = default;
  // Takes ownership of a connected stream socket.
  explicit Connection(Fd fd) noexcept : fd_(std::move(fd)) {}

  int fd() const noexcept { return fd_.get(); }
  bool is_open() const noexcept { return fd_.valid(); }
  // Closes the socket; the peer then reads end of stream (given).
  void Close() noexcept { fd_.reset(); }

  // SendAll()
  //
  // Sends every byte of `data`. send(2) may send fewer bytes than asked (a
  // short send: the socket buffer filled, or a signal interrupted it after
  // some bytes went out) or fail with EINTR; both are continued until all
  // bytes are out. On a non-blocking socket, EAGAIN waits (poll) until the
  // socket is writable again.
  //
  // Never kills the process with SIGPIPE: every send passes MSG_NOSIGNAL, so
  // a peer that has gone is a std::system_error with code EPIPE (or
  // ECONNRESET) naming "send".
  void SendAll(std::string_view data);

  // ReceiveAll()
  //
  // Receives until the peer closes its sending side (recv(2) returns 0: end
  // of stream) and returns everything received. A short receive is just "some
  // bytes, maybe more later"; EINTR is retried. Throws std::system_error
  // naming "recv" on failure.
  std::string ReceiveAll();

  // ShutdownWrite()
  //
  // Half-close: shutdown(SHUT_WR). The peer reads end of stream after the
  // bytes already sent, while this side can still receive its answer.
  // close() could not do that: it ends both directions. Throws
  // std::system_error naming "shutdown".
  void ShutdownWrite();

  // ------------------------------------------------------------------ Stage 3

  // SendFrame()
  //
  // Sends one frame: the payload's size as a 4-byte big-endian unsigned
  // integer, then the payload, all of it, across short sends as SendAll
  // does. Header and payload go out in one send where possible: a small send
  // followed by another meets TCP's Nagle algorithm and the peer's delayed
  // ACK: a stall of 40 ms or more.
  //
  // Throws std::length_error if the payload is larger than kMaxFrameSize
  // (nothing is sent), and std::system_error naming the send call if it
  // fails, as SendAll does.
  void SendFrame(std::string_view payload);

  // ReceiveFrame()
  //
  // Receives one frame and returns its payload. A stream keeps no message
  // boundaries: one recv() may return part of a frame or several frames, so
  // exactly 4 header bytes are read first, then exactly that many payload
  // bytes, each across as many receives as it takes.
  //
  // Returns std::nullopt if the peer closed cleanly between two frames. A
  // peer that half-closes (shutdown(SHUT_WR)) ends one direction only: this
  // side reads std::nullopt and may go on sending for as long as the peer
  // reads.
  // Throws FrameTooLarge if the header announces more than `max_size` bytes
  // (before allocating or reading them), FrameError if the stream ends inside
  // a frame, and std::system_error naming "recv" if a receive fails.
  std::optional<std::string> ReceiveFrame(std::size_t max_size = kMaxFrameSize);

  // ReceiveFrame(buffer)
  //
  // The same, into the caller's buffer, which a loop can reuse for every
  // frame: no allocation per frame. Returns the payload's size (its bytes are
  // buffer[0 .. size), nothing beyond is written), or std::nullopt if the
  // peer closed cleanly between two frames. Throws FrameTooLarge if the
  // header announces more than buffer.size() bytes (before reading them), and
  // otherwise what ReceiveFrame() throws.
  std::optional<std::size_t> ReceiveFrame(std::span<char> buffer);

 private:
  Fd fd_;
};

// Connect()
//
// Connects a new stream socket (close-on-exec) to `endpoint` and returns the
// connection. A TCP connection gets TCP_NODELAY: without it, Nagle's
// algorithm holds back a small send while an earlier one is unacknowledged,
// and the peer delays its ACK (40 ms or more) when it has nothing to send, so
// frames answered back to back would stall.
//
// A signal that interrupts connect() (EINTR) does not abandon a TCP attempt:
// it goes on in the kernel. POSIX says that connect() again fails with
// EALREADY until the attempt completes (Linux does so on a non-blocking
// socket; on a blocking one it waits for the attempt), so wait for the
// outcome the portable way: poll for POLLOUT, then getsockopt(SO_ERROR) (the
// attempt's error, or 0), then call connect() again, which returns 0 or
// fails with EISCONN once the attempt has completed. (A Unix socket
// interrupted while the listener's backlog is full gives its attempt up:
// POLLOUT comes at once, and the second connect() starts it anew.)
//
// Throws std::invalid_argument for a malformed endpoint (ToSocketAddress) and
// std::system_error naming "connect(<endpoint>)" when nobody listens there
// (ECONNREFUSED, or ENOENT for a Unix path with no socket file).
Connection Connect(const Endpoint& endpoint);

// The listen(2) backlog Listener::Listen uses unless told otherwise: how many
// connections the kernel completes and queues before accept() takes them. It
// is not a limit on clients. Linux silently caps it at net.core.somaxconn.
inline constexpr int kDefaultBacklog = 128;

// Listener
//
// A listening stream socket bound to an endpoint. Move-only.
//
// Who removes the socket file: for a kUnixPath endpoint, the process that
// called Listen() (the owner) unlinks the path when it closes the listener
// (Close() or the destructor). A forked child that closes its inherited copy
// leaves the file alone, because the owner is still serving there. Abstract
// names and TCP ports need no removal: the kernel frees them with the socket.
class Listener {
 public:
  // Listen()
  //
  // Creates a stream socket (close-on-exec), binds it to `endpoint` and
  // listens with `backlog`:
  //
  //   * TCP sets SO_REUSEADDR before bind, so a restarted server can bind its
  //     port while connections of its previous run sit in TIME_WAIT.
  //   * TCP port 0 lets the kernel pick a free port; endpoint() then reports
  //     the one it picked (getsockname).
  //   * A Unix path where a socket file already exists: if nobody listens
  //     there any more (a connect attempt is refused: a server died without
  //     unlinking), the stale file is removed and bind is tried again. A live
  //     server's file is never removed: that is EADDRINUSE.
  //
  // Throws std::invalid_argument for a malformed endpoint (ToSocketAddress),
  // and std::system_error naming the call and the endpoint otherwise, for
  // example "bind(tcp:127.0.0.1:8080): Address already in use".
  static Listener Listen(const Endpoint& endpoint,
                         int backlog = kDefaultBacklog);

  Listener() = default;
  Listener(Listener&& other) noexcept
      : fd_(std::move(other.fd_)),
        endpoint_(std::move(other.endpoint_)),
        owner_(std::exchange(other.owner_, 0)) {}
  Listener& operator=(Listener&&) = delete;
  Listener(const Listener&) = delete;
  Listener& operator=(const Listener&) = delete;
  // Close(); never throws.
  ~Listener();

  int fd() const noexcept { return fd_.get(); }
  bool is_open() const noexcept { return fd_.valid(); }
  // The endpoint really bound: for TCP port 0, the port the kernel chose.
  const Endpoint& endpoint() const noexcept { return endpoint_; }

  // Accept()
  //
  // Waits for the next client and returns its connection: a new socket
  // (close-on-exec; TCP_NODELAY for TCP, see Connect) for that one client,
  // while the listener goes on listening. Retries EINTR and the errors Linux
  // reports for a connection
  // that failed before it was accepted (ECONNABORTED and the network errors
  // listed in accept(2)). Throws std::system_error naming "accept".
  Connection Accept();

  // Close()
  //
  // Closes the listening socket; in the owner process, also unlinks a
  // kUnixPath endpoint's socket file. Does nothing if already closed. Never
  // throws (a failed unlink is ignored: the file may already be gone).
  void Close() noexcept;

 private:
  Listener(Fd fd, Endpoint endpoint, pid_t owner) noexcept
      : fd_(std::move(fd)), endpoint_(std::move(endpoint)), owner_(owner) {}

  Fd fd_;
  Endpoint endpoint_;
  pid_t owner_ = 0;  // the process that bound the address
};

// -------------------------------------------------------------------- Stage 3

// What a server does with each request frame: returns the reply frame. It
// runs in the process that serves the client (Stage 4: a child per client).
using Handler = std::function<std::string(std::string_view request)>;

// ServeConnection()
//
// Serves one client: receives frames until the client closes its sending
// side, answers each with a frame holding handler(request), then closes the
// connection (so the client reads end of stream after the last reply).
// Replies go out in request order. A client that half-closes right after
// its requests, before reading any reply, still gets every reply.
//
// Throws what ReceiveFrame, SendFrame and `handler` throw; the connection is
// closed then too. (A client that closes altogether before its replies are
// out makes SendFrame fail with EPIPE or ECONNRESET.)
void ServeConnection(Connection& connection, const Handler& handler);

// -------------------------------------------------------------------- Stage 4

// Serve()
//
// Accepts clients on `listener` until asked to stop on `stop_fd`, serving
// each client in its own forked child process with ServeConnection, so a
// slow client never holds up the others. After a fork:
//
//   * the child closes its copy of the listening socket (Close(): not the
//     owner, so the socket file stays), serves its one client and ends with
//     _exit(): 0 on success, 1 if serving threw, after writing one line to
//     standard error that names why the client was dropped:
//     "Serve: pid <the child's pid>: <what() of the exception>";
//   * the parent closes its copy of the client's socket at once: otherwise
//     the client never reads end of stream, and the server runs out of
//     descriptors after enough clients;
//   * the parent reaps finished children (waitpid with WNOHANG) as it goes,
//     so no zombies pile up; while no child is serving it sleeps in poll()
//     until something happens, with no timeout to wake it.
//
// Every fork is preceded by fflush(nullptr): output the caller had buffered
// in stdio must not be written a second time by a child.
//
// Stopping takes two steps on `stop_fd` (a pipe or a socket):
//
//   1. When `stop_fd` first becomes readable (Serve reads one byte, or end
//      of file), Serve stops accepting: it closes `listener` at once (its
//      Close(); in the owner a socket file goes too), so that new clients
//      are refused rather than queued where nobody will accept them. Then it
//      waits for the children still serving: their clients may finish.
//   2. If `stop_fd` becomes readable again while it waits (a second byte, or
//      end of file), Serve cuts off the rest: it ends each child still
//      serving with SIGKILL (the kernel then closes its connection, and its
//      client reads end of stream, or ECONNRESET if it had sent bytes the
//      child never read) and reaps it.
//
// End of file at step 1 means both steps at once: whoever could have said
// "now" is gone. Returns how many children step 2 cut off (0 when every
// client left in time). The stop works while other processes hold copies of
// the writing end of `stop_fd` (then only a byte can reach Serve).
//
// A signal that interrupts a wait or accept() (EINTR, for example from a
// SIGCHLD handler installed without SA_RESTART) is not an error. Throws
// std::system_error if a call other than a client's own fails, after ending
// the children still serving (SIGKILL) and reaping them.
int Serve(Listener& listener, const Handler& handler, int stop_fd);

// -------------------------------------------------------------------- Stage 5

// How long ServerProcess::Stop lets the clients still connected finish
// before it cuts them off, unless told otherwise.
inline constexpr std::chrono::milliseconds kDefaultStopDeadline =
    std::chrono::seconds(3);

// ServerProcess
//
// An echo-style server running Serve() in a process of its own. Move-only.
class ServerProcess {
 public:
  // Start()
  //
  // Forks a server process that calls Listener::Listen(endpoint), tells the
  // caller through a pipe that it is listening (or why it could not), then
  // runs Serve(listener, handler, ...) until Stop() (Serve closes the
  // listener as its owner, removing a socket file), sends Stop() the number
  // Serve returned, and ends with _exit(0); a server process that fails ends
  // with _exit(1).
  //
  // Returns only once the server listens, so a client may connect at once:
  // no sleep, no retry loop. Errors travel back: a bind that fails in the
  // server process throws the same std::system_error here (for example
  // EADDRINUSE naming "bind"), with the server process already reaped.
  // Throws std::invalid_argument for a malformed endpoint before forking, and
  // std::system_error if a call in the caller fails (pipe2, socketpair, fork,
  // read); nothing is left behind then either. A server process that ends
  // without a report (it could not write it, say) is reaped, and Start throws
  // std::runtime_error saying it ended before it listened: no call of the
  // caller failed then, and the server process must not serve unseen.
  static ServerProcess Start(const Endpoint& endpoint, const Handler& handler);

  ServerProcess() = default;
  ServerProcess(ServerProcess&& other) noexcept
      : pid_(std::exchange(other.pid_, -1)),
        stop_(std::move(other.stop_)),
        endpoint_(std::move(other.endpoint_)) {}
  ServerProcess& operator=(ServerProcess&&) = delete;
  ServerProcess(const ServerProcess&) = delete;
  ServerProcess& operator=(const ServerProcess&) = delete;
  // Stop() with kDefaultStopDeadline, ignoring its errors; never throws.
  ~ServerProcess();

  // The server process's pid, or -1 once stopped.
  pid_t pid() const noexcept { return pid_; }
  // Where the server listens: for TCP port 0, the port it really got.
  const Endpoint& endpoint() const noexcept { return endpoint_; }

  // Stop()
  //
  // Stops the server within `deadline`, in Serve's two steps, over the stop
  // channel (a socketpair; every send with MSG_NOSIGNAL, so that a server
  // that already died cannot kill the caller with SIGPIPE):
  //
  //   1. one byte: the server stops accepting (its listener closes, a socket
  //      file with it) and lets the clients still connected finish;
  //   2. if the server has not reported back within `deadline`, a second
  //      byte: it cuts off the clients still connected and reaps their
  //      processes (Serve's step 2).
  //
  // Then it reaps the server process and returns how many clients were cut
  // off (the number the server sends back; 0 if every client left in time).
  // Bytes, not a close: other children of the caller may hold copies of the
  // caller's end of the channel, and a close would not reach the server.
  //
  // The wait in step 1 ends when `deadline` has passed since the call began,
  // not later, however often a signal interrupts it (EINTR: wait for the
  // rest of the deadline, not for a new one), and not earlier; a deadline
  // of zero or less has passed already (step 2 follows at once). Does
  // nothing and returns 0 if already stopped. Throws std::runtime_error if the
  // server did not end with exit code 0; its message says which exit code,
  // or which signal killed it.
  int Stop(std::chrono::milliseconds deadline = kDefaultStopDeadline);

 private:
  ServerProcess(pid_t pid, Fd stop, Endpoint endpoint) noexcept
      : pid_(pid), stop_(std::move(stop)), endpoint_(std::move(endpoint)) {}

  pid_t pid_ = -1;
  Fd stop_;  // our end of the stop channel
  Endpoint endpoint_;
};

}  // namespace kata::sockets

#endif  // IPC_KATAS_SOCKETS_SOCKETS_H_
