// main() for every kata test binary: GoogleTest plus the safety net of
// kata.h (watchdog, leak check, escaped children, premature exit, stages).

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <map>
#include <string>

#include "gtest/gtest.h"
#include "tests/support/internal.h"
#include "tests/support/kata.h"
#include "tests/support/signals.h"

namespace kata::internal {
namespace {

bool g_run_finished = false;

std::string FullName(const testing::TestInfo& test) {
  return std::string(test.test_suite_name()) + "." + test.name();
}

bool HitUnfinishedFunction(const testing::TestResult& result) {
  for (int i = 0; i < result.total_part_count(); ++i) {
    std::string message = result.GetTestPartResult(i).message();
    if (message.find("not implemented yet") != std::string::npos) return true;
  }
  return false;
}

// Runs before GoogleTest's printer, so a child that escaped into the runner's
// code is stopped before its failures are printed as if they were the
// parent's.
class EarlyListener : public testing::EmptyTestEventListener {
 public:
  void OnTestPartResult(const testing::TestPartResult&) override {
    ExitIfEscapedChild("a failing assertion in " + CurrentTest());
  }
};

// Runs after the printer in start order, hence before it at the end of a
// test: failures it adds are printed and counted as the test's own.
class LateListener : public testing::EmptyTestEventListener {
 public:
  void OnTestStart(const testing::TestInfo& test) override {
    SetCurrentTest(FullName(test));
    DisarmAllFaults();
    signals_before_ = CaptureSignalState();
    TakeLeakSnapshot();
    ArmWatchdog(FullName(test), std::chrono::seconds(5));
  }

  void OnTestEnd(const testing::TestInfo& test) override {
    ExitIfEscapedChild("the end of " + FullName(test));
    DisarmWatchdog();
    SharedPage& page = Shared();
    if (pid_t pid = page.escaped_pid.exchange(0)) {
      ADD_FAILURE() << "a forked child (pid " << pid
                    << ") returned into the test runner and reached "
                    << page.escaped_where
                    << " instead of ending with _exit(); it would have run "
                       "the rest of the tests a second time"
                    << Hint(
                           "end every forked child with _exit(code) right "
                           "after its work; never return or fall through "
                           "into the parent's code");
    }
    DisarmAllFaults();
    // A test stopped by an unfinished function leaks whatever it had set up
    // before the call; those leaks are cleaned up but not reported.
    const bool unfinished = HitUnfinishedFunction(*test.result());
    const std::string signals =
        SignalStateChanges(signals_before_, CaptureSignalState());
    if (!signals.empty() && !unfinished) {
      ADD_FAILURE() << "the test runner's signal state changed during the "
                       "test: "
                    << signals
                    << Hint(
                           "a call may change a signal's disposition or mask "
                           "only while it runs: restore what you saved before "
                           "returning (a process-wide SIG_IGN changes the "
                           "caller's program), and never consume a signal "
                           "the caller had pending");
    }
    if (!signals.empty()) RestoreSignalState(signals_before_);
    for (const std::string& leak : FindAndCleanLeaks()) {
      if (!unfinished) ADD_FAILURE() << "LEAK: " << leak;
    }
    if (test.result()->Failed()) {
      if (const Stage* stage = FindStage(test.test_suite_name())) {
        std::printf("hint: this is %s: read %s\n", stage->title.c_str(),
                    stage->where.c_str());
      }
    }
    Tally& tally = tallies_[test.test_suite_name()];
    ++tally.total;
    if (!test.result()->Failed() && !test.result()->Skipped()) ++tally.passed;
  }

  void OnTestProgramEnd(const testing::UnitTest&) override {
    g_run_finished = true;
    std::vector<Stage> stages = AllStages();
    if (stages.empty()) return;
    std::printf("\nProgress through the stages:\n");
    const Stage* next = nullptr;
    for (const Stage& stage : stages) {
      auto it = tallies_.find(stage.suite);
      if (it == tallies_.end()) continue;
      bool done = it->second.passed == it->second.total;
      std::printf("  %-28s %3d/%-3d %s\n", stage.suite.c_str(),
                  it->second.passed, it->second.total, done ? "done" : "");
      if (!done && next == nullptr) next = &stage;
    }
    if (next != nullptr) {
      std::printf("Next: %s, read %s\n", next->title.c_str(),
                  next->where.c_str());
    }
    std::fflush(stdout);
  }

 private:
  struct Tally {
    int passed = 0, total = 0;
  };
  std::map<std::string, Tally> tallies_;
  SignalState signals_before_;
};

// exit() in the middle of the run would end the binary with the caller's
// status; Bazel 4.2.3 treats exit code 0 as a pass. Turn it into a failure.
void FailOnPrematureExit() {
  if (getpid() != RunnerPid() || g_run_finished) return;
  WriteRaw(STDOUT_FILENO,
           "\n[  FAILED  ] exit() was called during " + CurrentTest() +
               ", before the test run finished: the code under test must not "
               "end the process (a forked child must end with _exit())\n");
  _exit(3);
}

}  // namespace
}  // namespace kata::internal

int main(int argc, char** argv) {
  using namespace kata::internal;
  testing::InitGoogleTest(&argc, argv);
  InitRunner();
  StartWatchdog();
  std::atexit(FailOnPrematureExit);

  testing::TestEventListeners& listeners =
      testing::UnitTest::GetInstance()->listeners();
  testing::TestEventListener* printer =
      listeners.Release(listeners.default_result_printer());
  listeners.Append(new EarlyListener);
  if (printer != nullptr) listeners.Append(printer);
  listeners.Append(new LateListener);

  int result = RUN_ALL_TESTS();
  g_run_finished = true;
  return result;
}
