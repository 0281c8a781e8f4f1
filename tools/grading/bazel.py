"""Running Debian's Bazel 4.2.3 for the grader, with the grader's flags only.

/usr/bin/bazel is a wrapper script that runs <workspace>/tools/bazel when that
file exists and honours .bazelversion; the grader calls /usr/bin/bazel-4
directly with --noworkspace_rc --nohome_rc (--ignore_all_rc_files crashes this
build) and passes every flag the project needs itself, so nothing in a
submission can add flags or replace Bazel. The system rc (/etc/bazel/bazelrc,
root-owned) stays: it points Bazel at its install base.

When the grader runs as root, Bazel (and so every build action and test) runs
as an unprivileged account of the grader's pool (accounts.py), one per slot:
root inside the sandbox could remount its read-only views and is exempt from
RLIMIT_NPROC, and one shared user would share the kernel's per-user budgets.
The servers run with umask 007: the disk cache they share is group-writable
for the pool, and nothing they write is readable by other users.
"""

import glob
import json
import os
import signal
import subprocess

BAZEL = os.environ.get("GRADER_BAZEL", "/usr/bin/bazel-4")

# Flags every grader build and test uses (the project's .bazelrc is not read).
BUILD_FLAGS = [
    "--cxxopt=-std=c++20",
    "--host_cxxopt=-std=c++20",
    "--nosandbox_debug",            # Debian's system rc turns it on
    "--color=no",
    "--curses=no",
    "--show_progress_rate_limit=30",
    "--experimental_convenience_symlinks=ignore",
    # Every action in the sandbox, or fail: never silently run locally.
    "--spawn_strategy=linux-sandbox",
    "--incompatible_exclusive_test_sandboxed",
    "--nosandbox_default_allow_network",
    "--sandbox_tmpfs_path=/tmp",
    "--sandbox_tmpfs_path=/dev/shm",
    # A learner's main() must collide with the test runner's at link time.
    "--dynamic_mode=off",
]

TEST_FLAGS = [
    "--keep_going",
    "--nocache_test_results",
    # A test's result and logs never come from, or go to, the disk cache:
    # they are one student's, and --nocache_test_results alone still lets
    # Bazel take a test spawn from the disk cache.
    "--modify_execution_info=TestRunner=+no-remote,"
    "TestXmlGenerationAction=+no-remote",
    "--test_output=summary",
    "--test_summary=terse",
    "--test_sharding_strategy=disabled",
    "--flaky_test_attempts=1",
    "--runs_per_test=1",
    "--local_test_jobs=1",
]


class Bazel:
    """One Bazel server: a workspace and its own output root."""

    def __init__(self, workspace, state, account, disk_cache):
        self.workspace = workspace
        self.state = state          # holds the output root, HOME and logs
        self.user = account
        self.disk_cache = disk_cache
        for sub in ("root", "home"):
            os.makedirs(os.path.join(state, sub), exist_ok=True)
        account.own(state, 0o700)

    def startup(self):
        return [BAZEL, "--noworkspace_rc", "--nohome_rc",
                f"--output_user_root={os.path.join(self.state, 'root')}",
                "--max_idle_secs=300"]

    def env(self):
        return {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8",
                "HOME": os.path.join(self.state, "home"),
                "USER": self.user.name}

    def run(self, verb, args, timeout=None):
        """(exit code, combined output) of one Bazel command."""
        command = (self.user.prefix() +
                   ["/bin/sh", "-c", 'umask 007 && exec "$@"', "sh"] +
                   self.startup() + [verb] + args)
        try:
            result = subprocess.run(command, cwd=self.workspace,
                                    env=self.env(), stdin=subprocess.DEVNULL,
                                    stdout=subprocess.PIPE,
                                    stderr=subprocess.STDOUT, text=True,
                                    errors="replace", timeout=timeout)
            return result.returncode, result.stdout
        except subprocess.TimeoutExpired as expired:
            partial = expired.stdout or ""
            if isinstance(partial, bytes):
                partial = partial.decode("utf-8", "replace")
            return 124, partial + "\n(grader: Bazel timed out)"

    def build_flags(self, blocked):
        flags = list(BUILD_FLAGS)
        flags.append(f"--disk_cache={self.disk_cache}")
        flags += [f"--sandbox_block_path={path}" for path in blocked
                  if self.user.can_reach(path)]
        return flags

    def kill_server(self):
        """Ends this slot's Bazel server (and its actions) the hard way."""
        pattern = os.path.join(self.state, "root", "*", "server",
                               "server.pid.txt")
        for path in glob.glob(pattern):
            with open(path) as f:
                pid = int(f.read().strip() or 0)
            if pid <= 0:
                continue
            for kill in (lambda: os.killpg(os.getpgid(pid), signal.SIGKILL),
                         lambda: os.kill(pid, signal.SIGKILL)):
                try:
                    kill()
                except OSError:
                    pass

    def shutdown(self):
        self.run("shutdown", [], timeout=120)


def read_bep(path):
    """{label: event fields} from a --build_event_json_file."""
    results = {}
    built = {}
    if not os.path.exists(path):
        return results, built
    with open(path, errors="replace") as f:
        for line in f:
            try:
                event = json.loads(line)
            except ValueError:
                continue
            ident = event.get("id", {})
            if "testResult" in ident:
                label = ident["testResult"].get("label")
                results[label] = event.get("testResult", {})
            elif "targetCompleted" in ident:
                label = ident["targetCompleted"].get("label")
                built[label] = bool(event.get("completed", {}).get("success"))
    return results, built


def output_path(result, name):
    """The local path of one of a test's outputs (test.xml, test.log)."""
    for output in result.get("testActionOutput", []):
        if output.get("name") == name:
            uri = output.get("uri", "")
            if uri.startswith("file://"):
                return uri[len("file://"):]
    return None
