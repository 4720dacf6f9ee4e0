"""Child processes of the local stack: start, stop, wait, read their logs.

Children run in their own session, so a Ctrl-C in the terminal reaches only the launcher,
which then stops them in order (services first, the store last). On Linux each child is
also asked to receive SIGTERM when its parent dies, so a killed launcher or test run
leaves nothing behind. That signal follows the *thread* that started the child: start
children from a thread that lives as long as they should (the main thread, normally).
"""
from __future__ import annotations

import ctypes
import os
import signal
import socket
import subprocess
import time
from collections import deque
from pathlib import Path
from typing import Callable, Mapping, Sequence

_PR_SET_PDEATHSIG = 1


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nothing listens on right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def port_open(host: str, port: int, timeout: float = 1.0) -> bool:
    """Whether something accepts TCP connections on host:port."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def _die_with_parent() -> Callable[[], None] | None:
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        prctl = libc.prctl
    except (OSError, AttributeError):  # not Linux
        return None
    parent = os.getpid()

    def preexec() -> None:
        prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
        if os.getppid() != parent:  # the parent died before prctl took effect
            os.kill(os.getpid(), signal.SIGTERM)

    return preexec


def spawn(
    args: Sequence[str],
    *,
    log_path: Path,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    append: bool = False,
) -> subprocess.Popen:
    """Start ``args`` with stdout and stderr going to ``log_path``."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "ab" if append else "wb") as log:
        return subprocess.Popen(
            list(args),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=dict(env) if env is not None else None,
            cwd=cwd,
            start_new_session=True,
            preexec_fn=_die_with_parent(),
        )


def stop(proc: subprocess.Popen, timeout: float = 15.0) -> int | None:
    """SIGTERM, wait up to ``timeout`` seconds, then SIGKILL. Returns the exit code."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
    return proc.returncode


def stop_all(procs: Sequence[subprocess.Popen], timeout: float = 15.0) -> None:
    """Stop several processes at once: SIGTERM to all, one shared deadline, SIGKILL to the rest."""
    running = [p for p in procs if p.poll() is None]
    for proc in running:
        proc.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + timeout
    for proc in running:
        try:
            proc.wait(max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


def tail(path: Path, lines: int = 40) -> str:
    """The last ``lines`` lines of a log file ('' if there is none)."""
    try:
        with open(path, "r", errors="replace") as fh:
            return "".join(deque(fh, maxlen=lines))
    except FileNotFoundError:
        return ""


def wait_until(
    check: Callable[[], bool],
    timeout: float,
    *,
    interval: float = 0.2,
    alive: subprocess.Popen | None = None,
) -> bool:
    """Poll ``check`` until it is true (True) or ``timeout`` passes or ``alive`` exits (False)."""
    deadline = time.monotonic() + timeout
    while True:
        if check():
            return True
        if alive is not None and alive.poll() is not None:
            return False
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)
