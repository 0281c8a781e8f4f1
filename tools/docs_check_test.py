"""Unit tests of the checks in tools/docs_check.py that judge the notes'
words: the length of a 30-second answer and the glossary's avoid list. Run by
the docs check itself (with tools/notes_test.py); alone:

  python3 -m unittest discover -s tools -p 'docs_check_test.py'
"""

import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import docs_check  # noqa: E402
import notes  # noqa: E402


def question_with_short_answer(english, korean, label="30-second answer"):
    """The one question of a note whose short answer is `english` and
    `korean` (each a paragraph)."""
    text = "\n".join([
        '<a id="q1"></a>',
        "### Q1. Is a pipe one-way? / 파이프는 단방향입니까?",
        "",
        f"**{label} / 30초 답변**",
        "",
        english,
        "",
        korean,
        "",
        "**Deeper / 더 깊이**",
        "",
        "More. / 더.",
    ])
    return notes.questions(notes.parse_text("docs/pipe.md", text))[0]


class ShortAnswerSizeTest(unittest.TestCase):

    def test_counts_rendered_words_and_characters(self):
        question = question_with_short_answer(
            "A **pipe** is `one-way`, see [the test](../tests/x.cc).",
            "파이프는 `pipe()`로\n만듭니다.")
        words, characters = docs_check.short_answer_size(
            question.section("short"))
        self.assertEqual(words, 7)  # A pipe is one-way, see the test.
        # "파이프는 pipe()로 만듭니다.": the code's text and the line break
        # (one space) count, the backticks do not.
        self.assertEqual(characters, len("파이프는 pipe()로 만듭니다."))

    def test_a_bilingual_caption_is_split_by_language(self):
        question = question_with_short_answer(
            "One two three. / 하나 둘 셋.", "넷.")
        self.assertEqual(docs_check.short_answer_size(
            question.section("short")), (3, len("하나 둘 셋. 넷.")))

    def test_an_answer_at_the_limits_passes(self):
        question = question_with_short_answer(
            " ".join(["word"] * docs_check.MAX_ENGLISH_WORDS),
            "가" * docs_check.MAX_KOREAN_CHARACTERS)
        self.assertEqual(docs_check.short_answer_problems(question), [])

    def test_one_word_or_character_more_is_named(self):
        question = question_with_short_answer(
            " ".join(["word"] * (docs_check.MAX_ENGLISH_WORDS + 1)),
            "가" * (docs_check.MAX_KOREAN_CHARACTERS + 1))
        problems = docs_check.short_answer_problems(question)
        self.assertEqual(len(problems), 2)
        self.assertIn("81 English words (at most 80)", problems[0])
        self.assertIn("251 Korean characters (at most 250", problems[1])

    def test_the_check_names_the_question(self):
        reported = []
        long_note = question_with_short_answer(
            " ".join(["word"] * 100), "짧습니다.")
        original = notes.note_files, notes.questions
        try:
            notes.note_files = lambda: ["docs/pipe.md"]
            notes.questions = lambda doc: [long_note]
            docs_check.check_short_answers(
                _FakeContext(), lambda ok, label, detail:
                reported.append((ok, detail)))
        finally:
            notes.note_files, notes.questions = original
        ok, detail = reported[0]
        self.assertFalse(ok)
        self.assertIn('docs/pipe.md:4: Q1 "Is a pipe one-way?"', detail)
        self.assertIn("100 English words", detail)

    def test_a_correct_statement_has_no_limit(self):
        question = question_with_short_answer(
            " ".join(["word"] * 200), "가" * 400, label="Correct statement")
        self.assertEqual(docs_check.short_answer_problems(question), [])


class _FakeContext:
    def doc(self, path):
        return None


GLOSSARY = """# Glossary

| English | Korean these notes use | avoid | definition | 정의 |
|---|---|---|---|---|
| machine | 컴퓨터 | 기계 | A computer. | 컴퓨터. |
| reader | 읽는 쪽 | `reader`, 리더 | Who reads. | 읽는 프로세스. |
| pipe | 파이프 | – | A channel. | 통로. |
| semaphore | 세마포어 | 세마포 | A counter. | 카운터. |
"""


class GlossaryTest(unittest.TestCase):

    def setUp(self):
        self.terms = docs_check.glossary_terms(
            notes.parse_text("docs/glossary.md", GLOSSARY))

    def uses(self, text):
        doc = notes.parse_text("docs/pipe.md", text)
        return [(line, variant) for line, variant, _ in
                docs_check.avoided_uses(doc, self.terms)]

    def test_reads_terms_and_their_avoid_lists(self):
        self.assertEqual([(t.english, t.korean, t.avoid) for t in self.terms],
                         [("machine", "컴퓨터", ["기계"]),
                          ("reader", "읽는 쪽", ["reader", "리더"]),
                          ("pipe", "파이프", []),
                          ("semaphore", "세마포어", ["세마포"])])

    def test_a_korean_sentence_with_an_avoided_word_fails(self):
        self.assertEqual(self.uses("Intro.\n\n기계를 재부팅할 때까지 남습니다.\n"),
                         [(3, "기계")])
        self.assertEqual(self.uses("데이터가 reader에게 갑니다.\n"),
                         [(1, "reader")])

    def test_the_check_reports_the_file_line_and_the_word_to_use(self):
        reported = []
        files = {"docs/glossary.md": GLOSSARY,
                 "docs/pipe.md": "한 기계 안에서만 동작합니다.\n"}
        original = notes.note_files

        class Context:
            def exists(self, path):
                return path in files

            def doc(self, path):
                return notes.parse_text(path, files[path])

            def hints_files(self):
                return []

        try:
            notes.note_files = lambda: sorted(files)
            docs_check.check_glossary(
                Context(), lambda ok, label, detail:
                reported.append((ok, detail)))
        finally:
            notes.note_files = original
        ok, detail = reported[0]
        self.assertFalse(ok)
        self.assertIn('docs/pipe.md:1: "기계" is on the glossary\'s avoid '
                      'list: write "컴퓨터"', detail)

    def test_english_code_and_glosses_are_not_read(self):
        self.assertEqual(self.uses(
            "The reader reads on this machine.\n"
            "읽는 쪽(reader)이 `reader.cc`를 읽습니다.\n"
            "```\n기계\n```\n"), [])

    def test_a_bilingual_table_row_is_judged_cell_by_cell(self):
        self.assertEqual(self.uses(
            "| reader / 읽는 쪽 | the reader / 리더 |\n"), [(1, "리더")])

    def test_a_follow_ups_english_answer_is_not_korean(self):
        self.assertEqual(self.uses(
            "- *Who reads? / 누가 읽습니까?* The reader does.\n"
            "  읽는 쪽입니다. 리더가 아닙니다.\n"), [(2, "리더")])

    def test_a_korean_title_made_mostly_of_code_words_is_read(self):
        self.assertEqual(self.uses(
            "### Q7. SIGPIPE and the reader / SIGPIPE, EPIPE, 리더\n"),
            [(1, "리더")])

    def test_a_korean_variant_may_not_start_inside_a_word(self):
        self.assertEqual(self.uses("유기계 화합물입니다.\n"), [])

    def test_a_variant_inside_the_word_to_use_is_no_use_of_it(self):
        self.assertEqual(self.uses("세마포어를 씁니다. 세마포를 씁니다.\n"),
                         [(1, "세마포")])
        self.assertEqual(self.uses("세마포어를 씁니다.\n"), [])


if __name__ == "__main__":
    unittest.main()
