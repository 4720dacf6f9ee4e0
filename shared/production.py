"""Production mode: a service refuses to start on development keys, naming the setting.

``ASN_ENV=production`` (the Kubernetes production overlay sets it) turns every check of
this module on; anything else is development, where ``make run`` generates its own keys
and needs no configuration. A development key is one that is public (a seed in the code, a
value committed in a manifest) or marked ``dev-`` by the tools that generate them.
"""
from __future__ import annotations

from shared.config import env

ENV_VARIABLE = "ASN_ENV"
PRODUCTION = "production"
# Generated development secrets and the committed development manifests start with this.
DEV_MARKER = "dev-"


class ProductionConfigError(RuntimeError):
    """A setting a production service must not run with."""


def is_production(service: str | None = None) -> bool:
    return (env(ENV_VARIABLE, "development", service) or "").strip().lower() == PRODUCTION


def require(ok: bool, setting: str, reason: str, service: str | None = None) -> None:
    """In production, refuse to go on unless ``ok``; the message names ``setting`` and why."""
    if not ok and is_production(service):
        raise ProductionConfigError(
            f"{setting}: {reason}; {ENV_VARIABLE}={PRODUCTION} refuses to start with development settings")


def is_dev_secret(value: str | None) -> bool:
    """Whether ``value`` is marked as a development secret (or is empty)."""
    return not value or value.strip().startswith(DEV_MARKER)
