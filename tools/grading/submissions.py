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
import json
import os
import shutil
import stat
import subprocess
import sys
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


def shown(text):
    """A file or folder name as printable text, whatever its bytes.

    Bytes that are not UTF-8 become \\xNN and control characters their
    escapes, so a name can always be written into a report and can never
    move a terminal's cursor.
    """
    if isinstance(text, str):
        try:
            raw = os.fsencode(text)
        except UnicodeError:
            raw = text.encode("utf-8", "backslashreplace")
    else:
        raw = bytes(text)
    text = raw.decode("utf-8", "backslashreplace")
    out = []
    for char in text:
        if char.isprintable() or char == " ":
            out.append(char)
        else:
            code = ord(char)
            out.append(f"\\x{code:02x}" if code < 0x100 else
                       f"\\u{code:04x}" if code < 0x10000 else
                       f"\\U{code:08x}")
    return "".join(out)


def student_name(entry):
    """The student's name as written in the entry's name (suffix removed)."""
    base = os.path.basename(entry.rstrip("/"))
    lower = base.lower()
    for suffix in ARCHIVE_SUFFIXES + URL_SUFFIXES + (".git",):
        if lower.endswith(suffix) and len(base) > len(suffix):
            base = base[:-len(suffix)]
            break
    return shown(base).strip() or "unnamed"


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
    """Caps what one submission may unpack, and lists what it left out."""

    def __init__(self):
        self.files = 0
        self.bytes = 0
        self.skipped = []      # (name as written, why)

    def take(self, size):
        self.files += 1
        self.bytes += size
        if self.files > MAX_FILES or self.bytes > MAX_TOTAL_BYTES:
            raise Rejected(f"larger than the grader accepts ({MAX_FILES} "
                           f"files, {MAX_TOTAL_BYTES >> 20} MiB)")

    def skip(self, name, why):
        if len(self.skipped) < 1000:
            self.skipped.append((shown(name), why))


def safe_relative(name):
    """A member name as a relative path, or None if it points outside."""
    name = name.replace("\\", "/")
    parts = [p for p in name.split("/") if p not in ("", ".")]
    if not parts or name.startswith("/") or ".." in parts or (
            len(parts[0]) == 2 and parts[0][1] == ":"):
        return None
    return os.path.join(*parts)


def too_big(size):
    return f"larger than {MAX_FILE_BYTES >> 20} MiB ({size} bytes)"


def write_member(target, relative, source):
    destination = os.path.join(target, relative)
    os.makedirs(os.path.dirname(destination), exist_ok=True)
    if os.path.lexists(destination):
        os.unlink(destination)  # a name given twice: the last one wins
    with open(destination, "wb") as dst:
        dst.write(source.read(MAX_FILE_BYTES))


def kind_of(mode):
    """What a file mode's type bits say, for the skipped list."""
    for test, what in ((stat.S_ISLNK, "a symbolic link"),
                       (stat.S_ISCHR, "a device"), (stat.S_ISBLK, "a device"),
                       (stat.S_ISFIFO, "a named pipe"),
                       (stat.S_ISSOCK, "a socket")):
        if test(mode):
            return what
    return "not a regular file"


def copy_tree(source, target, budget, quiet=()):
    """Copies regular files only (no links, devices or sockets); folders
    named in `quiet` are left out without a word."""
    for folder, dirs, files in os.walk(source, followlinks=False):
        kept = []
        for name in sorted(dirs):
            path = os.path.join(folder, name)
            relative = os.path.relpath(path, source)
            if relative in quiet:
                continue
            if name == ".git":
                budget.skip(relative + "/", "Git's own data")
            elif os.path.islink(path):
                budget.skip(relative, "a symbolic link (never followed)")
            else:
                kept.append(name)
        dirs[:] = kept
        for name in sorted(files):
            path = os.path.join(folder, name)
            relative = os.path.relpath(path, source)
            info = os.lstat(path)
            if not stat.S_ISREG(info.st_mode):
                budget.skip(relative, kind_of(info.st_mode))
                continue
            if info.st_size > MAX_FILE_BYTES:
                budget.skip(relative, too_big(info.st_size))
                continue
            budget.take(info.st_size)
            try:
                fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
            except OSError as error:
                budget.skip(relative, f"unreadable ({error.strerror})")
                continue
            with os.fdopen(fd, "rb") as src:
                write_member(target, relative, src)


def unpack_zip(path, target, budget):
    with zipfile.ZipFile(path) as archive:
        for member in archive.infolist():
            mode = member.external_attr >> 16
            kind = stat.S_IFMT(mode)
            # Many tools write no file type at all (Python's writestr gives
            # permission bits only; Windows tools give none): a member is
            # then a folder when its name ends with "/", else a file.
            if member.is_dir() or kind == stat.S_IFDIR:
                continue
            if kind and kind != stat.S_IFREG:
                budget.skip(member.filename, kind_of(mode))
                continue
            relative = safe_relative(member.filename)
            if relative is None:
                budget.skip(member.filename, "points outside the submission")
                continue
            if member.file_size > MAX_FILE_BYTES:
                budget.skip(member.filename, too_big(member.file_size))
                continue
            budget.take(member.file_size)
            with archive.open(member) as src:
                write_member(target, relative, src)


def unpack_tar(path, target, budget):
    with tarfile.open(path) as archive:
        for member in archive:
            if member.isdir():
                continue
            if not member.isreg():
                budget.skip(member.name, "a link" if member.issym() or
                            member.islnk() else "not a regular file")
                continue
            relative = safe_relative(member.name)
            if relative is None:
                budget.skip(member.name, "points outside the submission")
                continue
            if member.size > MAX_FILE_BYTES:
                budget.skip(member.name, too_big(member.size))
                continue
            budget.take(member.size)
            with archive.extractfile(member) as src:
                write_member(target, relative, src)


EVERYONE = "readable by every user of the machine"


def not_for_everyone(repository):
    """Why a user with only the rights of "others" could not read the whole
    repository (None if they could): the folders above it searchable, every
    folder in it readable and searchable, every file readable, no link, no
    alternates file (which names another repository to read objects from)."""
    real = os.path.realpath(repository)
    folder = os.path.dirname(real)
    while True:
        if not os.stat(folder).st_mode & stat.S_IXOTH:
            return f"{folder} is closed to other users"
        if folder == "/":
            break
        folder = os.path.dirname(folder)
    if os.path.exists(os.path.join(real, "objects", "info", "alternates")):
        return "it borrows objects from another repository (alternates)"
    for folder, dirs, files in os.walk(real):
        if os.stat(folder).st_mode & 0o005 != 0o005:
            return f"{folder} is closed to other users"
        for name in dirs + files:
            info = os.lstat(os.path.join(folder, name))
            if stat.S_ISLNK(info.st_mode):
                return f"{os.path.join(folder, name)} is a link"
            if not info.st_mode & stat.S_IROTH:
                return f"{os.path.join(folder, name)} is closed to other users"
    return None


def clone_local(url, target, budget, everyone_only=False):
    """Clones a repository on this machine (file:// or a path) and copies it.

    Runs with the rights of whoever unpacks (tools/grade runs this module as
    the entry's owner, never as root): a repository that user cannot read
    fails here as it would for them. A grader without root has no other
    user to read as: it passes `everyone_only`, and a repository that not
    every user could read is refused (it could be the grader's own files).
    """
    if url.startswith("file://"):
        url = url[len("file://"):]
    if not os.path.isabs(url):
        raise Rejected(f"not a Git repository on this machine: {url!r} "
                       "(the grader never fetches over the network)")
    if not os.access(url, os.R_OK | os.X_OK) or not os.path.isdir(url):
        raise Rejected(f"{url!r} is not a folder the submitter "
                       f"(uid {os.getuid()}) can read")
    why = not_for_everyone(url) if everyone_only else None
    if why:
        raise Rejected(f"{url!r} is not {EVERYONE}: {why} (a grader run "
                       "without root reads a repository named in a .url "
                       "file only then; as root it reads it as the file's "
                       "owner)")
    # Inside the target: whoever reads may write nowhere else.
    checkout = os.path.join(target, ".grader-clone")
    # A repository someone else owns is "dubious" to Git, which then refuses
    # it; only a global configuration may say otherwise. The clone runs as
    # an unprivileged user and Git never runs a hook of the source.
    config = os.path.join(target, ".grader-gitconfig")
    with open(config, "w") as f:
        f.write("[safe]\n\tdirectory = *\n")
    env = {"PATH": "/usr/bin:/bin", "HOME": "/nonexistent",
           "GIT_ALLOW_PROTOCOL": "file", "GIT_CONFIG_NOSYSTEM": "1",
           "GIT_CONFIG_GLOBAL": config, "GIT_TERMINAL_PROMPT": "0"}
    result = subprocess.run(
        ["git", "-c", "core.symlinks=false", "-c", "protocol.allow=never",
         "-c", "protocol.file.allow=always",
         "-c", "core.hooksPath=/dev/null", "clone", "--quiet",
         "--no-hardlinks", "--no-local", "--depth=1", "file://" + url,
         checkout], env=env, capture_output=True, text=True, timeout=120)
    os.unlink(config)
    if result.returncode != 0:
        raise Rejected(f"git clone (as uid {os.getuid()}) failed: "
                       f"{result.stderr.strip()[:300]}")
    copy_tree(checkout, target, budget, quiet=(".git",))
    shutil.rmtree(checkout, ignore_errors=True)


def is_bare_repository(path):
    return all(os.path.exists(os.path.join(path, part))
               for part in ("HEAD", "objects", "refs"))


def archive_kind(path):
    """"zip", "tar" or None, by the name first and then by the content."""
    lower = os.path.basename(path).lower()
    if lower.endswith(".zip"):
        return "zip"
    if lower.endswith(tuple(s for s in ARCHIVE_SUFFIXES if s != ".zip")):
        return "tar"
    if lower.endswith(URL_SUFFIXES):
        return None
    if zipfile.is_zipfile(path):
        return "zip"
    try:
        if tarfile.is_tarfile(path):
            return "tar"
    except (OSError, EOFError, tarfile.TarError):
        pass
    return None


def unpack(entry, target, everyone_only=False):
    """Copies one submission entry into `target` (an empty folder).

    Returns [(name, why)] of what it left out. With `everyone_only`, a .url
    entry may name only a repository every user can read (clone_local).
    """
    os.makedirs(target, exist_ok=True)
    budget = Budget()
    name = os.path.basename(entry)
    if os.path.islink(entry):
        raise Rejected("a symbolic link, not a submission")
    if os.path.isdir(entry):
        if is_bare_repository(entry):
            clone_local(os.path.abspath(entry), target, budget)
        else:
            copy_tree(entry, target, budget)
        return budget.skipped
    if not os.path.isfile(entry):
        raise Rejected(f"not a folder, archive or Git URL: {shown(name)}")
    kind = archive_kind(entry)
    if kind == "zip":
        unpack_zip(entry, target, budget)
    elif kind == "tar":
        unpack_tar(entry, target, budget)
    elif name.lower().endswith(URL_SUFFIXES):
        with open(entry, errors="replace") as f:
            lines = f.read(4096).strip().splitlines()
        clone_local(lines[0].strip() if lines else "", target, budget,
                    everyone_only)
    else:
        raise Rejected(f"not a folder, archive or Git URL: {shown(name)} "
                       "(a .zip, tarball, folder, bare Git repository or "
                       ".url file is expected)")
    return budget.skipped


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
            written = shown(os.path.relpath(full, unpacked))
            relative = os.path.relpath(full, base)
            if relative.startswith(".."):
                overlay.ignored.append((written, "outside the exercises"))
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
                    overlay.ignored.append((written, reason))
            elif name.lower().endswith(ARCHIVE_SUFFIXES):
                overlay.ignored.append((written, "an archive inside the "
                                        "submission (not unpacked): submit "
                                        "its contents instead"))
            else:
                overlay.ignored.append((written, "not part of the exercises"))
    overlay.missing = sorted(wanted - set(overlay.taken))
    return overlay


def main(argv):
    """`submissions.py --unpack ENTRY TARGET`: what tools/grade runs as the
    entry's owner. Prints {"skipped": [...], "error": ...} as JSON."""
    if len(argv) != 3 or argv[0] != "--unpack":
        raise SystemExit("usage: submissions.py --unpack ENTRY TARGET")
    os.umask(0o077)
    result = {"skipped": [], "error": None}
    try:
        result["skipped"] = unpack(argv[1], argv[2])
    except Rejected as error:
        result["error"] = str(error)
    except Exception as error:  # zipfile/tarfile/git raise many kinds
        result["error"] = f"{type(error).__name__}: {shown(str(error))}"
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
