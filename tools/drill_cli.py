"""Interview drill: asks the questions of docs/ one at a time, waits, shows
the model answer, then asks you how it went and schedules the question
again by spaced repetition, in English or Korean.

  tools/drill                      the questions due today, then new ones
  tools/drill --topic pipe         one topic (repeat --topic for several)
  tools/drill --lang ko            in Korean (질문과 답을 한국어로)
  tools/drill --all                also the questions that are not due yet
  tools/drill --in-order           every question, in the order of the notes
  tools/drill --due                per topic: due now, new, later, boxes
  tools/drill --list               the topics and how many questions each has
  tools/drill --export anki        Anki decks: ipc-katas-en.tsv and -ko.tsv
  tools/drill --export anki --lang ko --out FILE   one deck, one file

Spaced repetition, Leitner boxes: after the 30-second answer, rate your own
answer. a = again (back to box 1, asked again next session), h = hard (stays
in its box), g = good (one box up). Boxes 1 to 5 wait 0, 1, 3, 7 and 16
days. Each rating is saved at once in .kata/state.json (git-ignored, shared
with tools/kata), so Ctrl-C loses nothing. A question is known by its file
and anchor (docs/pipe.md#q3): rewording its answer keeps its progress.
Details: tools/drill_schedule.py.

Anki export: a tab-separated text file with Anki's file headers (tab
separator, HTML fields, deck ipc-katas-<lang>, a GUID column so that a
second import updates the cards instead of copying them, a tags column).
Front: the question; back: the 30-second answer and where to read more.
Fields are HTML: inside a field a newline becomes <br>, a tab &#9;, and
& < > " ' their HTML entities, so no field holds a raw tab, newline or
quote. In Anki: File > Import, choose the file.

The questions come straight from the notes: docs/README.md (topic
"overview"), docs/misconceptions.md and every docs/<topic>.md, read by the
convention described in docs/README.md, so a new topic needs no edit here.
Keys, each followed by Enter: Enter shows more, a/h/g rate, n skips to the
next question without a rating, q quits (on a Korean keyboard ㅁ/ㅗ/ㅎ/ㅜ/ㅂ
work too).
"""

import argparse
import datetime
import html
import os
import random
import re
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import drill_schedule as schedule  # noqa: E402  (tools/drill_schedule.py)
import kata_state  # noqa: E402  (tools/kata_state.py)
import notes  # noqa: E402  (tools/notes.py, beside this file)

TEXT = {
    "en": {
        "ask": "[Enter] show the answer   [n] next question   [q] quit",
        "more": "How did you do? [a] again  [h] hard  [g] good\n"
                "[Enter] deeper answer, follow-ups and proof   "
                "[n] next, no rating   [q] quit",
        "rate": "How did you do? [a] again  [h] hard  [g] good   "
                "[n] next, no rating   [q] quit",
        "rate_again": "Type a, h or g to rate your answer (n: next without "
                      "a rating, q: quit).",
        "new": "new",
        "box": "box {box}",
        "rated": "→ {rating}: box {box} of 5, asked again {when}.",
        "next_session": "at the next session",
        "on_day": "on {date} (in {days} days)",
        "tomorrow": "tomorrow ({date})",
        "diagram": "(a diagram: see {where})",
        "table": "(a table: see {where})",
        "read": "Read: {where}",
        "done": "{shown} of {total} questions asked, {rated} rated. "
                "Good luck!",
        "nothing": "Nothing is due in {topics}; the next question comes back "
                   "on {date}. To practise anyway: tools/drill --all.",
        "none": "No questions found for: {topics}. Try tools/drill --list.",
        "unknown": "tools/drill: unknown topic \"{topic}\"; the topics are "
                   "{topics}.",
        "stopped": "Stopped (Ctrl-C); every rating of this session "
                   "({rated}) is saved in {path}.",
        "unsaved": "tools/drill: could not save your rating in {path} "
                   "({why}); the ratings before it are kept.",
        "due_head": ["topic", "questions", "due", "new", "later",
                     "next due", "boxes 1-5"],
        "all": "all",
        "exported": "Wrote {count} cards to {path} (deck {deck}).",
        "out_needs_lang": "tools/drill: --out writes one deck, so it needs "
                          "--lang en or --lang ko.",
        "tracked": "tools/drill: {path} is a file git tracks; choose "
                   "another --out.",
        "unwritable": "tools/drill: could not write {path} ({why}).",
    },
    "ko": {
        "ask": "[Enter] 답 보기   [n] 다음 질문   [q] 끝내기",
        "more": "어땠나요? [a] 다시  [h] 어려움  [g] 좋음\n"
                "[Enter] 더 깊은 답, 꼬리 질문, 증거   "
                "[n] 평가 없이 다음   [q] 끝내기",
        "rate": "어땠나요? [a] 다시  [h] 어려움  [g] 좋음   "
                "[n] 평가 없이 다음   [q] 끝내기",
        "rate_again": "a, h, g 중 하나로 답을 평가하세요 (n: 평가 없이 다음, "
                      "q: 끝내기).",
        "new": "새 질문",
        "box": "{box}번 상자",
        "rated": "→ {rating}: 5개 중 {box}번 상자, {when} 다시 묻습니다.",
        "next_session": "다음 세션에",
        "on_day": "{date}({days}일 뒤)에",
        "tomorrow": "내일({date})",
        "diagram": "(그림: {where} 참고)",
        "table": "(표: {where} 참고)",
        "read": "원문: {where}",
        "done": "질문 {total}개 중 {shown}개를 묻고 {rated}개를 평가했습니다. "
                "행운을 빕니다!",
        "nothing": "{topics}에 지금 복습할 질문이 없습니다. 다음 질문은 "
                   "{date}에 돌아옵니다. 그래도 연습하려면: tools/drill --all.",
        "none": "다음 주제에 질문이 없습니다: {topics}. tools/drill --list로 "
                "확인하세요.",
        "unknown": "tools/drill: \"{topic}\"라는 주제는 없습니다. 주제: "
                   "{topics}.",
        "stopped": "중단했습니다(Ctrl-C). 이번 세션의 평가 {rated}개는 "
                   "{path}에 저장되어 있습니다.",
        "unsaved": "tools/drill: 평가를 {path}에 저장하지 못했습니다 ({why}). "
                   "그 전의 평가는 남아 있습니다.",
        "due_head": ["주제", "질문", "복습", "새 질문", "나중",
                     "다음 복습일", "상자 1-5"],
        "all": "전체",
        "exported": "카드 {count}장을 {path}에 썼습니다 (덱 {deck}).",
        "out_needs_lang": "tools/drill: --out은 덱 하나를 쓰므로 --lang en "
                          "또는 --lang ko가 필요합니다.",
        "tracked": "tools/drill: {path}는 git이 관리하는 파일입니다. 다른 "
                   "--out을 고르세요.",
        "unwritable": "tools/drill: {path}를 쓰지 못했습니다 ({why}).",
    },
}

RATING_NAMES = {"en": {"again": "again", "hard": "hard", "good": "good"},
                "ko": {"again": "다시", "hard": "어려움", "good": "좋음"}}

# Keys typed: the rating or action each means. The Hangul letters are what
# the same keys type on a Korean (두벌식) keyboard.
KEYS = {"a": "again", "h": "hard", "g": "good", "n": "next", "q": "quit",
        "ㅁ": "again", "ㅗ": "hard", "ㅎ": "good", "ㅜ": "next", "ㅂ": "quit",
        "again": "again", "hard": "hard", "good": "good", "": "more"}

# The order in which a question's sections are shown after the short answer.
LATER = ["deep", "followups", "misconceptions", "sources", "proof"]

DECK = "ipc-katas-{lang}"


class Failure(Exception):
    """One sentence for the learner, and the exit code."""

    def __init__(self, sentence, code=1):
        super().__init__(sentence)
        self.code = code


# ------------------------------------------------------------- formatting

# Terminal text from the notes' Markdown (tools/notes.py; tools/kata uses
# the same helpers for its hints).
wrap = notes.wrap
plain = notes.terminal_text


class Printer:
    def __init__(self, lang, out=None):
        self.lang = lang
        self.out = out or sys.stdout
        self.columns = min(100, shutil.get_terminal_size((80, 24)).columns)

    def tty(self):
        return hasattr(self.out, "isatty") and self.out.isatty()

    def say(self, text="", indent=""):
        if not text:
            print(file=self.out)
            return
        for line in wrap(text, indent, self.columns):
            print(line, file=self.out)

    def heading(self, text):
        bold = "\033[1m" if self.tty() else ""
        reset = "\033[0m" if self.tty() else ""
        for line in wrap(text, "", self.columns):
            print(bold + line + reset, file=self.out)


# ------------------------------------------------------------- the answers


def lines_in(block_lines, lang):
    """The lines of a block written in `lang`, item markers removed."""
    return [line for line, line_lang in notes.split_languages(block_lines)
            if line_lang == lang]


def section_has(section, lang):
    return any(lines_in(block.lines, lang) for block in section.blocks
               if block.kind not in ("code", "table"))


def section_parts(question, section, lang):
    """One section in `lang` (or as written, if the section has no text in
    that language, as proofs often do) as (kind, indent, text) parts:
    kind "text" (inline Markdown made plain, to be wrapped), "code" (one
    line of a code block, as is) or "note" (where to see a diagram or
    table)."""
    neutral = not section_has(section, lang)
    show_targets = section.role in ("proof", "sources")
    where = f"{question.path}#{question.anchor}"
    for block in section.blocks:
        if block.kind == "table":
            yield "note", "  ", TEXT[lang]["table"].format(where=where)
            continue
        if block.kind == "code":
            if block.lang == "mermaid":
                yield "note", "  ", TEXT[lang]["diagram"].format(where=where)
            else:
                for line in block.lines[1:-1]:
                    yield "code", "    ", line
            continue
        asked = notes.italic_question(block.lines) if block.kind == "item" \
            else None
        if asked:
            english, korean, rest = asked
            yield "text", "  • ", plain(
                korean if lang == "ko" and korean else english,
                question.path, False)
            rest_lines = rest.strip("\n").split("\n")
            answer = rest_lines if neutral else lines_in(rest_lines, lang)
            yield "text", "      ", plain(
                " ".join(line.strip() for line in answer), question.path,
                show_targets)
            continue
        chosen = block.lines if neutral else lines_in(block.lines, lang)
        if not chosen:
            continue
        text = " ".join(line.strip() for line in chosen)
        text = re.sub(r"^([-*+]|\d+\.)\s+", "", text)
        indent = "  • " if block.kind == "item" else "  "
        yield "text", indent, plain(text, question.path, show_targets)


def show_section(printer, question, section):
    lang = printer.lang
    label = section.label_ko if lang == "ko" and section.label_ko \
        else section.label_en
    printer.heading(label)
    for kind, indent, text in section_parts(question, section, lang):
        if kind == "code":
            print(indent + text, file=printer.out)
        else:
            printer.say(text, indent)
    printer.say()


def title_of(question, lang):
    return question.title_ko if lang == "ko" and question.title_ko \
        else question.title_en


# ------------------------------------------------------------ a session


class Session:
    """One sitting of the drill. Every outside dependency is replaceable by
    tests: the state file, the day, and the streams."""

    def __init__(self, lang, state, today, stdin=None, out=None, err=None):
        self.lang = lang
        self.state = state
        self.today = today
        self.stdin = stdin or sys.stdin
        self.printer = Printer(lang, out)
        self.err = err or sys.stderr
        self.cards = schedule.cards_of(state.load())
        self.rated = 0

    def text(self, name, **values):
        return TEXT[self.lang][name].format(**values)

    def prompt(self, name):
        """Waits for a line; returns what it means (a rating, "next",
        "quit", "more" for a bare Enter, or the line itself), "quit" at the
        end of input. Ctrl-C propagates as KeyboardInterrupt."""
        out = self.printer.out
        dim = "\033[2m" if self.printer.tty() else ""
        reset = "\033[0m" if self.printer.tty() else ""
        print(dim + self.text(name) + reset, file=out, flush=True)
        line = self.stdin.readline()
        if not line:
            return "quit"
        typed = line.strip().lower()
        return KEYS.get(typed, typed)

    def ask(self, question, number, total):
        """Asks one question; returns False when the learner wants to stop."""
        printer = self.printer
        card = self.cards.get(schedule.key_of(question))
        status = (self.text("box", box=card["box"]) if card
                  else self.text("new"))
        printer.say()
        printer.heading(f"[{question.topic} {number}/{total}] "
                        f"{question.ident}. {title_of(question, self.lang)}"
                        f"   ({status})")
        key = self.prompt("ask")
        if key in ("quit", "next"):
            return key == "next"
        short = question.section("short")
        if short is not None:
            show_section(printer, question, short)
        key = self.prompt("more")
        if key == "more":
            shown = {"short"}
            for role in LATER + [s.role for s in question.sections]:
                section = question.section(role)
                if section is not None and role not in shown:
                    shown.add(role)
                    show_section(printer, question, section)
            printer.say(self.text(
                "read", where=f"{question.path}#{question.anchor}"))
            key = self.prompt("rate")
            while key not in schedule.RATINGS + ("next", "quit"):
                printer.say(self.text("rate_again"))
                key = self.prompt("rate")
        if key in schedule.RATINGS:
            self.record(question, key)
            return True
        return key != "quit"

    def record(self, question, rating):
        """Saves one rating at once (so Ctrl-C later loses nothing)."""
        key = schedule.key_of(question)
        try:
            with self.state.edit() as data:
                cards = schedule.cards_of(data)
                cards[key] = schedule.rate(cards.get(key), rating,
                                           self.today)
                card = cards[key]
        except OSError as error:
            raise Failure(self.text("unsaved", path=self.where(),
                                    why=error.strerror or error)) from None
        self.cards[key] = card
        self.rated += 1
        self.printer.say(self.text(
            "rated", rating=RATING_NAMES[self.lang][rating], box=card["box"],
            when=self.when(schedule.due_date(card))))

    def when(self, day):
        days = (day - self.today).days
        if days <= 0:
            return self.text("next_session")
        if days == 1:
            return self.text("tomorrow", date=day.isoformat())
        return self.text("on_day", date=day.isoformat(), days=days)

    def where(self):
        return self.state.relative(self.state.path)

    def run(self, chosen):
        """Asks the chosen questions; returns how many were asked."""
        shown = 0
        for number, question in enumerate(chosen, 1):
            shown += 1
            if not self.ask(question, number, len(chosen)):
                break
        return shown


# ------------------------------------------------------------- reporting


def due_table(by_topic, cards, today, lang):
    """The --due table: one row per topic and a total."""
    head = TEXT[lang]["due_head"]
    rows = [head]
    everything = []
    for topic, asked in by_topic.items():
        everything += asked
        rows.append(_due_row(topic, schedule.summary(asked, cards, today)))
    rows.append(_due_row(TEXT[lang]["all"],
                         schedule.summary(everything, cards, today)))
    widths = [max(notes.width_of(str(row[i])) for row in rows)
              for i in range(len(head))]
    lines = []
    for row in rows:
        cells = []
        for i, cell in enumerate(row):
            pad = " " * (widths[i] - notes.width_of(str(cell)))
            cells.append(str(cell) + pad if i in (0, 5) else pad + str(cell))
        lines.append("  ".join(cells).rstrip())
    return lines


def _due_row(name, counts):
    boxes = " ".join(str(counts["boxes"][box])
                     for box in sorted(counts["boxes"]))
    return [name, counts["total"], counts["due"], counts["new"],
            counts["later"],
            counts["next"].isoformat() if counts["next"] else "-", boxes]


# ------------------------------------------------------------ Anki export


def anki_field(text):
    """`text` as one field of Anki's tab-separated import with HTML on: a
    newline becomes <br>, a tab &#9;, and & < > " ' their entities, so the
    field never holds a raw separator, line break or quote."""
    text = html.escape(text, quote=True)
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    return text.replace("\t", "&#9;").replace("\n", "<br>")


def short_answer(question, lang):
    """The 30-second answer in `lang` as plain text, one line per paragraph
    or list item, then where the full answer is."""
    lines = []
    short = question.section("short")
    if short is not None:
        for kind, indent, text in section_parts(question, short, lang):
            lines.append(("• " + text) if indent.strip() == "•" else text)
    lines.append("")
    lines.append(TEXT[lang]["read"].format(
        where=f"{question.path}#{question.anchor}"))
    return "\n".join(lines)


def anki_deck(questions, lang):
    """The text of one Anki import file: the file headers, then one row per
    question: GUID, front, back, tags."""
    deck = DECK.format(lang=lang)
    rows = ["#separator:tab", "#html:true", "#notetype:Basic",
            f"#deck:{deck}", "#guid column:1", "#tags column:4"]
    for question in questions:
        guid = f"{deck}:{schedule.key_of(question)}"
        front = f"[{question.topic}] {title_of(question, lang)}"
        rows.append("\t".join([
            anki_field(guid), anki_field(front),
            anki_field(short_answer(question, lang)),
            anki_field(f"ipc-katas {question.topic}")]))
    return "\n".join(rows) + "\n"


def tracked_by_git(path):
    folder, name = os.path.split(os.path.abspath(path))
    try:
        result = subprocess.run(["git", "ls-files", "--error-unmatch", "--",
                                 name], cwd=folder, capture_output=True)
    except OSError:
        return False
    return result.returncode == 0


def export_anki(questions, langs, out_path, printer):
    """Writes one deck per language; returns the paths written."""
    written = []
    for lang in langs:
        path = out_path or f"{DECK.format(lang=lang)}.tsv"
        if tracked_by_git(path):
            raise Failure(TEXT[printer.lang]["tracked"].format(path=path), 1)
        try:
            with open(path, "w", encoding="utf-8", newline="\n") as f:
                f.write(anki_deck(questions, lang))
        except OSError as error:
            raise Failure(TEXT[printer.lang]["unwritable"].format(
                path=path, why=error.strerror or error), 1) from None
        printer.say(TEXT[printer.lang]["exported"].format(
            count=len(questions), path=path, deck=DECK.format(lang=lang)))
        written.append(path)
    return written


# ---------------------------------------------------------------- main


def load():
    """{topic: [questions]} from every note file of docs/."""
    found = {}
    for path in notes.note_files():
        asked = notes.questions(notes.parse(path))
        if asked:
            found.setdefault(notes.topic_of(path), []).extend(asked)
    return found


def parser():
    parser = argparse.ArgumentParser(
        prog="tools/drill",
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=__doc__.split("\n\n", 1)[1])
    parser.add_argument("--topic", action="append",
                        help="only this topic's questions (repeatable)")
    parser.add_argument("--lang", choices=["en", "ko"],
                        help="language of questions and answers (default en; "
                             "--export writes both unless given)")
    parser.add_argument("--in-order", action="store_true",
                        help="every question (due or not) in the order of "
                             "the notes; ratings still count")
    parser.add_argument("--all", action="store_true",
                        help="after the due and new questions, also those "
                             "not due yet (soonest first)")
    parser.add_argument("--seed", type=int,
                        help="shuffle the new questions the same way every "
                             "time")
    parser.add_argument("--list", action="store_true",
                        help="list the topics and their question counts")
    parser.add_argument("--due", action="store_true",
                        help="per topic: how many questions are due, new and "
                             "due later, and how many sit in each box")
    parser.add_argument("--export", choices=["anki"],
                        help="write Anki import files instead of drilling "
                             "(HTML fields: newline -> <br>, tab -> &#9;)")
    parser.add_argument("--out", metavar="FILE",
                        help="with --export and --lang: the file to write "
                             "(default ./ipc-katas-<lang>.tsv)")
    return parser


def main(argv=None, by_topic=None, state=None, today=None, stdin=None,
         out=None, err=None):
    options = parser().parse_args(argv)
    err = err or sys.stderr
    lang = options.lang or "en"
    printer = Printer(lang, out)
    by_topic = load() if by_topic is None else by_topic
    state = state or kata_state.State(
        warn=lambda text: print(text, file=err, flush=True))
    today = today or datetime.date.today()
    try:
        for topic in options.topic or []:
            if topic not in by_topic:
                raise Failure(TEXT[lang]["unknown"].format(
                    topic=topic, topics=", ".join(by_topic)), 2)
        if options.out and not options.export:
            raise Failure("tools/drill: --out goes with --export.", 2)
        if options.list:
            for topic, asked in by_topic.items():
                print(f"{topic:<16} {len(asked):>3} questions   "
                      f"({asked[0].path})", file=printer.out)
            return 0
        topics = options.topic or list(by_topic)
        chosen = [q for topic in topics for q in by_topic.get(topic, [])]
        if not chosen:
            raise Failure(TEXT[lang]["none"].format(topics=", ".join(topics)))
        if options.export:
            if options.out and not options.lang:
                raise Failure(TEXT[lang]["out_needs_lang"], 2)
            export_anki(chosen, [options.lang] if options.lang else
                        ["en", "ko"], options.out, printer)
            return 0
        if options.due:
            cards = schedule.cards_of(state.load())
            for line in due_table({t: by_topic[t] for t in topics}, cards,
                                  today, lang):
                print(line, file=printer.out)
            return 0
        return drill(options, lang, chosen, topics, state, today, stdin,
                     out, err)
    except Failure as failure:
        print(failure, file=err, flush=True)
        return failure.code
    except OSError as error:
        # Reading the state file failed (say .kata is not a folder): the
        # file is left as it is.
        print(f"tools/drill: could not read {state.relative(state.path)} "
              f"({error.strerror or error}); nothing was changed.",
              file=err, flush=True)
        return 1


def drill(options, lang, chosen, topics, state, today, stdin, out, err):
    session = Session(lang, state, today, stdin, out, err)
    if options.in_order:
        asked = chosen
    else:
        due, new, later = schedule.order(chosen, session.cards, today,
                                         later_too=options.all)
        random.Random(options.seed).shuffle(new)
        asked = due + new + later
    if not asked:
        _, _, later = schedule.order(chosen, session.cards, today, True)
        soonest = min(schedule.due_date(session.cards[schedule.key_of(q)])
                      for q in later)
        session.printer.say(TEXT[lang]["nothing"].format(
            topics=", ".join(topics), date=soonest.isoformat()))
        return 0
    try:
        shown = session.run(asked)
    except KeyboardInterrupt:
        print(file=session.printer.out)
        print(TEXT[lang]["stopped"].format(rated=session.rated,
                                           path=session.where()),
              file=err, flush=True)
        return 130
    session.printer.say()
    session.printer.say(TEXT[lang]["done"].format(
        shown=shown, total=len(asked), rated=session.rated))
    return 0
