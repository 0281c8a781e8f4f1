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
  mermaid     every ```mermaid block parses with the mermaid package itself
              (tools/mermaid, under jsdom), which must also reject a broken
              diagram, so the check cannot pass by not parsing;
  notes tool  the Markdown reader these checks and tools/drill share passes
              its own unit tests (tools/notes_test.py).

The gate adds one more: every README or docs anchor that a test printed in a
hint line resolves (check_hint_anchors).

Usage: python3 tools/docs_check.py   (exit status 1 if any check fails)
"""

import io
import json
import os
import re
import shutil
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import notes  # noqa: E402

ROOT = notes.ROOT
MERMAID = os.path.join(ROOT, "tools", "mermaid")
TEST_NAME = re.compile(r"^([A-Z]\w*)\.([A-Z]\w*|\*)$")
SOURCE_SUFFIXES = (".cc", ".c", ".h")
# A proof is a test, a demo or a benchmark of this repository.
PROOF = re.compile(r"^(tests/|bench/|solutions/[^/]+/demo|docs/benchmarks\.md$)")
MAX_SHOWN = 25  # problems listed per check


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
            path.startswith("docs/") or os.path.basename(path) == "README.md"))


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
    import notes_test  # noqa: E402
    suite = unittest.defaultTestLoader.loadTestsFromModule(notes_test)
    stream = io.StringIO()
    result = unittest.TextTestRunner(stream=stream, verbosity=0).run(suite)
    ok = result.wasSuccessful()
    report(ok, "docs tools", f"tools/notes_test.py: {result.testsRun} unit "
           f"tests of the Markdown reader pass" if ok else
           stream.getvalue().strip()[-1500:])


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


def run(report):
    """Runs every docs check, calling report(ok, label, detail) for each."""
    context = Context()
    check_links(context, report)
    check_test_names(context, report)
    check_questions(context, report)
    check_mermaid(context, report)
    check_notes_tool(report)


def main():
    tally = {True: 0, False: 0}

    def report(ok, label, detail):
        print(f"  [{'ok  ' if ok else 'FAIL'}] {label:<14} {detail}", flush=True)
        tally[bool(ok)] += 1

    run(report)
    print(f"\ndocs: {tally[True]} passed, {tally[False]} failed")
    return 1 if tally[False] else 0


if __name__ == "__main__":
    sys.exit(main())
