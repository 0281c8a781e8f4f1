// Stream sockets, Unix-domain and TCP over loopback: the sockets kata
// (solutions/sockets) against send(2), sendmsg(2) and recv(2).
//
// Both versions speak the kata's frame format (a 4-byte big-endian length,
// then the payload), because a stream keeps no message boundaries and any
// real protocol over it needs some framing. Both gather header and payload
// with one sendmsg and no copy, and both receive the 4 header bytes, then
// exactly the payload, into a buffer they reuse (the kata through
// ReceiveFrame's overload that fills the caller's buffer). TCP connections have
// TCP_NODELAY on both ends in both versions (the kata sets it in Connect and
// Accept). The Unix sockets live in the abstract namespace, so no socket file
// is left behind.
//
// The parent listens before the peer is forked; the peer connects, the
// parent accepts, and from then on each process holds one end.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/un.h>

#include <cstdint>
#include <cstring>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>

#include "bench/drivers.h"
#include "bench/harness.h"
#include "sockets/sockets.h"

namespace bench {
namespace {

enum class Transport { kUnix, kTcp };

[[noreturn]] void ThrowErrno(const std::string& call) {
  throw std::system_error(errno, std::generic_category(), call);
}

// ------------------------------------------------------------- raw sockets

void NoDelay(int fd) {
  const int on = 1;
  if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on)) != 0) {
    ThrowErrno("setsockopt(TCP_NODELAY)");
  }
}

// The address a raw listener binds: an abstract Unix name, or 127.0.0.1 with
// port 0 (the kernel picks; getsockname tells which).
struct RawAddress {
  sockaddr_storage storage{};
  socklen_t length = 0;
  sockaddr* get() { return reinterpret_cast<sockaddr*>(&storage); }
};

RawAddress ListenAddress(Transport transport) {
  RawAddress address;
  if (transport == Transport::kTcp) {
    auto* in = reinterpret_cast<sockaddr_in*>(&address.storage);
    in->sin_family = AF_INET;
    in->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    in->sin_port = 0;
    address.length = sizeof(sockaddr_in);
  } else {
    auto* un = reinterpret_cast<sockaddr_un*>(&address.storage);
    un->sun_family = AF_UNIX;
    const std::string name = UniqueName("");
    std::memcpy(un->sun_path + 1, name.data(), name.size());  // [0] is NUL
    address.length = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) +
                                            1 + name.size());
  }
  return address;
}

// One connected stream socket between the parent and the peer.
class RawConnection {
 public:
  explicit RawConnection(Transport transport)
      : transport_(transport), address_(ListenAddress(transport)) {
    const int family = transport == Transport::kTcp ? AF_INET : AF_UNIX;
    listener_.Reset(socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (listener_.get() < 0) ThrowErrno("socket");
    if (bind(listener_.get(), address_.get(), address_.length) != 0) {
      ThrowErrno("bind");
    }
    if (listen(listener_.get(), 1) != 0) ThrowErrno("listen");
    // Learn the port the kernel chose (and keep the exact Unix length).
    if (getsockname(listener_.get(), address_.get(), &address_.length) != 0) {
      ThrowErrno("getsockname");
    }
  }

  void ParentSetup() {
    socket_.Reset(accept4(listener_.get(), nullptr, nullptr, SOCK_CLOEXEC));
    if (socket_.get() < 0) ThrowErrno("accept4");
    if (transport_ == Transport::kTcp) NoDelay(socket_.get());
    listener_.Reset();
  }
  void PeerSetup() {
    listener_.Reset();
    const int family = transport_ == Transport::kTcp ? AF_INET : AF_UNIX;
    socket_.Reset(socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (socket_.get() < 0) ThrowErrno("socket");
    if (connect(socket_.get(), address_.get(), address_.length) != 0) {
      ThrowErrno("connect");
    }
    if (transport_ == Transport::kTcp) NoDelay(socket_.get());
  }

  // Sends a 4-byte big-endian length and the payload with one gathering
  // sendmsg, continued after a short send.
  void SendFrame(const char* data, std::size_t size) {
    const std::uint32_t length = htonl(static_cast<std::uint32_t>(size));
    iovec parts[2] = {{const_cast<std::uint32_t*>(&length), sizeof(length)},
                      {const_cast<char*>(data), size}};
    msghdr message{};
    message.msg_iov = parts;
    message.msg_iovlen = 2;
    std::size_t left = sizeof(length) + size;
    while (left > 0) {
      ssize_t n = RetryOnEintr(
          [&] { return sendmsg(socket_.get(), &message, MSG_NOSIGNAL); });
      if (n < 0) ThrowErrno("sendmsg");
      left -= static_cast<std::size_t>(n);
      // Skip what went out: whole parts first, then into the current one.
      std::size_t sent = static_cast<std::size_t>(n);
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
  }

  // Receives one frame into `buffer` (which must be large enough); returns
  // its payload size.
  std::size_t ReceiveFrame(char* buffer, std::size_t capacity) {
    std::uint32_t length = 0;
    ReceiveExactly(reinterpret_cast<char*>(&length), sizeof(length));
    const std::size_t size = ntohl(length);
    if (size > capacity) throw std::runtime_error("frame larger than buffer");
    ReceiveExactly(buffer, size);
    return size;
  }

 private:
  void ReceiveExactly(char* data, std::size_t size) {
    while (size > 0) {
      ssize_t n =
          RetryOnEintr([&] { return recv(socket_.get(), data, size, 0); });
      if (n < 0) ThrowErrno("recv");
      if (n == 0) throw std::runtime_error("recv: the peer closed");
      data += n;
      size -= static_cast<std::size_t>(n);
    }
  }

  Transport transport_;
  RawAddress address_;
  Fd listener_;
  Fd socket_;
};

// ------------------------------------------------------------ kata sockets

kata::sockets::Endpoint ListenEndpoint(Transport transport) {
  if (transport == Transport::kTcp) {
    return kata::sockets::Endpoint::Tcp("127.0.0.1", 0);
  }
  return kata::sockets::Endpoint::UnixAbstract(UniqueName(""));
}

class KataConnection {
 public:
  explicit KataConnection(Transport transport)
      : listener_(kata::sockets::Listener::Listen(ListenEndpoint(transport))) {}

  void ParentSetup() {
    connection_ = listener_.Accept();
    listener_.Close();
  }
  void PeerSetup() {
    listener_.Close();  // not the owner here: an abstract name has no file
    connection_ = kata::sockets::Connect(listener_.endpoint());
  }
  kata::sockets::Connection& connection() { return connection_; }

 private:
  kata::sockets::Listener listener_;
  kata::sockets::Connection connection_;
};

std::size_t ReceiveOrThrow(kata::sockets::Connection& connection,
                           std::string& buffer) {
  std::optional<std::size_t> size = connection.ReceiveFrame(buffer);
  if (!size) throw std::runtime_error("ReceiveFrame: the peer closed");
  return *size;
}

// --------------------------------------------------------------- the links

template <Transport kTransport>
class RawSocketRoundTrip {
 public:
  explicit RawSocketRoundTrip(std::size_t size)
      : size_(size), payload_(Payload(size)), buffer_(size, '\0') {}

  void ParentSetup() { socket_.ParentSetup(); }
  void PeerSetup() { socket_.PeerSetup(); }
  void Ping() {
    socket_.SendFrame(payload_.data(), size_);
    ExpectSize(socket_.ReceiveFrame(buffer_.data(), size_), size_, "socket");
  }
  void Echo() {
    const std::size_t n = socket_.ReceiveFrame(buffer_.data(), size_);
    socket_.SendFrame(buffer_.data(), n);
  }

 private:
  std::size_t size_;
  std::string payload_;
  std::string buffer_;
  RawConnection socket_{kTransport};
};

template <Transport kTransport>
class KataSocketRoundTrip {
 public:
  explicit KataSocketRoundTrip(std::size_t size)
      : size_(size), payload_(Payload(size)), buffer_(size, '\0') {}

  void ParentSetup() { socket_.ParentSetup(); }
  void PeerSetup() { socket_.PeerSetup(); }
  void Ping() {
    socket_.connection().SendFrame(payload_);
    ExpectSize(ReceiveOrThrow(socket_.connection(), buffer_), size_, "socket");
  }
  void Echo() {
    const std::size_t n = ReceiveOrThrow(socket_.connection(), buffer_);
    socket_.connection().SendFrame(std::string_view(buffer_.data(), n));
  }

 private:
  std::size_t size_;
  std::string payload_;
  std::string buffer_;
  KataConnection socket_{kTransport};
};

template <Transport kTransport>
class RawSocketStream {
 public:
  explicit RawSocketStream(std::size_t size)
      : size_(size), payload_(Payload(size)), buffer_(size, '\0') {}

  void ParentSetup() { socket_.ParentSetup(); }
  void PeerSetup() { socket_.PeerSetup(); }
  void Send() { socket_.SendFrame(payload_.data(), size_); }
  void Receive() {
    ExpectSize(socket_.ReceiveFrame(buffer_.data(), size_), size_, "socket");
  }

 private:
  std::size_t size_;
  std::string payload_;
  std::string buffer_;
  RawConnection socket_{kTransport};
};

template <Transport kTransport>
class KataSocketStream {
 public:
  explicit KataSocketStream(std::size_t size)
      : size_(size), payload_(Payload(size)), buffer_(size, '\0') {}

  void ParentSetup() { socket_.ParentSetup(); }
  void PeerSetup() { socket_.PeerSetup(); }
  void Send() { socket_.connection().SendFrame(payload_); }
  void Receive() {
    ExpectSize(ReceiveOrThrow(socket_.connection(), buffer_), size_, "socket");
  }

 private:
  std::size_t size_;
  std::string payload_;
  std::string buffer_;
  KataConnection socket_{kTransport};
};

template <Transport kTransport>
void RegisterTransport(const char* mechanism) {
  for (std::size_t size : {kSmall, kKiB}) {
    AddRoundTrip<KataSocketRoundTrip<kTransport>>(mechanism, "kata", size);
    AddRoundTrip<RawSocketRoundTrip<kTransport>>(mechanism, "raw", size);
  }
  for (std::size_t size : {k4KiB, k64KiB}) {
    AddOneWay<KataSocketStream<kTransport>>(mechanism, "kata", size);
    AddOneWay<RawSocketStream<kTransport>>(mechanism, "raw", size);
  }
}

}  // namespace

void RegisterSockets() {
  RegisterTransport<Transport::kUnix>("unix-socket");
  RegisterTransport<Transport::kTcp>("tcp");
}

}  // namespace bench
