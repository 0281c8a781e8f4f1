// The sockets kata: your implementation goes here.
//
// Every function below is declared and documented in sockets.h; the stages
// and hints are in README.md next to this file. Run the tests with
//
//   bazel test //exercises/sockets/...
//
// and replace each `throw NotImplemented(...)` with real code, stage by stage.

#include "sockets/sockets.h"

#include <stdexcept>
#include <string>

namespace kata::sockets {
namespace {

// What every unfinished function throws; the tests print its message.
std::logic_error NotImplemented(const char* function, int stage) {
  return std::logic_error(std::string("not implemented yet: ") + function +
                          " in exercises/sockets/sockets.cc (stage " +
                          std::to_string(stage) + ")");
}

}  // namespace

// ---------------------------------------------------------------- Stage 1

SocketAddress ToSocketAddress(const Endpoint& endpoint) {
  // TODO: kTcp: a sockaddr_in with AF_INET, inet_pton for the address and
  // htons for the port. kUnixPath: a sockaddr_un with the path and its NUL
  // in sun_path; kUnixAbstract: a NUL byte, then the name. Reject what does
  // not fit in sun_path (std::invalid_argument); set `length` exactly.
  (void)endpoint;
  throw NotImplemented("ToSocketAddress", 1);
}

Endpoint FromSocketAddress(const SocketAddress& address) {
  // TODO: the inverse: inet_ntop and ntohs for AF_INET; for AF_UNIX a path,
  // or an abstract name when sun_path[0] is NUL (its length comes from
  // address.length).
  (void)address;
  throw NotImplemented("FromSocketAddress", 1);
}

// ---------------------------------------------------------------- Stage 2

void Connection::SendAll(std::string_view data) {
  // TODO: loop on send(fd, ..., MSG_NOSIGNAL) until every byte is out: short
  // sends, EINTR, EAGAIN (poll for POLLOUT). Other errors: std::system_error.
  (void)data;
  throw NotImplemented("Connection::SendAll", 2);
}

std::string Connection::ReceiveAll() {
  // TODO: recv until it returns 0 (the peer shut down its sending side);
  // retry EINTR.
  throw NotImplemented("Connection::ReceiveAll", 2);
}

void Connection::ShutdownWrite() {
  // TODO: shutdown(fd, SHUT_WR).
  throw NotImplemented("Connection::ShutdownWrite", 2);
}

Connection Connect(const Endpoint& endpoint) {
  // TODO: ToSocketAddress, socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0),
  // connect. If connect fails with EINTR, poll for POLLOUT and read the
  // outcome with getsockopt(SO_ERROR). TCP: setsockopt TCP_NODELAY.
  (void)endpoint;
  throw NotImplemented("Connect", 2);
}

Listener Listener::Listen(const Endpoint& endpoint, int backlog) {
  // TODO: socket; SO_REUSEADDR for TCP; bind (Stage 6: replace a stale
  // socket file, never a live one); listen; getsockname for the endpoint
  // really bound. The calling process owns the listener (getpid()).
  (void)endpoint;
  (void)backlog;
  throw NotImplemented("Listener::Listen", 2);
}

Listener::~Listener() {
  // TODO: Close(), once it is written (a destructor must never throw).
}

Connection Listener::Accept() {
  // TODO: accept4 with SOCK_CLOEXEC; retry EINTR and ECONNABORTED. TCP:
  // setsockopt TCP_NODELAY on the new socket.
  throw NotImplemented("Listener::Accept", 2);
}

void Listener::Close() noexcept {
  // TODO: close the socket; in the owner process, unlink a socket file.
  // This function is noexcept: it cannot report "not implemented yet", so
  // until you write it, it does nothing.
}

// ---------------------------------------------------------------- Stage 3

void Connection::SendFrame(std::string_view payload) {
  // TODO: refuse payloads over kMaxFrameSize (std::length_error); send a
  // 4-byte big-endian length (htonl) and the payload, in one SendAll.
  (void)payload;
  throw NotImplemented("Connection::SendFrame", 3);
}

std::optional<std::string> Connection::ReceiveFrame(std::size_t max_size) {
  // TODO: receive exactly 4 header bytes (none at all: std::nullopt), check
  // the length against max_size, then receive exactly that many bytes.
  (void)max_size;
  throw NotImplemented("Connection::ReceiveFrame", 3);
}

void ServeConnection(Connection& connection, const Handler& handler) {
  // TODO: ReceiveFrame until std::nullopt, SendFrame(handler(request)) for
  // each, then close the connection.
  (void)connection;
  (void)handler;
  throw NotImplemented("ServeConnection", 3);
}

// ---------------------------------------------------------------- Stage 4

int Serve(Listener& listener, const Handler& handler, int stop_fd) {
  // TODO: poll the listener and stop_fd; Accept; fork. Child: close the
  // listener, ServeConnection, _exit. Parent: close the connection, reap
  // finished children with waitpid(WNOHANG). Then the two steps of a stop
  // that sockets.h describes; return how many children were cut off.
  (void)listener;
  (void)handler;
  (void)stop_fd;
  throw NotImplemented("Serve", 4);
}

// ---------------------------------------------------------------- Stage 5

ServerProcess ServerProcess::Start(const Endpoint& endpoint,
                                   const Handler& handler) {
  // TODO: a pipe for "ready" (or the error), a socketpair to ask for a stop,
  // fork. Child: Listen, report, Serve, Close, _exit. Parent: read the
  // report; throw the child's error, or return the running server.
  (void)endpoint;
  (void)handler;
  throw NotImplemented("ServerProcess::Start", 5);
}

ServerProcess::~ServerProcess() {
  // TODO: Stop(), catching whatever it throws.
}

int ServerProcess::Stop(std::chrono::milliseconds deadline) {
  // TODO: the two steps of sockets.h, within `deadline`; reap the server
  // process, check its exit status, return how many clients were cut off.
  (void)deadline;
  throw NotImplemented("ServerProcess::Stop", 5);
}

}  // namespace kata::sockets
