"""What the code says a deployment must provide, read from the code itself.

- ``env_reads(service)``: every environment variable the service's process reads, found
  by following the imports of ``services.__main__`` and ``services.<service>.service`` through
  the project's modules and collecting ``shared.config.env(NAME, ...)`` calls, calls of
  local helpers that forward their first argument to ``env`` (``_int``, ``get``), and
  ``os.environ`` / ``os.getenv`` reads.
- ``route_map(service)``: the service's real HTTP routes (its ``@api`` entrypoints), as a
  werkzeug map that can tell whether a path is served.
- ``broker_topology()``: every exchange, queue, binding and dead-letter exchange the
  services declare (``shared.topology``), for checking what a broker account may do.
"""
from __future__ import annotations

import ast
import importlib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from werkzeug.routing import Map, Rule
from werkzeug.exceptions import MethodNotAllowed, NotFound

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("shared", "services")


@dataclass(frozen=True)
class EnvRead:
    name: str
    prefixable: bool  # read through env(..., service): <SERVICE>_<NAME> overrides <NAME>
    where: str


def _module_path(module: str) -> Path | None:
    parts = module.split(".")
    if parts[0] not in PACKAGES:
        return None
    base = ROOT.joinpath(*parts)
    if base.with_suffix(".py").is_file():
        return base.with_suffix(".py")
    if (base / "__init__.py").is_file():
        return base / "__init__.py"
    return None


def _command_line_entry_points(tree: ast.Module) -> list[ast.AST]:
    """A module's own command line: ``def main()`` and ``if __name__ == "__main__":``. What they
    import runs only as ``python -m <module>``, not in a service process that imports the module."""
    found: list[ast.AST] = []
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name == "main":
            found.append(node)
        elif (isinstance(node, ast.If) and isinstance(node.test, ast.Compare)
              and isinstance(node.test.left, ast.Name) and node.test.left.id == "__name__"):
            found.append(node)
    return found


def _imports(module: str, tree: ast.Module, entry_point: bool = False) -> set[str]:
    """The project modules ``module`` imports; its command-line entry point's imports only when
    ``entry_point`` (it is the process's own main module, like services.__main__)."""
    found = set()
    package = module if _module_path(module).name == "__init__.py" else module.rpartition(".")[0]
    skipped = set()
    if not entry_point:
        skipped = {id(n) for entry in _command_line_entry_points(tree) for n in ast.walk(entry)}
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Import):
            for alias in node.names:
                found.add(alias.name)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join(anchor + ([node.module] if node.module else []))
            else:
                base = node.module or ""
            found.add(base)
            for alias in node.names:
                found.add(f"{base}.{alias.name}")  # `from shared import logging` imports a module
    return {name for name in found if _module_path(name) is not None}


def reachable_modules(*roots: str) -> set[str]:
    seen: set[str] = set()
    todo = list(roots)
    while todo:
        module = todo.pop()
        if module in seen or _module_path(module) is None:
            continue
        seen.add(module)
        tree = ast.parse(_module_path(module).read_text())
        todo += sorted(_imports(module, tree, entry_point=module in roots) - seen)
    return seen


def _callee(call: ast.Call) -> str | None:
    if isinstance(call.func, ast.Name):
        return call.func.id
    if isinstance(call.func, ast.Attribute):
        return call.func.attr
    return None


def _passes_service(call: ast.Call) -> bool:
    return len(call.args) >= 3 or any(k.arg == "service" for k in call.keywords)


def _env_reads_in(module: str) -> list[EnvRead]:
    path = _module_path(module)
    tree = ast.parse(path.read_text())
    # Helpers: functions whose first parameter goes on as the name given to env() (or to
    # another helper). Resolved to a fixpoint; value: whether they pass a service along.
    readers: dict[str, bool] = {"env": True, "setting": True}  # shared.config's readers
    changed = True
    functions = [n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))]
    while changed:
        changed = False
        for fn in functions:
            if fn.name in readers or not fn.args.args:
                continue
            first = fn.args.args[0].arg
            for call in (n for n in ast.walk(fn) if isinstance(n, ast.Call)):
                callee = _callee(call)
                if callee in readers and call.args and isinstance(call.args[0], ast.Name) and call.args[0].id == first:
                    # "env" itself only counts as prefixable when given a service
                    readers[fn.name] = _passes_service(call) if callee == "env" else readers[callee]
                    changed = True
                    break
    reads = []
    for call in (n for n in ast.walk(tree) if isinstance(n, ast.Call)):
        callee = _callee(call)
        first = call.args[0] if call.args else None
        if not (isinstance(first, ast.Constant) and isinstance(first.value, str)):
            continue
        where = f"{path.relative_to(ROOT)}:{call.lineno}"
        if callee == "env":
            reads.append(EnvRead(first.value, _passes_service(call), where))
        elif callee in readers and isinstance(call.func, ast.Name):  # a local helper, not x.get()
            reads.append(EnvRead(first.value, readers[callee], where))
        elif callee == "getenv" or (callee == "get" and isinstance(call.func, ast.Attribute)
                                    and isinstance(call.func.value, ast.Attribute)
                                    and call.func.value.attr == "environ"):
            reads.append(EnvRead(first.value, False, where))
    for loop in (n for n in ast.walk(tree) if isinstance(n, ast.For)):  # for name in ("A", "B"): env(name)
        if not (isinstance(loop.target, ast.Name) and isinstance(loop.iter, (ast.Tuple, ast.List))):
            continue
        names = [e.value for e in loop.iter.elts if isinstance(e, ast.Constant) and isinstance(e.value, str)]
        for call in (n for n in ast.walk(loop) if isinstance(n, ast.Call)):
            first = call.args[0] if call.args else None
            if (_callee(call) in readers and isinstance(first, ast.Name) and first.id == loop.target.id):
                prefixable = _passes_service(call) if _callee(call) == "env" else readers[_callee(call)]
                where = f"{path.relative_to(ROOT)}:{call.lineno}"
                reads += [EnvRead(name, prefixable, where) for name in names]
    for node in ast.walk(tree):  # os.environ["NAME"]
        if (isinstance(node, ast.Subscript) and isinstance(node.value, ast.Attribute)
                and node.value.attr == "environ" and isinstance(node.slice, ast.Constant)):
            reads.append(EnvRead(node.slice.value, False, f"{path.relative_to(ROOT)}:{node.lineno}"))
    return reads


@lru_cache(maxsize=None)
def env_reads(service: str) -> dict[str, EnvRead]:
    """Every variable ``python -m services <service>`` reads, by name."""
    reads: dict[str, EnvRead] = {}
    for module in sorted(reachable_modules("services.__main__", f"services.{service}.service")):
        for read in _env_reads_in(module):
            # a read without the service prefix anywhere makes the plain name mandatory
            if read.name in reads and reads[read.name].prefixable and not read.prefixable:
                reads[read.name] = read
            reads.setdefault(read.name, read)
    return reads


@lru_cache(maxsize=None)
def service_class(service: str):
    from services import service_class as find
    return find(service)


@lru_cache(maxsize=None)
def route_map(service: str) -> Map:
    from shared.http import ApiHandler
    cls = service_class(service)
    rules = []
    for attr in dir(cls):
        for entrypoint in getattr(getattr(cls, attr), "nameko_entrypoints", ()):
            if isinstance(entrypoint, ApiHandler):
                rules.append(Rule(entrypoint.url, methods=[entrypoint.method], endpoint=attr))
    return Map(rules)


def serves(service: str, method: str, path: str) -> bool:
    """Whether ``service`` answers ``method path`` with one of its own routes."""
    adapter = route_map(service).bind("localhost")
    try:
        adapter.match(path, method=method)
        return True
    except (NotFound, MethodNotAllowed):
        return False


def documented_paths(service: str) -> set[str]:
    return set(service_class(service).openapi.to_dict()["paths"])


def config_loaders(service: str) -> list:
    """The functions that turn the environment into settings: ``shared.config.load`` and
    every public function of ``services.<service>.config`` callable without arguments
    (``load()``, ``from_env()``, ``bulk_chunk_rows()`` ...). Cached readers are left out:
    calling them here would pin this test's environment for the rest of the session."""
    import inspect

    from shared import config
    loaders = [lambda: config.load(service)]
    if _module_path("shared.auth") is not None:  # token keys: a service refuses to start without
        auth = importlib.import_module("shared.auth")
        loaders.append(lambda: auth.load_config(service))
    if _module_path(f"services.{service}.config") is None:
        return loaders
    module = importlib.import_module(f"services.{service}.config")
    for name, fn in vars(module).items():
        if (name.startswith("_") or not inspect.isfunction(fn) or fn.__module__ != module.__name__
                or hasattr(fn, "cache_clear")):
            continue
        required = [p for p in inspect.signature(fn).parameters.values()
                    if p.default is p.empty and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
        if not required:
            loaders.append(fn)
    return loaders


@dataclass(frozen=True)
class BrokerTopology:
    exchanges: frozenset[str]
    queues: frozenset[str]
    bindings: frozenset[tuple[str, str]]  # (source exchange, destination queue)
    dead_letter_exchanges: frozenset[tuple[str, str]]  # (queue, the exchange it dead-letters to)

    def consumer_queues(self) -> frozenset[str]:
        """Queues holding events to be handled (not retry delay queues)."""
        return frozenset(q for q in self.queues if ".retry." not in q)


@lru_cache(maxsize=None)
def broker_topology() -> BrokerTopology:
    """What ``shared.topology.declare_all`` declares (the same as deploy/rabbitmq/definitions.json)."""
    import services
    from shared import topology

    services.load_subscriptions()
    definitions = topology.definitions()
    return BrokerTopology(
        exchanges=frozenset(e["name"] for e in definitions["exchanges"]),
        queues=frozenset(q["name"] for q in definitions["queues"]),
        bindings=frozenset((b["source"], b["destination"]) for b in definitions["bindings"]),
        dead_letter_exchanges=frozenset((q["name"], q["arguments"]["x-dead-letter-exchange"])
                                        for q in definitions["queues"]
                                        if "x-dead-letter-exchange" in q["arguments"]))
