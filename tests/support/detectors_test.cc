// Proves that every detector of the support library fires: each case runs one
// deliberately broken test of victims.cc in its own process and checks the
// report that comes out. Also checks the helpers that must NOT report.

#include <fcntl.h>
#include <mqueue.h>
#include <semaphore.h>
#include <signal.h>
#include <sys/ipc.h>
#include <sys/mman.h>
#include <sys/msg.h>
#include <sys/sem.h>
#include <sys/shm.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <iterator>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/support/kata.h"

namespace {

using ::testing::HasSubstr;
using ::testing::MatchesRegex;
using ::testing::Not;

struct Outcome {
  int exit_code = -1;
  std::string output;
  double seconds = 0;
};

// Runs one victim test in its own process and captures what it prints.
// `launcher` is an optional command that starts the victim (with a space).
Outcome RunVictim(const std::string& test, const std::string& launcher = "") {
  // The victim must not touch this test's XML report or premature-exit file.
  std::string command =
      "env -u XML_OUTPUT_FILE -u TEST_PREMATURE_EXIT_FILE -u GTEST_OUTPUT " +
      launcher + kata::RunfilePath("tests/support/victims") +
      " --gtest_filter=Victim." + test + " 2>&1";
  auto start = std::chrono::steady_clock::now();
  FILE* pipe = popen(command.c_str(), "r");
  Outcome outcome;
  if (pipe == nullptr) return outcome;
  char buffer[4096];
  std::size_t n;
  while ((n = fread(buffer, 1, sizeof(buffer), pipe)) > 0) {
    outcome.output.append(buffer, n);
  }
  int status = pclose(pipe);
  outcome.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128;
  outcome.seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
          .count();
  return outcome;
}

void ExpectReport(const std::string& test, const std::string& report) {
  Outcome outcome = RunVictim(test);
  EXPECT_NE(outcome.exit_code, 0) << "Victim." << test << " passed:\n"
                                  << outcome.output;
  EXPECT_THAT(outcome.output, HasSubstr(report));
}

// Tests that a clean test passes and reports nothing (no false alarms).
TEST(Detectors, CleanTestPassesQuietly) {
  Outcome outcome = RunVictim("Clean");
  EXPECT_EQ(outcome.exit_code, 0) << outcome.output;
  EXPECT_THAT(outcome.output, Not(HasSubstr("LEAK")));
}

// Tests that a failed check is in the timeline, after the calls before it,
// with its file, line and message (its hint is printed above already).
TEST(Detectors, PutsAFailedCheckInTheTimeline) {
  Outcome outcome = RunVictim("FailsACheck");
  EXPECT_NE(outcome.exit_code, 0) << outcome.output;
  const std::string& out = outcome.output;
  const std::size_t timeline = out.find("what your code did");
  ASSERT_NE(timeline, std::string::npos) << out;
  const std::size_t close = out.find("close(", timeline);
  const std::size_t check = out.find("check failed at victims.cc:", timeline);
  ASSERT_NE(check, std::string::npos) << out;
  EXPECT_LT(close, check) << "the check is not after the calls before it:\n"
                          << out;
  EXPECT_THAT(out.substr(check), HasSubstr("Expected equality"));
  EXPECT_THAT(out.substr(timeline), Not(HasSubstr("htons() going in")))
      << "the hint belongs above the timeline, not in it";
}

// Tests the descriptor leak check.
TEST(Detectors, ReportsALeakedDescriptor) {
  ExpectReport("LeaksADescriptor", "(read end) was opened during the test");
}

// Tests the zombie check.
TEST(Detectors, ReportsAZombie) {
  ExpectReport("LeavesAZombie", "is a zombie: it ended but nobody reaped it");
}

// Tests the running-child check.
TEST(Detectors, ReportsARunningChild) {
  ExpectReport("LeavesARunningChild",
               "is still running at the end of the test");
}

// Tests the /dev/shm check.
TEST(Detectors, ReportsSharedMemoryLeftBehind) {
  ExpectReport("LeavesSharedMemory", "was left behind: shm_unlink()");
}

// Tests the named-semaphore check.
TEST(Detectors, ReportsANamedSemaphoreLeftBehind) {
  ExpectReport("LeavesANamedSemaphore", "was left behind: sem_unlink()");
}

// Tests the /dev/mqueue check.
TEST(Detectors, ReportsAPosixQueueLeftBehind) {
  ExpectReport("LeavesAPosixQueue", "was left behind: mq_unlink()");
}

// Tests that the /dev/shm check claims only this run's objects: another
// target's runner may have the same pid (Bazel gives each test its own PID
// namespace) but not the same run token, and its objects stay untouched.
TEST(Detectors, LeavesAnotherRunsObjectsAlone) {
  Outcome outcome = RunVictim("SeesAnotherRunsObjectWithTheSamePid");
  EXPECT_EQ(outcome.exit_code, 0) << outcome.output;
  EXPECT_THAT(outcome.output, Not(HasSubstr("LEAK")));
  const std::size_t at = outcome.output.find("created /dev/shm/");
  ASSERT_NE(at, std::string::npos) << outcome.output;
  const std::string path =
      outcome.output.substr(at + 8, outcome.output.find('\n', at) - at - 8);
  EXPECT_EQ(access(path.c_str(), F_OK), 0)
      << path << " was deleted by another run's leak check";
  unlink(path.c_str());
}

// Tests the System V check for a queue with this run's key.
TEST(Detectors, ReportsASysvQueueLeftBehind) {
  ExpectReport("LeavesASysvQueue", "msgctl(IPC_RMID)");
}

// Tests the System V check for an IPC_PRIVATE queue this run used.
TEST(Detectors, ReportsAPrivateSysvQueueLeftBehind) {
  ExpectReport("LeavesAPrivateSysvQueueItUsed", "msgctl(IPC_RMID)");
}

// Tests the socket-file check.
TEST(Detectors, ReportsASocketFileLeftBehind) {
  ExpectReport("LeavesASocketFile", "was left behind: unlink() it");
}

// Tests that leaks behind an unfinished stub function are cleaned up quietly.
TEST(Detectors, StaysQuietAboutLeaksOfUnfinishedFunctions) {
  Outcome outcome = RunVictim("HitsAnUnfinishedFunctionAfterLeaking");
  EXPECT_THAT(outcome.output, HasSubstr("not implemented yet"));
  EXPECT_THAT(outcome.output, Not(HasSubstr("LEAK")));
}

// Tests the watchdog: named test, cause, what each process waits on, and a
// stop within seconds.
TEST(Detectors, WatchdogStopsAHangWithItsCause) {
  Outcome outcome = RunVictim("Hangs");
  EXPECT_NE(outcome.exit_code, 0);
  EXPECT_THAT(outcome.output,
              HasSubstr("[ DEADLOCK? ] Victim.Hangs did not finish within"));
  EXPECT_THAT(outcome.output, HasSubstr("victim-cause: the read end waits"));
  EXPECT_THAT(outcome.output, HasSubstr("(test runner)"));
  EXPECT_THAT(outcome.output, HasSubstr("pipes and who holds their ends"));
  EXPECT_LT(outcome.seconds, 10.0);
}

// Tests that a hang the watchdog can end (the runner waits for a child) is
// explained from the kernel's view, costs that test only, and is not
// followed by the consequences of the kill (a killed child, a failed wait).
TEST(Detectors, ExplainsWaitingBeforeDrainingAndGoesOn) {
  Outcome outcome = RunVictim("WaitsBeforeDraining:Victim.ZzRunsLast");
  EXPECT_NE(outcome.exit_code, 0);
  EXPECT_THAT(outcome.output,
              HasSubstr("you waited for the child before reading what it "
                        "writes"));
  EXPECT_THAT(outcome.output, Not(HasSubstr("the test's hint agrees")))
      << "an unrelated guess was shown as if it agreed";
  EXPECT_THAT(outcome.output, HasSubstr("[       OK ] Victim.ZzRunsLast"));
  EXPECT_THAT(outcome.output, HasSubstr("hung: WaitsBeforeDraining"));
  EXPECT_THAT(outcome.output, Not(HasSubstr("LEAK")));
  EXPECT_THAT(outcome.output, Not(HasSubstr("killed by")));
}

// Tests the other deadlock shapes the kernel's view reveals.
TEST(Detectors, ExplainsAChildThatKeptTheWriteEnd) {
  ExpectReport("ChildKeepsTheWriteEnd",
               "still holds its own copy of the write end");
}

TEST(Detectors, ExplainsBothSidesWriting) {
  ExpectReport("BothSidesWrite", "both pipes are full and neither side reads");
}

// Tests that a runner blocked for good is started again for the tests after
// the hung one, and that its XML report covers every test.
TEST(Detectors, RestartsAfterAHangItCannotStop) {
  const std::string xml =
      std::string(std::getenv("TEST_TMPDIR") ? std::getenv("TEST_TMPDIR")
                                             : "/tmp") +
      "/restart-report.xml";
  Outcome outcome = RunVictim(
      "WriterKeepsTheReadEnd:Victim.ZzRunsLast "
      "--gtest_output=xml:" +
      xml);
  EXPECT_NE(outcome.exit_code, 0);
  EXPECT_THAT(outcome.output, HasSubstr("still holds its own copy of the read "
                                        "end"));
  EXPECT_THAT(outcome.output, HasSubstr("[ RESUMED  ] after "
                                        "Victim.WriterKeepsTheReadEnd"));
  EXPECT_THAT(outcome.output, HasSubstr("[       OK ] Victim.ZzRunsLast"));
  std::ifstream in(xml);
  std::string report((std::istreambuf_iterator<char>(in)),
                     std::istreambuf_iterator<char>());
  EXPECT_THAT(report, HasSubstr("<testsuites tests=\"2\" failures=\"1\""));
  EXPECT_THAT(report, HasSubstr("name=\"WriterKeepsTheReadEnd\""));
  EXPECT_THAT(report, HasSubstr("name=\"ZzRunsLast\""));
  EXPECT_LT(outcome.seconds, 10.0);
}

// Tests that a child forked by the code under test that ends with exit()
// is reported.
TEST(Detectors, ReportsAForkedChildThatCalledExit) {
  ExpectReport("ForkedChildCallsExit", "ended with exit() instead of _exit()");
}

// Tests that the watchdog shows the value of the semaphore a test waits on,
// and removes the semaphore on its way out (the leak check never runs then).
TEST(Detectors, WatchdogShowsSemaphoreValuesAndRemovesThem) {
  Outcome outcome = RunVictim("HangsOnASemaphore");
  EXPECT_THAT(outcome.output, HasSubstr("victim-cause: nobody posts"));
  EXPECT_THAT(outcome.output, HasSubstr(": value 0"));
  const std::size_t at = outcome.output.find("created /dev/shm/");
  ASSERT_NE(at, std::string::npos) << outcome.output;
  const std::string path =
      outcome.output.substr(at + 8, outcome.output.find('\n', at) - at - 8);
  EXPECT_NE(access(path.c_str(), F_OK), 0)
      << path << " outlived the deadlocked run";
  unlink(path.c_str());
}

// Tests that exit() in the middle of the run is a failure, not a pass.
TEST(Detectors, ReportsAnExitInTheMiddleOfTheRun) {
  Outcome outcome = RunVictim("ExitsEarly");
  EXPECT_EQ(outcome.exit_code, 3) << outcome.output;
  EXPECT_THAT(outcome.output,
              HasSubstr("exit() was called during Victim.ExitsEarly"));
}

// Tests that the runner ending with _exit(0) in a test body (the parent took
// the child's branch after fork) is a failure, not a pass.
TEST(Detectors, ReportsTheRunnerEndingWithUnderscoreExit) {
  Outcome outcome = RunVictim("ParentTakesTheChildsBranch");
  // The victim's child, orphaned, came to us (the runner is a subreaper).
  for (pid_t orphan : kata::ChildProcesses()) waitpid(orphan, nullptr, 0);
  EXPECT_EQ(outcome.exit_code, 3) << outcome.output;
  EXPECT_THAT(outcome.output,
              HasSubstr("_exit(0) was called in the test runner during "
                        "Victim.ParentTakesTheChildsBranch"));
}

// Tests that a forked child falling back into GoogleTest is reported once.
TEST(Detectors, ReportsAChildThatEscapedIntoTheRunner) {
  Outcome outcome = RunVictim("ChildEscapesIntoTheRunner");
  EXPECT_NE(outcome.exit_code, 0);
  EXPECT_THAT(outcome.output, HasSubstr("returned into the test runner"));
  // The escaped child must not have run (and printed) the test a second time.
  std::size_t first = outcome.output.find("[ RUN      ]");
  EXPECT_EQ(outcome.output.find("[ RUN      ]", first + 1), std::string::npos)
      << outcome.output;
}

// Tests that a kata::Child's assertion failure reaches the parent.
TEST(Detectors, CarriesAChildsFailureHome) {
  ExpectReport("ChildFailsAnAssertion", "victim-child-side failure");
}

// Tests that a kata::Child's exception reaches the parent.
TEST(Detectors, CarriesAChildsExceptionHome) {
  ExpectReport("ChildThrows", "exception thrown in the child: victim-boom");
}

// Tests that a kata::Child killed by a signal is reported with its meaning.
TEST(Detectors, ExplainsAChildsKillingSignal) {
  ExpectReport("ChildDiesOfSigpipe", "was killed by SIGPIPE");
  ExpectReport("ChildDiesOfSigpipe", "neither blocked nor ignored");
}

// Tests that a kata::Child killed by a SIGPIPE it blocked for the write but
// left pending when it restored the mask is told apart from one that never
// blocked it.
TEST(Detectors, TellsAPendingSigpipeFromAnUnblockedOne) {
  Outcome outcome = RunVictim("ChildUnblocksAPendingSigpipe");
  EXPECT_NE(outcome.exit_code, 0) << outcome.output;
  EXPECT_THAT(outcome.output,
              HasSubstr("still pending when the signal mask was restored"));
  EXPECT_THAT(outcome.output, Not(HasSubstr("neither blocked nor ignored")));
}

// Tests that a kata::Child calling exit() is reported.
TEST(Detectors, ReportsAChildThatCalledExit) {
  ExpectReport("ChildCallsExit", "exited with code 4");
  ExpectReport("ChildCallsExitZero",
               "exited with code 0 before its test code finished");
}

// Tests the proof-of-mechanism counter.
TEST(Detectors, ReportsTheWrongMechanism) {
  ExpectReport("UsesTheWrongMechanism", "this kata asks for a pipe (pipe(2))");
}

// Tests that a test which leaves the runner's signal state changed fails,
// and that the runner puts the state back for the tests after it.
TEST(Detectors, ReportsAndRepairsAChangedSignalState) {
  Outcome outcome =
      RunVictim("LeavesSigpipeIgnored:Victim.FindsSigpipeAtItsDefault");
  EXPECT_NE(outcome.exit_code, 0) << outcome.output;
  EXPECT_THAT(outcome.output,
              HasSubstr("the test runner's signal state changed during the "
                        "test: SIGPIPE: disposition SIG_DFL"));
  EXPECT_THAT(outcome.output, HasSubstr("[       OK ] "
                                        "Victim.FindsSigpipeAtItsDefault"));
}

// Tests the check for shared mappings left mapped.
TEST(Detectors, ReportsAMappingLeftMapped) {
  ExpectReport("LeavesAMapping", "is still mapped: munmap()");
}

// Tests the check for threads left running.
TEST(Detectors, ReportsAThreadLeftRunning) {
  ExpectReport("LeavesAThread", "thread(s) started during the test are still");
}

// Tests that a fault a test leaves armed is disarmed for the next test.
TEST(Detectors, DisarmsFaultsBetweenTests) {
  Outcome outcome = RunVictim("ArmsAFaultAndLeaves:Victim.Clean");
  EXPECT_EQ(outcome.exit_code, 0) << outcome.output;
  EXPECT_THAT(outcome.output, HasSubstr("[       OK ] Victim.Clean"));
}

// Tests that calls made in children are counted (the counters are shared),
// and that the support library's own fork (kata::Child) is not.
TEST(Helpers, CallCounterCountsChildren) {
  kata::CallCounter calls;
  kata::RunInChild([] {
    int fds[2];
    ASSERT_EQ(pipe(fds), 0);
    close(fds[0]);
    close(fds[1]);
    pid_t pid = fork();
    if (pid == 0) _exit(0);
    waitpid(pid, nullptr, 0);
  });
  EXPECT_GE(calls.Count({"pipe"}), 1);  // sanitizer runtimes add their own
  EXPECT_EQ(calls.Count({"fork"}), 1);
}

// Tests that unique names differ and carry the runner's pid.
TEST(Helpers, UniqueNamesCarryThePidAndDiffer) {
  std::string a = kata::UniqueName("x"), b = kata::UniqueName("x");
  EXPECT_NE(a, b);
  EXPECT_THAT(a, HasSubstr("-" + std::to_string(getpid()) + "-"));
  EXPECT_LT(kata::UniqueSocketPath("a-socket").size(), 108u);
  EXPECT_NE(kata::UniqueSysvKey(), kata::UniqueSysvKey());
}

// Tests that two runs with the same pid get different names and keys. Under
// Bazel each test binary runs in its own PID namespace, so parallel targets
// have the same runner pid; here each victim is pid 1 of a new namespace.
TEST(Helpers, RunsWithTheSamePidGetDifferentNames) {
  auto names = [] {
    Outcome outcome = RunVictim("PrintsItsNames",
                                "unshare --user --pid --fork --mount-proc ");
    EXPECT_EQ(outcome.exit_code, 0) << outcome.output;
    std::size_t start = outcome.output.find("names: ");
    if (start == std::string::npos) return std::string("(none)");
    return outcome.output.substr(start,
                                 outcome.output.find('\n', start) - start);
  };
  const std::string first = names(), second = names();
  // "/kata-<run id>-1-3-x": each runner is pid 1 of its namespace.
  EXPECT_THAT(first, MatchesRegex("names: /kata-[0-9a-f]+-1-.*"));
  EXPECT_THAT(second, MatchesRegex("names: /kata-[0-9a-f]+-1-.*"));
  EXPECT_NE(first, second) << "names and keys must differ between the runs";
}

// Tests the signal helpers: a read() blocked when InterruptRunnerWhenBlocked's
// signal comes fails with EINTR, because InterruptingSignal's handler has no
// SA_RESTART.
TEST(Helpers, InterruptRunnerWhenBlockedMakesABlockedReadFailWithEintr) {
  kata::InterruptingSignal interrupt(SIGUSR1);
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  kata::Child interrupter([&] {
    close(fds[0]);
    kata::InterruptRunnerWhenBlocked(SIGUSR1);
    close(fds[1]);
  });
  close(fds[1]);
  char byte;
  errno = 0;
  const ssize_t n = read(fds[0], &byte, 1);
  const int error = errno;
  close(fds[0]);
  interrupter.Join();
  EXPECT_EQ(n, -1);
  EXPECT_EQ(error, EINTR);
}

// Tests that Difference names the sizes and the first differing byte.
TEST(Helpers, DifferenceNamesTheFirstDifferingByte) {
  EXPECT_EQ(kata::Difference("same", "same"), "");
  EXPECT_EQ(kata::Difference("abc", "abd"),
            "expected 3 bytes, got 3; first difference at byte 2");
  EXPECT_EQ(kata::Difference("abc", "ab"),
            "expected 3 bytes, got 2; first difference at byte 2");
}

// Tests that SharedText written by a child is read by the parent.
TEST(Helpers, SharedTextCrossesFork) {
  kata::SharedText text;
  kata::RunInChild([&] { text.Store("from the child"); });
  EXPECT_EQ(text.Load(), "from the child");
}

}  // namespace
