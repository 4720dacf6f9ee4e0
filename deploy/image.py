"""Build the platform's image and run its services from it, with podman and no image registry.

No registry is reachable from the machines this project is built on, so the base image is
made locally from Debian's packages (``mmdebstrap``: a bookworm root with python3 3.11 and a
``python`` link), and ``deploy/docker/Dockerfile`` is built on it through its
``PYTHON_IMAGE`` argument. podman runs without a Docker engine; in this sandbox it needs the
``runc`` runtime (crun cannot set limits here) and no default ulimits, which
``deploy/podman/containers.conf`` says (``CONTAINERS_CONF``). The machine's CA bundle is
mounted into the build so pip reaches the package index.

    python -m deploy.image build              # base image (once) and the project's image
    python -m deploy.image run enrollment     # one service from it, host network, read-only root

``tests/e2e/test_image.py`` builds the image this way and runs the four services from it.
"""
from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Mapping
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BASE_IMAGE = "localhost/asn-python:3.11-bookworm"
IMAGE = "localhost/asn-bangkom:dev"
CONTAINERS_CONF = ROOT / "deploy" / "podman" / "containers.conf"
CA_BUNDLE_DIR = "/etc/ssl/certs"
# What the base image holds: Debian's python3 (3.11 in bookworm) and what pip needs.
BASE_PACKAGES = ("python3", "python3-venv", "ca-certificates")
TOOLS = ("podman", "mmdebstrap", "runc")


class ImageError(RuntimeError):
    pass


def missing_tools() -> list[str]:
    """The programs this module needs that the machine lacks (``.ci/run`` installs them)."""
    return [tool for tool in TOOLS if shutil.which(tool) is None]


def podman(*args: str, capture: bool = False, timeout: float = 900) -> subprocess.CompletedProcess:
    env = {**os.environ, "CONTAINERS_CONF": str(CONTAINERS_CONF)}
    result = subprocess.run(["podman", "--runtime", "runc", *args], env=env, capture_output=True, text=True,
                            timeout=timeout)
    if result.returncode != 0:
        raise ImageError(f"podman {' '.join(args[:3])} failed ({result.returncode}):\n{result.stderr[-3000:]}")
    return result


def image_exists(name: str) -> bool:
    env = {**os.environ, "CONTAINERS_CONF": str(CONTAINERS_CONF)}
    return subprocess.run(["podman", "image", "exists", name], env=env).returncode == 0


def build_base(name: str = BASE_IMAGE) -> str:
    """A Debian bookworm root with python3 and a ``python`` link, imported as ``name``."""
    with tempfile.TemporaryDirectory(prefix="asn-base-") as tmp:
        root = Path(tmp) / "root.tar"
        result = subprocess.run(
            ["mmdebstrap", "--variant=minbase", f"--include={','.join(BASE_PACKAGES)}",
             '--customize-hook=ln -sf python3 "$1/usr/bin/python"', "bookworm", str(root)],
            capture_output=True, text=True, timeout=900)
        if result.returncode != 0:
            raise ImageError(f"mmdebstrap failed ({result.returncode}):\n{result.stderr[-3000:]}")
        podman("import", "--change", 'CMD ["/bin/bash"]', str(root), name)
    return name


def build(tag: str = IMAGE, base: str = BASE_IMAGE, rebuild_base: bool = False) -> str:
    """The project's image from deploy/docker/Dockerfile on the local base image."""
    if rebuild_base or not image_exists(base):
        build_base(base)
    podman("build", "--network", "host", "--build-arg", f"PYTHON_IMAGE={base}",
           "--volume", f"{CA_BUNDLE_DIR}:{CA_BUNDLE_DIR}:ro",
           "--file", str(ROOT / "deploy" / "docker" / "Dockerfile"), "--tag", tag, str(ROOT))
    return tag


def container_env(env: Mapping[str, str]) -> dict[str, str]:
    """What a service's environment says beyond the host's own (the stack's settings): the
    host's PATH, HOME, virtualenv or PYTHONPATH would break the image's."""
    host_only = {"PATH", "HOME", "PYTHONPATH", "VIRTUAL_ENV", "PWD", "OLDPWD", "SHELL", "HOSTNAME", "TERM"}
    return {k: v for k, v in env.items() if k not in host_only and os.environ.get(k) != v}


def run_command(service: str, env: Mapping[str, str], image: str = IMAGE) -> list[str]:
    """``podman run`` of one service: host network, read-only root, the settings as an env
    file, files named by the settings (e.g. AUTH_SECRET_FILE) mounted read-only at the same
    path. SIGTERM to the podman process reaches the service (signals are proxied)."""
    settings = container_env(env)
    env_file = Path(tempfile.gettempdir()) / f"asn-{service}-{uuid.uuid4().hex[:8]}.env"
    env_file.write_text("".join(f"{k}={v}\n" for k, v in sorted(settings.items()) if "\n" not in v))
    env_file.chmod(0o600)
    mounts = []
    for key, value in settings.items():
        if key.endswith("_FILE") and value and Path(value).is_file():
            mounts += ["--volume", f"{value}:{value}:ro"]
    # ``env`` execs podman (same process, so the stack's SIGTERM reaches it) with its settings file.
    return ["env", f"CONTAINERS_CONF={CONTAINERS_CONF}", "podman", "--runtime", "runc", "run", "--rm", "--name", f"asn-{service}-{uuid.uuid4().hex[:8]}",
            "--network", "host", "--read-only", "--env-file", str(env_file), *mounts, image, service]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m deploy.image", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    b = sub.add_parser("build", help="build the base image (once) and the project's image")
    b.add_argument("--tag", default=IMAGE)
    b.add_argument("--rebuild-base", action="store_true")
    r = sub.add_parser("run", help="run one service from the image with this environment's settings")
    r.add_argument("service")
    r.add_argument("--image", default=IMAGE)
    args = parser.parse_args(argv)
    if missing_tools():
        print(f"missing: {', '.join(missing_tools())} (Debian packages podman, mmdebstrap, runc)", file=sys.stderr)
        return 1
    os.environ.setdefault("CONTAINERS_CONF", str(CONTAINERS_CONF))
    if args.command == "build":
        print(build(args.tag, rebuild_base=args.rebuild_base))
        return 0
    return subprocess.call(run_command(args.service, dict(os.environ), args.image))


if __name__ == "__main__":
    raise SystemExit(main())
