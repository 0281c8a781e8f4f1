// Reference solution of the sockets kata. See sockets.h for each contract and
// exercises/sockets/README.md for the stages.

#include "sockets/sockets.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <iterator>
#include <stdexcept>
#include <string>
#include <system_error>
#include <vector>

namespace kata::sockets {
namespace {

[[noreturn]] void ThrowErrno(const std::string& call, int error = errno) {
  throw std::system_error(error, std::generic_category(), call);
}

// The one place that retries EINTR: runs `call` until it does not fail with
// EINTR and returns its result (-1 with errno set for any other failure).
template <typename Call>
auto RetryOnEintr(Call call) {
  for (;;) {
    auto result = call();
    if (result >= 0 || errno != EINTR) return result;
  }
}

// Blocks until `fd` is ready for `events` (POLLIN or POLLOUT). A hang-up or
// error also ends the wait: the next call on the socket reports it.
void WaitFor(int fd, short events, const char* call) {
  pollfd entry{fd, events, 0};
  if (RetryOnEintr([&] { return poll(&entry, 1, -1); }) < 0) ThrowErrno(call);
}

std::string SocketName(int fd) { return "socket fd " + std::to_string(fd); }

// The offset of sun_path in sockaddr_un: Unix address lengths count from it.
constexpr socklen_t kSunPathOffset = offsetof(sockaddr_un, sun_path);
constexpr std::size_t kSunPathSize = sizeof(sockaddr_un{}.sun_path);

// Receives exactly `size` bytes into `buffer`, across as many recv() calls as
// it takes. Returns how many arrived before end of stream (`size` unless the
// peer closed first).
std::size_t ReceiveExactly(int fd, char* buffer, std::size_t size) {
  std::size_t got = 0;
  while (got < size) {
    ssize_t n =
        RetryOnEintr([&] { return recv(fd, buffer + got, size - got, 0); });
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      WaitFor(fd, POLLIN, "poll(recv)");
      continue;
    }
    if (n < 0) ThrowErrno("recv(" + SocketName(fd) + ")");
    if (n == 0) break;  // end of stream
    got += static_cast<std::size_t>(n);
  }
  return got;
}

// Receives a frame's 4-byte header and returns the payload size it
// announces, or std::nullopt at a clean end of stream before the header.
// Throws FrameError for a header cut short, FrameTooLarge for a size above
// `max_size`: the claim is checked before anything is allocated or read.
std::optional<std::size_t> ReceiveFrameHeader(int fd, std::size_t max_size) {
  std::uint32_t length = 0;
  char* header = reinterpret_cast<char*>(&length);
  const std::size_t got = ReceiveExactly(fd, header, sizeof(length));
  if (got == 0) return std::nullopt;  // closed cleanly between frames
  if (got < sizeof(length)) {
    throw FrameError("ReceiveFrame: the stream ended after " +
                     std::to_string(got) + " of 4 header bytes");
  }
  const std::size_t size = ntohl(length);
  // Check the claim before believing it with an allocation.
  if (size > max_size) {
    throw FrameTooLarge("ReceiveFrame: the peer announced a frame of " +
                        std::to_string(size) + " bytes; the limit is " +
                        std::to_string(max_size));
  }
  return size;
}

// Receives exactly `size` payload bytes into `payload`; throws FrameError if
// the stream ends first.
void ReceiveFramePayload(int fd, char* payload, std::size_t size) {
  const std::size_t got = ReceiveExactly(fd, payload, size);
  if (got < size) {
    throw FrameError("ReceiveFrame: the stream ended after " +
                     std::to_string(got) + " of " + std::to_string(size) +
                     " payload bytes");
  }
}

// Moves `message`'s parts past the first `sent` bytes, after a short
// sendmsg: whole parts are dropped, a part sent in part starts later.
void SkipSent(msghdr& message, std::size_t sent) {
  while (message.msg_iovlen > 0 && sent >= message.msg_iov->iov_len) {
    sent -= message.msg_iov->iov_len;
    ++message.msg_iov;
    --message.msg_iovlen;
  }
  if (message.msg_iovlen > 0) {
    message.msg_iov->iov_base =
        static_cast<char*>(message.msg_iov->iov_base) + sent;
    message.msg_iov->iov_len -= sent;
  }
}

// Forks, flushing stdio first so that buffered output is not written twice.
pid_t ForkOrThrow() {
  std::fflush(nullptr);
  pid_t pid = fork();
  if (pid < 0) ThrowErrno("fork");
  return pid;
}

// waitpid() retried on EINTR; returns the raw status.
int WaitForExit(pid_t pid) {
  int status = 0;
  if (RetryOnEintr([&] { return waitpid(pid, &status, 0); }) < 0) {
    ThrowErrno("waitpid(" + std::to_string(pid) + ")");
  }
  return status;
}

// Whether `path` is a socket file that nobody listens on any more: a server
// died without unlinking it. Only ECONNREFUSED says so; success or EAGAIN
// (a full backlog) means a live server, anything else means "not sure".
// Between this check and the unlink another server could take the path: the
// window is small, and a lock file would close it where that matters.
bool IsStaleSocketFile(const std::string& path, const SocketAddress& address) {
  struct stat info{};
  if (lstat(path.c_str(), &info) != 0 || !S_ISSOCK(info.st_mode)) return false;
  Fd probe(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (!probe) return false;
  int result = RetryOnEintr(
      [&] { return connect(probe.get(), address.get(), address.length); });
  return result < 0 && errno == ECONNREFUSED;
}

// Turns off Nagle's algorithm on a TCP socket (see Connect in the header).
void SendSmallFramesAtOnce(int fd, const std::string& what) {
  const int on = 1;
  if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on)) != 0) {
    ThrowErrno("setsockopt(TCP_NODELAY)" + what);
  }
}

// Errors accept(2) may report for one failed connection rather than for the
// listener: retry them.
bool IsTransientAcceptError(int error) {
  switch (error) {
    case EINTR:
    case ECONNABORTED:
    case EPROTO:
    case ENOPROTOOPT:
    case EHOSTDOWN:
    case ENONET:
    case EHOSTUNREACH:
    case EOPNOTSUPP:
    case ENETUNREACH:
    case ENETDOWN:
      return true;
    default:
      return false;
  }
}

}  // namespace

// ---------------------------------------------------------------- Stage 1

SocketAddress ToSocketAddress(const Endpoint& endpoint) {
  SocketAddress result;
  if (endpoint.kind == Endpoint::Kind::kTcp) {
    auto* in = reinterpret_cast<sockaddr_in*>(&result.storage);
    in->sin_family = AF_INET;
    if (inet_pton(AF_INET, endpoint.address.c_str(), &in->sin_addr) != 1) {
      throw std::invalid_argument("ToSocketAddress: \"" + endpoint.address +
                                  "\" is not a numeric IPv4 address");
    }
    in->sin_port = htons(endpoint.port);  // the kernel reads it big-endian
    result.length = sizeof(sockaddr_in);
    return result;
  }
  auto* un = reinterpret_cast<sockaddr_un*>(&result.storage);
  un->sun_family = AF_UNIX;
  const std::string& name = endpoint.address;
  if (name.empty()) {
    throw std::invalid_argument("ToSocketAddress: empty Unix socket name (" +
                                endpoint.ToString() + ")");
  }
  // A path needs room for its NUL terminator; an abstract name for the
  // leading NUL byte. Either way at most kSunPathSize - 1 characters.
  if (name.size() > kSunPathSize - 1) {
    throw std::invalid_argument(
        "ToSocketAddress: " + endpoint.ToString() + " is " +
        std::to_string(name.size()) + " bytes; sun_path holds " +
        std::to_string(kSunPathSize) + " bytes, so at most " +
        std::to_string(kSunPathSize - 1) + " fit");
  }
  if (endpoint.kind == Endpoint::Kind::kUnixPath) {
    std::memcpy(un->sun_path, name.data(), name.size());
    un->sun_path[name.size()] = '\0';
    result.length = kSunPathOffset + static_cast<socklen_t>(name.size()) + 1;
  } else {
    un->sun_path[0] = '\0';  // the abstract namespace
    std::memcpy(un->sun_path + 1, name.data(), name.size());
    // Exactly the name's bytes: the length is part of the name.
    result.length = kSunPathOffset + 1 + static_cast<socklen_t>(name.size());
  }
  return result;
}

Endpoint FromSocketAddress(const SocketAddress& address) {
  if (address.family() == AF_INET) {
    const auto* in = reinterpret_cast<const sockaddr_in*>(&address.storage);
    char text[INET_ADDRSTRLEN] = {};
    inet_ntop(AF_INET, &in->sin_addr, text, sizeof(text));
    return Endpoint::Tcp(text, ntohs(in->sin_port));
  }
  if (address.family() != AF_UNIX) {
    throw std::invalid_argument("FromSocketAddress: address family " +
                                std::to_string(address.family()) +
                                " is neither AF_INET nor AF_UNIX");
  }
  const auto* un = reinterpret_cast<const sockaddr_un*>(&address.storage);
  std::size_t bytes =
      address.length > kSunPathOffset ? address.length - kSunPathOffset : 0;
  bytes = std::min(bytes, kSunPathSize);
  if (bytes > 0 && un->sun_path[0] == '\0') {
    return Endpoint::UnixAbstract(std::string(un->sun_path + 1, bytes - 1));
  }
  return Endpoint::UnixPath(
      std::string(un->sun_path, strnlen(un->sun_path, bytes)));
}

// ---------------------------------------------------------------- Stage 2

void Connection::SendAll(std::string_view data) {
  while (!data.empty()) {
    // MSG_NOSIGNAL: a peer that has gone is EPIPE, not death by SIGPIPE.
    ssize_t sent = RetryOnEintr(
        [&] { return send(fd(), data.data(), data.size(), MSG_NOSIGNAL); });
    if (sent < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      WaitFor(fd(), POLLOUT, "poll(send)");
      continue;
    }
    if (sent < 0) ThrowErrno("send(" + SocketName(fd()) + ")");
    data.remove_prefix(static_cast<std::size_t>(sent));  // a short send
  }
}

std::string Connection::ReceiveAll() {
  std::string data;
  char buffer[64 * 1024];
  for (;;) {
    std::size_t n = ReceiveExactly(fd(), buffer, sizeof(buffer));
    data.append(buffer, n);
    if (n < sizeof(buffer)) return data;  // end of stream came first
  }
}

void Connection::ShutdownWrite() {
  if (shutdown(fd(), SHUT_WR) != 0) {
    ThrowErrno("shutdown(" + SocketName(fd()) + ", SHUT_WR)");
  }
}

Connection Connect(const Endpoint& endpoint) {
  const SocketAddress address = ToSocketAddress(endpoint);
  const std::string what = "(" + endpoint.ToString() + ")";
  Fd fd(socket(address.family(), SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd) ThrowErrno("socket" + what);
  while (connect(fd.get(), address.get(), address.length) != 0) {
    // EISCONN: an attempt that a signal interrupted has completed since.
    if (errno == EISCONN) break;
    if (errno != EINTR && errno != EALREADY) ThrowErrno("connect" + what);
    // Interrupted: a TCP attempt goes on in the kernel, so wait for its
    // outcome (POSIX has connect() fail with EALREADY meanwhile).
    WaitFor(fd.get(), POLLOUT, "poll(connect)");
    int error = 0;
    socklen_t size = sizeof(error);
    if (getsockopt(fd.get(), SOL_SOCKET, SO_ERROR, &error, &size) != 0) {
      ThrowErrno("getsockopt(SO_ERROR)" + what);
    }
    if (error != 0) ThrowErrno("connect" + what, error);
    // Then ask again: 0 or EISCONN once the attempt has completed. A Unix
    // socket waiting for room in a full backlog gives its attempt up
    // instead, and this connect() starts it anew.
  }
  if (endpoint.kind == Endpoint::Kind::kTcp)
    SendSmallFramesAtOnce(fd.get(), what);
  return Connection(std::move(fd));
}

Listener Listener::Listen(const Endpoint& endpoint, int backlog) {
  const SocketAddress address = ToSocketAddress(endpoint);
  const std::string what = "(" + endpoint.ToString() + ")";
  Fd fd(socket(address.family(), SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd) ThrowErrno("socket" + what);
  if (endpoint.kind == Endpoint::Kind::kTcp) {
    // Without it, bind fails with EADDRINUSE for as long as (60 s on Linux)
    // a connection of a previous server on this port is in TIME_WAIT.
    const int on = 1;
    if (setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on)) != 0) {
      ThrowErrno("setsockopt(SO_REUSEADDR)" + what);
    }
  }
  if (bind(fd.get(), address.get(), address.length) != 0) {
    int error = errno;
    // A socket file outlives its server: replace it only if nobody answers.
    if (error == EADDRINUSE && endpoint.kind == Endpoint::Kind::kUnixPath &&
        IsStaleSocketFile(endpoint.address, address) &&
        unlink(endpoint.address.c_str()) == 0 &&
        bind(fd.get(), address.get(), address.length) == 0) {
      error = 0;
    }
    if (error != 0) ThrowErrno("bind" + what, error);
  }
  // From here on the socket file is ours: remove it if listen() fails.
  Listener listener(std::move(fd), endpoint, getpid());
  if (listen(listener.fd(), backlog) != 0) ThrowErrno("listen" + what);
  SocketAddress bound;
  bound.length = sizeof(bound.storage);
  if (getsockname(listener.fd(), bound.get(), &bound.length) != 0) {
    ThrowErrno("getsockname" + what);
  }
  listener.endpoint_ = FromSocketAddress(bound);
  return listener;
}

Listener::~Listener() { Close(); }

Connection Listener::Accept() {
  for (;;) {
    Fd fd(accept4(fd_.get(), nullptr, nullptr, SOCK_CLOEXEC));
    if (fd) {
      if (endpoint_.kind == Endpoint::Kind::kTcp) {
        SendSmallFramesAtOnce(fd.get(), "(" + endpoint_.ToString() + ")");
      }
      return Connection(std::move(fd));
    }
    if (!IsTransientAcceptError(errno)) {
      ThrowErrno("accept(" + endpoint_.ToString() + ")");
    }
  }
}

void Listener::Close() noexcept {
  if (!fd_) return;
  fd_.reset();
  // Only the process that bound the path removes it: a forked child closing
  // its inherited copy must not pull the name from under the live server.
  if (endpoint_.kind == Endpoint::Kind::kUnixPath && owner_ == getpid()) {
    unlink(endpoint_.address.c_str());
  }
}

// ---------------------------------------------------------------- Stage 3

void Connection::SendFrame(std::string_view payload) {
  if (payload.size() > kMaxFrameSize) {
    throw std::length_error("SendFrame: " + std::to_string(payload.size()) +
                            " bytes is more than kMaxFrameSize (" +
                            std::to_string(kMaxFrameSize) + ")");
  }
  std::uint32_t length = htonl(static_cast<std::uint32_t>(payload.size()));
  // Header and payload gathered into one sendmsg: one system call, one TCP
  // segment for a small frame (see the header on Nagle and delayed ACKs),
  // and no copy of the payload into a buffer of its own first.
  iovec parts[] = {{.iov_base = &length, .iov_len = sizeof(length)},
                   {.iov_base = const_cast<char*>(payload.data()),
                    .iov_len = payload.size()}};
  msghdr message{};
  message.msg_iov = parts;
  message.msg_iovlen = std::size(parts);
  std::size_t left = sizeof(length) + payload.size();
  while (left > 0) {
    // MSG_NOSIGNAL: a peer that has gone is EPIPE, not death by SIGPIPE.
    ssize_t sent =
        RetryOnEintr([&] { return sendmsg(fd(), &message, MSG_NOSIGNAL); });
    if (sent < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      WaitFor(fd(), POLLOUT, "poll(sendmsg)");
      continue;
    }
    if (sent < 0) ThrowErrno("sendmsg(" + SocketName(fd()) + ")");
    left -= static_cast<std::size_t>(sent);
    SkipSent(message, static_cast<std::size_t>(sent));  // a short send
  }
}

std::optional<std::string> Connection::ReceiveFrame(std::size_t max_size) {
  std::optional<std::size_t> size = ReceiveFrameHeader(fd(), max_size);
  if (!size) return std::nullopt;
  std::string payload(*size, '\0');
  ReceiveFramePayload(fd(), payload.data(), *size);
  return payload;
}

std::optional<std::size_t> Connection::ReceiveFrame(std::span<char> buffer) {
  std::optional<std::size_t> size = ReceiveFrameHeader(fd(), buffer.size());
  if (size) ReceiveFramePayload(fd(), buffer.data(), *size);
  return size;
}

void ServeConnection(Connection& connection, const Handler& handler) {
  try {
    while (std::optional<std::string> request = connection.ReceiveFrame()) {
      connection.SendFrame(handler(*request));
    }
  } catch (...) {
    connection.Close();  // the client must not wait for a reply that won't come
    throw;
  }
  connection.Close();  // the client now reads end of stream
}

// ---------------------------------------------------------------- Stage 4

namespace {

// Reaps the children in `serving` that have ended, without waiting.
void ReapFinished(std::vector<pid_t>& serving) {
  std::erase_if(serving, [](pid_t pid) {
    int status = 0;
    return RetryOnEintr([&] { return waitpid(pid, &status, WNOHANG); }) != 0;
  });
}

// Ends the children still serving (SIGKILL: the kernel then closes their
// connections) and reaps them. Returns how many it ended. Never throws: it
// also runs on the way out of an error.
int EndChildren(std::vector<pid_t>& serving) noexcept {
  ReapFinished(serving);
  for (pid_t pid : serving) kill(pid, SIGKILL);
  for (pid_t pid : serving) {
    int status = 0;
    RetryOnEintr([&] { return waitpid(pid, &status, 0); });
  }
  const int ended = static_cast<int>(serving.size());
  serving.clear();
  return ended;
}

// How long the accept loop sleeps at most before reaping finished children.
constexpr int kReapIntervalMs = 50;

// Reads the one byte of a stop request; false at end of file (whoever could
// ask has gone).
bool ReadStopByte(int stop_fd) {
  char byte;
  ssize_t n = RetryOnEintr([&] { return read(stop_fd, &byte, 1); });
  if (n < 0) ThrowErrno("read(stop)");
  return n == 1;
}

// In a serving child whose client was dropped: one line on standard error,
// so that whoever runs the server learns why (a frame above the cap, a
// stream cut inside a header, a client gone while it was sent to). One
// write() per line: lines of several children do not interleave.
void SayWhyClientWasDropped(const char* what) noexcept {
  char line[512];
  const int size = std::snprintf(line, sizeof(line), "Serve: pid %d: %s\n",
                                 static_cast<int>(getpid()), what);
  if (size <= 0) return;
  std::size_t length = static_cast<std::size_t>(size);
  if (length >= sizeof(line)) {  // cut short: keep the line's end
    length = sizeof(line) - 1;
    line[length - 1] = '\n';
  }
  ssize_t ignored = RetryOnEintr([&] { return write(2, line, length); });
  (void)ignored;  // nothing more to say if standard error is gone
}

}  // namespace

int Serve(Listener& listener, const Handler& handler, int stop_fd) {
  std::vector<pid_t> serving;  // children still serving a client
  try {
    for (;;) {
      ReapFinished(serving);
      pollfd entries[2] = {{listener.fd(), POLLIN, 0}, {stop_fd, POLLIN, 0}};
      // While no child serves there is nothing to reap: sleep until an event.
      const int timeout = serving.empty() ? -1 : kReapIntervalMs;
      if (poll(entries, 2, timeout) < 0) {
        if (errno == EINTR) continue;  // a signal (SIGCHLD, say): not an error
        ThrowErrno("poll(listener)");
      }
      if (entries[1].revents != 0) break;  // asked to stop (byte or hang-up)
      if ((entries[0].revents & POLLIN) == 0) continue;
      Connection connection = listener.Accept();
      pid_t pid = ForkOrThrow();
      if (pid == 0) {
        // The child serves this one client. It closes its copy of the
        // listening socket (the file stays: the parent owns it) and ends
        // with _exit, never returning into the accept loop.
        listener.Close();
        int code = 0;
        try {
          ServeConnection(connection, handler);
        } catch (const std::exception& e) {
          code = 1;
          SayWhyClientWasDropped(e.what());
        } catch (...) {
          code = 1;
          SayWhyClientWasDropped("an exception that is no std::exception");
        }
        _exit(code);
      }
      // Our copy of the client's socket: if we kept it, the client would not
      // see end of stream when the child closes, and we would run out of fds.
      connection.Close();
      serving.push_back(pid);
    }
    // Step 1: stop accepting. Closed, the listener refuses new clients; left
    // open, the kernel would go on completing connections nobody accepts.
    bool now = !ReadStopByte(stop_fd);
    listener.Close();
    // Let the clients still connected finish, until a second request (or
    // end of file) says "now".
    while (!now) {
      ReapFinished(serving);
      if (serving.empty()) break;
      pollfd entry{stop_fd, POLLIN, 0};
      const int ready = poll(&entry, 1, kReapIntervalMs);
      if (ready < 0 && errno != EINTR) ThrowErrno("poll(stop)");
      now = ready > 0;
    }
  } catch (...) {
    EndChildren(serving);  // an error leaves no child behind
    throw;
  }
  return EndChildren(serving);  // step 2: cut off the rest
}

// ---------------------------------------------------------------- Stage 5

namespace {

// What the server process tells Start() once it listens, or why it cannot.
// One write of fewer than PIPE_BUF bytes, so it arrives whole.
struct ReadyReport {
  int error = 0;           // 0: listening
  std::uint16_t port = 0;  // the port really bound (TCP)
  char what[256] = {};     // the failed call, e.g. "bind(unix:/tmp/x)"
};

// The call part of a std::system_error's what(), without ": <strerror>".
std::string CallOf(const std::system_error& e) {
  std::string text = e.what();
  const std::string suffix = ": " + e.code().message();
  if (text.size() >= suffix.size() &&
      text.compare(text.size() - suffix.size(), suffix.size(), suffix) == 0) {
    text.resize(text.size() - suffix.size());
  }
  return text;
}

// Whether the whole report went out (one write: it is under PIPE_BUF).
bool SendReport(int fd, const ReadyReport& report) {
  return RetryOnEintr([&] { return write(fd, &report, sizeof(report)); }) ==
         static_cast<ssize_t>(sizeof(report));
}

// The server process: listens, reports, serves until asked to stop.
[[noreturn]] void RunServer(const Endpoint& endpoint, const Handler& handler,
                            Fd ready, Fd stop) {
  ReadyReport report;
  try {
    Listener listener = Listener::Listen(endpoint);
    report.port = listener.endpoint().port;
    // Nobody would know we listen: give up (the listener's destructor
    // removes a socket file on the way out).
    if (!SendReport(ready.get(), report)) ThrowErrno("write(ready)");
    ready.reset();
    // Serve closes the listener (the owner: a socket file goes with it).
    const std::int32_t cut = Serve(listener, handler, stop.get());
    // Tell Stop() how many clients were cut off. If it has gone, the number
    // is moot.
    ssize_t ignored = RetryOnEintr(
        [&] { return send(stop.get(), &cut, sizeof(cut), MSG_NOSIGNAL); });
    (void)ignored;
  } catch (const std::system_error& e) {
    report.error = e.code().value();
    std::snprintf(report.what, sizeof(report.what), "%s", CallOf(e).c_str());
  } catch (const std::exception& e) {
    report.error = EINVAL;
    std::snprintf(report.what, sizeof(report.what), "%s", e.what());
  }
  if (report.error == 0) _exit(0);
  if (ready) (void)SendReport(ready.get(), report);  // moot if nobody reads
  _exit(1);
}

}  // namespace

ServerProcess ServerProcess::Start(const Endpoint& endpoint,
                                   const Handler& handler) {
  ToSocketAddress(endpoint);  // a malformed endpoint fails here, before fork
  int ready_fds[2];
  if (pipe2(ready_fds, O_CLOEXEC) != 0) ThrowErrno("pipe2(ready)");
  Fd ready_read(ready_fds[0]), ready_write(ready_fds[1]);
  int stop_fds[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, stop_fds) != 0) {
    ThrowErrno("socketpair(stop)");
  }
  Fd stop_ours(stop_fds[0]), stop_theirs(stop_fds[1]);

  pid_t pid = ForkOrThrow();
  if (pid == 0) {
    ready_read.reset();
    stop_ours.reset();
    RunServer(endpoint, handler, std::move(ready_write),
              std::move(stop_theirs));
  }
  ready_write.reset();  // or we would never read end of file below
  stop_theirs.reset();

  ReadyReport report;
  ssize_t n = RetryOnEintr(
      [&] { return read(ready_read.get(), &report, sizeof(report)); });
  if (n < 0) {
    // We cannot tell whether it listens: ask it to stop (end of file on its
    // stop channel) and reap it rather than leave it behind.
    const int error = errno;
    stop_ours.reset();
    WaitForExit(pid);
    ThrowErrno("read(ready)", error);
  }
  if (n == static_cast<ssize_t>(sizeof(report)) && report.error == 0) {
    Endpoint bound = endpoint;
    bound.port = report.port;
    return ServerProcess(pid, std::move(stop_ours), std::move(bound));
  }
  int status = WaitForExit(pid);
  if (n == static_cast<ssize_t>(sizeof(report))) {
    throw std::system_error(report.error, std::generic_category(), report.what);
  }
  throw std::runtime_error(
      "ServerProcess::Start: the server process for " + endpoint.ToString() +
      " ended before it listened (wait status " + std::to_string(status) + ")");
}

ServerProcess::~ServerProcess() {
  try {
    Stop();
  } catch (...) {
    // A destructor must not throw; Stop() has reaped the server anyway.
  }
}

namespace {

// Sends one byte of a stop request. MSG_NOSIGNAL: a server that already
// died must not take the caller down with SIGPIPE; its end is then reported
// by waitpid, so the send's own result is moot.
void SendStopByte(int fd) {
  ssize_t ignored =
      RetryOnEintr([&] { return send(fd, "x", 1, MSG_NOSIGNAL); });
  (void)ignored;
}

// Waits until `fd` is readable or `deadline` has passed; a signal does not
// restart the wait, it only shortens what is left of it.
bool WaitReadableUntil(int fd, std::chrono::steady_clock::time_point deadline) {
  for (;;) {
    const auto left = std::chrono::ceil<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    pollfd entry{fd, POLLIN, 0};
    const int ready = poll(&entry, 1, std::max<int>(0, left.count()));
    if (ready > 0) return true;
    if (ready == 0) return false;  // the deadline has passed
    if (errno != EINTR) ThrowErrno("poll(stop)");
  }
}

}  // namespace

int ServerProcess::Stop(std::chrono::milliseconds deadline) {
  if (pid_ < 0) return 0;
  const auto until = std::chrono::steady_clock::now() + deadline;
  const pid_t pid = std::exchange(pid_, -1);
  Fd stop = std::move(stop_);
  // One byte: stop accepting, let the clients still connected finish. One
  // byte, not a close: copies of our end inherited by other children would
  // keep a close from reaching the server.
  SendStopByte(stop.get());
  // The server reports (the number it cut off) when Serve returns; end of
  // file, if it died, ends the wait too.
  if (!WaitReadableUntil(stop.get(), until)) {
    SendStopByte(stop.get());  // the deadline has passed: cut off the rest
  }
  const int status = WaitForExit(pid);
  std::int32_t cut = 0;
  if (RetryOnEintr([&] {
        return recv(stop.get(), &cut, sizeof(cut), MSG_DONTWAIT);
      }) != static_cast<ssize_t>(sizeof(cut))) {
    cut = 0;  // it died before reporting: the status below says so
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    throw std::runtime_error(
        "ServerProcess::Stop: the server process " + std::to_string(pid) +
        " for " + endpoint_.ToString() + " did not end with exit code 0 " +
        (WIFSIGNALED(status)
             ? "(killed by signal " + std::to_string(WTERMSIG(status)) + ")"
             : "(exit code " + std::to_string(WEXITSTATUS(status)) + ")"));
  }
  return cut;
}

}  // namespace kata::sockets
