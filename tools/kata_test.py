"""Unit tests of tools/kata (tools/kata_cli.py and the modules beside it),
run by tools/gate ("kata tool"); alone: python3 -m unittest tools/kata_test.py

Each test builds a small repository of its own in a temporary folder: a
git history with a one-function stub, a test source that registers two
stages, a hints file, and (when a test needs one) the XML report Bazel
would have left. Bazel and ibazel are replaced by small shell scripts named
in BAZEL and IBAZEL, so nothing here builds or runs a kata.
"""

import io
import json
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
import unittest
import unittest.mock

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import hints  # noqa: E402
import kata_cli  # noqa: E402
import kata_interview  # noqa: E402
import kata_results  # noqa: E402
import kata_state  # noqa: E402
import kata_stub  # noqa: E402

TEST_SOURCE = textwrap.dedent("""\
    #define README "exercises/toy/README.md"
    KATA_STAGE(Stage1Open, "Stage 1, open it", README "#stage-1");
    KATA_STAGE(Stage2Close, "Stage 2, close it", README "#stage-2");
    """)

STUB = textwrap.dedent("""\
    // The toy kata's stub.
    void Open() { throw NotImplemented("Open", 1); }
    void Close() { throw NotImplemented("Close", 2); }
    """)


def level(function, number, english, korean):
    anchor = hints.anchor_of(function, number)
    return (f'<a id="{anchor}"></a>\n### Level {number}: x / {number}단계\n\n'
            f"{english}\n\n{korean}\n\n")


def hints_text():
    text = "# Hints\n\n"
    for function, stage in (("Open", 1), ("Close", 2)):
        text += (f'<a id="{hints.anchor_of(function)}"></a>\n'
                 f"## {function} ({'Stage'} {stage})\n\n")
        for number in (1, 2, 3):
            text += level(function, number,
                          f"English hint {number} for {function}.",
                          f"{function} 함수의 {number}단계 힌트입니다.")
    return text


def report(cases):
    """A Bazel test.xml: cases is [(suite, name, failure message or None)]."""
    rows = []
    for suite, name, failure in cases:
        body = (f'<failure message="x"><![CDATA[{failure}]]></failure>'
                if failure else "")
        rows.append(f'<testcase name="{name}" classname="{suite}" '
                    f'status="run" result="completed">{body}</testcase>')
    return ('<?xml version="1.0"?><testsuites><testsuite name="all">' +
            "".join(rows) + "</testsuite></testsuites>")


NOT_YET_OPEN = ('C++ exception with description "not implemented yet: Open '
                'in exercises/toy/toy.cc (stage 1)" thrown in the test body.')


class Repository(unittest.TestCase):
    """A throwaway repository with one kata, "toy"."""

    def setUp(self):
        self.root = tempfile.mkdtemp(prefix="kata_test_")
        self.addCleanup(shutil.rmtree, self.root, True)
        self.write("tools/topics.txt", "toy  # the only kata here\n")
        self.write("tests/toy/toy_test.cc", TEST_SOURCE)
        self.write("exercises/toy/toy.cc", STUB)
        self.write("exercises/toy/toy.h", "// contract\n")
        self.write("exercises/toy/BUILD", "# build\n")
        self.write("exercises/toy/hints.md", hints_text())
        self.git("init", "-q")
        self.git("add", ".")
        self.git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm",
                 "toy kata")
        self.out, self.err = io.StringIO(), io.StringIO()
        self.env = {"BAZEL": self.script("bazel", "exit 0"),
                    "IBAZEL": os.path.join(self.root, "no-such-ibazel")}

    def kata(self, stdin=""):
        return kata_cli.Kata(self.root, out=self.out, err=self.err,
                             stdin=io.StringIO(stdin), env=self.env)

    def run_kata(self, *argv, stdin=""):
        """(exit code, stdout, stderr) of tools/kata argv."""
        self.out, self.err = io.StringIO(), io.StringIO()
        code = kata_cli.main(list(argv), kata=self.kata(stdin))
        return code, self.out.getvalue(), self.err.getvalue()

    def write(self, path, text):
        full = os.path.join(self.root, path)
        os.makedirs(os.path.dirname(full), exist_ok=True)
        with open(full, "w", encoding="utf-8") as f:
            f.write(text)
        return full

    def read(self, path):
        with open(os.path.join(self.root, path), encoding="utf-8") as f:
            return f.read()

    def git(self, *args):
        subprocess.run(["git", *args], cwd=self.root, check=True,
                       capture_output=True)

    def script(self, name, body):
        path = self.write(f"bin/{name}", f"#!/bin/sh\n{body}\n")
        os.chmod(path, 0o755)
        return path

    def results(self, cases, when=None):
        path = self.write("bazel-testlogs/exercises/toy/toy_test/test.xml",
                          report(cases))
        if when is not None:
            os.utime(path, (when, when))
        return path

    def state(self):
        with open(os.path.join(self.root, ".kata", "state.json")) as f:
            return json.load(f)


class StagesAndResultsTest(Repository):

    def test_stages_come_from_the_test_source_with_macros_resolved(self):
        stages = kata_results.stages("toy", self.root)
        self.assertEqual([(s.suite, s.number, s.title, s.where) for s in stages],
                         [("Stage1Open", 1, "Stage 1, open it",
                           "exercises/toy/README.md#stage-1"),
                          ("Stage2Close", 2, "Stage 2, close it",
                           "exercises/toy/README.md#stage-2")])

    def test_no_report_means_no_results(self):
        self.assertIsNone(kata_results.read("toy", self.root))

    def test_results_count_per_stage_and_name_the_unfinished_function(self):
        self.results([("Stage1Open", "A", None), ("Stage1Open", "B", None),
                      ("Stage2Close", "C", "not implemented yet: Close in x"),
                      ("Stage2Close/Typed", "D", None)],
                     when=time.time() + 60)
        found = kata_results.read("toy", self.root)
        self.assertEqual([(r.passed, r.total) for r in found.rows],
                         [(2, 2), (1, 2)])
        self.assertEqual(found.stages_done, 1)
        self.assertEqual(found.next_row.stage.suite, "Stage2Close")
        self.assertEqual(found.unfinished_functions(found.next_row), ["Close"])
        self.assertEqual(found.changed, [])

    def test_an_edit_after_the_run_makes_the_results_out_of_date(self):
        self.results([("Stage1Open", "A", NOT_YET_OPEN)], when=time.time() - 60)
        self.assertEqual(kata_results.read("toy", self.root).changed,
                         ["exercises/toy/toy.cc", "exercises/toy/toy.h"])

    def test_a_broken_report_reads_as_no_results(self):
        self.write("bazel-testlogs/exercises/toy/toy_test/test.xml", "<oops")
        self.assertIsNone(kata_results.read("toy", self.root))

    def test_a_hung_test_is_named(self):
        self.results([("Stage1Open", "Waits",
                       "deadline exceeded: the test hung (watchdog)")])
        row = kata_results.read("toy", self.root).rows[0]
        self.assertEqual(row.hung, "Waits")


class StateTest(Repository):

    def test_a_missing_file_is_a_fresh_state(self):
        self.assertEqual(kata_state.State(self.root).load(), kata_state.empty())

    def test_edit_saves_readable_json(self):
        state = kata_state.State(self.root)
        with state.edit() as data:
            data["hints"]["toy"] = {"Open": 2}
        self.assertEqual(self.state()["hints"], {"toy": {"Open": 2}})

    def test_a_corrupted_file_is_moved_aside_with_one_sentence(self):
        self.write(".kata/state.json", "{not json")
        warned = []
        data = kata_state.State(self.root, warn=warned.append).load()
        self.assertEqual(data, kata_state.empty())
        self.assertEqual(len(warned), 1)
        self.assertIn("is not valid JSON at line 1, so it was moved aside to "
                      ".kata/state.json.corrupt-", warned[0])
        aside = [n for n in os.listdir(os.path.join(self.root, ".kata"))
                 if n.startswith("state.json.corrupt-")]
        self.assertEqual(len(aside), 1)
        self.assertEqual(self.read(f".kata/{aside[0]}"), "{not json")

    def test_a_file_of_the_wrong_shape_counts_as_corrupted(self):
        self.write(".kata/state.json", json.dumps({"hints": []}))
        warned = []
        kata_state.State(self.root, warn=warned.append).load()
        self.assertIn('has a "hints" entry of the wrong type', warned[0])


class StatusTest(Repository):

    def test_without_results_it_says_how_to_get_them(self):
        code, out, err = self.run_kata()
        self.assertEqual(code, 1)
        self.assertIn("no test results yet for toy: run tools/kata test toy",
                      err)

    def test_the_stage_table_marks_the_next_stage_and_what_to_write(self):
        self.results([("Stage1Open", "A", NOT_YET_OPEN),
                      ("Stage2Close", "B", "not implemented yet: Close")])
        code, out, _ = self.run_kata("status")
        self.assertEqual(code, 0)
        self.assertRegex(out, r"Stage1Open +0/1 +<- next")
        self.assertIn("Next: Stage 1, open it (write Open in exercises/toy/)",
                      out)
        self.assertIn("stuck? tools/kata hint toy.", " ".join(out.split()))

    def test_a_finished_kata_says_so(self):
        self.results([("Stage1Open", "A", None), ("Stage2Close", "B", None)])
        code, out, _ = self.run_kata("status", "toy")
        self.assertEqual(code, 0)
        self.assertIn("toy: all 2 stages pass.", out)

    def test_an_unknown_topic_is_one_sentence_and_exit_2(self):
        code, _, err = self.run_kata("status", "toi")
        self.assertEqual(code, 2)
        self.assertEqual(err, 'tools/kata: there is no topic "toi" (did you '
                              'mean toy?); the topics are toy.\n')


class HintTest(Repository):

    def test_each_call_goes_one_level_deeper_and_is_remembered(self):
        self.results([("Stage1Open", "A", NOT_YET_OPEN)])
        for number in (1, 2, 3, 3):
            code, out, _ = self.run_kata("hint", "toy")
            self.assertEqual(code, 0)
            self.assertIn(f"toy · Open (Stage 1) · hint {number} of 3", out)
            self.assertIn(f"English hint {number} for Open.", out)
            self.assertIn(f"exercises/toy/hints.md#open-{number}", out)
        self.assertEqual(self.state()["hints"], {"toy": {"Open": 3}})
        self.assertIn("That was the last level for Open", out)

    def test_the_first_failing_stage_picks_the_function(self):
        self.results([("Stage1Open", "A", None),
                      ("Stage2Close", "B", "not implemented yet: Close")])
        _, out, _ = self.run_kata("hint", "toy")
        self.assertIn("toy · Close (Stage 2) · hint 1 of 3", out)

    def test_without_results_it_starts_at_stage_1(self):
        _, out, _ = self.run_kata("hint", "toy")
        self.assertIn("toy · Open (Stage 1) · hint 1 of 3", out)
        self.assertIn("No test results yet", out)

    def test_a_named_function_and_a_chosen_level_in_korean(self):
        code, out, _ = self.run_kata("hint", "toy", "close", "--level", "2",
                                     "--lang", "ko")
        self.assertEqual(code, 0)
        self.assertIn("Close 함수의 2단계 힌트입니다.", out)
        self.assertNotIn("English hint", out)
        self.assertEqual(self.state()["hints"], {"toy": {"Close": 2}})

    def test_an_unknown_function_names_the_functions(self):
        code, _, err = self.run_kata("hint", "toy", "Flush")
        self.assertEqual(code, 2)
        self.assertIn('"Flush" is not a function of this kata; the functions '
                      'of toy are Open, Close.', err)

    def test_a_topic_without_a_hints_file_says_so(self):
        os.remove(os.path.join(self.root, "exercises/toy/hints.md"))
        code, _, err = self.run_kata("hint", "toy")
        self.assertEqual(code, 1)
        self.assertIn("toy has no hints file yet", err)

    def test_hints_are_off_while_an_interview_of_the_topic_runs(self):
        with kata_state.State(self.root).edit() as data:
            data["interview"] = {"topic": "toy", "pid": os.getpid(),
                                 "started": time.time(), "minutes": 45}
        code, _, err = self.run_kata("hint", "toy")
        self.assertEqual(code, 1)
        self.assertIn("hints are off during the interview of toy", err)


class ResetTest(Repository):

    def test_a_clean_stub_has_nothing_to_reset(self):
        code, out, _ = self.run_kata("reset", "toy")
        self.assertEqual(code, 0)
        self.assertIn("already is the blank stub", out)

    def test_without_a_terminal_and_without_yes_nothing_changes(self):
        self.write("exercises/toy/toy.cc", "my work\n")
        code, _, err = self.run_kata("reset", "toy")
        self.assertEqual(code, 1)
        self.assertIn("holds your changes and there is no terminal", err)
        self.assertEqual(self.read("exercises/toy/toy.cc"), "my work\n")

    def test_yes_backs_up_the_learners_file_then_puts_the_stub_back(self):
        self.write("exercises/toy/toy.cc", "my work\n")
        code, out, _ = self.run_kata("reset", "toy", "--yes")
        self.assertEqual(code, 0)
        self.assertEqual(self.read("exercises/toy/toy.cc"), STUB)
        backups = os.listdir(os.path.join(self.root, ".kata", "backups"))
        self.assertEqual(len(backups), 1)
        self.assertEqual(self.read(f".kata/backups/{backups[0]}/toy.cc"),
                         "my work\n")
        self.assertIn(f"your version is in .kata/backups/{backups[0]}/", out)

    def test_a_no_on_the_terminal_keeps_the_learners_file(self):
        self.write("exercises/toy/toy.cc", "my work\n")

        class Terminal(io.StringIO):
            def isatty(self):
                return True

        kata = kata_cli.Kata(self.root, out=self.out, err=self.err,
                             stdin=Terminal("n\n"), env=self.env)
        code = kata_cli.main(["reset", "toy"], kata=kata)
        self.assertEqual(code, 1)
        self.assertIn("nothing was changed", self.err.getvalue())
        self.assertEqual(self.read("exercises/toy/toy.cc"), "my work\n")

    def test_committed_work_resets_to_the_stub_it_started_from(self):
        self.write("exercises/toy/toy.cc",
                   STUB.replace('throw NotImplemented("Open", 1);', "open();"))
        self.git("-c", "user.name=t", "-c", "user.email=t@t", "commit",
                 "-qam", "my Open")
        self.assertEqual(kata_stub.stub_of(self.root, "exercises/toy/toy.cc"),
                         STUB.encode())

    def test_forget_hints_starts_the_levels_again(self):
        with kata_state.State(self.root).edit() as data:
            data["hints"]["toy"] = {"Open": 3}
        self.run_kata("reset", "toy", "--forget-hints")
        self.assertEqual(self.state()["hints"], {})


class TestAndWatchTest(Repository):

    def test_test_runs_bazel_then_prints_the_stage_table(self):
        xml = report([("Stage1Open", "A", NOT_YET_OPEN)]).replace('"', '\\"')
        self.env["BAZEL"] = self.script("bazel", textwrap.dedent(f"""\
            echo "bazel $*"
            mkdir -p bazel-testlogs/exercises/toy/toy_test
            printf '%s' "{xml}" > bazel-testlogs/exercises/toy/toy_test/test.xml
            exit 3"""))
        code, out, _ = self.run_kata("test", "toy")
        self.assertEqual(code, 1)
        self.assertIn("bazel test --keep_going --test_output=summary -- "
                      "//exercises/toy/...", out)
        self.assertRegex(out, r"Stage1Open +0/1 +<- next")
        self.assertIn("first failure, Stage1Open.A:", out)

    def test_a_missing_bazel_is_one_sentence(self):
        self.env["BAZEL"] = os.path.join(self.root, "no-such-bazel")
        code, _, err = self.run_kata("test", "toy")
        self.assertEqual(code, 1)
        self.assertIn("is not installed, so the tests cannot run", err)

    def test_a_build_failure_is_named(self):
        self.env["BAZEL"] = self.script(
            "bazel", 'echo "//exercises/toy:toy_test    FAILED TO BUILD"; exit 1')
        code, out, err = self.run_kata("test", "toy")
        self.assertEqual(code, 1)
        self.assertIn("toy did not build; the compiler's messages are above.",
                      err)

    def fake_compare_bazel(self, exercise_rows, solution_rows):
        """A bazel that writes one test's log with a timeline per side."""
        def log(rows):
            return "\n".join([
                "[ RUN      ] Stage2.Send",
                "what your code did (every process of this test):",
                *[f"{n:8.3f}  [runner (pid 12)] {row}"
                  for n, row in enumerate(rows)],
                "descriptors each process still held at its last call:",
                "  runner (pid 12): none it opened",
                "[  FAILED  ] Stage2.Send (1 ms)", ""])
        for side, rows in (("exercises", exercise_rows),
                           ("solutions", solution_rows)):
            self.write(f"logs/{side}.log", log(rows))
        self.env["BAZEL"] = self.script("bazel", textwrap.dedent("""\
            echo "bazel $*"
            for side in exercises solutions; do
              case "$*" in *//$side/*)
                mkdir -p bazel-testlogs/$side/toy/toy_test
                cp logs/$side.log bazel-testlogs/$side/toy/toy_test/test.log;;
              esac
            done
            exit 0"""))

    def test_compare_runs_both_sides_and_names_the_divergence(self):
        both = ["pipe2(O_CLOEXEC) = 3 [read end of pipe #1], 4 [write end "
                "of pipe #1]"]
        self.fake_compare_bazel(
            both + ["close(4 [read end of pipe #1]) = 0"],
            both + ["close(4 [write end of pipe #1]) = 0"])
        code, out, _ = self.run_kata("compare", "toy", "Stage2.Send")
        self.assertEqual(code, 0)
        self.assertIn("--test_filter=Stage2.Send --test_env=KATA_TRACE=1 "
                      "//exercises/toy:toy_test", out)
        self.assertIn("//solutions/toy:toy_test", out)
        self.assertIn("first divergence: runner, step 2: the reference's "
                      "runner: close(N [write end of pipe #1]) = 0; yours: "
                      "close(N [read end of pipe #1]) = 0", out)

    def test_compare_of_a_test_that_did_not_run_is_one_sentence(self):
        self.fake_compare_bazel([], [])
        code, _, err = self.run_kata("compare", "toy", "Stage9.Nothing")
        self.assertEqual(code, 1)
        self.assertIn("Stage9.Nothing did not run in //exercises/toy:toy_test",
                      err)

    def test_watch_without_ibazel_is_one_sentence(self):
        code, _, err = self.run_kata("watch", "toy")
        self.assertEqual(code, 1)
        self.assertIn("ibazel is not installed", err)

    def test_watch_starts_the_real_ibazel_behind_npms_wrapper(self):
        package = os.path.join(self.root, "lib", "node_modules", "@bazel",
                               "ibazel")
        wrapper = self.write("lib/node_modules/@bazel/ibazel/index.js", "")
        arch = {"x86_64": "amd64", "aarch64": "arm64"}[os.uname().machine]
        native = self.write(
            f"lib/node_modules/@bazel/ibazel/bin/linux_{arch}/ibazel", "")
        os.chmod(native, 0o755)
        os.makedirs(os.path.join(self.root, "usr-bin"))
        link = os.path.join(self.root, "usr-bin", "ibazel")
        os.symlink(wrapper, link)
        self.assertEqual(kata_cli.native_ibazel(link), native)
        self.assertTrue(native.startswith(package))
        plain = self.script("ibazel", "")  # a real program: kept as found
        self.assertEqual(kata_cli.native_ibazel(plain), plain)

    def test_every_command_has_help(self):
        for command in ("status", "hint", "test", "watch", "reset",
                        "interview", "completion"):
            with self.assertRaises(SystemExit) as stop, \
                    unittest.mock.patch("sys.stdout", new=io.StringIO()) as out:
                kata_cli.main([command, "--help"], kata=self.kata())
            self.assertEqual(stop.exception.code, 0)
            self.assertIn(f"usage: tools/kata {command}", out.getvalue())


class CompletionTest(Repository):

    def words(self, *typed):
        return kata_cli.completions(self.kata(), list(typed))

    def test_commands_then_topics_then_functions(self):
        self.assertIn("interview", self.words())
        self.assertEqual(self.words("reset"),
                         ["toy", "--yes", "--forget-hints", "--help"])
        self.assertEqual(self.words("hint", "toy"),
                         ["Close", "Open", "--level", "--lang", "--help"])
        self.assertEqual(self.words("hint", "toy", "--lang"), ["en", "ko"])
        self.assertEqual(self.words("nonsense"), [])

    def test_the_script_calls_the_tool_back(self):
        code, out, _ = self.run_kata("completion")
        self.assertEqual(code, 0)
        self.assertIn('"${COMP_WORDS[0]}" __complete', out)
        self.assertIn("complete -F _tools_kata tools/kata", out)


class InterviewTest(Repository):

    def test_an_interview_uses_a_scratch_copy_and_is_recorded(self):
        self.write("exercises/toy/toy.cc", "my work\n")
        xml = report([("Stage1Open", "A", None),
                      ("Stage2Close", "B", "not implemented yet: Close")])
        folder = "bazel-testlogs/.kata/interview/toy/toy_test"
        self.env["BAZEL"] = self.script("bazel", textwrap.dedent(f"""\
            echo "bazel $*"
            mkdir -p {folder}
            printf '%s' '{xml}' > {folder}/test.xml
            exit 3"""))
        package = os.path.join(self.root, ".kata", "interview", "toy")
        seen = {}

        def snapshot(kata, topic, sources, started, real=kata_interview.run_tests):
            seen["files"] = sorted(os.listdir(package))
            seen["stub"] = self.read(".kata/interview/toy/toy.cc")
            return real(kata, topic, sources, started)

        with unittest.mock.patch.object(kata_interview, "run_tests", snapshot):
            code, out, _ = self.run_kata("interview", "toy", "--minutes", "5",
                                         stdin="q\n")
        self.assertEqual(code, 0)
        self.assertEqual(seen["files"], ["BUILD", "toy.cc", "toy.h"])
        self.assertEqual(seen["stub"], STUB)
        self.assertEqual(self.read("exercises/toy/toy.cc"), "my work\n")
        self.assertFalse(os.path.exists(package))
        history = self.state()["interviews"]
        self.assertEqual(len(history), 1)
        self.assertEqual((history[0]["topic"], history[0]["stages_done"],
                          history[0]["stages_total"], history[0]["ended"]),
                         ("toy", 1, 2, "finished"))
        self.assertNotIn("interview", self.state())
        self.assertRegex(out, r"Recorded: \w+ +\d+ \d\d:\d\d, 1/2 stages in "
                              r"\d+:\d\d of 5:00 \(finished\)\.")
        self.assertEqual(self.read(f"{history[0]['attempt']}/toy.cc"), STUB)

    def test_ctrl_c_ends_an_interview_and_still_records_it(self):
        self.write("exercises/toy/toy.cc", "my work\n")

        class Interrupted(io.StringIO):
            def readline(self, *args):
                raise KeyboardInterrupt

        kata = kata_cli.Kata(self.root, out=self.out, err=self.err,
                             stdin=Interrupted(), env=self.env)
        code = kata_cli.main(["interview", "toy", "--minutes", "5"], kata=kata)
        self.assertEqual(code, 0)
        history = self.state()["interviews"]
        self.assertEqual(history[0]["ended"], "stopped with Ctrl-C")
        self.assertEqual(self.read("exercises/toy/toy.cc"), "my work\n")
        self.assertFalse(os.path.exists(
            os.path.join(self.root, ".kata", "interview", "toy")))

    def test_a_second_interview_while_one_runs_is_refused(self):
        with kata_state.State(self.root).edit() as data:
            data["interview"] = {"topic": "toy", "pid": os.getpid(),
                                 "started": time.time(), "minutes": 45}
        code, _, err = self.run_kata("interview", "toy")
        self.assertEqual(code, 1)
        self.assertIn("an interview of toy is already running", err)

    def test_an_interview_whose_process_is_gone_is_recorded_as_abandoned(self):
        with kata_state.State(self.root).edit() as data:
            data["interview"] = {"topic": "toy", "pid": 2 ** 22 + 12345,
                                 "started": time.time() - 60, "minutes": 45}
        self.write(".kata/interview/toy/toy.cc", "half done\n")
        self.run_kata("hint", "toy")
        history = self.state()["interviews"]
        self.assertEqual(history[0]["ended"],
                         "abandoned (its process was gone)")
        self.assertEqual(self.read(f"{history[0]['attempt']}/toy.cc"),
                         "half done\n")
        self.assertIn("recorded as abandoned", self.err.getvalue())

    def test_minutes_must_be_positive(self):
        code, _, err = self.run_kata("interview", "toy", "--minutes", "0")
        self.assertEqual(code, 2)
        self.assertIn("--minutes must be more than 0.", err)


class HintsFileTest(unittest.TestCase):
    """The repository's own hints files, read by the same code."""

    def test_every_hints_file_in_the_repository_parses_without_problems(self):
        for topic in kata_cli.Kata().topics():
            parsed = hints.load(topic)
            if parsed is None:
                continue
            with self.subTest(topic=topic):
                self.assertEqual(
                    hints.problems(parsed, hints.stub_functions(topic)), [])


if __name__ == "__main__":
    unittest.main()
