// main() for every kata test binary: GoogleTest plus the safety net of
// kata.h (watchdog, leak check, escaped children, premature exit, signal
// state, stages) and the restart after a hang that cannot be stopped.

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <map>
#include <sstream>
#include <string>

#include "gtest/gtest.h"
#include "tests/support/internal.h"
#include "tests/support/kata.h"
#include "tests/support/signals.h"

namespace kata::internal {
namespace {

bool g_run_finished = false;

// Marks the failure the runner adds to a hung test, so the printer lets it
// through while it drops the consequences of the watchdog's kill.
constexpr char kDeadlineExceeded[] = "deadline exceeded";

// The order of the katas (tools/topics.txt), for "next:" after a green run.
constexpr const char* kCurriculum[] = {"pipe", "message_queue", "shared_memory",
                                       "sockets", "mailbox"};

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

std::string FailureText(const testing::TestResult& result) {
  std::string text;
  for (int i = 0; i < result.total_part_count(); ++i) {
    const testing::TestPartResult& part = result.GetTestPartResult(i);
    if (part.failed())
      text += (text.empty() ? "" : "\n") + std::string(part.message());
  }
  return text;
}

// "exercises/pipe/README.md#stage-1" -> "pipe".
std::string TopicOf(const std::string& where) {
  const std::string prefix = "exercises/";
  if (where.rfind(prefix, 0) != 0) return "";
  return where.substr(prefix.size(),
                      where.find('/', prefix.size()) - prefix.size());
}

// Under the learner's own test target (Bazel names it in TEST_TARGET), the
// command that shows this test's calls beside the reference solution's.
void PrintCompareCommand(const testing::TestInfo& test) {
  const char* target = std::getenv("TEST_TARGET");
  const std::string prefix = "//exercises/";
  if (target == nullptr || std::string(target).rfind(prefix, 0) != 0) return;
  const std::string rest = std::string(target).substr(prefix.size());
  const std::string topic = rest.substr(0, rest.find_first_of(":/"));
  std::printf(
      "beside the reference solution's, with the step where yours parts "
      "from it: tools/kata compare %s %s\n",
      topic.c_str(), FullName(test).c_str());
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

// GoogleTest's printer, minus what a hung test reports after the watchdog
// killed its children ("waitpid: No child processes", "killed by SIGKILL"):
// consequences of the kill, not more mistakes of the learner's.
class QuietAfterHang : public testing::TestEventListener {
 public:
  explicit QuietAfterHang(testing::TestEventListener* printer)
      : printer_(printer) {}
  ~QuietAfterHang() override { delete printer_; }

  void OnTestProgramStart(const testing::UnitTest& u) override {
    printer_->OnTestProgramStart(u);
  }
  void OnTestIterationStart(const testing::UnitTest& u, int i) override {
    printer_->OnTestIterationStart(u, i);
  }
  void OnEnvironmentsSetUpStart(const testing::UnitTest& u) override {
    printer_->OnEnvironmentsSetUpStart(u);
  }
  void OnEnvironmentsSetUpEnd(const testing::UnitTest& u) override {
    printer_->OnEnvironmentsSetUpEnd(u);
  }
  void OnTestSuiteStart(const testing::TestSuite& s) override {
    printer_->OnTestSuiteStart(s);
  }
  void OnTestStart(const testing::TestInfo& t) override {
    printer_->OnTestStart(t);
  }
  void OnTestPartResult(const testing::TestPartResult& result) override {
    const std::string hung = HungTest();
    if (!hung.empty() && hung == CurrentTest() &&
        std::string(result.message()).find(kDeadlineExceeded) ==
            std::string::npos) {
      return;
    }
    printer_->OnTestPartResult(result);
  }
  void OnTestEnd(const testing::TestInfo& t) override {
    printer_->OnTestEnd(t);
  }
  void OnTestSuiteEnd(const testing::TestSuite& s) override {
    printer_->OnTestSuiteEnd(s);
  }
  void OnEnvironmentsTearDownStart(const testing::UnitTest& u) override {
    printer_->OnEnvironmentsTearDownStart(u);
  }
  void OnEnvironmentsTearDownEnd(const testing::UnitTest& u) override {
    printer_->OnEnvironmentsTearDownEnd(u);
  }
  void OnTestIterationEnd(const testing::UnitTest& u, int i) override {
    printer_->OnTestIterationEnd(u, i);
  }
  void OnTestProgramEnd(const testing::UnitTest& u) override {
    printer_->OnTestProgramEnd(u);
  }

 private:
  testing::TestEventListener* printer_;
};

// Runs after the printer in start order, hence before it at the end of a
// test: failures it adds are printed and counted as the test's own.
class LateListener : public testing::EmptyTestEventListener {
 public:
  LateListener() {
    // Results from before a restart (resume.cc) count in the stage table.
    for (const FinishedTest& test : CarriedResults()) Count(test);
  }

  // A failed check goes into the timeline where it happened: when the
  // code's calls are the reference's, it is where the two part.
  void OnTestPartResult(const testing::TestPartResult& result) override {
    if (!result.failed()) return;
    std::string message;
    std::istringstream lines(result.message());
    for (std::string line; std::getline(lines, line);) {
      if (line.rfind("hint: ", 0) == 0) continue;  // printed just above
      message += line + "\n";
    }
    const std::string file =
        result.file_name() != nullptr ? result.file_name() : "?";
    kata_record_note(KATA_EVENT_CHECK, result.line_number(),
                     file.substr(file.rfind('/') + 1).c_str(), message.c_str());
  }

  void OnTestStart(const testing::TestInfo& test) override {
    SetCurrentTest(FullName(test));
    SetHungTest("");
    DisarmAllFaults();
    signals_before_ = CaptureSignalState();
    TakeLeakSnapshot();
    ArmWatchdog(FullName(test), std::chrono::seconds(5));
    StartTrace();
  }

  void OnTestEnd(const testing::TestInfo& test) override {
    ExitIfEscapedChild("the end of " + FullName(test));
    StopTrace();
    DisarmWatchdog();
    const bool hung = HungTest() == FullName(test);
    if (hung) {
      ADD_FAILURE() << kDeadlineExceeded
                    << ": the test hung and its children were killed (the "
                       "report above shows where each process was blocked, "
                       "and why)";
    }
    SharedPage& page = Shared();
    if (pid_t pid = page.escaped_pid.exchange(0)) {
      ADD_FAILURE() << "a forked child (pid " << pid
                    << ") returned into the test runner and reached "
                    << page.escaped_where
                    << " instead of ending with _exit(); it would have run "
                       "the rest of the tests a second time (it was stopped "
                       "with exit code "
                    << kEscapedChildExitCode
                    << ", which is the code a test then reports for it)"
                    << Hint(
                           "end every forked child with _exit(code) right "
                           "after its work; never return or fall through "
                           "into the parent's code");
    }
    if (pid_t pid = page.exited_pid.exchange(0); pid != 0 && !hung) {
      ADD_FAILURE() << "a child forked by the code under test (pid " << pid
                    << ") ended with exit() instead of _exit(): exit() runs "
                       "the atexit handlers and static destructors it "
                       "inherited from the parent, and flushes the parent's "
                       "unwritten stdio buffers a second time (output "
                       "printed twice)"
                    << Hint(
                           "end a forked child with _exit(code); exit() is "
                           "for the process that owns the program");
    }
    DisarmAllFaults();
    // A test stopped by an unfinished function leaks whatever it had set up
    // before the call; those leaks are cleaned up but not reported. So are
    // the leftovers of a test the watchdog stopped.
    const bool quiet = hung || HitUnfinishedFunction(*test.result());
    const std::string signals =
        SignalStateChanges(signals_before_, CaptureSignalState());
    if (!signals.empty() && !quiet) {
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
      if (!quiet) ADD_FAILURE() << "LEAK: " << leak;
    }
    if (test.result()->Failed()) {
      if (const Stage* stage = FindStage(test.test_suite_name())) {
        std::printf("hint: this is %s: read %s\n", stage->title.c_str(),
                    stage->where.c_str());
      }
    }
    // What the code under test did, unless it never got to run.
    if ((test.result()->Failed() && !HitUnfinishedFunction(*test.result())) ||
        TraceAlways()) {
      std::fputs(RenderCurrentTimeline().c_str(), stdout);
      if (test.result()->Failed()) PrintCompareCommand(test);
    }
    FinishedTest finished;
    finished.suite = test.test_suite_name();
    finished.name = test.name();
    finished.seconds =
        static_cast<double>(test.result()->elapsed_time()) / 1000.0;
    finished.status = hung                       ? FinishedTest::kHung
                      : test.result()->Failed()  ? FinishedTest::kFailed
                      : test.result()->Skipped() ? FinishedTest::kSkipped
                                                 : FinishedTest::kPassed;
    finished.message = FailureText(*test.result());
    Count(finished);
    RecordFinished(std::move(finished));
  }

  void OnTestProgramEnd(const testing::UnitTest&) override {
    SetTestsRunning(false);
    g_run_finished = true;
    std::vector<Stage> stages = AllStages();
    if (stages.empty()) return;
    std::printf("\nProgress through the stages:\n");
    const Stage* next = nullptr;
    int shown = 0;
    for (const Stage& stage : stages) {
      auto it = tallies_.find(stage.suite);
      if (it == tallies_.end()) continue;
      ++shown;
      const Tally& tally = it->second;
      bool done = tally.passed == tally.total;
      std::printf("  %-28s %3d/%-3d %s\n", stage.suite.c_str(), tally.passed,
                  tally.total,
                  done                  ? "done"
                  : !tally.hung.empty() ? ("hung: " + tally.hung).c_str()
                                        : "");
      if (!done && next == nullptr) next = &stage;
    }
    if (next != nullptr) {
      std::printf("Next: %s, read %s\n", next->title.c_str(),
                  next->where.c_str());
    } else if (shown == static_cast<int>(stages.size())) {
      PrintKataDone(stages);
    }
    std::fflush(stdout);
  }

 private:
  struct Tally {
    int passed = 0, total = 0;
    std::string hung;  // the test of this stage the watchdog stopped
  };

  void Count(const FinishedTest& test) {
    // Typed and parameterized suites ("Stage7RealClients/Tcp") count for
    // their stage.
    Tally& tally = tallies_[test.suite.substr(0, test.suite.find('/'))];
    ++tally.total;
    if (test.status == FinishedTest::kPassed) ++tally.passed;
    if (test.status == FinishedTest::kHung) tally.hung = test.name;
  }

  // Every stage of the kata ran and passed: say so, and what comes next.
  static void PrintKataDone(const std::vector<Stage>& stages) {
    const std::string topic = TopicOf(stages.front().where);
    if (topic.empty()) return;
    std::string next;
    for (std::size_t i = 0; i + 1 < std::size(kCurriculum); ++i) {
      if (topic == kCurriculum[i]) next = kCurriculum[i + 1];
    }
    std::printf("%s: all %zu stages pass. ", topic.c_str(), stages.size());
    if (next.empty()) {
      std::printf(
          "That was the last kata: docs/README.md prepares the "
          "interview.\n");
    } else {
      std::printf("Next: %s, read exercises/%s/README.md\n", next.c_str(),
                  next.c_str());
    }
  }

  std::map<std::string, Tally> tallies_;
  SignalState signals_before_;
};

// exit() in the middle of the run would end the binary with the caller's
// status; Bazel 4.2.3 treats exit code 0 as a pass. Turn it into a failure.
// In a child forked by the code under test, exit() runs this handler too:
// note it for the runner, and let the child end as it asked.
void OnExit() {
  if (getpid() != RunnerPid()) {
    if (!InKataChild()) {
      pid_t none = 0;
      Shared().exited_pid.compare_exchange_strong(none, getpid());
      kata_record(KATA_EVENT_EXIT, 0, 0, 0, 0, 0, 0, 0, nullptr, 0);
    }
    return;
  }
  if (g_run_finished) return;
  SetTestsRunning(false);  // the _exit(3) below is ours
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
  PrepareResume(&argc, argv);
  RedirectXmlForResume(argc, argv);
  testing::InitGoogleTest(&argc, argv);
  InitRunner();
  StartWatchdog();
  std::atexit(OnExit);

  testing::TestEventListeners& listeners =
      testing::UnitTest::GetInstance()->listeners();
  testing::TestEventListener* printer =
      listeners.Release(listeners.default_result_printer());
  listeners.Append(new EarlyListener);
  if (printer != nullptr) listeners.Append(new QuietAfterHang(printer));
  listeners.Append(new LateListener);

  SetTestsRunning(true);
  int result = RUN_ALL_TESTS();
  SetTestsRunning(false);
  g_run_finished = true;
  MergeCarriedIntoXml();
  for (const FinishedTest& test : CarriedResults()) {
    if (test.status == FinishedTest::kFailed ||
        test.status == FinishedTest::kHung) {
      result = 1;
    }
  }
  return result;
}
