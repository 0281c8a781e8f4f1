"""Your timeline beside the reference's: where your processes first did
something the reference solution's did not.

A failing kata test prints "what your code did" (tests/support/trace.cc): one
column per process, each descriptor named after what it is. This module
reads two such blocks, the learner's and the reference solution's for the
same test, and finds in each process the first step where they part.

What counts as the same step (the rule, for every topic):
  - run-dependent numbers never count: process ids, descriptor numbers,
    System V keys and ids, unique names (timeline_example.mask);
  - a read, write, send or receive is the same step when it is the same call
    on the same descriptor (by what it is) with the same outcome kind
    (success, or the same errno): how many bytes each call moved, what they
    were and how many calls a transfer took are free, because the kernel
    may split a stream differently on every run;
  - a throw is the same step when it throws the same type (and, for a
    std::system_error, the same errno): its message is the code's own
    wording;
  - everything else (pipe2, fork, close, dup2, mq_open with its flags,
    waitpid's status, ...) must match in full;
  - a failed check of the test is not a step: the reference fails none.
    When every process made the reference's calls and throws, the first
    check yours failed is the divergence: the mistake is a value no call
    shows (a port stored in the wrong byte order).
Order counts within a process; between processes it does not (their calls
interleave differently on every run). Processes are matched by their place
(runner, child 1, child 2 in order of their first call).

tools/kata compare runs both sides and prints `render`; tools/gate checks
that each developer mutant's divergence names its mistake.
"""

import importlib.machinery
import importlib.util
import os
import re

HERE = os.path.dirname(os.path.abspath(__file__))
TRANSFERS = ("read", "write", "readv", "writev", "pread", "pwrite", "recv",
             "send", "recvfrom", "sendto", "recvmsg", "sendmsg")


def load_example():
    """tools/timeline_example (no .py suffix): its parser and masks."""
    path = os.path.join(HERE, "timeline_example")
    loader = importlib.machinery.SourceFileLoader("timeline_example", path)
    spec = importlib.util.spec_from_loader("timeline_example", loader)
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module


EXAMPLE = load_example()
cut_timeline = EXAMPLE.cut_timeline


def parse(block):
    """({process: [(ms, row)]}, {process: what it held at its end}) of one
    block, rows masked (timeline_example.mask). Processes are "runner",
    "child 1", ... in both of trace.cc's layouts (columns side by side, or
    one "[child 1 (pid N)] row" per line when there are many processes)."""
    lines = block.splitlines()
    header = next((line for line in lines if line.lstrip().startswith("ms ")),
                  None)
    starts, names = [], []
    if header:
        for found in re.finditer(r"(runner|child \d+) \(pid", header):
            starts.append(found.start())
            names.append(found.group(1))
    rows, held, last, in_held = {}, {}, None, False
    for line in lines:
        if line is header or line.startswith(EXAMPLE.TITLE):
            continue
        if line.startswith(EXAMPLE.HELD):
            in_held = True
            continue
        if in_held:
            found = re.match(r"\s+(runner|child \d+) \(pid \d+\): (.*)", line)
            if found:
                held[found.group(1)] = EXAMPLE.mask(found.group(2))
            continue
        stamp = re.match(r"^\s*(\d+\.\d{3})  ", line)
        body = line[stamp.end():] if stamp else line[10:]
        text = body.strip()
        if not text:
            continue
        if not stamp:
            if last is not None:  # a wrapped row goes on
                rows[last][-1] = (rows[last][-1][0],
                                  rows[last][-1][1] + " " + text)
            continue
        if starts:
            indent = 10 + len(body) - len(body.lstrip())
            last = names[max(i for i, s in enumerate(starts) if s <= indent)]
        else:
            found = re.match(r"\[(runner|child \d+) \(pid \d+\)\] ", text)
            if not found:
                continue
            last, text = found.group(1), text[found.end():]
        rows.setdefault(last, []).append((float(stamp.group(1)), text))
    renamed = children_in_fork_order(block, rows)
    return ({renamed.get(process, process):
             [(ms, EXAMPLE.mask(text)) for ms, text in steps]
             for process, steps in rows.items()},
            {renamed.get(process, process): text
             for process, text in held.items()})


def children_in_fork_order(block, rows):
    """{"child k": "child j"}: trace.cc numbers children in the order of
    their first call, which two children started together can swap from run
    to run; numbered in the order they were created (the time of the fork
    that returned their pid, or else their pid), the same child has the same
    name each run."""
    pid_of = {name: int(pid) for name, pid in
              re.findall(r"(child \d+) \(pid (\d+)\)", block)}
    created = {}
    for steps in rows.values():
        for ms, text in steps:
            found = re.match(r"(?:fork|vfork|clone3?|posix_spawnp?)\(.*?\) = "
                             r"(\d+)", text)
            if found and int(found.group(1)) > 0:
                created.setdefault(int(found.group(1)), ms)
    # A child the test itself started (kata::Child) has no fork row: the
    # test's own calls are not recorded. Those come first, in the order of
    # their pids (a process gets a higher pid than one created before it),
    # then the children the code under test forked, by their fork's time:
    # the same order in your run and in the reference's, whichever process
    # made its first call first.
    # A process with neither a fork row nor a call of its own (only the
    # watchdog's BLOCKED row: a program a child exec'd, and whatever that
    # program started) comes last: the reference's run may not have one.
    def created_when(name):
        pid = pid_of.get(name, 0)
        if pid in created:
            return (1, created[pid], pid)
        if any(not text.startswith("BLOCKED in ") for _, text in rows[name]):
            return (0, pid, int(name.split()[1]))
        return (2, pid, int(name.split()[1]))

    children = sorted((name for name in rows if name.startswith("child ")),
                      key=created_when)
    return {name: f"child {index + 1}"
            for index, name in enumerate(children)}


def columns(block):
    """{process: [step]}: parse without the times, the held table and the
    failed checks."""
    found = {process: steps_of([text for _, text in steps])
             for process, steps in parse(block)[0].items()}
    return {process: steps for process, steps in found.items() if steps}


CHECK = "check failed at "


def is_check(row):
    """Whether a row is a failed check of the test, not a step."""
    return row.startswith(CHECK)


def steps_of(rows):
    """The rows that are steps: the calls and throws."""
    return [row for row in rows if not is_check(row)]


def step_key(row):
    """What must match for two rows to be the same step (module rule).
    Blanks never count: a row wrapped to fit its column may have been cut in
    the middle of a word or at a blank. Neither does the time left before a
    deadline when a wait returned."""
    if row.startswith("throw "):
        return re.sub(r"\s+", "", row.split(": ", 1)[0])
    row = re.sub(r"deadline in -?\d+ ms", "deadline", row)
    # A new descriptor's number does not count either.
    row = re.sub(r"^((?:mq_|shm_)?open(?:at)?\(.*\)|socket\(.*\)|"
                 r"accept4?\(.*\)|dup[23]?\(.*\)) = \d+$", r"\1 = N", row)
    found = re.match(r"(\w+)\(([^,)]*\])?", row)
    if not found or found.group(1) not in TRANSFERS:
        return re.sub(r"\s+", "", row)
    outcome = re.search(r"= -1 (\w+)", row)
    return (found.group(1), re.sub(r"\s+", "", found.group(2) or ""),
            outcome.group(1) if outcome else "ok")


def first_difference(reference, yours):
    """Index of the first step where two row lists part, or None."""
    for index in range(max(len(reference), len(yours))):
        if index >= len(reference) or index >= len(yours):
            return index
        if step_key(reference[index]) != step_key(yours[index]):
            return index
    return None


def cut_short(block):
    """Whether the recorder dropped the block's earliest calls (its bound):
    then its steps cannot be counted from the start."""
    return "earlier calls were dropped" in block


def divergences(reference_block, your_block):
    """[(process, step, reference row or None, your row or None)]: for each
    process whose calls part from the reference's, its first differing step,
    earliest first: by when the reference made the step yours did not (a
    step of yours the reference never made: by when you made it). A hang
    shows why: the runner's blocked waitpid comes after the child's missing
    close in the reference's order. Then each process whose descriptors at
    its end differ (step None, the two descriptor lists as the rows)."""
    (reference, reference_held), (yours, your_held) = (
        parse(reference_block), parse(your_block))
    reference = {p: [(ms, t) for ms, t in steps if not is_check(t)]
                 for p, steps in reference.items()}
    checks = sorted((ms, process, text) for process, steps in yours.items()
                    for ms, text in steps if is_check(text))
    yours = {p: [(ms, t) for ms, t in steps if not is_check(t)]
             for p, steps in yours.items()}
    processes = list(reference) + [p for p in yours if p not in reference]
    found = []
    for process in processes:
        timed = reference.get(process, [])
        ours = [text for _, text in timed]
        theirs = yours.get(process, [])
        step = first_difference(ours, [text for _, text in theirs])
        if step is None:
            continue
        when = timed[step][0] if step < len(timed) else theirs[step][0]
        found.append((when, process, step,
                      ours[step] if step < len(ours) else None,
                      theirs[step][1] if step < len(theirs) else None))
    found.sort(key=lambda d: d[0])
    result = [d[1:] for d in found]
    for process in processes:
        if any(p == process for p, *_ in result):
            continue
        kept, held = reference_held.get(process), your_held.get(process)
        if kept != held:
            result.append((process, None, kept, held))
    if not result and checks:
        _, process, text = checks[0]
        result.append((process, "check", None, text))
    return result


def sentence(process, step, reference_row, your_row):
    """One divergence in words."""
    if step == "check":
        return (f"{process}: every call and throw is the reference's; what "
                f"differs is a value the test checked: {your_row}")
    if step is None:
        return (f"at its end the reference's {process} held "
                f"{reference_row or 'nothing'}; yours held "
                f"{your_row or 'nothing'}")
    where = f"{process}, step {step + 1}"
    if reference_row is None:
        return (f"{where}: the reference's {process} makes no further call; "
                f"yours goes on: {your_row}")
    if your_row is None:
        return (f"{where}: the reference's {process} goes on: "
                f"{reference_row}; yours never does")
    return (f"{where}: the reference's {process}: {reference_row}; yours: "
            f"{your_row}")


def render(reference_block, your_block, context=3, width=60):
    """The divergence lines, then each diverging process side by side
    around its first difference (marked >>)."""
    if cut_short(reference_block) or cut_short(your_block):
        theirs = [p for p in columns(reference_block)]
        yours = [p for p in columns(your_block)]
        text = ("no step-by-step comparison: the recorder kept only the last "
                "calls of this test (earlier calls were dropped)\n")
        if len(theirs) != len(yours):
            text = (f"first divergence: the reference's test had "
                    f"{len(theirs)} processes ({', '.join(theirs)}); yours "
                    f"had {len(yours)} ({', '.join(yours)})\n" + text)
        checks = sorted((ms, row) for rows in parse(your_block)[0].values()
                        for ms, row in rows if is_check(row))
        if checks:
            text += f"  also: the first check yours failed: {checks[0][1]}\n"
        return text
    found = divergences(reference_block, your_block)
    if not found:
        return ("no divergence: every process made the reference's calls in "
                "the reference's order\n")
    lines = ["first divergence: " + sentence(*found[0])]
    lines += ["  also: " + sentence(*d) for d in found[1:]]
    reference, yours = columns(reference_block), columns(your_block)
    for process, step, _, _ in found:
        if step is None or step == "check":
            continue
        ours, theirs = reference.get(process, []), yours.get(process, [])
        lines.append("")
        lines.append(" " * 8 + f"{process + ' of the reference':<{width}}  "
                     f"{process + ' of yours'}")
        start = max(0, step - context)
        for index in range(start, min(max(len(ours), len(theirs)),
                                      step + context + 1)):
            left = ours[index] if index < len(ours) else ""
            right = theirs[index] if index < len(theirs) else ""
            mark = ">>" if index == step else "  "
            lines.append(f"{mark}{index + 1:>4}  {left[:width]:<{width}}  "
                         f"{right}")
    return "\n".join(lines) + "\n"
