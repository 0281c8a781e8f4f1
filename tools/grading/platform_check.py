#!/usr/bin/env python3
"""Can this machine run the grader? Checked before a single student is graded.

  python3 tools/grading/platform_check.py [--results FILE] [--pretend-missing WHAT]

Checks, in order: Bazel 4.2 at /usr/bin/bazel-4 (Debian's bazel-bootstrap);
that an unprivileged user of the grader's pool can start a confined test run
(tools/grading/confine.py: user, PID, mount and IPC namespaces, tmpfs
mounts; Bazel's linux-sandbox needs the same namespaces); Landlock (reported,
not required); the memory the machine has. Prints one line per check. When
something required is missing it writes FILE (Gradescope's results.json:
score 0 and a message that says exactly what the platform lacks and what to
change) and exits 1. --pretend-missing bazel|userns makes that check fail, so
the self-test can see the message without a broken machine.
"""

import argparse
import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

from grading import accounts  # noqa: E402
from grading import confine  # noqa: E402

RECOMMENDED_MB = 2048   # see docs/grading.md#gradescope (measured peak)


def bazel_version():
    out = subprocess.run(["dpkg-query", "-W", "-f=${Version}",
                          "bazel-bootstrap"], capture_output=True, text=True)
    return out.stdout.strip() if out.returncode == 0 else ""


def confined_run_works(account):
    """(ok, what happened) of a trivial confined run as `account`."""
    read_end, write_end = os.pipe()
    spec = confine.encode_spec({"binary": "/bin/true",
                                "grader_dir": "/tmp/.grader"})
    try:
        done = subprocess.run(
            account.prefix() + ["/usr/bin/python3", "-I", "-S",
                                os.path.join(HERE, "confine.py"), spec,
                                str(write_end), "--", "/bin/true"],
            pass_fds=(write_end,), capture_output=True, text=True,
            timeout=60, cwd="/")
    except (OSError, subprocess.TimeoutExpired) as error:
        os.close(write_end)
        os.close(read_end)
        return False, str(error), 0
    os.close(write_end)
    status = os.read(read_end, 1 << 16).decode()
    os.close(read_end)
    try:
        report = json.loads(status or "{}")
    except ValueError:
        report = {}
    if done.returncode != 0 or report.get("error"):
        return False, (report.get("error") or done.stderr.strip() or
                       f"exit code {done.returncode}"), 0
    return True, "ok", report.get("landlock", 0)


def memory_mb():
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) // 1024
    return 0


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--results", help="results.json to write on failure")
    parser.add_argument("--pretend-missing", choices=["bazel", "userns"])
    options = parser.parse_args()
    missing = []
    version = bazel_version()
    if options.pretend_missing == "bazel" or not os.access(
            "/usr/bin/bazel-4", os.X_OK) or not version.startswith("4."):
        missing.append(
            f"Bazel 4.2 (found bazel-bootstrap {version or 'nowhere'}). The "
            "katas are built with Debian 12's bazel-bootstrap 4.2.3: use a "
            "base image whose archive has it, or let the bundle's setup.sh "
            "take it from Debian 12 (docs/grading.md#gradescope).")
    print(f"platform: bazel-bootstrap {version or 'missing'}")
    account = accounts.Account(accounts.DEFAULT_BASE + 2,
                               accounts.DEFAULT_BASE + 2) \
        if os.geteuid() == 0 else accounts.current()
    ok, detail, landlock = confined_run_works(account)
    if options.pretend_missing == "userns":
        ok, detail = False, "(pretended for the self-test)"
    if not ok:
        missing.append(
            "unprivileged user namespaces (an unprivileged user could not "
            f"start a confined run: {detail}). Bazel's sandbox and the "
            "grader's test runs need them: the container must allow "
            "unshare(CLONE_NEWUSER) (Docker: --privileged or a seccomp "
            "profile that allows it; Ubuntu 24.04 hosts: "
            "kernel.apparmor_restrict_unprivileged_userns=0).")
    print(f"platform: confined run as uid {account.uid}: {detail}")
    print(f"platform: Landlock ABI {landlock or 'missing'} "
          f"{'(test runs read only the system and their own files)' if landlock else '(runs are confined by namespaces and blocked paths only)'}")
    memory = memory_mb()
    print(f"platform: {memory} MiB of memory"
          + ("" if memory >= RECOMMENDED_MB else
             f" (less than the {RECOMMENDED_MB} MiB recommended)"))
    if not missing:
        return 0
    message = ("The autograder cannot run on this platform. Nothing was "
               "graded and this score is not yours: tell your instructor. "
               "What the platform lacks:\n- " + "\n- ".join(missing))
    print(message)
    if options.results:
        os.makedirs(os.path.dirname(os.path.abspath(options.results)),
                    exist_ok=True)
        with open(options.results, "w") as f:
            json.dump({"score": 0, "output": message,
                       "output_format": "text", "visibility": "visible",
                       "stdout_visibility": "visible", "tests": []}, f,
                      indent=1)
    return 1


if __name__ == "__main__":
    sys.exit(main())
