"""The portal's nameko dependencies in one place: the runtime (configuration and clock), the
client of the four services' APIs and the OpenID Connect client, one of each per container
(their connection pools and the provider's metadata are shared by the workers)."""
from __future__ import annotations

import weakref

from nameko.extensions import DependencyProvider

from shared.config import Settings, settings_of
from shared.runtime import Runtime
from services.portal import config
from services.portal.adapters.clients import ServiceClient
from services.portal.adapters.oidc import OidcClient

_loaded: dict[int, tuple[weakref.ref, config.PortalConfig]] = {}


def config_of(settings: Settings) -> config.PortalConfig:
    """The configuration of the container started with ``settings``, loaded once."""
    ref, loaded = _loaded.get(id(settings), (None, None))
    if ref is None or ref() is not settings:
        loaded = config.load(settings)
        _loaded[id(settings)] = (weakref.ref(settings), loaded)
    return loaded


runtime = Runtime(config_of)


class Clients(DependencyProvider):
    """``ServiceClient`` of the container: tokens minted per call for the signed-in person."""

    def setup(self):
        loaded = config_of(settings_of(self.container))
        self.client = ServiceClient(loaded.service_urls, loaded.auth, loaded.call_timeout_s, loaded.token_ttl_s)

    def get_dependency(self, worker_ctx) -> ServiceClient:
        return self.client


class Oidc(DependencyProvider):
    """The OpenID Connect client of the container (the provider's metadata kept an hour)."""

    def setup(self):
        loaded = config_of(settings_of(self.container))
        self.client = OidcClient(loaded.oidc, loaded.redirect_uri, loaded.call_timeout_s)

    def get_dependency(self, worker_ctx) -> OidcClient:
        return self.client


clients = Clients()
oidc = Oidc()
