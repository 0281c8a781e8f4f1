"""A kata's stages and the learner's latest results, for tools/kata.

Stages come from the test sources: every KATA_STAGE(Suite, title, where)
(and the sockets kata's KATA_TYPED_STAGE) in tests/<topic>/*_test.cc, with
string macros such as README resolved. Results come from the XML report
Bazel keeps of the last run, bazel-testlogs/<package>/<topic>_test/test.xml,
read as it is: nothing is rebuilt. Typed suites ("Stage7RealClients/Tcp")
count for their stage, as the test binary's own table counts them.

Python 3 standard library only.
"""

import glob
import os
import re
import xml.etree.ElementTree as ElementTree
from dataclasses import dataclass, field

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

_CALL = re.compile(r"\bKATA_\w*STAGE\(")
_DEFINE = re.compile(r"^\s*#\s*define\s+(\w+)\s+((?:\"(?:[^\"\\]|\\.)*\"\s*)+)$",
                     re.M)
_TOKEN = re.compile(r"\s*(?:\"((?:[^\"\\]|\\.)*)\"|(\w+)|(,)|(\))|(\S))")
_NOT_IMPLEMENTED = re.compile(r"not implemented yet: (\S+)")


@dataclass
class Stage:
    suite: str  # "Stage1ExitStatus"
    number: int
    title: str  # "Stage 1, wait for a child"
    where: str  # "exercises/pipe/README.md#stage-1-wait-for-a-child"


def _literal(parts):
    return "".join(bytes(p, "utf-8").decode("unicode_escape")
                   if "\\" in p else p for p in parts)


def _arguments(source, start, macros):
    """The arguments of the call whose "(" ends at `start`, as strings, or
    None if one is not made of string literals and known string macros
    (as in the macro's own #define, or a comment about it)."""
    arguments, current = [], []
    position = start
    while True:
        token = _TOKEN.match(source, position)
        if token is None:
            return None
        position = token.end()
        literal, name, comma, closing, other = token.groups()
        if other:
            return None
        if closing:
            arguments.append(current)
            return [_literal(parts) for parts in arguments]
        if comma:
            arguments.append(current)
            current = []
        elif name is not None:
            current.append(name if not arguments else macros.get(name))
            if current[-1] is None:
                return None
        else:
            current.append(literal)


def stages(topic, root=ROOT):
    """The topic's stages in order, from its test sources."""
    found = {}
    for path in sorted(glob.glob(os.path.join(root, "tests", topic, "*_test.cc"))):
        with open(path, encoding="utf-8", errors="replace") as f:
            source = f.read()
        macros = {name: _literal(re.findall(r"\"((?:[^\"\\]|\\.)*)\"", value))
                  for name, value in _DEFINE.findall(source)}
        for call in _CALL.finditer(source):
            arguments = _arguments(source, call.end(), macros)
            if arguments is None or len(arguments) != 3:
                continue
            suite, title, where = arguments
            number = re.fullmatch(r"Stage(\d+)\w*", suite)
            if number:
                found.setdefault(suite, Stage(suite, int(number.group(1)),
                                              title, where))
    return sorted(found.values(), key=lambda stage: stage.number)


# ----------------------------------------------------------------- results


@dataclass
class StageResult:
    stage: Stage
    passed: int = 0
    total: int = 0
    hung: str = ""
    failures: list = field(default_factory=list)  # [(test name, message)]

    @property
    def done(self):
        return self.total > 0 and self.passed == self.total


@dataclass
class Results:
    topic: str
    xml: str  # path of the report read
    when: float  # its modification time
    rows: list  # [StageResult], one per stage, in order
    other: int = 0  # test cases of no registered stage (a crashed run)
    changed: list = field(default_factory=list)  # sources edited since

    @property
    def stages_done(self):
        return sum(1 for row in self.rows if row.done)

    @property
    def all_done(self):
        return bool(self.rows) and all(row.done for row in self.rows)

    @property
    def next_row(self):
        """The first stage that is not done, or None."""
        return next((row for row in self.rows if not row.done), None)

    def unfinished_functions(self, row):
        """The functions a stage's failures say are not implemented yet."""
        names = []
        for _, message in row.failures:
            for name in _NOT_IMPLEMENTED.findall(message):
                if name not in names:
                    names.append(name)
        return names


def testlogs_folder(root=ROOT, package=None, topic=""):
    """bazel-testlogs/<package>/<topic>_test of the workspace at `root`."""
    package = package or f"exercises/{topic}"
    return os.path.join(root, "bazel-testlogs", package, f"{topic}_test")


def read(topic, root=ROOT, folder=None, sources=None):
    """The latest Results of the topic's exercise (or of the package whose
    test log folder is `folder`), or None if it never ran. `sources` are
    the files whose edits make the results out of date (default: the
    exercise's .cc and .h files)."""
    folder = folder or testlogs_folder(root, topic=topic)
    xml = os.path.join(folder, "test.xml")
    if not os.path.isfile(xml):
        return None
    try:
        tree = ElementTree.parse(xml)
    except ElementTree.ParseError:
        return None
    when = os.path.getmtime(xml)
    rows = [StageResult(stage) for stage in stages(topic, root)]
    by_suite = {row.stage.suite: row for row in rows}
    results = Results(topic, xml, when, rows)
    for case in tree.getroot().iter("testcase"):
        suite = (case.get("classname") or "").split("/")[0]
        row = by_suite.get(suite)
        if row is None:
            results.other += 1
            continue
        if case.get("status") == "notrun" or case.get("result") in (
                "skipped", "suppressed"):
            continue
        row.total += 1
        problems = case.findall("failure") + case.findall("error")
        if problems:
            text = "\n".join((p.text or p.get("message") or "").strip()
                             for p in problems)
            row.failures.append((f"{suite}.{case.get('name')}", text))
            # tests/support/main.cc fails a test the watchdog stopped with
            # "deadline exceeded: the test hung ...".
            if "deadline exceeded: the test hung" in text:
                row.hung = row.hung or case.get("name", "")
        else:
            row.passed += 1
    if sources is None:
        sources = [path for pattern in ("*.cc", "*.h") for path in glob.glob(
            os.path.join(root, "exercises", topic, pattern))]
    results.changed = sorted(os.path.relpath(path, root) for path in sources
                             if os.path.getmtime(path) > when)
    return results


def closing_line(folder):
    """The last "Next: ..." or "<topic>: all N stages pass..." line the test
    binary printed in its log, or ""."""
    try:
        with open(os.path.join(folder, "test.log"), errors="replace") as f:
            lines = f.read().splitlines()
    except FileNotFoundError:
        return ""
    for line in reversed(lines[-40:]):
        if line.startswith("Next: ") or re.match(r"^\w+: all \d+ stages pass", line):
            return line.strip()
    return ""


def first_failure(results, limit=12):
    """(test, the first lines of its failure) of the first unfinished stage."""
    row = results.next_row
    if row is None or not row.failures:
        return None
    test, message = row.failures[0]
    lines = [line for line in message.splitlines()
             if line.strip() and line.strip() != "unknown file"]
    if len(lines) > limit:
        lines = lines[:limit] + [f"... ({len(lines) - limit} more lines)"]
    return test, lines
