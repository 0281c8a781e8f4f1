"""Grades a class: pristine workspaces, the reference build, parallel slots.

Layout of the grader's working folder (<out>/.grader unless --work is given),
with who may read what when the grader runs as root (accounts.py):

  grader/        run_test.py, confine.py, submissions.py and expected.json,
                 read by the test wrapper (0755: every slot reads them)
  reference/     a pristine copy with the solutions: built once, its test
                 binaries list the expected test cases (--gtest_list_tests);
                 0700, the reference account's
  slot-<k>/ws    a pristine copy WITHOUT solutions/, where one submission at a
                 time gets its learner-editable files overlaid
  slot-<k>/state Bazel's output root for that slot (one server per slot);
                 slot-<k> is 0700, slot k's own account's
  unpacked/      each submission unpacked (regular files only), under a
                 random name; 0711, each copy 0700 root's
  cache/         the Bazel disk cache every slot and the reference share;
                 group-writable for the pool only, and it never holds the
                 reference's own outputs (they are built without uploading)

Inside the sandbox, each slot additionally blocks (--sandbox_block_path)
everything of the repository, the reports, the working folder, the cache and
the submissions except its own slot folder and grader/; and the test process
itself can read only the system's folders and its own runfiles (Landlock,
confine.py). After each student the slot's test logs are deleted, so the next
student's run finds none of them.
"""

import concurrent.futures
import json
import os
import queue
import re
import secrets
import shutil
import subprocess
import threading
import time
import xml.etree.ElementTree as ElementTree

from grading import accounts
from grading import bazel as bazel_lib
from grading import points as points_lib
from grading import scan
from grading import submissions as subs

HERE = os.path.dirname(os.path.abspath(__file__))
WRAPPER_NAME = "ipc-katas-grader"
SKIPPED_TOP = {".git", "gate_out", "node_modules"}
# Copied into WORK/grader: the wrapper and what it or the unpacking runs.
HELPERS = ("run_test.py", "confine.py", "submissions.py")
# Built with uploads to the disk cache before the solutions (which are not):
# what the reference and every slot share.
SHARED_TARGETS = ["//tests/support", "@com_google_googletest//:gtest"]
GTEST_INCLUDES = ["/usr/src/googletest/googletest/include",
                  "/usr/src/googletest/googlemock/include"]
# Debian 13's /usr/include/<triplet>/asm/*.h are links into /usr/lib/linux/
# uapi, and the preprocessor names the file it reached.
SYSTEM_HEADERS = ("/usr/include", "/usr/lib/gcc", "/usr/local/include",
                  "/usr/lib/linux/uapi", "/usr/src/googletest")


def read_topics(root):
    with open(os.path.join(root, "tools", "topics.txt")) as f:
        return [line.split("#")[0].strip() for line in f
                if line.split("#")[0].strip()]


def pristine_files(root):
    """The repository's own files (tracked by Git when it is a checkout)."""
    if os.path.isdir(os.path.join(root, ".git")) or os.path.isfile(
            os.path.join(root, ".git")):
        listed = subprocess.run(["git", "ls-files", "-z"], cwd=root,
                                capture_output=True)
        if listed.returncode == 0:
            names = [n for n in listed.stdout.decode().split("\0") if n]
            return [n for n in names if os.path.isfile(os.path.join(root, n))]
    found = []
    for folder, dirs, files in os.walk(root):
        relative = os.path.relpath(folder, root)
        if relative == ".":
            dirs[:] = [d for d in dirs if d not in SKIPPED_TOP and
                       not d.startswith(("bazel-", "grade_out"))]
        for name in files:
            found.append(os.path.normpath(os.path.join(relative, name)))
    return found


def copy_files(root, names, target, keep=lambda name: True):
    for name in names:
        if not keep(name):
            continue
        destination = os.path.join(target, name)
        os.makedirs(os.path.dirname(destination), exist_ok=True)
        shutil.copy2(os.path.join(root, name), destination)


def copy_regular(source, destination):
    """Copies a file the grader unpacked; never follows a link."""
    fd = os.open(source, os.O_RDONLY | os.O_NOFOLLOW)
    with os.fdopen(fd, "rb") as src, open(destination, "wb") as dst:
        shutil.copyfileobj(src, dst)


def inside(path, top):
    return path == top or path.startswith(top.rstrip(os.sep) + os.sep)


def hide_except(top, keep):
    """Paths that cover everything under `top` except `keep` and the way
    to it (for --sandbox_block_path)."""
    if os.path.islink(top) or not os.path.lexists(top) or any(
            inside(top, k) for k in keep):
        return []  # a link holds nothing; what it names is listed apart
    if not any(inside(k, top) for k in keep):
        return [top]
    hidden = []
    try:
        names = sorted(os.listdir(top))
    except OSError:
        return []
    for name in names:
        hidden += hide_except(os.path.join(top, name), keep)
    return hidden


class Settings:
    def __init__(self, **values):
        self.__dict__.update(values)


class Grader:
    def __init__(self, settings, log=print):
        self.s = settings
        self.log = log
        self.root = settings.root
        self.topics = settings.topics or read_topics(self.root)
        self.manifest = points_lib.load(settings.manifest,
                                        getattr(settings, "points", None))
        self.work = settings.work
        jobs = max(1, settings.jobs)
        one_user = getattr(settings, "one_user", False)
        if jobs > 1 and (one_user or os.geteuid() != 0):
            fit = accounts.slots_one_user_can_share(jobs)
            if fit < jobs:
                log(f"grade: --jobs {jobs} lowered to {fit}: every slot runs "
                    "as one user, and its POSIX queue budget "
                    "(ulimit -q) gives no more slots the "
                    f"{accounts.MIN_QUEUE_BYTES // 1024} KiB a message_queue "
                    "suite needs. Run as root for more.")
                jobs = settings.jobs = fit
        self.pool = accounts.Pool(getattr(settings, "uid_base",
                                          accounts.DEFAULT_BASE),
                                  jobs, one_user)
        self.files = pristine_files(self.root)
        self.editable = {t: subs.editable_files(self.root, t)
                         for t in self.topics}
        self.cache = settings.cache or os.path.join(self.work, "cache")
        self.expected = {}
        self.reference_symbols = {}
        self.libc_names = set()
        self.topic_limits = {}
        self.landlock = 0
        self.timings = {}
        self.lock = threading.Lock()

    # ------------------------------------------------------------ set-up
    def prepare_folders(self):
        for path in (self.work, self.cache):
            if under_private_tmp(path):
                raise SystemExit(
                    f"grade: {path} is under /tmp or /dev/shm, which the "
                    "sandbox replaces with an empty folder; put --out, --work "
                    "and --cache elsewhere (e.g. under /var/tmp)")
        out = self.s.out
        os.makedirs(out, exist_ok=True)
        # The slots must pass through --out when the work folder is in it
        # (the default), but never list it or read a report.
        os.chmod(out, 0o711 if inside(self.work, out) else 0o700)
        os.makedirs(self.work, exist_ok=True)
        os.chmod(self.work, 0o711)
        helpers = os.path.join(self.work, "grader")
        os.makedirs(helpers, exist_ok=True)
        os.chmod(helpers, 0o755)
        for name in HELPERS:
            shutil.copy(os.path.join(HERE, name), os.path.join(helpers, name))
            os.chmod(os.path.join(helpers, name), 0o644)
        unpacked = os.path.join(self.work, "unpacked")
        os.makedirs(unpacked, exist_ok=True)
        os.chmod(unpacked, 0o711)
        self.pool.prepare_cache(self.cache)
        for account in [self.pool.reference] + self.pool.slots[:1]:
            if not account.can_read(helpers):
                raise SystemExit(
                    f"grade: the grader's unprivileged users (uid "
                    f"{account.uid}) cannot reach {helpers}; put --out (or "
                    "--work) where every user can pass through the folders "
                    "above it (e.g. under /var/tmp or /srv, not /root or a "
                    "home folder of mode 750)")
        if self.pool.shares_budgets():
            shares = self.pool.budget_shares()
            self.log("grade: warning: every slot runs as one user. Each slot "
                     "gets its part of that user's POSIX queue bytes and "
                     "pending signals (" + ", ".join(
                         f"{k.replace('_', ' ')} {v}"
                         for k, v in shares.items()) + "), but pipe "
                     "buffer pages stay shared: one submission can shrink "
                     "another's pipes while both are graded. Run as root, "
                     "or with --jobs 1.")

    def hidden(self, own):
        """Paths no sandboxed action of slot `own` may read: everything of
        the repository, the reports, the working folder, the cache and the
        submissions except the slot's own folder and grader/."""
        keep = [os.path.join(self.work, own),
                os.path.join(self.work, "grader")]
        tops = [self.root, self.s.out, self.work, self.cache]
        if self.s.submissions:
            tops.append(self.s.submissions)
        for name in os.listdir(self.root):
            full = os.path.join(self.root, name)
            if name.startswith("bazel-") and os.path.islink(full):
                tops.append(os.path.realpath(full))
        paths = []
        for top in tops:
            paths += hide_except(os.path.abspath(top), keep)
        # A path inside another one is hidden with it (and Bazel could not
        # mount over it once its parent is covered); /tmp and /dev/shm are
        # empty inside the sandbox already.
        paths = sorted(set(paths))
        return [p for p in paths if not under_private_tmp(p) and
                not any(q != p and inside(p, q) for q in paths)]

    def build_reference(self):
        """Builds the solutions' test binaries and lists their test cases.

        The shared libraries (GoogleTest, the support library) go to the
        disk cache; the solutions' objects and binaries never do, so no
        slot can find them there.
        """
        started = time.monotonic()
        folder = os.path.join(self.work, "reference")
        workspace = os.path.join(folder, "ws")
        shutil.rmtree(workspace, ignore_errors=True)
        os.makedirs(folder, exist_ok=True)
        copy_files(self.root, self.files, workspace)
        account = self.pool.reference
        if account.switches:
            os.chown(folder, account.uid, account.gid)
        os.chmod(folder, 0o700)
        runner = bazel_lib.Bazel(workspace, os.path.join(folder, "state"),
                                 account, self.cache)
        targets = [f"//solutions/{t}:{t}_test" for t in self.topics]
        flags = runner.build_flags([])
        self.log(f"grade: building the reference solutions "
                 f"({', '.join(self.topics)})")
        code, output = runner.run("build", flags + ["--"] + SHARED_TARGETS)
        if code == 0:
            code, output = runner.run(
                "build", flags + ["--noremote_upload_local_results", "--"] +
                targets)
        if code != 0:
            runner.shutdown()
            raise SystemExit("grade: the reference solutions do not build:\n"
                             + output[-4000:])
        bin_dir = bazel_info(runner, flags)["bazel-bin"]
        for topic in self.topics:
            binary = os.path.join(bin_dir, "solutions", topic, f"{topic}_test")
            listing = subprocess.run(
                account.prefix() + [binary, "--gtest_list_tests"],
                capture_output=True, text=True, timeout=120,
                env={"PATH": "/usr/bin:/bin"})
            cases = parse_test_list(listing.stdout)
            if not cases:
                runner.shutdown()
                raise SystemExit(f"grade: {binary} lists no test cases")
            self.expected[topic] = cases
            self.reference_symbols[topic] = scan.read_symbols(
                account, library_objects(bin_dir, "solutions", topic))
        self.topic_limits = self.scaled_limits()
        labels = {f"//exercises/{t}:{t}_test": {
            "cases": self.expected[t], "time_limit": self.topic_limits[t]}
            for t in self.topics}
        path = os.path.join(self.work, "grader", "expected.json")
        with open(path, "w") as f:
            json.dump(labels, f, indent=1)
        os.chmod(path, 0o644)
        runner.shutdown()
        self.libc_names = scan.c_library_names()
        self.timings["reference"] = time.monotonic() - started
        for topic in self.topics:
            _, warnings = points_lib.points_for(self.manifest, topic,
                                                self.expected[topic])
            for warning in warnings:
                self.log(f"grade: warning: {warning}")

    def scaled_limits(self):
        """Each topic's wall clock for its tests, scaled down (in proportion
        to its number of cases) when --time-budget says how long a whole
        submission may take: the build's limit, Bazel's start and the
        wrapper's own margins come off first."""
        limits = {t: points_lib.time_limit(self.manifest, t)
                  for t in self.topics}
        budget = getattr(self.s, "time_budget", None)
        if not budget:
            return limits
        self.s.build_seconds = min(self.s.build_seconds,
                                   max(60.0, budget * 0.2))
        spare = budget - self.s.build_seconds - 60 - 20 * len(self.topics)
        if spare < 30 * len(self.topics):
            raise SystemExit(f"grade: a time budget of {budget:.0f} s leaves "
                             "too little for the tests of "
                             f"{len(self.topics)} topic(s)")
        cases = sum(len(self.expected[t]) for t in self.topics)
        for topic in self.topics:
            share = spare * len(self.expected[topic]) / cases
            limits[topic] = int(min(limits[topic], max(30.0, share)))
        return limits

    # ------------------------------------------------------------- slots
    def make_slot(self, index):
        name = f"slot-{index}"
        account = self.pool.slots[index]
        folder = os.path.join(self.work, name)
        workspace = os.path.join(folder, "ws")
        shutil.rmtree(workspace, ignore_errors=True)
        os.makedirs(folder, exist_ok=True)
        if account.switches:
            os.chown(folder, account.uid, account.gid)
        os.chmod(folder, 0o700)
        # The slots never see the solutions.
        copy_files(self.root, self.files, workspace,
                   keep=lambda n: not n.startswith("solutions/"))
        runner = bazel_lib.Bazel(workspace, os.path.join(folder, "state"),
                                 account, self.cache)
        return Slot(self, name, workspace, runner, account)

    def wrapper_command(self):
        limits = self.s.limits
        return " ".join([
            "/usr/bin/python3", "-I", "-S",
            os.path.join(self.work, "grader", "run_test.py"),
            "--expected", os.path.join(self.work, "grader", "expected.json"),
            "--case-limit", str(limits["case_seconds"]),
            "--max-processes", str(limits["processes"]),
            "--max-file-mb", str(limits["file_mb"]),
            "--max-memory-mb", str(limits["memory_mb"]),
            "--max-log-kb", str(limits["log_kb"]),
            "--max-tmpfs-mb", str(limits["tmpfs_mb"]),
            "--max-run-memory-mb", str(limits["run_memory_mb"]),
            "--max-cpu-cores", str(limits["cpu_cores"]),
            "--landlock", "1" if limits["landlock"] else "0",
            *[word for key, value in self.pool.budget_shares().items()
              for word in ("--max-" + key.replace("_", "-"), str(value))],
            "--"])

    def grade_all(self, entries, progress=None):
        """Grades [(student, path)] on up to `jobs` slots in parallel."""
        jobs = max(1, min(self.s.jobs, len(entries)))
        slots = queue.Queue()
        made = []
        for index in range(jobs):
            slot = self.make_slot(index)
            made.append(slot)
            slots.put(slot)
        # Compile the pristine exercise once before fanning out, so the slots
        # find the tests' objects in the shared disk cache.
        started = time.monotonic()
        made[0].warm_up()
        self.timings["warm_up"] = time.monotonic() - started
        results = [None] * len(entries)
        done = [0]

        def work(position, student, path):
            slot = slots.get()
            try:
                result = slot.grade(student, path)
            except Exception as error:  # one bad submission never stops all
                result = failed_result(student, path, f"grader error: {error}")
            finally:
                slots.put(slot)
            results[position] = result
            with self.lock:
                done[0] += 1
                if progress:
                    progress(done[0], len(entries), result)
            return result

        started = time.monotonic()
        with concurrent.futures.ThreadPoolExecutor(jobs) as pool:
            futures = [pool.submit(work, i, student, path)
                       for i, (student, path) in enumerate(entries)]
            for future in futures:
                future.result()
        self.timings["grading"] = time.monotonic() - started
        if not self.s.keep_servers:
            for slot in made:
                slot.runner.shutdown()
        return results


def under_private_tmp(path):
    """Whether `path` lies where the sandbox mounts a fresh tmpfs."""
    real = os.path.realpath(path)
    return any(real == top or real.startswith(top + os.sep)
               for top in ("/tmp", "/dev/shm"))


def bazel_info(runner, flags):
    code, text = runner.run("info", flags + ["bazel-bin", "bazel-testlogs"])
    info = {}
    for line in text.splitlines():
        key, _, value = line.partition(": ")
        if key in ("bazel-bin", "bazel-testlogs"):
            info[key] = value.strip()
    return info


def library_objects(bin_dir, side, topic):
    """The compiled objects of a topic's library (not of its test)."""
    found = []
    for folder in sorted(glob_dirs(os.path.join(bin_dir, side, topic,
                                                "_objs"))):
        if os.path.basename(folder).endswith("_test"):
            continue
        found += sorted(os.path.join(folder, n) for n in os.listdir(folder)
                        if n.endswith(".o"))
    return found


def glob_dirs(folder):
    try:
        return [os.path.join(folder, n) for n in os.listdir(folder)
                if os.path.isdir(os.path.join(folder, n))]
    except OSError:
        return []


def parse_test_list(text):
    """Suite.Case names from `--gtest_list_tests` output."""
    cases = []
    suite = None
    for line in text.splitlines():
        code = line.split("#")[0].rstrip()
        if not code:
            continue
        if not code.startswith(" "):
            suite = code.strip().rstrip(".")
        elif suite:
            cases.append(f"{suite}.{code.strip()}")
    return cases


def failed_result(student, path, why):
    return {"student": student, "source": subs.shown(os.path.basename(path)),
            "error": why, "topics": {}, "score": 0.0, "max": 0.0,
            "ignored": [], "skipped": [], "missing": [], "warnings": [],
            "seconds": 0.0}


class Slot:
    """One workspace + Bazel server; grades one submission at a time."""

    def __init__(self, grader, name, workspace, runner, account):
        self.g = grader
        self.name = name
        self.workspace = workspace
        self.runner = runner
        self.account = account
        self.info = {}

    def reset(self):
        for topic in self.g.topics:
            copy_files(self.g.root, self.g.editable[topic], self.workspace)

    def targets(self):
        return [f"//exercises/{t}:{t}_test" for t in self.g.topics]

    def warm_up(self):
        self.reset()
        flags = self.runner.build_flags(self.g.hidden(self.name))
        self.runner.run("build", flags + ["--"] + self.targets())

    def paths(self):
        if not self.info:
            self.info = bazel_info(self.runner, self.runner.build_flags([]))
        return self.info

    def forget_test_logs(self):
        """Deletes every test log of this slot: the next student's run must
        find nothing of the last one's."""
        logs = self.paths().get("bazel-testlogs")
        if logs and os.path.isdir(logs):
            shutil.rmtree(logs, ignore_errors=True)

    def unpack(self, path, target):
        """Unpacks one entry into `target`; [(name, why)] left out.

        Folders and archives in the submissions folder are read by the
        grader itself (they hold no path outside themselves: links are
        never followed). Git repositories and .url files can name any path
        on the machine, so they are read as the entry's owner, never as
        root (accounts.Pool.reader_for).
        """
        lower = os.path.basename(path).lower()
        remote = lower.endswith(subs.URL_SUFFIXES) or (
            os.path.isdir(path) and not os.path.islink(path) and
            subs.is_bare_repository(path))
        reader = self.g.pool.reader_for(path)
        if not remote or not reader.switches:
            os.makedirs(target)
            # Without root there is no one else to read a .url as: only a
            # repository every user may read is taken.
            return subs.unpack(path, target,
                               everyone_only=remote and not self.g.pool.root)
        os.makedirs(target)
        os.chown(target, reader.uid, reader.gid)
        os.chmod(target, 0o700)
        script = os.path.join(self.g.work, "grader", "submissions.py")
        try:
            done = subprocess.run(
                reader.prefix() + ["/usr/bin/python3", "-I", "-S", script,
                                   "--unpack", path, target],
                capture_output=True, text=True, timeout=300, cwd="/",
                env={"PATH": "/usr/bin:/bin", "HOME": "/nonexistent",
                     "LANG": "C.UTF-8"})
        except subprocess.TimeoutExpired:
            raise subs.Rejected("reading it took longer than 300 s")
        finally:
            # Take the copy back before reading it: its owner could still
            # change it otherwise.
            for folder, dirs, files in os.walk(target):
                os.lchown(folder, 0, 0)
                for name in dirs + files:
                    os.lchown(os.path.join(folder, name), 0, 0)
            os.chmod(target, 0o700)
        try:
            answer = json.loads(done.stdout.strip().splitlines()[-1])
        except (ValueError, IndexError):
            raise subs.Rejected(f"could not be read as uid {reader.uid}: "
                                f"{subs.shown(done.stderr.strip()[-300:])}")
        if answer.get("error"):
            raise subs.Rejected(f"{answer['error']} (read with the rights of "
                                f"uid {reader.uid}, who owns the entry)")
        return [tuple(item) for item in answer.get("skipped", [])]

    def grade(self, student, path):
        started = time.monotonic()
        g = self.g
        unpacked = os.path.join(g.work, "unpacked", secrets.token_hex(8))
        result = failed_result(student, path, None)
        result["started_at"] = round(time.time(), 2)
        try:
            result["skipped"] = self.unpack(path, unpacked)
        except Exception as error:  # zipfile/tarfile/git raise many kinds
            result["error"] = ("could not read the submission: " +
                               subs.shown(str(error)))
            shutil.rmtree(unpacked, ignore_errors=True)
            return self.finish(result, started)
        try:
            return self.grade_unpacked(result, unpacked, started)
        finally:
            shutil.rmtree(unpacked, ignore_errors=True)
            self.forget_test_logs()

    def grade_unpacked(self, result, unpacked, started):
        g = self.g
        overlay = subs.plan_overlay(unpacked, g.root, g.topics, g.editable)
        result["layout"] = overlay.layout
        result["ignored"] = overlay.ignored
        result["missing"] = overlay.missing
        self.reset()
        changed = set()
        seen = set()
        for repository_path, source in overlay.taken.items():
            destination = os.path.join(self.workspace, repository_path)
            copy_regular(source, destination)
            if subs.digest(destination) != subs.digest(
                    os.path.join(g.root, repository_path)):
                changed.add(repository_path)
            for line, warning, text in scan.scan_source(destination):
                seen.add((repository_path, line, warning))
                result["warnings"].append(
                    f"{repository_path}:{line}: {warning}: "
                    f"{subs.shown(text)}")
        self.forget_test_logs()
        # Build first, under its own time limit: a submission that makes the
        # compiler run away (a huge template, #include "/dev/zero") costs
        # that limit, then its Bazel server is killed.
        blocked = self.runner.build_flags(g.hidden(self.name))
        bep = os.path.join(self.runner.state, "bep-build.json")
        if os.path.exists(bep):
            os.unlink(bep)
        code, build_output = self.runner.run(
            "build", blocked + ["--keep_going",
                                f"--build_event_json_file={bep}", "--"] +
            self.targets(), timeout=g.s.build_seconds)
        if code == 124:
            self.runner.kill_server()
        _, built = bazel_lib.read_bep(bep)
        ready = [t for t in self.targets() if built.get(t)]
        phases = result.setdefault("phases", {})
        phases["build"] = round(time.monotonic() - started, 2)
        # The scans read what the build wrote and run while the tests do
        # (the output paths are asked for first: the server answers one
        # command at a time).
        self.paths()
        scanner = threading.Thread(target=self.scan_compiled,
                                   args=(result, changed, seen, phases))
        scanner.start()
        run_id = secrets.token_hex(16)
        bep = os.path.join(self.runner.state, "bep-test.json")
        if os.path.exists(bep):
            os.unlink(bep)
        topic_limit = max(g.topic_limits.values())
        tests = {}
        if ready:
            flags = blocked + test_flags(g, run_id, bep, topic_limit)
            bazel_timeout = sum(g.topic_limits[t.split(":")[0][len(
                "//exercises/"):]] + 30 for t in ready) + 120
            code, test_output = self.runner.run(
                "test", flags + ["--"] + ready, timeout=bazel_timeout)
            # Bazel's own words, for the instructor when a target has no
            # result (grades.json, never the student's feedback).
            result["bazel_test_tail"] = test_output[-3000:]
            if code == 124:
                self.runner.kill_server()
            tests, _ = bazel_lib.read_bep(bep)
        phases["test"] = round(time.monotonic() - started - phases["build"],
                               2)
        scanner.join()
        for topic in g.topics:
            result["topics"][topic] = self.score_topic(
                topic, tests, build_output, run_id,
                timed_out=code == 124 and not ready)
        result["score"] = sum(t["score"] for t in result["topics"].values())
        result["max"] = sum(t["max"] for t in result["topics"].values())
        return self.finish(result, started)

    def scan_compiled(self, result, changed, seen, phases):
        """The preprocessed units and the objects of the files the student
        changed: tell-tales a line-by-line reading misses (scan.py)."""
        started = time.monotonic()
        try:
            self.scan_compiled_files(result, changed, seen)
        except Exception as error:  # a scan never costs the grade
            result["warnings"].append(f"(the grader's scan failed: {error})")
        phases["scan"] = round(time.monotonic() - started, 2)

    def scan_compiled_files(self, result, changed, seen):
        g = self.g
        for relative in sorted(changed):
            if not relative.endswith(scan_suffixes()):
                continue
            text = scan.preprocess(self.account, self.workspace, relative,
                                   GTEST_INCLUDES)
            if text is None:
                continue
            found, outside = scan.scan_preprocessed(text, relative,
                                                    SYSTEM_HEADERS)
            for line, warning, code in found:
                key = (relative, line, warning)
                if key not in seen:
                    seen.add(key)
                    result["warnings"].append(
                        f"{relative}:{line}: {warning} (after the "
                        f"preprocessor): {subs.shown(code)}")
            for path in outside[:10]:
                result["warnings"].append(
                    f"{relative}: includes a file from outside the "
                    f"exercise: {subs.shown(path)}")
        bin_dir = self.paths().get("bazel-bin")
        topics = sorted({r.split("/")[1] for r in changed})
        for topic in topics:
            objects = library_objects(bin_dir, "exercises", topic) \
                if bin_dir else []
            if not objects:
                continue
            symbols = scan.read_symbols(self.account, objects)
            for where, warning, names in scan.judge_objects(
                    symbols, g.reference_symbols.get(topic, scan.Symbols()),
                    topic, g.libc_names):
                result["warnings"].append(
                    f"exercises/{topic} (compiled): {warning}: "
                    f"{subs.shown(names)}")

    def finish(self, result, started):
        result["seconds"] = round(time.monotonic() - started, 2)
        result["slot"] = self.name
        return result

    def score_topic(self, topic, tests, output, run_id, timed_out=False):
        g = self.g
        label = f"//exercises/{topic}:{topic}_test"
        expected = g.expected[topic]
        worth, _ = points_lib.points_for(g.manifest, topic, expected)
        entry = {"status": "graded", "score": 0.0,
                 "max": points_lib.total(worth), "passed": 0,
                 "total": len(expected), "cases": [], "notes": [],
                 "build_log": "", "mode": "", "log_bytes": 0, "facts": {}}
        verdicts = {}
        bazel_result = tests.get(label)
        if bazel_result is None:
            entry["status"] = "build failed"
            entry["build_log"] = build_excerpt(output, topic, self.workspace)
            if timed_out:
                entry["build_log"] += (f"\n(grader: the build did not finish "
                                       f"within {g.s.build_seconds:.0f} s)")
            reason = "the exercise did not build (see the build log)"
        else:
            reason = None
            status = bazel_result.get("status", "?")
            xml_path = bazel_lib.output_path(bazel_result, "test.xml")
            log_path = bazel_lib.output_path(bazel_result, "test.log")
            if log_path and os.path.isfile(log_path):
                entry["log_bytes"] = os.path.getsize(log_path)
            report = read_wrapper_report(xml_path, run_id)
            if status != "PASSED" or report is None:
                entry["status"] = "no result"
                reason = (f"the grader's test wrapper did not finish (Bazel "
                          f"says {status}); no case is counted")
            else:
                verdicts, notes, mode, facts = report
                entry["notes"] = notes
                entry["mode"] = mode
                entry["facts"] = facts
                if any(n.startswith("tampering") for n in notes):
                    entry["status"] = "tampered"
        for case in expected:
            verdict, message = verdicts.get(
                case, ("missing", reason or "not in the grader's report: a "
                       "missing case scores zero"))
            points = worth[case] if verdict == "passed" else 0.0
            entry["cases"].append({"name": case, "verdict": verdict,
                                   "points": points,
                                   "max": worth[case],
                                   "message": message})
            entry["passed"] += verdict == "passed"
        entry["score"] = points_lib.total([c["points"]
                                           for c in entry["cases"]])
        return entry


def scan_suffixes():
    return subs.SOURCE_SUFFIXES


def test_flags(grader, run_id, bep, topic_limit):
    """Flags of the graded `bazel test` run (beyond the build flags)."""
    return bazel_lib.TEST_FLAGS + [
        f"--test_timeout={int(topic_limit + 60)}",
        f"--run_under={grader.wrapper_command()}",
        f"--test_env=GRADER_RUN_ID={run_id}",
        f"--test_env=KATA_TIME_SCALE={grader.s.limits['time_scale']}",
        f"--build_event_json_file={bep}",
    ]


def read_wrapper_report(path, run_id):
    """({case: (verdict, message)}, notes, mode, facts) from the wrapper's
    test.xml.

    None unless the file is a regular file that the wrapper of THIS run wrote
    (its root names the grader and carries this run's id).
    """
    if not path or os.path.islink(path) or not os.path.isfile(path):
        return None
    if os.path.getsize(path) > (16 << 20):
        return None
    try:
        root = ElementTree.parse(path).getroot()
    except ElementTree.ParseError:
        return None
    if root.get("name") != WRAPPER_NAME or root.get("run_id") != run_id:
        return None
    verdicts = {}
    for case in root.iter("testcase"):
        name = f"{case.get('classname')}.{case.get('name')}"
        failure = case.find("failure")
        message = (failure.text or "") if failure is not None else ""
        verdicts[name] = (case.get("verdict", "error"), message)
    notes = [n.text or "" for n in root.iter("note")]
    facts = {key: root.get(key) for key in ("landlock", "peak_memory_mb",
                                             "peak_threads") if root.get(key)}
    facts["seconds"] = root.get("time", "0")
    return verdicts, notes, root.get("mode", ""), facts


def build_excerpt(output, topic, workspace):
    """The compiler's and linker's complaints about one topic, shortened."""
    lines = output.splitlines()
    keep = []
    marker = f"exercises/{topic}"
    complaint = re.compile(r"error|multiple definition|undefined reference|"
                           r"previous definition|note:")
    for index, line in enumerate(lines):
        if marker in line or complaint.search(line) or (
                keep and keep[-1][0] == index - 1 and
                line.startswith((" ", "\t"))):
            keep.append((index, line))
    text = "\n".join(line for _, line in keep[:80])
    text = text.replace(workspace + "/", "")
    text = re.sub(r"/\S*/execroot/ipc_katas/", "", text)
    return text[:6000] or output[-3000:]
