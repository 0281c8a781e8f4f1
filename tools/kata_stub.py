"""The blank stubs of a kata and the backups of the learner's files, for
tools/kata reset and tools/kata interview.

The learner's files are the tracked .cc files of exercises/<topic>/ (the
headers are the contract; the README says only the .cc files are edited).
The blank stub of each comes from git. It is the committed version, unless
the learner has committed work of their own: a learner's commit only
removes NotImplemented(...) calls from the stub it started from, so from
HEAD we step back to an older committed version for as long as that older
version has every unfinished function of the newer one and more. A change
that keeps the set of unfinished functions (a comment, an upstream edit of
the stub) stops the walk.

A backup copies the learner's files into .kata/backups/<name>-<time>/ and
reads every copy back before anything is overwritten.

Python 3 standard library only.
"""

import os
import re
import subprocess
import time

_UNFINISHED = re.compile(r"NotImplemented\(\s*\"([^\"]+)\"")
HISTORY_DEPTH = 200  # committed versions of one file looked at, newest first


class StubError(Exception):
    """A problem the learner must hear about in one sentence."""


def git(root, *args):
    out = subprocess.run(["git", *args], cwd=root, capture_output=True)
    if out.returncode != 0:
        raise StubError(out.stderr.decode(errors="replace").strip() or
                        f"git {' '.join(args)} failed")
    return out.stdout


def learner_files(root, topic):
    """The tracked .cc files of exercises/<topic>/, repository-relative."""
    try:
        listed = git(root, "ls-files", "--", f"exercises/{topic}/*.cc")
    except (StubError, OSError):
        raise StubError(f"exercises/{topic} has no git history here, so "
                        f"there is no committed stub to go back to") from None
    files = sorted(path for path in listed.decode().split("\n") if path)
    if not files:
        raise StubError(f"git tracks no .cc file in exercises/{topic}, so "
                        f"there is no committed stub to go back to")
    return files


def unfinished(text):
    """The functions a source still leaves unfinished."""
    return set(_UNFINISHED.findall(text.decode("utf-8", "replace")
                                   if isinstance(text, bytes) else text))


def stub_of(root, path):
    """The bytes of the blank stub of `path` (see the module comment)."""
    commits = git(root, "log", f"-{HISTORY_DEPTH}", "--format=%H", "HEAD",
                  "--", path).decode().split()
    if not commits:
        raise StubError(f"{path} was never committed, so there is no stub "
                        f"to go back to")
    chosen = git(root, "show", f"{commits[0]}:{path}")
    for commit in commits[1:]:
        try:
            older = git(root, "show", f"{commit}:{path}")
        except StubError:
            break  # the file was added (or renamed) in a newer commit
        if unfinished(older) > unfinished(chosen):
            chosen = older
        else:
            break
    return chosen


def stubs(root, topic):
    """{path: blank stub bytes} for the topic's learner files."""
    return {path: stub_of(root, path) for path in learner_files(root, topic)}


def changed(root, blank):
    """The paths of `blank` whose working copy differs from the stub."""
    found = []
    for path, stub in blank.items():
        try:
            with open(os.path.join(root, path), "rb") as f:
                if f.read() != stub:
                    found.append(path)
        except FileNotFoundError:
            pass  # nothing of the learner's to lose
    return found


def backup(root, folder, name, paths):
    """Copies `paths` into <folder>/<name>-<time>/ and checks each copy;
    returns the backup folder. Raises StubError if any copy fails."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    target = os.path.join(folder, f"{name}-{stamp}")
    number = 1
    while os.path.exists(target):
        number += 1
        target = os.path.join(folder, f"{name}-{stamp}-{number}")
    try:
        os.makedirs(target)
        for path in paths:
            with open(os.path.join(root, path), "rb") as f:
                data = f.read()
            copy = os.path.join(target, os.path.basename(path))
            with open(copy, "wb") as f:
                f.write(data)
            with open(copy, "rb") as f:
                if f.read() != data:
                    raise OSError(f"the copy of {path} reads back different")
    except OSError as error:
        raise StubError(f"could not back up your files into "
                        f"{os.path.relpath(target, root)} ({error}), so "
                        f"nothing was changed") from None
    return target


def write(root, files):
    """Writes {path: bytes} under `root` (each file whole, via a rename)."""
    for path, data in files.items():
        full = os.path.join(root, path)
        os.makedirs(os.path.dirname(full), exist_ok=True)
        temporary = full + ".kata-tmp"
        with open(temporary, "wb") as f:
            f.write(data)
        os.replace(temporary, full)
