"""Mutant packages and the one Bazel run that tests them all.

Every mutant becomes a Bazel package, <out>/<topic>/<mutant>/: a copy of
solutions/<topic> with the mutated file written in and its BUILD file loading
kata_test from //tools:mutate.bzl, which links the topic's test cases
compiled once in <out>/<topic>/cases (see tools/mutate.bzl). The unmutated
copy, <out>/<topic>/baseline, must pass. One `bazel test` runs every
package's <topic>_test; its build event file says, per target, whether it
built and whether its test passed.
"""

import json
import os
import re
import shutil
import subprocess
import sys
import time
import xml.etree.ElementTree as ElementTree

KATA_LOAD = 'load("//tools:kata.bzl", "kata_test")'
MUTANT_LOAD = 'load("//tools:mutate.bzl", kata_test = "{macro}")'

KILLED, SURVIVED, STILLBORN, NOT_RUN = ("killed", "survived", "stillborn",
                                        "not run")


def copy_package(root, topic, folder, macro, mutated=None):
    """Copies solutions/<topic> to `folder` as a package whose kata_test is
    `macro` of mutate.bzl; `mutated` is (file name, new contents)."""
    shutil.rmtree(folder, ignore_errors=True)
    shutil.copytree(os.path.join(root, "solutions", topic), folder)
    build = os.path.join(folder, "BUILD")
    with open(build) as f:
        text = f.read()
    if KATA_LOAD not in text:
        raise RuntimeError(f"solutions/{topic}/BUILD does not load kata_test "
                           f"with {KATA_LOAD}: tools/mutate cannot rewrite it")
    with open(build, "w") as f:
        f.write(text.replace(KATA_LOAD, MUTANT_LOAD.format(macro=macro)))
    if mutated:
        name, contents = mutated
        with open(os.path.join(folder, name), "wb") as f:
            f.write(contents)


def prepare(root, out, topic, mutants, baseline=True):
    """Writes the packages of one topic; returns {label: mutant or None}
    (None is the baseline)."""
    topic_dir = os.path.join(root, out, topic)
    shutil.rmtree(topic_dir, ignore_errors=True)
    copy_package(root, topic, os.path.join(topic_dir, "cases"), "mutant_cases")
    labels = {}
    if baseline:
        copy_package(root, topic, os.path.join(topic_dir, "baseline"),
                     "mutant_test")
        labels[label_of(out, topic, "baseline")] = None
    sources = {}
    for mutant in mutants:
        if mutant.file not in sources:
            with open(os.path.join(root, "solutions", topic, mutant.file),
                      "rb") as f:
                sources[mutant.file] = f.read()
        copy_package(root, topic, os.path.join(topic_dir, mutant.package),
                     "mutant_test",
                     (mutant.file, mutant.apply(sources[mutant.file])))
        labels[label_of(out, topic, mutant.package)] = mutant
    return labels


def label_of(out, topic, package):
    return f"//{out}/{topic}/{package}:{topic}_test"


def bazel_test(root, labels, jobs, timeout, bazel="bazel", progress=True):
    """Builds and runs the test targets in one invocation; returns
    {label: Outcome} and the wall time in seconds."""
    events = os.path.join(root, "bazel-mutate-events.json")
    if os.path.exists(events):
        os.remove(events)
    args = [bazel, "test", "--keep_going", "--build_tests_only",
            f"--jobs={jobs}", f"--local_test_jobs={jobs}",
            "--nocache_test_results", "--test_output=summary",
            "--test_summary=terse", "--color=no", "--curses=no",
            "--show_progress_rate_limit=60",
            f"--test_timeout={timeout}",
            # A killed mutant stops at its first failing test case.
            "--test_env=GTEST_FAIL_FAST=1",
            f"--build_event_json_file={events}", "--", *labels]
    start = time.time()
    process = subprocess.Popen(args, cwd=root, text=True,
                               stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT)
    tail = []
    for line in process.stdout:
        tail = (tail + [line])[-60:]
        if progress and re.match(r"^\[[\d,]+ / [\d,]+\]", line):
            print(f"  bazel: {line.strip()[:150]}", flush=True)
    code = process.wait()
    elapsed = time.time() - start
    outcomes = read_events(events, labels)
    if code not in (0, 1, 3, 4) or (code != 0 and not any(
            o.status in (KILLED, SURVIVED) for o in outcomes.values())):
        sys.stdout.write("".join(tail))
    if os.path.exists(events):
        os.remove(events)
    return outcomes, elapsed


class Outcome:
    def __init__(self, status, seconds=0.0, failed_case="", log=""):
        self.status = status
        self.seconds = seconds
        self.failed_case = failed_case  # the first failing test case
        self.log = log                  # path of its test.log

    def to_json(self):
        return {"status": self.status, "seconds": round(self.seconds, 1),
                "failed_case": self.failed_case}


def read_events(path, labels):
    """{label: Outcome} from a Bazel build event file (JSON lines)."""
    results, built = {}, {}
    if os.path.exists(path):
        with open(path) as f:
            for line in f:
                event = json.loads(line)
                ident = event.get("id", {})
                if "testResult" in ident:
                    label = ident["testResult"]["label"]
                    results[label] = event.get("testResult", {})
                elif "targetCompleted" in ident:
                    label = ident["targetCompleted"]["label"]
                    built[label] = bool(event.get("completed", {}).get(
                        "success"))
    outcomes = {}
    for label in labels:
        result = results.get(label)
        if result is None:
            status = STILLBORN if built.get(label) is False else NOT_RUN
            outcomes[label] = Outcome(status)
            continue
        files = {o["name"]: o["uri"] for o in result.get("testActionOutput",
                                                         [])}
        seconds = int(result.get("testAttemptDurationMillis", 0)) / 1000
        passed = result.get("status") == "PASSED"
        log = uri_path(files.get("test.log", ""))
        failed = "" if passed else first_failure(
            uri_path(files.get("test.xml", "")), log)
        if not passed and result.get("status") == "TIMEOUT":
            failed = failed or "(Bazel's test timeout)"
        outcomes[label] = Outcome(SURVIVED if passed else KILLED, seconds,
                                  failed, log)
    return outcomes


def uri_path(uri):
    return uri[len("file://"):] if uri.startswith("file://") else ""


def first_failure(xml_path, log_path):
    """The first failing test case, from test.xml or else (when the binary
    ended early, e.g. on a watchdog expiry, Bazel writes a stand-in XML)
    from the `[  FAILED  ]` lines of test.log; "" if none is named."""
    if xml_path and os.path.exists(xml_path):
        try:
            root = ElementTree.parse(xml_path).getroot()
        except ElementTree.ParseError:
            root = None
        for case in root.iter("testcase") if root is not None else ():
            if (case.findall("failure") or case.findall("error")) and \
                    case.get("classname"):
                return f"{case.get('classname')}.{case.get('name', '')}"
    if log_path and os.path.exists(log_path):
        with open(log_path, errors="replace") as f:
            for line in f:
                match = re.match(r"\[  FAILED  \] ([\w/]+\.[\w/]+)", line)
                if match:
                    return match.group(1)
    return ""


def kernel_objects():
    """The kata tests' named IPC objects now on this machine (their names
    start with kata-), and the count of System V objects."""
    names = set()
    for folder in ("/dev/shm", "/dev/mqueue"):
        if os.path.isdir(folder):
            names |= {os.path.join(folder, n) for n in os.listdir(folder)
                      if n.startswith("kata-") or n.startswith("sem.kata-")}
    for kind in ("msg", "shm", "sem"):
        path = f"/proc/sysvipc/{kind}"
        if os.path.exists(path):
            with open(path) as f:
                lines = f.read().splitlines()[1:]
            names |= {f"System V {kind} id {line.split()[1]}"
                      for line in lines if len(line.split()) > 1}
    return names


def clean(root, out, topics):
    """Removes the topics' mutant packages and what Bazel built from them
    (a full run leaves about 3 MB of test binary per mutant)."""
    for topic in topics:
        for base in (root, os.path.join(root, "bazel-bin"),
                     os.path.join(root, "bazel-testlogs")):
            shutil.rmtree(os.path.join(base, out, topic), ignore_errors=True)
