"""Reports: terminal table, class Markdown/CSV/JSON, per-student feedback,
Gradescope results.json and the GitHub Classroom runner result."""

import base64
import csv
import json
import os
import re
import urllib.parse

from grading import feedback as fb

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


def failing_cases(entry):
    return [c for c in entry["cases"] if c["verdict"] != "passed"]


def topic_feedback(t, e):
    """The student's section for one topic (Markdown lines)."""
    out = []
    summary = fb.topic_summary(t, e)
    if summary:
        return ["", f"## {t}", "", md(summary)]
    failing = failing_cases(e)
    if e["build_log"]:
        out += ["", f"## {t}: the exercise did not build", "", "```",
                e["build_log"], "```"]
    for note in e["notes"]:
        out += ["", f"> {t}: {md(note)}"]
    if failing and not e["build_log"]:
        out += ["", f"## {t}: failing tests", ""]
        groups, others = fb.unfinished_groups(failing)
        for (function, path, stage), names in sorted(
                groups.items(), key=lambda item: int(item[0][2])):
            out.append(f"- {function} (stage {stage}, {md(path)}): not "
                       f"implemented yet, {len(names)} case(s)")
        for c in others:
            out.append(f"- `{c['name']}` ({c['verdict']}):")
            out += ["", "  ```"] + [
                "  " + line for line in fb.feedback(c["message"])
                .replace("```", "'''").splitlines()] + ["  ```", ""]
    return out


def student_markdown(r, topics):
    out = [f"# {md(r['student'])}", ""]
    if r.get("error"):
        out += [f"**Not graded:** {md(r['error'])}", ""]
    out.append(f"Total: **{fmt(r['score'])} / {fmt(r['max'])}**")
    out.append("")
    out.append("| topic | score | passed | status |")
    out.append("|---|---|---|---|")
    for t in topics:
        e = r["topics"].get(t)
        if e:
            status = "not started" if fb.not_started(e) else e["status"]
            out.append(f"| {t} | {fmt(e['score'])}/{fmt(e['max'])} | "
                       f"{e['passed']}/{e['total']} | {status} |")
    for t in topics:
        e = r["topics"].get(t)
        if e:
            out += topic_feedback(t, e)
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
    maxima = topic_maxima(results, topics)
    out = ["# Grades", "", summary, "",
           "| student | " + " | ".join(
               f"{t} (max {fmt(maxima.get(t, 0))})" for t in topics) +
           f" | total (max {fmt(sum(maxima.values()))}) | notes |",
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
            elif e and fb.not_started(e):
                notes.append(f"{t}: not started")
        link = urllib.parse.quote(f"students/{r.get('report', r['student'])}"
                                  ".md")
        out.append(f"| [{md(r['student'])}]({link}) | " +
                   " | ".join(topic_cell(r["topics"].get(t))
                              for t in topics) +
                   f" | {fmt(r['score'])}/{fmt(r['max'])} | "
                   f"{md('; '.join(notes))} |")
    return "\n".join(out) + "\n"


def topic_maxima(results, topics):
    """{topic: its maximum} from the graded results."""
    maxima = {}
    for r in results:
        for t in topics:
            e = r["topics"].get(t)
            if e and t not in maxima:
                maxima[t] = e["max"]
    return maxima


def read_roster(path):
    """{folder name: {"id", "email", "name"}} from a roster CSV.

    The columns are found by their header: the folder (or "student",
    "login", "github" ...: whatever names the submission's entry), "id" and
    "email"; any other column is ignored. See docs/grading.md#roster.
    """
    with open(path, newline="", encoding="utf-8-sig") as f:
        rows = list(csv.reader(f))
    if not rows:
        return {}
    header = [h.strip().lower() for h in rows[0]]

    def column(*names):
        for name in names:
            if name in header:
                return header.index(name)
        return None

    folder = column("folder", "student", "submission", "login", "github",
                    "github_username", "username")
    ident = column("id", "student id", "student_id", "sis id", "number")
    email = column("email", "e-mail", "mail")
    name = column("name", "full name", "full_name")
    if folder is None:
        raise SystemExit(f"grade: {path}: no column names the submission "
                         "(call it folder)")
    roster = {}
    for row in rows[1:]:
        if len(row) <= folder or not row[folder].strip():
            continue

        def cell(index):
            return row[index].strip() if index is not None and \
                index < len(row) else ""
        roster[row[folder].strip()] = {"id": cell(ident),
                                       "email": cell(email),
                                       "name": cell(name)}
    return roster


def write_csv(path, results, topics, roster=None):
    """One row per student: id and email (from --roster), points per topic
    and the total, each column headed with its maximum. Students of the
    roster without a submission get a row too ("no submission")."""
    maxima = topic_maxima(results, topics)
    total_max = sum(maxima.values())
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW,
                 0o600)
    with os.fdopen(fd, "w", newline="", encoding="utf-8",
                   errors="backslashreplace") as f:
        writer = csv.writer(f)
        writer.writerow(["student", "id", "email"] +
                        [f"{t} (max {fmt(maxima.get(t, 0))})"
                         for t in topics] +
                        [f"total (max {fmt(total_max)})", "status"])
        seen = set()
        for r in results:
            person = (roster or {}).get(r["student"], {})
            seen.add(r["student"])
            status = r.get("error") or ";".join(
                f"{t}:{e['status']}" for t, e in r["topics"].items()
                if e["status"] != "graded") or "graded"
            if roster is not None and not person:
                status += "; not in the roster"
            writer.writerow([r["student"], person.get("id", ""),
                             person.get("email", "")] +
                            [fmt(r["topics"][t]["score"]) if t in r["topics"]
                             else "" for t in topics] +
                            [fmt(r["score"]), status])
        for folder, person in sorted((roster or {}).items()):
            if folder not in seen:
                writer.writerow([folder, person["id"], person["email"]] +
                                ["" for _ in topics] + ["", "no submission"])


def gradescope_results(r, topics):
    """Gradescope's results.json for one student (documented fields only).

    One test per case; a topic the student has not started is one test
    worth the whole topic, and a failing case's output starts with what
    failed, never with "unknown file"."""
    tests = []
    for t_index, t in enumerate(topics, start=1):
        e = r["topics"].get(t)
        if not e:
            continue
        summary = fb.topic_summary(t, e)
        if summary:
            tests.append({"name": f"{t}: not started", "number":
                          f"{t_index}.1", "score": 0.0,
                          "max_score": e["max"], "status": "failed",
                          "output": summary, "tags": [t],
                          "visibility": "visible"})
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
                test["output"] = fb.feedback(c["message"] or c["verdict"],
                                             max_lines=40, max_chars=6000)
            tests.append(test)
    summary = f"{fmt(r['score'])} / {fmt(r['max'])} points."
    if r.get("error"):
        summary = f"Not graded: {r['error']}"
    if r.get("ignored"):
        summary += (f"\n{len(r['ignored'])} files of the submission were "
                    "ignored: only the exercise sources count.")
    if r.get("skipped"):
        summary += (f"\n{len(r['skipped'])} files were left out while "
                    "unpacking: " + "; ".join(
                        f"{p} ({why})" for p, why in r["skipped"][:10]))
    return {"score": r["score"], "execution_time": int(r.get("seconds", 0)),
            "output": summary, "output_format": "text",
            "test_output_format": "text", "stdout_visibility": "hidden",
            "visibility": "visible", "tests": tests,
            "extra_data": {"student": r["student"],
                           "warnings": r.get("warnings", [])[:40]}}


CLASSROOM_MESSAGE = 1000   # characters per row's message


def classroom_result(r, topics):
    """The runner result GitHub Classroom's grading reporter reads.

    The reporter adds the rows' scores in JavaScript floating point, so the
    whole score is one row ("total", rounded to 0.01) and every topic a row
    worth 0 that says how it went: the sum is then exact at any score, and
    the result stays a few KiB (an environment variable holds at most 128
    KiB). The full report goes to the job summary (the workflow appends the
    student's page)."""
    tests = []
    for t in topics:
        e = r["topics"].get(t)
        if not e:
            continue
        summary = fb.topic_summary(t, e)
        if summary:
            message = summary
        else:
            failing = failing_cases(e)
            groups, others = fb.unfinished_groups(failing)
            lines = [f"{function}: not implemented yet ({len(names)} cases)"
                     for (function, _, _), names in groups.items()]
            lines += [f"{c['name']}: {fb.first_words(c['message'])}"
                      for c in others]
            if e["build_log"]:
                lines.insert(0, "the exercise did not build")
            message = "\n".join(lines)
            if len(message) > CLASSROOM_MESSAGE:
                message = message[:CLASSROOM_MESSAGE] + "\n[...]"
        tests.append({"name": f"{t}: {fmt(e['score'])}/{fmt(e['max'])}",
                      "status": "pass" if e["passed"] == e["total"] and
                      e["total"] else "fail", "score": 0,
                      "message": message, "test_code": f"tools/grade ({t})",
                      "filename": "", "line_no": 0, "duration": 0})
    score = round(r["score"], 2)
    maximum = round(r["max"], 2)
    status = "error" if r.get("error") else (
        "pass" if maximum and score == maximum else "fail")
    tests.append({"name": f"total: {fmt(score)}/{fmt(maximum)}",
                  "status": "pass" if status == "pass" else "fail",
                  "score": int(score) if score == int(score) else score,
                  "message": r.get("error") or "the job summary holds every "
                  "failing case with its message and hint",
                  "test_code": "tools/grade", "filename": "", "line_no": 0,
                  "duration": int(r.get("seconds", 0) * 1000)})
    return {"version": 1, "status": status,
            "max_score": int(maximum) if maximum == int(maximum) else maximum,
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
                                               **{k: v for k, v in
                                                  (extra or {}).items()
                                                  if v is not None})),
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
