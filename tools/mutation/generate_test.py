"""Unit tests of tools/mutation/generate.py on testdata/sample.cc. Run by the
gate's mutation step; alone (Debian's python3 has libclang's binding):

  /usr/bin/python3 -m unittest discover -s tools/mutation -p 'generate_test.py'
"""

import os
import shutil
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
from mutation import generate  # noqa: E402

SAMPLE = os.path.join(HERE, "testdata", "sample.cc")


def mutants():
    return generate.generate_file("t", "sample.cc", SAMPLE)


class GenerateTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.mutants = mutants()
        cls.by_id = {m.id: m for m in cls.mutants}
        with open(SAMPLE, "rb") as f:
            cls.source = f.read()

    def changed_line(self, ident):
        """The mutated text of the line the mutant `ident` edits."""
        mutant = self.by_id[ident]
        return mutant.apply(self.source).decode().splitlines()[
            mutant.line - 1].strip()

    def test_every_operator_fires(self):
        self.assertEqual({m.op for m in self.mutants},
                         set(generate.OPERATORS))

    def test_the_same_source_gives_the_same_mutants_in_the_same_order(self):
        again = mutants()
        self.assertEqual([m.id for m in again], [m.id for m in self.mutants])
        self.assertEqual([m.edits for m in again],
                         [m.edits for m in self.mutants])

    def test_ids_are_unique_and_every_mutant_changes_the_source(self):
        self.assertEqual(len(self.by_id), len(self.mutants))
        for mutant in self.mutants:
            self.assertNotEqual(mutant.apply(self.source), self.source,
                                mutant.id)

    def test_relational_boundary_and_equality(self):
        self.assertEqual(self.changed_line("sample.cc:38:14:boundary"),
                         "if (opened <= 0) return -1;")
        self.assertEqual(self.changed_line("sample.cc:40:24:equality"),
                         "if (target > 2 && fd == target) flags |= "
                         "MSG_NOSIGNAL;")

    def test_a_literal_step_that_repeats_the_boundary_mutant_is_left_out(self):
        # `opened < 0` plus one is `opened < 1`, the same as `opened <= 0`.
        self.assertNotIn("sample.cc:38:16:plus1", self.by_id)
        self.assertIn("sample.cc:38:16:minus1", self.by_id)

    def test_negative_literals_step_as_a_whole(self):
        self.assertEqual(self.changed_line("sample.cc:38:26:plus1"),
                         "if (opened < 0) return 0;")
        self.assertEqual(self.changed_line("sample.cc:38:26:minus1"),
                         "if (opened < 0) return -2;")

    def test_octal_literals_stay_octal(self):
        self.assertIn("0577);", self.changed_line("sample.cc:37:54:minus1"))

    def test_array_bounds_are_not_mutated(self):
        self.assertFalse([m for m in self.mutants if m.line == 52 and
                          m.op in ("plus1", "minus1") and m.col < 16])

    def test_flags_dropped_one_at_a_time(self):
        self.assertEqual(self.changed_line("sample.cc:37:37:flag"),
                         "int opened = open(path, O_CREAT | O_RDWR, 0600);")
        self.assertEqual(self.changed_line("sample.cc:37:27:flag"),
                         "int opened = open(path, O_EXCL | O_RDWR, 0600);")
        self.assertEqual(self.changed_line("sample.cc:51:18:flag"),
                         "pipe2(&opened, 0);")
        self.assertEqual(self.changed_line("sample.cc:40:7:negate"),
                         "if (!(target > 2 && fd != target)) flags |= "
                         "MSG_NOSIGNAL;")
        self.assertEqual(self.changed_line("sample.cc:40:35:flag"),
                         "if (target > 2 && fd != target) ;")

    def test_eintr_retries_removed(self):
        self.assertEqual(self.changed_line("sample.cc:44:21:eintr"),
                         "} while (n < 0 && false);")
        self.assertIn("|| true) return result;",
                      self.changed_line("sample.cc:20:24:eintr"))
        self.assertEqual(self.changed_line("sample.cc:47:9:eintr"),
                         "n = (write(fd, buffer, 1));")
        case = self.by_id["sample.cc:26:5:eintr"]
        self.assertNotIn(b"case EINTR:", case.apply(self.source))

    def test_a_removed_call_takes_its_line_with_it(self):
        mutant = self.by_id["sample.cc:53:3:call"]
        after = mutant.apply(self.source).decode().splitlines()
        self.assertEqual(len(after), len(self.source.splitlines()) - 1)
        self.assertNotIn("  close(opened);", after)

    def test_swapped_arguments_of_the_same_type(self):
        self.assertEqual(self.changed_line("sample.cc:50:8:swap"),
                         "dup2(target, fd);")
        # A constant among the arguments is never exchanged.
        self.assertFalse([m for m in self.mutants
                          if m.op == "swap" and m.line != 50])

    def test_operators_inside_a_macro_are_left_alone(self):
        line = 55  # if (WIFEXITED(status)) return WEXITSTATUS(status);
        self.assertEqual({m.op for m in self.mutants if m.line == line},
                         {"negate"})

    def test_negated_condition_and_removed_not_at_one_place(self):
        line = len(self.source.splitlines())
        self.assertEqual(self.changed_line(f"sample.cc:{line}:39:negate"),
                         "bool Neither(bool a, bool b) { return !(!a && !b) "
                         "? true : a && b; }")
        self.assertEqual(self.changed_line(f"sample.cc:{line}:39:not"),
                         "bool Neither(bool a, bool b) { return a && !b ? "
                         "true : a && b; }")

    def test_comparisons_of_class_types(self):
        # std::string's operator== and C++20's rewritten `it != end`.
        self.assertEqual(self.changed_line("sample.cc:64:13:equality"),
                         "if (*it != wanted) ++count;")
        self.assertEqual(self.changed_line("sample.cc:63:36:equality"),
                         "for (auto it = names.begin(); it == names.end(); "
                         "++it) {")
        # The rewritten `!=` is no `!`: nothing removes it.
        self.assertFalse([m for m in self.mutants if m.line == 63 and
                          m.op == "negate"])

    @unittest.skipUnless(shutil.which("g++"), "needs g++")
    def test_every_mutant_compiles(self):
        with tempfile.TemporaryDirectory() as folder:
            for mutant in self.mutants:
                path = os.path.join(folder, "mutant.cc")
                with open(path, "wb") as f:
                    f.write(mutant.apply(self.source))
                out = subprocess.run(["g++", "-std=c++20", "-fsyntax-only",
                                      path], capture_output=True, text=True)
                self.assertEqual(out.returncode, 0,
                                 f"{mutant.id}: {out.stderr}")


if __name__ == "__main__":
    unittest.main()
