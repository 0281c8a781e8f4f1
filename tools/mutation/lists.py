"""The two lists tools/mutate reads from tests/<topic>/mutants/.

equivalent.txt: mutants no test can tell from the solution, each with why.

    # comment
    pipe.cc:65:26:minus1  poll's timeout -2 waits forever, exactly as -1 does

  One mutant a line: its id, blanks, a one-line reason (required). They are
  left out of the score's denominator.

sample.txt: the gate's fixed sample (tools/mutate --gate) and the outcome
each mutant had when the sample was recorded (tools/mutate --record-sample).

    min-score 0
    pipe.cc:112:5:call  killed  pipe.write_end.reset();

  `min-score P`: the gate fails when fewer than P % of the sampled mutants
  are killed (0: it only reports the score). Then one mutant a line: its id,
  `killed` or `survived`, and the unmutated source line, which finds the
  mutant again when edits elsewhere in the file have moved it to another
  line. The gate fails when a mutant recorded as killed survives.
"""

import os

EQUIVALENT = "equivalent.txt"
SAMPLE = "sample.txt"


class ListError(Exception):
    pass


def mutants_dir(root, topic):
    return os.path.join(root, "tests", topic, "mutants")


def _lines(path):
    if not os.path.exists(path):
        return
    with open(path) as f:
        for number, line in enumerate(f, 1):
            line = line.strip()
            if line and not line.startswith("#"):
                yield number, line


def read_equivalent(root, topic):
    """{id: reason} from tests/<topic>/mutants/equivalent.txt."""
    path = os.path.join(mutants_dir(root, topic), EQUIVALENT)
    found = {}
    for number, line in _lines(path):
        parts = line.split(None, 1)
        if len(parts) < 2:
            raise ListError(f"{path}:{number}: `{line}` has no reason; write "
                            f"the id, then why no test can tell it apart")
        found[parts[0]] = parts[1]
    return found


class Sample:
    def __init__(self, min_score=0.0, entries=None):
        self.min_score = min_score
        self.entries = entries or []   # [(id, expected, source line)]


def read_sample(root, topic):
    """The Sample of tests/<topic>/mutants/sample.txt (None if none)."""
    path = os.path.join(mutants_dir(root, topic), SAMPLE)
    if not os.path.exists(path):
        return None
    sample = Sample()
    for number, line in _lines(path):
        parts = line.split(None, 2)
        if parts[0] == "min-score" and len(parts) == 2:
            sample.min_score = float(parts[1])
        elif len(parts) >= 2 and parts[1] in ("killed", "survived"):
            sample.entries.append((parts[0], parts[1],
                                   parts[2] if len(parts) > 2 else ""))
        else:
            raise ListError(f"{path}:{number}: expected `min-score P` or "
                            f"`<id> killed|survived <source line>`")
    return sample


def write_sample(root, topic, sample, command):
    path = os.path.join(mutants_dir(root, topic), SAMPLE)
    width = max([len(i) for i, _, _ in sample.entries] + [10])
    with open(path, "w") as f:
        f.write(
            "# The gate's mutation sample for this topic (docs/mutation.md):\n"
            f"# written by `{command}`.\n"
            "# The gate runs these mutants and fails when one recorded as\n"
            "# killed survives, or when fewer than min-score % are killed.\n"
            "# When a new test kills a survivor, record the sample again.\n"
            f"min-score {sample.min_score:g}\n")
        for ident, expected, line in sample.entries:
            f.write(f"{ident:<{width}}  {expected:<8}  {line}\n")
    return path


def find_moved(wanted_id, source_line, mutants):
    """The mutant a stale id meant: same file, operator, column and
    unmutated source line; when that line occurs more than once, the one
    nearest to the recorded line (None on a tie or no match)."""
    parts = wanted_id.split(":")
    if len(parts) != 4 or not parts[1].isdigit():
        return None
    name, line, col, op = parts
    matches = sorted((abs(m.line - int(line)), m.line, m) for m in mutants
                     if m.file == name and m.op == op and str(m.col) == col
                     and m.source_line == source_line)
    if not matches or (len(matches) > 1 and matches[0][0] == matches[1][0]):
        return None
    return matches[0][2]
