"""A validator for Gradescope's results.json, from its documented fields.

Source: Gradescope's autograder specification ("Output format", the
results.json example in gradescope/autograder_samples docs/specs.md, also
published at gradescope-autograders.readthedocs.io/en/latest/specs/). Every
field there is optional, except that a score must be given at the top level
or on every test. The validator is strict: a key the documentation does not
list is an error, so a typo cannot silently drop a field.

Usage: python3 -m grading.gradescope_schema results.json ...
"""

import json
import numbers
import sys

FORMATS = {"text", "html", "simple_format", "md", "ansi"}
VISIBILITY = {"hidden", "after_due_date", "after_published", "visible"}
TOP_LEVEL = {
    "score": "number", "execution_time": "number", "output": "string",
    "output_format": FORMATS, "test_output_format": FORMATS,
    "test_name_format": FORMATS, "visibility": VISIBILITY,
    "stdout_visibility": VISIBILITY, "extra_data": "object",
    "tests": "list", "leaderboard": "list",
}
TEST = {
    "score": "number", "max_score": "number", "status": {"passed", "failed"},
    "name": "string", "name_format": FORMATS, "number": "string",
    "output": "string", "output_format": FORMATS, "tags": "strings",
    "visibility": VISIBILITY, "extra_data": "object",
}
LEADERBOARD = {"name": "string", "value": "any", "order": {"asc", "desc"}}


def check_value(where, value, kind, errors):
    if isinstance(kind, set):
        if value not in kind:
            errors.append(f"{where}: {value!r} is not one of "
                          f"{sorted(kind)}")
    elif kind == "number":
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            errors.append(f"{where}: expected a number, got {value!r}")
    elif kind == "string":
        if not isinstance(value, str):
            errors.append(f"{where}: expected a string, got {type(value)}")
    elif kind == "object":
        if not isinstance(value, dict):
            errors.append(f"{where}: expected an object")
    elif kind == "list":
        if not isinstance(value, list):
            errors.append(f"{where}: expected a list")
    elif kind == "strings":
        if not isinstance(value, list) or not all(isinstance(v, str)
                                                  for v in value):
            errors.append(f"{where}: expected a list of strings")


def check_fields(where, data, fields, errors):
    if not isinstance(data, dict):
        errors.append(f"{where}: expected an object")
        return
    for key, value in data.items():
        if key not in fields:
            errors.append(f"{where}: {key!r} is not a documented field")
        else:
            check_value(f"{where}.{key}", value, fields[key], errors)


def validate(data):
    """A list of problems; empty when `data` follows the specification."""
    errors = []
    check_fields("results", data, TOP_LEVEL, errors)
    if not isinstance(data, dict):
        return errors
    tests = data.get("tests", [])
    if isinstance(tests, list):
        for index, test in enumerate(tests):
            check_fields(f"tests[{index}]", test, TEST, errors)
    if "score" not in data:
        if not tests:
            errors.append("results: a score is required at the top level "
                          "or on every test")
        for index, test in enumerate(tests if isinstance(tests, list) else []):
            if isinstance(test, dict) and "score" not in test:
                errors.append(f"tests[{index}]: score required (no top-level "
                              "score)")
    board = data.get("leaderboard", [])
    if isinstance(board, list):
        for index, entry in enumerate(board):
            check_fields(f"leaderboard[{index}]", entry, LEADERBOARD, errors)
            if isinstance(entry, dict) and not {"name", "value"} <= set(entry):
                errors.append(f"leaderboard[{index}]: needs name and value")
    return errors


def validate_file(path):
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except (OSError, ValueError) as error:
        return [f"{path}: not readable JSON: {error}"]
    return [f"{path}: {e}" for e in validate(data)]


if __name__ == "__main__":
    problems = [p for path in sys.argv[1:] for p in validate_file(path)]
    print("\n".join(problems) or f"{len(sys.argv) - 1} file(s) valid")
    sys.exit(1 if problems else 0)
