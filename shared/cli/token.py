"""``asn token issue --role R [--agency A] [--nip N] [--ttl 8h]``: a signed API token; and the
admin token the other commands use for the services' admin routes."""
from __future__ import annotations

import os
from pathlib import Path

from shared.cli.common import EXIT_OK, UsageError, emit_json
from shared.config import env

KEY_VARIABLES = ("AUTH_SECRET", "AUTH_SECRET_FILE", "AUTH_PRIVATE_KEY_FILE")
# The development secret `make run` creates (deploy/launcher.py), at the project's root.
DEV_SECRET = Path(__file__).resolve().parents[2] / ".data" / "auth-secret"


def _signing_environ(secret_file: str | None, missing: str) -> dict | None:
    """None when the services' own variables name the signing key; otherwise the environment
    with ``secret_file`` or the development secret as AUTH_SECRET_FILE (UsageError ``missing``
    when there is neither)."""
    if any(env(k) for k in KEY_VARIABLES):
        return None
    secret = secret_file or (DEV_SECRET if DEV_SECRET.exists() else None)
    if secret is None:
        raise UsageError(missing)
    return {**os.environ, "AUTH_SECRET_FILE": str(secret)}


def admin_token(token: str | None) -> str:
    """The bearer token for admin routes: ``--token``, ``ASN_TOKEN``, or one minted for five
    minutes with the services' signing key (locally the development secret of `make run`)."""
    from shared import auth

    token = token or env("ASN_TOKEN")
    if token:
        return token
    environ = _signing_environ(None, "no admin token: pass --token or set ASN_TOKEN (or AUTH_SECRET_FILE to mint one)")
    try:
        config = auth.load_config(require_signing=True, environ=environ)
        return auth.issue_token(config, role=auth.ADMIN, subject="asn-cli", ttl_s=300)
    except (ValueError, auth.AuthConfigError) as exc:
        raise UsageError(str(exc)) from None


def cmd_token_issue(args) -> int:
    """Print a signed bearer token (the HTTP API's credential) for one role.

    The key comes from the services' variables (AUTH_SECRET(_FILE), or AUTH_ALGORITHM=EdDSA with
    AUTH_PRIVATE_KEY_FILE); locally, from the development secret `make run` created."""
    from shared import auth

    environ = _signing_environ(args.secret_file, "no signing key: set AUTH_SECRET_FILE (or run `make run` once "
                                                 "for a development secret)")
    try:
        ttl = auth.parse_ttl(args.ttl)
        config = auth.load_config(require_signing=True, environ=environ)
        token = auth.issue_token(config, role=args.role, agency=args.agency, nip=args.nip, subject=args.subject,
                                 ttl_s=ttl)
    except (ValueError, auth.AuthConfigError) as exc:
        raise UsageError(str(exc)) from None
    if args.json:
        emit_json({"token": token, "role": args.role, "agency": args.agency and args.agency.upper(),
                   "nip": args.nip, "expires_in_s": ttl})
    else:
        print(token)
    return EXIT_OK


def register(commands, common) -> None:
    token = commands.add_parser("token", help="API tokens")
    token_commands = token.add_subparsers(dest="token_command", required=True)
    issue = token_commands.add_parser("issue", parents=[common], help="print a signed bearer token",
                                      description="e.g. asn token issue --role operator --agency DISKOMINFO --ttl 8h")
    issue.add_argument("--role", required=True, choices=("admin", "operator", "asn"))
    issue.add_argument("--agency", help="OPD code (required for operator)")
    issue.add_argument("--nip", help="the ASN's NIP (required for asn)")
    issue.add_argument("--subject", help="who the token is for, e.g. a user name (recorded on actions)")
    issue.add_argument("--ttl", default="8h", help="lifetime: 30m, 8h, 7d (at most 30d; default 8h)")
    issue.add_argument("--secret-file", help="HS256 secret file when AUTH_SECRET(_FILE) is not set")
    issue.set_defaults(func=cmd_token_issue)
