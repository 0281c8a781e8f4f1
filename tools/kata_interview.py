"""tools/kata interview: a timed attempt at a kata from a blank stub.

Where the attempt lives, and why there: .kata/interview/<topic>/ is a copy
of exercises/<topic>/ (its BUILD file, headers and README as committed, and
the blank stub of each .cc file) inside this workspace, so Bazel builds it
as a package of its own, //.kata/interview/<topic>:<topic>_test, against the
same tests/<topic> sources. That is how tools/gate already builds its
mutants (gate_out/), and it works with the Bazel 4.2.3 here: the scratch
package shares the Bazel server, its output base and everything already
compiled (GoogleTest, the support library), so only the stub and one test
source compile again (about 10 s). A git worktree would be a second
workspace: a second output base, GoogleTest compiled again, a second Bazel
server on a shared 2-core machine, and the committed version of the
learner's exercises instead of a blank stub. Nothing in exercises/ is
touched, and the copy has no hints.md: hints are off (tools/kata hint
refuses the topic while the attempt runs).

At the end (q, the deadline, Ctrl-C, or end of input) the tests run once
more, the stage table and the time taken are shown and recorded in the
history (.kata/state.json), and the attempt's .cc files are kept in
.kata/interviews/<topic>-<time>/; the scratch package is removed, so
`bazel test //...` never builds a finished attempt.

Python 3 standard library only.
"""

import os
import select
import shutil
import time

import kata_results
import kata_stub
from kata_cli import Failure, clock, describe_interview, when

SCRATCH = os.path.join(".kata", "interview")
KEPT = os.path.join(".kata", "interviews")
REMINDER = 300  # seconds between "N minutes left" lines while waiting


def package_of(topic):
    return os.path.join(SCRATCH, topic)


def label_of(topic):
    return f"//{package_of(topic)}:{topic}_test"


def testlogs_of(kata, topic):
    return kata_results.testlogs_folder(kata.root, package_of(topic), topic)


def prepare(kata, topic):
    """Writes the scratch package; returns its .cc files (repo-relative)."""
    try:
        blank = kata_stub.stubs(kata.root, topic)
        listed = kata_stub.git(kata.root, "ls-files", "--",
                               f"exercises/{topic}/").decode().split("\n")
    except kata_stub.StubError as error:
        raise Failure(str(error) + ".") from None
    package = package_of(topic)
    folder = os.path.join(kata.root, package)
    if os.path.exists(folder):
        keep_attempt(kata, topic, "leftover")
    files = {}
    for path in (p for p in listed if p):
        name = os.path.basename(path)
        if name == "hints.md" or path.endswith(".cc") or "/" in path[
                len(f"exercises/{topic}/"):]:
            continue
        files[os.path.join(package, name)] = kata_stub.git(
            kata.root, "show", f"HEAD:{path}")
    sources = []
    for path, stub in blank.items():
        # The stub's messages and comments name its own path: point them at
        # the copy the learner edits now.
        text = stub.replace(f"exercises/{topic}/".encode(),
                            f"{package}/".encode())
        target = os.path.join(package, os.path.basename(path))
        files[target] = text
        sources.append(target)
    kata_stub.write(kata.root, files)
    return sources


def keep_attempt(kata, topic, reason):
    """Moves the scratch package's .cc files to .kata/interviews/ and removes
    the package; returns the folder they went to (or None)."""
    folder = os.path.join(kata.root, package_of(topic))
    if not os.path.isdir(folder):
        return None
    sources = [os.path.join(package_of(topic), name)
               for name in sorted(os.listdir(folder)) if name.endswith(".cc")]
    kept = None
    if sources:
        try:
            kept = kata_stub.backup(kata.root, os.path.join(kata.root, KEPT),
                                    f"{topic}-{reason}" if reason else topic,
                                    sources)
        except kata_stub.StubError as error:
            # The attempt stays where it is rather than being lost.
            raise Failure(str(error) + f"; the attempt stays in "
                          f"{package_of(topic)}.") from None
    shutil.rmtree(folder, ignore_errors=True)
    return kept


def run_tests(kata, topic, sources, started):
    """Runs the attempt's tests; returns (fresh Results or None, built)."""
    code, output = kata.run_bazel(
        [kata.bazel, "test", "--test_output=summary", "--nocache_test_results",
         "--", label_of(topic)])
    built = "FAILED TO BUILD" not in output and "NO STATUS" not in output
    results = kata_results.read(
        topic, kata.root, folder=testlogs_of(kata, topic),
        sources=[os.path.join(kata.root, s) for s in sources])
    if results is None or results.when < started or not built:
        return None, built and code in (0, 3)
    return results, True


def show(kata, topic, results, built):
    if results is None:
        kata.say(f"{topic}: {'did not build (the messages are above)' if not built else 'no test report'}")
        return
    kata.stage_table(topic, results, {})


def wait_for_line(stream, seconds):
    """A line from `stream`, None when `seconds` pass first, "" at its end."""
    try:
        ready, _, _ = select.select([stream], [], [], seconds)
    except (ValueError, OSError, TypeError):
        ready = [stream]  # not a real file (a test's StringIO): just read
    if not ready:
        return None
    line = stream.readline()
    return line if line else ""


def run(kata, topic, minutes):
    running = kata.running_interview()
    if running:
        raise Failure(f"an interview of {running['topic']} is already running "
                      f"(started {when(running['started'], kata.now())}); "
                      f"finish it first.")
    sources = prepare(kata, topic)
    started = kata.now()
    allowed = minutes * 60
    with kata.state.edit() as data:
        data["interview"] = {"topic": topic, "pid": os.getpid(),
                             "started": started, "minutes": minutes,
                             "package": package_of(topic)}
    kata.say(f"Interview: {topic}, {clock(allowed)} on the clock, hints off.")
    kata.say(f"Your attempt: {', '.join(sources)} (a blank stub; "
             f"exercises/{topic}/ is not touched).")
    kata.say(f"The contract is in exercises/{topic}/*.h and the stages in "
             f"exercises/{topic}/README.md.")
    kata.say("Edit the copy in another window, then here: Enter runs its "
             "tests, q then Enter finishes, Ctrl-C stops (still recorded).")
    ended = None
    results, built = None, True
    try:
        while ended is None:
            left = started + allowed - kata.now()
            if left <= 0:
                ended = "time up"
                break
            line = wait_for_line(kata.stdin, min(left, REMINDER))
            if line is None:
                if started + allowed - kata.now() > 0:
                    kata.say(f"{clock(started + allowed - kata.now())} left.")
                continue
            if line == "" or line.strip().lower() in ("q", "quit", "done"):
                ended = "finished"
                break
            try:
                results, built = run_tests(kata, topic, sources, started)
            except Failure as failure:
                if failure.code == 130:
                    raise KeyboardInterrupt from None
                raise
            show(kata, topic, results, built)
            kata.say(f"{clock(max(0, started + allowed - kata.now()))} left.")
    except KeyboardInterrupt:
        ended = "stopped with Ctrl-C"
        kata.say()
    seconds = min(kata.now() - started, allowed)
    kata.say(f"Interview over ({ended}) after {clock(seconds)}. Running the "
             f"tests once more for the final table (Ctrl-C skips it).")
    try:
        results, built = run_tests(kata, topic, sources, started)
    except (KeyboardInterrupt, Failure):
        kata.say("(final run skipped: the last table you saw stands)")
    return record(kata, topic, started, minutes, seconds, ended, results, built)


def record(kata, topic, started, minutes, seconds, ended, results, built):
    kept = keep_attempt(kata, topic, "")
    entry = {"topic": topic, "started": started, "minutes": minutes,
             "seconds": round(seconds), "ended": ended, "built": built,
             "attempt": kata.relative(kept) if kept else None}
    if results is not None:
        entry["stages_done"] = results.stages_done
        entry["stages_total"] = len(results.rows)
        entry["stages"] = {row.stage.suite: [row.passed, row.total]
                           for row in results.rows}
    with kata.state.edit() as data:
        data["interviews"].append(entry)
        data.pop("interview", None)
    kata.say()
    show(kata, topic, results, built)
    kata.say()
    kata.say(f"Recorded: {describe_interview(entry)}.")
    if kept:
        kata.say(f"Your attempt is kept in {kata.relative(kept)}/.")
    return 0


def settle_abandoned(kata, running):
    """Records an interview whose process is gone, keeping its attempt."""
    topic = running.get("topic", "")
    started = running.get("started", 0)
    results = None
    if topic:
        found = kata_results.read(topic, kata.root,
                                  folder=testlogs_of(kata, topic), sources=[])
        if found is not None and found.when >= started:
            results = found
    kept = keep_attempt(kata, topic, "") if topic else None
    entry = {"topic": topic, "started": started,
             "minutes": running.get("minutes", 0),
             "seconds": round(min(kata.now() - started,
                                  running.get("minutes", 0) * 60)),
             "ended": "abandoned (its process was gone)", "built": None,
             "attempt": kata.relative(kept) if kept else None}
    if results is not None:
        entry["stages_done"] = results.stages_done
        entry["stages_total"] = len(results.rows)
    with kata.state.edit() as data:
        data["interviews"].append(entry)
        data.pop("interview", None)
    kata.note(f"note: the interview of {topic} started "
              f"{when(started, kata.now())} ended without its terminal; it "
              f"is recorded as abandoned" +
              (f" and its attempt kept in {kata.relative(kept)}/."
               if kept else "."))
