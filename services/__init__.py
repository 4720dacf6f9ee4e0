"""The four services, one folder each with the same template (docs/writing-a-service.md).

``load_subscriptions()`` loads every service's subscription table, for the code that derives
the broker topology of the whole platform (the launcher, the definitions, the CLI);
``python -m services <name>`` runs one service.
"""
from __future__ import annotations

import importlib

NAMES = ("enrollment", "certification", "notification", "reporting")


def load_subscriptions() -> None:
    """Import each service's ``subscriptions`` module (light: no nameko service class)."""
    for name in NAMES:
        importlib.import_module(f"services.{name}.subscriptions")


def service_class(name: str, module: str | None = None) -> type:
    """The nameko service class named ``name`` (from ``services.<name>.service`` or ``module``)."""
    module_obj = importlib.import_module(module or f"services.{name}.service")
    for obj in vars(module_obj).values():
        if isinstance(obj, type) and getattr(obj, "name", None) == name:
            return obj
    raise LookupError(f"{module_obj.__name__} defines no nameko service named {name!r}")
