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

// Given: what every unfinished function throws; the tests print its message.
// (maybe_unused: a finished kata calls it nowhere, and compiles cleanly.)
[[maybe_unused]] std::logic_error NotImplemented(const char* function,
                                                 int stage) {
  return std::logic_error(std::string("not implemented yet: ") + function +
                          " in exercises/pipe/pipe.cc (stage " +
                          std::to_string(stage) + ")");
}

}  // namespace

// ---------------------------------------------------------------- Stage 1

ExitStatus WaitForChild(pid_t pid) {
  // Contract: pipe.h. Stuck? tools/kata hint pipe WaitForChild
  (void)pid;
  throw NotImplemented("WaitForChild", 1);
}

// ---------------------------------------------------------------- Stage 2

Pipe MakePipe() {
  // Contract: pipe.h. Stuck? tools/kata hint pipe MakePipe
  throw NotImplemented("MakePipe", 2);
}

ExitStatus SendToChild(std::string_view message, const ChildMain& child_main) {
  // Contract: pipe.h. Stuck? tools/kata hint pipe SendToChild
  (void)message;
  (void)child_main;
  throw NotImplemented("SendToChild", 2);
}

// ---------------------------------------------------------------- Stage 3

void WriteAll(int fd, std::string_view data) {
  // Contract: pipe.h. Stuck? tools/kata hint pipe WriteAll
  (void)fd;
  (void)data;
  throw NotImplemented("WriteAll", 3);
}

std::string ReadAll(int fd) {
  // Contract: pipe.h. Stuck? tools/kata hint pipe ReadAll
  (void)fd;
  throw NotImplemented("ReadAll", 3);
}

// ---------------------------------------------------------------- Stage 4

std::string RoundTrip(std::string_view request, const Service& service) {
  // Contract: pipe.h. Stuck? tools/kata hint pipe RoundTrip
  (void)request;
  (void)service;
  throw NotImplemented("RoundTrip", 4);
}

// ---------------------------------------------------------------- Stage 5

SigpipeGuard::SigpipeGuard() {
  // Contract: pipe.h. Stuck? tools/kata hint pipe SigpipeGuard
  throw NotImplemented("SigpipeGuard", 5);
}

// Never reached while the constructor throws; give SIGPIPE back here.
SigpipeGuard::~SigpipeGuard() = default;

// Given: it is noexcept, so it cannot throw NotImplemented; while no guard
// can be made, this answer is true. Replace it with your own.
SigpipeGuard* SigpipeGuard::InThisThread() noexcept {
  // Contract: pipe.h. Stuck? tools/kata hint pipe SigpipeGuard
  return nullptr;
}

// Given: it is noexcept, so it cannot throw NotImplemented; while no guard
// can be made, this answer is true. Replace it with your own.
bool SigpipeGuard::OnlyGuardsBlockSigpipe() noexcept {
  // Contract: pipe.h. Stuck? tools/kata hint pipe SigpipeGuard
  return false;
}

void SigpipeGuard::TakeRaisedSigpipe() noexcept {
  // Contract: pipe.h. Stuck? tools/kata hint pipe SigpipeGuard
}

// ---------------------------------------------------------------- Stage 6

std::size_t MeasureCapacity() {
  // Contract: pipe.h. Stuck? tools/kata hint pipe MeasureCapacity
  throw NotImplemented("MeasureCapacity", 6);
}

Captured RunAndCapture(const ChildMain& child_main) {
  // Contract: pipe.h. Stuck? tools/kata hint pipe RunAndCapture
  (void)child_main;
  throw NotImplemented("RunAndCapture", 6);
}

// ---------------------------------------------------------------- Stage 7

void WriteRecord(int fd, std::string_view record) {
  // Contract: pipe.h. Stuck? tools/kata hint pipe WriteRecord
  (void)fd;
  (void)record;
  throw NotImplemented("WriteRecord", 7);
}

// ---------------------------------------------------------------- Stage 8

CommandResult RunCommand(const std::vector<std::string>& argv,
                         std::string_view input) {
  // Contract: pipe.h. Stuck? tools/kata hint pipe RunCommand
  (void)argv;
  (void)input;
  throw NotImplemented("RunCommand", 8);
}

}  // namespace kata::pipe
