#!/usr/bin/env python3
"""The docs checks: the "docs" section of tools/gate, and a command of its own.

  links       every relative link and #anchor in docs/ and in every README.md
              resolves: the file is in the repository, and the anchor is a
              heading (by GitHub's slug rules, Korean headings included) or an
              explicit <a id> of the Markdown file it points at;
  test names  a link whose text is a test name (Suite.Name) points at a file
              that defines that test;
  questions   every question in docs/ has an English and a Korean title, a
              short and a deeper answer in both languages (plus follow-ups and
              a misconception, or sources, by its kind) and a proof section
              linking a test, demo or benchmark of the repository;
  30 seconds  every "30-second answer" fits in 30 seconds: at most 80 English
              words and 250 Korean characters (spaces and code counted, as
              rendered); the rest belongs in "Deeper";
  glossary    no Korean sentence in docs/ uses a word that docs/glossary.md
              lists under "avoid" (the notes' one word for each idea);
  mermaid     every ```mermaid block parses with the mermaid package itself
              (tools/mermaid, under jsdom), which must also reject a broken
              diagram, so the check cannot pass by not parsing;
  hints       every topic's exercises/<topic>/hints.md (format: tools/hints.py)
              gives every function of the stub three levels, each with its
              stable anchor and text in English and Korean, and no code; a
              topic without a hints file fails (STRICT_HINTS below);
  notes tool  the Markdown readers these checks and tools/drill share, and
              these checks themselves, pass their unit tests
              (tools/notes_test.py, tools/docs_check_test.py,
              tools/hints_test.py).

The gate adds one more: every README or docs anchor that a test printed in a
hint line resolves (check_hint_anchors).

Links, anchors and the glossary cover the hints files too.

Usage: python3 tools/docs_check.py [--strict-hints]   (exit status 1 if any
check fails)
"""

import io
import json
import os
import re
import shutil
import subprocess
import sys
import unittest
from dataclasses import dataclass

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import hints  # noqa: E402  (tools/hints.py)
import notes  # noqa: E402

ROOT = notes.ROOT
MERMAID = os.path.join(ROOT, "tools", "mermaid")
TEST_NAME = re.compile(r"^([A-Z]\w*)\.([A-Z]\w*|\*)$")
SOURCE_SUFFIXES = (".cc", ".c", ".h")
# A proof is a test, a demo or a benchmark of this repository.
PROOF = re.compile(r"^(tests/|bench/|solutions/[^/]+/demo|docs/benchmarks\.md$)")
MAX_SHOWN = 25  # problems listed per check
# What a 30-second answer may hold: about what one says in 30 seconds.
MAX_ENGLISH_WORDS = 80
MAX_KOREAN_CHARACTERS = 250
GLOSSARY = "docs/glossary.md"
# A topic without exercises/<topic>/hints.md fails the check (every topic of
# tools/topics.txt has its hints file). False would only list it as missing,
# for a new topic whose hints are still being written.
STRICT_HINTS = True


class Context:
    """What several checks share: the file list and parsed documents."""

    def __init__(self):
        self.files = notes.repo_files()
        self.cache = {}

    def exists(self, path):
        """Whether `path` is a file or folder of the repository."""
        if path.startswith("..") or os.path.isabs(path):
            return False
        if self.files is None:
            return os.path.exists(os.path.join(ROOT, path))
        return path in self.files or any(
            f.startswith(path.rstrip("/") + "/") for f in self.files)

    def doc(self, path):
        if path not in self.cache:
            self.cache[path] = notes.parse(path)
        return self.cache[path]

    def markdown_files(self):
        """docs/**/*.md and every README.md, in a stable order."""
        if self.files is not None:
            candidates = self.files
        else:
            candidates = set()
            for folder, dirs, names in os.walk(ROOT):
                dirs[:] = [d for d in dirs if not d.startswith((".", "bazel-"))
                           and d not in ("node_modules", "gate_out")]
                for name in names:
                    candidates.add(os.path.relpath(os.path.join(folder, name),
                                                   ROOT))
        return sorted(path for path in candidates if path.endswith(".md") and (
            path.startswith("docs/") or os.path.basename(path) == "README.md"
            or is_hints_file(path)))

    def hints_files(self):
        return [path for path in self.markdown_files() if is_hints_file(path)]


def is_hints_file(path):
    """exercises/<topic>/hints.md (tools/hints.py reads them)."""
    parts = path.split("/")
    return len(parts) == 3 and parts[0] == "exercises" and parts[2] == "hints.md"



def anchor_problem(context, target_path, fragment):
    """Why `fragment` is not an anchor of `target_path` (None if it is)."""
    if target_path.endswith(".md"):
        if fragment in context.doc(target_path).anchors:
            return None
        return f"no heading or <a id> makes the anchor #{fragment} there"
    lines = re.fullmatch(r"L(\d+)(?:-L(\d+))?", fragment)
    if lines and os.path.isfile(os.path.join(ROOT, target_path)):
        with open(os.path.join(ROOT, target_path), errors="replace") as f:
            count = sum(1 for _ in f)
        if max(int(n) for n in lines.groups() if n) <= count:
            return None
        return f"#{fragment} is past the end ({count} lines)"
    return f"#{fragment}: only Markdown headings and #L<n> line anchors exist"


def link_problem(context, doc_path, target):
    """Why a link of `doc_path` does not resolve (None if it does)."""
    path, fragment = notes.resolve(doc_path, target)
    if path is None:
        path = doc_path
    elif not context.exists(path):
        return f"{path} is not in the repository"
    if fragment:
        return anchor_problem(context, path, fragment)
    return None


def check_links(context, report):
    problems, count = [], 0
    files = context.markdown_files()
    for path in files:
        for link in context.doc(path).links:
            if notes.is_external(link.target):
                continue
            count += 1
            problem = link_problem(context, path, link.target)
            if problem:
                problems.append(f"{path}:{link.line}: ({link.target}) {problem}")
    report(not problems, "docs links",
           f"{count} relative links and anchors in {len(files)} Markdown "
           f"files resolve" if not problems else _listing(problems))


def check_test_names(context, report):
    problems, count = [], 0
    for path in context.markdown_files():
        for link in context.doc(path).links:
            name = TEST_NAME.match(link.text.strip().strip("`"))
            target, _ = notes.resolve(path, link.target)
            if not name or not target or not target.endswith(SOURCE_SUFFIXES):
                continue
            count += 1
            if not context.exists(target):
                continue  # check_links reports it
            with open(os.path.join(ROOT, target), errors="replace") as f:
                source = f.read()
            suite, test = name.groups()
            test = r"\w+" if test == "*" else re.escape(test)
            pattern = (r"\b(?:TEST|TEST_F|TEST_P|TYPED_TEST|TYPED_TEST_P)\s*"
                       r"\(\s*" + re.escape(suite) + r"\s*,\s*" + test +
                       r"\s*\)")
            if not re.search(pattern, source):
                problems.append(f"{path}:{link.line}: {link.text.strip()} is "
                                f"not a test in {target}")
    report(not problems, "docs tests",
           f"{count} links named after a test point at a file defining it"
           if not problems else _listing(problems))


def check_questions(context, report):
    problems, count, files = [], 0, 0
    for path in notes.note_files():
        asked = notes.questions(context.doc(path))
        files += bool(asked)
        for question in asked:
            count += 1
            where = f"{path}:{question.line}: {question.ident}"
            problems += [f"{where}: {p}" for p in
                         question_problems(context, question)]
    report(not problems, "docs questions",
           f"{count} questions in {files} files: both languages, a short and "
           f"a deeper answer, a proof in the repository" if not problems
           else _listing(problems))


def question_problems(context, question):
    """What a question lacks, by the convention of docs/README.md."""
    problems = []
    if not question.title_en or not question.title_ko:
        problems.append("the title needs both languages: ### Q1. English / 한국어")
    short = question.section("short")
    required = ["short", "deep", "proof"]
    if short is not None and short.label_en.lower() == "correct statement":
        required.append("sources")
    else:
        required += ["followups", "misconceptions"]
    for role in required:
        section = question.section(role)
        if section is None:
            problems.append(f"no \"{role}\" section (see docs/README.md, "
                            f"\"How these notes are written\")")
            continue
        if role in ("proof", "sources"):
            continue
        for lang, name in (("en", "English"), ("ko", "Korean")):
            if not any(line_lang == lang
                       for block in section.blocks
                       if block.kind not in ("code", "table")
                       for _, line_lang in notes.split_languages(block.lines)):
                problems.append(f"section \"{section.label_en}\" has no "
                                f"{name} text")
    proof = question.section("proof")
    if proof is not None:
        targets = [notes.resolve(question.path, link.target)[0]
                   for link in proof.links if not notes.is_external(link.target)]
        if not any(t and PROOF.match(t) and context.exists(t) for t in targets):
            problems.append("the proof section links no test, demo or "
                            "benchmark of the repository")
    sources = question.section("sources")
    if "sources" in required and sources is not None and not sources.blocks:
        problems.append("the sources section is empty")
    return problems


# ------------------------------------------------------ 30-second answers


_ITEM_MARKER = re.compile(r"^\s*([-*+]|\d+\.)\s+")


def _segments(line):
    """Parts of one line with their language: a line may hold both, as a
    caption "English / 한국어" does. Splits at " / " outside code spans and
    link targets; a part without letters takes the line's language."""
    masked = notes.mask_for_language(line)
    line_lang = notes.line_language(masked) or "en"
    cuts = [m.start() for m in re.finditer(r" / ", masked)]
    parts, start = [], 0
    for cut in cuts + [len(line)]:
        parts.append((line[start:cut], masked[start:cut]))
        start = cut + 3
    return [(original, notes.line_language(hidden) or line_lang)
            for original, hidden in parts]


def short_answer_size(section):
    """(English words, Korean characters) of a short answer, as rendered:
    code spans count with their text, link targets and Markdown marks do
    not, and each run of spaces or line breaks counts as one space."""
    english, korean = [], []
    for block in section.blocks:
        if block.kind in ("code", "table"):
            continue
        for index, line in enumerate(block.lines):
            if index == 0:
                line = _ITEM_MARKER.sub("", line)
            for part, lang in _segments(line):
                text = notes.inline_text(part).strip()
                if text:
                    (korean if lang == "ko" else english).append(text)
    words = len(" ".join(english).split())
    characters = len(" ".join(" ".join(korean).split()))
    return words, characters


def short_answer_problems(question):
    """Why a question's 30-second answer is too long to say in 30 s."""
    short = question.section("short")
    if short is None or short.label_en.lower() != "30-second answer":
        return []
    words, characters = short_answer_size(short)
    problems = []
    if words > MAX_ENGLISH_WORDS:
        problems.append(f"the 30-second answer has {words} English words "
                        f"(at most {MAX_ENGLISH_WORDS}): move the rest to "
                        f"\"Deeper\"")
    if characters > MAX_KOREAN_CHARACTERS:
        problems.append(f"the 30-second answer has {characters} Korean "
                        f"characters (at most {MAX_KOREAN_CHARACTERS}, "
                        f"spaces included): move the rest to \"Deeper\"")
    return problems


def check_short_answers(context, report):
    problems, count = [], 0
    for path in notes.note_files():
        for question in notes.questions(context.doc(path)):
            short = question.section("short")
            if short is None or short.label_en.lower() != "30-second answer":
                continue
            count += 1
            where = (f"{path}:{short.line}: {question.ident} "
                     f"\"{question.title_en}\"")
            problems += [f"{where}: {p}" for p in short_answer_problems(question)]
    report(not problems, "docs 30 s",
           f"{count} 30-second answers within {MAX_ENGLISH_WORDS} English "
           f"words and {MAX_KOREAN_CHARACTERS} Korean characters"
           if not problems else _listing(problems))


# ---------------------------------------------------------------- glossary


@dataclass
class Term:
    english: str
    korean: str
    avoid: list
    line: int


def _cells(line):
    return [cell.strip() for cell in line.strip().strip("|").split("|")]


def glossary_terms(doc):
    """The rows of the glossary's tables: (English, the Korean the notes use,
    the variants they avoid). The columns are found by their headers: the
    first is the English term, one header says "Korean", one says "avoid";
    variants are separated by commas and may be in code spans."""
    terms = []
    header = None
    for number, line in enumerate(doc.lines, 1):
        if doc.in_code[number - 1] or not line.lstrip().startswith("|"):
            header = None
            continue
        cells = _cells(line)
        if header is None:
            header = [cell.lower() for cell in cells]
            continue
        if all(re.fullmatch(r":?-+:?", cell) for cell in cells):
            continue
        korean = next((i for i, h in enumerate(header) if "korean" in h), None)
        avoid = next((i for i, h in enumerate(header) if "avoid" in h), None)
        if korean is None or avoid is None or len(cells) <= max(korean, avoid):
            continue
        variants = [v.strip().strip("`").strip()
                    for v in cells[avoid].split(",")]
        variants = [v for v in variants if v and v not in ("-", "–", "—")]
        terms.append(Term(notes.inline_text(cells[0]).strip(),
                          notes.inline_text(cells[korean]).strip(),
                          variants, number))
    return terms


_GLOSS = re.compile(r"\([^()\u1100-\u11ff\u3130-\u318f\uac00-\ud7a3]*\)")


def _variant_pattern(variant):
    if notes.has_hangul(variant):
        # Korean has no word boundaries; a variant may not begin mid-word.
        return re.compile(r"(?<![\uac00-\ud7a3])" + re.escape(variant))
    # A Latin word ends where Latin letters end: "reader에게" holds "reader".
    return re.compile(r"(?<![A-Za-z0-9_-])" + re.escape(variant) +
                      r"(?![A-Za-z0-9_-])", re.IGNORECASE)


def avoided_uses(doc, terms):
    """(line, variant, term) for each avoided variant in a Korean sentence of
    `doc`. Code, link targets, tags and a gloss in parentheses with no
    Korean in it ("하프 클로즈(half-close)") are not read."""
    patterns = [(term, variant, _variant_pattern(variant))
                for term in terms for variant in term.avoid]
    # A variant may be part of a word the notes do use: 세마포 in 세마포어.
    used = [word.strip() for term in terms
            for word in re.split(r"[(),/]", term.korean) if word.strip()]

    def excused(text, start, variant):
        for word in used:
            offset = word.find(variant)
            if offset >= 0 and text.startswith(word, start - offset):
                return True
        return False

    found = []
    for number, line in enumerate(doc.lines, 1):
        if doc.in_code[number - 1] or not notes.has_hangul(line):
            continue
        masked = _GLOSS.sub(lambda m: " " * len(m.group(0)),
                            notes.mask_for_language(line))
        # A follow-up puts its Korean question and English answer on one
        # line ("... / 한국어 질문?* The answer"): judge each piece alone.
        pieces = [part for cell in masked.split("|")
                  for segment in cell.split(" / ")
                  for part in re.split(r"\?\*", segment)]
        for part in pieces:
            korean = notes.line_language(part) == "ko"
            for term, variant, pattern in patterns:
                # A Korean word is Korean wherever it stands ("SIGPIPE, EPIPE,
                # 반쪽 닫기" is mostly Latin); an English word only counts
                # inside Korean sentences.
                if not korean and not notes.has_hangul(variant):
                    continue
                if any(not excused(part, match.start(), variant)
                       for match in pattern.finditer(part)):
                    found.append((number, variant, term))
    return found


def check_glossary(context, report):
    if not context.exists(GLOSSARY):
        report(False, "docs glossary", f"{GLOSSARY} is missing")
        return
    terms = glossary_terms(context.doc(GLOSSARY))
    problems = [f"{GLOSSARY}:{term.line}: {term.english}: no Korean term"
                for term in terms if not term.korean]
    count = 0
    for path in notes.note_files() + context.hints_files():
        if path == GLOSSARY:
            continue
        count += 1
        for number, variant, term in avoided_uses(context.doc(path), terms):
            problems.append(f"{path}:{number}: \"{variant}\" is on the "
                            f"glossary's avoid list: write \"{term.korean}\" "
                            f"({term.english}; {GLOSSARY}:{term.line})")
    avoided = sum(len(term.avoid) for term in terms)
    report(not problems, "docs glossary",
           f"{len(terms)} terms, {avoided} avoided variants, none in the "
           f"Korean of {count} notes and hints files" if not problems
           else _listing(problems))


def topics():
    with open(os.path.join(ROOT, "tools", "topics.txt")) as f:
        return [line.split("#")[0].strip() for line in f
                if line.split("#")[0].strip()]


def check_hints(context, report, strict=None, chosen=None):
    """Every topic's hints file against its stub (tools/hints.py)."""
    strict = STRICT_HINTS if strict is None else strict
    problems, missing, checked, functions = [], [], [], 0
    for topic in chosen if chosen is not None else topics():
        stub = hints.stub_functions(topic)
        parsed = hints.load(topic)
        if parsed is None:
            missing.append(topic)
            continue
        checked.append(topic)
        functions += len(parsed.functions)
        problems.extend(hints.problems(parsed, stub))
    if strict:
        problems.extend(f"{hints.hints_path(topic)} is missing: every "
                        f"function of the stub needs its three levels"
                        for topic in missing)
    ok = not problems
    detail = (f"{functions} functions of {', '.join(checked) or 'no topic'} "
              f"have three levels in English and Korean, anchors and no code"
              if ok else _listing(problems))
    if missing and not strict:
        detail += (f"; missing (not yet required): "
                   f"{', '.join(hints.hints_path(t) for t in missing)}")
    report(ok, "docs hints", detail)


def check_mermaid(context, report):
    diagrams = []
    for path in context.markdown_files():
        for fence in context.doc(path).fences:
            if fence.lang == "mermaid":
                diagrams.append({"where": f"{path}:{fence.start}",
                                 "text": fence.text})
    parser = os.path.join(MERMAID, "parse.mjs")
    if not shutil.which("node") or not os.path.isdir(
            os.path.join(MERMAID, "node_modules", "mermaid")):
        report(False, "docs mermaid", "the mermaid parser is not installed: "
               "run tools/setup.sh (npm ci --prefix tools/mermaid)")
        return
    # Two canaries: the parser must accept a good diagram and reject a bad one.
    canaries = [{"where": "canary: good", "text": "flowchart LR\n  A --> B"},
                {"where": "canary: broken", "text": "flowchart LR\n  A -->"}]
    out = subprocess.run(["node", parser], input=json.dumps(canaries + diagrams),
                         capture_output=True, text=True, cwd=ROOT, timeout=300)
    try:
        results = json.loads(out.stdout)
    except json.JSONDecodeError:
        report(False, "docs mermaid", "the parser failed: " +
               (out.stderr or out.stdout).strip()[-800:])
        return
    good, broken = results[0], results[1]
    if not good["ok"] or broken["ok"]:
        report(False, "docs mermaid", "the parser is not parsing: it "
               f"{'rejected' if not good['ok'] else 'accepted'} a "
               f"{'good' if not good['ok'] else 'broken'} canary diagram")
        return
    problems = [f"{r['where']}: {r['error'].splitlines()[0]}" +
                "".join(f"\n      {line}" for line in r["error"].splitlines()[1:4])
                for r in results[2:] if not r["ok"]]
    kinds = sorted({r["type"] for r in results[2:] if r["ok"]})
    report(not problems, "docs mermaid",
           f"{len(diagrams)} diagrams parse with mermaid {good['version']} "
           f"({', '.join(kinds) or 'none'}); a broken canary is rejected"
           if not problems else _listing(problems))


def check_notes_tool(report):
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import docs_check_test  # noqa: E402
    import hints_test  # noqa: E402
    import notes_test  # noqa: E402
    loader = unittest.defaultTestLoader
    suite = unittest.TestSuite([loader.loadTestsFromModule(notes_test),
                                loader.loadTestsFromModule(docs_check_test),
                                loader.loadTestsFromModule(hints_test)])
    stream = io.StringIO()
    result = unittest.TextTestRunner(stream=stream, verbosity=0).run(suite)
    ok = result.wasSuccessful()
    report(ok, "docs tools", f"tools/notes_test.py, tools/docs_check_test.py, "
           f"tools/hints_test.py: {result.testsRun} unit tests of the Markdown "
           f"readers and of these checks pass" if ok
           else stream.getvalue().strip()[-1500:])


_HINT_ANCHOR = re.compile(r"\bread ([\w./-]+\.md)#([^\s)\"']+)")


def check_hint_anchors(texts, report):
    """Every "read <file>.md#<anchor>" printed in `texts` (test logs)."""
    context = Context()
    seen = {}
    for text in texts:
        for path, fragment in _HINT_ANCHOR.findall(text):
            seen[(path, fragment)] = None
    problems = []
    for path, fragment in seen:
        if not context.exists(path):
            problems.append(f"{path}#{fragment}: {path} is not in the repository")
            continue
        problem = anchor_problem(context, path, fragment)
        if problem:
            problems.append(f"{path}#{fragment}: {problem}")
    report(bool(seen) and not problems, "hint links",
           f"{len(seen)} distinct README/docs anchors printed by the tests' "
           f"hints resolve" if seen and not problems else
           "no hint with a README/docs anchor in the test logs" if not seen
           else _listing(problems))


def _listing(problems):
    shown = problems[:MAX_SHOWN]
    more = len(problems) - len(shown)
    return (f"{len(problems)} problem{'s' if len(problems) != 1 else ''}:\n" +
            "\n".join(f"      {p}" for p in shown) +
            (f"\n      ... and {more} more" if more else ""))


def run(report, strict_hints=None):
    """Runs every docs check, calling report(ok, label, detail) for each."""
    context = Context()
    check_links(context, report)
    check_test_names(context, report)
    check_questions(context, report)
    check_short_answers(context, report)
    check_glossary(context, report)
    check_hints(context, report, strict_hints)
    check_mermaid(context, report)
    check_notes_tool(report)


def main():
    tally = {True: 0, False: 0}

    def report(ok, label, detail):
        print(f"  [{'ok  ' if ok else 'FAIL'}] {label:<14} {detail}", flush=True)
        tally[bool(ok)] += 1

    run(report, strict_hints=True if "--strict-hints" in sys.argv[1:] else None)
    print(f"\ndocs: {tally[True]} passed, {tally[False]} failed")
    return 1 if tally[False] else 0


if __name__ == "__main__":
    sys.exit(main())
