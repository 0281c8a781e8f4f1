"""Grades a class: pristine workspaces, the reference build, parallel slots.

Layout of the grader's working folder (<out>/.grader unless --work is given):

  grader/        run_test.py and expected.json, read by the test wrapper
  reference/     a pristine copy with the solutions: built once, its test
                 binaries list the expected test cases (--gtest_list_tests)
  slot-<k>/ws    a pristine copy WITHOUT solutions/, where one submission at a
                 time gets its learner-editable files overlaid
  slot-<k>/state Bazel's output root for that slot (one server per slot)
  unpacked/      each submission unpacked (regular files only)
  cache/         the Bazel disk cache every slot and the reference share

Every slot blocks (--sandbox_block_path) the solutions, the reference, the
other slots, the submissions and the reports, so code under test cannot read
them.
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

from grading import bazel as bazel_lib
from grading import points as points_lib
from grading import submissions as subs

HERE = os.path.dirname(os.path.abspath(__file__))
WRAPPER_NAME = "ipc-katas-grader"
SKIPPED_TOP = {".git", "gate_out", "node_modules"}


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


class Settings:
    def __init__(self, **values):
        self.__dict__.update(values)


class Grader:
    def __init__(self, settings, log=print):
        self.s = settings
        self.log = log
        self.root = settings.root
        self.topics = settings.topics or read_topics(self.root)
        self.manifest = points_lib.load(settings.manifest)
        self.work = settings.work
        self.user = bazel_lib.User(settings.user)
        self.files = pristine_files(self.root)
        self.editable = {t: subs.editable_files(self.root, t)
                         for t in self.topics}
        self.cache = settings.cache or os.path.join(self.work, "cache")
        self.expected = {}
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
        for sub in ("grader", "unpacked"):
            os.makedirs(os.path.join(self.work, sub), exist_ok=True)
        os.makedirs(self.cache, exist_ok=True)
        self.user.own(self.cache)
        os.chmod(os.path.join(self.work, "unpacked"), 0o700)
        shutil.copy(os.path.join(HERE, "run_test.py"),
                    os.path.join(self.work, "grader", "run_test.py"))
        os.chmod(self.work, 0o755)
        if not self.user.can_read(os.path.join(self.work, "grader")):
            raise SystemExit(
                f"grade: user {self.user.name} cannot reach {self.work}; "
                "put --out (or --work) where every user can traverse the "
                "path (e.g. under /var/tmp or the repository, not /root)")

    def blocked(self, own):
        """Paths no sandboxed action of slot `own` may read."""
        paths = [os.path.join(self.root, "solutions"),
                 os.path.join(self.root, "gate_out"),
                 os.path.join(self.work, "reference"),
                 os.path.join(self.work, "unpacked"),
                 os.path.join(self.s.out, "students")]
        if self.s.submissions:
            paths.append(self.s.submissions)
        for name in os.listdir(self.root):
            full = os.path.join(self.root, name)
            if name.startswith("bazel-") and os.path.islink(full):
                paths.append(os.path.realpath(full))
        for name in os.listdir(self.work):
            if name.startswith("slot-") and name != own:
                paths.append(os.path.join(self.work, name))
        # /tmp and /dev/shm are empty inside the sandbox already.
        return [p for p in paths if os.path.exists(p) and
                not under_private_tmp(p)]

    def build_reference(self):
        """Builds the solutions' test binaries and lists their test cases."""
        started = time.monotonic()
        workspace = os.path.join(self.work, "reference", "ws")
        shutil.rmtree(workspace, ignore_errors=True)
        copy_files(self.root, self.files, workspace)
        runner = bazel_lib.Bazel(workspace,
                                 os.path.join(self.work, "reference", "state"),
                                 self.user, self.cache)
        targets = [f"//solutions/{t}:{t}_test" for t in self.topics]
        flags = runner.build_flags([])
        self.log(f"grade: building the reference solutions "
                 f"({', '.join(self.topics)})")
        code, output = runner.run("build", flags + ["--"] + targets)
        if code != 0:
            runner.shutdown()
            raise SystemExit("grade: the reference solutions do not build:\n"
                             + output[-4000:])
        code, bin_dir = runner.run("info", flags + ["bazel-bin"])
        bin_dir = bin_dir.strip().splitlines()[-1]
        for topic in self.topics:
            binary = os.path.join(bin_dir, "solutions", topic, f"{topic}_test")
            listing = subprocess.run(
                self.user.prefix() + [binary, "--gtest_list_tests"],
                capture_output=True, text=True, timeout=120,
                env={"PATH": "/usr/bin:/bin"})
            cases = parse_test_list(listing.stdout)
            if not cases:
                runner.shutdown()
                raise SystemExit(f"grade: {binary} lists no test cases")
            self.expected[topic] = cases
        labels = {f"//exercises/{t}:{t}_test": self.expected[t]
                  for t in self.topics}
        path = os.path.join(self.work, "grader", "expected.json")
        with open(path, "w") as f:
            json.dump(labels, f, indent=1)
        runner.shutdown()
        self.timings["reference"] = time.monotonic() - started
        for topic in self.topics:
            _, warnings = points_lib.points_for(self.manifest, topic,
                                                self.expected[topic])
            for warning in warnings:
                self.log(f"grade: warning: {warning}")

    # ------------------------------------------------------------- slots
    def make_slot(self, index):
        name = f"slot-{index}"
        folder = os.path.join(self.work, name)
        workspace = os.path.join(folder, "ws")
        shutil.rmtree(workspace, ignore_errors=True)
        # The slots never see the solutions.
        copy_files(self.root, self.files, workspace,
                   keep=lambda n: not n.startswith("solutions/"))
        runner = bazel_lib.Bazel(workspace, os.path.join(folder, "state"),
                                 self.user, self.cache)
        return Slot(self, name, workspace, runner)

    def wrapper_command(self):
        scale = self.s.limits
        topic_limit = max(points_lib.time_limit(self.manifest, t)
                          for t in self.topics)
        return " ".join([
            "/usr/bin/python3", "-I", "-S",
            os.path.join(self.work, "grader", "run_test.py"),
            "--expected", os.path.join(self.work, "grader", "expected.json"),
            "--time-limit", str(int(topic_limit)),
            "--case-limit", str(scale["case_seconds"]),
            "--max-processes", str(scale["processes"]),
            "--max-file-mb", str(scale["file_mb"]),
            "--max-memory-mb", str(scale["memory_mb"]),
            "--max-log-kb", str(scale["log_kb"]),
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
    return {"student": student, "source": os.path.basename(path),
            "error": why, "topics": {}, "score": 0.0, "max": 0.0,
            "ignored": [], "missing": [], "warnings": [], "seconds": 0.0}


class Slot:
    """One workspace + Bazel server; grades one submission at a time."""

    def __init__(self, grader, name, workspace, runner):
        self.g = grader
        self.name = name
        self.workspace = workspace
        self.runner = runner

    def reset(self):
        for topic in self.g.topics:
            copy_files(self.g.root, self.g.editable[topic], self.workspace)

    def targets(self):
        return [f"//exercises/{t}:{t}_test" for t in self.g.topics]

    def warm_up(self):
        self.reset()
        self.runner.run("build", self.runner.build_flags(
            self.g.blocked(self.name)) + ["--"] + self.targets())

    def grade(self, student, path):
        started = time.monotonic()
        g = self.g
        unpacked = os.path.join(g.work, "unpacked", student)
        shutil.rmtree(unpacked, ignore_errors=True)
        result = failed_result(student, path, None)
        try:
            subs.unpack(path, unpacked)
        except (subs.Rejected, OSError, ValueError, EOFError) as error:
            result["error"] = f"could not read the submission: {error}"
            return self.finish(result, started)
        except Exception as error:  # zipfile/tarfile raise many kinds
            result["error"] = f"could not read the submission: {error}"
            return self.finish(result, started)
        overlay = subs.plan_overlay(unpacked, g.root, g.topics, g.editable)
        result["layout"] = overlay.layout
        result["ignored"] = overlay.ignored
        result["missing"] = overlay.missing
        self.reset()
        for repository_path, source in overlay.taken.items():
            shutil.copyfile(source, os.path.join(self.workspace,
                                                 repository_path))
            for line, warning, text in subs.scan(source):
                result["warnings"].append(
                    f"{repository_path}:{line}: {warning}: {text}")
        # Build first, under its own time limit: a submission that makes the
        # compiler run away (a huge template, #include "/dev/zero") costs
        # that limit, then its Bazel server is killed.
        blocked = self.runner.build_flags(g.blocked(self.name))
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
        run_id = secrets.token_hex(16)
        bep = os.path.join(self.runner.state, "bep-test.json")
        if os.path.exists(bep):
            os.unlink(bep)
        topic_limit = max(points_lib.time_limit(g.manifest, t)
                          for t in g.topics)
        tests = {}
        if ready:
            flags = blocked + test_flags(g, run_id, bep, topic_limit)
            bazel_timeout = (topic_limit + 60) * len(ready) + 300
            code, _ = self.runner.run("test", flags + ["--"] + ready,
                                      timeout=bazel_timeout)
            if code == 124:
                self.runner.kill_server()
            tests, _ = bazel_lib.read_bep(bep)
        for topic in g.topics:
            result["topics"][topic] = self.score_topic(
                topic, tests, build_output, run_id,
                timed_out=code == 124 and not ready)
        result["score"] = sum(t["score"] for t in result["topics"].values())
        result["max"] = sum(t["max"] for t in result["topics"].values())
        shutil.rmtree(unpacked, ignore_errors=True)
        return self.finish(result, started)

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
                 "max": round(sum(worth.values()), 4), "passed": 0,
                 "total": len(expected), "cases": [], "notes": [],
                 "build_log": "", "mode": "", "log_bytes": 0}
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
                verdicts, notes, mode = report
                entry["notes"] = notes
                entry["mode"] = mode
                if any(n.startswith("tampering") for n in notes):
                    entry["status"] = "tampered"
        for case in expected:
            verdict, message = verdicts.get(
                case, ("missing", reason or "not in the grader's report: a "
                       "missing case scores zero"))
            earned = worth[case] if verdict == "passed" else 0.0
            entry["cases"].append({"name": case, "verdict": verdict,
                                   "points": round(earned, 4),
                                   "max": round(worth[case], 4),
                                   "message": message})
            entry["score"] += earned
            entry["passed"] += verdict == "passed"
        entry["score"] = round(entry["score"], 4)
        return entry


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
    """({case: (verdict, message)}, notes, mode) from the wrapper's test.xml.

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
    return verdicts, notes, root.get("mode", "")


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
