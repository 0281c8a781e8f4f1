// bazel run //solutions/pipe:demo
//
// Shows the reference solution at work: every line says which process (pid)
// does what, so the parent/child choreography of each stage is visible.

#include <unistd.h>

#include <cstdio>
#include <string>
#include <system_error>

#include "pipe/pipe.h"

namespace {

void Say(const char* who, const std::string& what) {
  std::printf("[%-6s pid %6d] %s\n", who, getpid(), what.c_str());
  std::fflush(stdout);
}

}  // namespace

int main() {
  namespace kp = kata::pipe;

  std::printf("== Stage 2: one message from parent to child ==\n");
  Say("parent", "SendToChild(\"hello, child\")");
  kp::ExitStatus status = kp::SendToChild("hello, child", [](int read_fd) {
    Say("child", "closed my copy of the write end; reading until end of file");
    std::string message = kp::ReadAll(read_fd);
    Say("child", "got \"" + message + "\", then end of file; exiting with 0");
    return 0;
  });
  Say("parent", "reaped the child: exit code " + std::to_string(status.code));

  std::printf("\n== Stage 4: a round trip over two pipes ==\n");
  std::string reply = kp::RoundTrip("ping", [](std::string_view request) {
    Say("child", "request \"" + std::string(request) + "\" -> reply \"pong\"");
    return std::string("pong");
  });
  Say("parent", "reply: \"" + reply + "\"");

  std::printf("\n== Stage 6: how much a pipe holds ==\n");
  Say("parent", "a new pipe accepts " + std::to_string(kp::MeasureCapacity()) +
                    " bytes before a writer blocks");
  kp::Captured captured = kp::RunAndCapture([](int write_fd) {
    Say("child",
        "writing 1 MiB (16 pipe-fulls); I block until the parent reads");
    kp::WriteAll(write_fd, std::string(1 << 20, 'x'));
    return 0;
  });
  Say("parent", "drained " + std::to_string(captured.output.size()) +
                    " bytes, then reaped the child");

  std::printf(
      "\n== Stage 8: run a command, feeding stdin while reading stdout ==\n");
  const std::string input(1 << 20, 'a');
  kp::CommandResult result = kp::RunCommand({"tr", "a", "b"}, input);
  Say("parent", "tr turned 1 MiB of 'a' into " +
                    std::to_string(result.output.size()) + " bytes of '" +
                    result.output.substr(0, 1) + "', exit code " +
                    std::to_string(result.status.code));
  try {
    kp::RunCommand({"no-such-program"}, "");
  } catch (const std::system_error& e) {
    Say("parent", std::string("a missing program is an error: ") + e.what());
  }
  return 0;
}
