"""Unit tests of tools/hints.py (the hints files' reader and rules) and of
the docs check's "docs hints" line. Run by the docs check
(tools/docs_check.py); alone:

  python3 -m unittest discover -s tools -p 'hints_test.py'
"""

import os
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import docs_check  # noqa: E402
import hints  # noqa: E402


def level(function, number, english="Close the end you do not use.",
          korean="쓰지 않는 끝을 닫으세요.", anchor=True):
    lines = []
    if anchor:
        lines.append(f'<a id="{hints.anchor_of(function, number)}"></a>')
    lines.append(f"### Level {number}: something / {number}단계: 무엇")
    lines.append("")
    if english:
        lines += [english, ""]
    if korean:
        lines += [korean, ""]
    return lines


def function(name, stages="Stage 1", levels=(1, 2, 3), changes=None):
    """The lines of one function's hints; `changes` = {level: level()
    keyword arguments}."""
    changes = changes or {}
    lines = [f'<a id="{hints.anchor_of(name)}"></a>', f"## {name} ({stages})",
             ""]
    for number in levels:
        lines += level(name, number, **changes.get(number, {}))
    return lines


def parse(lines):
    return hints.parse("pipe", "exercises/pipe/hints.md", "\n".join(lines))


class ReaderTest(unittest.TestCase):

    def test_reads_functions_stages_levels_and_both_languages(self):
        parsed = parse(["# Hints / 힌트", "", "Intro.", "", "소개.", ""] +
                       function("WaitForChild") +
                       function("WriteAll", "Stage 3, Stage 5"))
        self.assertEqual([(f.name, f.stages) for f in parsed.functions],
                         [("WaitForChild", [1]), ("WriteAll", [3, 5])])
        first = parsed.functions[0]
        self.assertEqual(first.anchor, "waitforchild")
        self.assertEqual(sorted(first.levels), [1, 2, 3])
        self.assertEqual(first.levels[2].anchor, "waitforchild-2")
        self.assertEqual(first.levels[1].text("en"),
                         ["Close the end you do not use."])
        self.assertEqual(first.levels[1].text("ko"), ["쓰지 않는 끝을 닫으세요."])
        self.assertEqual(parsed.problems, [])

    def test_anchor_of_a_method_drops_the_colons(self):
        self.assertEqual(hints.anchor_of("Connection::SendAll"),
                         "connection-sendall")
        self.assertEqual(hints.anchor_of("WaitForChild", 3), "waitforchild-3")

    def test_find_by_exact_any_case_or_short_name(self):
        parsed = parse(function("SysvQueue::Send") + function("PosixQueue::Send")
                       + function("Connection::SendAll"))
        self.assertEqual(parsed.find("sendall")[0].name, "Connection::SendAll")
        self.assertEqual(parsed.find("SysvQueue::Send")[0].name,
                         "SysvQueue::Send")
        found, why = parsed.find("Send")
        self.assertIsNone(found)
        self.assertIn("SysvQueue::Send or PosixQueue::Send", why)
        self.assertEqual(parsed.find("Nothing")[1],
                         "is not a function of this kata")

    def test_for_stage_lists_every_function_a_stage_asks_for(self):
        parsed = parse(function("SendToChild", "Stage 2, Stage 5") +
                       function("WriteAll", "Stage 3, Stage 5"))
        self.assertEqual([f.name for f in parsed.for_stage(5)],
                         ["SendToChild", "WriteAll"])


class RulesTest(unittest.TestCase):
    STUB = [("WaitForChild", 1)]

    def problems(self, lines, stub=None):
        return hints.problems(parse(lines), self.STUB if stub is None else stub)

    def test_a_complete_file_has_no_problems(self):
        self.assertEqual(self.problems(function("WaitForChild")), [])

    def test_a_missing_level_is_named(self):
        found = self.problems(function("WaitForChild", levels=(1, 2)))
        self.assertEqual(len(found), 1)
        self.assertIn("WaitForChild has no level 3", found[0])

    def test_a_level_without_korean_is_named(self):
        found = self.problems(function("WaitForChild", changes={2: {"korean": ""}}))
        self.assertEqual(len(found), 1)
        self.assertIn("level 2 has no Korean text", found[0])

    def test_a_level_without_english_is_named(self):
        found = self.problems(function("WaitForChild", changes={1: {"english": ""}}))
        self.assertIn("level 1 has no English text", found[0])

    def test_a_missing_anchor_is_named_with_the_line_to_add(self):
        found = self.problems(function("WaitForChild", changes={3: {"anchor": False}}))
        self.assertEqual(len(found), 1)
        self.assertIn('<a id="waitforchild-3"></a>', found[0])

    def test_a_code_block_is_refused(self):
        lines = function("WaitForChild", changes={3: {
            "english": "Do this:\n\n```cpp\nwhile (waitpid(pid, &s, 0) < 0) {}\n```"}})
        found = self.problems(lines)
        self.assertTrue(any("a code block" in p for p in found), found)

    def test_an_indented_code_block_is_refused(self):
        lines = function("WaitForChild", changes={3: {
            "english": "Do this:\n\n    int status = 0;"}})
        self.assertTrue(any("indented code block" in p
                            for p in self.problems(lines)))

    def test_inline_code_may_name_things_but_not_hold_statements(self):
        named = function("WaitForChild", changes={1: {
            "english": "Read `waitpid(2)` and retry on `EINTR`."}})
        self.assertEqual(self.problems(named), [])
        statement = function("WaitForChild", changes={1: {
            "english": "Write `status = 0;` first."}})
        self.assertTrue(any("reads as code" in p
                            for p in self.problems(statement)))

    def test_every_stub_function_needs_hints_and_no_extra_ones(self):
        found = self.problems(function("Other"))
        self.assertTrue(any("no hints for WaitForChild" in p for p in found))
        self.assertTrue(any("hints for Other, which the stub does not have" in p
                            for p in found))

    def test_the_stage_must_match_the_stub(self):
        found = self.problems(function("WaitForChild", "Stage 2"))
        self.assertEqual(len(found), 1)
        self.assertIn("stage 1 in the stub", found[0])

    def test_stub_functions_come_from_the_not_implemented_calls(self):
        with tempfile.TemporaryDirectory() as root:
            os.makedirs(os.path.join(root, "exercises", "demo"))
            with open(os.path.join(root, "exercises", "demo", "demo.cc"),
                      "w") as f:
                f.write('std::logic_error NotImplemented(const char* f, int s);\n'
                        'void A() { throw NotImplemented("A", 1); }\n'
                        'int Q::B() { throw NotImplemented("Q::B", 3); }\n')
            self.assertEqual(hints.stub_functions("demo", root),
                             [("A", 1), ("Q::B", 3)])


class RepositoryTest(unittest.TestCase):

    def test_the_pipe_hints_cover_the_pipe_stub(self):
        parsed = hints.load("pipe")
        self.assertIsNotNone(parsed)
        self.assertEqual(hints.problems(parsed, hints.stub_functions("pipe")), [])
        self.assertEqual(len(parsed.functions), 11)

    def test_a_topic_without_a_hints_file_is_missing_not_failed(self):
        lines = []
        docs_check.check_hints(None, lambda *a: lines.append(a),
                               strict=False, chosen=["pipe", "nosuchtopic"])
        ok, label, detail = lines[0]
        self.assertTrue(ok, detail)
        self.assertIn("missing (not yet required): "
                      "exercises/nosuchtopic/hints.md", detail)

    def test_strict_hints_fail_on_a_missing_file(self):
        lines = []
        docs_check.check_hints(None, lambda *a: lines.append(a),
                               strict=True, chosen=["nosuchtopic"])
        self.assertFalse(lines[0][0])
        self.assertIn("exercises/nosuchtopic/hints.md is missing", lines[0][2])


if __name__ == "__main__":
    unittest.main()
