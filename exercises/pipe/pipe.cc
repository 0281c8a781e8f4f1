// The pipe kata: your implementation goes here.
//
// Every function below is declared and documented in pipe.h; the stages and
// hints are in README.md next to this file. Run the tests with
//
//   bazel test //exercises/pipe/...
//
// and replace each `throw NotImplemented(...)` with real code, stage by stage.

#include "pipe/pipe.h"

#include <stdexcept>
#include <string>

namespace kata::pipe {
namespace {

// What every unfinished function throws; the tests print its message.
std::logic_error NotImplemented(const char* function, int stage) {
  return std::logic_error(std::string("not implemented yet: ") + function +
                          " in exercises/pipe/pipe.cc (stage " +
                          std::to_string(stage) + ")");
}

}  // namespace

// ---------------------------------------------------------------- Stage 1

ExitStatus WaitForChild(pid_t pid) {
  // TODO: waitpid(pid, &status, 0), retried while it fails with EINTR; throw
  // std::system_error(errno, std::generic_category(), "waitpid") otherwise.
  // Decode the status with WIFEXITED/WEXITSTATUS and WIFSIGNALED/WTERMSIG.
  (void)pid;
  throw NotImplemented("WaitForChild", 1);
}

// ---------------------------------------------------------------- Stage 2

Pipe MakePipe() {
  // TODO: pipe2() with O_CLOEXEC; wrap both descriptors in Fd.
  throw NotImplemented("MakePipe", 2);
}

ExitStatus SendToChild(std::string_view message, const ChildMain& child_main) {
  // TODO: MakePipe, fork. Child: close the write end, run child_main on the
  // read end, _exit with its result. Parent: close the read end, WriteAll the
  // message, close the write end, WaitForChild. Clean up on errors too.
  (void)message;
  (void)child_main;
  throw NotImplemented("SendToChild", 2);
}

// ---------------------------------------------------------------- Stage 3

void WriteAll(int fd, std::string_view data) {
  // TODO: loop until every byte is written: short writes, EINTR, EAGAIN
  // (poll for POLLOUT). Stage 5: EPIPE must be an exception, not SIGPIPE.
  (void)fd;
  (void)data;
  throw NotImplemented("WriteAll", 3);
}

std::string ReadAll(int fd) {
  // TODO: read until read() returns 0 (end of file); retry EINTR.
  (void)fd;
  throw NotImplemented("ReadAll", 3);
}

// ---------------------------------------------------------------- Stage 4

std::string RoundTrip(std::string_view request, const Service& service) {
  // TODO: two pipes (one each way), fork; the child reads the request to end
  // of file, writes service(request) back and _exits; the parent writes,
  // closes, reads the reply to end of file and reaps the child.
  (void)request;
  (void)service;
  throw NotImplemented("RoundTrip", 4);
}

// ---------------------------------------------------------------- Stage 6

std::size_t MeasureCapacity() {
  // TODO: a new pipe, O_NONBLOCK on its write end, write until EAGAIN.
  throw NotImplemented("MeasureCapacity", 6);
}

Captured RunAndCapture(const ChildMain& child_main) {
  // TODO: like SendToChild the other way round; read everything before
  // waiting for the child.
  (void)child_main;
  throw NotImplemented("RunAndCapture", 6);
}

// ---------------------------------------------------------------- Stage 7

void WriteRecord(int fd, std::string_view record) {
  // TODO: reject records longer than PIPE_BUF; one write() call; retry EINTR.
  (void)fd;
  (void)record;
  throw NotImplemented("WriteRecord", 7);
}

// ---------------------------------------------------------------- Stage 8

CommandResult RunCommand(const std::vector<std::string>& argv,
                         std::string_view input) {
  // TODO: pipes for stdin and stdout plus a close-on-exec pipe for exec
  // errors; fork; in the child dup2 onto 0 and 1 and execvp; in the parent
  // feed input and read output together with poll() until the output ends,
  // close the command's input (even if input is left), then reap the child.
  (void)argv;
  (void)input;
  throw NotImplemented("RunCommand", 8);
}

}  // namespace kata::pipe
