"""The points manifest (tools/grading/points.json) and scoring.

The manifest is optional everywhere: a topic, stage or test case it does not
mention is worth `default_points_per_case` points per test case. A topic entry
may give
  "points": N                              the topic's total: every case's
                                           points are scaled so the topic
                                           is worth exactly N;
  "stages": {"Stage1ExitStatus": 10, ...}  points for the stage, split evenly
                                           over its test cases;
  "cases":  {"Suite.Case": 2, ...}         points for one case (wins over the
                                           stage's share);
  "points_per_case": P                     instead of the default;
  "time_limit_seconds": N                  the topic's wall clock.
A top-level "default_topic_points" gives every topic without its own
"points" that total (100 in the course's manifest, so each topic weighs the
same whatever its number of cases).

Points are kept in hundredths: a stage or topic split over its cases gives
each case its share rounded down to 0.01 and the cents left over go one by one
to the last cases, so the cases always add up exactly to what the manifest
says (a 15-point stage of 7 cases is 5 x 2.14 + 2 x 2.15, never 7 x
2.142857). Scores are partial: every
passing case earns its points.
"""

import json
import os

DEFAULTS = {"default_points_per_case": 1, "default_time_limit_seconds": 240}


def load(path, overrides=None):
    """The manifest at `path` (if any), with `overrides` {topic: points}
    ("scale topic T to N points", tools/grade --points T=N) applied."""
    manifest = dict(DEFAULTS)
    if path and os.path.exists(path):
        with open(path) as f:
            manifest.update(json.load(f))
    manifest.setdefault("topics", {})
    manifest["topics"] = {t: dict(e) for t, e in manifest["topics"].items()}
    for topic, value in (overrides or {}).items():
        manifest["topics"].setdefault(topic, {})["points"] = value
    return manifest


def cents(value):
    return int(round(float(value) * 100))


def split(total_cents, weights):
    """`total_cents` over `weights` (a list), in whole cents that add up
    exactly: each share rounded down, the rest one cent at a time to the
    largest remainders (ties: the later cases)."""
    weight_sum = sum(weights)
    if weight_sum <= 0:
        return [0] * len(weights)
    exact = [total_cents * w / weight_sum for w in weights]
    shares = [int(x) for x in exact]
    left = total_cents - sum(shares)
    order = sorted(range(len(weights)), key=lambda i: (exact[i] - shares[i],
                                                       i), reverse=True)
    for i in order[:left]:
        shares[i] += 1
    return shares


def points_for(manifest, topic, cases):
    """({case: points}, [warnings about stale manifest entries]).

    Every value is a multiple of 0.01 and they add up exactly to the
    topic's total.
    """
    entry = manifest["topics"].get(topic, {})
    per_case = cents(entry.get("points_per_case",
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
    worth = {}
    for suite, members in suites.items():
        shared = [c for c in members if c not in explicit]
        for case in members:
            if case in explicit:
                worth[case] = cents(explicit[case])
            elif suite not in stages:
                worth[case] = per_case
        if suite in stages and shared:
            for case, share in zip(shared, split(cents(stages[suite]),
                                                 [1] * len(shared))):
                worth[case] = share
    total = entry.get("points", manifest.get("default_topic_points"))
    if total is not None and cases:
        weights = [worth[c] for c in cases]
        if sum(weights) == 0:
            weights = [1] * len(cases)
        for case, share in zip(cases, split(cents(total), weights)):
            worth[case] = share
    return {case: worth[case] / 100 for case in cases}, warnings


def total(values):
    """The exact sum of point values (each a multiple of 0.01)."""
    if isinstance(values, dict):
        values = values.values()
    return sum(cents(v) for v in values) / 100


def time_limit(manifest, topic):
    entry = manifest["topics"].get(topic, {})
    return float(entry.get("time_limit_seconds",
                           manifest["default_time_limit_seconds"]))
