"""Unit tests of tools/drill (tools/drill_cli.py and its schedule,
tools/drill_schedule.py), run by tools/gate ("drill tool"); alone:
python3 -m unittest tools/drill_test.py

The questions come from small Markdown notes written here (read by
tools/notes.py as the real docs/ are), the state file lives in a temporary
folder, and the day is passed in, so nothing here depends on the clock, the
repository's notes or the learner's own .kata/state.json.
"""

import datetime
import io
import json
import os
import shutil
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import drill_cli  # noqa: E402
import drill_schedule as schedule  # noqa: E402
import kata_state  # noqa: E402
import notes  # noqa: E402

DAY = datetime.date(2025, 3, 1)


def days(number):
    return DAY + datetime.timedelta(days=number)


def question_text(number, title, answer_en, answer_ko):
    return (f'<a id="q{number}"></a>\n### Q{number}. {title}\n\n'
            f"**30-second answer / 30초 답변**\n\n{answer_en}\n\n"
            f"{answer_ko}\n\n**Deeper / 더 깊이**\n\nMore on it.\n\n"
            f"더 깊은 설명입니다.\n\n---\n\n")


TOY = ("# Toy notes\n\n" +
       question_text(1, "What is a pipe? / 파이프란 무엇입니까?",
                     "A one-way byte stream.",
                     "한 방향 바이트 스트림입니다.") +
       question_text(2, "Who reads EOF? / 누가 EOF를 읽습니까?",
                     "The reader, once every write end is closed.",
                     "모든 쓰기 끝이 닫히면 읽는 쪽이 읽습니다.") +
       question_text(3, "Why close unused ends? / 왜 안 쓰는 끝을 닫습니까?",
                     "Or the reader never sees EOF.",
                     "그렇지 않으면 EOF가 오지 않습니다."))


def toy_questions(text=TOY):
    return notes.questions(notes.parse_text("docs/toy.md", text))


class Keys:
    """A stdin that types the given lines, then presses Ctrl-C."""

    def __init__(self, *lines):
        self.lines = list(lines)

    def readline(self):
        if not self.lines:
            raise KeyboardInterrupt
        return self.lines.pop(0) + "\n"


class LeitnerBoxesTest(unittest.TestCase):

    def test_a_new_question_rated_good_goes_to_box_two_due_tomorrow(self):
        card = schedule.rate(None, "good", DAY)
        self.assertEqual((card["box"], card["due"]), (2, "2025-03-02"))
        self.assertEqual((card["last"], card["seen"], card["reviewed"]),
                         ("good", 1, "2025-03-01"))

    def test_a_new_question_rated_again_or_hard_is_due_at_once(self):
        for rating in ("again", "hard"):
            card = schedule.rate(None, rating, DAY)
            self.assertEqual((card["box"], card["due"]), (1, "2025-03-01"),
                             rating)

    def test_good_climbs_one_box_at_a_time_with_growing_intervals(self):
        card, seen = None, []
        for step in range(6):
            card = schedule.rate(card, "good", days(step))
            seen.append((card["box"], (schedule.due_date(card) -
                                       days(step)).days))
        self.assertEqual(seen, [(2, 1), (3, 3), (4, 7), (5, 16), (5, 16),
                                (5, 16)])
        self.assertEqual(card["seen"], 6)

    def test_hard_stays_in_its_box(self):
        card = {"box": 3, "due": "2025-03-01", "last": "good", "seen": 2}
        after = schedule.rate(card, "hard", DAY)
        self.assertEqual((after["box"], after["due"], after["seen"]),
                         (3, "2025-03-04", 3))

    def test_again_goes_back_to_box_one_from_any_box(self):
        card = {"box": 5, "due": "2025-03-01", "last": "good", "seen": 9}
        after = schedule.rate(card, "again", DAY)
        self.assertEqual((after["box"], after["due"], after["last"]),
                         (1, "2025-03-01", "again"))

    def test_rating_returns_a_new_record_and_rejects_unknown_ratings(self):
        card = {"box": 2, "due": "2025-03-01", "last": "good", "seen": 1}
        schedule.rate(card, "good", DAY)
        self.assertEqual(card["box"], 2)
        with self.assertRaises(ValueError):
            schedule.rate(card, "easy", DAY)


class OrderTest(unittest.TestCase):

    def setUp(self):
        self.q1, self.q2, self.q3 = toy_questions()

    def test_due_questions_come_first_most_overdue_first_then_new(self):
        cards = {schedule.key_of(self.q3): {"box": 2, "due": "2025-02-20"},
                 schedule.key_of(self.q2): {"box": 4, "due": "2025-02-10"}}
        due, new, later = schedule.order([self.q1, self.q2, self.q3], cards,
                                         DAY)
        self.assertEqual([q.ident for q in due + new], ["Q2", "Q3", "Q1"])
        self.assertEqual(later, [])

    def test_a_question_not_due_yet_waits_until_its_day(self):
        card = schedule.rate(None, "good", DAY)  # due tomorrow
        cards = {schedule.key_of(self.q1): card}
        due, new, later = schedule.order([self.q1], cards, DAY, True)
        self.assertEqual((due, new, later), ([], [], [self.q1]))
        due, _, _ = schedule.order([self.q1], cards, days(1))
        self.assertEqual(due, [self.q1])

    def test_summary_counts_due_new_later_and_boxes(self):
        cards = {schedule.key_of(self.q1): {"box": 1, "due": "2025-03-01"},
                 schedule.key_of(self.q2): {"box": 3, "due": "2025-03-05"}}
        counts = schedule.summary([self.q1, self.q2, self.q3], cards, DAY)
        self.assertEqual(
            (counts["total"], counts["due"], counts["new"], counts["later"],
             counts["next"]), (3, 1, 1, 1, datetime.date(2025, 3, 5)))
        self.assertEqual(counts["boxes"], {1: 1, 2: 0, 3: 1, 4: 0, 5: 0})

    def test_the_key_is_file_and_anchor_so_rewording_keeps_progress(self):
        reworded = toy_questions(TOY.replace(
            "A one-way byte stream.", "A one-way stream of bytes.").replace(
            "What is a pipe?", "What is a pipe, really?"))
        self.assertEqual(schedule.key_of(self.q1), "docs/toy.md#q1")
        self.assertEqual(schedule.key_of(reworded[0]), "docs/toy.md#q1")


class SessionTest(unittest.TestCase):
    """tools/drill end to end on the toy notes, with a temporary state."""

    def setUp(self):
        self.root = tempfile.mkdtemp(prefix="drill_test_")
        self.addCleanup(shutil.rmtree, self.root, True)
        self.state = kata_state.State(self.root, warn=self.warn)
        self.warnings = []
        self.by_topic = {"toy": toy_questions()}

    def warn(self, text):
        self.warnings.append(text)

    def drill(self, *argv, keys=(), today=DAY, stdin=None):
        out, err = io.StringIO(), io.StringIO()
        stdin = stdin or io.StringIO("".join(k + "\n" for k in keys))
        code = drill_cli.main(list(argv), by_topic=self.by_topic,
                              state=self.state, today=today, stdin=stdin,
                              out=out, err=err)
        return code, out.getvalue(), err.getvalue()

    def saved(self):
        with open(self.state.path, encoding="utf-8") as f:
            return json.load(f)

    def test_ratings_are_saved_as_readable_json_beside_the_kata_state(self):
        self.state.save({"version": 1, "hints": {"pipe": {"Open": 2}},
                         "interviews": [], "drill": {}})
        code, out, _ = self.drill("--in-order",
                                  keys=["", "g", "", "", "a", "n"])
        self.assertEqual(code, 0, out)
        data = self.saved()
        self.assertEqual(data["hints"], {"pipe": {"Open": 2}})
        cards = data["drill"]["cards"]
        self.assertEqual(cards["docs/toy.md#q1"]["box"], 2)
        self.assertEqual(cards["docs/toy.md#q2"]["box"], 1)
        self.assertNotIn("docs/toy.md#q3", cards)
        with open(self.state.path, encoding="utf-8") as f:
            self.assertIn('\n  "drill": {\n', f.read())
        self.assertIn("box 2 of 5, asked again tomorrow (2025-03-02).", out)
        self.assertIn("3 questions asked, 2 rated", out)

    def test_the_next_session_asks_what_is_due_first(self):
        self.drill("--in-order", keys=["", "g", "", "a", "", "g"])
        # Day 0: q1 and q3 good (due tomorrow), q2 again (due now).
        _, out, _ = self.drill(keys=["q"])
        self.assertIn("Q2. Who reads EOF?", out)
        self.assertNotIn("Q1.", out)
        _, out, _ = self.drill(keys=["q"], today=days(1))
        self.assertIn("[toy 1/3] Q2.", out)

    def test_all_adds_the_questions_not_due_yet_after_the_rest(self):
        self.drill("--in-order", keys=["", "g"])  # q1 due tomorrow
        _, out, _ = self.drill("--all", "--seed", "1", keys=["n", "n", "n"])
        headings = [line for line in out.splitlines()
                    if line.startswith("[toy")]
        self.assertEqual(len(headings), 3, out)
        self.assertTrue(headings[2].startswith("[toy 3/3] Q1."), headings)
        self.assertIn("(box 2)", headings[2])

    def test_nothing_due_says_when_the_next_question_comes_back(self):
        self.drill("--in-order", keys=["", "g"] * 3)
        code, out, _ = self.drill()
        self.assertEqual(code, 0)
        self.assertIn("Nothing is due in toy; the next question comes back "
                      "on 2025-03-02", out)

    def test_ctrl_c_keeps_the_ratings_made_so_far(self):
        code, _, err = self.drill("--in-order",
                                  stdin=Keys("", "g", "", "h", ""))
        self.assertEqual(code, 130)
        self.assertEqual(err.strip().count("\n"), 0, err)
        self.assertIn("Stopped (Ctrl-C); every rating of this session (2) "
                      "is saved in .kata/state.json.", err)
        self.assertEqual(len(self.saved()["drill"]["cards"]), 2)

    def test_a_corrupted_state_file_is_moved_aside_not_overwritten(self):
        os.makedirs(self.state.folder)
        with open(self.state.path, "w") as f:
            f.write('{"hints": {"pipe": ')
        code, _, _ = self.drill("--in-order", keys=["", "g", "q"])
        self.assertEqual(code, 0)
        self.assertEqual(len(self.warnings), 1, self.warnings)
        self.assertIn("is not valid JSON", self.warnings[0])
        aside = [name for name in os.listdir(self.state.folder)
                 if ".corrupt-" in name]
        self.assertEqual(len(aside), 1)
        with open(os.path.join(self.state.folder, aside[0])) as f:
            self.assertEqual(f.read(), '{"hints": {"pipe": ')
        self.assertEqual(list(self.saved()["drill"]["cards"]),
                         ["docs/toy.md#q1"])

    def test_a_drill_record_of_the_wrong_shape_counts_as_corrupted(self):
        self.state.save({"version": 1, "hints": {}, "interviews": [],
                         "drill": {"cards": {"docs/toy.md#q1": {
                             "box": 9, "due": "2025-03-01"}}}})
        data = self.state.load()
        self.assertEqual(data["drill"], {})
        self.assertIn('drill record for "docs/toy.md#q1" that has box 9',
                      self.warnings[0])

    def test_a_rating_that_cannot_be_saved_stops_with_one_sentence(self):
        os.makedirs(os.path.join(self.state.folder, "state.lock"))
        code, _, err = self.drill("--in-order", keys=["", "g", "", "g"])
        self.assertEqual(code, 1)
        self.assertEqual(err, "tools/drill: could not save your rating in "
                              ".kata/state.json (Is a directory); the ratings "
                              "before it are kept.\n")

    def test_an_unreadable_state_file_is_left_alone(self):
        with open(self.state.folder, "w") as f:
            f.write("not a folder")
        code, _, err = self.drill("--due")
        self.assertEqual(code, 1)
        self.assertEqual(err, "tools/drill: could not read .kata/state.json "
                              "(Not a directory); nothing was changed.\n")
        with open(self.state.folder) as f:
            self.assertEqual(f.read(), "not a folder")

    def test_an_unknown_topic_is_one_sentence_and_exit_two(self):
        code, out, err = self.drill("--topic", "pipes")
        self.assertEqual(code, 2)
        self.assertEqual(err, 'tools/drill: unknown topic "pipes"; the '
                              'topics are toy.\n')
        self.assertFalse(os.path.exists(self.state.folder))

    def test_due_lists_each_topic_and_the_total(self):
        self.drill("--in-order", keys=["", "a", "", "g"])
        code, out, _ = self.drill("--due")
        self.assertEqual(code, 0)
        rows = [line.split() for line in out.splitlines()]
        self.assertEqual(rows[1][:6], ["toy", "3", "1", "1", "1",
                                       "2025-03-02"])
        self.assertEqual(rows[1][6:], ["1", "1", "0", "0", "0"])
        self.assertEqual(rows[2][0], "all")

    def test_prompts_speak_korean_with_lang_ko(self):
        _, out, _ = self.drill("--lang", "ko", keys=["", "ㅎ"])
        self.assertIn("[a] 다시  [h] 어려움  [g] 좋음", out)
        self.assertIn("→ 좋음: 5개 중 2번 상자, 내일(2025-03-02) 다시 "
                      "묻습니다.", out)


class AnkiExportTest(unittest.TestCase):
    TRICKY = question_text(
        1, 'Tabs\tand "quotes" in `<sys/wait.h>`? / 탭과 따옴표?',
        "First\tparagraph & more.\n\nSecond paragraph.",
        "첫 문단입니다.")

    def rows(self, lang):
        text = drill_cli.anki_deck(toy_questions(self.TRICKY), lang)
        return text, [line for line in text.split("\n")
                      if line and not line.startswith("#")]

    def test_headers_name_the_separator_html_deck_guid_and_tags(self):
        text, _ = self.rows("en")
        self.assertTrue(text.startswith(
            "#separator:tab\n#html:true\n#notetype:Basic\n"
            "#deck:ipc-katas-en\n#guid column:1\n#tags column:4\n"))

    def test_tabs_newlines_and_quotes_inside_fields_are_escaped(self):
        _, rows = self.rows("en")
        self.assertEqual(len(rows), 1)
        fields = rows[0].split("\t")
        self.assertEqual(len(fields), 4, rows[0])
        guid, front, back, tags = fields
        self.assertEqual(guid, "ipc-katas-en:docs/toy.md#q1")
        self.assertEqual(front, "[toy] Tabs&#9;and &quot;quotes&quot; in "
                                "&lt;sys/wait.h&gt;?")
        self.assertEqual(back, "First&#9;paragraph &amp; more.<br>"
                               "Second paragraph.<br><br>"
                               "Read: docs/toy.md#q1")
        self.assertEqual(tags, "ipc-katas toy")

    def test_the_korean_deck_holds_the_korean_side(self):
        _, rows = self.rows("ko")
        guid, front, back, _ = rows[0].split("\t")
        self.assertEqual(guid, "ipc-katas-ko:docs/toy.md#q1")
        self.assertEqual(front, "[toy] 탭과 따옴표?")
        self.assertEqual(back, "첫 문단입니다.<br><br>원문: docs/toy.md#q1")

    def test_export_writes_one_file_per_language(self):
        folder = tempfile.mkdtemp(prefix="drill_export_")
        self.addCleanup(shutil.rmtree, folder, True)
        here = os.getcwd()
        os.chdir(folder)
        self.addCleanup(os.chdir, here)
        out, err = io.StringIO(), io.StringIO()
        by_topic = {"toy": toy_questions()}
        code = drill_cli.main(["--export", "anki"], by_topic=by_topic,
                              state=kata_state.State(folder), out=out,
                              err=err)
        self.assertEqual(code, 0, err.getvalue())
        self.assertEqual(sorted(os.listdir(folder)),
                         ["ipc-katas-en.tsv", "ipc-katas-ko.tsv"])
        code = drill_cli.main(["--export", "anki", "--out", "x.tsv"],
                              by_topic=by_topic, out=out, err=err,
                              state=kata_state.State(folder))
        self.assertEqual(code, 2)
        self.assertIn("--out writes one deck", err.getvalue())
        self.assertFalse(os.path.exists(os.path.join(folder, ".kata")))


if __name__ == "__main__":
    unittest.main()
