"""Checks that the learner's stubs hold the contract, not the recipe.

A kata's stub (exercises/<topic>/*.cc) gives the learner each function to
write with an empty body: the header (exercises/<topic>/*.h) says what the
function must do, and `tools/kata hint <topic>` gives the steps one level at
a time (exercises/<topic>/hints.md). A comment in the stub that spells out
the call sequence hands the learner the answer, so this check fails when:

  * the body of a function the learner writes holds anything but
      - the `throw NotImplemented("<name>", <stage>);` of an unfinished
        function (a noexcept function or a destructor has none),
      - `(void)<parameter>;` lines that keep an unused parameter quiet,
      - `return *this;` (a move assignment must return something),
      - at most one comment line, which points to the header or to
        `tools/kata hint <topic>`;
  * a comment in or right above such a function names a call, a man page,
    a flag or an errno value (`waitpid(`, `waitpid(2)`, `O_CLOEXEC`,
    `EINTR`) that the header's contract comment for that function does not
    name.

Code the stub gives the learner on purpose (the NotImplemented helper, a
move constructor) is exempt when the comment right above it says so with the
word "Given" ("// Given: ..."); its body is the learner's to read, not to
write.

tools/gate runs it per topic ("stub contract") and runs its unit tests
(tools/stub_check_test.py, "stub check"). Alone:

  python3 tools/stub_check.py [topic ...]     (exit status 1 on a problem)

Python 3 standard library only.
"""

import glob
import os
import re
import sys
from dataclasses import dataclass

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# A call or a man page reference: a word right before "(".
_CALL = re.compile(r"\b([A-Za-z_][\w:]*)\((\d\w*)?\)?")
# A flag, an option or an errno value: O_CLOEXEC, SOCK_STREAM, EINTR.
_CONSTANT = re.compile(r"\b(?:[A-Z][A-Z0-9]*_[A-Z0-9_]+|E[A-Z0-9]{3,})\b")
# The statements a stub body may hold besides its one comment line.
_ALLOWED = [
    re.compile(r"throw\s+NotImplemented\(\s*\"[^\"]+\"\s*,\s*\d+\s*\)"),
    re.compile(r"\(void\)\s*[A-Za-z_]\w*"),
    re.compile(r"return\s+\*this"),
]
_GIVEN = re.compile(r"^\s*//\s*Given\b", re.M)


@dataclass
class Function:
    name: str  # as written in the definition: "SysvQueue::Create"
    line: int  # 1-based line of the body's opening brace
    leading: str  # the text between the previous definition and this one
    body: str  # between the braces


def _mask(text):
    """`text` with string and character literals and comments blanked out
    (newlines kept), so that braces and parentheses in them do not count."""
    out, i, n = [], 0, len(text)
    while i < n:
        c = text[i]
        if text.startswith("//", i):
            end = text.find("\n", i)
            end = n if end < 0 else end
            out.append(" " * (end - i))
            i = end
        elif text.startswith("/*", i):
            end = text.find("*/", i + 2)
            end = n if end < 0 else end + 2
            out.append(re.sub(r"[^\n]", " ", text[i:end]))
            i = end
        elif c in "\"'":
            j = i + 1
            while j < n and text[j] != c:
                j += 2 if text[j] == "\\" else 1
            out.append(c + re.sub(r"[^\n]", " ", text[i + 1:j]) + c)
            i = j + 1
        else:
            out.append(c)
            i += 1
    return "".join(out)


def functions(text):
    """Every function defined at namespace scope in the C++ `text`."""
    masked = _mask(text)
    found = []
    depth_kinds = []  # one entry per open brace: "namespace", "function", ...
    start = 0  # where the text of the next declaration begins
    i = 0
    while i < len(masked):
        c = masked[i]
        if c == "{":
            head = masked[start:i]
            if all(k == "namespace" for k in depth_kinds):
                if re.match(r"\s*(inline\s+)?namespace\b",
                            _strip_preprocessor(head)):
                    depth_kinds.append("namespace")
                    start = i + 1
                elif "(" in head:
                    end = _matching(masked, i)
                    found.append(Function(
                        name=_name_of(head), line=text.count("\n", 0, i) + 1,
                        leading=text[start:i], body=text[i + 1:end]))
                    i = end + 1
                    start = i
                    continue
                else:
                    depth_kinds.append("other")
            else:
                depth_kinds.append("other")
        elif c == "}":
            if depth_kinds:
                kind = depth_kinds.pop()
                if kind == "namespace" or not depth_kinds:
                    start = i + 1
        elif c == ";" and all(k == "namespace" for k in depth_kinds):
            start = i + 1
        i += 1
    return found


def _strip_preprocessor(head):
    return "\n".join(line for line in head.splitlines()
                     if not line.lstrip().startswith("#"))


def _matching(masked, open_at):
    depth = 0
    for j in range(open_at, len(masked)):
        if masked[j] == "{":
            depth += 1
        elif masked[j] == "}":
            depth -= 1
            if depth == 0:
                return j
    return len(masked)


def _name_of(head):
    """The declared name in a definition's head: the qualified name right
    before the parameter list's "(" (an initializer list may follow)."""
    code = _mask(head)
    match = re.search(r"((?:[A-Za-z_]\w*::)*(?:~?[A-Za-z_]\w*|operator\s*\S+?))"
                      r"\s*\(", code)
    return re.sub(r"\s+", "", match.group(1)) if match else "?"


def _comments(text):
    """[(line offset, comment text)] of the // and /* */ comments in text."""
    masked = _mask(text)
    found = []
    for match in re.finditer(r"//[^\n]*|/\*.*?\*/", text, re.S):
        # Only real comments: in the masked text they are blanks.
        if masked[match.start():match.end()].strip():
            continue
        found.append((text.count("\n", 0, match.start()), match.group(0)))
    return found


def named(comment_text):
    """The calls, man pages, flags and errno values a comment names."""
    names = {m.group(1).split("::")[-1] for m in _CALL.finditer(comment_text)}
    names |= set(_CONSTANT.findall(comment_text))
    return names


# ---------------------------------------------------------------- headers


def contract_names(headers_text, function_name):
    """What the headers' contract comments name for `function_name`: the
    comment block above every declaration of its unqualified name, its
    trailing comments, and for a member the comment block above its class."""
    parts = function_name.split("::")
    simple = parts[-1]
    owner = parts[-2] if len(parts) > 1 else None
    lines = headers_text.splitlines()
    names = set()
    declared = re.compile(r"(?<![\w~])" + re.escape(simple) + r"\s*\(")
    if simple == "operator=":
        declared = re.compile(r"operator\s*=\s*\(")
    in_class = re.compile(r"^\s*(class|struct)\s+" + re.escape(owner or "")
                          + r"\b") if owner else None
    for index, line in enumerate(lines):
        code = line.split("//", 1)[0]
        hit = declared.search(code) and not code.lstrip().startswith("//")
        if in_class is not None and in_class.match(code):
            hit = True
        if not hit:
            continue
        if "//" in line:
            names |= named(line.split("//", 1)[1])
        above = index - 1
        while above >= 0 and lines[above].lstrip().startswith("//"):
            names |= named(lines[above])
            above -= 1
    return names


# ---------------------------------------------------------------- checking


def problems_in(path, text, headers_text, topic):
    """Everything wrong with one stub file, as "path:line: what" strings."""
    found = []
    for function in functions(text):
        if _GIVEN.search(_last_comment_block(function.leading)):
            continue
        where = f"{path}:{function.line}"
        comments = _comments(function.body)
        comment_lines = sum(c.count("\n") + 1 for _, c in comments)
        code = _mask(function.body)
        statements = [s.strip() for s in code.split(";") if s.strip()]
        extra = [s for s in statements
                 if not any(p.fullmatch(s) for p in _ALLOWED)]
        if extra:
            found.append(f"{where}: {function.name} holds code a stub must "
                         f"not give: {' '.join(extra[0].split())[:60]!r} (a "
                         f"stub body is the throw NotImplemented(...), "
                         f"(void) lines and one comment line; mark code "
                         f"given on purpose with a \"// Given:\" comment)")
        if comment_lines > 1:
            found.append(f"{where}: {function.name} has {comment_lines} "
                         f"comment lines in its body; keep one that points "
                         f"to the header and to tools/kata hint {topic}")
        for _, comment in comments:
            if ".h" not in comment and "tools/kata hint" not in comment:
                found.append(f"{where}: {function.name}'s comment "
                             f"{comment.strip()[:60]!r} should point to the "
                             f"header or to tools/kata hint {topic}, nothing "
                             f"more")
        said = named("\n".join(c for _, c in comments) + "\n" +
                     _last_comment_block(function.leading))
        unknown = sorted(said - contract_names(headers_text, function.name))
        if unknown:
            found.append(f"{where}: a comment of {function.name} names "
                         f"{', '.join(unknown)}, which the header's contract "
                         f"for it does not: that is the recipe; it belongs "
                         f"in level 3 of exercises/{topic}/hints.md")
    return found


def _last_comment_block(leading):
    """The comment lines right above a definition (its own comment): the
    head of the definition is skipped, a blank line ends the block."""
    block, in_head = [], True
    for line in reversed(leading.rstrip().splitlines()):
        stripped = line.strip()
        if stripped.startswith("//"):
            in_head = False
            block.append(line)
        elif in_head and stripped:
            continue  # the return type or the name, above the brace
        else:
            break
    return "\n".join(reversed(block))


def check_topic(topic, root=ROOT):
    """(problems, functions checked) for exercises/<topic>/."""
    folder = os.path.join(root, "exercises", topic)
    headers = ""
    for header in sorted(glob.glob(os.path.join(folder, "*.h"))):
        with open(header, encoding="utf-8") as f:
            headers += f.read() + "\n"
    found, count = [], 0
    for source in sorted(glob.glob(os.path.join(folder, "*.cc"))):
        with open(source, encoding="utf-8") as f:
            text = f.read()
        path = os.path.relpath(source, root)
        found.extend(problems_in(path, text, headers, topic))
        count += sum(1 for fn in functions(text)
                     if not _GIVEN.search(_last_comment_block(fn.leading)))
    if count == 0:
        found.append(f"exercises/{topic}: no stub function found")
    return found, count


def main(argv):
    chosen = argv or [t.strip() for t in open(
        os.path.join(ROOT, "tools", "topics.txt"), encoding="utf-8")
        if t.strip() and not t.startswith("#")]
    failed = False
    for topic in chosen:
        found, count = check_topic(topic)
        failed |= bool(found)
        print(f"{topic}: {count} stub functions, "
              + ("contract only" if not found else f"{len(found)} problems"))
        for problem in found:
            print(f"  {problem}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
