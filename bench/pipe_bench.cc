// Pipes: the pipe kata's API (solutions/pipe) against write(2) and read(2).
//
// A round trip needs two pipes, because a pipe goes one way. The kata's API
// writes with WriteAll (every byte, EINTR and short writes retried, SIGPIPE
// turned into EPIPE); it has no "read exactly n bytes" (its ReadAll reads to
// end of file, which a long-lived exchange never reaches), so both sides
// read with the same raw loop and only the writes differ.
//
// A writer that writes many times holds one SigpipeGuard (the pipe kata's
// Stage 5), so the kata versions do: each process makes one when it starts,
// and WriteAll then makes no signal call. "pipe-per-call" measures the same
// stream without a guard, as a caller that writes now and then would call
// it: WriteAll blocks and restores SIGPIPE around every call.

#include <optional>
#include <string>

#include "bench/drivers.h"
#include "bench/harness.h"
#include "pipe/pipe.h"

namespace bench {
namespace {

class RawPipeRoundTrip {
 public:
  explicit RawPipeRoundTrip(std::size_t size)
      : size_(size), payload_(Payload(size)), buffer_(size, '\0') {}

  void ParentSetup() {
    to_peer_.read_end.Reset();
    to_parent_.write_end.Reset();
  }
  void PeerSetup() {
    to_peer_.write_end.Reset();
    to_parent_.read_end.Reset();
  }
  void Ping() {
    WriteFully(to_peer_.write_end.get(), payload_.data(), size_, "pipe");
    ReadFully(to_parent_.read_end.get(), buffer_.data(), size_, "pipe");
  }
  void Echo() {
    ReadFully(to_peer_.read_end.get(), buffer_.data(), size_, "pipe");
    WriteFully(to_parent_.write_end.get(), buffer_.data(), size_, "pipe");
  }

 private:
  std::size_t size_;
  std::string payload_;
  std::string buffer_;
  RawPipeEnds to_peer_ = RawPipe();
  RawPipeEnds to_parent_ = RawPipe();
};

class KataPipeRoundTrip {
 public:
  explicit KataPipeRoundTrip(std::size_t size)
      : size_(size), payload_(Payload(size)), buffer_(size, '\0') {}

  void ParentSetup() {
    to_peer_.read_end.reset();
    to_parent_.write_end.reset();
    no_sigpipe_.emplace();
  }
  void PeerSetup() {
    to_peer_.write_end.reset();
    to_parent_.read_end.reset();
    no_sigpipe_.emplace();
  }
  void Ping() {
    kata::pipe::WriteAll(to_peer_.write_end.get(), payload_);
    ReadFully(to_parent_.read_end.get(), buffer_.data(), size_, "pipe");
  }
  void Echo() {
    ReadFully(to_peer_.read_end.get(), buffer_.data(), size_, "pipe");
    kata::pipe::WriteAll(to_parent_.write_end.get(), buffer_);
  }

 private:
  std::size_t size_;
  std::string payload_;
  std::string buffer_;
  kata::pipe::Pipe to_peer_ = kata::pipe::MakePipe();
  kata::pipe::Pipe to_parent_ = kata::pipe::MakePipe();
  std::optional<kata::pipe::SigpipeGuard> no_sigpipe_;  // made by each side
};

class RawPipeStream {
 public:
  explicit RawPipeStream(std::size_t size)
      : size_(size), payload_(Payload(size)), buffer_(size, '\0') {}

  void ParentSetup() { pipe_.read_end.Reset(); }
  void PeerSetup() { pipe_.write_end.Reset(); }
  void Send() {
    WriteFully(pipe_.write_end.get(), payload_.data(), size_, "pipe");
  }
  void Receive() {
    ReadFully(pipe_.read_end.get(), buffer_.data(), size_, "pipe");
  }

 private:
  std::size_t size_;
  std::string payload_;
  std::string buffer_;
  RawPipeEnds pipe_ = RawPipe();
};

// `kGuarded`: the writer holds one SigpipeGuard for the whole stream.
template <bool kGuarded>
class KataPipeStream {
 public:
  explicit KataPipeStream(std::size_t size)
      : size_(size), payload_(Payload(size)), buffer_(size, '\0') {}

  void ParentSetup() {
    pipe_.read_end.reset();
    if (kGuarded) no_sigpipe_.emplace();
  }
  void PeerSetup() { pipe_.write_end.reset(); }
  void Send() { kata::pipe::WriteAll(pipe_.write_end.get(), payload_); }
  void Receive() {
    ReadFully(pipe_.read_end.get(), buffer_.data(), size_, "pipe");
  }

 private:
  std::size_t size_;
  std::string payload_;
  std::string buffer_;
  kata::pipe::Pipe pipe_ = kata::pipe::MakePipe();
  std::optional<kata::pipe::SigpipeGuard> no_sigpipe_;
};

}  // namespace

void RegisterPipe() {
  for (std::size_t size : {kSmall, kKiB}) {
    AddRoundTrip<KataPipeRoundTrip>("pipe", "kata", size);
    AddRoundTrip<RawPipeRoundTrip>("pipe", "raw", size);
  }
  for (std::size_t size : {k4KiB, k64KiB}) {
    AddOneWay<KataPipeStream<true>>("pipe", "kata", size);
    AddOneWay<RawPipeStream>("pipe", "raw", size);
    AddOneWay<KataPipeStream<false>>("pipe-per-call", "kata", size);
    AddOneWay<RawPipeStream>("pipe-per-call", "raw", size);
  }
}

}  // namespace bench
