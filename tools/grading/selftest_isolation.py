"""The grader's self-test, second part: the class as a whole.

What tools/grading/selftest.py checks against these fixtures (made by
fixtures.py): a classmate graded at the same time loses nothing to an
attacker, nothing of the grader's or of another student's can be read, forging
is flagged where it cannot be stopped, honest work in odd packaging keeps its
points, odd names never cost anyone a report; and, run directly, the run
monitor (confine.py) stops CPU and memory hogs and caps the run's tmpfs.
"""

import json
import os
import re
import shutil
import stat
import subprocess
import tempfile
import time

from grading import accounts
from grading import confine
from grading import fixtures
from grading import reports
from grading import submissions as subs

HOLD_SECONDS = 90   # the least 1_hog holds its budgets (from the run start)
# The most: the hog holds inside its pipe test binary, whose whole-suite run
# the grader ends after half the topic's 240 s (run_test.py); that run
# starts about 35 s after the classmates run does.
MAX_HOLD_SECONDS = 140
# The topics of the classmates run: those whose tests spend what the hog
# holds (POSIX queues: message_queue, mailbox; pipe buffers and pending
# signals: pipe; shared memory: shared_memory). Sockets spend none of it and
# would add 40 s of tests that the hold must outlast.
CLASSMATES_TOPICS = ("pipe", "message_queue", "shared_memory", "mailbox")
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))


def lost(student, topic="pipe"):
    return sorted(c["name"] for c in student["topics"][topic]["cases"]
                  if c["verdict"] != "passed")


def messages(student, topics=None):
    return "\n".join(c["message"] for t, e in student.get("topics", {}).items()
                     if topics is None or t in topics for c in e["cases"])


def full_pipe(student):
    entry = student.get("topics", {}).get("pipe")
    return bool(entry) and entry["score"] == entry["max"] > 0


def check_main_class(checks, data, out, limits):
    """The fixtures of the main class run that issue 20 added."""
    by_name = {s["student"]: s for s in data["students"]}
    ref = by_name["reference"]
    checks.report(not ref["warnings"], "no false flags",
                  "the reference solutions raise no \"worth a look\" line in "
                  "any view (source, preprocessed, compiled)"
                  if not ref["warnings"] else f"flagged: {ref['warnings'][:3]}")
    finder = by_name["exec_reference"]
    said = messages(finder, ["pipe"])
    walked = re.search(r"\[probe walked (\d+) entries, found (\d+)", said)
    checks.report(finder["topics"]["pipe"]["score"] == 0 and
                  "[probe PASSING" not in said and walked is not None,
                  "exec_reference", "looked for a passing test binary to "
                  "become: " + (f"{walked.group(1)} entries readable, "
                                f"{walked.group(2)} executables, none passes"
                                if walked else "no report") +
                  f", score {finder['topics']['pipe']['score']:g}")
    forge = by_name["forge_in_process"]
    deep = [w for w in forge["warnings"] if "(compiled)" in w or
            "after the preprocessor" in w]
    checks.report(bool(deep), "forge_in_process",
                  f"GoogleTest's protocol replayed in-process scores "
                  f"{forge['score']:g}/{forge['max']:g} (cannot be stopped) "
                  f"and is flagged: {deep[0][:90] if deep else 'NOT flagged'}")
    hidden = by_name["hidden_macros"]
    keyword = [w for w in hidden["warnings"]
               if "redefines a C++ keyword (after the preprocessor)" in w]
    framework = [w for w in hidden["warnings"]
                 if "(compiled): uses the test framework" in w]
    plain = [w for w in hidden["warnings"] if "C++ keyword" in w and
             "preprocessor" not in w]
    checks.report(hidden["score"] == 0 and keyword and framework and
                  not plain, "hidden_macros",
                  "#def\\ine pri\\vate public and a hand-declared GoogleTest "
                  "class: invisible line by line, flagged after the "
                  "preprocessor and in the object, score 0")
    hog = messages(by_name["tmpfs_hog"], ["pipe"])
    wrote = {m.group(2): (int(m.group(1)), m.group(3)) for m in re.finditer(
        r"\[probe wrote (\d+) MiB to (\S+), then ([^\]]+)\]", hog)}
    sysv = re.search(r"created (\d+) MiB of System V shared memory, then "
                     r"([^\]]+)\]", hog)
    capped = (len(wrote) == 3 and all(mib <= limits["tmpfs_mb"]
                                      for mib, _ in wrote.values()) and
              sysv is not None and int(sysv.group(1)) <=
              limits["run_memory_mb"])
    checks.report(capped, "tmpfs_hog", "; ".join(
        f"{os.path.basename(k) or k}: {v[0]} MiB ({v[1]})"
        for k, v in wrote.items()) + (f"; System V: {sysv.group(1)} MiB "
                                      f"({sysv.group(2)})" if sysv else ""))
    capacity = fixtures.cases_calling(ROOT, "MeasureCapacity")
    memory = by_name["memory_hog"]
    checks.report(lost(memory) == capacity and "MiB" in messages(
        memory, ["pipe"]), "memory_hog", "3 x 512 MiB in MeasureCapacity: "
                  f"killed for memory, lost {lost(memory)}")
    cpu = by_name["cpu_hog"]
    why = next((c["message"].splitlines()[0] for c in
                cpu["topics"]["pipe"]["cases"] if c["verdict"] != "passed"),
               "")
    checks.report(lost(cpu) == capacity, "cpu_hog",
                  f"6 spinning threads: only its cases lost ({why[:80]})")
    for name in ("zip_writestr", "zip_windows_noext"):
        s = by_name.get(name, {})
        checks.report(full_pipe(s) and not s.get("error"), name,
                      "honest zip kept its points: " +
                      (f"{s['topics']['pipe']['score']:g}" if s.get("topics")
                       else str(s.get("error"))))
    tar = by_name["tar_links"]
    left_out = dict(tar.get("skipped", []))
    checks.report(full_pipe(tar) and len(left_out) == 2, "tar_links",
                  f"full pipe marks; left out and listed: {left_out}")
    private = by_name["url_root_only"]
    checks.report(not private["topics"] and "could not read" in
                  (private.get("error") or ""), "url_root_only",
                  f"refused: {(private.get('error') or '')[:110]}")
    other = by_name["url_other_user"]
    # Without root the fixture cannot give the .url to another user, and the
    # grader reads every .url as itself: it must refuse a repository that
    # not every user may read (submissions.clone_local).
    expected = (str(fixtures.OTHER_USER) if os.geteuid() == 0
                else subs.EVERYONE)
    checks.report(not other["topics"] and
                  expected in (other.get("error") or ""),
                  "url_other_user",
                  f"read as its owner and refused: "
                  f"{(other.get('error') or '')[:100]}")
    odd_name = subs.student_name(os.fsdecode(b"odd-\xff\xfe-name"))
    odd = by_name.get(odd_name, {})
    names = " ".join(p for p, _ in odd.get("ignored", []))
    page = os.path.join(out, "students", f"{odd.get('report', '?')}.md")
    checks.report(full_pipe(odd) and os.path.isfile(page) and
                  "\\xe9" in names and "\\x1b" in names, "odd_name",
                  f"{odd_name}: full pipe marks, page written, names shown "
                  "escaped" if odd else "not graded")


def check_privacy(checks, out):
    """Reports readable by their owner only."""
    loose = []
    for folder, dirs, files in os.walk(out):
        if os.path.relpath(folder, out).split(os.sep)[0] == ".grader":
            dirs[:] = []
            continue
        for name in files:
            mode = os.stat(os.path.join(folder, name)).st_mode
            if mode & 0o077:
                loose.append(name)
    students = stat.S_IMODE(os.stat(os.path.join(out, "students")).st_mode)
    checks.report(not loose and students == 0o700, "private reports",
                  "every report file 0600, students/ 0700" if not loose
                  else f"readable by others: {loose[:5]}")


class Unprintable:
    def __str__(self):
        raise ValueError("no text")

    __repr__ = __str__


def check_report_failure(checks):
    """One student's report that cannot be written costs nobody else."""
    folder = tempfile.mkdtemp(prefix="grader-reports-", dir="/var/tmp")
    good = {"student": "good", "topics": {}, "score": 0.0, "max": 0.0,
            "warnings": [], "ignored": [], "skipped": [], "missing": [],
            "seconds": 0}
    bad = dict(good, student="bad", warnings=[Unprintable()])
    after = dict(good, student="after")
    results = [good, bad, after]
    reports.write_all(folder, results, [], "summary", {})
    written = sorted(os.listdir(os.path.join(folder, "students")))
    ok = (bad.get("report_error") and "good.md" in written and
          "after.md" in written and all(os.path.exists(os.path.join(
              folder, f)) for f in ("grades.md", "grades.csv",
                                    "grades.json")))
    checks.report(bool(ok), "report failure", "a student whose page fails "
                  "(recorded: " + str(bad.get("report_error"))[:40] + "); "
                  "the others' pages and the class files still written")
    subprocess.run(["rm", "-rf", folder])


# ----------------------------------------------------- the run monitor
def run_confined(spec, command, account, timeout=60):
    """Runs confine.py directly (no Bazel): (status JSON, output)."""
    with tempfile.TemporaryDirectory(prefix="ipc-katas-monitor-") as folder:
        # The account must be able to read confine.py, and the clone may sit
        # where only its owner can enter (root's home is 0700).
        os.chmod(folder, 0o755)
        script = os.path.join(folder, "confine.py")
        shutil.copyfile(confine.__file__, script)
        os.chmod(script, 0o644)
        return run_confine_script(script, spec, command, account, timeout)


def run_confine_script(script, spec, command, account, timeout):
    read_end, write_end = os.pipe()
    argv = account.prefix() + ["/usr/bin/python3", "-I", "-S", script,
                               confine.encode_spec(spec), str(write_end),
                               "--"] + \
        command
    process = subprocess.Popen(argv, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT,
                               pass_fds=(write_end,), cwd="/",
                               env={"PATH": "/usr/bin:/bin",
                                    "TEST_TMPDIR": "/nonexistent"})
    os.close(write_end)
    try:
        output, _ = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        output, _ = process.communicate()
    status = os.read(read_end, 1 << 16)
    os.close(read_end)
    try:
        return json.loads(status or b"{}"), output.decode("utf-8", "replace")
    except ValueError:
        return {}, output.decode("utf-8", "replace")


def not_started(status, output):
    """What to add to a monitor check's line when the run never started."""
    return "" if status else (" - the monitor did not start the run: " +
                              output.strip()[:300])


def check_monitor(checks, secret):
    """The run monitor on its own: CPU, memory, tmpfs, Landlock."""
    account = accounts.Account(accounts.DEFAULT_BASE + 2,
                               accounts.DEFAULT_BASE + 2) \
        if os.geteuid() == 0 else accounts.current()
    base = {"binary": "/bin/sh", "grader_dir": "/tmp/.grader"}
    started = time.monotonic()
    status, output = run_confined(dict(base, cpu_cores=0.5, cpu_window=2.0),
                             ["/bin/sh", "-c", "yes >/dev/null & "
                              "yes >/dev/null & yes >/dev/null & wait"],
                             account)
    checks.report(status.get("killed_for") == "cpu", "monitor: cpu",
                  f"three busy processes, limit 0.5 cores: stopped for "
                  f"{status.get('killed_for')} ({status.get('detail')}) after "
                  f"{time.monotonic() - started:.1f} s"
                  + not_started(status, output))
    status, output = run_confined(
        dict(base, memory_mb=128),
        ["/usr/bin/python3", "-c", "import time; b = bytearray(300 << 20); "
         "b[::4096] = b'x' * len(b[::4096]); time.sleep(30)"], account)
    checks.report(status.get("killed_for") == "memory", "monitor: memory",
                  f"300 MiB against a 128 MiB budget: stopped for "
                  f"{status.get('killed_for')} ({status.get('detail')})"
                  + not_started(status, output))
    status, output = run_confined(
        dict(base, tmpfs_mb=16),
        ["/bin/sh", "-c", "dd if=/dev/zero of=/tmp/fill bs=1M count=64 "
         "2>&1; dd if=/dev/zero of=/dev/shm/fill bs=1M count=64 "
         "2>&1"], account)
    sizes = [int(n) >> 20 for n in re.findall(r"(\d+) bytes", output)]
    checks.report(len(sizes) == 2 and max(sizes) <= 16 and
                  "No space left" in output, "monitor: tmpfs",
                  f"64 MiB into a 16 MiB /tmp and /dev/shm: wrote {sizes} "
                  "MiB, then no space left" + not_started(status, output))
    status, output = run_confined(
        base, ["/bin/sh", "-c", f"cat /etc/hostname >/dev/null && echo "
               f"system-ok; cat {secret} 2>&1 || true; ls / 2>&1 | head -1"],
        account)
    landlock = status.get("landlock", 0)
    denied = "Permission denied" in output and "system-ok" in output
    # An empty status means the monitor never started the run: no Landlock
    # seen then proves nothing.
    checks.report(bool(status) and (denied or not landlock),
                  "monitor: landlock",
                  f"Landlock ABI {landlock}: system files readable, a "
                  f"world-readable file of the grader's is not"
                  if landlock else "this kernel has no Landlock: "
                  "confinement by namespaces and blocked paths only"
                  if status else "the monitor did not start the run: "
                  + output.strip()[:300])


# --------------------------------------------------- the classmates run
def lost_cases(student):
    """Names the cases a student lost, with the first line of each message,
    so that a failed check can be understood from the log alone."""
    def gist(message):
        lines = [line for line in message.splitlines() if line.strip() and
                 line != "unknown file" and not line.endswith(": Failure")]
        return (lines or [""])[0][:300]
    lost = [f"{c['name']} ({c['verdict']}): {gist(c['message'])}"
            for c in cases_lost(student)]
    return "".join("\n      lost " + line for line in lost[:5])


def cases_lost(student):
    return [c for e in student.get("topics", {}).values() for c in e["cases"]
            if c["verdict"] != "passed"]


# What a call says when a budget the kernel keeps per user is spent: mq_open
# (RLIMIT_MSGQUEUE), fork (RLIMIT_NPROC), sigqueue (RLIMIT_SIGPENDING),
# F_SETPIPE_SZ past pipe-user-pages, SHM_LOCK (RLIMIT_MEMLOCK), inotify.
BUDGET_ERRORS = ("Too many open files", "Resource temporarily unavailable",
                 "Operation not permitted", "Cannot allocate memory",
                 "No space left on device", "Too many processes")


def lost_to_a_budget(student):
    return [c["name"] for c in cases_lost(student)
            if any(error in c["message"] for error in BUDGET_ERRORS)]


def hold_seconds(class_grades):
    """How long (from the start of the classmates run) 1_hog holds: enough
    for 1_victim's whole run, estimated from the reference student's test
    times in the class run (the same tests): half as long again, plus a
    minute for the grader's start (about 25 s) and the victim's compile,
    which misses the cache. Measured in a fresh-clone CI: 38 s of reference
    tests in these topics, victim done 75-100 s after the start."""
    try:
        with open(class_grades) as f:
            students = json.load(f)["students"]
        reference = next(s for s in students if s["student"] == "reference")
        tests = sum(float(reference["topics"][t]["facts"]["seconds"])
                    for t in CLASSMATES_TOPICS)
    except (OSError, ValueError, KeyError, StopIteration):
        tests = 0
    return int(min(MAX_HOLD_SECONDS, max(HOLD_SECONDS, 1.5 * tests + 60)))


def hold_covered(data):
    """Whether 1_hog still held the budgets from before 1_victim's tests
    began until they ended, and when (epoch seconds) the victim's run ended.
    The hold ends at a time fixed when the class is made, so on a crowded
    machine the victim can outlast it: then the experiment proves nothing and
    is repeated with a longer hold (selftest.classmates)."""
    by_name = {s["student"]: s for s in data["students"]}
    victim = by_name.get("1_victim", {})
    held = re.search(r"\[probe hold from (\d+) to (\d+)\]",
                     messages(by_name.get("1_hog", {})))
    if not victim.get("started_at"):
        return False, None
    end = victim["started_at"] + victim["seconds"]
    tests = sum(float(e.get("facts", {}).get("seconds", 0))
                for e in victim["topics"].values())
    return bool(held and int(held.group(1)) <= end - tests and
                int(held.group(2)) >= end - 1), end


def check_classmates(checks, data, token):
    by_name = {s["student"]: s for s in data["students"]}
    victim = by_name.get("1_victim", {})
    hog = messages(by_name.get("1_hog", {}))
    # The victim keeps full marks, or loses at most one case to something
    # that is not a spent budget (a timing flake of a loaded machine, which
    # the line then names so that it can be found and fixed).
    lost = cases_lost(victim)
    full = bool(victim.get("topics")) and len(lost) <= 1 and not (
        lost_to_a_budget(victim))
    queues = re.search(r"\[probe held mq (\d+) queues, then ([^\]]+)\]", hog)
    pipes = re.search(r"\[probe held pipes \d+ holding (\d+) KiB\]", hog)
    covered = hold_covered(data)[0]
    spent = bool(queues and "Too many open files" in queues.group(2) and
                 pipes and int(pipes.group(1)) >= 60000)
    checks.report(bool(full and covered and spent), "classmates: budgets",
                  "1_victim scored " + (", ".join(
                      f"{t} {e['score']:g}/{e['max']:g}" for t, e in
                      victim.get("topics", {}).items()) or "nothing") +
                  " while 1_hog held every per-user budget (" +
                  (f"{queues.group(1)} queues until {queues.group(2)}, "
                   if queues else "no queues, ") +
                  (f"{pipes.group(1)} KiB of pipes" if pipes else "no pipes")
                  + ")" + ("" if covered else
                           "; the hold did NOT cover the victim's tests")
                  + lost_cases(victim))
    snoop = by_name.get("2_snoop", {})
    said = messages(snoop, ["pipe"])
    walked = re.search(r"walked (\d+) entries, read (\d+) files", said)
    found = re.findall(r"\[probe (FOUND[^\]]*|READ [^\]]*)\]", said)
    leaked = token in json.dumps(snoop, ensure_ascii=False)
    checks.report(bool(walked) and not found and not leaked and
                  snoop.get("topics", {}).get("pipe", {}).get("score") == 0,
                  "classmates: snoop", "searched every file it could read "
                  f"({walked.group(2) if walked else '?'} files) for "
                  "secret_keeper's secret and tried the earlier run's reports "
                  "by name: " + ("found nothing" if not found and not leaked
                                 else f"FOUND {found[:2]}"))
