"""Re-lock the dependency tree (``make lock``): requirements/runtime.txt from pyproject's
[project] dependencies, requirements/test.txt from those plus the [test] extra, both with
every distribution's hash, for CPython 3.11 on linux x86_64 (the image and the machines).

uv only generates the locks; installing from them needs nothing but pip
(``pip install --require-hashes -r requirements/test.txt``). Each lock's header records a
digest of the pyproject lists it was made from, so tests/deploy/test_lock.py notices a
pyproject edit that was not followed by ``make lock``; ``lock.py --check runtime`` is the
same check for the image build, which has only pyproject.toml and the runtime lock.
"""
from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYPROJECT = ROOT / "pyproject.toml"
RUNTIME_LOCK = ROOT / "requirements" / "runtime.txt"
TEST_LOCK = ROOT / "requirements" / "test.txt"
RELOCK_COMMAND = "make lock"
DIGEST_PREFIX = "# pyproject-digest: sha256:"
# The target every lock is resolved for: the image's Python and the machines' platform.
PYTHON_VERSION = "3.11"
PYTHON_PLATFORM = "x86_64-manylinux_2_28"


def pyproject_lists(pyproject: Path = PYPROJECT) -> dict[str, list[str]]:
    """The requirement lists the locks are made from, as pyproject.toml spells them."""
    project = tomllib.loads(pyproject.read_text())["project"]
    return {
        "dependencies": list(project["dependencies"]),
        "test": list(project["optional-dependencies"]["test"]),
    }


def digest(lists: dict[str, list[str]], lock: str) -> str:
    """The digest a lock's header records: of the runtime list for the runtime lock, of the
    runtime list and the test extra for the test lock. Sorted, so reordering or commenting
    pyproject does not ask for a re-lock but any changed requirement does."""
    keys = ["dependencies"] if lock == "runtime" else ["dependencies", "test"]
    canonical = json.dumps({key: sorted(lists[key]) for key in keys}, sort_keys=True)
    return hashlib.sha256(canonical.encode()).hexdigest()


def recorded_digest(lock_file: Path) -> str | None:
    """The digest in a lock's header, or None when the header has none."""
    for line in lock_file.read_text().splitlines():
        if line.startswith(DIGEST_PREFIX):
            return line[len(DIGEST_PREFIX):].split()[0]
    return None


def stale(lock: str, pyproject: Path = PYPROJECT) -> str | None:
    """Why a lock no longer matches pyproject.toml (with the command that re-locks), or None."""
    lock_file = RUNTIME_LOCK if lock == "runtime" else TEST_LOCK
    lock_file = pyproject.parent / lock_file.relative_to(ROOT)
    wanted = digest(pyproject_lists(pyproject), lock)
    if recorded_digest(lock_file) != wanted:
        return (f"{lock_file.relative_to(pyproject.parent)} was not made from the dependencies in "
                f"pyproject.toml (its recorded digest differs); re-lock with: {RELOCK_COMMAND}")
    return None


def _compile(output: Path, extra_args: list[str]) -> None:
    # The existing lock is passed as the output file, so uv keeps its pins as preferences:
    # re-locking after a pyproject edit moves only what that edit requires.
    subprocess.run(
        [sys.executable, "-m", "uv", "pip", "compile", str(PYPROJECT.relative_to(ROOT)),
         "--generate-hashes", "--python-version", PYTHON_VERSION,
         "--python-platform", PYTHON_PLATFORM, "--custom-compile-command", RELOCK_COMMAND,
         "--quiet", "--output-file", str(output.relative_to(ROOT)), *extra_args],
        cwd=ROOT, check=True,
    )


def _stamp(output: Path, value: str, what: str) -> None:
    lines = [line for line in output.read_text().splitlines() if not line.startswith(DIGEST_PREFIX)]
    # After uv's own header (the leading comment lines), before the first requirement.
    at = next((i for i, line in enumerate(lines) if not line.startswith("#")), len(lines))
    lines.insert(at, f"{DIGEST_PREFIX}{value} (of {what}; re-lock with: {RELOCK_COMMAND})")
    output.write_text("\n".join(lines) + "\n")


def main(argv: list[str]) -> int:
    if argv[:1] == ["--check"]:
        # The image build runs this before installing, so a stale lock fails the build.
        problems = [why for lock in argv[1:] or ["runtime", "test"] if (why := stale(lock))]
        for why in problems:
            print(why, file=sys.stderr)
        return 1 if problems else 0
    lists = pyproject_lists()
    RUNTIME_LOCK.parent.mkdir(exist_ok=True)
    _compile(RUNTIME_LOCK, [])
    _stamp(RUNTIME_LOCK, digest(lists, "runtime"), "pyproject [project].dependencies")
    # Constrained by the runtime lock: the test tree holds the runtime tree at the same
    # versions, so the tests run what the image runs.
    _compile(TEST_LOCK, ["--extra", "test", "--constraint", str(RUNTIME_LOCK.relative_to(ROOT))])
    _stamp(TEST_LOCK, digest(lists, "test"),
           "pyproject [project].dependencies and [project.optional-dependencies].test")
    print(f"locked {RUNTIME_LOCK.relative_to(ROOT)} and {TEST_LOCK.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
