"""Static tell-tales of forging, for a human to look at ("worth a look").

Code linked into the test binary can, in principle, do anything the test
runner can (tools/grading/run_test.py says why); where the grader cannot stop
a trick it flags the code that could play it. Three views of the learner's
files, each catching what the others miss:

  1. the source, line by line (fast; what the learner sees);
  2. the preprocessed translation unit (g++ -E -dD, run as the slot's
     unprivileged user): macros are expanded and backslash-newlines joined,
     so a word split over lines or pasted together with ## is whole again,
     and `#define private public` shows as the definition it is. Only lines
     that come from the learner's own file are read;
  3. the compiled object (nm, objdump): the functions it calls and defines.
     A call the reference solution of the same topic does not need (the
     process's environment, files, exec, dlsym, ptrace, raw syscalls, exit),
     a definition that would replace the C library's, GoogleTest's or the
     test support's own function, and a static initializer that calls the
     learner's code before main() are each flagged.

Every finding is (where, what, the text) and becomes a line of "code worth a
look" in the instructor's table and the student's report. None costs points.
"""

import glob
import os
import re
import subprocess

# Learner-code patterns, read in the source and in the preprocessed unit.
PATTERNS = [
    (r"\b(XML_OUTPUT_FILE|TEST_PREMATURE_EXIT_FILE|GTEST_OUTPUT|"
     r"TEST_UNDECLARED_OUTPUTS_DIR|TESTBRIDGE_TEST_ONLY|GRADER_RUN_ID|"
     r"TEST_TMPDIR|TEST_SRCDIR|RUNFILES_DIR)\b",
     "reads the test runner's environment"),
    (r"\b(gtest|gmock|testing::|GTEST_FLAG|RUN_ALL_TESTS|UnitTest|"
     r"TestEventListener|TestPartResult|TestResult)\b",
     "uses the test framework"),
    (r"#\s*(define|undef)\s+(EXPECT_|ASSERT_|TEST\b|TEST_F\b|FAIL\b|"
     r"SUCCEED\b|ADD_FAILURE)", "redefines a test macro"),
    (r"#\s*define\s+(private|protected|public|class|struct|final|virtual|"
     r"override|const|static|namespace|friend|template|typename|using|"
     r"sizeof|return|if|else|for|while|do|switch|case|true|false|nullptr|"
     r"this|new|delete|operator)\b", "redefines a C++ keyword"),
    (r"\bint\s+main\s*\(", "defines main()"),
    (r"\b(constructor|destructor)\b\s*[\(\)\]]|\binit_priority\b",
     "runs code before or after main()"),
    (r"\b(section|alias|weakref|ifunc|visibility|symver)\s*\(|"
     r"\.(pre)?init_array|\.fini_array|\.ctors\b|\.dtors\b",
     "places or names symbols by hand (linker tricks)"),
    (r"\b(asm|__asm__|__asm)\b", "inline assembly"),
    (r"/proc/self/(cmdline|environ|exe|mem|fd|maps|auxv)|/proc/\w+/mem|"
     r"/proc/\d+", "inspects its own or another process"),
    (r"\b(quick_exit|_Exit|exit_group|SYS_exit|ptrace|process_vm_\w+|"
     r"personality|dlopen|dlsym|dlvsym|dl_iterate_phdr|syscall|"
     r"SYS_\w+|__NR_\w+)\b", "ends or inspects processes in unusual ways"),
    (r"(^|[^_\w])exit\s*\(", "calls exit() (a test must not end the runner)"),
    (r"\bsolutions/|\.\./|/autograder/|bazel-out|\.cache/bazel|"
     r"\bexecroot\b|disk_cache|grade_out", "refers to paths outside the kata"),
]
COMPILED = [(re.compile(p), w) for p, w in PATTERNS]

# Functions whose use the reference solution of the same topic must share,
# or the call is flagged; grouped by what they give access to.
CALLS = {
    "ends the process": {"exit", "_Exit", "quick_exit", "at_quick_exit",
                         "atexit", "on_exit"},
    "starts another program": {"execv", "execve", "execvp", "execvpe",
                               "execl", "execle", "execlp", "fexecve",
                               "execveat", "posix_spawn", "posix_spawnp",
                               "system", "popen"},
    "looks up code at run time": {"dlopen", "dlmopen", "dlsym", "dlvsym",
                                  "dladdr", "dlinfo", "dl_iterate_phdr",
                                  "getauxval"},
    "inspects or changes processes": {
        "ptrace", "process_vm_readv", "process_vm_writev", "personality",
        "prctl", "syscall", "mprotect", "pkey_mprotect", "unshare", "setns",
        "mount", "umount", "umount2", "chroot", "pivot_root", "clone",
        "clone3", "setrlimit", "prlimit", "prlimit64", "seccomp"},
    "reads the environment": {"getenv", "secure_getenv", "setenv",
                              "unsetenv", "putenv", "clearenv", "environ",
                              "__environ"},
    "opens files by name": {
        "open", "open64", "openat", "openat64", "__open_2", "__open64_2",
        "__openat_2", "__openat64_2", "creat", "creat64", "fopen", "fopen64",
        "freopen", "freopen64", "remove", "unlink", "unlinkat", "rename",
        "renameat", "renameat2", "truncate", "truncate64", "opendir",
        "fdopendir", "readlink", "readlinkat", "realpath", "scandir", "nftw",
        "ftw", "glob", "stat", "lstat", "access", "faccessat", "statx",
        "chdir", "symlink", "link"},
}
CALL_PREFIXES = {
    "uses the test framework": ("testing::",),
    "calls the test support library": ("kata::internal::", "kata::Hint",
                                       "kata::Child"),
    "opens files by name": ("std::basic_ifstream", "std::basic_ofstream",
                            "std::basic_fstream", "std::basic_filebuf",
                            "std::filesystem::", "std::__cxx11::basic_"
                            "ifstream"),
}
# What a static initializer may call without a second look: the standard
# library setting up its own objects (iostreams, strings, containers).
INIT_OK = ("std::", "__cxa_atexit", "__dso_handle", "operator new",
           "operator delete", "__stack_chk_fail", "_Unwind_Resume",
           "__gxx_personality_v0", "memcpy", "memset", "memmove", "strlen",
           "__static_initialization_and_destruction", "__cxx_global_var_init",
           "_GLOBAL__sub_I_", ".text", ".bss", ".data", ".rodata", ".LC",
           "_GLOBAL_OFFSET_TABLE_", "__gnu_cxx::", "(anonymous namespace)::"
           "kArena")


def line_warnings(text):
    return [w for pattern, w in COMPILED if pattern.search(text)]


def scan_source(path):
    """[(line number, warning, text)] for one learner file, line by line."""
    found = []
    with open(path, errors="replace") as f:
        for number, line in enumerate(f, start=1):
            code = line.split("//")[0]
            for warning in line_warnings(code):
                found.append((number, warning, line.strip()[:120]))
    return found


def run_as(account, argv, cwd, timeout, limit=32 << 20):
    """(exit code, stdout bytes capped at `limit`) of argv as `account`."""
    command = (account.prefix() + ["prlimit", "--as=4294967296",
                                   "--fsize=67108864", "--cpu=60", "--"] +
               argv)
    try:
        process = subprocess.Popen(command, cwd=cwd, stdin=subprocess.DEVNULL,
                                   stdout=subprocess.PIPE,
                                   stderr=subprocess.DEVNULL,
                                   env={"PATH": "/usr/bin:/bin",
                                        "LANG": "C.UTF-8"},
                                   start_new_session=True)
    except OSError:
        return 127, b""
    try:
        out, _ = process.communicate(timeout=timeout)
        return process.returncode, out[:limit]
    except subprocess.TimeoutExpired:
        process.kill()
        out, _ = process.communicate()
        return 124, (out or b"")[:limit]


def preprocess(account, workspace, relative, include_dirs):
    """The preprocessed unit of one learner file (text), or None."""
    argv = ["g++", "-std=c++20", "-E", "-dD", "-iquote", ".", "-I",
            "exercises"]
    for folder in include_dirs:
        argv += ["-isystem", folder]
    code, out = run_as(account, argv + [relative], workspace, timeout=60)
    if not out:
        return None
    return out.decode("utf-8", "replace")


MARKER = re.compile(r'^# (\d+) "((?:[^"\\]|\\.)*)"')


def scan_preprocessed(text, relative, system_dirs):
    """[(line, warning, text)] from the learner's own lines of the unit, and
    [(line, file)] of files included from outside the exercise and the
    system's header folders."""
    found, outside = [], []
    current, number = None, 0
    own_folder = os.path.dirname(relative)
    for line in text.splitlines():
        marker = MARKER.match(line)
        if marker:
            number = int(marker.group(1))
            current = marker.group(2)
            if current not in (relative, "<built-in>", "<command-line>") \
                    and not current.startswith(tuple(system_dirs)) and \
                    not (current.startswith(own_folder + "/") and
                         not os.path.isabs(current)):
                outside.append(current)
            continue
        if current == relative:
            for warning in line_warnings(line):
                found.append((number, warning, line.strip()[:120]))
            number += 1
    return found, sorted(set(outside))


# ------------------------------------------------------------ objects
class Symbols:
    """What a set of objects calls, defines and runs before main()."""

    def __init__(self):
        self.undefined = set()     # demangled names
        self.defined = {}          # demangled name -> type letter
        self.raw_defined = {}      # name as in the object -> type letter
        self.initializers = set()  # what static initializers call

    def merge(self, other):
        self.undefined |= other.undefined
        self.defined.update(other.defined)
        self.initializers |= other.initializers

    def calls(self):
        """Undefined names not defined by the same objects."""
        return self.undefined - set(self.defined)


def nm_lines(account, objects, cwd, demangle):
    """[(type letter, name)] of every symbol of `objects`."""
    code, out = run_as(account, ["nm", "--format=bsd"] +
                       (["-C"] if demangle else []) + objects, cwd,
                       timeout=60)
    found = []
    for line in out.decode("utf-8", "replace").splitlines():
        # "0000000000000000 T name" or "                 U name"
        if len(line) > 19 and line[16] == " " and line[18] == " ":
            found.append((line[17], line[19:]))
    return found


DEFINED = set("TDBRWVuiGS")


def read_symbols(account, objects, cwd="/"):
    result = Symbols()
    if not objects:
        return result
    for kind, name in nm_lines(account, objects, cwd, demangle=True):
        if kind == "U":
            result.undefined.add(name)
        elif kind in DEFINED:
            result.defined[name] = kind
    result.raw_defined = {name: kind for kind, name in
                          nm_lines(account, objects, cwd, demangle=False)
                          if kind in DEFINED}
    code, out = run_as(account, ["objdump", "-r", "-C", "-j", ".text.startup",
                                 "-j", ".init_array", "-j", ".preinit_array",
                                 "-j", ".ctors"] + objects, cwd, timeout=60)
    for line in out.decode("utf-8", "replace").splitlines():
        parts = line.split(None, 2)
        if len(parts) == 3 and re.fullmatch(r"[0-9a-f]{8,16}", parts[0]):
            target = re.sub(r"[-+]0x[0-9a-f]+$", "", parts[2])
            result.initializers.add(target)
    return result


def c_library_names():
    """Names the C library exports (candidates for interposition)."""
    names = set()
    for path in sorted(set(glob.glob("/lib/*/libc.so.6") +
                           glob.glob("/usr/lib/*/libc.so.6") +
                           glob.glob("/lib64/libc.so.6"))):
        out = subprocess.run(["nm", "-D", "--defined-only", path],
                             capture_output=True, text=True).stdout
        for line in out.splitlines():
            name = line.split()[-1] if line.split() else ""
            names.add(name.split("@")[0])
        break
    return names


def judge_objects(student, reference, topic, libc_names):
    """[(where, warning, text)] from comparing a learner's objects with the
    reference solution's of the same topic."""
    found = []
    needed = reference.calls()
    mine = student.calls() - needed
    for label, names in CALLS.items():
        hits = sorted(mine & names)
        if hits:
            found.append(("object", f"{label}, which the reference solution "
                          f"does not need", ", ".join(hits)[:200]))
    for label, prefixes in CALL_PREFIXES.items():
        hits = sorted(n for n in mine if n.startswith(prefixes))
        if hits:
            found.append(("object", f"{label}, which the reference solution "
                          "does not need", ", ".join(hits)[:200]))
    # The kata's own namespace (kata::shm for shared_memory): wherever the
    # reference solution defines its functions.
    own = tuple(sorted({"::".join(n.split("::")[:2]) + "::"
                        for n in reference.defined
                        if n.startswith("kata::") and n.count("::") >= 2})
                ) or (f"kata::{topic}::",)
    replaced = []
    raw = student.raw_defined
    for name in sorted(set(student.defined) | set(raw)):
        if name.startswith(("testing::", "kata::")) and \
                not name.startswith(own):
            replaced.append(name)
        elif name in raw and not name.startswith("_Z") and (
                name in libc_names or name == "main" or
                name.startswith(("__wrap_", "__real_", "__libc_",
                                 "_init", "_fini", "__cxa_"))):
            replaced.append(name)
    if replaced:
        found.append(("object", "defines functions of the C library, "
                      "GoogleTest or the test support (it would replace "
                      "theirs)", ", ".join(replaced)[:200]))
    early = sorted(t for t in student.initializers - reference.initializers
                   if not t.startswith(INIT_OK) and
                   not re.fullmatch(r"\.[\w.]+", t))
    if early:
        found.append(("object", "runs code before main() (a static "
                      "initializer calls it)", ", ".join(early)[:200]))
    return found
