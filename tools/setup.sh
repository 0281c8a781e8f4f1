#!/usr/bin/env bash
# Installs everything ipc-katas needs on Debian/Ubuntu, from the distribution's
# packages and npm only (no other downloads), then builds the katas and shows
# the learner's progress. Safe to run again: it installs only what is missing.
#
#   tools/setup.sh                 install, build, show progress (exercises)
#   tools/setup.sh --no-selfcheck  install and build only (what CI uses)
#   tools/setup.sh --grading-only  only what tools/grade needs (Bazel, the
#                                  compiler, GoogleTest, git): no npm tools,
#                                  no diagram parser, no build (Gradescope)
#   tools/setup.sh --packages-only the system's share only: Debian packages
#                                  and the npm tools, nothing in the clone
#                                  (the dev container's image)
# Works in a student release too (tools/release: no solutions/, no docs
# checks).
set -euo pipefail
cd "$(dirname "$0")/.."

selfcheck=1
grading_only=0
[[ "${1:-}" == "--no-selfcheck" || "${CI:-}" == "true" ]] && selfcheck=0
[[ "${1:-}" == "--grading-only" ]] && { grading_only=1; selfcheck=0; }
packages_only=0
[[ "${1:-}" == "--packages-only" ]] && packages_only=1

sudo=""
if [[ "$(id -u)" -ne 0 ]]; then sudo="sudo"; fi

# Bazel 4.2.3 and its rules from Debian (see DESIGN section 4 / WORKSPACE),
# GoogleTest and Google Benchmark sources, the compiler, the real tools some
# tests and demos talk to (cat, tr, sh, socat, ipcs), gnuplot, which draws
# the charts of docs/benchmarks.md (tools/bench), and libclang's Python
# binding, the C++ parser of the mutation tool (tools/mutate; it installs for
# Debian's /usr/bin/python3), and python3-sysv-ipc, a System V IPC library
# nobody here wrote that a message_queue test talks to.
# tools/grade needs the first three lines, git (Git and .url submissions)
# and binutils (nm and objdump for its scans; g++ brings them).
packages=(
  bazel-bootstrap bazel-rules-cc bazel-rules-java
  googletest libgtest-dev g++ python3 git
  coreutils socat util-linux procps
)
if ((!grading_only)); then
  packages+=(libbenchmark-dev patch gnuplot-nox python3-clang python3-sysv-ipc)
  # npm (for the tools below) may come from another Node.js distribution
  # whose nodejs package conflicts with Debian's npm: only ask if missing.
  command -v npm >/dev/null || packages+=(nodejs npm)
fi
missing=()
for package in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$package")
  fi
done
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}"
  $sudo apt-get update -qq
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
else
  echo "setup: Debian packages already installed"
fi

# The katas need Bazel 4.2 (Debian 12's bazel-bootstrap 4.2.3; see WORKSPACE).
bazel_version=$(dpkg-query -W -f='${Version}' bazel-bootstrap 2>/dev/null || true)
if [[ ! -x /usr/bin/bazel-4 || "${bazel_version%%.*}" != "4" ]]; then
  echo "setup: this system's bazel-bootstrap is '${bazel_version:-missing}'; the katas need 4.2.x" >&2
  echo "setup: (Debian 12 bookworm has 4.2.3; see docs/grading.md#gradescope)" >&2
  exit 1
fi
if ((grading_only)); then
  echo "setup: done (grading only: tools/grade --prepare builds what it needs)"
  exit 0
fi

# Watch mode and the BUILD-file formatter ship as binaries on npm.
npm_tools=()
command -v buildifier >/dev/null || npm_tools+=("@bazel/buildifier@8.2.1")
command -v ibazel >/dev/null || npm_tools+=("@bazel/ibazel@0.28.0")
if ((${#npm_tools[@]})); then
  echo "setup: installing ${npm_tools[*]} from npm"
  $sudo npm install -g --no-fund --no-audit "${npm_tools[@]}"
fi
if ((packages_only)); then
  echo "setup: done (packages only: run tools/setup.sh in the clone to build)"
  exit 0
fi

# Two checks of the gate run npm packages that package-lock.json pins to the
# byte: the docs check parses every Mermaid diagram with the mermaid package
# itself, under jsdom (tools/mermaid), and the format check runs one pinned
# clang-format (tools/format: each LLVM release lays out C++ a little
# differently). Each goes into its folder's node_modules, again only when the
# lock changes.
npm_ci_pinned() {  # folder, what it is
  local stamp="$1/node_modules/.installed-lock.json"
  if [[ ! -f "$1/package-lock.json" ]]; then
    echo "setup: no $2 here (a student release)"
  elif ! cmp -s "$1/package-lock.json" "$stamp"; then
    echo "setup: installing $2 (npm ci --prefix $1)"
    npm ci --prefix "$1" --ignore-scripts --no-fund --no-audit --loglevel=error
    cp "$1/package-lock.json" "$stamp"
  else
    echo "setup: $2 already installed"
  fi
}
npm_ci_pinned tools/mermaid "the Mermaid parser of the docs check"
npm_ci_pinned tools/format "the pinned clang-format of the format check"

echo "setup: building everything (the first build compiles GoogleTest, ~1 min)"
targets=(//exercises/... //tests/...)
[[ -d solutions ]] && targets+=(//solutions/...)
bazel build "${targets[@]}" >/dev/null 2>&1 || bazel build "${targets[@]}"

if ((selfcheck)); then
  echo
  echo "setup: done. Your progress (bazel test //exercises/...):"
  bazel test //exercises/... --test_output=summary 2>&1 | grep -E "PASSED|FAILED|NO STATUS|Executed" || true
  echo
  echo "Red is expected: start with exercises/pipe/README.md and run"
  echo "  bazel test //exercises/pipe/..."
fi
