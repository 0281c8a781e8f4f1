"""Who runs what: a distinct unprivileged user per slot.

The kernel charges some budgets to a user, not to a sandbox or a namespace:
POSIX message queue bytes (RLIMIT_MSGQUEUE), pending signals, locked shared
memory, pipe buffer pages (fs.pipe-user-pages-soft), inotify instances. Two
submissions graded at once as the same user share them, so one could starve
the other. When the grader runs as root it therefore gives every Bazel server
its own user from a small pool of numeric ids that no account uses:

  BASE       the group of the shared disk cache (no user runs as it)
  BASE + 1   the reference build (it alone reads the solutions)
  BASE + 2+k slot k: its Bazel server, compiles and tests
  BASE + 999 reading submission entries that root owns (see `reader_for`)

Each has a group of the same number; the slots and the reference are also
members of BASE, the cache's group, and nothing else. The ids need no entry
in /etc/passwd (Bazel only needs $USER). Run as an ordinary user, the grader
has one user to give: every slot then runs as it. The two budgets that are
resource limits (queue bytes and pending signals) are then split: the kernel
charges a process's use in a user namespace to the namespace's creator too,
checked against the limit the creator had when it made the namespace, so a
run whose limits are lowered to a share inside its own namespace
(confine.py) cannot take a classmate's share (`budget_shares`). Pipe pages
and the rest stay shared (tools/grade says so when --jobs is above 1).
"""

import os
import pwd
import resource
import stat
import subprocess

DEFAULT_BASE = 2_000_000_000   # in the range systemd documents as unused
POOL_SIZE = 1000
# Of RLIMIT_MSGQUEUE, what a slot sharing one user needs at least: the
# reference's message_queue suite passes with 150,000 bytes and fails one
# case with 100,000 (measured with prlimit --msgqueue); a quarter more for a
# learner's queue opened with larger attributes.
MIN_QUEUE_BYTES = 192 * 1024


class Account:
    """One identity: the current process (no switch) or a numeric uid."""

    def __init__(self, uid, gid, groups=(), name=None):
        self.uid, self.gid = uid, gid
        self.groups = list(groups)
        self.name = name or f"grader{uid}"

    @property
    def switches(self):
        return self.uid != os.geteuid()

    def prefix(self):
        """The command prefix that runs a program as this account."""
        if not self.switches:
            return []
        groups = (["--groups=" + ",".join(map(str, self.groups))]
                  if self.groups else ["--clear-groups"])
        return ["setpriv", f"--reuid={self.uid}", f"--regid={self.gid}",
                *groups, "--inh-caps=-all", "--bounding-set=-all"]

    def own(self, path, mode=None):
        """Gives `path` (a folder tree the grader made) to this account."""
        if self.switches:
            for folder, dirs, files in os.walk(path):
                os.lchown(folder, self.uid, self.gid)
                for name in files + dirs:
                    os.lchown(os.path.join(folder, name), self.uid, self.gid)
        if mode is not None:
            os.chmod(path, mode)

    def can_reach(self, path):
        """Whether this account can look `path` up (every folder above it
        searchable). Bazel refuses to block a path its user cannot see."""
        folder = os.path.dirname(os.path.abspath(path))
        while True:
            try:
                info = os.stat(folder)
            except OSError:
                return False
            bit = (stat.S_IXUSR if info.st_uid == self.uid else
                   stat.S_IXGRP if (info.st_gid == self.gid or
                                    info.st_gid in self.groups) else
                   stat.S_IXOTH)
            if self.switches and not info.st_mode & bit:
                return False
            if folder == "/":
                return os.path.lexists(path)
            folder = os.path.dirname(folder)

    def can_read(self, path):
        if not self.switches:
            return os.access(path, os.R_OK | os.X_OK)
        result = subprocess.run(self.prefix() + ["test", "-r", path, "-a",
                                                 "-x", path])
        return result.returncode == 0


def current():
    uid = os.geteuid()
    try:
        name = pwd.getpwuid(uid).pw_name
    except KeyError:
        name = f"user{uid}"
    return Account(uid, os.getegid(), (), name)


def uids_in_use(uids):
    """The ids of `uids` that an account or a running process uses."""
    wanted = set(uids)
    used = set()
    for uid in wanted:
        try:
            pwd.getpwuid(uid)
            used.add(uid)
        except KeyError:
            pass
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/status") as f:
                for line in f:
                    if line.startswith("Uid:"):
                        used |= wanted & {int(v) for v in line.split()[1:]}
                        break
        except OSError:
            continue
    return used


class Pool:
    """The grader's accounts for one run."""

    def __init__(self, base=DEFAULT_BASE, slots=1, one_user=False):
        self.root = os.geteuid() == 0
        self.base = base
        if not self.root:
            me = current()
            self.cache_gid = None
            self.reference = me
            self.slots = [me] * slots
            self.reader = me
            return
        if not 0 < base < 2 ** 32 - POOL_SIZE - 2:
            raise SystemExit(f"grade: --uid-base {base} is out of range")
        busy = uids_in_use([base + 1] + [base + 2 + k for k in range(slots)]
                           + [base + 999])
        if busy:
            raise SystemExit(
                f"grade: user id(s) {sorted(busy)} of the grader's pool "
                f"(--uid-base {base}) belong to an account or a running "
                "process (another grader run?); pick another --uid-base")
        self.cache_gid = base
        self.reference = Account(base + 1, base + 1, [base],
                                 f"grader-ref{base + 1}")
        self.slots = [Account(base + 2 + k, base + 2 + k, [base],
                              f"grader-slot{k}") for k in range(slots)]
        if one_user:  # for comparison only: what sharing one user costs
            self.slots = [self.slots[0]] * slots
        self.reader = Account(base + 999, base + 999, [],
                              f"grader-reader{base + 999}")

    def shares_budgets(self):
        return len(self.slots) > 1 and len({a.uid for a in self.slots}) == 1

    def budget_shares(self):
        """Each slot's part of the budgets that one user's slots share:
        {"queue_bytes": ..., "signals": ...} for confine.py, or {} when every
        slot has a user of its own (or there is one slot)."""
        if not self.shares_budgets():
            return {}
        shares = {}
        for key, which in (("queue_bytes", resource.RLIMIT_MSGQUEUE),
                           ("signals", resource.RLIMIT_SIGPENDING)):
            hard = resource.getrlimit(which)[1]
            if hard != resource.RLIM_INFINITY:
                shares[key] = hard // len(self.slots)
        return shares

    def reader_for(self, entry):
        """Who reads a submission entry: its owner, never root.

        A folder, archive or .url file that an ordinary user owns is read
        with that user's rights (a .url naming another user's repository
        then fails as it would for them); one that root owns is read by the
        pool's reader, which has no rights beyond "others".
        """
        if not self.root:
            return self.reader
        try:
            info = os.lstat(entry)
        except OSError:
            return self.reader
        if info.st_uid == 0:
            return self.reader
        return Account(info.st_uid, info.st_gid, (),
                       f"owner{info.st_uid}")

    def prepare_cache(self, path):
        """The shared disk cache: root:BASE, setgid, group-writable folders,
        so every slot's Bazel server (umask 007) can add to it."""
        os.makedirs(path, exist_ok=True)
        if not self.root:
            os.chmod(path, 0o700)
            return
        info = os.stat(path)
        if info.st_gid == self.cache_gid and info.st_mode & 0o7777 == 0o2770:
            return
        for folder, dirs, files in os.walk(path):
            os.lchown(folder, 0, self.cache_gid)
            os.chmod(folder, 0o2770)
            for name in files:
                full = os.path.join(folder, name)
                if os.path.islink(full):
                    continue
                os.lchown(full, 0, self.cache_gid)
                os.chmod(full, (os.lstat(full).st_mode & 0o777) | 0o660)


def slots_one_user_can_share(wanted):
    """How many slots one user's POSIX queue budget can give the bytes a
    message_queue suite needs (MIN_QUEUE_BYTES) each, at most `wanted`."""
    hard = resource.getrlimit(resource.RLIMIT_MSGQUEUE)[1]
    if hard == resource.RLIM_INFINITY:
        return wanted
    return max(1, min(wanted, hard // MIN_QUEUE_BYTES))
