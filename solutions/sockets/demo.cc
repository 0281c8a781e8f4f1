// bazel run //solutions/sockets:demo
//
// Shows the reference solution at work, over TCP and over Unix sockets: every
// line says which process (pid) does what. The last two sections show what a
// test cannot assert: a client racing a server that is not listening yet, and
// how long a round trip takes over each transport on this machine.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>
#include <system_error>
#include <vector>

#include "sockets/sockets.h"

namespace {

namespace ks = kata::sockets;

void Say(const char* who, const std::string& what) {
  std::printf("[%-6s pid %6d] %s\n", who, getpid(), what.c_str());
  std::fflush(stdout);
}

std::string Hex(std::string_view bytes) {
  std::string text;
  char byte[4];
  for (unsigned char c : bytes) {
    std::snprintf(byte, sizeof(byte), "%02x ", c);
    text += byte;
  }
  return text;
}

std::string SocketPath(const char* what) {
  return "/tmp/kata-demo-" + std::to_string(getpid()) + "-" + what;
}

// Section 1: one server per transport, each in its own process.
void EchoOverBothTransports() {
  std::printf("== Stages 2-5: an echo server in its own process ==\n");
  for (const ks::Endpoint& where :
       {ks::Endpoint::Tcp("127.0.0.1", 0),
        ks::Endpoint::UnixPath(SocketPath("echo"))}) {
    ks::ServerProcess server =
        ks::ServerProcess::Start(where, [](std::string_view request) {
          Say("served",
              "child of the server answers \"" + std::string(request) + "\"");
          return "echo: " + std::string(request);
        });
    Say("client", "asked for " + where.ToString() + "; server pid " +
                      std::to_string(server.pid()) + " listens on " +
                      server.endpoint().ToString());
    ks::Connection client = ks::Connect(server.endpoint());
    client.SendFrame("hello");
    Say("client", "reply: \"" + client.ReceiveFrame().value_or("?") + "\"");
    client.ShutdownWrite();
    Say("client", client.ReceiveFrame() ? "unexpected frame"
                                        : "end of stream after the half-close");
    server.Stop();
    Say("client", "server stopped and reaped");
  }
  std::printf("A frame on the wire, \"hello\": %s\n",
              Hex(std::string("\0\0\0\5hello", 9)).c_str());
}

// Section 2: why frames: a stream merges what two sends put in.
void StreamHasNoBoundaries() {
  std::printf("\n== Stage 3: a stream keeps no message boundaries ==\n");
  int ends[2];
  if (socketpair(AF_UNIX, SOCK_STREAM, 0, ends) != 0) return;
  send(ends[0], "abc", 3, 0);
  send(ends[0], "def", 3, 0);
  char buffer[64];
  ssize_t n = recv(ends[1], buffer, sizeof(buffer), 0);
  Say("reader", "two sends of 3 bytes, then one recv() returned " +
                    std::to_string(n) + " bytes: \"" +
                    std::string(buffer, n > 0 ? n : 0) + "\"");
  close(ends[0]);
  close(ends[1]);
}

// Section 3: four clients at once, each served by its own process.
void SeveralClients() {
  std::printf("\n== Stage 4: several clients at once ==\n");
  ks::ServerProcess server = ks::ServerProcess::Start(
      ks::Endpoint::UnixAbstract("kata-demo-" + std::to_string(getpid())),
      [](std::string_view request) {
        return std::string(request) + " served by pid " +
               std::to_string(getpid());
      });
  Say("client", "server pid " + std::to_string(server.pid()) + " listens on " +
                    server.endpoint().ToString());
  std::vector<ks::Connection> clients;
  for (int i = 0; i < 4; ++i) clients.push_back(ks::Connect(server.endpoint()));
  for (std::size_t i = 0; i < clients.size(); ++i) {
    clients[i].SendFrame("client " + std::to_string(i));
  }
  for (ks::Connection& client : clients) {
    Say("client", client.ReceiveFrame().value_or("?"));
  }
  clients.clear();
  server.Stop();
}

// Section 4: restarting on the same address.
void Restarting() {
  std::printf("\n== Stage 6: restarting a server ==\n");
  // A TCP server closes a connection first: it is left in TIME_WAIT.
  ks::Listener first = ks::Listener::Listen(ks::Endpoint::Tcp("127.0.0.1", 0));
  const ks::Endpoint where = first.endpoint();
  {
    ks::Connection client = ks::Connect(where);
    ks::Connection served = first.Accept();
    served.Close();       // the server closes first...
    client.ReceiveAll();  // ...the client sees end of stream
  }
  first.Close();
  int plain = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(where.port);
  inet_pton(AF_INET, "127.0.0.1", &address.sin_addr);
  int result =
      bind(plain, reinterpret_cast<sockaddr*>(&address), sizeof(address));
  Say("server", "bind to port " + std::to_string(where.port) +
                    " without SO_REUSEADDR: " +
                    (result == 0 ? "ok" : std::strerror(errno)));
  close(plain);
  ks::Listener second = ks::Listener::Listen(where);
  Say("server", "Listener::Listen (SO_REUSEADDR) on the same port: ok, " +
                    second.endpoint().ToString());

  // A Unix server that died leaves its socket file behind.
  const std::string path = SocketPath("stale");
  int crashed = socket(AF_UNIX, SOCK_STREAM, 0);
  sockaddr_un unix_address{};
  unix_address.sun_family = AF_UNIX;
  std::snprintf(unix_address.sun_path, sizeof(unix_address.sun_path), "%s",
                path.c_str());
  bind(crashed, reinterpret_cast<sockaddr*>(&unix_address),
       sizeof(unix_address));
  close(crashed);  // no unlink: the file stays
  ks::Listener replaced = ks::Listener::Listen(ks::Endpoint::UnixPath(path));
  Say("server", "stale file " + path + " found nobody listening: replaced");
  try {
    ks::Listener::Listen(ks::Endpoint::UnixPath(path));
  } catch (const std::system_error& e) {
    Say("server", std::string("a second server on the live path: ") + e.what());
  }
}

// Section 5: the race Start() avoids. A child that listens "soon" and a
// parent that connects at once, without waiting for a ready report.
void ClientRacingTheServer() {
  std::printf(
      "\n== Why Start() waits for \"ready\": a client racing the server ==\n");
  const int kTries = 50;
  int refused = 0;
  for (int i = 0; i < kTries; ++i) {
    const std::string path = SocketPath("race");
    std::fflush(nullptr);
    pid_t pid = fork();
    if (pid == 0) {
      try {
        ks::Listener listener =
            ks::Listener::Listen(ks::Endpoint::UnixPath(path));
        listener.Accept();  // one client, then done
      } catch (...) {
      }
      _exit(0);
    }
    try {
      ks::Connect(ks::Endpoint::UnixPath(path));
    } catch (const std::system_error&) {
      ++refused;
      // Let the child finish: connect once more, now that it surely listens.
      for (int attempt = 0; attempt < 1000; ++attempt) {
        try {
          ks::Connect(ks::Endpoint::UnixPath(path));
          break;
        } catch (const std::system_error&) {
          usleep(1000);
        }
      }
    }
    waitpid(pid, nullptr, 0);
    unlink(path.c_str());
  }
  Say("client", "connected right after fork(), no ready report: " +
                    std::to_string(refused) + " of " + std::to_string(kTries) +
                    " attempts found nobody listening yet");
  int refused_with_ready = 0;
  for (int i = 0; i < kTries; ++i) {
    ks::ServerProcess server = ks::ServerProcess::Start(
        ks::Endpoint::UnixPath(SocketPath("ready")),
        [](std::string_view r) { return std::string(r); });
    try {
      ks::Connect(server.endpoint());
    } catch (const std::system_error&) {
      ++refused_with_ready;
    }
  }
  Say("client", "with ServerProcess::Start (waits for \"ready\"): " +
                    std::to_string(refused_with_ready) + " of " +
                    std::to_string(kTries) + " refused");
}

// CPU time (user + system) used so far by this process and by the children
// it has reaped, in microseconds.
double CpuMicros() {
  double total = 0;
  for (int who : {RUSAGE_SELF, RUSAGE_CHILDREN}) {
    rusage usage{};
    getrusage(who, &usage);
    for (const timeval& t : {usage.ru_utime, usage.ru_stime}) {
      total +=
          static_cast<double>(t.tv_sec) * 1e6 + static_cast<double>(t.tv_usec);
    }
  }
  return total;
}

// Section 6: the same echo code over each transport, timed. Wall-clock time
// on a busy machine mostly measures waiting for a CPU; the CPU time that
// client and server spend per round trip is the steadier figure. One run on
// one machine: a hint of the difference, not a benchmark.
void RoundTripTimes() {
  std::printf("\n== Unix vs TCP: the same code, timed ==\n");
  constexpr int kRoundTrips = 20000;
  const std::string payload(64, 'p');
  for (const ks::Endpoint& where :
       {ks::Endpoint::Tcp("127.0.0.1", 0),
        ks::Endpoint::UnixPath(SocketPath("timed")),
        ks::Endpoint::UnixAbstract("kata-demo-timed-" +
                                   std::to_string(getpid()))}) {
    const double cpu_before = CpuMicros();
    ks::ServerProcess server =
        ks::ServerProcess::Start(where, [](std::string_view r) {
          return r.size() > 4096 ? std::string(1, 'k') : std::string(r);
        });
    ks::Connection client = ks::Connect(server.endpoint());
    const auto start = std::chrono::steady_clock::now();
    for (int i = 0; i < kRoundTrips; ++i) {
      client.SendFrame(payload);
      client.ReceiveFrame();
    }
    const std::chrono::duration<double, std::micro> took =
        std::chrono::steady_clock::now() - start;
    // Bulk: 64 MiB in 1 MiB frames, each answered by a 1-byte frame.
    const std::string chunk(1 << 20, 'b');
    const double cpu_bulk_start = CpuMicros();
    const auto bulk_start = std::chrono::steady_clock::now();
    for (int i = 0; i < 64; ++i) {
      client.SendFrame(chunk);
      client.ReceiveFrame();
    }
    const std::chrono::duration<double> bulk_took =
        std::chrono::steady_clock::now() - bulk_start;
    const double client_bulk_cpu = CpuMicros() - cpu_bulk_start;
    client.Close();
    server.Stop();  // reaped: its CPU time (and its child's) now counts
    const double cpu = CpuMicros() - cpu_before;
    char line[200];
    std::snprintf(
        line, sizeof(line),
        "%-14s %d round trips of a 64-byte frame: %5.1f us CPU, "
        "%5.1f us wall clock each",
        where.ToString().substr(0, where.ToString().find(':')).c_str(),
        kRoundTrips, cpu / kRoundTrips, took.count() / kRoundTrips);
    Say("client", line);
    std::snprintf(
        line, sizeof(line),
        "%-14s 64 MiB in 1 MiB frames: %6.0f MiB/s wall clock, "
        "client CPU %4.0f us per MiB",
        where.ToString().substr(0, where.ToString().find(':')).c_str(),
        64 / bulk_took.count(), client_bulk_cpu / 64);
    Say("client", line);
  }
}

}  // namespace

int main() {
  EchoOverBothTransports();
  StreamHasNoBoundaries();
  SeveralClients();
  Restarting();
  ClientRacingTheServer();
  RoundTripTimes();
  return 0;
}
