"""SecantusDB, the MongoDB-wire server used locally and in tests, as a child process.

    with SecantusServer(storage_path=":memory:") as db:
        client = pymongo.MongoClient(db.uri)

See docs/decisions/0001-secantusdb-locally.md for why, and why every URI carries
``retryWrites=false``.
"""
from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path

from deploy.processes import free_port, port_open, spawn, stop, tail, wait_until

__all__ = ["SecantusServer", "SecantusError", "free_port", "mongo_uri", "executable", "ping"]


class SecantusError(RuntimeError):
    pass


def mongo_uri(host: str, port: int) -> str:
    """The connection URI for a SecantusDB on host:port (retryable writes off)."""
    return f"mongodb://{host}:{port}/?retryWrites=false"


def executable() -> str:
    """``secantusd-py``: next to the running interpreter first (the venv), then on PATH."""
    beside = Path(sys.executable).parent / "secantusd-py"
    if beside.exists():
        return str(beside)
    found = shutil.which("secantusd-py")
    if found:
        return found
    raise SecantusError(
        "secantusd-py not found next to the Python interpreter or on PATH: "
        "install the project with `pip install -e '.[test]'` (or `.[store]`), or run `make run`"
    )


def ping(uri: str, timeout: float = 2.0) -> bool:
    """Whether a MongoDB-wire server at ``uri`` answers a ping."""
    import pymongo
    from pymongo.errors import PyMongoError

    client = pymongo.MongoClient(uri, serverSelectionTimeoutMS=int(timeout * 1000), connectTimeoutMS=int(timeout * 1000))
    try:
        client.admin.command("ping")
        return True
    except PyMongoError:
        return False
    finally:
        client.close()


class SecantusServer:
    """One ``secantusd-py`` process.

    ``storage_path`` ':memory:' is a throw-away store (tests); a directory is kept across
    restarts. ``port`` None picks a free one. Its output goes to ``log_path`` (a temporary
    file when None).
    """

    def __init__(
        self,
        *,
        storage_path: str | Path = ":memory:",
        host: str = "127.0.0.1",
        port: int | None = None,
        log_path: str | Path | None = None,
        extra_args: tuple[str, ...] = (),
    ) -> None:
        self.storage_path = str(storage_path)
        self.host = host
        self.port = port
        self.log_path = Path(log_path) if log_path else None
        self.extra_args = tuple(extra_args)
        self.proc = None

    @property
    def uri(self) -> str:
        if self.port is None:
            raise SecantusError("SecantusDB has no port yet: start() it first")
        return mongo_uri(self.host, self.port)

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def start(self, timeout: float = 30.0) -> "SecantusServer":
        """Start the server and wait until it answers a ping (at most ``timeout`` seconds)."""
        if self.running():
            return self
        if self.port is None:
            self.port = free_port(self.host)
        elif port_open(self.host, self.port):
            raise SecantusError(f"cannot start SecantusDB: {self.host}:{self.port} is already in use")
        if self.storage_path != ":memory:":
            Path(self.storage_path).mkdir(parents=True, exist_ok=True)
        if self.log_path is None:
            fd, name = tempfile.mkstemp(prefix="secantus-", suffix=".log")
            os.close(fd)
            self.log_path = Path(name)
        args = [
            executable(),
            "--host", self.host,
            "--port", str(self.port),
            "--storage-path", self.storage_path,
            *self.extra_args,
        ]
        self.proc = spawn(args, log_path=self.log_path)
        if not wait_until(lambda: ping(self.uri, timeout=1.0), timeout, alive=self.proc):
            code = self.proc.poll()
            self.stop()
            state = f"exited with code {code}" if code is not None else f"did not answer within {timeout:.0f}s"
            raise SecantusError(
                f"SecantusDB on {self.host}:{self.port} {state}\n"
                f"--- last lines of {self.log_path} ---\n{tail(self.log_path)}"
            )
        return self

    def stop(self, timeout: float = 15.0) -> None:
        """SIGTERM, then SIGKILL after ``timeout`` seconds."""
        if self.proc is not None:
            stop(self.proc, timeout)

    def __enter__(self) -> "SecantusServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
