"""Unit tests of tools/timeline_compare.py (run by tools/gate with the kata
tool's tests): python3 -m unittest tools/timeline_compare_test.py"""

import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import timeline_compare as tc  # noqa: E402

TITLE = ("what your code did (every process of this test; KATA_TRACE=0 hides "
         "this, KATA_TRACE=1 shows it for passing tests too):")
HEADER = ("      ms  runner (pid 12)" + " " * 49 + "child 1 (pid 17)")
CHILD = " " * 64  # the child's column starts 64 characters in


def block(runner, child, held_runner="none it opened",
          held_child="3 [read end of pipe #1]"):
    """A two-column block as trace.cc prints it: rows are (ms, text)."""
    rows = sorted([(ms, text) for ms, text in runner] +
                  [(ms, CHILD + text) for ms, text in child])
    lines = [TITLE, HEADER] + [f"{ms:8.3f}  {text}" for ms, text in rows]
    lines += ["descriptors each process still held at its last call:",
              f"  runner (pid 12): {held_runner}",
              f"  child 1 (pid 17): {held_child}"]
    return "\n".join(lines)


RUNNER = [
    (0.0, "pipe2(O_CLOEXEC) = 3 [read end of pipe #1], 4 [write end of "
          "pipe #1]"),
    (0.1, "fork() = 17 (the child's pid)"),
    (0.2, "close(3 [read end of pipe #1]) = 0"),
    (0.3, 'write(4 [write end of pipe #1], 12 bytes "hello, child") = 12'),
    (0.4, "close(4 [write end of pipe #1]) = 0"),
    (9.8, "waitpid(17) = 17 (exited 0)"),
]
CHILD_ROWS = [
    (0.5, "fork() = 0 (in the child)"),
    (0.6, "close(4 [write end of pipe #1]) = 0"),
    (0.7, 'read(3 [read end of pipe #1], 12 bytes "hello, child") = 12'),
    (0.8, "_exit(0)"),
]
REFERENCE = block(RUNNER, CHILD_ROWS)


def load_gate():
    """tools/gate (no .py suffix) as a module: its log reader."""
    import importlib.machinery
    import importlib.util
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "gate")
    loader = importlib.machinery.SourceFileLoader("gate", path)
    spec = importlib.util.spec_from_loader("gate", loader)
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module


class GateLogs(unittest.TestCase):
    def test_a_hung_tests_timeline_after_its_failed_line_is_read(self):
        # A test the watchdog could not stop prints its timeline after its
        # FAILED line, when the runner starts again (resume.cc).
        log = "\n".join([
            "[ RUN      ] Suite.Hangs",
            "[  FAILED  ] Suite.Hangs (deadline exceeded; the test runner "
            "stays blocked, so the run starts again after this test)",
            "hint: this is Stage 3",
            "", REFERENCE,
            "[ RESUMED  ] after Suite.Hangs could not be stopped",
            "[ RUN      ] Suite.Fails", REFERENCE.replace("pid 17", "pid 18"),
            "[  FAILED  ] Suite.Fails (3 ms)",
            "[ RUN      ] Suite.Passes",
            "[       OK ] Suite.Passes (1 ms)", ""])
        blocks = load_gate().timelines_by_test(log, True)
        self.assertEqual(sorted(blocks), ["Suite.Fails", "Suite.Hangs"])
        self.assertIn("pid 17", blocks["Suite.Hangs"])
        self.assertIn("pid 18", blocks["Suite.Fails"])


class Divergence(unittest.TestCase):
    def test_the_same_calls_do_not_diverge(self):
        self.assertEqual(tc.divergences(REFERENCE, REFERENCE), [])
        self.assertIn("no divergence", tc.render(REFERENCE, REFERENCE))

    def test_numbers_that_change_each_run_do_not_count(self):
        other = REFERENCE.replace("pid 17", "pid 90").replace(
            "= 17", "= 90").replace("(17)", "(90)").replace("3 [", "5 [")
        self.assertEqual(tc.divergences(REFERENCE, other), [])

    def test_a_wait_without_a_status_returns_a_pid_that_does_not_count(self):
        # waitpid(pid, nullptr, 0) prints no status after the pid it
        # returns: that pid still changes from run to run.
        ours = REFERENCE.replace("waitpid(17) = 17 (exited 0)",
                                 "waitpid(17) = 17")
        theirs = ours.replace("pid 17", "pid 90").replace(
            "= 17", "= 90").replace("(17)", "(90)")
        self.assertEqual(tc.divergences(ours, theirs), [])

    def test_a_missing_close_is_the_first_divergence(self):
        # The child keeps the write end and hangs in read; so does the
        # runner's waitpid. The child's missing close comes first in the
        # reference's order, so it is the line that names the mistake.
        hung_runner = RUNNER[:-1] + [
            (5001.0, "BLOCKED in waitpid(pid 17) when the watchdog stopped "
                     "the test"),
            (5001.8, "waitpid(17) = 17 (killed by SIGKILL)")]
        hung_child = [CHILD_ROWS[0], (5001.0, "BLOCKED in read(3 [read end of "
                                      "pipe #1]) when the watchdog stopped "
                                      "the test")]
        yours = block(hung_runner, hung_child)
        first = tc.render(REFERENCE, yours).splitlines()[0]
        self.assertIn("child 1, step 2", first)
        self.assertIn("close(N [write end of pipe #1])", first)
        self.assertIn("BLOCKED in read", first)
        processes = [d[0] for d in tc.divergences(REFERENCE, yours)]
        self.assertEqual(processes, ["child 1", "runner"])

    def test_reads_may_split_differently(self):
        split = CHILD_ROWS[:2] + [
            (0.7, "read(3 [read end of pipe #1]) x2 = 12 bytes in all")
        ] + CHILD_ROWS[3:]
        self.assertEqual(tc.divergences(REFERENCE, block(RUNNER, split)), [])

    def test_a_failed_transfer_is_a_different_step(self):
        failed = RUNNER[:3] + [
            (0.3, "write(4 [write end of pipe #1], 12 bytes) = -1 EPIPE")
        ] + RUNNER[4:]
        found = tc.divergences(REFERENCE, block(failed, CHILD_ROWS))
        self.assertEqual([(d[0], d[1]) for d in found], [("runner", 3)])
        self.assertIn("EPIPE", tc.sentence(*found[0]))

    def test_interleaving_between_processes_does_not_count(self):
        late_child = [(ms + 50, text) for ms, text in CHILD_ROWS]
        self.assertEqual(tc.divergences(REFERENCE, block(RUNNER, late_child)),
                         [])

    def test_a_call_the_reference_never_makes(self):
        extra = CHILD_ROWS[:3] + [(0.75, "close(3 [read end of pipe #1]) = 0"),
                                  CHILD_ROWS[3]]
        found = tc.divergences(REFERENCE, block(RUNNER, extra))
        self.assertEqual(found[0][:2], ("child 1", 3))
        missing = CHILD_ROWS[:2]
        text = tc.render(REFERENCE, block(RUNNER, missing)).splitlines()[0]
        self.assertIn("yours never does", text)

    def test_a_throw_compares_by_type_and_errno_not_by_wording(self):
        ours = RUNNER[:4] + [(0.35, "throw std::system_error EPIPE: "
                                    "write(pipe): Broken pipe")] + RUNNER[4:]
        reworded = RUNNER[:4] + [(0.35, "throw std::system_error EPIPE: "
                                        "the reader went away")] + RUNNER[4:]
        self.assertEqual(tc.divergences(block(ours, CHILD_ROWS),
                                        block(reworded, CHILD_ROWS)), [])
        other = RUNNER[:4] + [(0.35, "throw std::system_error EAGAIN: "
                                     "write(pipe): Broken pipe")] + RUNNER[4:]
        found = tc.divergences(block(ours, CHILD_ROWS),
                               block(other, CHILD_ROWS))
        self.assertEqual([(d[0], d[1]) for d in found], [("runner", 4)])
        # A throw the reference makes where yours goes on is a divergence.
        found = tc.divergences(block(ours, CHILD_ROWS), REFERENCE)
        self.assertIn("throw std::system_error EPIPE", found[0][2])

    def test_a_failed_check_is_the_divergence_only_when_the_calls_agree(self):
        check = (0.45, "check failed at pipe_test.cc:12: Expected equality "
                       "of these values: port Which is: 13330 4660")
        yours = block(RUNNER[:5] + [check] + RUNNER[5:], CHILD_ROWS)
        found = tc.divergences(REFERENCE, yours)
        self.assertEqual([(d[0], d[1]) for d in found], [("runner", "check")])
        self.assertIn("pipe_test.cc:12", tc.render(REFERENCE, yours))
        # Where a call differs, that call is the divergence, not the check.
        failed = RUNNER[:3] + [
            (0.3, "write(4 [write end of pipe #1], 12 bytes) = -1 EPIPE"),
            check] + RUNNER[4:]
        found = tc.divergences(REFERENCE, block(failed, CHILD_ROWS))
        self.assertEqual([(d[0], d[1]) for d in found], [("runner", 3)])

    def test_a_reference_that_made_no_call(self):
        empty = "\n".join([TITLE, "      ms  runner (pid 12)",
                           "descriptors each process still held at its last "
                           "call:", "  runner (pid 12): none it opened"])
        yours = "\n".join([TITLE, "      ms  runner (pid 12)",
                           "   0.000  mq_open(no-slash, O_RDWR) = -1 EINVAL",
                           "descriptors each process still held at its last "
                           "call:", "  runner (pid 12): none it opened"])
        first = tc.render(empty, yours).splitlines()[0]
        self.assertIn("makes no further call; yours goes on: mq_open", first)

    def test_descriptors_left_open_at_the_end(self):
        yours = block(RUNNER, CHILD_ROWS,
                      held_child="3 [read end of pipe #1], 4 [write end of "
                                 "pipe #1]")
        found = tc.divergences(REFERENCE, yours)
        self.assertEqual([(d[0], d[1]) for d in found], [("child 1", None)])
        self.assertIn("at its end", tc.sentence(*found[0]))

    def test_a_child_the_test_started_comes_before_the_ones_it_forks(self):
        # kata::Child (no fork row) forks a grandchild: the grandchild
        # makes its first call first, but the test's child is child 1.
        rows = [(0.1, "[child 1 (pid 30)] close(3) = 0"),
                (0.2, "[child 2 (pid 20)] fork() = 30 (the child's pid)"),
                (0.3, "[child 2 (pid 20)] waitpid(30) = 30 (exited 0)")]
        text = "\n".join([TITLE] + [f"{ms:8.3f}  {row}" for ms, row in rows] +
                         ["descriptors each process still held at its last "
                          "call:"])
        named = tc.columns(text)
        self.assertEqual(named["child 1"][0], "fork() = N (the child's pid)")
        self.assertEqual(named["child 2"], ["close(3) = 0"])
        # A process seen only blocked (a program a child exec'd) comes
        # after every child that made a call, whatever its pid.
        rows.insert(0, (0.05, "[child 3 (pid 5)] BLOCKED in read(0) when "
                              "the watchdog stopped the test"))
        text = "\n".join([TITLE] + [f"{ms:8.3f}  {row}" for ms, row in rows] +
                         ["descriptors each process still held at its last "
                          "call:"])
        named = tc.columns(text)
        self.assertEqual(named["child 1"][0], "fork() = N (the child's pid)")
        self.assertEqual(named["child 3"][0], "BLOCKED in read(0) when the "
                                              "watchdog stopped the test")

    def test_children_are_named_in_the_order_they_were_created(self):
        # Two children started together: the second one created made the
        # first call this time, so trace.cc named it "child 1".
        def flat(first_caller):
            rows = [(0.1, "[runner (pid 12)] fork() = 17 (the child's pid)"),
                    (0.2, "[runner (pid 12)] fork() = 18 (the child's pid)")]
            calls = {17: "close(4 [write end of pipe #1]) = 0",
                     18: "close(3 [read end of pipe #1]) = 0"}
            order = [first_caller, 35 - first_caller]
            rows += [(0.3 + i / 10, f"[child {i + 1} (pid {pid})] "
                      f"{calls[pid]}") for i, pid in enumerate(order)]
            return "\n".join([TITLE] + [f"{ms:8.3f}  {t}" for ms, t in rows])
        self.assertEqual(tc.divergences(flat(17), flat(18)), [])
        self.assertEqual(tc.columns(flat(18))["child 1"],
                         ["close(N [write end of pipe #1]) = 0"])

    def test_children_the_test_started_are_named_in_pid_order(self):
        # kata::Child forks with no recorded fork row: two such children
        # that start together are told apart by their pids.
        def flat(first_caller):
            calls = {17: "mq_open(/bob, O_RDWR) = 10",
                     18: "mq_open(/alice, O_RDWR) = 11"}
            order = [first_caller, 35 - first_caller]
            rows = [(0.3 + i / 10, f"[child {i + 1} (pid {pid})] "
                     f"{calls[pid]}") for i, pid in enumerate(order)]
            return "\n".join([TITLE] + [f"{ms:8.3f}  {t}" for ms, t in rows])
        self.assertEqual(tc.divergences(flat(17), flat(18)), [])
        self.assertEqual(tc.columns(flat(18))["child 1"],
                         ["mq_open(/bob, O_RDWR) = 10"])

    def test_the_one_line_per_row_layout(self):
        # With many processes, trace.cc prints "[child 1 (pid N)] row".
        def flat(runner, child):
            rows = sorted([(ms, "[runner (pid 12)] " + t) for ms, t in runner]
                          + [(ms, "[child 1 (pid 17)] " + t)
                             for ms, t in child])
            return "\n".join([TITLE] + [f"{ms:8.3f}  {t}" for ms, t in rows])
        self.assertEqual(tc.divergences(flat(RUNNER, CHILD_ROWS),
                                        flat(RUNNER, CHILD_ROWS)), [])
        found = tc.divergences(flat(RUNNER, CHILD_ROWS),
                               flat(RUNNER, CHILD_ROWS[:1]))
        self.assertEqual(found[0][:2], ("child 1", 1))

    def test_a_timeline_cut_short_is_not_counted_step_by_step(self):
        cut = REFERENCE.replace(TITLE, TITLE + "\n  (12 earlier calls were "
                                "dropped; the last 2000 are shown)")
        text = tc.render(REFERENCE, block(RUNNER, CHILD_ROWS[:1]).replace(
            TITLE, cut.splitlines()[0] + "\n" + cut.splitlines()[1]))
        self.assertIn("no step-by-step comparison", text)
        # Even then, a missing process is a divergence.
        self.assertIn("the reference's test had 2 processes (runner, child "
                      "1); yours had 1 (runner)", tc.render(
                          cut, block(RUNNER, []).replace("child 1 (pid 17)",
                                                         "")))

    def test_side_by_side_marks_the_step(self):
        text = tc.render(REFERENCE, block(RUNNER, CHILD_ROWS[:1]))
        marked = [line for line in text.splitlines() if line.startswith(">>")]
        self.assertEqual(len(marked), 1)
        self.assertIn("close(N [write end of pipe #1])", marked[0])


if __name__ == "__main__":
    unittest.main()
