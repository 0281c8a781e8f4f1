"""Fixture submissions for the grader's self-test, honest and hostile.

Each fixture is made from the course's own files at test time (the stub, the
reference solution or a mutant), plus the few lines of the trick it plays, so
the fixtures follow the katas as they change. FIXTURES says, per fixture,
what the grader must make of it. The tricks target the pipe kata; every other
topic is left as the stub (or, for the reference fixture, its solution).
"""

import os
import re
import shutil
import subprocess
import tarfile
import zipfile

OTHER_USER = 54321  # owns url_other_user's .url file (no account needed)

PROBE_TAG = "grader-probe"

EXTRA_INCLUDES = """
#include <arpa/inet.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <mqueue.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/inotify.h>
#include <sys/ipc.h>
#include <sys/shm.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <sstream>
#include <string>
#include <thread>
#include <vector>
"""


def test_names(root):
    with open(os.path.join(root, "tests", "pipe", "pipe_test.cc")) as f:
        return re.findall(r"^TEST\((\w+),\s*(\w+)\)", f.read(), re.M)


def cases_calling(root, function):
    """The pipe cases ("Suite.Name") whose TEST body calls `function` by
    name: what a fixture sabotaging that function must lose, and no more."""
    with open(os.path.join(root, "tests", "pipe", "pipe_test.cc")) as f:
        source = f.read()
    starts = list(re.finditer(r"^TEST\((\w+),\s*(\w+)\)", source, re.M))
    call = re.compile(r"\b" + re.escape(function) + r"\(")
    found = []
    for i, test in enumerate(starts):
        end = starts[i + 1].start() if i + 1 < len(starts) else len(source)
        if call.search(source, test.end(), end):
            found.append(f"{test.group(1)}.{test.group(2)}")
    return sorted(found)


def read(root, *parts):
    with open(os.path.join(root, *parts)) as f:
        return f.read()


def after_includes(source, code):
    """Inserts `code` after the last #include line."""
    lines = source.split("\n")
    last = max(i for i, line in enumerate(lines) if line.startswith("#include"))
    return "\n".join(lines[:last + 1] + [EXTRA_INCLUDES + code] +
                     lines[last + 1:])


def at_function_start(source, signature, code):
    """Inserts `code` as the first statement of the function `signature`."""
    pattern = re.compile(r"^" + re.escape(signature) + r"[^\n]*\{\n", re.M)
    match = pattern.search(source)
    if not match:
        raise ValueError(f"no function {signature!r} in the source")
    return source[:match.end()] + code + "\n" + source[match.end():]


def probe_stub(root, probe_body, path="exercises/pipe/pipe.cc", before=""):
    """The stub whose 'not implemented' message carries a probe's findings.

    `before` is code placed ahead of Probe() (say, a static object whose
    constructor leaves its findings in g_found)."""
    stub = read(root, *path.split("/"))
    probe = ("namespace {\n" + before + "\nstd::string Probe() {\n"
             "  std::ostringstream out;\n" + probe_body +
             "\n  return out.str();\n}\n}  // namespace\n")
    stub = after_includes(stub, probe)
    return stub.replace('std::logic_error(std::string("not implemented yet: ")',
                        'std::logic_error(Probe() + std::string("not '
                        'implemented yet: ")')


def try_open(path_expression):
    return (f'  {{ std::ifstream in({path_expression}); std::string line; '
            f'if (in && std::getline(in, line)) out << "[probe READ " << '
            f'{path_expression} << ": " << line << "] "; else out << '
            f'"[probe cannot read " << {path_expression} << ": " << '
            f'std::strerror(errno) << "] "; }}')


def try_create(path_expression):
    return (f'  {{ int fd = open(std::string({path_expression}).c_str(), '
            f'O_CREAT | O_WRONLY, 0644); out << "[probe create " << '
            f'{path_expression} << ": " << (fd >= 0 ? "CREATED" : '
            f'std::strerror(errno)) << "] "; if (fd >= 0) close(fd); }}')


def c_string(text):
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def forged_report(root):
    cases = "".join(
        f'<testcase name="{case}" status="run" result="completed" '
        f'time="0.001" classname="{suite}" />' for suite, case in
        test_names(root))
    return ('<?xml version="1.0" encoding="UTF-8"?><testsuites tests="' +
            str(len(test_names(root))) + '" failures="0" errors="0" '
            'name="AllTests"><testsuite name="All">' + cases +
            '</testsuite></testsuites>')


# ---------------------------------------------------------------- makers
# Each returns {repository path: text} for exercises/pipe (others: stub) or a
# whole tree via the "tree" key.

def solution(root):
    return {"exercises/pipe/pipe.cc": read(root, "solutions", "pipe",
                                           "pipe.cc")}


def sabotaged(root, signature, code):
    source = after_includes(read(root, "solutions", "pipe", "pipe.cc"), "")
    return {"exercises/pipe/pipe.cc": at_function_start(source, signature,
                                                        code)}


def mutant(root, name):
    folder = os.path.join(root, "tests", "pipe", "mutants")
    scratch = os.path.join(root, "grade_out", "mutant-scratch")
    shutil.rmtree(scratch, ignore_errors=True)
    os.makedirs(scratch)
    shutil.copy(os.path.join(root, "solutions", "pipe", "pipe.cc"), scratch)
    with open(os.path.join(folder, name + ".patch")) as patch:
        subprocess.run(["patch", "-s", "-p1", "-d", scratch], stdin=patch,
                       check=True)
    text = read(scratch, "pipe.cc")
    shutil.rmtree(scratch)
    return {"exercises/pipe/pipe.cc": text}


def make(root, name, context):
    """The files of fixture `name`; context has root, port, class paths."""
    stub_text = read(root, "exercises", "pipe", "pipe.cc")
    if name == "reference":
        files = {}
        for topic in context["topics"]:
            for path in context["editable"][topic]:
                files[path] = read(root, path.replace("exercises",
                                                      "solutions", 1))
        return files
    if name == "stub":
        return {"exercises/pipe/pipe.cc": stub_text}
    if name == "exit_early":
        return sabotaged(root, "std::string RoundTrip(",
                         "  std::exit(0);  // hostile: end the runner early")
    if name == "marker_deleted":
        return sabotaged(root, "void WriteRecord(", (
            '  if (const char* marker = std::getenv("TEST_PREMATURE_EXIT_'
            'FILE")) std::remove(marker);\n  _exit(0);  // hostile'))
    if name == "fake_xml":
        forged = c_string(forged_report(root))
        body = (
            '  if (const char* xml = std::getenv("XML_OUTPUT_FILE")) {\n'
            '    std::FILE* f = std::fopen(xml, "w");\n'
            f'    if (f) {{ std::fputs({forged}, f); std::fclose(f); }}\n  }}\n'
            '  if (const char* marker = std::getenv("TEST_PREMATURE_EXIT_'
            'FILE")) std::remove(marker);\n  std::fflush(stdout);\n'
            '  _exit(0);')
        return {"exercises/pipe/pipe.cc": probe_stub(root, body)}
    if name == "forge_in_tmpdir":
        # A forger that knows the grader's wrapper: before main(), drop a
        # GoogleTest report with every case passed into every folder under
        # $TEST_TMPDIR (where a report file would be), remove the marker and
        # leave quietly.
        forged = c_string(forged_report(root))
        return {"exercises/pipe/pipe.cc": after_includes(stub_text, (
            "#include <filesystem>\nnamespace {\nstruct Forger {\n"
            "  Forger() {\n"
            '    const char* tmp = std::getenv("TEST_TMPDIR");\n'
            "    if (!tmp) return;\n    std::error_code ignored;\n"
            "    for (const auto& entry : std::filesystem::"
            "recursive_directory_iterator(tmp, ignored)) {\n"
            "      if (!entry.is_directory()) continue;\n"
            '      std::ofstream(entry.path() / "report.xml") << '
            f"{forged};\n"
            '      std::ofstream(entry.path() / "test.xml") << '
            f"{forged};\n    }}\n"
            '    if (const char* m = std::getenv("TEST_PREMATURE_EXIT_FILE"))'
            " std::remove(m);\n    _exit(0);\n  }\n} forger;\n"
            "}  // namespace\n"))}
    if name == "own_main":
        files = solution(root)
        files["exercises/pipe/pipe.cc"] += (
            "\n// hostile: a main() that reports success without testing\n"
            "int main() { return 0; }\n")
        return files
    if name == "redefine_expect":
        header = read(root, "exercises", "pipe", "pipe.h").replace(
            "#endif", "#include \"gtest/gtest.h\"\n#undef EXPECT_EQ\n"
            "#define EXPECT_EQ(a, b) ((void)0)\n#undef ASSERT_EQ\n"
            "#define ASSERT_EQ(a, b) ((void)0)\n#endif", 1)
        return {"exercises/pipe/pipe.cc": stub_text,
                "exercises/pipe/pipe.h": header}
    if name == "child_returns":
        return mutant(root, "07_child_returns")
    if name == "fake_passed_output":
        lines = "".join(f"[       OK ] {s}.{c} (0 ms)\\n"
                        for s, c in test_names(root))
        return {"exercises/pipe/pipe.cc": after_includes(stub_text, (
            "namespace {\nstruct Boast {\n  Boast() {\n"
            f'    std::printf("{lines}[  PASSED  ] %d tests.\\n", 39);\n'
            "  }\n} boast;\n}  // namespace\n"))}
    if name == "edited_tests":
        return {"tree": True, "exercises/pipe/pipe.cc": stub_text,
                "tests/pipe/pipe_test.cc": "".join(
                    f"#include \"gtest/gtest.h\"\nTEST({s}, {c}) {{}}\n"
                    if i == 0 else f"TEST({s}, {c}) {{}}\n"
                    for i, (s, c) in enumerate(test_names(root))),
                "exercises/pipe/BUILD": read(root, "exercises", "pipe",
                                             "BUILD").replace(
                    '"pipe.cc"', '"pipe.cc", "extra.cc"'),
                ".bazelrc": "build --spawn_strategy=local\n"
                            "test --run_under=/bin/true\n",
                "tools/bazel": "#!/bin/sh\ntouch /var/tmp/" + PROBE_TAG +
                               "-tools-bazel\nexit 0\n"}
    if name == "fork_bomb":
        return sabotaged(root, "Captured RunAndCapture(",
                         "  for (;;) fork();  // hostile: a fork bomb")
    if name == "infinite_loop":
        return sabotaged(root, "std::size_t MeasureCapacity(",
                         "  for (volatile int i = 0;; i = i + 1) {\n  }")
    if name == "huge_output":
        return sabotaged(root, "std::string RoundTrip(", (
            "  static bool shouted = false;\n  if (!shouted) {\n"
            "    shouted = true;\n    std::string line(1023, 'x');\n"
            "    for (int i = 0; i < 100 * 1024; ++i) std::puts(line.c_str());"
            "\n  }"))
    if name == "reads_solution":
        paths = [os.path.join(root, "solutions", "pipe", "pipe.cc"),
                 os.path.join(context["class"], "exit_early", "exercises",
                              "pipe", "pipe.cc"),
                 os.path.join(context["work"], "unpacked", "exit_early",
                              "exercises", "pipe", "pipe.cc"),
                 os.path.join(context["work"], "reference", "ws", "solutions",
                              "pipe", "pipe.cc"),
                 os.path.join(context["work"], "slot-0", "ws", "exercises",
                              "pipe", "pipe.cc"),
                 os.path.join(context["work"], "slot-1", "ws", "exercises",
                              "pipe", "pipe.cc")]
        body = "\n".join(try_open(c_string(p)) for p in paths)
        return {"exercises/pipe/pipe.cc": probe_stub(root, body)}
    if name == "network":
        port = context["port"]
        body = (
            "  int s = socket(AF_INET, SOCK_STREAM, 0);\n"
            "  sockaddr_in a{};\n  a.sin_family = AF_INET;\n"
            f"  a.sin_port = htons({port});\n"
            "  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);\n"
            "  int r = connect(s, reinterpret_cast<sockaddr*>(&a), sizeof a);\n"
            "  out << \"[probe connect: \" << (r == 0 ? \"CONNECTED\" : "
            "std::strerror(errno)) << \"] \";\n  close(s);\n"
            "  ifaddrs* list = nullptr;\n  if (getifaddrs(&list) == 0) {\n"
            "    for (ifaddrs* i = list; i; i = i->ifa_next) out << "
            "\"[probe interface \" << i->ifa_name << \"] \";\n"
            "    freeifaddrs(list);\n  }")
        return {"exercises/pipe/pipe.cc": probe_stub(root, body)}
    if name == "writes_outside":
        targets = [f"/tmp/{PROBE_TAG}-tmp", f"/dev/shm/{PROBE_TAG}-shm",
                   f"/var/tmp/{PROBE_TAG}-vartmp",
                   os.path.join(root, f"{PROBE_TAG}-repo"),
                   os.path.join(context["work"], f"{PROBE_TAG}-work")]
        body = "\n".join(try_create(c_string(p)) for p in targets)
        return {"exercises/pipe/pipe.cc": probe_stub(root, body)}
    if name == "no_compile":
        return {"exercises/pipe/pipe.cc": stub_text.replace(
            "namespace kata::pipe {", "namespace kata::pipe {\nthis is not "
            "C++;", 1)}
    pipe = "exercises/pipe/pipe.cc"
    if name == "secret_keeper":
        return {pipe: probe_stub(root, "  out << g_found;", pipe,
                                 secret_keeper_code(context["token"]))}
    if name == "exec_reference":
        return {pipe: probe_stub(root, "  out << g_found;", pipe,
                                 exec_finder_code())}
    if name == "forge_in_process":
        return {pipe: probe_stub(root, "", pipe, forge_code(root))}
    if name == "hidden_macros":
        return {pipe: probe_stub(root, "", pipe, hidden_macros_code())}
    if name == "tmpfs_hog":
        return {pipe: probe_stub(root, tmpfs_hog_body())}
    if name == "memory_hog":
        return sabotaged(root, "std::size_t MeasureCapacity(",
                         memory_hog_code())
    if name == "cpu_hog":
        return sabotaged(root, "std::size_t MeasureCapacity(",
                         cpu_hog_code())
    if name in ("zip_writestr", "zip_windows_noext", "tar_links",
                "url_root_only", "url_other_user", "odd_name", "김민지",
                "alice@uni.edu"):
        return solution(root)
    if name == "1_victim":
        # Its own compile misses the cache (a comment added), so its tests
        # start well after 1_hog has spent the budgets.
        return {path: text + "\n// graded next to 1_hog\n"
                for path, text in make(root, "reference", context).items()}
    if name == "1_hog":
        return {pipe: probe_stub(root, "  out << g_found;", pipe,
                                 hog_code(context["deadline"]))}
    if name == "2_snoop":
        return {pipe: probe_stub(root, "  out << g_found;", pipe,
                                 snoop_code(context["token"],
                                            context["snoop_paths"]))}
    raise KeyError(name)


# ------------------------------------------------ fixtures of issue 20
# Attacks on the class as a whole: a classmate graded at the same time, the
# grader's own files, the reports. Their C++ is plain: each keeps what it
# found in g_found, which the stub's "not implemented" message then carries
# into the student's own feedback, where the self-test reads it.

FOUND = "std::string g_found;\n"

# Visits the regular files under some roots (never the system's folders),
# within a budget of entries and seconds.
WALK = r"""
template <class Visit>
long Walk(const std::vector<std::string>& roots, long limit, int seconds,
          Visit visit) {
  namespace fs = std::filesystem;
  const std::vector<std::string> skip = {
      "/proc", "/sys", "/dev", "/usr", "/lib", "/lib32", "/lib64",
      "/libx32", "/bin", "/sbin", "/etc", "/boot", "/run", "/snap",
      "/var/lib", "/var/cache", "/var/log"};
  long seen = 0;
  const std::time_t end = std::time(nullptr) + seconds;
  for (const std::string& root : roots) {
    std::error_code error;
    fs::recursive_directory_iterator it(
        root, fs::directory_options::skip_permission_denied, error);
    for (; !error && it != fs::recursive_directory_iterator();
         it.increment(error)) {
      if (++seen > limit || std::time(nullptr) > end) return seen;
      const std::string path = it->path().string();
      bool skipped = false;
      for (const std::string& s : skip) skipped = skipped || path == s;
      std::error_code ignored;
      if (skipped) {
        it.disable_recursion_pending();
      } else if (!it->is_symlink(ignored) && it->is_regular_file(ignored)) {
        visit(path, it->file_size(ignored));
      }
    }
  }
  return seen;
}
"""


def hog_code(deadline):
    """Spends every budget the kernel keeps per user, then holds it until
    `deadline` (seconds since the epoch): a classmate graded meanwhile as
    the same user would find nothing left."""
    return FOUND + r"""
struct Hog {
  Hog() {
    if (std::time(nullptr) >= %(deadline)d) return;
    std::ostringstream out;
    int queues = 0;
    std::string why = "limit of the probe";
    for (int i = 0; i < 400; ++i) {
      std::string name = "/hog-" + std::to_string(getpid()) + "-" +
                         std::to_string(i);
      if (mq_open(name.c_str(), O_CREAT | O_RDWR, 0600, nullptr) ==
          static_cast<mqd_t>(-1)) {
        why = std::strerror(errno);
        break;
      }
      ++queues;
    }
    out << "[probe held mq " << queues << " queues, then " << why << "] ";
    long kib = 0;
    int pipes = 0;
    for (int i = 0; i < 200; ++i) {
      int fds[2];
      if (pipe(fds) != 0) break;
      ++pipes;
      int size = fcntl(fds[1], F_SETPIPE_SZ, 1 << 20);
      if (size <= 0) break;
      kib += size / 1024;
    }
    out << "[probe held pipes " << pipes << " holding " << kib << " KiB] ";
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGRTMIN);
    sigprocmask(SIG_BLOCK, &set, nullptr);
    long queued = 0;
    union sigval value = {};
    while (queued < 200000 && sigqueue(getpid(), SIGRTMIN, value) == 0) {
      ++queued;
    }
    out << "[probe held signals " << queued << "] ";
    int locked = 0;
    for (int i = 0; i < 64; ++i) {
      int id = shmget(IPC_PRIVATE, 1 << 20, IPC_CREAT | 0600);
      if (id < 0) break;
      if (shmctl(id, SHM_LOCK, nullptr) != 0) {
        shmctl(id, IPC_RMID, nullptr);
        break;
      }
      ++locked;
    }
    out << "[probe held locked shm " << locked << " MiB] ";
    int watchers = 0;
    while (watchers < 1000 && inotify_init() >= 0) ++watchers;
    out << "[probe held inotify " << watchers << "] ";
    out << "[probe hold from " << std::time(nullptr);
    while (std::time(nullptr) < %(deadline)d) sleep(1);
    out << " to " << std::time(nullptr) << "] ";
    g_found = out.str();
  }
} hog;
""" % {"deadline": deadline}


def exec_finder_code():
    """Looks everywhere it can for a test binary that passes (the
    reference's, a classmate's) and becomes it, keeping its own command
    line and so the grader's report pipe."""
    return FOUND + WALK + r"""
struct Finder {
  Finder() {
    std::ostringstream out;
    struct stat self = {};
    stat("/proc/self/exe", &self);
    std::vector<std::string> found;
    long seen = Walk({"/"}, 60000, 20, [&](const std::string& path,
                                           std::uintmax_t size) {
      struct stat info = {};
      if (size < 100000 || found.size() >= 200 ||
          stat(path.c_str(), &info) != 0 ||
          (info.st_ino == self.st_ino && info.st_dev == self.st_dev) ||
          access(path.c_str(), X_OK) != 0) {
        return;
      }
      std::ifstream in(path, std::ios::binary);
      char magic[4] = {};
      if (in.read(magic, 4) && std::memcmp(magic, "\177ELF", 4) == 0) {
        found.push_back(path);
      }
    });
    out << "[probe walked " << seen << " entries, found " << found.size()
        << " executables] ";
    for (const std::string& path : found) {
      pid_t pid = fork();
      if (pid == 0) {
        int null = open("/dev/null", O_WRONLY);
        dup2(null, 1);
        dup2(null, 2);
        alarm(5);
        execl(path.c_str(), path.c_str(), "--gtest_filter=Stage1*",
              static_cast<char*>(nullptr));
        _exit(127);
      }
      int status = 0;
      waitpid(pid, &status, 0);
      if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) continue;
      out << "[probe PASSING " << path << "] ";
      std::ifstream line("/proc/self/cmdline", std::ios::binary);
      std::string all((std::istreambuf_iterator<char>(line)),
                      std::istreambuf_iterator<char>());
      std::vector<std::string> args;
      for (std::size_t at = 0; at < all.size();) {
        std::size_t end = all.find('\0', at);
        args.push_back(all.substr(at, end - at));
        at = end == std::string::npos ? all.size() : end + 1;
      }
      std::vector<char*> argv;
      args[0] = path;
      for (std::string& arg : args) argv.push_back(arg.data());
      argv.push_back(nullptr);
      execv(path.c_str(), argv.data());
      out << "[probe exec failed: " << std::strerror(errno) << "] ";
    }
    g_found = out.str();
  }
} finder;
"""


def snoop_code(token, paths):
    """Searches every file it can read for a classmate's secret (`token`,
    spelled backwards here so that this binary does not hold it) and tries
    the reports and logs of an earlier run by name."""
    backwards = c_string(token[::-1])
    tries = "\n".join(
        f'    {{ std::ifstream in({c_string(p)}); std::string line; '
        f'out << (in && std::getline(in, line) ? "[probe READ " : '
        f'"[probe cannot read ") << {c_string(p)} << "] "; }}'
        for p in paths)
    return FOUND + WALK + r"""
struct Snoop {
  Snoop() {
    std::ostringstream out;
    std::string token = %(backwards)s;
    token.assign(token.rbegin(), token.rend());
    long files = 0;
    long long bytes = 0;
    long seen = Walk({"/"}, 200000, 30, [&](const std::string& path,
                                            std::uintmax_t size) {
      if (size > (4u << 20) || bytes > (400ll << 20)) return;
      std::ifstream in(path, std::ios::binary);
      if (!in) return;
      ++files;
      std::string text((std::istreambuf_iterator<char>(in)),
                       std::istreambuf_iterator<char>());
      bytes += static_cast<long long>(text.size());
      if (text.find(token) != std::string::npos) {
        out << "[probe FOUND the secret in " << path << "] ";
      }
    });
    out << "[probe walked " << seen << " entries, read " << files
        << " files] ";
%(tries)s
    g_found = out.str();
  }
} snoop;
""" % {"backwards": backwards, "tries": tries}


def secret_keeper_code(token):
    """Prints a secret and keeps it in its feedback: in test logs, the
    reports and the compiled binary, all of which a classmate must never
    read."""
    return FOUND + r"""
struct Keeper {
  Keeper() {
    std::printf("%%s\n", %(token)s);
    g_found = std::string("[probe my secret ") + %(token)s + "] ";
  }
} keeper;
""" % {"token": c_string(token)}


def forge_code(root):
    """Replays GoogleTest's protocol from inside the test binary, with every
    word a line-by-line reading looks for built at run time: reads its own
    command line for the report's descriptor, writes a report with every
    case passed there, prints the lines GoogleTest would, and leaves before
    GoogleTest starts. Nothing in the process can stop it; the grader's
    preprocessor and object scans must flag it."""
    names = [f"{s}.{c}" for s, c in test_names(root)]
    report = c_string(forged_report(root))
    lines = c_string("".join(f"[ RUN      ] {n}\n[       OK ] {n} (0 ms)\n"
                             for n in names) +
                     f"[  PASSED  ] {len(names)} tests.\n").replace(
                         "\n", "\\n")
    return r"""
#define GLUE2(a, b) a##b
#define GLUE(a, b) GLUE2(a, b)
struct Replay {
  Replay() {
    const char where[] = {'/', 'p', 'r', 'o', 'c', '/', 's', 'e', 'l', 'f',
                          '/', 'c', 'm', 'd', 'l', 'i', 'n', 'e', 0};
    int fd = GLUE(op, en)(where, O_RDONLY);
    if (fd < 0) return;
    std::string all(1 << 16, '\0');
    ssize_t got = GLUE(re, ad)(fd, all.data(), all.size());
    close(fd);
    if (got <= 0) return;
    all.resize(static_cast<std::size_t>(got));
    const char key[] = {'x', 'm', 'l', ':', '/', 'p', 'r', 'o', 'c', '/',
                        's', 'e', 'l', 'f', '/', 'f', 'd', '/', 0};
    std::size_t at = all.find(key);
    if (at == std::string::npos) return;
    int target = std::atoi(all.c_str() + at + sizeof key - 1);
    const std::string report = %(report)s;
    const std::string lines = %(lines)s;
    GLUE(wr, ite)(1, lines.data(), lines.size());
    GLUE(wr, ite)(target, report.data(), report.size());
    GLUE(_e, xit)(0);
  }
} replay;
""" % {"report": report, "lines": lines}


def hidden_macros_code():
    """Tell-tales a line-by-line reading cannot see: a keyword redefined in a
    directive split over lines, GoogleTest reached through declarations of
    its own, a static initializer."""
    return "}  // namespace\n#def\\\nine pri\\\nvate public\n" + r"""
namespace testing {
class UnitTest {
 public:
  static UnitTest* GetInstance();
};
}  // namespace testing
struct Peek {
  Peek() {
    auto* volatile self = &testing::UnitTest::GetInstance;
    (void)self;
  }
} peek;
namespace {
"""


def tmpfs_hog_body():
    """Fills the run's /tmp, /dev/shm and $TEST_TMPDIR and creates System V
    segments until the grader's caps stop it; reports what it got."""
    return r"""
  static bool done = false;
  if (done) return out.str();
  done = true;
  const char* tmp = std::getenv("TEST_TMPDIR");
  for (std::string folder : {std::string("/tmp"), std::string("/dev/shm"),
                             std::string(tmp ? tmp : "/nonexistent")}) {
    long mib = 0;
    std::string why = "limit of the probe";
    std::string block(1 << 20, 'x');
    for (int file = 0; file < 32 && mib < 1024; ++file) {
      std::string path = folder + "/hog-" + std::to_string(file);
      int fd = open(path.c_str(), O_CREAT | O_WRONLY, 0600);
      if (fd < 0) { why = std::strerror(errno); break; }
      bool full = false;
      for (int i = 0; i < 64 && mib < 1024; ++i) {
        errno = 0;
        if (write(fd, block.data(), block.size()) !=
            static_cast<ssize_t>(block.size())) {
          why = errno ? std::strerror(errno) : "a short write (full)";
          full = true;
          break;
        }
        ++mib;
      }
      close(fd);
      if (full) break;
    }
    out << "[probe wrote " << mib << " MiB to " << folder << ", then "
        << why << "] ";
  }
  long segments = 0;
  std::string why = "limit of the probe";
  while (segments < 64) {
    if (shmget(IPC_PRIVATE, 64 << 20, IPC_CREAT | 0600) < 0) {
      why = std::strerror(errno);
      break;
    }
    ++segments;
  }
  out << "[probe created " << segments * 64 << " MiB of System V shared "
      << "memory, then " << why << "] ";
"""


def memory_hog_code():
    """Three children that each touch 512 MiB: more than a run may hold."""
    return r"""
  for (int i = 0; i < 3; ++i) {
    if (fork() == 0) {
      std::vector<char> block(512u << 20, 'x');
      for (;;) pause();
    }
  }
  for (;;) pause();"""


def cpu_hog_code():
    """Six threads spinning in one test case."""
    return r"""
  std::vector<std::thread> spinners;
  for (int i = 0; i < 6; ++i) {
    spinners.emplace_back([] { for (volatile long n = 0;; n = n + 1) {} });
  }
  for (std::thread& t : spinners) t.join();"""


# name -> (how it is packed, what the grader must make of it)
FIXTURES = {
    "reference": ("bare-git", "full marks in every topic"),
    "stub": ("tar.gz", "zero"),
    "exit_early": ("folder", "exit(0) in RoundTrip: only Stage4 lost"),
    "marker_deleted": ("folder", "marker removed + _exit(0) in WriteRecord: "
                       "only Stage7 lost"),
    "fake_xml": ("folder", "forged $XML_OUTPUT_FILE: zero, tampering noted"),
    "forge_in_tmpdir": ("folder", "forged reports in every folder of "
                        "$TEST_TMPDIR, marker removed, _exit(0): zero"),
    "own_main": ("folder", "its own main(): does not link, zero"),
    "redefine_expect": ("folder", "header redefining EXPECT_EQ: ignored"),
    "child_returns": ("tar.gz", "child returns into the runner: caught"),
    "fake_passed_output": ("zip", "fake [  PASSED  ] lines: zero"),
    "edited_tests": ("repository", "edited tests, BUILD, .bazelrc, "
                     "tools/bazel: all ignored, zero"),
    "fork_bomb": ("folder", "fork bomb in RunAndCapture: only its cases lost"),
    "infinite_loop": ("folder", "infinite loop in MeasureCapacity: only "
                      "its cases lost"),
    "huge_output": ("folder", "100 MB of output: full marks, log capped"),
    "reads_solution": ("folder", "reads the solutions: blocked, zero"),
    "network": ("git-url", "connects to the host: no network, zero"),
    "writes_outside": ("folder", "writes outside its sandbox: nothing "
                       "lands, zero"),
    "no_compile": ("folder", "does not compile: zero for pipe"),
    # issue 20: the class as a whole
    "secret_keeper": ("folder", "prints a secret into its logs and reports "
                      "(for 2_snoop of the classmates run)"),
    "exec_reference": ("folder", "looks for a passing test binary anywhere "
                       "and becomes it: finds none, zero"),
    "forge_in_process": ("folder", "replays GoogleTest's protocol in a static "
                         "constructor, words hidden: flagged"),
    "hidden_macros": ("folder", "#define private public split over lines, "
                      "GoogleTest declared by hand: zero, flagged"),
    "tmpfs_hog": ("folder", "fills /tmp, /dev/shm, $TEST_TMPDIR and System "
                  "V memory: each capped"),
    "memory_hog": ("folder", "3 x 512 MiB in MeasureCapacity: killed, only "
                   "its cases lost"),
    "cpu_hog": ("folder", "6 spinning threads in MeasureCapacity: stopped, "
                "only its cases lost"),
    "zip_writestr": ("zip-writestr", "honest, zipped without file-type bits: "
                     "full pipe marks"),
    "zip_windows_noext": ("zip-windows", "honest, a Windows zip with "
                          "backslashes and no .zip suffix: full pipe marks"),
    "tar_links": ("tar-links", "honest plus a link and a named pipe: full "
                  "pipe marks, both listed as left out"),
    "url_root_only": ("url-private", ".url naming a repository only root "
                      "can read: refused, zero"),
    "url_other_user": ("url-other-user", ".url of another user naming a "
                       "repository that user cannot read: refused"),
    "odd_name": ("odd-name", "honest, but its name and some file names are "
                 "not UTF-8: full pipe marks, every report written"),
    # issue 22: names as written
    "김민지": ("folder", "a folder named in Korean: the name stays in every "
            "report"),
    "alice@uni.edu": ("zip", "alice@uni.edu.zip: the name stays as written"),
}

# The classmates run: graded two at a time after the main class, in the same
# working folder, so the snoop finds whatever the main run left behind.
CLASSMATES = {
    "1_hog": ("folder", "spends every per-user budget and holds it"),
    "1_victim": ("folder", "the reference, graded next to 1_hog: full marks"),
    "2_snoop": ("folder", "searches every file it can read for "
                "secret_keeper's secret: finds nothing"),
}


def write_tree(root, files, target, context):
    """Writes a submission folder: an exercises/ copy or a whole repo."""
    if files.pop("tree", False):
        for name in context["pristine_files"]:
            if name.startswith("solutions/"):
                continue
            destination = os.path.join(target, name)
            os.makedirs(os.path.dirname(destination), exist_ok=True)
            shutil.copy(os.path.join(root, name), destination)
    else:
        for topic in context["topics"]:
            for path in context["editable"][topic]:
                destination = os.path.join(target, path)
                os.makedirs(os.path.dirname(destination), exist_ok=True)
                shutil.copy(os.path.join(root, path), destination)
    for name, text in files.items():
        destination = os.path.join(target, name)
        os.makedirs(os.path.dirname(destination), exist_ok=True)
        with open(destination, "w") as f:
            f.write(text)
        if name == "tools/bazel":
            os.chmod(destination, 0o755)


def pack(folder, kind, class_dir, name, scratch):
    """Puts a fixture folder into the class folder in the form `kind`."""
    git = ["git", "-c", "user.name=fixture", "-c", "user.email=f@example.org",
           "-c", "init.defaultBranch=main"]
    if kind in ("folder", "repository"):
        shutil.move(folder, os.path.join(class_dir, name))
    elif kind == "tar.gz":
        shutil.make_archive(os.path.join(class_dir, name), "gztar", folder)
    elif kind == "zip":
        shutil.make_archive(os.path.join(class_dir, name), "zip", folder)
    elif kind in ("zip-writestr", "zip-windows"):
        # writestr: permission bits and no file type (Python's default);
        # Windows: MS-DOS attributes only, backslashes, no .zip suffix.
        windows = kind == "zip-windows"
        target = os.path.join(class_dir, name + ("" if windows else ".zip"))
        with zipfile.ZipFile(target, "w") as archive:
            for current, dirs, files in os.walk(folder):
                for file_name in sorted(files):
                    full = os.path.join(current, file_name)
                    relative = os.path.relpath(full, folder)
                    info = zipfile.ZipInfo(relative.replace(
                        "/", "\\" if windows else "/"))
                    if windows:
                        info.create_system = 0
                        info.external_attr = 0x20
                    else:
                        info.external_attr = 0o644 << 16
                    with open(full, "rb") as f:
                        archive.writestr(info, f.read())
    elif kind == "tar-links":
        target = os.path.join(class_dir, name + ".tar.gz")
        with tarfile.open(target, "w:gz") as archive:
            archive.add(folder, arcname=".")
            link = tarfile.TarInfo("exercises/pipe/notes.txt")
            link.type, link.linkname = tarfile.SYMTYPE, "/etc/shadow"
            archive.addfile(link)
            fifo = tarfile.TarInfo("exercises/pipe/queue")
            fifo.type = tarfile.FIFOTYPE
            archive.addfile(fifo)
    elif kind in ("url-private", "url-other-user"):
        private = os.path.join(scratch, name + "-private")
        os.makedirs(private)
        for step in (["init", "-q"], ["add", "-A"],
                     ["commit", "-q", "-m", "submission"]):
            subprocess.run(git + step, cwd=folder, check=True)
        repository = os.path.join(private, "repository.git")
        subprocess.run(git + ["clone", "-q", "--bare", folder, repository],
                       check=True)
        os.chmod(private, 0o700)   # root's alone
        url = os.path.join(class_dir, name + ".url")
        with open(url, "w") as f:
            f.write("file://" + repository + "\n")
        if kind == "url-other-user" and os.geteuid() == 0:
            os.chown(url, OTHER_USER, OTHER_USER)
    elif kind == "odd-name":
        # A folder and files whose names are not UTF-8, with control
        # characters and Markdown's special characters.
        odd = os.path.join(os.fsencode(class_dir), b"odd-\xff\xfe-name")
        shutil.move(folder, odd)
        for raw in (b"notes-\xe9\xe8.txt", b"esc-\x1b[31m-red.txt",
                    b"table|`code`*star*.md"):
            with open(os.path.join(odd, raw), "w") as f:
                f.write("not part of the exercises\n")
    elif kind in ("bare-git", "git-url"):
        for step in (["init", "-q"], ["add", "-A"],
                     ["commit", "-q", "-m", "submission"]):
            subprocess.run(git + step, cwd=folder, check=True)
        if kind == "bare-git":
            subprocess.run(git + ["clone", "-q", "--bare", folder,
                                  os.path.join(class_dir, name + ".git")],
                           check=True)
        else:
            repository = os.path.join(scratch, name + "-repository")
            shutil.move(folder, repository)
            with open(os.path.join(class_dir, name + ".url"), "w") as f:
                f.write("file://" + repository + "\n")
