"""The points manifest (tools/grading/points.json) and scoring.

The manifest is optional everywhere: a topic, stage or test case it does not
mention is worth `default_points_per_case` points per test case. A topic entry
may give
  "stages": {"Stage1ExitStatus": 10, ...}  points for the stage, split evenly
                                           over its test cases;
  "cases":  {"Suite.Case": 2, ...}         points for one case (wins over the
                                           stage's share);
  "time_limit_seconds": N                  the topic's wall clock.
Scores are partial: every passing case earns its points.
"""

import json
import os

DEFAULTS = {"default_points_per_case": 1, "default_time_limit_seconds": 240}


def load(path):
    manifest = dict(DEFAULTS)
    if path and os.path.exists(path):
        with open(path) as f:
            manifest.update(json.load(f))
    manifest.setdefault("topics", {})
    return manifest


def points_for(manifest, topic, cases):
    """({case: points}, [warnings about stale manifest entries])."""
    entry = manifest["topics"].get(topic, {})
    per_case = float(entry.get("points_per_case",
                               manifest["default_points_per_case"]))
    stages = entry.get("stages", {})
    explicit = entry.get("cases", {})
    warnings = []
    for name in explicit:
        if name not in cases:
            warnings.append(f"{topic}: manifest names case {name}, which the "
                            "tests do not have")
    suites = {}
    for case in cases:
        suites.setdefault(case.split(".")[0], []).append(case)
    for stage in stages:
        if stage not in suites:
            warnings.append(f"{topic}: manifest names stage {stage}, which the "
                            "tests do not have")
    points = {}
    for suite, members in suites.items():
        shared = [c for c in members if c not in explicit]
        for case in members:
            if case in explicit:
                points[case] = float(explicit[case])
            elif suite in stages:
                points[case] = float(stages[suite]) / len(shared)
            else:
                points[case] = per_case
    return points, warnings


def time_limit(manifest, topic):
    entry = manifest["topics"].get(topic, {})
    return float(entry.get("time_limit_seconds",
                           manifest["default_time_limit_seconds"]))
