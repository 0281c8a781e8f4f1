"""Reports: terminal table, class Markdown/CSV/JSON, per-student feedback,
Gradescope results.json and the GitHub Classroom runner result."""

import base64
import csv
import json
import os
import re

HINT = re.compile(r"^\s*(hint:.*)$", re.M)


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
    out = [f"# {r['student']}", ""]
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
        out += ["", "## For the instructor: code worth a look", ""]
        out += [f"- {w}" for w in r["warnings"][:40]]
    if r.get("ignored"):
        out += ["", "## Files ignored (only the exercise sources count)", ""]
        out += [f"- `{p}`: {why}" for p, why in r["ignored"][:40]]
        if len(r["ignored"]) > 40:
            out.append(f"- ... and {len(r['ignored']) - 40} more")
    if r.get("missing"):
        out += ["", "Not in the submission (the course's stub was used): " +
                ", ".join(f"`{m}`" for m in r["missing"])]
    return "\n".join(out) + "\n"


def class_markdown(results, topics, summary):
    out = ["# Grades", "", summary, "",
           "| student | " + " | ".join(topics) + " | total | notes |",
           "|---|" + "---|" * (len(topics) + 2)]
    for r in results:
        notes = []
        if r.get("error"):
            notes.append(r["error"])
        if r.get("warnings"):
            notes.append(f"{len(r['warnings'])} code warnings")
        if r.get("ignored"):
            notes.append(f"{len(r['ignored'])} files ignored")
        for t in topics:
            e = r["topics"].get(t)
            if e and e["status"] != "graded":
                notes.append(f"{t}: {e['status']}")
        out.append(f"| [{r['student']}](students/{r['student']}.md) | " +
                   " | ".join(topic_cell(r["topics"].get(t))
                              for t in topics) +
                   f" | {fmt(r['score'])}/{fmt(r['max'])} | "
                   f"{'; '.join(notes)} |")
    return "\n".join(out) + "\n"


def write_csv(path, results, topics):
    with open(path, "w", newline="") as f:
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


def write_all(out, results, topics, summary, timings):
    os.makedirs(os.path.join(out, "students"), exist_ok=True)
    for r in results:
        with open(os.path.join(out, "students", f"{r['student']}.md"),
                  "w") as f:
            f.write(student_markdown(r, topics))
        folder = os.path.join(out, "students", r["student"])
        os.makedirs(folder, exist_ok=True)
        with open(os.path.join(folder, "results.json"), "w") as f:
            json.dump(gradescope_results(r, topics), f, indent=1)
    with open(os.path.join(out, "grades.md"), "w") as f:
        f.write(class_markdown(results, topics, summary))
    write_csv(os.path.join(out, "grades.csv"), results, topics)
    with open(os.path.join(out, "grades.json"), "w") as f:
        json.dump({"topics": topics, "timings": timings,
                   "students": results}, f, indent=1)


def classroom_output_line(r, topics):
    encoded = base64.b64encode(json.dumps(classroom_result(r, topics))
                               .encode()).decode()
    return f"result={encoded}\n"
