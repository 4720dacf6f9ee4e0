"""The shape of the code (issue 18): every service follows the template of
docs/writing-a-service.md, shared/ never imports services/, and nothing imports in a circle.
Reads the code as text (ast); runs none of it."""
from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SERVICES = ("enrollment", "certification", "notification", "reporting")
# The portal is held to the same template: a subscriptions.py with an empty table, a store
# without outbox, pages as its adapters and templates.
DEPLOYABLES = SERVICES + ("portal",)
TEMPLATE = {"__init__.py", "service.py", "routes.py", "usecases.py", "domain.py", "commands.py", "queries.py",
            "schemas.py", "store.py", "config.py", "dependencies.py", "subscriptions.py"}


def _modules() -> dict[str, Path]:
    found = {}
    for top in ("shared", "services", "deploy"):
        for path in (ROOT / top).rglob("*.py"):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            found[".".join(parts)] = path
    return found


def _imports(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """The project modules ``name`` imports (anywhere in the file, functions included)."""
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    deps = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1]) if node.level else ""
            module = ".".join(p for p in (base, node.module or "") if p)
            targets = [module] + [f"{module}.{alias.name}" for alias in node.names]
        else:
            continue
        for target in targets:
            while target and target not in modules:
                target = target.rsplit(".", 1)[0] if "." in target else ""
            if target and target != name:
                deps.add(target)
    return deps


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    return {name: _imports(name, path, modules) for name, path in modules.items()}


@pytest.mark.parametrize("service", DEPLOYABLES)
def test_every_service_has_exactly_the_template_files(service):
    files = {p.name for p in (ROOT / "services" / service).glob("*.py")}
    assert TEMPLATE - files == set(), f"{service} lacks {sorted(TEMPLATE - files)}"
    assert files - TEMPLATE == set(), (f"{service} has files outside the template {sorted(files - TEMPLATE)}: "
                                       "service-specific I/O belongs in adapters/")


def test_shared_never_imports_services_not_even_by_name():
    graph = _graph()
    reaching = sorted(m for m, deps in graph.items() if m.startswith("shared") and
                      any(d == "services" or d.startswith("services.") for d in deps))
    assert reaching == []
    by_name = sorted(str(p.relative_to(ROOT)) for p in (ROOT / "shared").rglob("*.py")
                     if re.search(r"import_module\([^)]*services|[\"']services\.", p.read_text()))
    assert by_name == []


def test_no_module_of_shared_services_or_deploy_imports_in_a_circle():
    graph = _graph()
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    circles: list[list[str]] = []

    def visit(node: str) -> None:  # Tarjan's strongly connected components
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for dep in graph.get(node, ()):
            if dep not in index:
                visit(dep)
                low[node] = min(low[node], low[dep])
            elif dep in on_stack:
                low[node] = min(low[node], index[dep])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                circles.append(sorted(component))

    for module in graph:
        if module not in index:
            visit(module)
    assert circles == []


@pytest.mark.parametrize("service", DEPLOYABLES)
def test_the_subscription_table_and_the_handlers_agree(service):
    import importlib

    import services
    from services import service_class
    from shared import topology

    services.load_subscriptions()
    importlib.import_module(f"services.{service}.subscriptions")
    assert topology.handled_by(service_class(service)) == topology.subscriptions_of(service)


def test_the_portal_consumes_and_publishes_nothing():
    from services import service_class
    from services.portal import subscriptions
    from shared import topology

    portal = service_class("portal")
    assert subscriptions.SUBSCRIPTIONS == () and topology.handled_by(portal) == []
    assert portal.store.relay is None  # no outbox: nothing to publish
    assert not any(hasattr(portal, name) for name in ("asyncapi_json", "replay_history", "access_log_http"))
