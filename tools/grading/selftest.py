#!/usr/bin/env python3
"""The grader's own test: one real class run over honest and hostile fixtures.

  tools/grading/selftest.py [--keep] [--cache DIR]
  tools/grading/selftest.py --timing        the figures in docs/grading.md
  tools/grading/selftest.py --worst-case    the Gradescope figures there
  tools/grading/selftest.py --make-class DIR [--timing-class]

Builds the fixture class (tools/grading/fixtures.py) under grade_out/selftest,
grades it with one `tools/grade` command (real Bazel, real sandbox), then
checks what every fixture scored, that the hostile ones changed nothing
outside their sandbox and reached no network, and that every results.json
follows Gradescope's documented schema. Prints one ok/FAIL line per check and
ends with "grader self-test: N passed, M failed".
"""

import argparse
import base64
import hashlib
import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import threading
import time
import zipfile

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "tools"))

from grading import fixtures  # noqa: E402
from grading import gradescope_schema  # noqa: E402
from grading import grader as grader_lib  # noqa: E402
from grading import submissions as subs  # noqa: E402

from grading import accounts  # noqa: E402
from grading import selftest_course as course  # noqa: E402
from grading import selftest_isolation as isolation  # noqa: E402


def pick_base():
    """grade_out/ in the repository, unless the sandbox could not use it.

    Bazel and the tests run as unprivileged ids of the grader's pool when
    this runs as root: a checkout under /root (not searchable by others) or
    under /tmp (an empty tmpfs in the sandbox) cannot hold the grader's
    workspaces, so they go to /var/tmp.
    """
    inside = os.path.join(ROOT, "grade_out")
    base = accounts.DEFAULT_BASE
    user = accounts.Account(base + 2, base + 2, [base]) \
        if os.geteuid() == 0 else accounts.current()
    if (user.can_reach(os.path.join(ROOT, "tools")) and
            not grader_lib.under_private_tmp(ROOT)):
        return inside
    digest = hashlib.sha1(ROOT.encode()).hexdigest()[:10]
    return os.path.join("/var/tmp", f"ipc-katas-grade-{digest}")


BASE = pick_base()
SELFTEST = os.path.join(BASE, "selftest")
CLASSMATES_DIR = os.path.join(SELFTEST, "classmates")
# tools/grade's defaults, which the fixtures' checks compare with.
LIMITS = {"tmpfs_mb": 256, "run_memory_mb": 1024}
TIMING_CLASS = ["reference", "stub", "01_child_keeps_write_end",
                "03_no_waitpid", "04_single_write", "05_eintr_not_retried",
                "06_sigpipe_unhandled", "08_write_all_then_read",
                "09_waitpid_before_drain", "11_no_pipe_buf_check"]


class Listener:
    """A loopback TCP server that counts connections (the network probe)."""

    def __init__(self):
        self.server = socket.socket()
        self.server.bind(("127.0.0.1", 0))
        self.server.listen(8)
        self.server.settimeout(0.2)
        self.port = self.server.getsockname()[1]
        self.connections = 0
        self.stop = False
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self):
        while not self.stop:
            try:
                connection, _ = self.server.accept()
            except OSError:
                continue
            self.connections += 1
            connection.close()

    def close(self):
        self.stop = True
        self.thread.join()
        self.server.close()


def context_for(class_dir, work, port):
    topics = grader_lib.read_topics(ROOT)
    return {"topics": topics, "class": class_dir, "work": work, "port": port,
            "editable": {t: subs.editable_files(ROOT, t) for t in topics},
            "pristine_files": grader_lib.pristine_files(ROOT),
            "token": "grader-secret-" + secrets.token_hex(12),
            "deadline": 0, "snoop_paths": []}


def make_class(class_dir, names, context, salt=""):
    shutil.rmtree(class_dir, ignore_errors=True)
    os.makedirs(class_dir)
    scratch = class_dir + "-scratch"
    shutil.rmtree(scratch, ignore_errors=True)
    os.makedirs(scratch)
    known = dict(fixtures.FIXTURES, **fixtures.CLASSMATES)
    for name in names:
        if name in known:
            files = fixtures.make(ROOT, name, context)
            kind = known[name][0]
        else:  # a mutant of the pipe solution: a realistic partial answer
            files = fixtures.mutant(ROOT, name)
            kind = "folder"
        if salt:  # new sources: each student's compile misses the cache
            files = {path: text + f"\n// {salt}\n" if path.endswith(".cc")
                     else text for path, text in files.items()}
        folder = os.path.join(scratch, name)
        fixtures.write_tree(ROOT, files, folder, context)
        fixtures.pack(folder, kind, class_dir, name, scratch)


def grade(class_dir, out, cache, extra=("--time-scale", "2")):
    # Doubled kata deadlines by default: the self-test runs on shared, busy
    # CI machines and must not mistake a slow honest test for a hang.
    command = [os.path.join(ROOT, "tools", "grade"), class_dir, "--out", out,
               "--cache", cache, *extra]
    started = time.monotonic()
    result = subprocess.run(command, capture_output=True, text=True)
    return result, time.monotonic() - started


class Checks:
    def __init__(self):
        self.passed = self.failed = 0

    def report(self, ok, label, detail):
        print(f"  [{'ok  ' if ok else 'FAIL'}] {label:<20} {detail}",
              flush=True)
        if ok:
            self.passed += 1
        else:
            self.failed += 1
        return ok


def lost_cases(student, topic="pipe"):
    return sorted(c["name"] for c in student["topics"][topic]["cases"]
                  if c["verdict"] != "passed")


def messages(student, topic="pipe"):
    return "\n".join(c["message"] for c in student["topics"][topic]["cases"])


def host_leftovers(work):
    tag = fixtures.PROBE_TAG
    places = ["/tmp", "/dev/shm", "/var/tmp", ROOT, work]
    return [os.path.join(p, n) for p in places if os.path.isdir(p)
            for n in os.listdir(p) if n.startswith(tag)]


def check_class(checks, data, listener, work, out):
    by_name = {s["student"]: s for s in data["students"]}
    topics = data["topics"]
    expected_names = [f"{s}.{c}" for s, c in fixtures.test_names(ROOT)]

    def suite(prefix):
        return sorted(n for n in expected_names if n.startswith(prefix + "."))

    def exactly_lost(name, lost, detail):
        s = by_name.get(name)
        if not s or "pipe" not in s["topics"]:
            return checks.report(False, name, "not graded")
        got = lost_cases(s)
        score = s["topics"]["pipe"]
        return checks.report(got == sorted(lost), name,
                             f"{detail}: {score['score']:g}/{score['max']:g}, "
                             f"lost {len(got)} case(s)" +
                             ("" if got == sorted(lost) else
                              f" (expected {len(lost)}: got {got[:6]})"))

    ref = by_name["reference"]
    checks.report(all(e["score"] == e["max"] and e["max"] > 0
                      for e in ref["topics"].values()) and
                  len(ref["topics"]) == len(topics), "reference",
                  "full marks in every topic: " + ", ".join(
                      f"{t} {e['score']:g}/{e['max']:g}"
                      for t, e in ref["topics"].items()))
    stub = by_name["stub"]
    checks.report(stub["score"] == 0 and all(
        e["passed"] == 0 and e["status"] == "graded"
        for e in stub["topics"].values()), "stub",
        f"scores {stub['score']:g} (every case ran and failed)")
    def calling(function):
        return fixtures.cases_calling(ROOT, function)

    exactly_lost("exit_early", calling("RoundTrip"), "exit(0) mid-run")
    exactly_lost("marker_deleted", calling("WriteRecord"),
                 "premature-exit marker deleted, _exit(0)")
    fake = by_name["fake_xml"]["topics"]["pipe"]
    flagged = [w for w in by_name["fake_xml"]["warnings"]
               if "test runner's environment" in w]
    checks.report(fake["score"] == 0 and fake["status"] == "tampered" and
                  bool(flagged), "fake_xml",
                  f"forged $XML_OUTPUT_FILE: {fake['score']:g}, status "
                  f"{fake['status']}, {len(flagged)} line(s) flagged for the "
                  "instructor")
    forger = by_name["forge_in_tmpdir"]["topics"]["pipe"]
    checks.report(forger["score"] == 0 and forger["passed"] == 0,
                  "forge_in_tmpdir", "reports dropped in every folder of "
                  f"$TEST_TMPDIR before main(): {forger['score']:g}, "
                  f"{forger['mode']} run")
    own = by_name["own_main"]["topics"]["pipe"]
    checks.report(own["score"] == 0 and own["status"] == "build failed" and
                  "main" in own["build_log"], "own_main",
                  f"its own main(): {own['status']}, score {own['score']:g}")
    red = by_name["redefine_expect"]
    ignored = dict(red["ignored"])
    checks.report(red["topics"]["pipe"]["score"] == 0 and any(
        p.endswith("pipe/pipe.h") for p in ignored), "redefine_expect",
        "header redefining EXPECT_EQ ignored: "
        f"{[p for p in ignored if p.endswith('.h')]}, score "
        f"{red['topics']['pipe']['score']:g}")
    child = by_name["child_returns"]
    lost = lost_cases(child)
    checks.report("Stage2OneWay.ChildNeverReturnsIntoTheCaller" in lost and
                  not any(n.startswith("Stage1") for n in lost) and
                  "returned into the test runner" in messages(child),
                  "child_returns", f"escaped child caught, {len(lost)} "
                  "case(s) lost, Stage 1 intact")
    fake_out = by_name["fake_passed_output"]
    checks.report(fake_out["score"] == 0, "fake_passed_output",
                  f"fake [  PASSED  ] lines: {fake_out['score']:g}")
    edited = by_name["edited_tests"]
    shown = {p for p, _ in edited["ignored"]}
    wanted = {"tests/pipe/pipe_test.cc", "exercises/pipe/BUILD", ".bazelrc",
              "tools/bazel"}
    checks.report(edited["score"] == 0 and wanted <= shown, "edited_tests",
                  f"score {edited['score']:g}; ignored and listed: "
                  f"{sorted(wanted & shown)}")
    exactly_lost("fork_bomb", calling("RunAndCapture"), "fork bomb")
    exactly_lost("infinite_loop", calling("MeasureCapacity"), "infinite loop")
    # The busy runner thread cannot be stopped from inside: the kata runner
    # exec's its own binary for the stages after it (tests/support/resume.cc).
    # The run monitor's confinement must let it (Landlock: its own binary;
    # the resume file in $TEST_TMPDIR), so the whole-suite run stays usable.
    looping = by_name.get("infinite_loop", {}).get("topics", {}).get("pipe",
                                                                     {})
    checks.report(looping.get("mode") == "suite", "hang restart",
                  "infinite_loop's busy runner: the test binary restarted "
                  "itself inside the confined run; graded in one whole-suite "
                  f"run (mode {looping.get('mode')})")
    huge = by_name["huge_output"]["topics"]["pipe"]
    checks.report(huge["score"] == huge["max"] and
                  huge["log_bytes"] < (2 << 20), "huge_output",
                  f"100 MB printed: {huge['score']:g}/{huge['max']:g}, "
                  f"test.log {huge['log_bytes'] // 1024} KiB")
    reader = by_name["reads_solution"]
    own = os.path.join(work, reader.get("slot", "?"), "ws")
    read = sorted(set(re.findall(r"\[probe READ (\S+):",
                                 messages(reader))))
    stolen = [p for p in read if not p.startswith(own + os.sep)]
    refused = len(set(re.findall(r"\[probe cannot read (\S+):",
                                 messages(reader))))
    checks.report(reader["score"] == 0 and not stolen and refused >= 5,
                  "reads_solution",
                  f"{refused} paths refused (solutions, another student's "
                  "files, the reference, the other slot); only its own "
                  "workspace readable" if not stolen else f"READ {stolen}")
    net = messages(by_name["network"])
    interfaces = sorted(set(re.findall(r"\[probe interface (\S+)\]", net)))
    # Graded at all: a submission refused at intake would prove nothing.
    checks.report(not by_name["network"].get("error") and
                  listener.connections == 0 and "CONNECTED" not in net and
                  interfaces in ([], ["lo"]), "network",
                  f"host listener saw {listener.connections} connection(s); "
                  f"interfaces inside: {interfaces or ['none']}")
    writes = messages(by_name["writes_outside"])
    left = host_leftovers(work)
    checks.report(not left and "[probe create" in writes, "writes_outside",
                  "nothing written outside the sandbox reached the host"
                  if not left else f"found {left}")
    broken = by_name["no_compile"]
    others = [t for t in topics if t != "pipe"]
    checks.report(broken["topics"]["pipe"]["status"] == "build failed" and
                  broken["topics"]["pipe"]["score"] == 0 and
                  "error" in broken["topics"]["pipe"]["build_log"] and
                  all(broken["topics"][t]["status"] == "graded"
                      for t in others), "no_compile",
                  "zero for pipe with the compiler's message" +
                  (f"; {', '.join(others)} still graded" if others else ""))
    checks.report(not os.path.exists("/var/tmp/" + fixtures.PROBE_TAG +
                                      "-tools-bazel"), "tools/bazel",
                  "the submission's tools/bazel never ran")
    problems = []
    for s in data["students"]:
        problems += gradescope_schema.validate_file(
            os.path.join(out, "students", s["report"], "results.json"))
    checks.report(not problems, "results.json",
                  f"{len(data['students'])} files follow Gradescope's "
                  "documented schema" if not problems else problems[0])
    missing = [f for f in ("grades.md", "grades.csv", "grades.json")
               if not os.path.exists(os.path.join(out, f))]
    checks.report(not missing, "reports", "grades.md, grades.csv, "
                  "grades.json and one page per student written"
                  if not missing else f"missing {missing}")


def check_single(checks, class_dir, work, cache, class_data):
    """--one with Gradescope and Classroom outputs, and the bundle."""
    one = os.path.join(SELFTEST, "one")
    shutil.rmtree(one, ignore_errors=True)
    os.makedirs(one)
    gradescope = os.path.join(one, "results.json")
    classroom = os.path.join(one, "github_output")
    command = [os.path.join(ROOT, "tools", "grade"), "--one",
               os.path.join(class_dir, "exit_early"), "--name", "solo student",
               "--out", one, "--work", work, "--cache", cache, "--jobs", "1",
               "--gradescope", gradescope, "--classroom-output", classroom]
    result = subprocess.run(command, capture_output=True, text=True)
    if not checks.report(result.returncode == 0, "--one", "tools/grade --one "
                         f"exit code {result.returncode}"):
        print(result.stdout[-3000:], result.stderr[-3000:])
        return
    expected = next(s for s in class_data["students"]
                    if s["student"] == "exit_early")["score"]
    problems = gradescope_schema.validate_file(gradescope)
    with open(gradescope) as f:
        score = json.load(f).get("score")
    checks.report(not problems and score == expected, "gradescope",
                  f"--gradescope results.json valid, score {score} (the "
                  f"class run gave {expected})" if not problems else
                  problems[0])
    with open(classroom) as f:
        line = f.read().strip()
    decoded = json.loads(base64.b64decode(line.split("=", 1)[1]))
    total = sum(t["score"] for t in decoded["tests"])
    checks.report(line.startswith("result=") and decoded["version"] == 1 and
                  abs(total - expected) < 0.005, "classroom",
                  f"runner result for the Classroom reporter: {total:g}/"
                  f"{decoded['max_score']:g}, status {decoded['status']}")
    bundle = os.path.join(one, "autograder.zip")
    subprocess.run([os.path.join(ROOT, "tools", "grade"),
                    "--gradescope-bundle", bundle], capture_output=True)
    with zipfile.ZipFile(bundle) as archive:
        modes = {i.filename: i.external_attr >> 16 for i in archive.infolist()}
    checks.report(all(modes.get(n, 0) & 0o111 for n in
                      ("setup.sh", "run_autograder")) and
                  "course/tools/grade" in modes, "gradescope bundle",
                  "setup.sh and run_autograder (executable) at the zip's "
                  f"root, {len(modes) - 2} course files under course/")


def check_validator(checks):
    good = {"score": 1.0, "tests": [{"name": "a", "score": 1, "max_score": 1,
                                     "status": "passed"}]}
    bad = [({"tests": [{"name": "a"}]}, "no score anywhere"),
           ({"score": "1"}, "a score that is a string"),
           ({"score": 1, "tests": [{"status": "ok"}]}, "an unknown status"),
           ({"score": 1, "visibility": "students"}, "an unknown visibility"),
           ({"score": 1, "tests": [{"max": 1}]}, "an undocumented field")]
    rejected = [why for data, why in bad if gradescope_schema.validate(data)]
    checks.report(not gradescope_schema.validate(good) and
                  len(rejected) == len(bad), "schema validator",
                  f"accepts the documented example, rejects {len(rejected)}/"
                  f"{len(bad)} broken ones")


def self_test(options):
    checks = Checks()
    check_validator(checks)
    for leftover in host_leftovers(SELFTEST):
        os.unlink(leftover)
    listener = Listener()
    class_dir = os.path.join(SELFTEST, "class")
    out = os.path.join(SELFTEST, "out")
    work = os.path.join(out, ".grader")
    shutil.rmtree(out, ignore_errors=True)
    context = context_for(class_dir, work, listener.port)
    make_class(class_dir, list(fixtures.FIXTURES), context)
    cache = options.cache or os.path.join(BASE, "cache")
    print(f"grading {len(fixtures.FIXTURES)} fixture submissions in one "
          "class run (tools/grade)", flush=True)
    roster = course.roster_file(SELFTEST)
    result, seconds = grade(class_dir, out, cache,
                            extra=("--time-scale", "2", "--roster", roster))
    listener.close()
    ok = checks.report(result.returncode == 0, "class run",
                       f"tools/grade exit code {result.returncode} after "
                       f"{seconds:.0f} s")
    if not ok:
        print(result.stdout[-4000:], result.stderr[-4000:], sep="\n")
    else:
        print("\n".join("      " + line for line in
                        result.stdout.splitlines()
                        if not line.startswith("[")), flush=True)
        with open(os.path.join(out, "grades.json")) as f:
            data = json.load(f)
        check_class(checks, data, listener, work, out)
        isolation.check_main_class(checks, data, out, LIMITS)
        isolation.check_privacy(checks, out)
        check_single(checks, class_dir, work, cache, data)
        classmates(checks, context, out, work, cache)
        reference = next(x for x in data["students"]
                         if x["student"] == "reference")
        course.check_points(checks, os.path.join(
            ROOT, "tools", "grading", "points.json"),
            {t: [c["name"] for c in e["cases"]]
             for t, e in reference["topics"].items()})
        course.check_names_and_roster(checks, out, data)
        course.check_feedback(checks, out, data)
        course.check_classroom(checks, data, data["topics"])
        exit_early = next(x for x in data["students"]
                          if x["student"] == "exit_early")
        course.check_gradescope(checks, ROOT, SELFTEST, cache,
                                os.path.join(class_dir, "exit_early"),
                                exit_early["topics"]["pipe"]["score"])
        course.check_release(checks, ROOT, SELFTEST, cache)
    isolation.check_report_failure(checks)
    isolation.check_monitor(checks, os.path.join(ROOT, "README.md"))
    if not options.keep:
        for folder in (class_dir, class_dir + "-scratch", CLASSMATES_DIR,
                       CLASSMATES_DIR + "-scratch"):
            shutil.rmtree(folder, ignore_errors=True)
    print(f"grader self-test: {checks.passed} passed, {checks.failed} failed")
    return 0 if checks.failed == 0 else 1


def classmates(checks, context, out, work, cache):
    """A second run in the same working folder, two at a time: 1_hog spends
    every per-user budget while 1_victim (the reference) is graded, then
    2_snoop searches for what the first run left behind.

    The hog holds until a time fixed when the class is made, sized from the
    reference student's run in the class run (isolation.hold_seconds). When
    the victim outlasted it all the same (a crowded machine), the run proved
    nothing about budgets: it is made again once, with new sources (every
    compile misses the cache as before) and a hold sized from the victim's
    measured run."""
    hold = isolation.hold_seconds(os.path.join(out, "grades.json"))
    for attempt in (1, 2):
        salt = "" if attempt == 1 else f"second run {time.time()}"
        data = classmates_run(checks, context, out, work, cache, hold, salt)
        if data is None:
            return
        covered, victim_end = isolation.hold_covered(data)
        if covered or attempt == 2 or victim_end is None:
            break
        needed = victim_end - data["classmates_started"]
        print(f"      the victim's run ended {needed:.0f} s after the start, "
              f"after the hog's hold of {hold} s: grading the classmates "
              "again with a longer hold", flush=True)
        hold = int(min(isolation.MAX_HOLD_SECONDS, 1.5 * needed + 30))
    isolation.check_classmates(checks, data, context["token"])


def classmates_run(checks, context, out, work, cache, hold, salt):
    started = time.time()
    context = dict(context, deadline=int(started + hold),
                   snoop_paths=[os.path.join(out, name) for name in (
                       "grades.csv", "grades.json", "grades.md",
                       os.path.join("students", "secret_keeper.md"))])
    make_class(CLASSMATES_DIR, list(fixtures.CLASSMATES), context, salt)
    second = os.path.join(SELFTEST, "out-classmates")
    shutil.rmtree(second, ignore_errors=True)
    print(f"grading the classmates run ({len(fixtures.CLASSMATES)} "
          f"submissions, two at a time, the hog holding {hold} s)",
          flush=True)
    result, seconds = grade(CLASSMATES_DIR, second, cache,
                            extra=("--time-scale", "2", "--work", work,
                                   "--jobs", "2", "--topics",
                                   ",".join(isolation.CLASSMATES_TOPICS)))
    if not checks.report(result.returncode == 0, "classmates run",
                         f"tools/grade exit code {result.returncode} after "
                         f"{seconds:.0f} s"):
        print(result.stdout[-4000:], result.stderr[-4000:], sep="\n")
        return None
    with open(os.path.join(second, "grades.json")) as f:
        data = json.load(f)
    data["classmates_started"] = started
    return data


def timing(options):
    """Grades a class of 10 twice: cold, then a fresh work dir + warm cache.

    The second class has the same answers with a comment added to every
    source file, so each student's own compile misses the cache as a new
    class's would, while GoogleTest, the support library and the tests' own
    objects come from it. Default grader settings (kata deadlines 1x).
    """
    class_dir = os.path.join(BASE, "timing", "class")
    context = context_for(class_dir, "", 0)
    cache = os.path.join(BASE, "timing", "cache")
    rows = []
    for label, clear_cache in (("cold (empty cache)", True),
                               ("shared cache, new workspaces", False)):
        make_class(class_dir, TIMING_CLASS, context,
                   salt="" if clear_cache else f"second class {time.time()}")
        out = os.path.join(BASE, "timing", "out")
        shutil.rmtree(out, ignore_errors=True)
        if clear_cache:
            shutil.rmtree(cache, ignore_errors=True)
        result, seconds = grade(class_dir, out, cache, extra=())
        if result.returncode != 0:
            print(result.stdout[-3000:], result.stderr[-3000:])
            return 1
        with open(os.path.join(out, "grades.json")) as f:
            data = json.load(f)
        t = data["timings"]
        each = [p["seconds"] for p in t["per_submission"]]
        rows.append((label, seconds, t["reference"], t["warm_up"],
                     t["grading"], t["grading"] / len(each),
                     sum(each) / len(each)))
        alone = {p["student"]: p["seconds"] for p in t["per_submission"]}
        print(f"{label}: {seconds:.0f} s; in a slot: " + ", ".join(
            f"{name} {alone[name]:.1f} s" for name in TIMING_CLASS
            if name in alone) + f"; sum {sum(each):.1f} s", flush=True)
    print("\n| run | total | reference build | warm-up | grading 10 | "
          "per submission (wall / 10) | per submission (in its slot) |")
    print("|---|---|---|---|---|---|---|")
    for row in rows:
        print(f"| {row[0]} | " + " | ".join(f"{v:.0f} s" for v in row[1:6])
              + f" | {row[6]:.0f} s |")
    return 0


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--keep", action="store_true",
                        help="keep the fixture class afterwards")
    parser.add_argument("--cache", help="Bazel disk cache to use")
    parser.add_argument("--timing", action="store_true")
    parser.add_argument("--make-class", metavar="DIR")
    parser.add_argument("--timing-class", action="store_true")
    parser.add_argument("--worst-case", action="store_true",
                        help="the Gradescope bundle's worst case: time and "
                        "memory of setup.sh and run_autograder")
    options = parser.parse_args()
    if options.worst_case:
        return course.worst_case(ROOT, BASE, grader_lib.read_topics(ROOT),
                                 accounts.DEFAULT_BASE)
    if options.make_class:
        class_dir = os.path.abspath(options.make_class)
        names = TIMING_CLASS if options.timing_class else list(
            fixtures.FIXTURES)
        make_class(class_dir, names, context_for(class_dir, "", 0))
        print(f"wrote {len(names)} submissions to {class_dir}")
        return 0
    if options.timing:
        return timing(options)
    return self_test(options)


if __name__ == "__main__":
    sys.exit(main())
