"""The hash-checked locks (requirements/runtime.txt, requirements/test.txt) agree with
pyproject.toml, and the image's code needs nothing the runtime lock leaves out
(docs/decisions/0090). No network: everything is read from the repository and the venv."""
from __future__ import annotations

import ast
import importlib.metadata
import importlib.util
import re
import shutil
import sys
from pathlib import Path

import pytest
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[2]
LOCKS = ROOT / "requirements"
RUNTIME_LOCK = LOCKS / "runtime.txt"
TEST_LOCK = LOCKS / "test.txt"
# What the image ships (deploy/docker/Dockerfile copies these beside the runtime lock).
IMAGE_CODE = [ROOT / "shared", ROOT / "services"]
# Never in the image, whatever pulls them in: the test runners, the browser driver, the
# embedded store and the CloudEvents SDK (the services build their envelopes themselves).
TEST_TOOLS = {"pytest", "pytest-timeout", "schemathesis", "hypothesis", "selenium", "cloudevents",
              "secantusdb", "pypdf", "pypdfium2", "zxing-cpp", "aiosmtpd", "pika", "kubernetes-validate"}


def _lock_module():
    spec = importlib.util.spec_from_file_location("requirements_lock", LOCKS / "lock.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


lock = _lock_module()


def _name(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _parse_lock(path: Path) -> dict[str, dict]:
    """name -> {"version", "hashes", "via"} from a pip requirements file with hashes."""
    entries: dict[str, dict] = {}
    current = None
    logical = ""
    for raw in path.read_text().splitlines():
        stripped = raw.strip()
        if current is not None and stripped.startswith("#"):
            # uv's annotations: "# via x" or "# via" followed by "#   x" lines.
            via = stripped.lstrip("#").strip()
            via = via[len("via"):].strip() if via.startswith("via") else via
            if via:
                current["via"].add(via.split(" ")[0])
            continue
        if not stripped or stripped.startswith("#"):
            continue
        logical += " " + stripped.rstrip("\\")
        if stripped.endswith("\\"):
            continue
        spec, *options = logical.split(" --")
        logical = ""
        requirement = Requirement(spec.strip())
        (pin,) = requirement.specifier
        assert pin.operator == "==", f"{path.name}: {spec.strip()} is not pinned to one version"
        current = {"version": pin.version, "via": set(),
                   "hashes": [o.split("=", 1)[1].strip() for o in options if o.startswith("hash=")]}
        entries[_name(requirement.name)] = current
    return entries


@pytest.fixture(scope="module")
def runtime() -> dict[str, dict]:
    return _parse_lock(RUNTIME_LOCK)


@pytest.fixture(scope="module")
def test_tree() -> dict[str, dict]:
    return _parse_lock(TEST_LOCK)


def _pins(requirements: list[str]) -> dict[str, str]:
    pins = {}
    for text in requirements:
        requirement = Requirement(text)
        (pin,) = requirement.specifier
        pins[_name(requirement.name)] = pin.version
    return pins


def test_each_lock_was_made_from_the_dependencies_pyproject_lists_now():
    for which in ("runtime", "test"):
        why = lock.stale(which)
        assert why is None, why


def test_a_changed_pin_in_pyproject_is_noticed_and_the_message_says_how_to_relock(tmp_path):
    # A copy of the project whose locks were made from its pyproject (whatever the state of
    # the real one, which the test above judges), then pyproject edited without re-locking.
    shutil.copytree(LOCKS, tmp_path / "requirements")
    text = (ROOT / "pyproject.toml").read_text()
    (tmp_path / "pyproject.toml").write_text(text)
    lists = lock.pyproject_lists(tmp_path / "pyproject.toml")
    for which in ("runtime", "test"):
        lock_file = tmp_path / "requirements" / f"{which}.txt"
        stamped = re.sub(rf"^{re.escape(lock.DIGEST_PREFIX)}\w+", lock.DIGEST_PREFIX + lock.digest(lists, which),
                         lock_file.read_text(), count=1, flags=re.M)
        lock_file.write_text(stamped)
        assert lock.stale(which, tmp_path / "pyproject.toml") is None
    bumped = text.replace('"requests==', '"requests==99.', 1)
    assert bumped != text
    (tmp_path / "pyproject.toml").write_text(bumped)
    for which in ("runtime", "test"):
        why = lock.stale(which, tmp_path / "pyproject.toml")
        assert why is not None and "make lock" in why, which
    # A test-only change leaves the runtime lock (and so the image) as it was.
    tooled = text.replace('"pytest==', '"pytest==99.', 1)
    assert tooled != text
    (tmp_path / "pyproject.toml").write_text(tooled)
    assert lock.stale("runtime", tmp_path / "pyproject.toml") is None
    assert "make lock" in lock.stale("test", tmp_path / "pyproject.toml")


def test_every_pyproject_pin_is_locked_at_that_version(runtime, test_tree):
    lists = lock.pyproject_lists()
    for name, version in _pins(lists["dependencies"]).items():
        assert name in runtime, f"{name} is a runtime dependency but not in {RUNTIME_LOCK.name}: make lock"
        assert runtime[name]["version"] == version, f"{name}: pyproject {version}, lock {runtime[name]['version']}"
    for name, version in _pins(lists["dependencies"] + lists["test"]).items():
        assert name in test_tree, f"{name} is not in {TEST_LOCK.name}: make lock"
        assert test_tree[name]["version"] == version, f"{name}: pyproject {version}, lock {test_tree[name]['version']}"


def test_every_locked_requirement_carries_a_hash(runtime, test_tree):
    for path, entries in ((RUNTIME_LOCK, runtime), (TEST_LOCK, test_tree)):
        assert entries, f"{path.name} locks nothing"
        unhashed = sorted(name for name, entry in entries.items() if not entry["hashes"])
        assert not unhashed, f"{path.name}: no --hash for {unhashed} (pip --require-hashes refuses it)"
        for name, entry in entries.items():
            assert all(re.fullmatch(r"sha256:[0-9a-f]{64}", h) for h in entry["hashes"]), name


def test_the_test_lock_holds_the_runtime_tree_at_the_same_versions(runtime, test_tree):
    for name, entry in runtime.items():
        assert name in test_tree, f"{name} is in the image but the tests would not install it"
        assert test_tree[name]["version"] == entry["version"], (
            f"{name}: the image runs {entry['version']}, the tests {test_tree[name]['version']}")


def test_the_runtime_lock_holds_no_test_tool(runtime):
    assert not TEST_TOOLS & set(runtime), f"test tools in the image's lock: {sorted(TEST_TOOLS & set(runtime))}"
    # A package of the [test] extra is in the runtime tree only when a runtime package needs
    # it (pillow, through reportlab), never because the project asked for it.
    test_extra = set(_pins(lock.pyproject_lists()["test"]))
    runtime_direct = set(_pins(lock.pyproject_lists()["dependencies"]))
    for name in test_extra & set(runtime) - runtime_direct:
        needed_by = runtime[name]["via"] - {"asn-bangkom"}
        assert needed_by, f"{name} is in the runtime lock only as a test tool"


def _imported_top_levels(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module != "__future__":
            names.add(node.module.split(".")[0])
    return names


def test_the_image_code_imports_only_what_the_runtime_lock_installs(runtime):
    # The image has the runtime lock and nothing else: an import of a test-only package
    # (cloudevents, secantusdb...) from shared/ or services/ would fail only in production.
    providers = importlib.metadata.packages_distributions()
    files = [f for root in IMAGE_CODE for f in ([root] if root.is_file() else root.rglob("*.py"))]
    assert len(files) > 20
    missing = {}
    for path in files:
        for top in _imported_top_levels(path) - set(sys.stdlib_module_names) - {"shared", "services", "deploy"}:
            distributions = {_name(d) for d in providers.get(top, [])}
            assert distributions, f"{path.relative_to(ROOT)} imports {top}, which no installed package provides"
            if not distributions & set(runtime):
                missing.setdefault(top, set()).add(str(path.relative_to(ROOT)))
    assert not missing, f"imported by the image's code but not in {RUNTIME_LOCK.name}: {missing}"


def test_the_image_and_the_virtualenv_install_from_the_locks_with_hashes_checked():
    dockerfile = (ROOT / "deploy" / "docker" / "Dockerfile").read_text().replace("\\\n", " ")
    installs = [line for line in dockerfile.splitlines() if "pip install" in line and not line.lstrip().startswith("#")]
    assert installs, "the image installs nothing"
    for line in installs:
        assert "--require-hashes" in line and "requirements/runtime.txt" in line, line
    makefile = (ROOT / "Makefile").read_text()
    assert "--require-hashes -r $(TEST_LOCK)" in makefile
    assert re.search(r"^\$\(PY_STAMP\):.*\$\(RUNTIME_LOCK\).*\$\(TEST_LOCK\)", makefile, re.M), (
        "the virtualenv must be reinstalled when a lock changes")
