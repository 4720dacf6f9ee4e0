"""Per-service MongoDB users: each service's credentials reach its own database only.

``provision`` creates (or updates) an administrator and one user per service with the
``readWrite`` role on ``<prefix><service>``; with the server then run with authentication
(MongoDB ``--auth``/``security.authorization``, SecantusDB ``--auth``), a service cannot read
another service's database. Passwords come from Secrets (production) or a local file the
launcher generates; never from the repository.
"""
from __future__ import annotations

from urllib.parse import quote, urlsplit, urlunsplit

from pymongo import MongoClient
from pymongo.errors import OperationFailure

from shared.config import DEPLOYABLES

ADMIN_USER = "asn-admin"


def service_user(service: str) -> str:
    return f"asn-{service}"


def _upsert_user(admin_db, name: str, password: str, roles: list) -> None:
    try:
        admin_db.command("createUser", name, pwd=password, roles=roles)
    except OperationFailure as exc:
        if exc.code != 51003 and "already exists" not in str(exc):
            raise
        admin_db.command("updateUser", name, pwd=password, roles=roles)


def provision(client: MongoClient, passwords: dict[str, str], db_prefix: str) -> None:
    """``passwords``: {"admin": ..., "<service>": ...}. Users live in the ``admin`` database."""
    admin_db = client.admin
    _upsert_user(admin_db, ADMIN_USER, passwords["admin"], [{"role": "root", "db": "admin"}])
    # the portal too (its sessions live in a database of its own) when given its password
    for service in (s for s in DEPLOYABLES if s in passwords):
        _upsert_user(admin_db, service_user(service), passwords[service],
                     [{"role": "readWrite", "db": f"{db_prefix}{service}"}])


def uri_with_user(uri: str, user: str, password: str) -> str:
    """``uri`` authenticating as ``user`` (against the admin database)."""
    url = urlsplit(uri)
    host = url.netloc.rsplit("@", 1)[-1]
    query = "&".join(p for p in (url.query, "authSource=admin") if p)
    return urlunsplit((url.scheme, f"{quote(user, safe='')}:{quote(password, safe='')}@{host}", url.path or "/",
                       query, ""))
