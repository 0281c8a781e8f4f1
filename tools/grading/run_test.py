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
     agrees with the report) its results are taken;
  2. otherwise (a crash, exit(), a hang, a fork bomb, a forged report) it runs
     every expected case on its own, so that one broken case costs that case
     only;
  3. writes test.xml in its own format (root <testsuites name="ipc-katas-
     grader">, the grader's run id, one <testcase> per expected case) and
     exits 0, so Bazel's PASSED means "the wrapper finished", not "the tests
     passed".

Each run happens in a fresh user + PID + mount namespace (unshare): the
learner's processes cannot see, signal or trace this wrapper or Bazel's
test-setup.sh, and all of them die when the run ends. prlimit caps processes
(RLIMIT_NPROC is counted per user namespace), address space and file size;
the output is read through a pipe and capped.

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
import tempfile
import time
import xml.etree.ElementTree as ElementTree

GRADER_NAME = "ipc-katas-grader"
MAX_XML_BYTES = 8 << 20
MAX_MESSAGE = 4000


def parse_args(argv):
    options = {
        "expected": None,
        "time_limit": 240.0,
        "case_limit": 30.0,
        "max_processes": 256,
        "max_file_mb": 64,
        "max_memory_mb": 4096,
        "max_log_kb": 256,
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


def unshare_prefix():
    """The namespace launcher: new user, PID and mount namespaces."""
    help_text = subprocess.run(["unshare", "--help"], capture_output=True,
                               text=True).stdout
    mapping = ("--map-current-user" if "--map-current-user" in help_text
               else "--map-root-user")
    return ["unshare", "--user", mapping, "--pid", "--mount", "--mount-proc",
            "--fork", "--kill-child"]


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


def count_processes():
    return sum(1 for name in os.listdir("/proc") if name.isdigit())


class Run:
    """One execution of the test binary (the suite or one case)."""

    def __init__(self, status, output, elapsed, killed_for, report, marker,
                 decoy_touched):
        self.status = status          # exit status as the shell reports it
        self.output = output          # captured, capped text
        self.elapsed = elapsed
        self.killed_for = killed_for  # None, "time", "processes"
        self.report = report          # GoogleTest's XML, as read
        self.marker_left = os.path.lexists(marker)
        self.decoy_touched = decoy_touched


def execute(options, prefix, command, extra_args, limit, scratch, index, env,
            decoy):
    # GoogleTest writes its report into a pipe this wrapper reads, never into
    # a file: no earlier run can leave a forged report behind, and listing
    # $TEST_TMPDIR finds nothing to overwrite.
    folder = tempfile.mkdtemp(prefix=f"run{index}-", dir=scratch)
    marker = os.path.join(folder, "premature-exit")
    report_read, report_write = os.pipe()
    child_env = dict(env)
    child_env["TEST_PREMATURE_EXIT_FILE"] = marker
    limits = [
        "prlimit", f"--nproc={int(options['max_processes'])}",
        f"--as={int(options['max_memory_mb']) << 20}",
        f"--fsize={int(options['max_file_mb']) << 20}", "--core=0", "--"]
    # sh stays PID 1 of the new namespace, so the test runner is an ordinary
    # process (PID 1 ignores default-action signals such as SIGPIPE); the
    # command after it keeps sh from exec'ing the binary in its place.
    argv = (prefix + limits +
            ["/bin/sh", "-c", '"$@"; exit $?', "sh", command[0],
             f"--gtest_output=xml:/proc/self/fd/{report_write}"] +
            command[1:] + extra_args)
    baseline = count_processes()
    start = time.monotonic()
    child = subprocess.Popen(argv, stdin=subprocess.DEVNULL,
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                             env=child_env, start_new_session=True,
                             pass_fds=(report_write,))
    os.close(report_write)
    output = Output(int(options["max_log_kb"]) << 10)
    report = bytearray()
    streams = [child.stdout.fileno(), report_read]
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
            else:
                output.add(data)
        if killed_for is None:
            if time.monotonic() - start > limit:
                killed_for = "time"
            elif count_processes() - baseline > options["max_processes"] * 0.75:
                killed_for = "processes"
            if killed_for:
                # unshare --kill-child takes the namespace's PID 1 with it,
                # and the kernel then kills every process in the namespace.
                os.killpg(child.pid, signal.SIGKILL)
    child.stdout.close()
    os.close(report_read)
    status = child.wait()
    elapsed = time.monotonic() - start
    decoy_touched = os.path.lexists(decoy)
    if decoy_touched:
        os.unlink(decoy)
    return Run(status, output.text(), elapsed, killed_for, bytes(report),
               marker, decoy_touched)


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
    if run.killed_for == "processes":
        return False, {}, (f"started more than "
                           f"{int(options['max_processes'] * 0.75)} processes "
                           "(a fork bomb?) and was killed")
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
        message = "\n".join(problems)[:MAX_MESSAGE]
        results[name] = (not problems, message)
    return True, results, ""


def write_report(path, target, run_id, mode, results, notes, elapsed):
    root = ElementTree.Element("testsuites", {
        "name": GRADER_NAME, "run_id": run_id, "target": target,
        "mode": mode, "time": f"{elapsed:.2f}"})
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
        expected = json.load(f).get(target)
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
    scratch = tempfile.mkdtemp(prefix="grader-",
                               dir=os.environ.get("TEST_TMPDIR"))
    prefix = unshare_prefix()
    budget = options["time_limit"]

    def remaining():
        return budget - (time.monotonic() - started)

    print(f"[grader] {target}: running {len(expected)} test cases", flush=True)
    suite = execute(options, prefix, command, [], max(5.0, remaining() / 2),
                    scratch, 0, env, decoy)
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
        for index, name in enumerate(expected, start=1):
            left = remaining()
            if left < 1:
                final[name] = ("not run", "not run: the topic's time limit "
                               "was used up by earlier cases", 0.0)
                continue
            run = execute(options, prefix, command,
                          [f"--gtest_filter={name}"],
                          min(options["case_limit"], left), scratch, index,
                          env, decoy)
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
    write_report(decoy, target, run_id, mode, final, notes,
                 time.monotonic() - started)
    passed = sum(1 for value in final.values() if value[0] == "passed")
    print(f"\n[grader] {target}: {passed}/{len(expected)} cases passed "
          f"({mode} run)", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
