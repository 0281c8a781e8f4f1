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

PROBE_TAG = "grader-probe"

EXTRA_INCLUDES = """
#include <arpa/inet.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
"""


def test_names(root):
    with open(os.path.join(root, "tests", "pipe", "pipe_test.cc")) as f:
        return re.findall(r"^TEST\((\w+),\s*(\w+)\)", f.read(), re.M)


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


def probe_stub(root, probe_body):
    """The stub whose 'not implemented' message carries a probe's findings."""
    stub = read(root, "exercises", "pipe", "pipe.cc")
    probe = ("namespace {\nstd::string Probe() {\n  std::ostringstream out;\n"
             + probe_body + "\n  return out.str();\n}\n}  // namespace\n")
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
    raise KeyError(name)


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
    "fork_bomb": ("folder", "fork bomb in RunAndCapture: only those lost"),
    "infinite_loop": ("folder", "infinite loop in MeasureCapacity: only "
                      "that case lost"),
    "huge_output": ("folder", "100 MB of output: full marks, log capped"),
    "reads_solution": ("folder", "reads the solutions: blocked, zero"),
    "network": ("git-url", "connects to the host: no network, zero"),
    "writes_outside": ("folder", "writes outside its sandbox: nothing "
                       "lands, zero"),
    "no_compile": ("folder", "does not compile: zero for pipe"),
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
