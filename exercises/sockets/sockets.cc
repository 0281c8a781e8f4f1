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

// Given: what every unfinished function throws; the tests print its message.
// (maybe_unused: a finished kata calls it nowhere, and compiles cleanly.)
[[maybe_unused]] std::logic_error NotImplemented(const char* function,
                                                 int stage) {
  return std::logic_error(std::string("not implemented yet: ") + function +
                          " in exercises/sockets/sockets.cc (stage " +
                          std::to_string(stage) + ")");
}

}  // namespace

// ---------------------------------------------------------------- Stage 1

SocketAddress ToSocketAddress(const Endpoint& endpoint) {
  // Contract: sockets.h. Stuck? tools/kata hint sockets ToSocketAddress
  (void)endpoint;
  throw NotImplemented("ToSocketAddress", 1);
}

Endpoint FromSocketAddress(const SocketAddress& address) {
  // Contract: sockets.h. Stuck? tools/kata hint sockets FromSocketAddress
  (void)address;
  throw NotImplemented("FromSocketAddress", 1);
}

// ---------------------------------------------------------------- Stage 2

void Connection::SendAll(std::string_view data) {
  // Contract: sockets.h. Stuck? tools/kata hint sockets Connection::SendAll
  (void)data;
  throw NotImplemented("Connection::SendAll", 2);
}

std::string Connection::ReceiveAll() {
  // Contract: sockets.h. Stuck? tools/kata hint sockets Connection::ReceiveAll
  throw NotImplemented("Connection::ReceiveAll", 2);
}

void Connection::ShutdownWrite() {
  // Contract: sockets.h. Stuck? tools/kata hint sockets ShutdownWrite
  throw NotImplemented("Connection::ShutdownWrite", 2);
}

Connection Connect(const Endpoint& endpoint) {
  // Contract: sockets.h. Stuck? tools/kata hint sockets Connect
  (void)endpoint;
  throw NotImplemented("Connect", 2);
}

Listener Listener::Listen(const Endpoint& endpoint, int backlog) {
  // Contract: sockets.h. Stuck? tools/kata hint sockets Listener::Listen
  (void)endpoint;
  (void)backlog;
  throw NotImplemented("Listener::Listen", 2);
}

Listener::~Listener() {
  // Contract: sockets.h. Stuck? tools/kata hint sockets Listener::Listen
}

Connection Listener::Accept() {
  // Contract: sockets.h. Stuck? tools/kata hint sockets Listener::Accept
  throw NotImplemented("Listener::Accept", 2);
}

void Listener::Close() noexcept {
  // Contract: sockets.h. Stuck? tools/kata hint sockets Listener::Listen
}

// ---------------------------------------------------------------- Stage 3

void Connection::SendFrame(std::string_view payload) {
  // Contract: sockets.h. Stuck? tools/kata hint sockets Connection::SendFrame
  (void)payload;
  throw NotImplemented("Connection::SendFrame", 3);
}

std::optional<std::string> Connection::ReceiveFrame(std::size_t max_size) {
  // Contract: sockets.h. Stuck? tools/kata hint sockets ReceiveFrame
  (void)max_size;
  throw NotImplemented("Connection::ReceiveFrame", 3);
}

std::optional<std::size_t> Connection::ReceiveFrame(std::span<char> buffer) {
  // Contract: sockets.h. Stuck? tools/kata hint sockets ReceiveFrame
  (void)buffer;
  throw NotImplemented("Connection::ReceiveFrame", 3);
}

void ServeConnection(Connection& connection, const Handler& handler) {
  // Contract: sockets.h. Stuck? tools/kata hint sockets ServeConnection
  (void)connection;
  (void)handler;
  throw NotImplemented("ServeConnection", 3);
}

// ---------------------------------------------------------------- Stage 4

int Serve(Listener& listener, const Handler& handler, int stop_fd) {
  // Contract: sockets.h. Stuck? tools/kata hint sockets Serve
  (void)listener;
  (void)handler;
  (void)stop_fd;
  throw NotImplemented("Serve", 4);
}

// ---------------------------------------------------------------- Stage 5

ServerProcess ServerProcess::Start(const Endpoint& endpoint,
                                   const Handler& handler) {
  // Contract: sockets.h. Stuck? tools/kata hint sockets ServerProcess::Start
  (void)endpoint;
  (void)handler;
  throw NotImplemented("ServerProcess::Start", 5);
}

ServerProcess::~ServerProcess() {
  // Contract: sockets.h. Stuck? tools/kata hint sockets ServerProcess::Stop
}

int ServerProcess::Stop(std::chrono::milliseconds deadline) {
  // Contract: sockets.h. Stuck? tools/kata hint sockets ServerProcess::Stop
  (void)deadline;
  throw NotImplemented("ServerProcess::Stop", 5);
}

}  // namespace kata::sockets
