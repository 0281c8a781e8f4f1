"""The learner's state: one git-ignored JSON file, .kata/state.json.

tools/kata and tools/drill keep everything they remember about a learner
here, and nowhere else (never in a tracked file):

  {
    "version": 1,
    "hints": {"pipe": {"WaitForChild": 2}},          highest level shown
    "interviews": [{"topic": "pipe", ...}],          finished attempts
    "interview": {"topic": "pipe", "pid": 123, ...}, the attempt running now
    "drill": {"cards": {"docs/pipe.md#q1": {"box": 2, "due": "...", ...}}}
  }

(the drill's records and its Leitner boxes: tools/drill_schedule.py)

A file that is not valid JSON, or not of this shape, is moved aside (never
deleted) with one sentence on stderr, and a fresh state starts.

Python 3 standard library only.
"""

import contextlib
import fcntl
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import drill_schedule  # noqa: E402  (tools/drill_schedule.py)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FOLDER = ".kata"  # git-ignored (.gitignore), beside the repository's files
VERSION = 1

# The shape of each top-level entry: a file whose entries have other types
# was not written by these tools and counts as corrupted.
SHAPE = {"version": int, "hints": dict, "interviews": list,
         "interview": dict, "drill": dict}


def empty():
    return {"version": VERSION, "hints": {}, "interviews": [], "drill": {}}


class State:
    """The state file of the repository at `root` (tests pass a temporary
    folder). `warn` receives the one-sentence notice about a corrupted file."""

    def __init__(self, root=ROOT, warn=None):
        self.root = root
        self.folder = os.path.join(root, FOLDER)
        self.path = os.path.join(self.folder, "state.json")
        self.warn = warn or (lambda text: print(text, file=sys.stderr))

    def relative(self, path):
        return os.path.relpath(path, self.root)

    def load(self):
        """The state as a dict (a fresh one if there is no file yet)."""
        try:
            with open(self.path, "rb") as f:
                raw = f.read()
        except FileNotFoundError:
            return empty()
        try:
            data = json.loads(raw.decode("utf-8"))
            problem = _shape_problem(data)
        except (json.JSONDecodeError, UnicodeDecodeError) as error:
            where = (f" at line {error.lineno}"
                     if isinstance(error, json.JSONDecodeError) else "")
            problem = f"is not valid JSON{where}"
        if problem is None:
            for key, value in empty().items():
                data.setdefault(key, value)
            return data
        aside = self._move_aside()
        self.warn(f"note: {self.relative(self.path)} {problem}, so it was "
                  f"moved aside to {self.relative(aside)} and a fresh state "
                  f"was started (hints shown, interviews and drill schedule "
                  f"begin again).")
        return empty()

    def _move_aside(self):
        stamp = time.strftime("%Y%m%d-%H%M%S")
        aside = f"{self.path}.corrupt-{stamp}"
        number = 1
        while os.path.exists(aside):
            number += 1
            aside = f"{self.path}.corrupt-{stamp}-{number}"
        os.replace(self.path, aside)
        return aside

    def save(self, data):
        """Writes `data` atomically: a crash leaves the old file or the new
        one, never half of one."""
        os.makedirs(self.folder, exist_ok=True)
        temporary = f"{self.path}.tmp-{os.getpid()}"
        with open(temporary, "w", encoding="utf-8") as f:
            json.dump(data, f, indent=2, ensure_ascii=False, sort_keys=True)
            f.write("\n")
        os.replace(temporary, self.path)

    @contextlib.contextmanager
    def edit(self):
        """Loads, yields the dict to change, saves; a lock keeps two tools
        (say the drill and an interview) from losing each other's changes."""
        os.makedirs(self.folder, exist_ok=True)
        with open(os.path.join(self.folder, "state.lock"), "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            data = self.load()
            yield data
            self.save(data)


def _shape_problem(data):
    """Why `data` is not a state these tools wrote (None if it is)."""
    if not isinstance(data, dict):
        return "does not hold a JSON object"
    for key, kind in SHAPE.items():
        if key in data and not isinstance(data[key], kind):
            return f"has a \"{key}\" entry of the wrong type"
    if data.get("version", VERSION) > VERSION:
        return (f"was written by a newer version of these tools "
                f"(version {data['version']})")
    for topic, shown in data.get("hints", {}).items():
        if not isinstance(shown, dict) or not all(
                isinstance(level, int) for level in shown.values()):
            return f"has unreadable hint levels for \"{topic}\""
    cards = data.get("drill", {}).get("cards", {})
    if not isinstance(cards, dict):
        return "has a \"drill\" entry whose \"cards\" is not an object"
    for key, card in cards.items():
        problem = drill_schedule.card_problem(card)
        if problem:
            return f"has a drill record for \"{key}\" that {problem}"
    return None
