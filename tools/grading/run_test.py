"""The grader's test wrapper: runs one kata test binary inside Bazel's sandbox.

tools/grade passes this file to Bazel as --run_under, so Bazel starts it (in
the test's sandbox) with the test binary as its last argument. It is the only
process the grader trusts inside the sandbox: the learner's code is linked into
the test binary and can fake anything that binary reports about itself, so
this wrapper runs the binary as a child it watches from the outside, under
limits, and writes the report (test.xml) itself once every process of the
learner's code is gone.

What it does, per test target:

  1. runs the whole suite once; if that run is clean (GoogleTest finished,
     wrote its XML report with every expected case exactly once, removed its
     premature-exit marker, nobody wrote to $XML_OUTPUT_FILE, the exit code
     agrees with the report, and GoogleTest's printed "[ RUN ]", "[ OK ]"
     and "[ FAILED ]" lines agree with it case by case) its results are
     taken;
  2. otherwise (a crash, exit(), a hang, a fork bomb, a forged report) it runs
     every expected case on its own, so that one broken case costs that case
     only;
  3. writes test.xml in its own format (root <testsuites name="ipc-katas-
     grader">, the grader's run id, one <testcase> per expected case) and
     exits 0, so Bazel's PASSED means "the wrapper finished", not "the tests
     passed".

Each run is started by the run monitor (confine.py): fresh user, PID, mount
and IPC namespaces, size-limited tmpfs on /tmp, /dev/shm and $TEST_TMPDIR,
resource limits, and Landlock, all in place before the test binary's first
instruction; the monitor kills a run that holds too many processes, too much
memory or too much CPU. The learner's processes cannot see, signal or trace
this wrapper or Bazel's test-setup.sh, and all of them die when the run ends.
The output is read through a pipe and capped.

Standard library only; runs with `python3 -I -S`.
"""

import ctypes
import json
import os
import re
import select
import signal
import subprocess
import sys
import time
import xml.etree.ElementTree as ElementTree

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import confine  # noqa: E402  (the run monitor, next to this file)

GRADER_NAME = "ipc-katas-grader"
MAX_XML_BYTES = 8 << 20
MAX_MESSAGE = 4000
HERE = os.path.dirname(os.path.abspath(__file__))
CONFINE = os.path.join(HERE, "confine.py")
RUN_DIR = "/tmp/.grader"   # on the run's own tmpfs (confine.py)
FORGED = "a report the test binary forged, not counted"


def parse_args(argv):
    options = {
        "expected": None,
        "time_limit": 240.0,
        "case_limit": 30.0,
        "max_processes": 256,
        "max_file_mb": 64,
        "max_memory_mb": 4096,
        "max_log_kb": 256,
        "max_tmpfs_mb": 256,
        "max_run_memory_mb": 1024,
        "max_cpu_cores": 1.5,
        "landlock": 1,
        "max_queue_bytes": 0,   # 0: the user's own limit (see confine.py)
        "max_signals": 0,
    }
    i = 0
    while i < len(argv) and argv[i] != "--":
        key = argv[i].lstrip("-").replace("-", "_")
        if key not in options or i + 1 >= len(argv):
            raise SystemExit(f"run_test.py: bad option {argv[i]}")
        value = argv[i + 1]
        options[key] = value if key == "expected" else float(value)
        i += 2
    command = argv[i + 1:]
    if not command or options["expected"] is None:
        raise SystemExit("usage: run_test.py --expected FILE [...] -- BINARY")
    return options, command


def make_undumpable():
    """No ptrace, no /proc/<pid>/mem or environ for processes of our uid."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(4, 0, 0, 0, 0)  # PR_SET_DUMPABLE = 4
    except OSError:
        pass


class Output:
    """Keeps the head and the tail of a stream, counting what it drops."""

    def __init__(self, limit):
        self.half = max(1024, int(limit) // 2)
        self.head = bytearray()
        self.tail = bytearray()
        self.dropped = 0

    def add(self, data):
        room = self.half - len(self.head)
        if room > 0:
            self.head += data[:room]
            data = data[room:]
        if data:
            self.tail += data
            if len(self.tail) > self.half:
                cut = len(self.tail) - self.half
                self.dropped += cut
                del self.tail[:cut]

    def text(self):
        middle = (f"\n[... {self.dropped} bytes of output cut by the grader "
                  "...]\n" if self.dropped else "")
        return (self.head.decode("utf-8", "replace") + middle +
                self.tail.decode("utf-8", "replace"))


class Progress:
    """What GoogleTest's own printer says about each case, read as it streams.

    A report GoogleTest really wrote agrees with the lines its printer wrote
    while the cases ran ("[ RUN      ] Suite.Case", then "[       OK ]" or
    "[  FAILED  ]"); a report forged by code in the test binary usually does
    not. The lines are matched as they pass, so capping the kept output does
    not lose them.
    """

    PATTERN = re.compile(rb"^\[( RUN      |       OK |  FAILED  )\] "
                         rb"([\w/.]+)", re.M)

    def __init__(self):
        self.started = set()
        self.ended = {}
        self.carry = b""

    def add(self, data):
        data = self.carry + data
        cut = data.rfind(b"\n") + 1
        self.carry = data[cut:][-1024:]
        for match in self.PATTERN.finditer(data, 0, cut):
            kind, name = match.group(1).strip(), match.group(2).decode()
            if kind == b"RUN":
                self.started.add(name)
            else:
                self.ended[name] = kind.decode()

    def disagrees(self, name, passed):
        """Why the printed lines contradict the report's verdict, or ""."""
        if name not in self.started:
            return "its output never started it"
        said = self.ended.get(name)
        if said is None:
            return "its output never finished it"
        if (said == "OK") != passed:
            return f"its output says {said}"
        return ""


class Run:
    """One execution of the test binary (the suite or one case)."""

    def __init__(self, status, output, elapsed, killed_for, report, watched,
                 progress):
        self.status = status          # exit status as the shell reports it
        self.output = output          # captured, capped text
        self.elapsed = elapsed
        self.killed_for = killed_for  # None, "time", "processes", "memory",
        #                               "cpu", "confine"
        self.report = report          # GoogleTest's XML, as read
        self.watched = watched        # the run monitor's status (confine.py)
        self.marker_left = watched.get("marker_left", False)
        self.decoy_touched = watched.get("decoy_touched", False)
        self.progress = progress


def run_spec(options, command):
    """The run monitor's settings for one run (confine.py DEFAULTS)."""
    tmpdir = os.environ.get("TEST_TMPDIR", "")
    return {
        "tmpfs_mb": int(options["max_tmpfs_mb"]),
        "memory_mb": int(options["max_run_memory_mb"]),
        "processes": int(options["max_processes"]),
        "address_space_mb": int(options["max_memory_mb"]),
        "file_mb": int(options["max_file_mb"]),
        "cpu_cores": options["max_cpu_cores"],
        "binary": os.path.realpath(command[0]),
        "write": [tmpdir] if tmpdir else [],
        "tmpfs_extra": [tmpdir] if tmpdir and os.path.isdir(tmpdir) else [],
        "grader_dir": RUN_DIR,
        "decoy": os.path.join(RUN_DIR, "test.xml"),
        "marker": os.path.join(RUN_DIR, "premature-exit"),
        "landlock": options["landlock"] > 0,
        "queue_bytes": int(options["max_queue_bytes"]),
        "signals": int(options["max_signals"]),
    }


def execute(options, command, extra_args, limit, env):
    # GoogleTest writes its report into a pipe this wrapper reads, never into
    # a file: no earlier run can leave a forged report behind. The
    # premature-exit marker and the decoy $XML_OUTPUT_FILE live on the run's
    # own tmpfs, where the run monitor (confine.py) looks for them.
    report_read, report_write = os.pipe()
    status_read, status_write = os.pipe()
    child_env = dict(env)
    child_env["TEST_PREMATURE_EXIT_FILE"] = os.path.join(RUN_DIR,
                                                         "premature-exit")
    child_env["XML_OUTPUT_FILE"] = os.path.join(RUN_DIR, "test.xml")
    child_env["TEST_UNDECLARED_OUTPUTS_DIR"] = os.path.join(RUN_DIR,
                                                            "outputs")
    spec = run_spec(options, command)
    # sh stays PID 1 of the run's namespace, so the test runner is an
    # ordinary process (PID 1 ignores default-action signals such as
    # SIGPIPE); the command after it keeps sh from exec'ing the binary in
    # its place.
    argv = ([sys.executable, "-I", "-S", CONFINE, confine.encode_spec(spec),
             str(status_write), "--", "/bin/sh", "-c", '"$@"; exit $?', "sh",
             command[0], f"--gtest_output=xml:/proc/self/fd/{report_write}"] +
            command[1:] + extra_args)
    start = time.monotonic()
    child = subprocess.Popen(argv, stdin=subprocess.DEVNULL,
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                             env=child_env, start_new_session=True,
                             pass_fds=(report_write, status_write))
    os.close(report_write)
    os.close(status_write)
    output = Output(int(options["max_log_kb"]) << 10)
    progress = Progress()
    report = bytearray()
    status_text = bytearray()
    streams = [child.stdout.fileno(), report_read, status_read]
    killed_for = None
    while streams:
        ready, _, _ = select.select(streams, [], [], 0.1)
        for fd in ready:
            data = os.read(fd, 1 << 16)
            if not data:
                streams.remove(fd)
            elif fd == report_read:
                if len(report) <= MAX_XML_BYTES:
                    report += data
            elif fd == status_read:
                status_text += data[:1 << 16]
            else:
                output.add(data)
                progress.add(data)
        if killed_for is None and time.monotonic() - start > limit:
            killed_for = "time"
            # The monitor's death takes the run's init with it
            # (PR_SET_PDEATHSIG), and the kernel then kills every process
            # of the run's PID namespace.
            os.killpg(child.pid, signal.SIGKILL)
    child.stdout.close()
    os.close(report_read)
    os.close(status_read)
    status = child.wait()
    elapsed = time.monotonic() - start
    try:
        watched = json.loads(bytes(status_text).decode() or "{}")
    except ValueError:
        watched = {}
    if killed_for is None:
        killed_for = watched.get("killed_for")
    if killed_for is None and (watched.get("error") or not watched):
        killed_for = "confine"
    return Run(status, output.text(), elapsed, killed_for, bytes(report),
               watched, progress)


def read_gtest_xml(report):
    """[(case name, [failure texts])] in report order, or (None, why)."""
    if not report:
        return None, "GoogleTest wrote no report"
    if len(report) > MAX_XML_BYTES:
        return None, "the report is larger than the grader accepts"
    try:
        root = ElementTree.fromstring(report)
    except ElementTree.ParseError as error:
        return None, f"the report is not valid XML ({error})"
    if root.tag != "testsuites" or root.get("name") != "AllTests":
        return None, "the report is not GoogleTest's"
    cases = []
    for case in root.iter("testcase"):
        name = f"{case.get('classname', '')}.{case.get('name', '')}"
        problems = []
        for failure in case.findall("failure") + case.findall("error"):
            text = (failure.text or failure.get("message", "")).strip()
            problems.append(text)
        if case.find("skipped") is not None:
            problems.append("skipped")
        if case.get("status", "run") != "run":
            problems.append("not run (disabled)")
        cases.append((name, problems))
    return cases, ""


def signal_name(number):
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


def judge(run, expected, options):
    """(clean, {case: (passed, message)}, why not clean)."""
    if run.killed_for == "time":
        return False, {}, (f"did not finish within {run.elapsed:.0f} s (the "
                           "grader's limit) and was killed")
    detail = run.watched.get("detail", "")
    if run.killed_for == "processes":
        return False, {}, (f"started more than "
                           f"{int(options['max_processes'] * 0.75)} processes "
                           f"or threads ({detail}: a fork bomb?) and was "
                           "killed")
    if run.killed_for == "memory":
        return False, {}, (f"held more than {int(options['max_run_memory_mb'])}"
                           f" MiB ({detail} in its processes, its /tmp, "
                           "/dev/shm and $TEST_TMPDIR, and shared memory) and "
                           "was killed")
    if run.killed_for == "cpu":
        return False, {}, (f"kept {detail} busy (more than "
                           f"{options['max_cpu_cores']:g} on average) and was "
                           "killed: it would starve the submissions graded "
                           "next to it")
    if run.killed_for == "confine":
        return False, {}, ("the grader could not start the run confined: "
                           + (run.watched.get("error") or
                              run.output.strip()[-300:]))
    if run.decoy_touched:
        return False, {}, ("wrote its own test report to $XML_OUTPUT_FILE: "
                           "results forged, not counted")
    status = run.status
    watchdog = "DEADLOCK?" in run.output
    if watchdog and (status == 124 or status < 0 or status > 128):
        cause = re.search(r"^likely cause: .*$", run.output, re.M)
        return False, {}, ("stopped by the kata watchdog (a deadlock or a "
                           "hang)" + (f"; {cause.group(0)}" if cause else ""))
    if status < 0 or status > 128:
        number = -status if status < 0 else status - 128
        return False, {}, f"crashed: killed by {signal_name(number)}"
    if run.marker_left:
        return False, {}, (f"the test binary ended (exit code {status}) "
                           "before GoogleTest finished")
    cases, problem = read_gtest_xml(run.report)
    if cases is None:
        return False, {}, (f"the test binary exited with code {status} "
                           f"and {problem}")
    seen = {}
    for name, problems in cases:
        seen.setdefault(name, []).append(problems)
    missing = [name for name in expected if name not in seen]
    doubled = [name for name in expected if len(seen.get(name, [])) > 1]
    if missing or doubled:
        return False, {}, ("GoogleTest's report lacks expected cases "
                           f"({', '.join((missing + doubled)[:3])}) or names "
                           "one twice")
    any_failed = any(problems for name, problems in cases)
    if status not in (0, 1) or (status == 0) == any_failed:
        return False, {}, (f"exit code {status} contradicts the report "
                           f"({'failures' if any_failed else 'no failures'})")
    results = {}
    for name in expected:
        problems = seen[name][0]
        contradiction = run.progress.disagrees(name, not problems)
        if contradiction:
            return False, {}, (f"the report says {name} "
                               f"{'failed' if problems else 'passed'} but "
                               f"{contradiction}: {FORGED}")
        message = "\n".join(problems)[:MAX_MESSAGE]
        results[name] = (not problems, message)
    return True, results, ""


def write_report(path, target, run_id, mode, results, notes, elapsed,
                 facts=None):
    root = ElementTree.Element("testsuites", {
        "name": GRADER_NAME, "run_id": run_id, "target": target,
        "mode": mode, "time": f"{elapsed:.2f}", **(facts or {})})
    for name, (verdict, message, seconds) in results.items():
        suite, _, case = name.partition(".")
        element = ElementTree.SubElement(root, "testcase", {
            "classname": suite, "name": case, "verdict": verdict,
            "time": f"{seconds:.3f}"})
        if verdict != "passed":
            failure = ElementTree.SubElement(element, "failure", {
                "message": message.splitlines()[0][:200] if message else
                verdict})
            failure.text = message
    for note in notes:
        ElementTree.SubElement(root, "note").text = note
    temporary = path + ".grader"
    ElementTree.ElementTree(root).write(temporary, encoding="utf-8",
                                        xml_declaration=True)
    os.replace(temporary, path)


def main(argv):
    make_undumpable()
    options, command = parse_args(argv)
    run_id = os.environ.pop("GRADER_RUN_ID", "")
    target = os.environ.get("TEST_TARGET", "")
    with open(options["expected"]) as f:
        entry = json.load(f).get(target) or {}
    expected = entry.get("cases")
    if entry.get("time_limit"):
        options["time_limit"] = float(entry["time_limit"])
    decoy = os.environ.get("XML_OUTPUT_FILE") or os.path.join(
        os.environ.get("TEST_UNDECLARED_OUTPUTS_DIR", "."), "test.xml")
    started = time.monotonic()
    notes = []
    if not expected:
        write_report(decoy, target, run_id, "none", {},
                     [f"no expected test cases for {target}"], 0.0)
        return 0
    env = {key: value for key, value in os.environ.items()
           if not key.startswith(("GRADER_", "GTEST_", "TESTBRIDGE_"))}
    if os.path.lexists(decoy):
        os.unlink(decoy)
    budget = options["time_limit"]

    def remaining():
        return budget - (time.monotonic() - started)

    print(f"[grader] {target}: running {len(expected)} test cases", flush=True)
    suite = execute(options, command, [], max(5.0, remaining() / 2), env)
    sys.stdout.write(suite.output)
    clean, results, why = judge(suite, expected, options)
    final = {}
    if clean:
        mode = "suite"
        share = suite.elapsed / max(1, len(expected))
        for name in expected:
            passed, message = results[name]
            final[name] = ("passed" if passed else "failed", message, share)
    else:
        mode = "per-case"
        notes.append(f"the whole-suite run was not usable: {why}; every case "
                     "was then run on its own")
        print(f"\n[grader] the whole-suite run was not usable: {why}\n"
              "[grader] running every case on its own", flush=True)
        for name in expected:
            left = remaining()
            if left < 1:
                final[name] = ("not run", "not run: the topic's time limit "
                               "was used up by earlier cases", 0.0)
                continue
            run = execute(options, command, [f"--gtest_filter={name}"],
                          min(options["case_limit"], left), env)
            ok, results, why = judge(run, [name], options)
            if ok:
                passed, message = results[name]
                final[name] = ("passed" if passed else "failed", message,
                               run.elapsed)
            else:
                excerpt = run.output[-1500:]
                final[name] = ("error", f"{why}\n--- end of its output ---\n"
                               f"{excerpt}", run.elapsed)
            verdict = final[name][0]
            print(f"[grader] {name}: {verdict}"
                  + (f" ({why})" if not ok else ""), flush=True)
            if verdict != "passed":
                sys.stdout.write(re.sub(r"(?m)^", "    ", run.output[-3000:]))
                print()
    if suite.decoy_touched or any("XML_OUTPUT_FILE" in value[1]
                                  for value in final.values()):
        notes.append("tampering: the test binary wrote to $XML_OUTPUT_FILE")
    if FORGED in why or any(FORGED in value[1] for value in final.values()):
        notes.append("tampering: GoogleTest's report contradicts its own "
                     "output (forged in the test process)")
    peak = suite.watched.get("peaks", {})
    facts = {"landlock": str(suite.watched.get("landlock", 0)),
             "peak_memory_mb": f"{peak.get('memory_mb', 0):.0f}",
             "peak_threads": str(peak.get("processes", 0))}
    write_report(decoy, target, run_id, mode, final, notes,
                 time.monotonic() - started, facts)
    passed = sum(1 for value in final.values() if value[0] == "passed")
    print(f"\n[grader] {target}: {passed}/{len(expected)} cases passed "
          f"({mode} run)", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
