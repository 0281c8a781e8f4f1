"""Unit tests of tools/notes.py, the Markdown reader behind the docs check and
the drill. Run by the docs check (tools/docs_check.py); alone:

  python3 -m unittest discover -s tools -p 'notes_test.py'
"""

import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import notes  # noqa: E402


class GithubSlugTest(unittest.TestCase):
    # Expected values are the anchors GitHub shows for these headings.

    def test_lower_cases_and_joins_words_with_hyphens(self):
        self.assertEqual(notes.github_slug("Working on a kata"),
                         "working-on-a-kata")

    def test_drops_punctuation_but_keeps_hyphens_and_underscores(self):
        self.assertEqual(notes.github_slug("Q6. PIPE_BUF: several writers?"),
                         "q6-pipe_buf-several-writers")
        self.assertEqual(notes.github_slug("Stage 1: wait for a child"),
                         "stage-1-wait-for-a-child")

    def test_keeps_korean_words(self):
        self.assertEqual(notes.github_slug("Sources / 참고 자료"),
                         "sources--참고-자료")
        self.assertEqual(notes.github_slug("공유 메모리는 왜 빠릅니까?"),
                         "공유-메모리는-왜-빠릅니까")

    def test_heading_text_is_the_rendered_text(self):
        text = notes.inline_text("Why `_exit()`? See [the man page](x.md) **now**")
        self.assertEqual(text, "Why _exit()? See the man page now")
        self.assertEqual(notes.github_slug(text), "why-_exit-see-the-man-page-now")

    def test_repeated_headings_are_numbered(self):
        doc = notes.parse_text("x.md", "# Hints\n\ntext\n\n## Hints\n\n## Hints\n")
        self.assertEqual([h.slug for h in doc.headings],
                         ["hints", "hints-1", "hints-2"])

    def test_setext_headings_count_and_thematic_breaks_do_not(self):
        doc = notes.parse_text("x.md", "Title\n=====\n\ntext\n\n---\n\nSub\n---\n")
        self.assertEqual([(h.level, h.slug) for h in doc.headings],
                         [(1, "title"), (2, "sub")])


class DocumentTest(unittest.TestCase):

    def test_finds_inline_reference_and_html_links_with_lines(self):
        doc = notes.parse_text("docs/x.md", "\n".join([
            "See [a](a.md#top) and ![img](p.png \"title\").",
            "[ref]: ../README.md",
            '<a href="b.md">b</a>',
        ]))
        self.assertEqual([(l.target, l.line) for l in doc.links],
                         [("a.md#top", 1), ("p.png", 1), ("../README.md", 2),
                          ("b.md", 3)])

    def test_ignores_links_in_code(self):
        doc = notes.parse_text("x.md", "`[a](nope.md)`\n\n```\n[b](nope.md)\n```\n")
        self.assertEqual(doc.links, [])

    def test_link_text_may_wrap_and_hold_code(self):
        doc = notes.parse_text("x.md", "[`Suite.Name`\nmore](t.cc)")
        self.assertEqual(doc.links[0].text, "`Suite.Name`\nmore")

    def test_explicit_anchors(self):
        doc = notes.parse_text("x.md", '<a id="q1"></a>\n<a name="old"></a>\n')
        self.assertTrue({"q1", "old"} <= doc.anchors)

    def test_mermaid_fences(self):
        doc = notes.parse_text("x.md", "```mermaid\nflowchart LR\n  A --> B\n```\n")
        self.assertEqual([(f.lang, f.start, f.text) for f in doc.fences],
                         [("mermaid", 1, "flowchart LR\n  A --> B")])

    def test_resolve(self):
        self.assertEqual(notes.resolve("docs/a.md", "../tests/x.cc"),
                         ("tests/x.cc", None))
        self.assertEqual(notes.resolve("docs/a.md", "#q%20one"), (None, "q one"))
        self.assertEqual(notes.resolve("docs/a.md", "/README.md#x"),
                         ("README.md", "x"))
        self.assertTrue(notes.is_external("https://man7.org/"))
        self.assertFalse(notes.is_external("pipe.md#q1"))


class LanguageTest(unittest.TestCase):

    def test_tells_english_from_korean_lines(self):
        self.assertEqual(notes.line_language("A pipe is a one-way byte stream."), "en")
        self.assertEqual(notes.line_language("파이프는 단방향 바이트 스트림입니다."), "ko")
        self.assertIsNone(notes.line_language("(4096) --"))

    def test_korean_with_english_terms_is_korean(self):
        self.assertEqual(notes.line_language(
            "Operating System Concepts는 일반 파이프를 단방향이라고 부르고, 양방향"),
            "ko")

    def test_english_quoting_a_short_korean_phrase_is_english(self):
        self.assertEqual(notes.line_language(
            'Korean notes often call a pipe "반이중" (half-duplex) by mistake.'),
            "en")

    def test_code_does_not_count(self):
        lines = ["`O_NONBLOCK`으로 열면 `ENXIO`를 받고", "`fcntl(fd,", "F_GETPIPE_SZ)`"]
        self.assertEqual([lang for _, lang in notes.split_languages(lines)],
                         ["ko", "ko", "ko"])

    def test_split_pair(self):
        self.assertEqual(notes.split_pair("Pipe vs FIFO / 파이프와 FIFO"),
                         ("Pipe vs FIFO", "파이프와 FIFO"))
        self.assertEqual(notes.split_pair("EOF, SIGPIPE and EPIPE / EOF, SIGPIPE"),
                         ("EOF, SIGPIPE and EPIPE", "EOF, SIGPIPE"))
        self.assertEqual(notes.split_pair("read / write: both? / 읽기 / 쓰기"),
                         ("read / write: both?", "읽기 / 쓰기"))


SAMPLE = """# Notes

<a id="q1"></a>
### Q1. Is a pipe half-duplex? / 파이프는 반이중입니까?

**30-second answer / 30초 답변**

No: one-way.

아닙니다. 단방향입니다.

```mermaid
flowchart LR
  A --> B
```

**Follow-ups / 꼬리 질문**

- *Two ways? / 양방향은?* Use two pipes.
  파이프 두 개를 씁니다.

**Proof / 증거**

- [PipeFacts.DataFlowsOneWayOnly](../tests/pipe/pipe_facts_test.cc)

---

### Q2. Second / 둘째

**Correct statement / 바른 설명**

Text.
"""


class QuestionsTest(unittest.TestCase):

    def setUp(self):
        self.asked = notes.questions(notes.parse_text("docs/pipe.md", SAMPLE))

    def test_reads_titles_anchor_and_topic(self):
        first = self.asked[0]
        self.assertEqual((first.ident, first.title_en, first.title_ko),
                         ("Q1", "Is a pipe half-duplex?", "파이프는 반이중입니까?"))
        self.assertEqual((first.anchor, first.topic, first.line), ("q1", "pipe", 4))
        self.assertEqual(len(self.asked), 2)

    def test_reads_sections_with_roles_blocks_and_links(self):
        first = self.asked[0]
        self.assertEqual([s.role for s in first.sections],
                         ["short", "followups", "proof"])
        short = first.section("short")
        self.assertEqual([b.kind for b in short.blocks], ["text", "text", "code"])
        self.assertEqual(short.blocks[2].lang, "mermaid")
        self.assertEqual([l.target for l in first.section("proof").links],
                         ["../tests/pipe/pipe_facts_test.cc"])

    def test_a_thematic_break_ends_the_question(self):
        self.assertEqual(self.asked[1].section("short").label_en,
                         "Correct statement")
        self.assertEqual(len(self.asked[0].section("proof").blocks), 1)

    def test_follow_up_items_open_with_an_italic_question(self):
        item = self.asked[0].section("followups").blocks[0]
        english, korean, rest = notes.italic_question(item.lines)
        self.assertEqual((english, korean), ("Two ways?", "양방향은?"))
        self.assertEqual([lang for _, lang in
                          notes.split_languages(rest.strip().split("\n"))],
                         ["en", "ko"])

    def test_an_item_that_opens_in_bold_is_no_section_label(self):
        doc = notes.parse_text("docs/x.md", "\n".join([
            "### Q8. Which? / 어느 것?", "",
            "**Deeper / 더 깊이**", "",
            "- **Logs: a datagram socket.** Each line is one datagram.",
            "* **로그: 데이터그램 소켓.** 한 줄이 데이터그램 하나입니다.", "",
            "**Proof / 증거**", "", "- [A.B](t.cc)"]))
        deep = notes.questions(doc)[0].section("deep")
        self.assertEqual([b.kind for b in deep.blocks], ["item", "item"])
        self.assertEqual([s.role for s in notes.questions(doc)[0].sections],
                         ["deep", "proof"])

    def test_topic_names(self):
        self.assertEqual(notes.topic_of("docs/README.md"), "overview")
        self.assertEqual(notes.topic_of("docs/sockets.md"), "sockets")


if __name__ == "__main__":
    unittest.main()
