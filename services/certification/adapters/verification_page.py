"""The public verification page (HTML, Bahasa Indonesia), rendered with Jinja2."""
from __future__ import annotations

from datetime import datetime
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, select_autoescape

from services.certification import domain
from shared.timefmt import wib

_env = Environment(loader=FileSystemLoader(Path(__file__).parent.parent / "templates"),
                   autoescape=select_autoescape(["html"]))
_env.filters["tanggal"] = domain.date_id


def _checked_at(now: datetime) -> str:
    checked = wib(now)
    return f"{domain.date_id(checked.date())} {checked:%H.%M}"


def render_page(view: dict, code: str, now: datetime) -> str:
    """The page of a verification ``view`` (``domain.verification_view``) for ``code`` as typed."""
    return _env.get_template("verify.html").render(view=view, code_display=code[:40], checked_at=_checked_at(now))


def render_invalid_code_page(max_chars: int, now: datetime) -> str:
    """The page for a code too long to be one (the caller answers it with a 422); the code
    itself is not shown back."""
    return _env.get_template("verify.html").render(
        view={"status": "invalid", "status_label": "Kode tidak valid"}, code_display="", max_chars=max_chars,
        checked_at=_checked_at(now))
