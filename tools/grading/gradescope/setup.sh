#!/usr/bin/env bash
# Gradescope runs this once, when it builds the autograder image. The bundle
# (tools/grade --gradescope-bundle FILE.zip) unpacks to /autograder/source:
# this script, run_autograder and course/ (a pristine copy of the katas).
#
# It installs the toolchain from the distribution's packages (the project's
# own tools/setup.sh), then builds the reference solutions and the pristine
# exercises once, so that grading a submission only compiles the student's
# files. Pick a base image with Bazel 4.2.x in its package archive (Debian 12
# or an Ubuntu that has bazel-bootstrap) and give the autograder >= 4 GB of
# memory: Bazel's server alone needs about 1 GB.
set -euo pipefail
course=/autograder/source/course
bash "$course/tools/setup.sh" --no-selfcheck
# The work folder must be reachable by the unprivileged user (nobody) that
# runs Bazel and the tests: /autograder/source is, /root is not.
mkdir -p /autograder/grader
chmod 755 /autograder /autograder/grader
"$course/tools/grade" --prepare --out /autograder/grader --jobs 1
