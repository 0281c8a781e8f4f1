"""Finding, unpacking and overlaying student submissions.

A submission is one entry of the submissions folder, named after the student:
a folder (a copy of exercises/, of one topic's files, or of the whole
repository, possibly a Git work tree), a .zip or tarball of one of those, a bare
Git repository (NAME.git) or a text file NAME.url / NAME.git-url holding a
file:// URL or a path of a Git repository on this machine. Nothing is ever
fetched over the network, no symbolic link is followed and no file outside the
unpacked copy is written.

Only the learner-editable files are taken from a submission: the source files
of exercises/<topic>/ except the API headers (a header with the same name in
solutions/<topic>/ is the contract the tests are compiled against, so it stays
as the course ships it). Everything else is listed as ignored.
"""

import hashlib
import os
import re
import shutil
import stat
import subprocess
import tarfile
import zipfile

SOURCE_SUFFIXES = (".cc", ".cpp", ".cxx", ".c", ".h", ".hh", ".hpp")
MAX_FILE_BYTES = 2 << 20
MAX_TOTAL_BYTES = 64 << 20
MAX_FILES = 20000
ARCHIVE_SUFFIXES = (".tar.gz", ".tgz", ".tar.bz2", ".tar.xz", ".tar", ".zip")
URL_SUFFIXES = (".git-url", ".url")


class Rejected(Exception):
    """A submission that cannot be graded at all (unreadable, too big)."""


def student_name(entry):
    base = os.path.basename(entry.rstrip("/"))
    for suffix in ARCHIVE_SUFFIXES + URL_SUFFIXES + (".git",):
        if base.endswith(suffix) and len(base) > len(suffix):
            base = base[:-len(suffix)]
            break
    return re.sub(r"[^A-Za-z0-9._-]", "_", base) or "unnamed"


def list_entries(folder):
    """The submissions in a folder, as (student, path), sorted by name."""
    entries = []
    taken = set()
    for name in sorted(os.listdir(folder)):
        if name.startswith("."):
            continue
        path = os.path.join(folder, name)
        student = student_name(path)
        while student in taken:
            student += "_"
        taken.add(student)
        entries.append((student, path))
    return entries


class Budget:
    """Caps what one submission may unpack."""

    def __init__(self):
        self.files = 0
        self.bytes = 0

    def take(self, size):
        self.files += 1
        self.bytes += size
        if self.files > MAX_FILES or self.bytes > MAX_TOTAL_BYTES:
            raise Rejected(f"larger than the grader accepts ({MAX_FILES} "
                           f"files, {MAX_TOTAL_BYTES >> 20} MiB)")


def safe_relative(name):
    """A member name as a relative path, or None if it points outside."""
    name = name.replace("\\", "/")
    parts = [p for p in name.split("/") if p not in ("", ".")]
    if not parts or name.startswith("/") or ".." in parts:
        return None
    return os.path.join(*parts)


def copy_tree(source, target, budget):
    """Copies regular files only (no links, devices or sockets)."""
    for folder, dirs, files in os.walk(source, followlinks=False):
        dirs[:] = [d for d in dirs if d != ".git" and
                   not os.path.islink(os.path.join(folder, d))]
        for name in files:
            path = os.path.join(folder, name)
            info = os.lstat(path)
            if not stat.S_ISREG(info.st_mode) or info.st_size > MAX_FILE_BYTES:
                continue
            budget.take(info.st_size)
            relative = os.path.relpath(path, source)
            destination = os.path.join(target, relative)
            os.makedirs(os.path.dirname(destination), exist_ok=True)
            with open(path, "rb") as src, open(destination, "wb") as dst:
                shutil.copyfileobj(src, dst)


def unpack_zip(path, target, budget):
    with zipfile.ZipFile(path) as archive:
        for member in archive.infolist():
            mode = member.external_attr >> 16
            if member.is_dir() or (mode and not stat.S_ISREG(mode)):
                continue
            relative = safe_relative(member.filename)
            if relative is None or member.file_size > MAX_FILE_BYTES:
                continue
            budget.take(member.file_size)
            destination = os.path.join(target, relative)
            os.makedirs(os.path.dirname(destination), exist_ok=True)
            with archive.open(member) as src, open(destination, "wb") as dst:
                data = src.read(MAX_FILE_BYTES + 1)
                dst.write(data[:MAX_FILE_BYTES])


def unpack_tar(path, target, budget):
    with tarfile.open(path) as archive:
        for member in archive:
            if not member.isreg():
                continue
            relative = safe_relative(member.name)
            if relative is None or member.size > MAX_FILE_BYTES:
                continue
            budget.take(member.size)
            destination = os.path.join(target, relative)
            os.makedirs(os.path.dirname(destination), exist_ok=True)
            with archive.extractfile(member) as src, \
                    open(destination, "wb") as dst:
                shutil.copyfileobj(src, dst)


def clone_local(url, target, budget):
    """Clones a repository on this machine (file:// or a path) and copies it."""
    if url.startswith("file://"):
        url = url[len("file://"):]
    if not os.path.isabs(url) or not os.path.isdir(url):
        raise Rejected(f"not a Git repository on this machine: {url!r} "
                       "(the grader never fetches over the network)")
    checkout = target + ".clone"
    env = {"PATH": "/usr/bin:/bin", "HOME": "/nonexistent",
           "GIT_ALLOW_PROTOCOL": "file", "GIT_CONFIG_NOSYSTEM": "1",
           "GIT_TERMINAL_PROMPT": "0"}
    result = subprocess.run(
        ["git", "-c", "core.symlinks=false", "-c", "protocol.allow=never",
         "-c", "protocol.file.allow=always", "clone", "--quiet",
         "--no-hardlinks", "--depth=1", "file://" + url, checkout],
        env=env, capture_output=True, text=True, timeout=120)
    if result.returncode != 0:
        raise Rejected(f"git clone failed: {result.stderr.strip()[:300]}")
    copy_tree(checkout, target, budget)
    shutil.rmtree(checkout, ignore_errors=True)


def is_bare_repository(path):
    return all(os.path.exists(os.path.join(path, part))
               for part in ("HEAD", "objects", "refs"))


def unpack(entry, target):
    """Copies one submission entry into `target` (a new folder)."""
    os.makedirs(target)
    budget = Budget()
    name = os.path.basename(entry)
    if os.path.islink(entry):
        raise Rejected("a symbolic link, not a submission")
    if os.path.isdir(entry):
        if is_bare_repository(entry):
            clone_local(os.path.abspath(entry), target, budget)
        else:
            copy_tree(entry, target, budget)
    elif name.endswith(".zip"):
        unpack_zip(entry, target, budget)
    elif name.endswith(ARCHIVE_SUFFIXES):
        unpack_tar(entry, target, budget)
    elif name.endswith(URL_SUFFIXES):
        with open(entry) as f:
            url = f.read(4096).strip().splitlines()[0] if f else ""
        clone_local(url, target, budget)
    else:
        raise Rejected(f"not a folder, archive or Git URL: {name}")


def find_layout(folder, topics, editable):
    """Where the submission keeps its exercise files.

    Returns (kind, base): kind "repository" (base/exercises/<topic>/...),
    "exercises" (base/<topic>/...) or "flat" (base/<file name>), base a path
    inside `folder`. The shallowest match wins.
    """
    best = None
    for current, dirs, files in os.walk(folder):
        dirs.sort()
        depth = os.path.relpath(current, folder).count(os.sep)
        if best is not None and depth >= best[0]:
            continue
        if any(os.path.isdir(os.path.join(current, "exercises", t))
               for t in topics):
            best = (depth, "repository", current)
        elif any(os.path.isdir(os.path.join(current, t)) and
                 os.path.basename(current) != "solutions" for t in topics):
            best = (depth, "exercises", current)
        elif any(os.path.basename(p) in files
                 for t in topics for p in editable[t]) and best is None:
            best = (depth, "flat", current)
    if best is None:
        return "empty", folder
    return best[1], best[2]


def editable_files(pristine, topic):
    """Learner-editable files of a topic, as paths relative to the repository.

    The sources under exercises/<topic>/ minus the API headers (those that
    solutions/<topic>/ shares word for word).
    """
    folder = os.path.join(pristine, "exercises", topic)
    api = set(os.listdir(os.path.join(pristine, "solutions", topic))) \
        if os.path.isdir(os.path.join(pristine, "solutions", topic)) else set()
    found = []
    for name in sorted(os.listdir(folder)):
        if not name.endswith(SOURCE_SUFFIXES):
            continue
        if name.endswith((".h", ".hh", ".hpp")) and name in api:
            continue
        found.append(os.path.join("exercises", topic, name))
    return found


def digest(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


class Overlay:
    """What one submission contributes: files taken, missing and ignored."""

    def __init__(self):
        self.taken = {}        # repository path -> path in the unpacked copy
        self.missing = []      # editable files the submission lacks
        self.ignored = []      # (path in submission, reason)
        self.layout = "empty"


def plan_overlay(unpacked, pristine, topics, editable):
    overlay = Overlay()
    kind, base = find_layout(unpacked, topics, editable)
    overlay.layout = kind

    def repository_path(relative):
        if kind == "repository":
            return relative
        if kind == "exercises":
            return os.path.join("exercises", relative)
        for topic in topics:
            for path in editable[topic]:
                if os.path.basename(path) == relative:
                    return path
        return None

    wanted = {path for topic in topics for path in editable[topic]}
    for current, dirs, files in os.walk(unpacked):
        dirs.sort()
        for name in sorted(files):
            full = os.path.join(current, name)
            shown = os.path.relpath(full, unpacked)
            relative = os.path.relpath(full, base)
            if relative.startswith(".."):
                overlay.ignored.append((shown, "outside the exercises"))
                continue
            mapped = repository_path(relative)
            if mapped in wanted:
                overlay.taken[mapped] = full
                continue
            original = os.path.join(pristine, mapped) if mapped else None
            if original and os.path.isfile(original):
                if digest(original) != digest(full):
                    reason = ("the API header must stay as the course ships "
                              "it" if mapped.startswith("exercises/")
                              else "differs from the course's copy")
                    overlay.ignored.append((shown, reason))
            else:
                overlay.ignored.append((shown, "not part of the exercises"))
    overlay.missing = sorted(wanted - set(overlay.taken))
    return overlay


# Patterns in learner code that deserve a human look. They are warnings, not
# penalties: a forked child legitimately calls _exit(), the pipe kata execs.
SUSPICIOUS = [
    (r"\b(XML_OUTPUT_FILE|TEST_PREMATURE_EXIT_FILE|GTEST_OUTPUT|"
     r"TEST_UNDECLARED_OUTPUTS_DIR|TESTBRIDGE_TEST_ONLY|GRADER_RUN_ID)\b",
     "reads the test runner's environment"),
    (r"\b(gtest|gmock|testing::|GTEST_FLAG|RUN_ALL_TESTS|UnitTest)\b",
     "uses the test framework"),
    (r"#\s*(define|undef)\s+(EXPECT_|ASSERT_|TEST\b|TEST_F\b|FAIL\b|"
     r"SUCCEED\b|ADD_FAILURE)", "redefines a test macro"),
    (r"\bint\s+main\s*\(", "defines main()"),
    (r"__attribute__\s*\(\(\s*(constructor|destructor)",
     "runs code before or after main()"),
    (r"/proc/self/(cmdline|environ|exe|mem|fd)|/proc/\w+/mem",
     "inspects its own process"),
    (r"\b(quick_exit|_Exit|exit_group|SYS_exit|ptrace|process_vm_\w+)\b",
     "ends or inspects processes in unusual ways"),
    (r"(^|[^_\w])exit\s*\(", "calls exit() (a test must not end the runner)"),
    (r"\bsolutions/|\.\./|/autograder/", "refers to paths outside the kata"),
]


def scan(path):
    """[(line number, warning)] for one learner file."""
    warnings = []
    with open(path, errors="replace") as f:
        for number, line in enumerate(f, start=1):
            code = line.split("//")[0]
            for pattern, warning in SUSPICIOUS:
                if re.search(pattern, code):
                    warnings.append((number, warning, line.strip()[:120]))
    return warnings
