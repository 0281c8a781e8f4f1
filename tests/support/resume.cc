// Going on after a hang (internal.h: RecordFinished, RestartAfterHang).
//
// A test whose runner thread is blocked for good (reading a pipe whose write
// end it holds itself, say) cannot be stopped from inside the process. The
// watchdog then starts the test binary again with exec, filtered to the tests
// not yet run, and hands it the results so far in a small file
// (--kata_resume=FILE). The new run shows them in its stage table and writes
// one XML report that covers every test, so a hang costs the learner one
// test, not the rest of the run.

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <fstream>
#include <map>
#include <mutex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "tests/support/internal.h"

namespace kata::internal {
namespace {

constexpr char kResumeFlag[] = "--kata_resume=";

std::mutex g_mutex;
std::vector<FinishedTest> g_finished;  // carried ones first
std::vector<std::string> g_argv;       // as main() got it, minus the flag
std::set<int> g_startup_fds;           // open when main() started
sigset_t g_startup_mask;               // main()'s signal mask at the start
struct sigaction g_sigpipe_before_hang;
std::string g_xml_destination;  // where gtest's XML must end up
std::string g_xml_scratch;      // where gtest writes it meanwhile
std::string g_hung_test;
std::size_t g_carried_count = 0;  // entries of g_finished from before exec

std::string Escape(const std::string& text) {
  std::string out;
  for (char c : text) {
    if (c == '\\')
      out += "\\\\";
    else if (c == '\n')
      out += "\\n";
    else if (c == '\t')
      out += "\\t";
    else
      out += c;
  }
  return out;
}

std::string Unescape(const std::string& text) {
  std::string out;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '\\' || i + 1 == text.size()) {
      out += text[i];
      continue;
    }
    char next = text[++i];
    out += next == 'n' ? '\n' : next == 't' ? '\t' : next;
  }
  return out;
}

std::vector<FinishedTest> Load(const std::string& path) {
  std::vector<FinishedTest> tests;
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) {
    std::vector<std::string> fields;
    std::size_t start = 0;
    for (int i = 0; i < 4; ++i) {
      std::size_t tab = line.find('\t', start);
      if (tab == std::string::npos) break;
      fields.push_back(line.substr(start, tab - start));
      start = tab + 1;
    }
    if (fields.size() != 4) continue;
    FinishedTest test;
    test.suite = fields[0];
    test.name = fields[1];
    test.status =
        static_cast<FinishedTest::Status>(std::atoi(fields[2].c_str()));
    test.seconds = std::atof(fields[3].c_str());
    test.message = Unescape(line.substr(start));
    tests.push_back(std::move(test));
  }
  return tests;
}

std::string XmlAttribute(const std::string& text) {
  std::string out;
  for (char c : text) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\n':
        out += "&#x0A;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

std::string Cdata(const std::string& text) {
  std::string out = "<![CDATA[";
  std::size_t start = 0, end;
  while ((end = text.find("]]>", start)) != std::string::npos) {
    out += text.substr(start, end - start) + "]]>]]&gt;<![CDATA[";
    start = end + 3;
  }
  return out + text.substr(start) + "]]>";
}

// The carried results as <testsuite> elements gtest would have written.
std::string CarriedXml(const std::vector<FinishedTest>& tests, int* count,
                       int* failures) {
  std::map<std::string, std::vector<const FinishedTest*>> suites;
  std::vector<std::string> order;
  for (const FinishedTest& test : tests) {
    if (!suites.count(test.suite)) order.push_back(test.suite);
    suites[test.suite].push_back(&test);
  }
  std::string xml;
  for (const std::string& suite : order) {
    int suite_failures = 0;
    double seconds = 0;
    for (const FinishedTest* test : suites[suite]) {
      seconds += test->seconds;
      if (test->status == FinishedTest::kFailed ||
          test->status == FinishedTest::kHung) {
        ++suite_failures;
      }
    }
    *count += static_cast<int>(suites[suite].size());
    *failures += suite_failures;
    xml += "  <testsuite name=\"" + XmlAttribute(suite) + "\" tests=\"" +
           std::to_string(suites[suite].size()) + "\" failures=\"" +
           std::to_string(suite_failures) +
           "\" disabled=\"0\" skipped=\"0\" errors=\"0\" time=\"" +
           std::to_string(seconds) + "\">\n";
    for (const FinishedTest* test : suites[suite]) {
      xml +=
          "    <testcase name=\"" + XmlAttribute(test->name) +
          "\" status=\"run\" result=\"" +
          (test->status == FinishedTest::kSkipped ? "skipped" : "completed") +
          "\" time=\"" + std::to_string(test->seconds) + "\" classname=\"" +
          XmlAttribute(suite) + "\"";
      if (test->status == FinishedTest::kFailed ||
          test->status == FinishedTest::kHung) {
        xml += ">\n      <failure message=\"" + XmlAttribute(test->message) +
               "\" type=\"\">" + Cdata(test->message) +
               "</failure>\n    </testcase>\n";
      } else {
        xml += " />\n";
      }
    }
    xml += "  </testsuite>\n";
  }
  return xml;
}

// Adds `delta` to the number in attribute `name` of the first tag `tag`.
void AddToAttribute(std::string& xml, const std::string& tag,
                    const std::string& name, int delta) {
  std::size_t at = xml.find("<" + tag + " ");
  if (at == std::string::npos) return;
  std::size_t end = xml.find('>', at);
  std::size_t attribute = xml.find(" " + name + "=\"", at);
  if (attribute == std::string::npos || attribute > end) return;
  std::size_t value = attribute + name.size() + 3;
  std::size_t close = xml.find('"', value);
  int number = std::atoi(xml.substr(value, close - value).c_str()) + delta;
  xml.replace(value, close - value, std::to_string(number));
}

}  // namespace

void RecordFinished(FinishedTest test) {
  std::lock_guard<std::mutex> lock(g_mutex);
  g_finished.push_back(std::move(test));
}

std::vector<FinishedTest> CarriedResults() {
  std::lock_guard<std::mutex> lock(g_mutex);
  return g_finished;
}

std::vector<BlockedCall> g_blocked_calls;

std::vector<BlockedCall> BlockedCalls() {
  std::lock_guard<std::mutex> lock(g_mutex);
  return g_blocked_calls;
}

void SetBlockedCalls(std::vector<BlockedCall> calls) {
  std::lock_guard<std::mutex> lock(g_mutex);
  g_blocked_calls = std::move(calls);
}

std::string HungTest() {
  std::lock_guard<std::mutex> lock(g_mutex);
  return g_hung_test;
}

void SetHungTest(std::string test) {
  std::lock_guard<std::mutex> lock(g_mutex);
  if (!test.empty()) {
    // Killing a hung test's children must not kill the runner with SIGPIPE
    // (it may be blocked writing to a pipe only a child reads). The runner
    // puts the disposition back when the test ends (RestoreSignalState),
    // and RestartAfterHang before it starts the run again.
    struct sigaction ignore{};
    ignore.sa_handler = SIG_IGN;
    sigemptyset(&ignore.sa_mask);
    sigaction(SIGPIPE, &ignore, &g_sigpipe_before_hang);
  }
  if (test.empty()) g_blocked_calls.clear();
  g_hung_test = std::move(test);
}

void PrepareResume(int* argc, char** argv) {
  std::string resume;
  int kept = 0;
  for (int i = 0; i < *argc; ++i) {
    if (std::strncmp(argv[i], kResumeFlag, sizeof(kResumeFlag) - 1) == 0) {
      resume = argv[i] + sizeof(kResumeFlag) - 1;
      continue;
    }
    argv[kept++] = argv[i];
    g_argv.push_back(argv[i]);
  }
  *argc = kept;
  argv[kept] = nullptr;
  if (DIR* dir = opendir("/proc/self/fd")) {
    while (dirent* entry = readdir(dir)) {
      if (entry->d_name[0] != '.')
        g_startup_fds.insert(std::atoi(entry->d_name));
    }
    closedir(dir);
  }
  pthread_sigmask(SIG_BLOCK, nullptr, &g_startup_mask);
  if (resume.empty()) return;
  std::vector<FinishedTest> carried = Load(resume);
  unlink(resume.c_str());
  std::string hung;
  for (const FinishedTest& test : carried) {
    if (test.status == FinishedTest::kHung) hung = test.suite + "." + test.name;
  }
  std::printf(
      "[ RESUMED  ] after %s could not be stopped: %zu test(s) done before "
      "the restart (that one included); the rest run now\n",
      hung.c_str(), carried.size());
  std::fflush(stdout);
  std::lock_guard<std::mutex> lock(g_mutex);
  g_carried_count = carried.size();
  g_finished = std::move(carried);
}

void RedirectXmlForResume(int argc, char** argv) {
  if (g_carried_count == 0) return;
  // Before InitGoogleTest, which sets up the XML writer from the flag.
  static std::string scratch_flag;
  const char* tmp = std::getenv("TEST_TMPDIR");
  g_xml_scratch =
      std::string(tmp ? tmp : "/tmp") + "/" + RunTag() + "resumed.xml";
  scratch_flag = "--gtest_output=xml:" + g_xml_scratch;
  const std::string flag = "--gtest_output=xml:";
  for (int i = 1; i < argc; ++i) {
    if (std::string(argv[i]).rfind(flag, 0) == 0) {
      g_xml_destination = argv[i] + flag.size();
      argv[i] = scratch_flag.data();
      return;
    }
  }
  // From GTEST_OUTPUT (how Bazel asks for it), read into the flag before
  // main() began.
  const std::string output = testing::GTEST_FLAG(output);
  if (output.rfind("xml:", 0) == 0) {
    g_xml_destination = output.substr(4);
    testing::GTEST_FLAG(output) = "xml:" + g_xml_scratch;
    return;
  }
  g_xml_scratch.clear();  // no XML asked for
}

void MergeCarriedIntoXml() {
  if (g_xml_scratch.empty()) return;
  std::string xml;
  {
    std::ifstream in(g_xml_scratch);
    std::stringstream text;
    text << in.rdbuf();
    xml = text.str();
  }
  unlink(g_xml_scratch.c_str());
  // Only what ran before the restart: this run's own results are in the
  // file already.
  std::vector<FinishedTest> carried = CarriedResults();
  carried.resize(std::min(carried.size(), g_carried_count));
  int count = 0, failures = 0;
  std::string suites = CarriedXml(carried, &count, &failures);
  std::size_t root = xml.find("<testsuites ");
  if (root != std::string::npos) {
    std::size_t after = xml.find(">\n", root);
    if (after != std::string::npos) xml.insert(after + 2, suites);
    AddToAttribute(xml, "testsuites", "tests", count);
    AddToAttribute(xml, "testsuites", "failures", failures);
  }
  // The destination may be a pipe (/proc/self/fd/N): write, never read it.
  int fd = open(g_xml_destination.c_str(),
                O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return;
  WriteRaw(fd, xml);
  close(fd);
}

void RestartAfterHang(const std::string& hung, const std::string& message) {
  Bypass quiet;
  StopTrace();
  WriteRaw(STDOUT_FILENO, RenderCurrentTimeline());
  // Everything the hung test started is killed and reaped, and what it
  // created removed, before the new run starts.
  for (pid_t pid : DescendantsOf(getpid())) kill(pid, SIGKILL);
  while (waitpid(-1, nullptr, 0) > 0) {
  }
  FindAndCleanLeaks(/*close_descriptors=*/false);

  std::vector<FinishedTest> finished = CarriedResults();
  std::size_t dot = hung.find('.');
  FinishedTest hung_test;
  hung_test.suite = hung.substr(0, dot);
  hung_test.name = hung.substr(dot + 1);
  hung_test.status = FinishedTest::kHung;
  hung_test.message = message;
  finished.push_back(hung_test);

  const char* tmp = std::getenv("TEST_TMPDIR");
  const std::string path =
      std::string(tmp ? tmp : "/tmp") + "/" + RunTag() + "resume.txt";
  // The filter: what was asked for, minus every test already done (a name
  // excluded by an earlier restart is there already).
  std::string filter = testing::GTEST_FLAG(filter);
  const std::size_t minus = filter.find('-');
  std::string excluded =
      minus == std::string::npos ? "" : ":" + filter.substr(minus + 1) + ":";
  if (minus == std::string::npos) filter += "-";
  std::string text;
  for (const FinishedTest& test : finished) {
    text += test.suite + "\t" + test.name + "\t" +
            std::to_string(static_cast<int>(test.status)) + "\t" +
            std::to_string(test.seconds) + "\t" + Escape(test.message) + "\n";
    const std::string name = test.suite + "." + test.name;
    if (excluded.find(":" + name + ":") != std::string::npos) continue;
    filter += (filter.back() == '-' ? "" : ":") + name;
    excluded += name + ":";
  }
  int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd >= 0) {
    WriteRaw(fd, text);
    close(fd);
  }

  std::vector<std::string> args;
  for (const std::string& arg : g_argv) {
    if (arg.rfind("--gtest_filter=", 0) != 0) args.push_back(arg);
  }
  args.push_back("--gtest_filter=" + filter);
  args.push_back(kResumeFlag + path);
  std::vector<char*> argv;
  for (std::string& arg : args) argv.push_back(arg.data());
  argv.push_back(nullptr);

  // Descriptors the hung test left open would be inherited by the new run:
  // close-on-exec, not closed now (the blocked thread may be writing to one
  // of them, and must not see its pipe's reader vanish before exec).
  if (DIR* dir = opendir("/proc/self/fd")) {
    while (dirent* entry = readdir(dir)) {
      int number = std::atoi(entry->d_name);
      if (entry->d_name[0] != '.' && number != dirfd(dir) &&
          !g_startup_fds.count(number)) {
        fcntl(number, F_SETFD, FD_CLOEXEC);
      }
    }
    closedir(dir);
  }
  // The new run starts as this one did: the watchdog thread blocks every
  // signal, and exec keeps the mask of the thread that calls it; the SIGPIPE
  // disposition the hang report changed comes back.
  sigaction(SIGPIPE, &g_sigpipe_before_hang, nullptr);
  pthread_sigmask(SIG_SETMASK, &g_startup_mask, nullptr);
  unsetenv("TESTBRIDGE_TEST_ONLY");
  // The binary's own path, so the new run keeps its name in ps and /proc.
  char self[4096];
  ssize_t length = readlink("/proc/self/exe", self, sizeof(self) - 1);
  std::string program =
      length > 0 ? std::string(self, length) : "/proc/self/exe";
  execv(program.c_str(), argv.data());
  WriteRaw(STDOUT_FILENO, std::string("could not start the run again (") +
                              std::strerror(errno) +
                              "); the remaining tests did not run\n");
  SetTestsRunning(false);  // our own end, not the code under test's
  _exit(124);
}

}  // namespace kata::internal
