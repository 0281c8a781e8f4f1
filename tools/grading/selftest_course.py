"""The grader's self-test, third part: running a real course on it.

What tools/grading/selftest.py checks for an instructor's use: points that
add up exactly and scale per assignment, names kept as written and a roster
joined into grades.csv, feedback a student reads (an unstarted topic is one
line, an assertion keeps its values, no "unknown file"), a Classroom result
small and exact at any score, the Gradescope bundle run in a local copy of
Gradescope's layout (/autograder replaced by a folder), and the student
release (tools/release --check).
"""

import base64
import csv
import json
import os
import shutil
import subprocess
import zipfile

from grading import gradescope_schema
from grading import points as points_lib
from grading import reports

KOREAN = "김민지"
EMAIL_NAME = "alice@uni.edu"


def roster_file(folder):
    """The roster the main class run is graded with (--roster)."""
    path = os.path.join(folder, "roster.csv")
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["folder", "id", "email", "name"])
        writer.writerow([KOREAN, "2024-0001", "minji@uni.edu", KOREAN])
        writer.writerow([EMAIL_NAME, "2024-0002", "alice@uni.edu", "Alice"])
        writer.writerow(["reference", "2024-0003", "ref@uni.edu", "Ref"])
        writer.writerow(["absent_student", "2024-0004", "gone@uni.edu", "X"])
    return path


def check_points(checks, manifest_path, expected):
    """Exact sums per topic, and "scale topic T to N points"."""
    manifest = points_lib.load(manifest_path)
    wrong = []
    for topic, cases in expected.items():
        worth, _ = points_lib.points_for(manifest, topic, cases)
        total = manifest["topics"].get(topic, {}).get(
            "points", manifest.get("default_topic_points"))
        if points_lib.total(worth) != float(total) or any(
                round(v * 100) != v * 100 for v in worth.values()):
            wrong.append(topic)
    scaled = points_lib.load(manifest_path, {"pipe": 20})
    pipe, _ = points_lib.points_for(scaled, "pipe", expected["pipe"])
    seven = points_lib.split(1500, [1] * 7)
    totals = ", ".join(
        f"{t} {points_lib.total(points_lib.points_for(manifest, t, c)[0]):g}"
        for t, c in expected.items())
    checks.report(not wrong and points_lib.total(pipe) == 20.0 and
                  seven == [214] * 5 + [215] * 2, "points",
                  f"every topic's cases add up exactly ({totals}); pipe "
                  "scaled to 20 sums to 20; 15 points over 7 cases are "
                  "5 x 2.14 + 2 x 2.15" if not wrong else f"wrong sums: {wrong}")


def check_names_and_roster(checks, out, data):
    by_name = {s["student"]: s for s in data["students"]}
    with open(os.path.join(out, "grades.csv"), newline="",
              encoding="utf-8") as f:
        rows = list(csv.reader(f))
    header, body = rows[0], {row[0]: row for row in rows[1:]}
    korean = body.get(KOREAN, [])
    email = body.get(EMAIL_NAME, [])
    absent = body.get("absent_student", [])
    checks.report(KOREAN in by_name and EMAIL_NAME in by_name and
                  korean[1:3] == ["2024-0001", "minji@uni.edu"] and
                  email[1:3] == ["2024-0002", "alice@uni.edu"] and
                  absent[-1:] == ["no submission"] and
                  any(h.startswith("pipe (max ") for h in header) and
                  header[-2].startswith("total (max "), "names and roster",
                  f"grades.csv keeps {KOREAN} and {EMAIL_NAME} as written, "
                  "adds their id and e-mail from --roster, lists the absent "
                  f"student; header: {', '.join(header[:5])} ...")


def check_feedback(checks, out, data):
    by_name = {s["student"]: s for s in data["students"]}
    stub = by_name["stub"]
    with open(os.path.join(out, "students", f"{stub['report']}.md"),
              encoding="utf-8") as f:
        page = f.read()
    started = [line for line in page.splitlines()
               if "not started: all" in line]
    child = by_name["child_returns"]
    with open(os.path.join(out, "students", f"{child['report']}.md"),
              encoding="utf-8") as f:
        child_page = f.read()
    unknown = []
    for s in data["students"]:
        path = os.path.join(out, "students", s["report"], "results.json")
        with open(path, encoding="utf-8") as f:
            for test in json.load(f).get("tests", []):
                if test.get("output", "").startswith("unknown file"):
                    unknown.append(s["student"])
                    break
    checks.report(len(started) == len(stub["topics"]) and
                  len(page.splitlines()) < 40 and
                  "Which is: 86" in child_page and not unknown, "feedback",
                  f"the stub's page: {len(page.splitlines())} lines, one per "
                  "topic (\"not started\"); an assertion keeps its expected "
                  "and actual values; no Gradescope output starts with "
                  "\"unknown file\"" if not unknown else
                  f"\"unknown file\" first in {unknown[:3]}")


def check_classroom(checks, data, topics):
    """The reporter's input for every student of the class: small, exact."""
    largest, noisy = 0, []
    for s in data["students"]:
        line = reports.classroom_output_line(s, topics)
        largest = max(largest, len(line))
        decoded = json.loads(base64.b64decode(line.split("=", 1)[1]))
        total = 0  # as the reporter adds them (JavaScript doubles)
        for test in decoded["tests"]:
            total += test["score"]
        if repr(float(total)) != repr(float(round(s["score"], 2))) or \
                len(repr(float(total))) > 12:
            noisy.append((s["student"], total))
    zero = next(s for s in data["students"] if s["student"] == "stub")
    partial = next(s for s in data["students"]
                   if 0 < s["score"] < s["max"])
    checks.report(largest < 64 << 10 and not noisy, "classroom result",
                  f"largest result={largest / 1024:.1f} KiB over "
                  f"{len(data['students'])} students (zero score: "
                  f"{zero['student']}, partial: {partial['student']} "
                  f"{partial['score']:g}/{partial['max']:g}); every total "
                  "adds up without float noise" if not noisy else
                  f"noisy totals: {noisy[:3]}")


def check_gradescope(checks, root, base, cache, submission, expected_score):
    """The bundle for a pipe-only assignment, run in a local copy of
    Gradescope's layout: setup.sh, then run_autograder."""
    fake = os.path.join(base, "gradescope")
    shutil.rmtree(fake, ignore_errors=True)
    os.makedirs(os.path.join(fake, "source"))
    os.chmod(fake, 0o755)
    bundle = os.path.join(base, "autograder-pipe.zip")
    made = subprocess.run([os.path.join(root, "tools", "grade"),
                           "--gradescope-bundle", bundle, "--topics", "pipe"],
                          capture_output=True, text=True)
    with zipfile.ZipFile(bundle) as archive:
        archive.extractall(os.path.join(fake, "source"))
        for info in archive.infolist():
            mode = info.external_attr >> 16
            if mode:
                os.chmod(os.path.join(fake, "source", info.filename),
                         mode & 0o777)
    for name in ("setup.sh", "run_autograder"):
        os.chmod(os.path.join(fake, "source", name), 0o755)
    env = dict(os.environ, AUTOGRADER_ROOT=fake, GRADE_CACHE=cache)
    setup = subprocess.run(["bash", os.path.join(fake, "source",
                                                 "setup.sh")],
                           capture_output=True, text=True, env=env)
    learner_tools = [w for w in ("npm", "mermaid", "buildifier", "ibazel")
                     if w in setup.stdout + setup.stderr]
    checks.report(made.returncode == 0 and setup.returncode == 0 and
                  not learner_tools, "gradescope setup",
                  "setup.sh in a copy of Gradescope's layout: grading "
                  "packages only, reference built for pipe" if
                  setup.returncode == 0 and not learner_tools else
                  f"exit {setup.returncode}, learner tooling "
                  f"{learner_tools}: {(setup.stdout + setup.stderr)[-600:]}")
    if setup.returncode != 0:
        return
    shutil.copytree(submission, os.path.join(fake, "submission"))
    with open(os.path.join(fake, "submission_metadata.json"), "w") as f:
        json.dump({"users": [{"name": KOREAN}]}, f)
    results = os.path.join(fake, "results", "results.json")
    ran = subprocess.run([os.path.join(fake, "source", "run_autograder")],
                         capture_output=True, text=True, env=env)
    problems = gradescope_schema.validate_file(results) \
        if os.path.exists(results) else ["no results.json"]
    data = {}
    if not problems:
        with open(results, encoding="utf-8") as f:
            data = json.load(f)
    maximum = sum(t.get("max_score", 0) for t in data.get("tests", []))
    topics = {tag for t in data.get("tests", []) for tag in t.get("tags", [])
              [:1]}
    checks.report(ran.returncode == 0 and not problems and
                  data.get("score") == expected_score and
                  round(maximum, 2) == 100 and topics == {"pipe"},
                  "gradescope run", f"run_autograder: results.json valid, "
                  f"score {data.get('score')} of {maximum:g} (pipe only; "
                  f"the class run gave {expected_score:g})" if not problems
                  else f"{problems[:2]} {ran.stdout[-400:]}")
    os.remove(results)
    env["PLATFORM_PRETEND_MISSING"] = "userns"
    subprocess.run([os.path.join(fake, "source", "run_autograder")],
                   capture_output=True, text=True, env=env)
    with open(results, encoding="utf-8") as f:
        refused = json.load(f)
    checks.report("user namespaces" in refused.get("output", "") and
                  refused.get("score") == 0 and
                  not gradescope_schema.validate(refused),
                  "gradescope check", "a platform without user namespaces "
                  "gets a results.json that says so: " +
                  refused.get("output", "")[:90].replace("\n", " "))


def check_release(checks, root, base, cache):
    folder = os.path.join(base, "release")
    shutil.rmtree(folder, ignore_errors=True)
    done = subprocess.run([os.path.join(root, "tools", "release"), folder,
                           "--check", "--disk-cache", cache],
                          capture_output=True, text=True)
    subprocess.run(["bazel", "shutdown"], cwd=folder, capture_output=True)
    lines = [line for line in done.stdout.splitlines()
             if line.startswith("release:")]
    checks.report(done.returncode == 0, "student release",
                  "; ".join(line[len("release: "):] for line in lines)[:300]
                  if lines else done.stderr[-400:])
