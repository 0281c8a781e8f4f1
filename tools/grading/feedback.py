"""What a student reads about a failing case or an unfinished topic.

GoogleTest's failure text starts with a location ("tests/pipe/pipe_test.cc:
267", or "unknown file" for an exception) and an assertion spreads its
expected and actual values over several lines. feedback() keeps every line
that says something (the values, the test's own message, the hint), moves
the location to the end, and shortens the stub's exception to its words. A
topic whose every case stopped at the stub's "not implemented yet" is not
started: one line says so instead of a line per case.
"""

import re

UNFINISHED = "not implemented yet"
LOCATION = re.compile(r"^(\S+\.(?:cc|h|cpp)):(\d+)(?:: Failure)?$")
EXCEPTION = re.compile(r'^C\+\+ exception with description "(.*)" thrown in '
                       r'the test body\.$', re.S)
STUB = re.compile(r"not implemented yet: ([\w:~<>]+) in (\S+) \(stage (\d+)\)")


def feedback(message, max_lines=16, max_chars=1500):
    """The failure text of one case, readable, locations last."""
    kept, where = [], []
    for line in (message or "").splitlines():
        stripped = line.strip()
        if not stripped or stripped in ("unknown file", "unknown file: "
                                        "Failure", "Failed"):
            continue
        location = LOCATION.match(stripped)
        if location:
            if location.group(1) != "tests/support/main.cc":
                where.append(f"{location.group(1)}:{location.group(2)}")
            continue
        exception = EXCEPTION.match(stripped)
        if exception:
            line = exception.group(1)
        kept.append(line.rstrip())
    if len(kept) > max_lines:
        kept = kept[:max_lines] + [f"[... {len(kept) - max_lines} more "
                                   "lines in the full report]"]
    text = "\n".join(kept)
    if where:
        text += f"\n(at {', '.join(dict.fromkeys(where))})"
    if len(text) > max_chars:
        text = text[:max_chars] + " [...]"
    return text or "failed (no message)"


def first_words(message):
    """The first line that says something, for one-line summaries."""
    return feedback(message, max_lines=1).splitlines()[0][:300]


def unfinished_function(message):
    """(function, file, stage) when a case stopped at the stub."""
    match = STUB.search(message or "")
    return match.groups() if match else None


def not_started(entry):
    """Whether every case of a topic stopped at the stub."""
    cases = entry.get("cases", [])
    return bool(cases) and entry.get("passed", 0) == 0 and all(
        unfinished_function(c["message"]) for c in cases)


def topic_summary(topic, entry):
    """One line for a topic that was not started, else None."""
    if not not_started(entry):
        return None
    files = sorted({unfinished_function(c["message"])[1]
                    for c in entry["cases"]})
    return (f"{topic}: not started: all {entry['total']} cases stop at "
            f"\"{UNFINISHED}\" ({', '.join(files)}); 0/"
            f"{entry['max']:g} points")


def unfinished_groups(cases):
    """{(function, file, stage): [case names]} of the cases that stopped at
    the stub, and the other failing cases."""
    groups, others = {}, []
    for case in cases:
        found = unfinished_function(case["message"])
        if found:
            groups.setdefault(found, []).append(case["name"])
        else:
            others.append(case)
    return groups, others
