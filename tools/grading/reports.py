"""Reports: terminal table, class Markdown/CSV/JSON, per-student feedback,
Gradescope results.json and the GitHub Classroom runner result."""

import base64
import csv
import json
import os
import re
import urllib.parse

HINT = re.compile(r"^\s*(hint:.*)$", re.M)


def md(text):
    """Text for a Markdown table cell or list item: nothing in it can open
    a link, code span, table cell or HTML tag."""
    return re.sub(r"([\\`*_\[\]<>|])", r"\\\1", str(text))


def fmt(number):
    return f"{number:g}" if number == int(number) else f"{number:.2f}"


def topic_cell(entry):
    if entry is None:
        return "-"
    cell = f"{fmt(entry['score'])}/{fmt(entry['max'])}"
    if entry["status"] != "graded":
        cell += f" ({entry['status']})"
    return cell


def terminal_table(results, topics):
    header = ["student"] + topics + ["total"]
    rows = [header]
    for r in results:
        row = [r["student"]]
        row += [topic_cell(r["topics"].get(t)) for t in topics]
        row.append("error" if r.get("error") else
                   f"{fmt(r['score'])}/{fmt(r['max'])}")
        rows.append(row)
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = []
    for number, row in enumerate(rows):
        lines.append("  ".join(cell.ljust(widths[i])
                               for i, cell in enumerate(row)).rstrip())
        if number == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def hints_of(message):
    return HINT.findall(message or "")


def first_line(message, default):
    """The first line that says something (not a file:line location)."""
    for line in (message or "").splitlines():
        line = line.strip()
        if line and line != "unknown file" and not re.fullmatch(
                r"\S+:\d+", line):
            return line[:300]
    return default


def failing_cases(entry):
    return [c for c in entry["cases"] if c["verdict"] != "passed"]


def student_markdown(r, topics):
    out = [f"# {md(r['student'])}", ""]
    if r.get("error"):
        out += [f"**Not graded:** {r['error']}", ""]
    out.append(f"Total: **{fmt(r['score'])} / {fmt(r['max'])}**")
    out.append("")
    out.append("| topic | score | passed | status |")
    out.append("|---|---|---|---|")
    for t in topics:
        e = r["topics"].get(t)
        if e:
            out.append(f"| {t} | {fmt(e['score'])}/{fmt(e['max'])} | "
                       f"{e['passed']}/{e['total']} | {e['status']} |")
    for t in topics:
        e = r["topics"].get(t)
        if not e:
            continue
        failing = failing_cases(e)
        if e["build_log"]:
            out += ["", f"## {t}: the exercise did not build", "", "```",
                    e["build_log"], "```"]
        for note in e["notes"]:
            out += ["", f"> {t}: {note}"]
        if failing and not e["build_log"]:
            out += ["", f"## {t}: failing tests", ""]
            for c in failing:
                hints = hints_of(c["message"])
                out.append(f"- `{c['name']}` ({c['verdict']}): "
                           f"{first_line(c['message'], c['verdict'])}")
                for hint in hints[:1]:
                    out.append(f"  - {hint.strip()}")
    if r.get("warnings"):
        out += ["", "## Code worth a look", "",
                "Lines that touch the test machinery or the process itself. "
                "They cost no points; your instructor reads them.", ""]
        out += [f"- {md(w)}" for w in r["warnings"][:40]]
        if len(r["warnings"]) > 40:
            out.append(f"- ... and {len(r['warnings']) - 40} more")
    if r.get("skipped"):
        out += ["", "## Left out while unpacking", ""]
        out += [f"- {md(p)}: {md(why)}" for p, why in r["skipped"][:40]]
        if len(r["skipped"]) > 40:
            out.append(f"- ... and {len(r['skipped']) - 40} more")
    if r.get("ignored"):
        out += ["", "## Files ignored (only the exercise sources count)", ""]
        out += [f"- {md(p)}: {md(why)}" for p, why in r["ignored"][:40]]
        if len(r["ignored"]) > 40:
            out.append(f"- ... and {len(r['ignored']) - 40} more")
    if r.get("missing"):
        out += ["", "Not in the submission (the course's stub was used): " +
                ", ".join(md(m) for m in r["missing"])]
    return "\n".join(out) + "\n"


def class_markdown(results, topics, summary):
    out = ["# Grades", "", summary, "",
           "| student | " + " | ".join(topics) + " | total | notes |",
           "|---|" + "---|" * (len(topics) + 2)]
    for r in results:
        notes = []
        if r.get("error"):
            notes.append(r["error"])
        if r.get("report_error"):
            notes.append(f"its report could not be written: "
                         f"{r['report_error']}")
        if r.get("warnings"):
            notes.append(f"**worth a look**: {len(r['warnings'])} line(s) of "
                         "code")
        if r.get("skipped"):
            notes.append(f"{len(r['skipped'])} file(s) skipped while "
                         "unpacking")
        if r.get("ignored"):
            notes.append(f"{len(r['ignored'])} files ignored")
        for t in topics:
            e = r["topics"].get(t)
            if e and e["status"] != "graded":
                notes.append(f"{t}: {e['status']}")
        link = urllib.parse.quote(f"students/{r.get('report', r['student'])}"
                                  ".md")
        out.append(f"| [{md(r['student'])}]({link}) | " +
                   " | ".join(topic_cell(r["topics"].get(t))
                              for t in topics) +
                   f" | {fmt(r['score'])}/{fmt(r['max'])} | "
                   f"{md('; '.join(notes))} |")
    return "\n".join(out) + "\n"


def write_csv(path, results, topics):
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW,
                 0o600)
    with os.fdopen(fd, "w", newline="", encoding="utf-8",
                   errors="backslashreplace") as f:
        writer = csv.writer(f)
        writer.writerow(["student"] + topics + ["total", "max", "status"])
        for r in results:
            status = r.get("error") or ";".join(
                f"{t}:{e['status']}" for t, e in r["topics"].items()
                if e["status"] != "graded") or "graded"
            writer.writerow([r["student"]] +
                            [fmt(r["topics"][t]["score"]) if t in r["topics"]
                             else "" for t in topics] +
                            [fmt(r["score"]), fmt(r["max"]), status])


def gradescope_results(r, topics):
    """Gradescope's results.json for one student (documented fields only)."""
    tests = []
    for t_index, t in enumerate(topics, start=1):
        e = r["topics"].get(t)
        if not e:
            continue
        if e["build_log"]:
            tests.append({"name": f"{t}: build", "status": "failed",
                          "number": f"{t_index}.0",
                          "output": e["build_log"], "visibility": "visible"})
        for c_index, c in enumerate(e["cases"], start=1):
            test = {"name": f"{t}: {c['name']}", "number":
                    f"{t_index}.{c_index}", "score": c["points"],
                    "max_score": c["max"], "status": "passed"
                    if c["verdict"] == "passed" else "failed",
                    "tags": [t, c["name"].split(".")[0]],
                    "visibility": "visible"}
            if c["verdict"] != "passed":
                test["output"] = (c["message"] or c["verdict"])[:6000]
            tests.append(test)
    summary = (f"{fmt(r['score'])} / {fmt(r['max'])} points.")
    if r.get("error"):
        summary = f"Not graded: {r['error']}"
    if r.get("ignored"):
        summary += (f"\n{len(r['ignored'])} files of the submission were "
                    "ignored: only the exercise sources count.")
    return {"score": r["score"], "execution_time": int(r.get("seconds", 0)),
            "output": summary, "output_format": "text",
            "test_output_format": "text", "stdout_visibility": "hidden",
            "visibility": "visible", "tests": tests,
            "extra_data": {"student": r["student"],
                           "warnings": r.get("warnings", [])[:40]}}


def classroom_result(r, topics):
    """The runner result GitHub Classroom's grading reporter reads."""
    tests = []
    for t in topics:
        e = r["topics"].get(t)
        if not e:
            continue
        # The reporter adds the tests' scores: round each to cents and put
        # the rounding difference on one passing case, so they add up exactly.
        shares = [round(c["points"], 2) for c in e["cases"]]
        passing = [i for i, c in enumerate(e["cases"])
                   if c["verdict"] == "passed"]
        if passing:
            shares[passing[0]] = round(shares[passing[0]] + round(
                e["score"], 2) - sum(shares), 2)
        for c, share in zip(e["cases"], shares):
            tests.append({"name": f"{t}: {c['name']}",
                          "status": "pass" if c["verdict"] == "passed"
                          else "fail", "score": share,
                          "message": (c["message"] or "")[:1000],
                          "test_code": f"tools/grade ({t})", "filename": "",
                          "line_no": 0, "duration": 0})
    status = "error" if r.get("error") else (
        "pass" if tests and all(t["status"] == "pass" for t in tests)
        else "fail")
    return {"version": 1, "status": status, "max_score": round(r["max"], 2),
            "tests": tests}


def jsonable(value):
    """`value` with every string printable and every unknown object turned
    into text (or "<unprintable>"), so json.dumps never fails on it."""
    if isinstance(value, dict):
        return {str(jsonable(k)): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, str):
        try:
            value.encode("utf-8")
            return value
        except UnicodeError:
            return value.encode("utf-8", "backslashreplace").decode()
    if value is None or isinstance(value, (bool, int, float)):
        return value
    try:
        return jsonable(str(value))
    except Exception:
        return "<unprintable>"


def report_keys(results):
    """A file name per student: the name as written, made safe for a path
    (no slash, no control character, no leading dot), unique."""
    keys = {}
    used = set()
    for r in results:
        key = re.sub(r"[\x00-\x1f\x7f/\\]", "_", r["student"]).strip(" .")
        key = key[:100] or "unnamed"
        while key in used:
            key += "_"
        used.add(key)
        keys[id(r)] = key
    return keys


def private_file(path, text):
    """Writes a report only its owner (the instructor) can read."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW,
                 0o600)
    os.fchmod(fd, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8", errors="backslashreplace") as f:
        f.write(text)


def write_all(out, results, topics, summary, timings, extra=None):
    """Every report. A failure while writing one student's files is recorded
    for that student (report_error) and every other report is still
    written."""
    students = os.path.join(out, "students")
    os.makedirs(students, exist_ok=True)
    os.chmod(students, 0o700)
    keys = report_keys(results)
    for r in results:
        r["report"] = keys[id(r)]
        try:
            private_file(os.path.join(students, f"{r['report']}.md"),
                         student_markdown(r, topics))
            folder = os.path.join(students, r["report"])
            os.makedirs(folder, exist_ok=True)
            os.chmod(folder, 0o700)
            private_file(os.path.join(folder, "results.json"),
                         json.dumps(jsonable(gradescope_results(r, topics)),
                                    indent=1, ensure_ascii=False))
        except Exception as error:  # one student's report never stops all
            r["report_error"] = f"{type(error).__name__}: {error}"
    for name, write in (
            ("grades.md", lambda p: private_file(
                p, class_markdown(results, topics, summary))),
            ("grades.csv", lambda p: write_csv(p, results, topics,
                                               **(extra or {}))),
            ("grades.json", lambda p: private_file(p, json.dumps(
                jsonable({"topics": topics, "timings": timings,
                          "students": results}),
                indent=1, ensure_ascii=False)))):
        try:
            write(os.path.join(out, name))
        except Exception as error:
            print(f"grade: could not write {name}: {error}")


def classroom_output_line(r, topics):
    encoded = base64.b64encode(json.dumps(classroom_result(r, topics))
                               .encode()).decode()
    return f"result={encoded}\n"
