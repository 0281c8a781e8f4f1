"""Unit tests of tools/stub_check.py, run by tools/gate ("stub check");
alone: python3 -m unittest tools/stub_check_test.py

Each test checks a small synthetic stub against a small synthetic header;
the canary is a stub that spells out a recipe, which the check must reject.
The last test runs the check on the real stubs of every topic.
"""

import os
import sys
import tempfile
import textwrap
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import stub_check  # noqa: E402

HEADER = textwrap.dedent("""\
    // Waits for the child `pid` to end and says how it ended. A signal that
    // interrupts the wait (EINTR) is not an error. See waitpid(2).
    ExitStatus WaitForChild(pid_t pid);

    // Owns a descriptor and closes it.
    class Fd {
     public:
      // Closes the descriptor; never throws.
      ~Fd();
    };
    """)

PRELUDE = textwrap.dedent("""\
    // The toy kata.
    #include "toy/toy.h"

    namespace kata::toy {
    namespace {

    // Given: what every unfinished function throws.
    std::logic_error NotImplemented(const char* function, int stage) {
      return std::logic_error(std::string("not implemented yet: ") + function);
    }

    }  // namespace
    """)


def stub(*bodies):
    return PRELUDE + "\n".join(bodies) + "\n}  // namespace kata::toy\n"


GOOD_WAIT = textwrap.dedent("""\
    ExitStatus WaitForChild(pid_t pid) {
      // Contract: toy.h. Stuck? tools/kata hint toy WaitForChild
      (void)pid;
      throw NotImplemented("WaitForChild", 1);
    }
    """)

GOOD_DESTRUCTOR = textwrap.dedent("""\
    Fd::~Fd() {
      // Contract: toy.h. Stuck? tools/kata hint toy WaitForChild
    }
    """)

# The canary: the recipe the issue found in the pipe stub.
RECIPE = textwrap.dedent("""\
    ExitStatus WaitForChild(pid_t pid) {
      // TODO: waitpid(pid, &status, 0), retried while it fails with EINTR;
      // decode the status with WIFEXITED/WEXITSTATUS.
      (void)pid;
      throw NotImplemented("WaitForChild", 1);
    }
    """)


def check(text, header=HEADER):
    return stub_check.problems_in("exercises/toy/toy.cc", text, header, "toy")


class StubCheckTest(unittest.TestCase):
    def test_contract_only_stub_passes(self):
        self.assertEqual(check(stub(GOOD_WAIT, GOOD_DESTRUCTOR)), [])

    def test_canary_recipe_is_rejected(self):
        problems = check(stub(RECIPE))
        text = "\n".join(problems)
        self.assertIn("2 comment lines", text)
        self.assertIn("WEXITSTATUS", text)  # named, not in the contract
        self.assertIn("WIFEXITED", text)
        self.assertNotIn("waitpid,", text)  # the header names waitpid(2)

    def test_one_line_recipe_naming_a_call_is_rejected(self):
        body = GOOD_WAIT.replace(
            "// Contract: toy.h. Stuck? tools/kata hint toy WaitForChild",
            "// toy.h: use wait4(pid, ...) in a loop; tools/kata hint toy")
        problems = check(stub(body))
        self.assertEqual(len(problems), 1, problems)
        self.assertIn("names wait4", problems[0])

    def test_man_page_reference_is_a_name(self):
        body = GOOD_WAIT.replace("Stuck?", "Read sigaction(2).")
        problems = check(stub(body))
        self.assertEqual(len(problems), 1, problems)
        self.assertIn("sigaction", problems[0])

    def test_name_the_header_gives_is_allowed(self):
        body = GOOD_WAIT.replace("Stuck?", "waitpid(2), EINTR.")
        self.assertEqual(check(stub(body)), [])

    def test_recipe_above_the_function_is_rejected(self):
        above = "// Hint: call pipe2(fds, O_CLOEXEC) here.\n" + GOOD_WAIT
        problems = check(stub(above))
        self.assertEqual(len(problems), 1, problems)
        self.assertIn("O_CLOEXEC, pipe2", problems[0])

    def test_comment_that_points_nowhere_is_rejected(self):
        body = GOOD_WAIT.replace(
            "// Contract: toy.h. Stuck? tools/kata hint toy WaitForChild",
            "// Loop until the child is gone.")
        problems = check(stub(body))
        self.assertEqual(len(problems), 1, problems)
        self.assertIn("should point to the header", problems[0])

    def test_block_comment_lines_count(self):
        body = GOOD_WAIT.replace(
            "// Contract: toy.h. Stuck? tools/kata hint toy WaitForChild",
            "/* Contract: toy.h.\n     tools/kata hint toy WaitForChild */")
        problems = check(stub(body))
        self.assertEqual(len(problems), 1, problems)
        self.assertIn("2 comment lines", problems[0])

    def test_code_in_a_stub_body_is_rejected(self):
        body = GOOD_WAIT.replace("(void)pid;", "int status = 0;\n  (void)pid;")
        problems = check(stub(body))
        self.assertEqual(len(problems), 1, problems)
        self.assertIn("holds code", problems[0])

    def test_given_code_keeps_its_body(self):
        given = textwrap.dedent("""\
            // Given: moving hands the descriptor over.
            Fd& Fd::operator=(Fd&& other) noexcept {
              if (this != &other) fd_ = std::exchange(other.fd_, -1);
              return *this;
            }
            """)
        self.assertEqual(check(stub(given, GOOD_WAIT)), [])
        ungiven = given.replace("// Given: moving", "// Moving")
        self.assertTrue(check(stub(ungiven, GOOD_WAIT)))

    def test_helper_without_given_is_rejected(self):
        text = stub(GOOD_WAIT).replace("// Given: what", "// What")
        problems = check(text)
        self.assertEqual(len(problems), 1, problems)
        self.assertIn("NotImplemented holds code", problems[0])

    def test_braces_and_parentheses_in_strings_do_not_confuse(self):
        body = GOOD_WAIT.replace('"WaitForChild", 1', '"Wait{For(Child", 1')
        self.assertEqual(check(stub(body)), [])

    def test_functions_finds_qualified_names_and_lines(self):
        found = stub_check.functions(stub(GOOD_WAIT, GOOD_DESTRUCTOR))
        self.assertEqual([f.name for f in found],
                         ["NotImplemented", "WaitForChild", "Fd::~Fd"])

    def test_topic_without_stub_functions_fails(self):
        with tempfile.TemporaryDirectory() as root:
            os.makedirs(os.path.join(root, "exercises", "toy"))
            problems, count = stub_check.check_topic("toy", root)
        self.assertEqual(count, 0)
        self.assertTrue(problems)

    def test_real_stubs_hold_only_the_contract(self):
        for topic in ("pipe", "message_queue", "shared_memory", "sockets",
                      "mailbox"):
            if not os.path.isdir(os.path.join(stub_check.ROOT, "exercises",
                                              topic)):
                continue
            problems, count = stub_check.check_topic(topic)
            self.assertGreater(count, 0, topic)
            self.assertEqual(problems, [], topic)


if __name__ == "__main__":
    unittest.main()
