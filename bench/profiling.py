"""py-spy profiles of running service processes (``bench/pipeline.py --profile``).

One ``py-spy record --nonblocking --format raw`` per process (it samples without pausing the
process; each line of the output is a stack and its sample count, the input of flamegraph.pl
or speedscope). Stopped with SIGINT, which makes py-spy write what it has. Idle samples are
left out (py-spy's default), so the samples are where the process spent CPU: a service
waiting for the store sits in the eventlet hub's epoll, which is idle. The time spent waiting
for the store is in ``asn_store_command_seconds_total`` instead (bench/store_commands.py).
"""
from __future__ import annotations

import re
import shutil
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path

FRAME = re.compile(r"^(?P<function>.*) \((?P<file>[^()]*?)(?::\d+)?\)$")
# Where the CPU goes, by the package of the innermost frame of a sample.
PACKAGES = ("pymongo", "bson", "kombu", "amqp", "eventlet", "greenlet", "nameko", "marshmallow", "jsonschema",
            "werkzeug", "jinja2", "reportlab", "pyhanko", "prometheus_client", "json", "email", "smtplib",
            "ssl", "logging", "shared", "services")


def py_spy() -> str | None:
    local = Path(sys.executable).parent / "py-spy"
    return str(local) if local.exists() else shutil.which("py-spy")


class PySpy:
    """Records each ``{name: pid}`` from ``start()`` to ``stop()`` into ``out_dir/<name>.txt``."""

    def __init__(self, pids: dict[str, int | None], out_dir: Path, rate: int = 100):
        self.pids, self.out_dir, self.rate = pids, Path(out_dir), rate
        self.procs: dict[str, subprocess.Popen] = {}
        self.errors: dict[str, str] = {}

    def path(self, name: str) -> Path:
        return self.out_dir / f"{name}.txt"

    def start(self) -> "PySpy":
        binary = py_spy()
        if binary is None:
            self.errors["all"] = "py-spy not found"
            return self
        self.out_dir.mkdir(parents=True, exist_ok=True)
        for name, pid in self.pids.items():
            if pid is None:
                self.errors[name] = "process not running"
                continue
            log = open(self.out_dir / f"{name}.log", "w")
            self.procs[name] = subprocess.Popen(
                [binary, "record", "--nonblocking", "--format", "raw", "--rate", str(self.rate),
                 "--pid", str(pid), "--output", str(self.path(name))], stdout=log, stderr=subprocess.STDOUT)
        return self

    def stop(self, timeout: float = 60.0) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGINT)
        for name, proc in self.procs.items():
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                self.errors[name] = "py-spy did not stop on SIGINT"
            if not self.path(name).exists() and name not in self.errors:
                log = (self.out_dir / f"{name}.log").read_text()[-500:]
                self.errors[name] = f"no profile written: {log}"

    def summary(self, top: int = 12) -> dict:
        """Per process: samples, the functions with most samples on CPU (self: innermost frame;
        total: anywhere in the stack) and the share of each package."""
        out: dict = {"rate_per_s": self.rate, "directory": str(self.out_dir), "errors": self.errors, "services": {}}
        for name in self.procs:
            if self.path(name).exists():
                out["services"][name] = summarise(self.path(name).read_text(), top)
        return out

    @staticmethod
    def print_summary(summary: dict, top: int = 8) -> None:
        print(f"\n=== py-spy profiles (on-CPU samples at {summary['rate_per_s']}/s, {summary['directory']}) ===")
        for name, error in summary["errors"].items():
            print(f"{name}: {error}")
        for name, s in summary["services"].items():
            shares = ", ".join(f"{k} {v:.0%}" for k, v in list(s["package_share"].items())[:8])
            print(f"{name}: {s['samples']} samples; by package (innermost frame): {shares}")
            for row in s["self"][:top]:
                print(f"    self {row['share']:6.1%}  {row['function']}")
            for row in s["total"][:top]:
                print(f"   total {row['share']:6.1%}  {row['function']}")


def _frame(frame: str) -> str:
    """``function (path:line)`` as ``function (short/path.py)``: site-packages and the checkout cut."""
    match = FRAME.match(frame.strip())
    if not match:
        return frame.strip()
    path = match.group("file")
    for marker in ("site-packages/", "/lib/python3", "/work/main/"):
        if marker in path:
            path = path.split(marker, 1)[1]
            break
    return f"{match.group('function')} ({path})"


def _package(frame: str) -> str:
    match = FRAME.match(frame.strip())
    path = match.group("file") if match else frame
    path = path.split("site-packages/", 1)[-1]
    for package in PACKAGES:
        if path.startswith(package + "/") or path.startswith(package + ".") or f"/{package}/" in path:
            return package
    return "other"


def summarise(raw: str, top: int = 12) -> dict:
    """Aggregate py-spy's raw (collapsed) output: ``frame;frame;...;innermost count`` a line."""
    own: Counter = Counter()
    total: Counter = Counter()
    packages: Counter = Counter()
    samples = 0
    for line in raw.splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        samples += n
        frames = [f for f in stack.split(";") if f]
        # the process and thread names py-spy may put first are not frames
        frames = [f for f in frames if FRAME.match(f.strip())]
        if not frames:
            continue
        own[_frame(frames[-1])] += n
        packages[_package(frames[-1])] += n
        for name in {_frame(f) for f in frames}:
            total[name] += n
    def rows(counter: Counter) -> list[dict]:
        return [{"function": k, "samples": v, "share": round(v / samples, 4)} for k, v in counter.most_common(top)]
    return {"samples": samples, "self": rows(own), "total": rows(total),
            "package_share": {k: round(v / samples, 3) for k, v in packages.most_common()} if samples else {}}
