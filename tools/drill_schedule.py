"""The drill's schedule (tools/drill): Leitner boxes, kept in the learner's
state file (tools/kata_state.py, "drill" entry).

Five boxes. The box says how many days pass before a question is asked
again:

  box       1   2   3   4   5
  interval  0   1   3   7   16 days

After the 30-second answer the learner rates their own answer:

  again  back to box 1 (due again at once: the next session, even today)
  hard   stays in its box, due after that box's interval
  good   one box up (box 5 stays in box 5), due after the new box's interval

A question never rated is new; its first rating treats it as if it were in
box 1 (good sends it to box 2, due tomorrow). A question is known by its
file and anchor ("docs/pipe.md#q3"), which docs/README.md keeps stable
across rewordings, so editing an answer or a title keeps its progress.

Each question's record in the state file:

  "drill": {"cards": {"docs/pipe.md#q3": {"box": 2, "due": "2025-03-02",
            "last": "good", "reviewed": "2025-03-01", "seen": 4}}}

Dates are local calendar days (ISO 8601). Every function here takes
`today` from its caller, so tests choose the clock.

Python 3 standard library only.
"""

import datetime

BOXES = 5
INTERVALS = {1: 0, 2: 1, 3: 3, 4: 7, 5: 16}  # box -> days until due
RATINGS = ("again", "hard", "good")


def key_of(question):
    """The stable key of a question from tools/notes.py: file#anchor."""
    return f"{question.path}#{question.anchor}"


def cards_of(state):
    """The {key: record} dict inside a loaded state (created if missing)."""
    return state.setdefault("drill", {}).setdefault("cards", {})


def rate(card, rating, today):
    """The record after rating a question `rating` on day `today`; `card` is
    its record so far (None for a new question). `card` is not changed."""
    if rating not in RATINGS:
        raise ValueError(f"unknown rating {rating!r}: one of {RATINGS}")
    box = card["box"] if card else 1
    if rating == "again":
        box = 1
    elif rating == "good":
        box = min(box + 1, BOXES)
    due = today + datetime.timedelta(days=INTERVALS[box])
    return {"box": box, "due": due.isoformat(), "last": rating,
            "reviewed": today.isoformat(),
            "seen": (card.get("seen", 0) if card else 0) + 1}


def due_date(card):
    return datetime.date.fromisoformat(card["due"])


def is_due(card, today):
    return card is not None and due_date(card) <= today


def order(questions, cards, today, later_too=False):
    """The questions to ask, split three ways: (due, new, later).

    due: rated before and due by `today`, the most overdue first (then the
    lower box, then the order of the notes); new: never rated, in the
    order given; later: not due yet, soonest first (empty unless
    `later_too`)."""
    due, new, later = [], [], []
    for position, question in enumerate(questions):
        card = cards.get(key_of(question))
        if card is None:
            new.append(question)
        elif is_due(card, today):
            due.append((due_date(card), card["box"], position, question))
        elif later_too:
            later.append((due_date(card), card["box"], position, question))
    due.sort(key=lambda entry: entry[:3])
    later.sort(key=lambda entry: entry[:3])
    return ([entry[3] for entry in due], new, [entry[3] for entry in later])


def summary(questions, cards, today):
    """{"total", "new", "due", "later", "next", "boxes"} for some questions:
    how many are new, due by `today`, due later (and the soonest such
    day, or None), and how many sit in each box."""
    due, new, later = order(questions, cards, today, later_too=True)
    boxes = {box: 0 for box in range(1, BOXES + 1)}
    for question in due + later:
        boxes[cards[key_of(question)]["box"]] += 1
    return {"total": len(questions), "new": len(new), "due": len(due),
            "later": len(later),
            "next": due_date(cards[key_of(later[0])]) if later else None,
            "boxes": boxes}


def card_problem(card):
    """Why a stored record is not one this module wrote (None if it is);
    tools/kata_state.py uses it to tell a corrupted state file."""
    if not isinstance(card, dict):
        return "is not a JSON object"
    box = card.get("box")
    if not isinstance(box, int) or isinstance(box, bool) or \
            box not in INTERVALS:
        return f"has box {box!r} (boxes are 1 to {BOXES})"
    try:
        datetime.date.fromisoformat(card.get("due"))
    except (TypeError, ValueError):
        return f"has due date {card.get('due')!r} (not YYYY-MM-DD)"
    if card.get("last") not in RATINGS + (None,):
        return f"has rating {card.get('last')!r}"
    seen = card.get("seen", 0)
    if not isinstance(seen, int) or isinstance(seen, bool) or seen < 0:
        return f"has times seen {seen!r}"
    return None
