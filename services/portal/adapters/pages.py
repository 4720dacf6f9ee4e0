"""Page rendering: Jinja2 templates (Bahasa Indonesia, times in WIB) into a werkzeug Response.

    render("katalog.html", visit=visit, programmes=...)      -> 200 text/html
    render("error.html", status=404, title=..., message=...)

Every page extends templates/base.html (landmarks, the menu by role, the flash message);
``visit`` (usecases.Visit) gives the signed-in person, their CSRF token and the menu.
"""
from __future__ import annotations

import re
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup, escape
from werkzeug.wrappers import Response

from shared import timefmt
from services.portal import domain

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"
STATIC = Path(__file__).resolve().parent.parent / "static"
_URL = re.compile(r"https?://[^\s<>\"']+")


def _when(value, kind: str = "date") -> str:
    moment = timefmt.parse_time(value) if isinstance(value, str) else value
    if moment is None:
        return "-"
    if kind == "stamp":
        return timefmt.stamp_id(moment)
    return timefmt.long_date_id(moment)


def _date(value) -> str:
    """A date (``2026-03-05``) or a time (WIB date) in Indonesian: ``5 Maret 2026``."""
    if isinstance(value, str) and len(value) == 10:
        from datetime import date
        try:
            return timefmt.long_date_id(date.fromisoformat(value))
        except ValueError:
            return value
    return _when(value)


def _linkify(text: str | None) -> Markup:
    """Plain text with its web addresses as links (everything else escaped)."""
    if not text:
        return Markup("")
    out, last = [], 0
    for match in _URL.finditer(text):
        out.append(escape(text[last:match.start()]))
        url = match.group(0).rstrip(".,;)")
        out.append(Markup('<a href="{0}">{0}</a>').format(url))
        out.append(escape(match.group(0)[len(url):]))
        last = match.end()
    out.append(escape(text[last:]))
    return Markup("").join(out)


_ENV = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(("html",)),
                   trim_blocks=True, lstrip_blocks=True)
_ENV.filters.update({
    "tanggal": _date,
    "waktu": lambda v: _when(v, "stamp"),
    "num": lambda v, digits=1: "-" if v is None else timefmt.number_id(v, digits),
    "jenis": lambda v: domain.KIND_LABELS.get(v, v or "-"),
    "kompetensi": lambda v: domain.COMPETENCY_LABELS.get(v, (v or "-").replace("_", " ")),
    "status_pendaftaran": lambda v: domain.ENROLMENT_LABELS.get(v, v or "-"),
    "status_sertifikat": lambda v: domain.CERTIFICATE_LABELS.get(v, v or "-"),
    "linkify": _linkify,
})
_ENV.globals.update({"kind_labels": domain.KIND_LABELS, "competency_labels": domain.COMPETENCY_LABELS,
                     "csrf_field": domain.CSRF_FIELD})


def html(page: str, **context) -> str:
    return _ENV.get_template(page).render(**context)


def render(page: str, *, status: int = 200, headers: dict | None = None, **context) -> Response:
    """The page as an HTML answer (the security headers are added by adapters.web)."""
    return Response(html(page, **context), status=status, headers=headers or {},
                    mimetype="text/html")


def redirect(location: str, status: int = 303, headers: dict | None = None) -> Response:
    """After a form (POST -> redirect -> GET), or to the sign-in page."""
    return Response("", status=status, headers={"Location": location, **(headers or {})})


def static_file(name: str) -> tuple[bytes, str] | None:
    """A file of static/ (the style sheet, a vendored script), or None."""
    if not re.fullmatch(r"[a-z0-9][a-z0-9_.-]{0,63}", name) or ".." in name:
        return None
    path = STATIC / name
    if not path.is_file():
        return None
    kind = {"css": "text/css", "js": "text/javascript", "svg": "image/svg+xml",
            "ico": "image/x-icon", "png": "image/png"}.get(name.rsplit(".", 1)[-1], "application/octet-stream")
    return path.read_bytes(), kind
