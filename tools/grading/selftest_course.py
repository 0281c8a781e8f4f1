"""The grader's self-test, third part: running a real course on it.

What tools/grading/selftest.py checks for an instructor's use: points that
add up exactly and scale per assignment, names kept as written and a roster
joined into grades.csv, feedback a student reads (an unstarted topic is one
line, an assertion keeps its values, no "unknown file"), a Classroom result
small and exact at any score, the Gradescope bundle run in a local copy of
Gradescope's layout (/autograder replaced by a folder), and the student
release (tools/release --check).
"""

import base64
import csv
import json
import os
import re
import shutil
import subprocess
import threading
import time
import types
import zipfile

from grading import grader as grader_lib
from grading import gradescope_schema
from grading import points as points_lib
from grading import reports

KOREAN = "김민지"
EMAIL_NAME = "alice@uni.edu"

# What a grading-only set-up must ask apt for, and what it must not (the
# learner's and the developers' tooling: tools/setup.sh without
# --grading-only).
GRADING_PACKAGES = {"bazel-bootstrap", "bazel-rules-cc", "bazel-rules-java",
                    "googletest", "libgtest-dev", "g++", "git"}
LEARNER_PACKAGES = {"nodejs", "npm", "clang-format", "libbenchmark-dev",
                    "gnuplot-nox", "python3-clang", "patch"}
SHIMS = {
    "dpkg-query": """#!/bin/sh
case "$*" in *Status*) exit 1 ;; esac
exec /usr/bin/dpkg-query "$@"
""",
    "apt-get": """#!/bin/sh
echo "apt-get $*" >> LOG
""",
    "npm": """#!/bin/sh
echo "npm $*" >> LOG
exit 1
""",
    # Gradescope runs setup.sh as root; run by an ordinary user, the self-test
    # sees tools/setup.sh prefix its installs with sudo, whose secure_path
    # would skip the shims above.
    "sudo": """#!/bin/sh
exec "$@"
""",
}


def roster_file(folder):
    """The roster the main class run is graded with (--roster)."""
    path = os.path.join(folder, "roster.csv")
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["folder", "id", "email", "name"])
        writer.writerow([KOREAN, "2024-0001", "minji@uni.edu", KOREAN])
        writer.writerow([EMAIL_NAME, "2024-0002", "alice@uni.edu", "Alice"])
        writer.writerow(["reference", "2024-0003", "ref@uni.edu", "Ref"])
        writer.writerow(["absent_student", "2024-0004", "gone@uni.edu", "X"])
    return path


def check_points(checks, manifest_path, expected):
    """Exact sums per topic, and "scale topic T to N points"."""
    manifest = points_lib.load(manifest_path)
    wrong = []
    for topic, cases in expected.items():
        worth, _ = points_lib.points_for(manifest, topic, cases)
        total = manifest["topics"].get(topic, {}).get(
            "points", manifest.get("default_topic_points"))
        if points_lib.total(worth) != float(total) or any(
                abs(round(v * 100) - v * 100) > 1e-6 for v in worth.values()):
            wrong.append(topic)
    scaled = points_lib.load(manifest_path, {"pipe": 20})
    pipe, _ = points_lib.points_for(scaled, "pipe", expected["pipe"])
    seven = points_lib.split(1500, [1] * 7)
    totals = ", ".join(
        f"{t} {points_lib.total(points_lib.points_for(manifest, t, c)[0]):g}"
        for t, c in expected.items())
    checks.report(not wrong and points_lib.total(pipe) == 20.0 and
                  seven == [214] * 5 + [215] * 2, "points",
                  f"every topic's cases add up exactly ({totals}); pipe "
                  "scaled to 20 sums to 20; 15 points over 7 cases are "
                  "5 x 2.14 + 2 x 2.15" if not wrong else f"wrong sums: {wrong}")
    check_time_budget(checks, manifest, expected)


def check_time_budget(checks, manifest, expected, budget=900):
    """The Gradescope bundle's budget (tools/grade GRADESCOPE_BUDGET_SECONDS):
    the build's limit, Bazel's start, the wrapper's margins and the scaled
    topics' limits add up to no more than the budget."""
    grader = types.SimpleNamespace(
        manifest=manifest, topics=list(expected), expected=expected,
        s=types.SimpleNamespace(time_budget=budget, build_seconds=300))
    limits = grader_lib.Grader.scaled_limits(grader)
    used = grader.s.build_seconds + 60 + 20 * len(limits) + sum(
        limits.values())
    checks.report(used <= budget, "time budget",
                  f"{budget} s per submission: build "
                  f"{grader.s.build_seconds:.0f} s + Bazel 60 s + margins "
                  f"{20 * len(limits)} s + tests "
                  f"{' + '.join(f'{t} {v}' for t, v in limits.items())} s "
                  f"= {used:.0f} s")


def check_names_and_roster(checks, out, data):
    by_name = {s["student"]: s for s in data["students"]}
    with open(os.path.join(out, "grades.csv"), newline="",
              encoding="utf-8") as f:
        rows = list(csv.reader(f))
    header, body = rows[0], {row[0]: row for row in rows[1:]}
    korean = body.get(KOREAN, [])
    email = body.get(EMAIL_NAME, [])
    absent = body.get("absent_student", [])
    checks.report(KOREAN in by_name and EMAIL_NAME in by_name and
                  korean[1:3] == ["2024-0001", "minji@uni.edu"] and
                  email[1:3] == ["2024-0002", "alice@uni.edu"] and
                  absent[-1:] == ["no submission"] and
                  any(h.startswith("pipe (max ") for h in header) and
                  header[-2].startswith("total (max "), "names and roster",
                  f"grades.csv keeps {KOREAN} and {EMAIL_NAME} as written, "
                  "adds their id and e-mail from --roster, lists the absent "
                  f"student; header: {', '.join(header[:5])} ...")


def check_feedback(checks, out, data):
    by_name = {s["student"]: s for s in data["students"]}
    stub = by_name["stub"]
    with open(os.path.join(out, "students", f"{stub['report']}.md"),
              encoding="utf-8") as f:
        page = f.read()
    started = [line for line in page.splitlines()
               if "not started: all" in line]
    child = by_name["child_returns"]
    with open(os.path.join(out, "students", f"{child['report']}.md"),
              encoding="utf-8") as f:
        child_page = f.read()
    unknown = []
    for s in data["students"]:
        path = os.path.join(out, "students", s["report"], "results.json")
        with open(path, encoding="utf-8") as f:
            for test in json.load(f).get("tests", []):
                if test.get("output", "").startswith("unknown file"):
                    unknown.append(s["student"])
                    break
    checks.report(len(started) == len(stub["topics"]) and
                  len(page.splitlines()) < 40 and
                  "Which is: 86" in child_page and not unknown, "feedback",
                  f"the stub's page: {len(page.splitlines())} lines, one per "
                  "topic (\"not started\"); an assertion keeps its expected "
                  "and actual values; no Gradescope output starts with "
                  "\"unknown file\"" if not unknown else
                  f"\"unknown file\" first in {unknown[:3]}")


# What GitHub Classroom's grading reporter (v1) does with a runner's result:
# the step output reaches it as the environment variable <RUNNER>_RESULTS
# (one variable holds at most 128 KiB on Linux), base64 of JSON; the points
# it sends to Classroom are the tests' scores added in JavaScript doubles,
# printed as `Points ${total}/${max}`. Run in a real process with the result
# in its environment, as the workflow's step does.
REPORTER_JS = r"""
const results = JSON.parse(Buffer.from(process.env.GRADE_RESULTS, "base64")
                           .toString("utf-8"));
let total = 0;
for (const test of results.tests) total += test.score;
console.log(`Points ${total}/${results.max_score}`);
"""
REPORTER_PY = """
import base64, json, os
results = json.loads(base64.b64decode(os.environ["GRADE_RESULTS"]))
total = 0
for test in results["tests"]:
    total += test["score"]
print(f"Points {total!r}/{results['max_score']!r}".replace(".0/", "/"))
"""


def reporter_points(line):
    """(the reporter's "Points X/Y" line, or the error) for one result."""
    value = line.strip().split("=", 1)[1]
    env = dict(os.environ, GRADE_RESULTS=value)
    command = (["node", "-e", REPORTER_JS] if shutil.which("node") else
               ["python3", "-c", REPORTER_PY])
    try:
        done = subprocess.run(command, env=env, capture_output=True,
                              text=True, timeout=60)
    except OSError as error:   # E2BIG: "Argument list too long"
        return f"could not start the reporter: {error}"
    return done.stdout.strip() or done.stderr.strip()[-300:]


def half_score(reference, message):
    """The reference's results with every second case failed (with a long,
    realistic message): a student at about half marks in every topic."""
    student = json.loads(json.dumps(reference))
    student["student"] = "half_score"
    for entry in student["topics"].values():
        for index, case in enumerate(entry["cases"]):
            if index % 2:
                case.update(verdict="failed", points=0.0, message=message)
        passing = [c for c in entry["cases"] if c["verdict"] == "passed"]
        entry["passed"] = len(passing)
        entry["score"] = points_lib.total([c["points"] for c in passing])
    student["score"] = points_lib.total([e["score"] for e in
                                         student["topics"].values()])
    return student


def check_classroom(checks, data, topics):
    """The reporter's input for every student of the class, a zero-score
    one and a half-score one: small, exact, read by a real process."""
    by_name = {s["student"]: s for s in data["students"]}
    longest = max((c["message"] for s in data["students"]
                   for e in s["topics"].values() for c in e["cases"]),
                  key=len, default="")
    half = half_score(by_name["reference"], (longest * 8)[:4000])
    largest, noisy = 0, []
    for s in data["students"] + [half]:
        line = reports.classroom_output_line(s, topics)
        largest = max(largest, len(line))
        decoded = json.loads(base64.b64decode(line.split("=", 1)[1]))
        total = 0  # as the reporter adds them (JavaScript doubles)
        for test in decoded["tests"]:
            total += test["score"]
        if repr(float(total)) != repr(float(round(s["score"], 2))) or \
                len(repr(float(total))) > 12:
            noisy.append((s["student"], total))
    zero = by_name["stub"]
    said = {name: reporter_points(reports.classroom_output_line(s, topics))
            for name, s in (("zero", zero), ("half", half))}
    wanted = {"zero": f"Points 0/{zero['max']:g}",
              "half": f"Points {half['score']:g}/{half['max']:g}"}
    ok = largest < 64 << 10 and not noisy and said == wanted and \
        0.4 < half["score"] / half["max"] < 0.6
    checks.report(ok, "classroom result",
                  f"largest result={largest / 1024:.1f} KiB over "
                  f"{len(data['students']) + 1} students; the reporter's "
                  f"path ({'node' if shutil.which('node') else 'python'}, "
                  f"result in its environment) says \"{said['zero']}\" for "
                  f"the zero score (stub) and \"{said['half']}\" for a "
                  "half score (every second case failed, 4000-character "
                  "messages); no total with float noise" if ok else
                  f"largest {largest} bytes, noisy {noisy[:3]}, reporter "
                  f"{said} (wanted {wanted})")


def fake_autograder(root, base, name, bundle_args):
    """A local copy of Gradescope's layout: base/name stands for
    /autograder, the bundle (tools/grade --gradescope-bundle BUNDLE_ARGS)
    unpacked into its source/ as Gradescope does. (the folder, the
    bundle's `tools/grade` run)"""
    fake = os.path.join(base, name)
    shutil.rmtree(fake, ignore_errors=True)
    os.makedirs(os.path.join(fake, "source"))
    os.chmod(fake, 0o755)
    bundle = os.path.join(base, f"{name}.zip")
    made = subprocess.run([os.path.join(root, "tools", "grade"),
                           "--gradescope-bundle", bundle, *bundle_args],
                          capture_output=True, text=True)
    if made.returncode == 0:
        with zipfile.ZipFile(bundle) as archive:
            archive.extractall(os.path.join(fake, "source"))
            for info in archive.infolist():
                mode = info.external_attr >> 16
                if mode:
                    os.chmod(os.path.join(fake, "source", info.filename),
                             mode & 0o777)
    return fake, made


def check_gradescope(checks, root, base, cache, submission, expected_score):
    """The bundle for a pipe-only assignment, run in a local copy of
    Gradescope's layout: setup.sh, then run_autograder."""
    fake, made = fake_autograder(root, base, "gradescope",
                                 ["--topics", "pipe"])
    if not checks.report(made.returncode == 0, "gradescope lab zip",
                         made.stdout.strip()[-300:] or made.stderr[-300:]):
        return
    env = dict(os.environ, AUTOGRADER_ROOT=fake, GRADE_CACHE=cache)
    # setup.sh as on a fresh image: dpkg says nothing is installed, so
    # tools/setup.sh asks apt for every package it wants (a shim records the
    # list and installs nothing: this machine has them); npm records a call.
    shims = os.path.join(fake, "shims")
    log = os.path.join(fake, "installs.log")
    os.makedirs(shims)
    for name, body in SHIMS.items():
        with open(os.path.join(shims, name), "w") as f:
            f.write(body.replace("LOG", log))
        os.chmod(os.path.join(shims, name), 0o755)
    started = time.monotonic()
    setup = subprocess.run(["bash", os.path.join(fake, "source",
                                                 "setup.sh")],
                           capture_output=True, text=True,
                           env=dict(env, PATH=shims + os.pathsep +
                                    env.get("PATH", "")))
    setup_seconds = time.monotonic() - started
    asked = set()
    calls = []
    if os.path.exists(log):
        with open(log) as f:
            calls = f.read().splitlines()
    for call in calls:
        words = call.split()
        if words[:2] == ["apt-get", "install"]:
            asked.update(w for w in words[2:] if not w.startswith("-"))
    learner = sorted(asked & LEARNER_PACKAGES) + [
        c for c in calls if c.startswith("npm")]
    ok = (made.returncode == 0 and setup.returncode == 0 and not learner and
          GRADING_PACKAGES <= asked)
    checks.report(ok, "gradescope setup",
                  f"setup.sh in a copy of Gradescope's layout "
                  f"({setup_seconds:.0f} s): apt asked for "
                  f"{len(asked)} grading packages ({', '.join(sorted(asked))})"
                  ", no learner tooling (npm, clang-format, benchmark, "
                  "gnuplot, libclang), reference built for pipe" if ok else
                  f"exit {setup.returncode}, asked {sorted(asked)}, learner "
                  f"tooling {learner}: "
                  f"{(made.stderr + setup.stdout + setup.stderr)[-600:]}")
    if setup.returncode != 0:
        return
    shutil.copytree(submission, os.path.join(fake, "submission"))
    with open(os.path.join(fake, "submission_metadata.json"), "w") as f:
        json.dump({"users": [{"name": KOREAN}]}, f)
    results = os.path.join(fake, "results", "results.json")
    ran = subprocess.run([os.path.join(fake, "source", "run_autograder")],
                         capture_output=True, text=True, env=env)
    problems = gradescope_schema.validate_file(results) \
        if os.path.exists(results) else ["no results.json"]
    data = {}
    if not problems:
        with open(results, encoding="utf-8") as f:
            data = json.load(f)
    maximum = sum(t.get("max_score", 0) for t in data.get("tests", []))
    topics = {tag for t in data.get("tests", []) for tag in t.get("tags", [])
              [:1]}
    checks.report(ran.returncode == 0 and not problems and
                  data.get("score") == expected_score and
                  round(maximum, 2) == 100 and topics == {"pipe"},
                  "gradescope run", f"run_autograder: results.json valid, "
                  f"score {data.get('score')} of {maximum:g} (pipe only; "
                  f"the class run gave {expected_score:g})" if not problems
                  else f"{problems[:2]} {ran.stdout[-400:]}")
    os.remove(results)
    env["PLATFORM_PRETEND_MISSING"] = "userns"
    subprocess.run([os.path.join(fake, "source", "run_autograder")],
                   capture_output=True, text=True, env=env)
    with open(results, encoding="utf-8") as f:
        refused = json.load(f)
    checks.report("user namespaces" in refused.get("output", "") and
                  refused.get("score") == 0 and
                  not gradescope_schema.validate(refused),
                  "gradescope check", "a platform without user namespaces "
                  "gets a results.json that says so: " +
                  refused.get("output", "")[:90].replace("\n", " "))


def check_release(checks, root, base, cache):
    folder = os.path.join(base, "release")
    shutil.rmtree(folder, ignore_errors=True)
    done = subprocess.run([os.path.join(root, "tools", "release"), folder,
                           "--check", "--disk-cache", cache],
                          capture_output=True, text=True)
    subprocess.run(["bazel", "shutdown"], cwd=folder, capture_output=True)
    lines = [line for line in done.stdout.splitlines()
             if line.startswith("release:")]
    checks.report(done.returncode == 0, "student release",
                  "; ".join(line[len("release: "):] for line in lines)[:300]
                  if lines else done.stderr[-400:])


def blocking_submission(root, folder, topics):
    """The slowest submission there is: every function of every topic
    blocks for good (pause() where the stub throws), so every case hangs
    until the kata watchdog stops it and the topics' time limits run out."""
    for topic in topics:
        stub = os.path.join(root, "exercises", topic)
        for name in sorted(os.listdir(stub)):
            if not name.endswith(".cc"):
                continue
            with open(os.path.join(stub, name)) as f:
                text = f.read()
            text = "#include <unistd.h>\n" + re.sub(
                r"throw NotImplemented\([^;]*;", "for (;;) pause();", text)
            os.makedirs(os.path.join(folder, "exercises", topic),
                        exist_ok=True)
            with open(os.path.join(folder, "exercises", topic, name),
                      "w") as f:
                f.write(text)


class PeakMemory:
    """The most memory a command and everything it started held at once:
    resident memory summed over its process tree and over every process of
    the grader's pool of user ids (Bazel's server, the tests), sampled
    twice a second. Shared pages count once per process, so this errs
    high; tmpfs files are not in it (the run monitor counts them)."""

    def __init__(self, pool_base):
        self.pool = range(pool_base, pool_base + 1000)
        self.peak = 0
        self.stop = threading.Event()

    def sample(self, root_pid):
        parents, resident, owners = {}, {}, {}
        for name in os.listdir("/proc"):
            if not name.isdigit():
                continue
            try:
                with open(f"/proc/{name}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
                with open(f"/proc/{name}/status") as f:
                    uid = next(int(line.split()[1]) for line in f
                               if line.startswith("Uid:"))
            except (OSError, StopIteration, ValueError):
                continue
            pid = int(name)
            parents[pid] = int(fields[1])
            resident[pid] = int(fields[21]) * os.sysconf("SC_PAGE_SIZE")
            owners[pid] = uid
        mine, grown = {root_pid}, True
        while grown:
            grown = False
            for pid, parent in parents.items():
                if parent in mine and pid not in mine:
                    mine.add(pid)
                    grown = True
        return sum(size for pid, size in resident.items()
                   if pid in mine or owners[pid] in self.pool)

    def run(self, command, **kwargs):
        """subprocess.run(command) while sampling; (result, seconds)."""
        started = time.monotonic()
        child = subprocess.Popen(command, stdout=subprocess.PIPE,
                                 stderr=subprocess.STDOUT, text=True,
                                 **kwargs)

        def watch():
            while not self.stop.wait(0.5):
                self.peak = max(self.peak, self.sample(child.pid))
        watcher = threading.Thread(target=watch, daemon=True)
        watcher.start()
        output, _ = child.communicate()
        self.stop.set()
        watcher.join()
        return subprocess.CompletedProcess(command, child.returncode,
                                           output), time.monotonic() - started


def worst_case(root, base, topics, pool_base):
    """The Gradescope figures of docs/grading.md: the bundle for every topic
    in a local copy of Gradescope's layout (no shared cache: what the image
    build does), then run_autograder on the blocking submission."""
    fake, made = fake_autograder(root, base, "worst-case", [])
    if made.returncode != 0:
        print(made.stdout, made.stderr)
        return 1
    print(made.stdout.strip())
    env = dict(os.environ, AUTOGRADER_ROOT=fake)
    rows = []
    setup_memory = PeakMemory(pool_base)
    setup, seconds = setup_memory.run(
        ["bash", os.path.join(fake, "source", "setup.sh")], env=env)
    rows.append(("setup.sh (image build)", seconds, setup_memory.peak))
    if setup.returncode != 0:
        print(setup.stdout[-3000:])
        return 1
    blocking_submission(root, os.path.join(fake, "submission"), topics)
    with open(os.path.join(fake, "submission_metadata.json"), "w") as f:
        json.dump({"users": [{"name": "worst case"}]}, f)
    grade_memory = PeakMemory(pool_base)
    ran, seconds = grade_memory.run(
        [os.path.join(fake, "source", "run_autograder")], env=env)
    rows.append(("run_autograder (blocking submission)", seconds,
                 grade_memory.peak))
    with open(os.path.join(fake, "grader", "grades.json")) as f:
        phases = json.load(f)["students"][0].get("phases", {})
    results = os.path.join(fake, "results", "results.json")
    problems = gradescope_schema.validate_file(results)
    print(ran.stdout[-1500:])
    print("| step | wall | peak memory |\n|---|---|---|")
    for label, wall, peak in rows:
        print(f"| {label} | {wall:.0f} s | {peak >> 20} MiB |")
    print("phases of the submission: " + ", ".join(
        f"{k} {v:.0f} s" for k, v in phases.items()) +
        f"; results.json {'valid' if not problems else problems[:2]}")
    return 0 if ran.returncode == 0 and not problems else 1
