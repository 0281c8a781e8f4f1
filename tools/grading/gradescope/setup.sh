#!/usr/bin/env bash
# Gradescope runs this once, when it builds the autograder image. The bundle
# (tools/grade --gradescope-bundle FILE.zip) unpacks to /autograder/source:
# this script, run_autograder, assignment.json (topics, points, time budget)
# and course/ (a pristine copy of the katas).
#
# It installs only what grading needs (tools/setup.sh --grading-only: Bazel
# 4.2, its rules, g++, GoogleTest, git; none of the learner tooling), then
# builds the reference solutions and the pristine exercises of the
# assignment's topics once, so that grading a submission compiles only the
# student's files. See docs/grading.md#gradescope for the base image, memory
# and timeout to choose. AUTOGRADER_ROOT replaces /autograder (the local
# simulation in the grader's self-test); GRADE_CACHE names a Bazel disk cache.
set -euo pipefail
root=${AUTOGRADER_ROOT:-/autograder}
course=$root/source/course

# Bazel 4.2 comes from the distribution's archive. Where that archive has an
# older one (Ubuntu 22.04 has 3.5), take Debian 12's Bazel packages, pinned so
# that nothing else comes from Debian. (Not exercised on Gradescope itself.)
if [[ -z "${AUTOGRADER_ROOT:-}" ]] && ! apt-cache policy bazel-bootstrap 2>/dev/null | grep -q "Candidate: 4\."; then
  echo "setup: this archive has no Bazel 4.2; adding Debian 12's Bazel packages"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debian-archive-keyring
  echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian bookworm main" \
    > /etc/apt/sources.list.d/debian-bookworm-bazel.list
  cat > /etc/apt/preferences.d/debian-bookworm-bazel <<'PIN'
Package: *
Pin: release n=bookworm
Pin-Priority: 1

Package: bazel-bootstrap bazel-rules-cc bazel-rules-java
Pin: release n=bookworm
Pin-Priority: 990
PIN
fi
bash "$course/tools/setup.sh" --grading-only
# The work folder must be reachable by the grader's unprivileged users:
# /autograder is, /root is not.
mkdir -p "$root/grader"
chmod 755 "$root" "$root/grader"
"$course/tools/grade" --prepare --out "$root/grader" --jobs 1 \
  --assignment "$root/source/assignment.json" ${GRADE_CACHE:+--cache "$GRADE_CACHE"}
