"""The local stack: RabbitMQ, SecantusDB, the four services and the portal as separate processes.

    python -m deploy.launcher [run] [--demo]      (what `make run` does)

``Stack`` is the same thing as a class, for end-to-end tests (the four services by default;
``services=DEPLOYABLES`` adds the portal, started once the four answer):

    with Stack(mongo_uri=None, ports=free_ports(), log_dir=tmp_path) as stack:
        requests.get(stack.url("enrollment") + "/programmes")
        stack.kill("certification"); stack.restart("certification")
"""
from __future__ import annotations

import argparse
import importlib.util
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable, Iterable, Mapping

import requests

import services
from deploy import rabbit
from deploy.processes import free_port, port_open, spawn, stop, stop_all, tail, wait_until
from deploy.secantus import SecantusError, SecantusServer
from shared import auth, broker_security, store_security
from shared.config import DEFAULT_AMQP_URI, DEFAULT_PORTS, DEPLOYABLES, PORTAL, SERVICES

ROOT = Path(__file__).resolve().parent.parent
DATA_DIR = ROOT / ".data"
DEFAULT_DB_PREFIX = "asn_"
# Generated on first run for local use only; production mounts its key from a Secret.
DEV_AUTH_SECRET = DATA_DIR / "auth-secret"
# Broker and store passwords of the services when run with --broker-users/--store-auth.
DEV_CREDENTIALS = DATA_DIR / "credentials.json"
_AUTH_KEYS = ("AUTH_SECRET", "AUTH_SECRET_FILE", "AUTH_PUBLIC_KEY_FILE")
_LINK_KEYS = ("ENROLLMENT_APPROVAL_LINK_SECRET", "ENROLLMENT_APPROVAL_LINK_SECRET_FILE", "APPROVAL_LINK_SECRET",
              "APPROVAL_LINK_SECRET_FILE")
RUNNER_MODULE = "services"
# Settings the stack decides for its services; the same names inherited from the launcher's
# environment (generic or per service) would point a service elsewhere.
_MANAGED = ("AMQP_URI", "MONGO_URI", "MONGO_DB", "MONGO_DB_PREFIX", "HTTP_ADDRESS")


class StackError(RuntimeError):
    pass


def free_ports(services: Iterable[str] = DEPLOYABLES, host: str = "127.0.0.1") -> dict[str, int]:
    """A free HTTP port for each service and the portal (for tests running beside a `make run`)."""
    return {service: free_port(host) for service in services}


class Stack:
    """RabbitMQ (ensured), a store (embedded SecantusDB unless ``mongo_uri`` is given), and the services.

    ``ports`` maps service to HTTP port (default 8001-8004). ``secantus_storage`` is where an
    embedded SecantusDB keeps its data (':memory:' by default; a directory survives restarts),
    ``secantus_port`` its port (None: a free one). ``extra_env`` is added to every service's
    environment last, so it can override anything. Logs go to ``log_dir/<service>.log``.
    Without a token key in the environment the services verify tokens with a development
    secret kept in ``auth_secret_file`` (created on first use); ``auth_headers()`` signs with it.
    ``broker_users``: each service connects as its own RabbitMQ user with only its permissions
    (shared.broker_security); ``store_auth``: the embedded SecantusDB runs with ``--auth`` and each
    service connects as a user of its own database only (needs a storage directory: the users
    are created, then the server restarts with authentication). Passwords are generated into
    ``credentials_file`` on first use.
    """

    def __init__(
        self,
        *,
        mongo_uri: str | None = None,
        amqp_uri: str = DEFAULT_AMQP_URI,
        db_prefix: str = DEFAULT_DB_PREFIX,
        services: Iterable[str] = SERVICES,
        ports: Mapping[str, int] | None = None,
        host: str = "127.0.0.1",
        log_dir: str | Path = DATA_DIR / "logs",
        secantus_storage: str | Path = ":memory:",
        secantus_port: int | None = None,
        extra_env: Mapping[str, str] | None = None,
        auth_secret_file: str | Path = DEV_AUTH_SECRET,
        broker_users: bool = False,
        store_auth: bool = False,
        credentials_file: str | Path = DEV_CREDENTIALS,
        ready_timeout: float = 60.0,
        declare_topology: bool = True,
        python: str = sys.executable,
        command: Callable[[str, Mapping[str, str]], list[str]] | None = None,
    ) -> None:
        self.services = tuple(services)
        unknown = set(self.services) - set(DEPLOYABLES)
        if unknown:
            raise StackError(f"unknown service(s) {sorted(unknown)}; expected some of {DEPLOYABLES}")
        self.mongo_uri = mongo_uri
        self.amqp_uri = amqp_uri
        self.db_prefix = db_prefix
        self.host = host
        self.ports = {s: (ports or {}).get(s, DEFAULT_PORTS[s]) for s in DEPLOYABLES}
        self.log_dir = Path(log_dir)
        self.extra_env = dict(extra_env or {})
        self.auth_secret_file = Path(auth_secret_file)
        self.broker_users = broker_users
        self.store_auth = store_auth
        self.credentials_file = Path(credentials_file)
        if store_auth and mongo_uri is None and str(secantus_storage) == ":memory:":
            raise StackError("store_auth needs a SecantusDB storage directory (users survive its restart)")
        self.ready_timeout = ready_timeout
        self.declare_topology = declare_topology
        self.python = python
        # How a service is started, from its name and environment; None: ``python -m services
        # <name>`` from this checkout (deploy.image.run_command: from the platform's image).
        self.command = command
        self.secantus: SecantusServer | None = None
        if mongo_uri is None:
            self.secantus = SecantusServer(
                storage_path=secantus_storage, host=host, port=secantus_port, log_path=self.log_dir / "secantus.log"
            )
        self.procs: dict[str, subprocess.Popen] = {}

    # --- where things are ------------------------------------------------------------

    def url(self, service: str) -> str:
        """The base URL of ``service``'s HTTP API, e.g. http://127.0.0.1:8001."""
        return f"http://{self.host}:{self.ports[service]}"

    def log_path(self, service: str) -> Path:
        return self.log_dir / f"{service}.log"

    def pid(self, service: str) -> int | None:
        proc = self.procs.get(service)
        return proc.pid if proc is not None and proc.poll() is None else None

    def running(self, service: str) -> bool:
        return self.pid(service) is not None

    @property
    def store_uri(self) -> str:
        return self.secantus.uri if self.secantus is not None else self.mongo_uri

    def env_for(self, service: str) -> dict[str, str]:
        """The environment ``service`` runs with."""
        managed = set(_MANAGED) | {f"{s.upper()}_{name}" for s in DEPLOYABLES for name in _MANAGED}
        env = {k: v for k, v in os.environ.items() if k not in managed}
        env.update(
            AMQP_URI=self._amqp_uri_of(service),
            MONGO_URI=self._store_uri_of(service),
            MONGO_DB_PREFIX=self.db_prefix,
            PYTHONUNBUFFERED="1",
        )
        # Every service learns every address, so a service can link to or call another.
        env.update({f"{s.upper()}_HTTP_ADDRESS": f"{self.host}:{self.ports[s]}" for s in DEPLOYABLES})
        env.setdefault("PUBLIC_BASE_URL", self.url("certification"))
        # where people open the portal (its sign-in callback, the links in messages)
        env.setdefault("PORTAL_PUBLIC_URL", self.url(PORTAL))
        if not any(env.get(k) or self.extra_env.get(k) for k in _AUTH_KEYS):
            env["AUTH_SECRET_FILE"] = str(auth.ensure_secret_file(self.auth_secret_file))
        # the key of supervisors' approval links (ADR 0092), generated like the token secret
        if service == "enrollment" and not any(env.get(k) or self.extra_env.get(k) for k in _LINK_KEYS):
            env["ENROLLMENT_APPROVAL_LINK_SECRET_FILE"] = str(
                auth.ensure_secret_file(self.auth_secret_file.with_name("approval-link-secret")))
        if self.broker_users:
            env["BROKER_OPERATOR_USERS"] = ",".join(self.operator_users())
        # The services import the project from the repository root, installed or not.
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH")) if p)
        env.update(self.extra_env)
        return env

    def credentials(self) -> dict:
        """The services' broker and store passwords, generated on first use (file mode 600)."""
        import json

        secret = lambda: auth.generate_secret()[:32]  # noqa: E731
        data = json.loads(self.credentials_file.read_text()) if self.credentials_file.exists() else {}
        broker, store = data.setdefault("broker", {}), data.setdefault("store", {})
        missing = [s for s in SERVICES if s not in broker] + [s for s in ("admin", *DEPLOYABLES) if s not in store]
        if missing:  # a first run, or a file from before the portal
            for s in SERVICES:
                broker.setdefault(s, secret())
            for s in ("admin", *DEPLOYABLES):
                store.setdefault(s, secret())
            self.credentials_file.parent.mkdir(parents=True, exist_ok=True)
            self.credentials_file.touch(mode=0o600)
            self.credentials_file.write_text(json.dumps(data, indent=2))
        return data

    def operator_users(self) -> list[str]:
        """With ``broker_users``: the broker users whose ``asn dlq replay`` the services trust to
        keep the publisher they stamped on a dead letter: the administrator the stack itself
        connects as (``amqp_uri``, guest locally; `asn` run beside the stack uses it too),
        after any ``BROKER_OPERATOR_USERS`` already set. Others' replays are dead-lettered again."""
        configured = [u.strip() for u in os.environ.get("BROKER_OPERATOR_USERS", "").split(",") if u.strip()]
        return list(dict.fromkeys([*configured, broker_security.user_of(self.amqp_uri)]))

    def _amqp_uri_of(self, service: str) -> str:
        if not self.broker_users or service not in SERVICES:  # the portal never connects to the broker
            return self.amqp_uri
        from urllib.parse import quote, urlsplit, urlunsplit

        url = urlsplit(self.amqp_uri)
        user = quote(broker_security.service_user(service), safe="")
        password = quote(self.credentials()["broker"][service], safe="")
        host = url.netloc.rsplit("@", 1)[-1]
        return urlunsplit((url.scheme, f"{user}:{password}@{host}", url.path, url.query, ""))

    def _store_uri_of(self, service: str) -> str:
        if not self.store_auth:
            return self.store_uri
        return store_security.uri_with_user(self.store_uri, store_security.service_user(service),
                                            self.credentials()["store"][service])

    def _secure_store(self) -> None:
        """Create the store users, then (embedded SecantusDB) restart it with --auth."""
        import pymongo

        passwords = self.credentials()["store"]
        if self.secantus is not None:
            client = pymongo.MongoClient(self.secantus.uri, serverSelectionTimeoutMS=5000)
            try:
                client.admin.command("ping")
                store_security.provision(client, passwords, self.db_prefix)
            except Exception:  # noqa: BLE001 - already running with --auth from a previous run
                client.close()
                client = pymongo.MongoClient(store_security.uri_with_user(
                    self.secantus.uri, store_security.ADMIN_USER, passwords["admin"]), serverSelectionTimeoutMS=5000)
                store_security.provision(client, passwords, self.db_prefix)
            finally:
                client.close()
            self.secantus.stop()
            self.secantus.extra_args = (*self.secantus.extra_args, "--auth")
            self.secantus.proc = None
            self.secantus.start()
        else:
            client = pymongo.MongoClient(self.mongo_uri, serverSelectionTimeoutMS=5000)
            try:
                store_security.provision(client, passwords, self.db_prefix)
            finally:
                client.close()

    def _apply_broker_users(self) -> None:
        from urllib.parse import unquote, urlsplit

        rabbit.ensure_management(self.amqp_uri)
        vhost = unquote(urlsplit(self.amqp_uri).path[1:]) or "/"
        services.load_subscriptions()  # the permissions follow what each service consumes
        broker_security.apply(rabbit.management_url(self.amqp_uri), rabbit._credentials(self.amqp_uri), vhost,
                              self.credentials()["broker"])

    def auth_headers(self, role: str = "admin", agency: str | None = None, nip: str | None = None,
                     ttl_s: int = 8 * 3600) -> dict[str, str]:
        """``Authorization`` header of a token the stack's services accept (admin by default)."""
        config = auth.load_config(self.services[0], require_signing=True, environ=self.env_for(self.services[0]))
        token = auth.issue_token(config, role=role, agency=agency, nip=nip, ttl_s=ttl_s)
        return {"Authorization": f"Bearer {token}"}

    # --- lifecycle -------------------------------------------------------------------

    def start(self) -> "Stack":
        """Ensure RabbitMQ, start the store, declare the topology, start every service and wait until ready."""
        try:
            rabbit.ensure_running(self.amqp_uri)
            if self.secantus is not None:
                self.secantus.start()
            if self.store_auth:
                self._secure_store()
            if self.declare_topology:
                self._declare_topology()
            if self.broker_users:
                self._apply_broker_users()
            # the portal last: it is ready once the services it calls answer
            for group in ([s for s in self.services if s != PORTAL], [s for s in self.services if s == PORTAL]):
                for service in group:
                    self._spawn(service, append=False)
                for service in group:
                    self.wait_ready(service)
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self, timeout: float = 20.0) -> None:
        """SIGTERM to every service, SIGKILL to those still up after ``timeout`` s, then stop the store."""
        stop_all(list(self.procs.values()), timeout)
        if self.secantus is not None:
            self.secantus.stop()

    def kill(self, service: str) -> None:
        """SIGKILL ``service``: a crash, no graceful shutdown."""
        proc = self._proc(service)
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)

    def terminate(self, service: str, timeout: float = 20.0) -> int | None:
        """Stop ``service`` gracefully (SIGTERM); returns its exit code."""
        return stop(self._proc(service), timeout)

    def restart(self, service: str) -> None:
        """Stop ``service`` gracefully if it runs, start it again and wait until it is ready."""
        if self.running(service):
            self.terminate(service)
        self._spawn(service, append=True)
        self.wait_ready(service)

    def ready(self, service: str) -> bool:
        try:
            return requests.get(self.url(service) + "/health/ready", timeout=2).status_code == 200
        except requests.RequestException:
            return False

    def wait_ready(self, service: str, timeout: float | None = None) -> None:
        """Wait until ``service`` answers 200 on /health/ready; raise with its log's tail if it does not."""
        timeout = self.ready_timeout if timeout is None else timeout
        proc = self._proc(service)
        if wait_until(lambda: self.ready(service), timeout, alive=proc):
            return
        code = proc.poll()
        state = f"exited with code {code}" if code is not None else f"was not ready within {timeout:.0f}s"
        raise StackError(
            f"{service} ({self.url(service)}/health/ready) {state}\n"
            f"--- last lines of {self.log_path(service)} ---\n{tail(self.log_path(service))}"
        )

    def __enter__(self) -> "Stack":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # --- internals -------------------------------------------------------------------

    def _proc(self, service: str) -> subprocess.Popen:
        if service not in self.procs:
            raise StackError(f"{service} was never started in this stack (services: {', '.join(self.services)})")
        return self.procs[service]

    def _declare_topology(self) -> None:
        # In a child with the services' environment, so it reads the settings they will read.
        code = ("import sys, services; services.load_subscriptions(); "
                "from shared.topology import declare_all; declare_all(sys.argv[1])")
        result = subprocess.run(
            [self.python, "-c", code, self.amqp_uri],
            env=self.env_for(self.services[0]), cwd=ROOT, capture_output=True, text=True, timeout=120,
        )
        if result.returncode != 0:
            output = (result.stderr or result.stdout).strip()
            if "No module named 'shared.topology'" in output:
                raise StackError("shared/topology.py is missing: it declares the exchanges and queues the services use")
            raise StackError(f"declaring the RabbitMQ topology failed:\n{output[-4000:]}")

    def _spawn(self, service: str, append: bool) -> None:
        port = self.ports[service]
        if port_open(self.host, port):
            raise StackError(
                f"cannot start {service}: {self.host}:{port} is already in use "
                f"(another `make run`? set {service.upper()}_HTTP_ADDRESS or stop it)"
            )
        log = self.log_path(service)
        if append:
            with open(log, "a") as fh:
                fh.write(f"\n--- restarted at {time.strftime('%Y-%m-%d %H:%M:%S')} ---\n")
        env = self.env_for(service)
        args = self.command(service, env) if self.command else [self.python, "-m", RUNNER_MODULE, service]
        self.procs[service] = spawn(args, log_path=log, env=env, cwd=ROOT, append=append)


# --- command line ------------------------------------------------------------------------


def _address_port(service: str) -> int:
    address = os.environ.get(f"{service.upper()}_HTTP_ADDRESS")
    return int(address.rsplit(":", 1)[1]) if address else DEFAULT_PORTS[service]


def _print_table(stack: Stack, management: str | None) -> None:
    rows = [("service", "url", "pid", "log")]
    for service in stack.services:
        rows.append((service, stack.url(service), str(stack.pid(service)), str(stack.log_path(service))))
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    print()
    for row in rows:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip())
    print()
    if stack.secantus is not None:
        where = stack.secantus.storage_path
        print(f"store   {stack.store_uri}  (SecantusDB pid {stack.secantus.pid}, data in {where}, log {stack.secantus.log_path})")
    else:
        print(f"store   {stack.store_uri}")
    print(f"broker  {stack.amqp_uri}" + (f"  (management {management}, guest/guest)" if management else ""))
    if stack.broker_users:
        print(f"broker users  {', '.join(broker_security.service_user(s) for s in stack.services)} "
              f"(passwords in {stack.credentials_file}); `asn dlq replay` trusted from "
              f"{', '.join(stack.operator_users())}")
    print(f"databases  {', '.join(stack.db_prefix + s for s in stack.services)}")
    if PORTAL in stack.services:
        print(f"portal  {stack.url(PORTAL)}  (open it in a browser; development sign-in at {stack.url(PORTAL)}/masuk)")
    print("API tokens `python -m deploy.asn token issue --role admin` (development secret in "
          f"{stack.auth_secret_file}); the API answers 401 without one")
    print("\nCtrl-C stops everything.", flush=True)


def _run_demo(stack: Stack) -> None:
    if importlib.util.find_spec("deploy.demo") is None:
        print("--demo: there is no demo scenario yet (deploy/demo.py)")
        return
    importlib.import_module("deploy.demo").run(stack)


def _watch(stack: Stack) -> None:
    """Block until a signal; say so once when a service exits by itself."""
    reported: set[str] = set()
    while True:
        for service, proc in stack.procs.items():
            if proc.poll() is not None and service not in reported:
                reported.add(service)
                print(f"{service} exited with code {proc.returncode}; see {stack.log_path(service)}", flush=True)
        time.sleep(1)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m deploy.launcher", description="Run the whole platform locally.")
    parser.add_argument("command", nargs="?", choices=["run"], default="run", help="run the stack (the default)")
    parser.add_argument("--demo", action="store_true", help="play the demo scenario once the stack is up")
    parser.add_argument("--mongo-uri", default=os.environ.get("MONGO_URI"),
                        help="use this MongoDB instead of starting SecantusDB (default: $MONGO_URI)")
    parser.add_argument("--amqp-uri", default=os.environ.get("AMQP_URI") or DEFAULT_AMQP_URI,
                        help="the broker (default: $AMQP_URI or the local RabbitMQ)")
    parser.add_argument("--db-prefix", default=os.environ.get("MONGO_DB_PREFIX") or DEFAULT_DB_PREFIX)
    parser.add_argument("--data-dir", type=Path, default=DATA_DIR,
                        help="SecantusDB data (kept across runs) and logs (default: .data)")
    parser.add_argument("--secantus-port", type=int, default=27017,
                        help="port of the embedded SecantusDB (a free one if it is taken)")
    parser.add_argument("--broker-users", action="store_true",
                        help="each service connects to RabbitMQ as its own user with only its permissions; "
                             "`asn dlq replay` stays trusted as the administrator of --amqp-uri")
    parser.add_argument("--store-auth", action="store_true",
                        help="run SecantusDB with --auth; each service's user reaches only its own database")
    args = parser.parse_args(argv)

    secantus_port = args.secantus_port if not port_open("127.0.0.1", args.secantus_port) else None
    stack = Stack(
        mongo_uri=args.mongo_uri,
        amqp_uri=args.amqp_uri,
        db_prefix=args.db_prefix,
        services=DEPLOYABLES,
        ports={s: _address_port(s) for s in DEPLOYABLES},
        log_dir=args.data_dir / "logs",
        secantus_storage=args.data_dir / "secantus",
        secantus_port=secantus_port,
        auth_secret_file=args.data_dir / "auth-secret",
        broker_users=args.broker_users,
        store_auth=args.store_auth,
        credentials_file=args.data_dir / "credentials.json",
    )

    def on_signal(signum, frame):
        raise KeyboardInterrupt

    # SIGINT too: a shell starting us in the background would otherwise leave it ignored.
    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    print("starting the stack ...", flush=True)
    try:
        stack.start()
        management = None
        try:
            rabbit.ensure_management(args.amqp_uri, timeout=30)
            management = rabbit.management_url(args.amqp_uri)
        except rabbit.RabbitError as exc:
            print(f"(RabbitMQ management API unavailable: {exc})")
        _print_table(stack, management)
        if args.demo:
            _run_demo(stack)
        _watch(stack)
    except KeyboardInterrupt:
        print("\nstopping ...", flush=True)
    except (StackError, SecantusError, rabbit.RabbitError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not cut the shutdown short
        stack.stop()
    print("stopped.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
