"""Reads the project's Markdown the way GitHub shows it, for the docs check
(tools/docs_check.py) and the drill (tools/drill).

Three things live here:

* The Markdown facts a link checker needs: fenced code blocks, headings and
  the anchors GitHub gives them (its slug rules, Korean headings included),
  explicit <a id> anchors, and every link with the line it is on.
* The interview notes' convention (described in docs/README.md, "How these
  notes are written"): a question is a level-3 heading "### Q3. English /
  한국어", followed by sections that each start with a bold label line such as
  "**30-second answer / 30초 답변**"; English and Korean text sit side by side
  inside each section, told apart by their script.
* Terminal output for the drill and tools/kata: Markdown as plain text,
  wrapped by display width (a Hangul syllable takes two columns).

Python 3 standard library only.
"""

import os
import re
import subprocess
import unicodedata
from dataclasses import dataclass, field
from urllib.parse import unquote

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# ------------------------------------------------------------------ scripts

_HANGUL = re.compile("[\u1100-\u11ff\u3130-\u318f\uac00-\ud7a3]")
_LATIN = re.compile("[A-Za-z]")


def has_hangul(text):
    return bool(_HANGUL.search(text))


def line_language(masked_line):
    """'ko', 'en' or None (no letters) for one line whose code is masked.

    A Hangul syllable carries about as much as two or three Latin letters, so
    a Korean sentence with a few English terms still counts as Korean, and an
    English sentence quoting a short Korean phrase still counts as English.
    """
    hangul = len(_HANGUL.findall(masked_line))
    latin = len(_LATIN.findall(masked_line))
    if hangul == 0 and latin == 0:
        return None
    return "ko" if hangul * 2.5 >= latin else "en"


# ----------------------------------------------------------------- masking

_CODE_SPAN = re.compile(r"(`+)(.+?)\1", re.S)
_LINK_TARGET = re.compile(r"\]\([^)]*\)")
_HTML_TAG = re.compile(r"<[^>\n]+>")


def _blank(match):
    """The matched text with every character but newlines made a space."""
    return re.sub(r"[^\n]", " ", match.group(0))


def mask_code_spans(text):
    """`text` with inline code spans blanked out, line structure kept."""
    return _CODE_SPAN.sub(_blank, text)


def mask_for_language(text):
    """Blanks what says nothing about the language: code, link targets, tags."""
    text = mask_code_spans(text)
    text = _LINK_TARGET.sub(_blank, text)
    return _HTML_TAG.sub(_blank, text)


# ----------------------------------------------------------------- anchors


def inline_text(markdown):
    """The plain text GitHub renders for a line of inline Markdown."""
    spans = []

    def keep_code(match):
        spans.append(match.group(2).strip())
        return f"\0{len(spans) - 1}\0"

    text = _CODE_SPAN.sub(keep_code, markdown)
    text = re.sub(r"!\[([^\]]*)\]\([^)]*\)", r"\1", text)  # images: alt text
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", text)  # links: their text
    text = re.sub(r"\[([^\]]*)\]\[[^\]]*\]", r"\1", text)
    text = _HTML_TAG.sub("", text)
    text = re.sub(r"(\*\*|__)(.+?)\1", r"\2", text)
    text = re.sub(r"(?<![\w*])\*(?!\s)(.+?)(?<!\s)\*(?![\w*])", r"\1", text)
    text = re.sub(r"(?<!\w)_(?!\s)(.+?)(?<!\s)_(?!\w)", r"\1", text)
    return re.sub("\0(\\d+)\0", lambda m: spans[int(m.group(1))], text)


def github_slug(heading_text):
    """The anchor GitHub gives a heading with this rendered text.

    As GitHub's slugger does: lower-case, drop every character that is not a
    letter, mark, number, '_', '-' or space, then turn each space into '-'.
    Hangul syllables are letters, so Korean headings keep their words.
    """
    kept = []
    for char in heading_text.strip().lower():
        if char in " -_" or unicodedata.category(char)[0] in "LMN":
            kept.append(char)
    return "".join(kept).replace(" ", "-")


# --------------------------------------------------------------- documents


@dataclass
class Heading:
    level: int
    text: str  # rendered text
    line: int  # 1-based
    slug: str  # unique within the document, as GitHub numbers repeats


@dataclass
class Link:
    target: str
    text: str
    line: int


@dataclass
class Fence:
    lang: str
    start: int  # line of the opening fence, 1-based
    text: str


@dataclass
class Document:
    path: str  # relative to ROOT
    lines: list
    fences: list = field(default_factory=list)
    headings: list = field(default_factory=list)
    anchors: set = field(default_factory=set)
    links: list = field(default_factory=list)
    in_code: list = field(default_factory=list)  # per line: inside a fence


_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})\s*([^\s`]*)")
_ATX = re.compile(r"^ {0,3}(#{1,6})(?:[ \t]+(.*?))?(?:[ \t]+#+)?[ \t]*$")
_SETEXT = re.compile(r"^ {0,3}(=+|-+)[ \t]*$")
_EXPLICIT_ANCHOR = re.compile(
    r"<[A-Za-z][^>]*?\s(?:id|name)\s*=\s*[\"']([^\"']+)[\"']")
_INLINE_LINK = re.compile(
    r"(!?)\[((?:[^\[\]]|\[[^\[\]]*\])*)\]\(\s*(<[^>\n]*>|[^\s)]+)"
    r"(?:\s+(?:\"[^\"]*\"|'[^']*'))?\s*\)")
_REFERENCE = re.compile(r"^ {0,3}\[([^\]]+)\]:\s*(\S+)", re.M)
_HTML_LINK = re.compile(r"<(?:a|img)\s[^>]*?(?:href|src)\s*=\s*\"([^\"]+)\"")


def parse(path):
    """Reads the Markdown file at `path` (relative to ROOT) into a Document."""
    with open(os.path.join(ROOT, path), encoding="utf-8") as f:
        return parse_text(path, f.read())


def parse_text(path, text):
    """A Document from Markdown `text`, as if it were the file at `path`."""
    lines = text.split("\n")
    doc = Document(path=path, lines=lines)
    fence = None  # (marker, lang, start, body)
    for number, line in enumerate(lines, 1):
        opening = _FENCE.match(line)
        if fence is None and opening:
            fence = (opening.group(1), opening.group(2).lower(), number, [])
            doc.in_code.append(True)
            continue
        if fence is not None:
            doc.in_code.append(True)
            marker = fence[0]
            if re.match(r"^ {0,3}" + re.escape(marker[0]) + "{" +
                        str(len(marker)) + r",}\s*$", line):
                doc.fences.append(Fence(fence[1], fence[2], "\n".join(fence[3])))
                fence = None
            else:
                fence[3].append(line)
            continue
        doc.in_code.append(False)
    if fence is not None:  # an unclosed fence runs to the end, as on GitHub
        doc.fences.append(Fence(fence[1], fence[2], "\n".join(fence[3])))

    seen = {}

    def add_heading(level, raw, number):
        text = inline_text(raw)
        base = github_slug(text)
        count = seen.get(base, 0)
        seen[base] = count + 1
        slug = base if count == 0 else f"{base}-{count}"
        doc.headings.append(Heading(level, text, number, slug))
        doc.anchors.add(slug)

    for index, line in enumerate(lines):
        if doc.in_code[index]:
            continue
        atx = _ATX.match(line)
        if atx:
            add_heading(len(atx.group(1)), atx.group(2) or "", index + 1)
            continue
        setext = _SETEXT.match(line)
        previous = lines[index - 1] if index > 0 else ""
        if (setext and index > 0 and not doc.in_code[index - 1] and
                previous.strip() and not _ATX.match(previous) and
                not re.match(r"^\s*([-*+]|\d+\.)\s", previous) and
                not _SETEXT.match(previous)):
            add_heading(1 if setext.group(1)[0] == "=" else 2, previous.strip(),
                        index)
    # Headings come out in document order only if setext ones are sorted in.
    doc.headings.sort(key=lambda heading: heading.line)

    prose = "\n".join("" if doc.in_code[i] else line
                      for i, line in enumerate(lines))
    for match in _EXPLICIT_ANCHOR.finditer(mask_code_spans(prose)):
        doc.anchors.add(match.group(1))
    masked = mask_code_spans(prose)

    def line_of(offset):
        return masked.count("\n", 0, offset) + 1

    for match in _INLINE_LINK.finditer(masked):
        target = match.group(3)
        if target.startswith("<"):
            target = target[1:-1]
        text = prose[match.start(2):match.end(2)]
        doc.links.append(Link(target, text, line_of(match.start())))
    for match in _REFERENCE.finditer(masked):
        doc.links.append(Link(match.group(2), match.group(1),
                              line_of(match.start())))
    for match in _HTML_LINK.finditer(masked):
        doc.links.append(Link(match.group(1), "", line_of(match.start())))
    doc.links.sort(key=lambda link: link.line)
    return doc


def is_external(target):
    """http:, mailto: and the like, or a protocol-relative //host link."""
    return bool(re.match(r"^[A-Za-z][A-Za-z0-9+.-]*:", target) or
                target.startswith("//"))


def resolve(doc_path, target):
    """(repo-relative path or None for the same file, fragment or None)."""
    path, _, fragment = target.partition("#")
    path, fragment = unquote(path), (unquote(fragment) if _ else None)
    if not path:
        return None, fragment
    if path.startswith("/"):
        joined = path.lstrip("/")
    else:
        joined = os.path.join(os.path.dirname(doc_path), path)
    return os.path.normpath(joined), fragment


def repo_files():
    """Every file git would commit here (tracked, or new and not ignored)."""
    try:
        out = subprocess.run(
            ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
            cwd=ROOT, capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return None
    return {path for path in out.split("\n")
            if path and os.path.exists(os.path.join(ROOT, path))}


# ------------------------------------------------------------- the Q&A notes

_QUESTION = re.compile(r"^([A-Z]\d+)\.\s+(.*)$")
_LABEL = re.compile(r"^\*\*([^*]+?)\*\*\s*$")
_ITEM = re.compile(r"^([-*+]|\d+\.)\s+")

# Section labels (the English half) and the role each plays.
ROLES = {
    "30-second answer": "short",
    "correct statement": "short",
    "deeper": "deep",
    "follow-ups": "followups",
    "misconception": "misconceptions",
    "misconceptions": "misconceptions",
    "proof": "proof",
    "proofs": "proof",
    "source": "sources",
    "sources": "sources",
}


def split_pair(text):
    """"English / 한국어" -> ("English", "한국어").

    Splits before the first " / "-separated part that holds Korean; failing
    that (a Korean title made only of code words), at the last " / ".
    """
    parts = text.split(" / ")
    if len(parts) == 1:
        return text.strip(), ""
    cut = next((i for i in range(1, len(parts)) if has_hangul(parts[i])),
               len(parts) - 1)
    return " / ".join(parts[:cut]).strip(), " / ".join(parts[cut:]).strip()


@dataclass
class Block:
    kind: str  # "text", "item", "table" or "code" (the last two: no language)
    lines: list  # source lines (item marker and indentation kept)
    line: int  # first line, 1-based
    lang: str = ""  # the fence's language, for "code"


@dataclass
class Section:
    label_en: str
    label_ko: str
    role: str
    line: int
    blocks: list = field(default_factory=list)
    links: list = field(default_factory=list)


@dataclass
class Question:
    path: str
    topic: str
    ident: str  # "Q3", "M1"
    title_en: str
    title_ko: str
    anchor: str
    line: int
    sections: list = field(default_factory=list)

    def section(self, role):
        for section in self.sections:
            if section.role == role:
                return section
        return None


def topic_of(path):
    name = os.path.splitext(os.path.basename(path))[0]
    return "overview" if name.lower() == "readme" else name


def questions(doc):
    """The questions of a parsed document, in order."""
    found = []
    headings = [h for h in doc.headings if h.level <= 3]
    for position, heading in enumerate(headings):
        match = _QUESTION.match(heading.text) if heading.level == 3 else None
        if not match:
            continue
        end = (headings[position + 1].line - 1 if position + 1 < len(headings)
               else len(doc.lines))
        anchor = heading.slug
        for back in range(heading.line - 2, max(heading.line - 4, -1), -1):
            explicit = _EXPLICIT_ANCHOR.search(doc.lines[back])
            if explicit:
                anchor = explicit.group(1)
                break
        title_en, title_ko = split_pair(match.group(2))
        question = Question(doc.path, topic_of(doc.path), match.group(1),
                            title_en, title_ko, anchor, heading.line)
        question.sections = _sections(doc, heading.line, end)
        found.append(question)
    return found


def _sections(doc, first, last):
    """Sections between line `first` (the heading) and `last`, 1-based."""
    sections = []
    current = None
    block = None
    index = first  # 0-based index of the line after the heading
    while index < last:
        line = doc.lines[index]
        number = index + 1
        if doc.in_code[index]:
            # A whole fence becomes one code block.
            fence = next(f for f in doc.fences if f.start == number)
            size = fence.text.count("\n") + 3 if fence.text else 2
            if current is not None:
                current.blocks.append(
                    Block("code", doc.lines[index:index + size], number,
                          fence.lang))
            block = None
            index += size
            continue
        index += 1
        if re.match(r"^ {0,3}([-*_])( *\1){2,}\s*$", line):
            break  # a thematic break ends the question
        label = _LABEL.match(line)
        if label:
            label_en, label_ko = split_pair(label.group(1))
            role = ROLES.get(label_en.lower(), label_en.lower())
            current = Section(label_en, label_ko, role, number)
            sections.append(current)
            block = None
            continue
        if current is None:
            continue
        if not line.strip() or _HTML_TAG.fullmatch(line.strip()):
            block = None
            continue
        if _ITEM.match(line):
            block = Block("item", [line], number)
            current.blocks.append(block)
        elif block is None:
            kind = "table" if line.lstrip().startswith("|") else "text"
            block = Block(kind, [line], number)
            current.blocks.append(block)
        else:
            block.lines.append(line)
    for section in sections:
        end = (sections[sections.index(section) + 1].line
               if section is not sections[-1] else last + 1)
        section.links = [link for link in doc.links
                         if section.line < link.line < end]
    return sections


def split_languages(block_lines):
    """Each line of a block with its language ('en' or 'ko').

    Lines without letters take the language of the line before them. A
    leading bilingual question in italics ("*English? / 한국어?*") is left
    to the caller (see italic_question).
    """
    text = "\n".join(block_lines)
    masked = mask_for_language(text).split("\n")
    result = []
    previous = "en"
    for original, hidden in zip(block_lines, masked):
        lang = line_language(hidden) or previous
        result.append((original, lang))
        previous = lang
    return result


_ITALIC_QUESTION = re.compile(r"^\s*([-*+]|\d+\.)\s+\*(?!\*)(.+?)(?<!\*)\*(?!\*)",
                              re.S)


def italic_question(block_lines):
    """(English, Korean, the rest of the item's text) if the item opens with
    an italic bilingual question, as follow-ups do; else None."""
    text = "\n".join(block_lines)
    match = _ITALIC_QUESTION.match(text)
    if not match or " / " not in match.group(2):
        return None
    english, korean = split_pair(" ".join(match.group(2).split()))
    return english, korean, text[match.end():]


def note_files():
    """docs/*.md that hold questions, the overview (docs/README.md) first."""
    folder = os.path.join(ROOT, "docs")
    names = sorted(name for name in os.listdir(folder) if name.endswith(".md"))
    names.sort(key=lambda name: name.lower() != "readme.md")
    return [os.path.join("docs", name) for name in names]


# ------------------------------------------------------ terminal output


def width_of(text):
    """Columns `text` takes in a terminal (Hangul is two columns wide)."""
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1
               for c in text)


def wrap(text, indent, columns):
    """Wraps `text` to `columns` by display width, not characters. The first
    line starts with `indent` (say "  • "), the others line up under it."""
    hang = " " * width_of(indent)
    lines, current, words = [], indent, 0
    for word in text.split():
        if words and width_of(current + " " + word) > columns:
            lines.append(current)
            current, words = hang + word, 1
        else:
            current += (" " if words else "") + word
            words += 1
    if words:
        lines.append(current)
    return lines


def terminal_text(markdown, doc_path, show_targets, with_anchor=False):
    """Inline Markdown as terminal text: links become their text (and, with
    `show_targets`, the file they point to, plus its #anchor if
    `with_anchor`), code and emphasis lose their marks."""

    def link(match):
        text, target = match.group(1), match.group(2)
        if not show_targets or is_external(target):
            return text
        path, fragment = resolve(doc_path, target)
        if path and with_anchor and fragment:
            path += "#" + fragment
        return f"{text} ({path})" if path else text

    text = re.sub(r"\[((?:[^\[\]]|\[[^\[\]]*\])*)\]\(([^)\s]+)[^)]*\)", link,
                  markdown)
    text = inline_text(text)
    return re.sub(r"\\([\\`*_{}\[\]()#+\-.!|])", r"\1", text)
