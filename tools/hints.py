"""Reads and checks the per-topic hints files, exercises/<topic>/hints.md.

A hints file gives, for every function of a kata's stub, three hints of
growing strength, in English and Korean, and never code:

  level 1  a nudge: what goes wrong and why;
  level 2  the idea, and the man page sections to read;
  level 3  the sequence of calls, in words.

The format (exercises/pipe/hints.md is the example to copy):

  <a id="waitforchild"></a>
  ## WaitForChild (Stage 1)

  <a id="waitforchild-1"></a>
  ### Level 1: a nudge / 1단계: 실마리

  One or more English paragraphs.

  One or more Korean paragraphs.

  <a id="waitforchild-2"></a>
  ### Level 2: ...

* A function is a level-2 heading: its name as the stub's NotImplemented()
  call spells it ("Connection::SendAll"), then the stages that ask for it in
  parentheses: "(Stage 1)", "(Stage 3, Stage 5)".
* Each level is a level-3 heading that starts with "Level <n>"; three of
  them per function.
* Anchors are explicit and stable: the function's is its name in lower case
  with "::" turned into "-" (anchor_of), a level's adds "-<n>". Each sits in
  an <a id="..."></a> line right above its heading. tools/kata prints them,
  so the learner can read the same hint on GitHub.
* English and Korean paragraphs sit side by side, told apart by their
  script (tools/notes.py); both languages at every level.
* No code: no fenced or indented code blocks, and inline code holds names
  (`waitpid(2)`, `EINTR`), never a statement (nothing with ; { } or =).

tools/kata reads these files (the hint command); tools/docs_check.py checks
them (check_hints). Python 3 standard library only.
"""

import glob
import os
import re
from dataclasses import dataclass, field

import notes

ROOT = notes.ROOT
LEVELS = (1, 2, 3)
LEVEL_NAMES = {
    "en": {1: "a nudge", 2: "the idea and what to read",
           3: "the steps in words"},
    "ko": {1: "실마리", 2: "개념과 읽을 거리", 3: "말로 쓴 순서"},
}

_FUNCTION = re.compile(r"^(\S+)\s+\((Stages?\s+[^)]*)\)\s*$")
_LEVEL = re.compile(r"^Level\s+(\d+)\b")
_ANCHOR_LINE = re.compile(r"^\s*<a\s+(?:id|name)\s*=\s*\"([^\"]+)\"\s*>\s*</a>\s*$")
_NOT_IMPLEMENTED = re.compile(r"NotImplemented\(\s*\"([^\"]+)\"\s*,\s*(\d+)\s*\)")
# Inline code that reads as a statement rather than a name.
_STATEMENT = re.compile(r"[;{}=]")


def hints_path(topic):
    return os.path.join("exercises", topic, "hints.md")


def anchor_of(function, level=None):
    """The stable anchor of a function's hints, or of one level of them."""
    base = re.sub(r"[^a-z0-9_-]+", "-", function.lower().replace("::", "-"))
    base = base.strip("-")
    return base if level is None else f"{base}-{level}"


@dataclass
class Level:
    number: int
    anchor: str  # the explicit anchor above its heading ("" if none)
    line: int
    paragraphs: list = field(default_factory=list)  # [(lang, markdown)]

    def text(self, lang):
        """The level's paragraphs in `lang`, as Markdown."""
        return [text for paragraph_lang, text in self.paragraphs
                if paragraph_lang == lang]


@dataclass
class Function:
    name: str
    stages: list
    anchor: str
    line: int
    levels: dict = field(default_factory=dict)  # number -> Level


@dataclass
class HintsFile:
    topic: str
    path: str
    functions: list = field(default_factory=list)
    problems: list = field(default_factory=list)  # format problems

    def find(self, name):
        """(function, None) or (None, why): exact name, any case, or a name
        without its class ("SendAll" for "Connection::SendAll") if only one
        function has it."""
        for wanted in (lambda f: f.name == name,
                       lambda f: f.name.lower() == name.lower(),
                       lambda f: f.name.split("::")[-1].lower() ==
                       name.split("::")[-1].lower()):
            found = [f for f in self.functions if wanted(f)]
            if len(found) == 1:
                return found[0], None
            if len(found) > 1:
                return None, ("is ambiguous: " +
                              " or ".join(f.name for f in found))
        return None, "is not a function of this kata"

    def for_stage(self, stage):
        return [f for f in self.functions if stage in f.stages]


def load(topic, root=ROOT):
    """The topic's HintsFile, or None if it has no hints file yet."""
    path = hints_path(topic)
    try:
        with open(os.path.join(root, path), encoding="utf-8") as f:
            text = f.read()
    except FileNotFoundError:
        return None
    return parse(topic, path, text)


def parse(topic, path, text):
    """A HintsFile from the Markdown `text` of `path`."""
    doc = notes.parse_text(path, text)
    hints = HintsFile(topic, path)
    lines = doc.lines

    def anchor_above(number):
        """The explicit anchor right above the heading on line `number`."""
        for index in range(number - 2, max(number - 4, -1), -1):
            if not lines[index].strip():
                continue
            match = _ANCHOR_LINE.match(lines[index])
            return match.group(1) if match else ""
        return ""

    headings = [h for h in doc.headings if h.level <= 3]
    current = None
    for position, heading in enumerate(headings):
        end = (headings[position + 1].line - 1 if position + 1 < len(headings)
               else len(lines))
        if heading.level == 2:
            match = _FUNCTION.match(heading.text)
            if not match:
                current = None
                continue
            stages = [int(n) for n in re.findall(r"\d+", match.group(2))]
            current = Function(match.group(1), stages,
                               anchor_above(heading.line), heading.line)
            hints.functions.append(current)
            continue
        if heading.level != 3 or current is None:
            continue
        match = _LEVEL.match(heading.text)
        if not match:
            continue
        number = int(match.group(1))
        level = Level(number, anchor_above(heading.line), heading.line)
        if number in current.levels:
            hints.problems.append(f"{path}:{heading.line}: {current.name} has "
                                  f"level {number} twice")
        current.levels[number] = level
        level.paragraphs, problems = _body(doc, heading.line, end)
        hints.problems.extend(problems)
    return hints


def _body(doc, heading_line, end):
    """([(lang, paragraph)], problems) of the lines after a level heading,
    up to line `end` (1-based, inclusive)."""
    paragraphs, problems = [], []
    current = []

    def flush():
        if current:
            text = "\n".join(current)
            lang = _language(text)
            if lang:
                paragraphs.append((lang, text))
            current.clear()

    blank_before = True
    for index in range(heading_line, end):
        line = doc.lines[index]
        number = index + 1
        if doc.in_code[index]:
            fence_start = any(f.start == number for f in doc.fences)
            if fence_start:
                problems.append(f"{doc.path}:{number}: a code block; hints are "
                                f"prose only")
            flush()
            continue
        if not line.strip() or _ANCHOR_LINE.match(line):
            flush()
            blank_before = True
            continue
        if blank_before and re.match(r"^( {4,}|\t)\S", line) and not current:
            problems.append(f"{doc.path}:{number}: an indented code block; "
                            f"hints are prose only")
        for span in re.findall(r"(`+)(.+?)\1", line):
            if _STATEMENT.search(span[1]):
                problems.append(f"{doc.path}:{number}: `{span[1]}` reads as "
                                f"code; inline code may only name things")
        current.append(line)
        blank_before = False
    flush()
    return paragraphs, problems


def _language(text):
    """'en' or 'ko' for a paragraph, by the script most of it is in."""
    masked = notes.mask_for_language(text)
    return notes.line_language(masked.replace("\n", " "))


# ---------------------------------------------------------------- checking


def stub_functions(topic, root=ROOT):
    """[(name, stage)] of every NotImplemented("name", stage) call in the
    topic's stub sources, in file order."""
    found = []
    for path in sorted(glob.glob(os.path.join(root, "exercises", topic, "*.cc"))):
        with open(path, encoding="utf-8", errors="replace") as f:
            for name, stage in _NOT_IMPLEMENTED.findall(f.read()):
                found.append((name, int(stage)))
    return found


def problems(hints, stub):
    """Everything wrong with a parsed HintsFile, given the stub's
    [(function, stage)]: missing functions, levels, languages or anchors,
    code, and hints for functions the stub does not have."""
    found = list(hints.problems)
    path = hints.path
    by_name = {f.name: f for f in hints.functions}
    for name, stage in stub:
        function = by_name.get(name)
        if function is None:
            found.append(f"{path}: no hints for {name} (stage {stage}): add "
                         f"\"## {name} (Stage {stage})\" with three levels")
        elif stage not in function.stages:
            found.append(f"{path}:{function.line}: {name} is stage {stage} in "
                         f"the stub, but its heading says "
                         f"{', '.join(map(str, function.stages)) or 'none'}")
    stubbed = {name for name, _ in stub}
    for function in hints.functions:
        where = f"{path}:{function.line}"
        if stub and function.name not in stubbed:
            found.append(f"{where}: hints for {function.name}, which the stub "
                         f"does not have")
        if function.anchor != anchor_of(function.name):
            found.append(f"{where}: put <a id=\"{anchor_of(function.name)}\">"
                         f"</a> above the heading of {function.name}")
        for number in LEVELS:
            level = function.levels.get(number)
            if level is None:
                found.append(f"{where}: {function.name} has no level {number}")
                continue
            expected = anchor_of(function.name, number)
            if level.anchor != expected:
                found.append(f"{path}:{level.line}: put <a id=\"{expected}\">"
                             f"</a> above {function.name}'s level {number}")
            for lang, name in (("en", "English"), ("ko", "Korean")):
                if not level.text(lang):
                    found.append(f"{path}:{level.line}: {function.name} level "
                                 f"{number} has no {name} text")
        extra = sorted(set(function.levels) - set(LEVELS))
        if extra:
            found.append(f"{where}: {function.name} has levels beyond 3: "
                         f"{extra}")
    return found
