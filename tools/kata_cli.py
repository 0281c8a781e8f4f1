"""tools/kata: the learner's one command (README, "Working on a kata").

  tools/kata                       your progress: the stage table of every
                                   topic from the latest test results
  tools/kata status [TOPIC]        the same, or one topic in full
  tools/kata hint TOPIC [FUNCTION] the next hint for your first failing
                                   stage (or FUNCTION): each call goes one
                                   level deeper
  tools/kata test [TOPIC]          runs the tests, then the stage table
  tools/kata watch TOPIC           reruns the tests on every save (ibazel)
  tools/kata compare TOPIC TEST    one test's calls, yours beside the
                                   reference solution's, and where they part
  tools/kata reset TOPIC           puts the blank stub back (your version is
                                   backed up first)
  tools/kata interview TOPIC       a timed attempt from a blank stub in a
                                   scratch copy, hints off
  tools/kata completion            bash completion: source <(tools/kata
                                   completion)

Everything it remembers (hints shown, interviews) is in .kata/state.json,
which git ignores. `tools/kata <command> --help` explains each command.
Python 3 standard library only.
"""

import argparse
import difflib
import os
import re
import shlex
import shutil
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import hints  # noqa: E402
import kata_results  # noqa: E402
import kata_state  # noqa: E402
import kata_stub  # noqa: E402
import timeline_compare  # noqa: E402
import notes  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
KATA = os.path.join(ROOT, "tools", "kata")
BACKUPS = os.path.join(kata_state.FOLDER, "backups")

# The words around a hint, in the learner's language (the hint itself comes
# from exercises/<topic>/hints.md).
WORDS = {
    "en": {
        "header": "{topic} · {function} ({stages}) · hint {level} of 3, {name}",
        "why": "{title} is your first unfinished stage ({passed}/{total} "
               "pass); it asks for {functions}.",
        "assumed": "No test results yet, so this is for {title}; "
                   "tools/kata test {topic} shows where you stand.",
        "deeper": "Deeper: tools/kata hint {topic}{named} (level {level}, "
                  "{name}).",
        "last": "That was the last level for {function}. The tests' hint: "
                "lines name the mistake each failure shows, and {where} "
                "explains the stage.",
        "web": "Also on GitHub: {path}#{anchor}",
        "others": "This stage also asks for {names}: tools/kata hint {topic} "
                  "<function>.",
    },
    "ko": {
        "header": "{topic} · {function} ({stages}) · 힌트 3단계 중 {level}단계, "
                  "{name}",
        "why": "{title}: 아직 끝나지 않은 첫 단계입니다({passed}/{total} 통과). "
               "이 단계에 필요한 함수는 {functions}입니다.",
        "assumed": "아직 테스트 결과가 없어 {title} 기준으로 골랐습니다. "
                   "tools/kata test {topic}으로 현재 위치를 확인하세요.",
        "deeper": "더 깊이: tools/kata hint {topic}{named} ({level}단계, "
                  "{name})",
        "last": "{function}의 마지막 단계였습니다. 테스트의 hint: 줄이 실패마다 "
                "실수를 짚어 주고, {where}에 단계 설명이 있습니다.",
        "web": "GitHub에서 보기: {path}#{anchor}",
        "others": "이 단계에는 {names}도 필요합니다: tools/kata hint {topic} "
                  "<함수>",
    },
}



def native_ibazel(found):
    """The ibazel program itself when `found` is npm's wrapper script.

    npm installs ibazel as a Node.js script (index.js) that starts the real
    program from bin/<os>_<arch>/ next to it, and first warns on every start
    that the project has no node_modules of its own. The learner needs no
    such banner: start the real program where there is one."""
    script = os.path.realpath(found)
    if not script.endswith(".js"):
        return found
    arch = {"x86_64": "amd64", "aarch64": "arm64"}.get(os.uname().machine)
    native = os.path.join(os.path.dirname(script), "bin", f"linux_{arch}",
                          "ibazel")
    return native if arch and os.access(native, os.X_OK) else found

class Failure(Exception):
    """One sentence for the learner, and the exit code."""

    def __init__(self, sentence, code=1):
        super().__init__(sentence)
        self.code = code


def clock(seconds):
    """12:05 for 725 seconds."""
    seconds = max(0, int(round(seconds)))
    return f"{seconds // 60}:{seconds % 60:02d}"


def when(timestamp, now=None):
    """'13:50 today', 'yesterday 09:12' or 'Dec 3 13:50'."""
    now = time.localtime(now if now is not None else time.time())
    then = time.localtime(timestamp)
    if then[:3] == now[:3]:
        return time.strftime("%H:%M today", then)
    yesterday = time.localtime(time.mktime(now) - 86400)
    if then[:3] == yesterday[:3]:
        return time.strftime("yesterday %H:%M", then)
    return time.strftime("%b %-d %H:%M", then)


def pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class Kata:
    """The commands, with every outside dependency replaceable by tests:
    the repository root, the streams, the environment (BAZEL and IBAZEL
    name the programs to run) and the clock."""

    def __init__(self, root=ROOT, out=None, err=None, stdin=None, env=None,
                 now=time.time):
        self.root = root
        self.out = out or sys.stdout
        self.err = err or sys.stderr
        self.stdin = stdin or sys.stdin
        env = os.environ if env is None else env
        self.bazel = env.get("BAZEL", "bazel")
        self.ibazel = env.get("IBAZEL", "ibazel")
        self.now = now
        self.state = kata_state.State(root, warn=self.note)
        self.columns = min(100, shutil.get_terminal_size((80, 24)).columns)

    # ------------------------------------------------------------ output

    def say(self, text=""):
        print(text, file=self.out, flush=True)

    def wrapped(self, text):
        """Prints a long sentence wrapped to the terminal, the lines after
        the first indented by two spaces."""
        lines = notes.wrap(text, "", self.columns - 2)
        for number, line in enumerate(lines):
            self.say(("  " if number else "") + line)

    def note(self, text):
        print(text, file=self.err, flush=True)

    def paragraph(self, markdown, doc_path, indent="  "):
        text = notes.terminal_text(" ".join(markdown.split()), doc_path,
                                   show_targets=True, with_anchor=True)
        for line in notes.wrap(text, indent, self.columns):
            self.say(line)

    def relative(self, path):
        return os.path.relpath(path, self.root)

    # ------------------------------------------------------------ topics

    def topics(self):
        with open(os.path.join(self.root, "tools", "topics.txt")) as f:
            return [line.split("#")[0].strip() for line in f
                    if line.split("#")[0].strip()]

    def topic(self, name):
        """`name` if it is a topic, else a Failure naming the topics."""
        known = self.topics()
        if name in known:
            return name
        close = difflib.get_close_matches(name, known, n=1)
        guess = f" (did you mean {close[0]}?)" if close else ""
        raise Failure(f"there is no topic \"{name}\"{guess}; the topics are "
                      f"{', '.join(known)}.", 2)

    def results(self, topic):
        return kata_results.read(topic, self.root)

    # ------------------------------------------------------------ interviews

    def running_interview(self):
        """The interview in progress, or None. One whose process is gone
        (a closed terminal, a kill) is moved to the history as abandoned,
        its attempt kept in .kata/interviews/."""
        data = self.state.load()
        running = data.get("interview")
        if not running:
            return None
        if pid_alive(running.get("pid", -1)):
            return running
        import kata_interview  # noqa: E402  (beside this file)
        kata_interview.settle_abandoned(self, running)
        return None

    # ------------------------------------------------------------ status

    def stage_table(self, topic, results, hints_shown, full=True):
        """Prints a topic's stage table; returns its one-line summary."""
        stages_total = len(results.rows)
        header = (f"{topic:<15} {results.stages_done}/{stages_total} stages"
                  f"   tested {when(results.when, self.now())}")
        used = sum(hints_shown.values())
        if not full:
            state = ("done" if results.all_done else
                     "not started" if not any(r.passed for r in results.rows)
                     else "in progress")
            self.say(f"{header}   {state}" +
                     (f", {used} hints used" if used else ""))
            return
        self.say(header)
        if results.changed:
            self.say(f"  (changed after this run: {', '.join(results.changed)};"
                     f" tools/kata test {topic} runs the tests again)")
        if results.other and not any(r.total for r in results.rows):
            self.say(f"  the last run stopped before its stage table (a crash "
                     f"or a time-out): read {self.relative(results.xml)[:-3]}"
                     f"log")
            return
        following = results.next_row
        for row in results.rows:
            if row.total == 0:
                mark, count = "not run", "  -  "
            else:
                count = f"{row.passed:>2}/{row.total:<2}"
                mark = ("done" if row.done else
                        f"hung: {row.hung}" if row.hung else "")
            if row is following:
                mark = (mark + "  " if mark else "") + "<- next"
            self.say(f"  {row.stage.suite:<28} {count}  {mark}".rstrip())
        if hints_shown:
            self.say("  hints used: " + ", ".join(
                f"{name} {level} of 3" for name, level in hints_shown.items()))

    def next_step(self, topic, results):
        """The sentence that says what to do next in `topic`."""
        if results is None:
            return (f"Next: run tools/kata test {topic} to see where you "
                    f"stand in {topic}.")
        row = results.next_row
        if row is None:
            return None
        functions = results.unfinished_functions(row)
        parsed = hints.load(topic, self.root)
        if not functions and parsed:
            functions = [f.name for f in parsed.for_stage(row.stage.number)]
        write = (f" (write {', '.join(functions)} in exercises/{topic}/)"
                 if functions else "")
        return (f"Next: {row.stage.title}{write}: read {row.stage.where}, "
                f"then tools/kata test {topic}; stuck? tools/kata hint "
                f"{topic}.")

    def status(self, topic=None):
        chosen = [self.topic(topic)] if topic else self.topics()
        running = self.running_interview()
        data = self.state.load()
        found = {t: self.results(t) for t in chosen}
        if not any(found.values()):
            first = chosen[0]
            raise Failure(
                f"no test results yet for {first}: run tools/kata test "
                f"{first} to see where you stand." if len(chosen) == 1 else
                f"no test results yet: run tools/kata test {first} (or "
                f"tools/kata test for every topic) to see where you stand.")
        current = next((t for t in chosen if found[t] is None or
                        not found[t].all_done), None)
        if len(chosen) > 1:
            self.say("Your katas (latest test results; tools/kata test "
                     "reruns them):")
            self.say()
        for name in chosen:
            results = found[name]
            shown = data["hints"].get(name, {})
            if results is None:
                self.say(f"{name:<15} no results yet (tools/kata test {name} "
                         f"runs it)")
                continue
            in_progress = any(r.passed for r in results.rows) and \
                not results.all_done
            self.stage_table(name, results, shown,
                             full=len(chosen) == 1 or name == current
                             or in_progress)
            if len(chosen) == 1:
                failure = kata_results.first_failure(results, limit=6)
                if failure:
                    test, lines = failure
                    self.say(f"  first failure, {test}:")
                    for line in lines:
                        self.say(f"    {line}")
            last = [i for i in data["interviews"] if i.get("topic") == name]
            if last and (len(chosen) == 1 or name == current):
                self.say("  last interview: " + describe_interview(last[-1]))
        self.say()
        if running:
            left = running["started"] + running["minutes"] * 60 - self.now()
            self.say(f"An interview of {running['topic']} is running (started "
                     f"{when(running['started'], self.now())}, "
                     f"{clock(max(0, left))} left): its hints are off.")
        if current is None:
            self.say("Every kata you asked about passes: docs/README.md "
                     "prepares the interview, and tools/drill asks its "
                     "questions." if len(chosen) > 1 else
                     f"{chosen[0]}: all {len(found[chosen[0]].rows)} stages "
                     f"pass.")
            return 0
        self.wrapped(self.next_step(current, found[current]))
        return 0

    # ------------------------------------------------------------ hint

    def hint(self, topic, function=None, level=None, lang="en"):
        topic = self.topic(topic)
        words = WORDS[lang]
        running = self.running_interview()
        if running and running.get("topic") == topic:
            raise Failure(f"hints are off during the interview of {topic} "
                          f"(started {when(running['started'], self.now())});"
                          f" they come back when it ends.")
        parsed = hints.load(topic, self.root)
        if parsed is None:
            raise Failure(f"{topic} has no hints file yet "
                          f"({hints.hints_path(topic)}); the \"Hints\" lists "
                          f"of exercises/{topic}/README.md help meanwhile.")
        reason = []
        if function is not None:
            chosen, why = parsed.find(function)
            if chosen is None:
                names = ", ".join(f.name for f in parsed.functions)
                raise Failure(f"\"{function}\" {why}; the functions of "
                              f"{topic} are {names}.", 2)
        else:
            chosen, reason = self.function_for_first_failure(topic, parsed,
                                                             words)
            if chosen is None:
                self.say(reason[0])
                return 0
        with self.state.edit() as data:
            shown = data["hints"].setdefault(topic, {})
            before = shown.get(chosen.name, 0)
            number = level if level is not None else min(before + 1, 3)
            shown[chosen.name] = max(before, number)
        self.show_hint(parsed, chosen, number, lang, reason,
                       named=function is not None)
        return 0

    def function_for_first_failure(self, topic, parsed, words):
        """(Function, [sentences saying why]) for the first unfinished stage,
        or (None, [sentence]) when every stage passes."""
        results = self.results(topic)
        stages = kata_results.stages(topic, self.root)
        if results is None:
            row = None
            stage = stages[0] if stages else None
            why = [words["assumed"].format(
                title=stage.title if stage else "Stage 1", topic=topic)]
        else:
            row = results.next_row
            if row is None:
                return None, [f"{topic}: every stage passes, so no hint is "
                              f"needed; name a function to read its hints "
                              f"anyway (tools/kata hint {topic} "
                              f"{parsed.functions[0].name})."]
            stage = row.stage
        number = stage.number if stage else 1
        candidates = parsed.for_stage(number)
        failing = []
        if row is not None:
            for name in results.unfinished_functions(row):
                found, _ = parsed.find(name)
                if found and found not in failing:
                    failing.append(found)
        if not candidates and not failing:
            names = ", ".join(f.name for f in parsed.functions)
            raise Failure(f"{hints.hints_path(topic)} names no function for "
                          f"{stage.title if stage else 'Stage 1'}; ask for "
                          f"one by name (tools/kata hint {topic} <function>): "
                          f"{names}.")
        shown = self.state.load()["hints"].get(topic, {})
        chosen = (failing[0] if failing else
                  next((f for f in candidates if shown.get(f.name, 0) < 3),
                       candidates[0]))
        if row is not None:
            why = [words["why"].format(
                title=stage.title, passed=row.passed, total=row.total,
                functions=", ".join(f.name for f in candidates or failing))]
        others = [f.name for f in candidates if f is not chosen]
        if others:
            why.append(words["others"].format(names=", ".join(others),
                                              topic=topic))
        return chosen, why

    def show_hint(self, parsed, function, number, lang, reason, named):
        words = WORDS[lang]
        level = function.levels.get(number)
        if level is None:
            raise Failure(f"{parsed.path} has no level {number} for "
                          f"{function.name}.")
        stages = ", ".join(f"Stage {n}" for n in function.stages)
        self.say(words["header"].format(
            topic=parsed.topic, function=function.name, stages=stages,
            level=number, name=hints.LEVEL_NAMES[lang][number]))
        for sentence in reason:
            self.wrapped(sentence)
        self.say()
        text = level.text(lang) or level.text("ko" if lang == "en" else "en")
        for paragraph in text:
            self.paragraph(paragraph, parsed.path)
            self.say()
        if number < 3:
            self.wrapped(words["deeper"].format(
                topic=parsed.topic, level=number + 1,
                named=f" {function.name}" if named else "",
                name=hints.LEVEL_NAMES[lang][number + 1]))
        else:
            stage = next((s for s in kata_results.stages(parsed.topic, self.root)
                          if s.number == function.stages[0]), None)
            self.wrapped(words["last"].format(
                function=function.name,
                where=stage.where if stage else
                f"exercises/{parsed.topic}/README.md"))
        self.say(words["web"].format(path=parsed.path, anchor=level.anchor))

    # ------------------------------------------------------------ test

    def run_bazel(self, args):
        """Runs Bazel, its output passed through; returns (exit code, the
        output) or raises Failure."""
        self.say("$ " + " ".join(shlex.quote(a) for a in args))
        try:
            process = subprocess.Popen(args, cwd=self.root, text=True,
                                       errors="replace",
                                       stdout=subprocess.PIPE,
                                       stderr=subprocess.STDOUT)
        except FileNotFoundError:
            raise Failure(f"{args[0]} is not installed, so the tests cannot "
                          f"run; tools/setup.sh installs it.") from None
        seen = []
        try:
            with process.stdout:
                for line in process.stdout:
                    seen.append(line)
                    self.out.write(line)
                    self.out.flush()
            code = process.wait()
        except KeyboardInterrupt:
            process.wait()
            raise Failure("the test run was interrupted (Ctrl-C), so there "
                          "are no new results; the last complete ones are "
                          "in tools/kata status.", 130) from None
        return code, "".join(seen)

    def test(self, topic=None, extra=()):
        chosen = [self.topic(topic)] if topic else self.topics()
        targets = [f"//exercises/{t}/..." for t in chosen]
        code, output = self.run_bazel(
            [self.bazel, "test", "--keep_going", "--test_output=summary",
             *extra, "--", *targets])
        broken = set(re.findall(r"^//exercises/(\w+):\S+\s+(?:FAILED TO BUILD"
                                r"|NO STATUS)", output, re.M))
        if code not in (0, 3) and not broken:
            raise Failure(f"bazel test ended with exit code {code} before the "
                          f"tests ran; its messages are above.")
        self.say()
        data = self.state.load()
        all_done = True
        for name in chosen:
            if name in broken:
                all_done = False
                self.say(f"{name:<15} did not build: the compiler's messages "
                         f"are above (fix them, then tools/kata test {name})")
                continue
            results = self.results(name)
            if results is None:
                all_done = False
                self.say(f"{name:<15} no results (bazel wrote no test report)")
                continue
            self.stage_table(name, results, data["hints"].get(name, {}))
            all_done &= results.all_done
            failure = kata_results.first_failure(results, limit=8)
            if failure and len(chosen) == 1:
                test, lines = failure
                self.say(f"  first failure, {test}:")
                for line in lines:
                    self.say(f"    {line}")
            closing = kata_results.closing_line(
                kata_results.testlogs_folder(self.root, topic=name))
            # The binary's own "Next: ..." would repeat the sentence
            # next_step() prints below; its "all N stages pass" line stays.
            if closing and (results.all_done or len(chosen) > 1):
                self.say(f"  {closing}")
            log = os.path.join("bazel-testlogs", "exercises", name,
                               f"{name}_test", "test.log")
            if not results.all_done:
                self.say(f"  full log: {log}")
        if len(chosen) == 1 and chosen[0] not in broken:
            step = self.next_step(chosen[0], self.results(chosen[0]))
            if step:
                self.say()
                self.wrapped(step)
        if broken:
            raise Failure(f"{', '.join(sorted(broken))} did not build; the "
                          f"compiler's messages are above.")
        return 0 if all_done else 1

    def compare(self, topic, test):
        """Runs one test against your code and against the reference
        solution, both with the timeline on, and prints where your
        processes first did something the reference's did not."""
        name = self.topic(topic)
        blocks = {}
        for side in ("exercises", "solutions"):
            code, _ = self.run_bazel(
                [self.bazel, "test", "--test_output=summary",
                 f"--test_filter={test}", "--test_env=KATA_TRACE=1",
                 f"//{side}/{name}:{name}_test"])
            path = os.path.join(self.root, "bazel-testlogs", side, name,
                                f"{name}_test", "test.log")
            try:
                with open(path, errors="replace") as f:
                    log = f.read()
            except OSError:
                log = ""
            if f"[ RUN      ] {test}\n" not in log:
                raise Failure(f"{test} did not run in //{side}/{name}:"
                              f"{name}_test (exit code {code}): give one "
                              "test's full name, Suite.Test, as the stage "
                              "table or the failure shows it.")
            blocks[side] = timeline_compare.cut_timeline(log)
            if not blocks[side]:
                raise Failure(f"{test} printed no timeline in //{side}/"
                              f"{name}:{name}_test; its log is {path}.")
        self.say()
        self.out.write(timeline_compare.render(blocks["solutions"],
                                               blocks["exercises"]))
        return 0

    # ------------------------------------------------------------ watch

    def watch(self, topic):
        topic = self.topic(topic)
        ibazel = shutil.which(self.ibazel)
        if ibazel is None:
            raise Failure(f"ibazel is not installed, so there is no watch "
                          f"mode; tools/setup.sh installs it from npm, and "
                          f"tools/kata test {topic} runs the tests once "
                          f"meanwhile.")
        ibazel = native_ibazel(ibazel)
        after = " ".join(shlex.quote(part) for part in
                         (sys.executable, KATA, "status", topic))
        args = [ibazel, "-run_output=false", "-log_to_file=/dev/null",
                f"-run_command_after={after}", "test",
                f"//exercises/{topic}/..."]
        self.say(f"Watching exercises/{topic}: every save runs its tests and "
                 f"prints the stage table. Ctrl-C stops.")
        self.say("$ " + " ".join(shlex.quote(a) for a in args))
        try:
            return subprocess.call(args, cwd=self.root)
        except KeyboardInterrupt:
            self.say("Watch mode stopped.")
            return 0

    # ------------------------------------------------------------ reset

    def ask(self, question):
        """The learner's answer, lower-cased ("" at end of input)."""
        self.out.write(question)
        self.out.flush()
        line = self.stdin.readline()
        return line.strip().lower()

    def reset(self, topic, yes=False, forget_hints=False):
        topic = self.topic(topic)
        try:
            blank = kata_stub.stubs(self.root, topic)
        except kata_stub.StubError as error:
            raise Failure(str(error) + ".") from None
        dirty = kata_stub.changed(self.root, blank)
        missing = [p for p in blank
                   if not os.path.exists(os.path.join(self.root, p))]
        if forget_hints:
            with self.state.edit() as data:
                data["hints"].pop(topic, None)
        if not dirty and not missing:
            self.say(f"{', '.join(blank)} already "
                     f"{'is' if len(blank) == 1 else 'are'} the blank stub: "
                     f"nothing to reset." +
                     (f" The hints of {topic} start again at level 1."
                      if forget_hints else ""))
            return 0
        names = ", ".join(dirty) or ", ".join(missing)
        if dirty and not yes:
            interactive = getattr(self.stdin, "isatty", lambda: False)()
            if not interactive:
                raise Failure(f"{names} holds your changes and there is no "
                              f"terminal to confirm on, so nothing was "
                              f"changed; run tools/kata reset {topic} --yes "
                              f"to reset it (your version is backed up "
                              f"first).")
            try:
                answer = self.ask(f"Reset {names} to the blank stub? Your "
                                  f"version is copied to {BACKUPS}/ first. "
                                  f"[y/N] ")
            except KeyboardInterrupt:
                self.say()
                raise Failure("nothing was changed (Ctrl-C).", 130) from None
            if answer not in ("y", "yes"):
                raise Failure(f"nothing was changed: {names} keeps your "
                              f"version.")
        saved = None
        if dirty:
            try:
                saved = kata_stub.backup(self.root,
                                         os.path.join(self.root, BACKUPS),
                                         topic, dirty)
            except kata_stub.StubError as error:
                raise Failure(str(error) + ".") from None
        kata_stub.write(self.root, {p: blank[p] for p in dirty + missing})
        kept = (f"; your version is in {self.relative(saved)}/"
                if saved else "")
        self.say(f"{names} {'is' if len(dirty + missing) == 1 else 'are'} "
                 f"the blank stub again{kept}.")
        return 0


def describe_interview(entry):
    """One line about a finished interview."""
    started = time.strftime("%b %-d %H:%M", time.localtime(entry["started"]))
    if entry.get("stages_total"):
        outcome = (f"{entry.get('stages_done', 0)}/{entry['stages_total']} "
                   f"stages")
    else:
        outcome = "did not build" if entry.get("built") is False else "no result"
    return (f"{started}, {outcome} in {clock(entry.get('seconds', 0))} of "
            f"{clock(entry.get('minutes', 0) * 60)} "
            f"({entry.get('ended', '?')})")


# ---------------------------------------------------------------- main


def parser():
    top = argparse.ArgumentParser(
        prog="tools/kata", description=__doc__.split("\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="\n".join(__doc__.split("\n")[2:-2]))
    commands = top.add_subparsers(dest="command", metavar="COMMAND")

    def command(name, summary, details):
        return commands.add_parser(
            name, help=summary, description=f"{summary}\n\n{details}",
            formatter_class=argparse.RawDescriptionHelpFormatter)

    status = command(
        "status", "your progress from the latest test results",
        "Reads bazel-testlogs/exercises/<topic>/<topic>_test/test.xml (no "
        "rebuild) and prints\neach topic's stages, what to do next and the "
        "hints you used. With a topic:\nthat topic in full, with its first "
        "failure.")
    status.add_argument("topic", nargs="?", help="one topic, in full")

    hint = command(
        "hint", "the next hint for your first failing stage",
        "Picks the function your first unfinished stage needs (or FUNCTION) "
        "and shows\nits next hint level from exercises/<topic>/hints.md: "
        "1 a nudge, 2 the idea and\nthe man pages, 3 the steps in words. "
        "Each call goes one level deeper;\n.kata/state.json remembers what "
        "you have seen. Off during an interview.")
    hint.add_argument("topic", help="the kata, e.g. pipe")
    hint.add_argument("function", nargs="?",
                      help="a function of the stub, e.g. WaitForChild")
    hint.add_argument("--level", type=int, choices=[1, 2, 3],
                      help="show this level (again) instead of the next one")
    hint.add_argument("--lang", choices=["en", "ko"], default="en",
                      help="English or Korean (한국어: --lang ko)")

    test = command(
        "test", "run the tests, then the stage table",
        "Runs bazel test //exercises/<topic>/... (every topic without one) "
        "and prints the\nstage table, the first failure and what to do "
        "next. Arguments after -- go\nto bazel, e.g. tools/kata test pipe -- "
        "--test_filter='Stage1*'.")
    test.add_argument("topic", nargs="?", help="one topic (default: all)")

    compare = command(
        "compare", "your calls beside the reference solution's, for one test",
        "Runs one test against your code and against solutions/<topic>, "
        "both with\nKATA_TRACE=1, and prints the first step where one of "
        "your processes did\nsomething the reference's did not, then each "
        "such process side by side.\nDescriptor numbers, pids and byte "
        "counts do not count; see\ntools/timeline_compare.py for the rule. "
        "Example:\n  tools/kata compare pipe "
        "Stage2OneWay.ChildReceivesTheMessage")
    compare.add_argument("topic", help="the kata, e.g. pipe")
    compare.add_argument("test", help="one test, Suite.Test")

    watch = command(
        "watch", "rerun the tests on every save",
        "Runs ibazel (installed by tools/setup.sh) on //exercises/<topic>/... "
        "and prints\nthe stage table after each run. Ctrl-C stops.")
    watch.add_argument("topic", help="the kata to watch")

    reset = command(
        "reset", "put the blank stub back",
        "Restores the topic's .cc files to the blank stub from git. Your "
        "version is\ncopied to .kata/backups/<topic>-<time>/ first, and it "
        "asks before\noverwriting unless --yes (without a terminal it "
        "refuses). If you committed\nyour work, the stub is the committed "
        "version your work started from.")
    reset.add_argument("topic", help="the kata to reset")
    reset.add_argument("--yes", action="store_true",
                       help="do not ask (your version is still backed up)")
    reset.add_argument("--forget-hints", action="store_true",
                       help="also start this topic's hints at level 1 again")

    interview = command(
        "interview", "a timed attempt from a blank stub, hints off",
        "Copies the kata into .kata/interview/<topic>/ (a Bazel package of "
        "its own, with\nthe blank stub; your exercises/ files are not "
        "touched) and starts the clock.\nEdit the copy, press Enter to run "
        "its tests, q to finish; at the end the\nstage table and the time "
        "taken go into the history (tools/kata status), and\nthe attempt is "
        "kept in .kata/interviews/. Ctrl-C ends it and still records it.")
    interview.add_argument("topic", help="the kata to attempt")
    interview.add_argument("--minutes", type=float, default=45,
                           help="time allowed (default 45)")

    completion = command(
        "completion", "bash completion for tools/kata",
        "Prints a bash completion script: commands, topics and the functions "
        "of a topic's\nhints complete with Tab. Load it in this shell, or "
        "add the line to ~/.bashrc:\n\n  source <(tools/kata completion)")
    completion.add_argument("shell", nargs="?", choices=["bash"],
                            default="bash", help="only bash so far")
    return top


# What Tab offers after each command: its options, and whether a topic
# follows.
COMMAND_OPTIONS = {
    "status": [], "test": [], "watch": [], "compare": [],
    "hint": ["--level", "--lang"],
    "reset": ["--yes", "--forget-hints"], "interview": ["--minutes"],
    "completion": [],
}

BASH_COMPLETION = """\
# bash completion for tools/kata (from: tools/kata completion)
_tools_kata() {
  local words
  words=$("${COMP_WORDS[0]}" __complete "${COMP_WORDS[@]:1:COMP_CWORD-1}" \\
          2>/dev/null) || return
  COMPREPLY=($(compgen -W "$words" -- "${COMP_WORDS[COMP_CWORD]}"))
}
complete -F _tools_kata tools/kata ./tools/kata kata
"""


def completions(kata, words):
    """The words Tab may offer after `words` (the command line so far,
    without the program and the word being typed)."""
    commands = list(COMMAND_OPTIONS)
    if not words:
        return commands + ["--help"]
    command, rest = words[0], words[1:]
    if command not in COMMAND_OPTIONS:
        return []
    if rest and rest[-1] == "--lang":
        return ["en", "ko"]
    if rest and rest[-1] == "--level":
        return ["1", "2", "3"]
    positional = [w for i, w in enumerate(rest) if not w.startswith("-") and
                  (i == 0 or rest[i - 1] not in ("--lang", "--level",
                                                 "--minutes"))]
    offered = COMMAND_OPTIONS[command] + ["--help"]
    if command == "completion":
        return ["bash"] if not positional else []
    if not positional:
        return kata.topics() + offered
    if command == "hint" and len(positional) == 1:
        parsed = hints.load(positional[0], kata.root)
        if parsed is not None:
            names = [f.name for f in parsed.functions]
            short = [n.split("::")[-1] for n in names]
            return sorted(set(names + [n for n in short
                                       if short.count(n) == 1])) + offered
    return offered


def main(argv=None, kata=None):
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["__complete"]:  # called by the bash completion script
        print("\n".join(completions(kata or Kata(), argv[1:])))
        return 0
    extra = []  # after "--": passed on to bazel test
    if "--" in argv:
        cut = argv.index("--")
        argv, extra = argv[:cut], argv[cut + 1:]
    options = parser().parse_args(argv)
    kata = kata or Kata()
    try:
        if options.command in (None, "status"):
            return kata.status(getattr(options, "topic", None))
        if options.command == "hint":
            return kata.hint(options.topic, options.function, options.level,
                             options.lang)
        if options.command == "test":
            return kata.test(options.topic, extra)
        if options.command == "watch":
            return kata.watch(options.topic)
        if options.command == "compare":
            return kata.compare(options.topic, options.test)
        if options.command == "reset":
            return kata.reset(options.topic, options.yes, options.forget_hints)
        if options.command == "completion":
            kata.out.write(BASH_COMPLETION)
            return 0
        if options.command == "interview":
            import kata_interview  # noqa: E402
            if options.minutes <= 0:
                raise Failure("--minutes must be more than 0.", 2)
            return kata_interview.run(kata, kata.topic(options.topic),
                                      options.minutes)
    except Failure as failure:
        kata.note(f"tools/kata: {failure}")
        return failure.code
    except KeyboardInterrupt:
        kata.note("tools/kata: stopped (Ctrl-C).")
        return 130
    return 0
