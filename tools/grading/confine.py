"""Starts one test run confined, and watches it from outside: the run monitor.

run_test.py (the grader's test wrapper, inside Bazel's sandbox) starts

  python3 -I -S confine.py SPEC STATUS_FD -- COMMAND...

where SPEC holds the settings (see DEFAULTS; written by encode_spec) and
STATUS_FD a pipe on which this monitor writes one JSON line when the run is
over. (It reads and writes those itself: importing json would cost more
than a fast test run takes, and a run starts once per test case when cases
run one by one.) Nothing of the learner's
code runs before every step below is in place, because COMMAND (the shell
that starts the test binary) is exec'ed only at the end:

  1. a new user namespace where this process is root (mapped to the slot's
     own uid), then new mount, PID and IPC namespaces owned by it;
  2. the first process of the PID namespace (the "init" of the run) mounts a
     fresh /proc, size-limited tmpfs on /tmp, /dev/shm and $TEST_TMPDIR, and
     caps the System V IPC objects of the new IPC namespace (the kernel
     sysctls kernel.shmall, shmmni, msgmni), then binds /proc/sys read-only
     over itself so the run cannot raise those caps again;
  3. it sets the resource limits (processes, address space, file size, open
     files, no core files), enters a second user namespace in which it is the
     slot's uid again and holds no privilege over the first one, and confines
     itself with Landlock: reading only the system's folders, /proc, /sys,
     /dev and its own test binary and runfiles, writing only its own tmpfs
     mounts, $TEST_TMPDIR and /proc (a test may map its user into a user
     namespace of its own, as it can on a learner's machine; /proc/sys is
     read-only, and everything else there the kernel checks), executing only the system's program folders and
     its own test binary;
  4. it exec's COMMAND. The test binary inherits all of it, so even its static
     constructors run confined.

Meanwhile this monitor (outside the run's PID namespace, so the run cannot
see or signal it) polls the run every 0.1 s and kills it (the init process;
the kernel then kills every process of the namespace) when it holds more
processes, memory (private memory of its processes + its tmpfs files + its
System V shared memory) or CPU (cores busy, averaged over a few seconds) than
the spec allows. It reports the reason, the peaks it saw, and whether the
run wrote the decoy report file.

Where the kernel lacks Landlock (before 5.13, or not enabled), step 3 goes
without it and the status says so; the run is then confined by Bazel's
sandbox, the blocked paths and file permissions only.

Standard library only; runs with `python3 -I -S`.
"""

import ctypes
import os
import resource
import select
import signal
import stat
import sys
import time

CLONE_NEWNS = 0x00020000
CLONE_NEWIPC = 0x08000000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC = 0x1, 0x2, 0x4, 0x8
MS_REMOUNT, MS_BIND = 0x20, 0x1000
MS_REC, MS_PRIVATE = 0x4000, 1 << 18
PR_SET_PDEATHSIG, PR_SET_NO_NEW_PRIVS = 1, 38
SYS_LANDLOCK_CREATE_RULESET, SYS_LANDLOCK_ADD_RULE = 444, 445
SYS_LANDLOCK_RESTRICT_SELF = 446
LANDLOCK_RULE_PATH_BENEATH = 1

# Landlock file-system rights (linux/landlock.h).
EXECUTE, WRITE_FILE, READ_FILE, READ_DIR = 1, 1 << 1, 1 << 2, 1 << 3
TRUNCATE = 1 << 14
FILE_ONLY = EXECUTE | WRITE_FILE | READ_FILE | TRUNCATE
READ = READ_FILE | READ_DIR

SYSTEM_PROGRAMS = ["/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64",
                   "/libx32"]
SYSTEM_READ = ["/etc", "/sys"]
QUEUES = "/tmp/.grader-mqueue"   # the run's POSIX queues, see start_run

DEFAULTS = {
    "tmpfs_mb": 256,         # each of /tmp, /dev/shm and $TEST_TMPDIR
    "memory_mb": 1024,       # everything the run holds, see memory_in_use
    "processes": 256,        # RLIMIT_NPROC (counted per user namespace)
    "process_alarm": 0.75,   # killed beyond this share of `processes`
    "address_space_mb": 4096,
    "file_mb": 64,
    "open_files": 1024,
    "cpu_cores": 1.5,        # killed when busier than this ...
    "cpu_window": 4.0,       # ... on average over this many seconds
    "binary": "",            # the test binary (read + execute)
    "read": [],              # further folders or files to read
    "write": [],             # further folders to write
    "grader_dir": "",        # made on the run's /tmp for the two below
    "decoy": "",             # a report path the run must not write
    "marker": "",            # GoogleTest's premature-exit marker
    "landlock": True,
    "tmpfs_extra": [],       # further folders that get their own tmpfs
    # RLIMIT_MSGQUEUE and RLIMIT_SIGPENDING, 0 = as inherited: a slot's part
    # of the budgets when every slot runs as one user (accounts.Pool).
    "queue_bytes": 0,
    "signals": 0,
}


FIELD, ITEM = "\x1f", "\x1e"


def encode_spec(spec):
    """SPEC as one argument: key=value fields; lists of paths joined."""
    fields = []
    for key, value in spec.items():
        if isinstance(value, (list, tuple)):
            value = ITEM.join(value)
        elif isinstance(value, bool):
            value = int(value)
        fields.append(f"{key}={value}")
    return FIELD.join(fields)


def decode_spec(text):
    spec = dict(DEFAULTS)
    spec["tmpfs_extra"] = []
    for field in text.split(FIELD) if text else []:
        key, _, value = field.partition("=")
        kind = type(spec.get(key, ""))
        if kind is list:
            spec[key] = [v for v in value.split(ITEM) if v]
        elif kind is bool:
            spec[key] = value not in ("0", "", "False")
        elif kind in (int, float):
            spec[key] = kind(float(value))
        else:
            spec[key] = value
    return spec


def json_line(report):
    """A flat dict (str, number, bool, None, one level of dict) as JSON."""
    def value(v):
        if isinstance(v, bool):
            return "true" if v else "false"
        if v is None:
            return "null"
        if isinstance(v, (int, float)):
            return repr(v)
        if isinstance(v, dict):
            return "{" + ", ".join(f"{value(str(k))}: {value(x)}"
                                   for k, x in v.items()) + "}"
        text = str(v).replace("\\", "\\\\").replace('"', '\\"')
        return '"' + "".join(c if ord(c) >= 0x20 else f"\\u{ord(c):04x}"
                             for c in text) + '"'
    return value(report) + "\n"


class Failure(Exception):
    pass


LIBC = ctypes.CDLL(None, use_errno=True)
LIBC.syscall.restype = ctypes.c_long
LIBC.mount.argtypes = [ctypes.c_char_p] * 3 + [ctypes.c_ulong,
                                               ctypes.c_char_p]


def check(result, what):
    if result < 0:
        error = ctypes.get_errno()
        raise Failure(f"{what}: {os.strerror(error)}")
    return result


def write_file(path, text):
    with open(path, "w") as f:
        f.write(text)


def map_ids(inside_uid, outside_uid, inside_gid, outside_gid):
    write_file("/proc/self/setgroups", "deny")
    write_file("/proc/self/uid_map", f"{inside_uid} {outside_uid} 1")
    write_file("/proc/self/gid_map", f"{inside_gid} {outside_gid} 1")


def mount(source, target, kind, flags, data=None):
    check(LIBC.mount(source and source.encode(), target.encode(),
                     kind and kind.encode(), flags,
                     data and data.encode()), f"mount {kind or ''} {target}")


# ------------------------------------------------------------ Landlock
class RulesetAttr(ctypes.Structure):
    _fields_ = [("handled_access_fs", ctypes.c_uint64)]


class PathBeneath(ctypes.Structure):
    _pack_ = 1
    _fields_ = [("allowed_access", ctypes.c_uint64),
                ("parent_fd", ctypes.c_int32)]


def landlock_abi():
    """The kernel's Landlock ABI version, 0 when it has none."""
    version = LIBC.syscall(SYS_LANDLOCK_CREATE_RULESET, None, 0, 1)
    return max(0, version)


def landlock(spec, runfiles):
    """Confines this process (and what it exec's) to the spec's paths."""
    abi = landlock_abi()
    handled = (1 << 13) - 1               # ABI 1: execute ... make_sym
    if abi >= 2:
        handled |= 1 << 13                # refer (rename/link across dirs)
    if abi >= 3:
        handled |= TRUNCATE
    ruleset = check(LIBC.syscall(SYS_LANDLOCK_CREATE_RULESET,
                                 ctypes.byref(RulesetAttr(handled)),
                                 ctypes.sizeof(RulesetAttr), 0),
                    "landlock_create_ruleset")

    def allow(path, rights):
        try:
            fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
        except OSError:
            return  # a folder this system does not have
        try:
            if not stat.S_ISDIR(os.fstat(fd).st_mode):
                rights &= FILE_ONLY
            rule = PathBeneath(rights & handled, fd)
            check(LIBC.syscall(SYS_LANDLOCK_ADD_RULE, ruleset,
                               LANDLOCK_RULE_PATH_BENEATH,
                               ctypes.byref(rule), 0),
                  f"landlock_add_rule({path})")
        finally:
            os.close(fd)

    for path in SYSTEM_PROGRAMS:
        allow(path, READ | EXECUTE)
    for path in SYSTEM_READ:
        allow(path, READ)
    allow("/proc", READ | WRITE_FILE | TRUNCATE)
    allow("/dev", READ | WRITE_FILE | TRUNCATE)
    for path in ["/tmp", "/dev/shm", "/dev/mqueue", QUEUES] + spec["write"]:
        allow(path, handled)
    for path in spec["read"]:
        allow(path, READ)
    # The runfiles are symbolic links; Landlock checks what they point to.
    for path in runfiles:
        allow(path, READ | (EXECUTE if os.access(path, os.X_OK) else 0))
    if spec["binary"]:
        allow(spec["binary"], READ | EXECUTE)
    check(LIBC.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "no_new_privs")
    check(LIBC.syscall(SYS_LANDLOCK_RESTRICT_SELF, ruleset, 0),
          "landlock_restrict_self")
    os.close(ruleset)
    return abi


def runfile_targets(folder, limit=2000):
    """The files the runfiles tree's links point to (real paths)."""
    found = []
    for current, dirs, files in os.walk(folder):
        for name in dirs + files:
            target = os.path.realpath(os.path.join(current, name))
            if os.path.isfile(target):
                found.append(target)
            if len(found) >= limit:
                return found
    return found


# ------------------------------------------------------- the run's init
def start_run(spec, command, uid, gid):
    """In the first process of the new PID namespace; never returns."""
    notes = []
    try:
        mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
        size = f"size={int(spec['tmpfs_mb'])}m,nr_inodes=65536,mode=1777"
        for target in ["/tmp", "/dev/shm"] + spec["tmpfs_extra"]:
            if os.path.isdir(target):
                mount("tmpfs", target, "tmpfs", MS_NOSUID | MS_NODEV, size)
        if spec["grader_dir"]:
            os.makedirs(spec["grader_dir"], mode=0o700, exist_ok=True)
        # POSIX queues live in the IPC namespace's own mqueue file system,
        # which no path reaches; Landlock allows it only through a rule on
        # its root, so it is mounted where a rule can name it (and on
        # /dev/mqueue, where tests list it, when the system has that folder).
        for target in (QUEUES, "/dev/mqueue"):
            if target == QUEUES:
                os.makedirs(target, exist_ok=True)
            if os.path.isdir(target):
                try:
                    mount("mqueue", target, "mqueue",
                          MS_NOSUID | MS_NODEV | MS_NOEXEC)
                except Failure as error:
                    notes.append(f"no mqueue mount on {target} ({error})")
        memory_pages = int(spec["memory_mb"]) << 20 >> 12
        # Counts and the total only: the per-object limits (msgmnb, msgmax,
        # shmmax) stay Linux's defaults, which the kata's tests teach.
        for name, value in (("shmall", memory_pages), ("shmmni", 256),
                            ("msgmni", 256)):
            try:
                write_file(f"/proc/sys/kernel/{name}", str(value))
            except OSError as error:
                notes.append(f"kernel.{name} not capped ({error.strerror})")
        # The run may write /proc (see landlock), and its user owns this IPC
        # namespace's sysctls: a read-only bind keeps the caps above fixed.
        # (It cannot undo the bind: it has no privilege over this mount
        # namespace, and in one of its own the bind is locked.)
        try:
            mount("/proc/sys", "/proc/sys", None, MS_BIND)
            mount(None, "/proc/sys", None,
                  MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV
                  | MS_NOEXEC)
        except Failure as error:
            notes.append(f"/proc/sys left writable ({error})")
        limits = [
            (resource.RLIMIT_NPROC, int(spec["processes"])),
            (resource.RLIMIT_AS, int(spec["address_space_mb"]) << 20),
            (resource.RLIMIT_FSIZE, int(spec["file_mb"]) << 20),
            (resource.RLIMIT_NOFILE, int(spec["open_files"])),
            (resource.RLIMIT_CORE, 0),
        ]
        # Lowered after the first user namespace was made: the kernel
        # checks what this run uses against these, and what all runs of the
        # user use together against the limit the user had when it made
        # that namespace, so one run cannot take another's part.
        limits += [(which, int(spec[key])) for which, key in (
            (resource.RLIMIT_MSGQUEUE, "queue_bytes"),
            (resource.RLIMIT_SIGPENDING, "signals")) if int(spec[key]) > 0]
        for which, value in limits:
            soft, hard = resource.getrlimit(which)
            if hard != resource.RLIM_INFINITY:
                value = min(value, hard)
            resource.setrlimit(which, (value, value))
        runfiles = runfile_targets(os.getcwd())
        # Give up root of the first namespace: in the second one this process
        # is the slot's uid again and has no capability over the mounts,
        # the IPC sysctls or this monitor.
        check(LIBC.unshare(CLONE_NEWUSER), "unshare(user)")
        map_ids(uid, 0, gid, 0)
        if spec["landlock"] and landlock_abi() > 0:
            landlock(spec, runfiles)
        else:
            check(LIBC.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "no_new_privs")
        check(LIBC.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0),
              "pdeathsig")
    except (Failure, OSError) as error:
        os.write(2, f"[grader] could not confine the test run: {error}\n"
                 .encode())
        os._exit(125)
    for note in notes:
        os.write(2, f"[grader] {note}\n".encode())
    # The test starts with the signal state Bazel gives it: Python ignores
    # SIGPIPE and SIGXFSZ from its start, and exec keeps an ignored signal
    # ignored (sh too passes on what it was started with), so the test
    # binary would otherwise inherit SIG_IGN: a learner's missing SIGPIPE
    # handling would go unseen, and the kata's signal-state check would
    # blame the test that puts the default back.
    for number in (signal.SIGPIPE, signal.SIGXFSZ):
        signal.signal(number, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_SETMASK, [])
    try:
        os.execv(command[0], command)
    except OSError as error:
        os.write(2, f"[grader] exec {command[0]}: {error}\n".encode())
        os._exit(126)


# --------------------------------------------------------- the monitor
def tick():
    return os.sysconf("SC_CLK_TCK")


def read_processes():
    """{pid: (cpu ticks incl. reaped children, threads)} of the run."""
    found = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as f:
                fields = f.read().rsplit(b")", 1)[1].split()
        except (OSError, IndexError):
            continue
        # fields[0] is the state (field 3); utime is field 14, num_threads 20.
        ticks = sum(int(fields[i]) for i in (11, 12, 13, 14))
        found[int(name)] = (ticks, int(fields[17]))
    return found


def private_memory(pids):
    """Anonymous memory of the run's processes (proportional share)."""
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/smaps_rollup", "rb") as f:
                for line in f:
                    if line.startswith(b"Pss_Anon:"):
                        total += int(line.split()[1]) << 10
                        break
        except (OSError, ValueError):
            continue
    return total


def tmpfs_used(paths):
    used = 0
    for path in paths:
        try:
            info = os.statvfs(path)
        except OSError:
            continue
        used += (info.f_blocks - info.f_bfree) * info.f_frsize
    return used


def sysv_shared_memory():
    """Resident bytes of the run's System V segments (its IPC namespace)."""
    total = 0
    try:
        with open("/proc/sysvipc/shm") as f:
            header = f.readline().split()
            column = header.index("rss")
            for line in f:
                total += int(line.split()[column])
    except (OSError, ValueError, IndexError):
        pass
    return total


def monitor(child, spec, tmpfs_paths):
    """Waits for the run's init; kills it when the run takes too much."""
    started = time.monotonic()
    history = []       # (time, cpu seconds)
    peaks = {"processes": 0, "memory_mb": 0.0, "cpu_seconds": 0.0}
    killed_for = None
    detail = ""
    alarm = int(spec["processes"] * spec["process_alarm"])
    last_memory = 0.0
    try:
        waker = os.pidfd_open(child)   # readable once the init has ended
    except (AttributeError, OSError):
        waker = None
    while True:
        pid, status = os.waitpid(child, os.WNOHANG)
        if pid:
            break
        now = time.monotonic()
        procs = read_processes()
        threads = sum(t for _, t in procs.values())
        cpu = sum(c for c, _ in procs.values()) / tick()
        peaks["processes"] = max(peaks["processes"], threads)
        peaks["cpu_seconds"] = max(peaks["cpu_seconds"], cpu)
        history.append((now, cpu))
        while history and now - history[0][0] > spec["cpu_window"]:
            history.pop(0)
        if killed_for is None and threads > alarm:
            killed_for, detail = "processes", f"{threads} threads"
        if killed_for is None and now - last_memory >= 0.25:
            last_memory = now
            used = (private_memory(procs) + tmpfs_used(tmpfs_paths) +
                    sysv_shared_memory())
            peaks["memory_mb"] = max(peaks["memory_mb"], used / (1 << 20))
            if used > int(spec["memory_mb"]) << 20:
                killed_for = "memory"
                detail = f"{used >> 20} MiB"
        if (killed_for is None and history and
                now - started >= spec["cpu_window"] and
                now - history[0][0] >= spec["cpu_window"] * 0.9):
            rate = (cpu - history[0][1]) / (now - history[0][0])
            if rate > spec["cpu_cores"]:
                killed_for = "cpu"
                detail = f"{rate:.1f} cores"
        if killed_for:
            try:
                os.kill(child, signal.SIGKILL)
            except OSError:
                pass
            _, status = os.waitpid(child, 0)
            break
        if waker is None:
            time.sleep(0.1)
        else:
            select.select([waker], [], [], 0.1)
    if waker is not None:
        os.close(waker)
    # The run's tmpfs is still mounted here (this monitor shares the run's
    # mount namespace); it goes away with the monitor.
    decoy, marker = spec["decoy"], spec["marker"]
    return status, {"killed_for": killed_for, "detail": detail,
                    "peaks": peaks,
                    "decoy_touched": bool(decoy) and os.path.lexists(decoy),
                    "marker_left": bool(marker) and os.path.lexists(marker),
                    "seconds": round(time.monotonic() - started, 3)}


def main(argv):
    spec = decode_spec(argv[0])
    status_fd = int(argv[1])
    command = argv[3:] if len(argv) > 3 and argv[2] == "--" else []
    if not command:
        raise SystemExit("usage: confine.py SPEC STATUS_FD -- COMMAND...")
    os.set_inheritable(status_fd, False)
    uid, gid = os.getuid(), os.getgid()
    report = {"landlock": 0, "error": ""}
    try:
        check(LIBC.unshare(CLONE_NEWUSER), "unshare(user)")
        map_ids(0, uid, 0, gid)
        check(LIBC.unshare(CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWIPC),
              "unshare(mount, pid, ipc)")
        mount(None, "/", None, MS_REC | MS_PRIVATE)
    except (Failure, OSError) as error:
        report["error"] = f"no namespaces for the run: {error}"
        os.write(status_fd, json_line(report).encode())
        return 125
    if spec["landlock"]:
        report["landlock"] = landlock_abi()
    # The run's init mounts its own /proc; the monitor reads the run's
    # processes there, so it starts polling only once the init has exec'ed
    # (the pipe's write end closes on exec) or died.
    ready_read, ready_write = os.pipe2(os.O_CLOEXEC)
    child = os.fork()
    if child == 0:
        os.close(status_fd)
        os.close(ready_read)
        start_run(spec, command, uid, gid)
    os.close(ready_write)
    while os.read(ready_read, 64):
        pass
    os.close(ready_read)
    tmpfs_paths = ["/tmp", "/dev/shm"] + spec["tmpfs_extra"]
    status, watched = monitor(child, spec, tmpfs_paths)
    report.update(watched)
    os.write(status_fd, json_line(report).encode())
    os.close(status_fd)
    if os.WIFSIGNALED(status):
        return 128 + os.WTERMSIG(status)
    return os.WEXITSTATUS(status)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
