"""``GET /dashboard``: a server-rendered page in Bahasa Indonesia (Jinja2 + server-side SVG)."""
from __future__ import annotations

from datetime import datetime
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, select_autoescape

from shared.reference import agencies as reference_agencies
from shared.timefmt import stamp_id

from services.reporting.adapters import charts
from services.reporting.domain import agency_name

_ENV = Environment(loader=FileSystemLoader(Path(__file__).parent.parent / "templates"),
                   autoescape=select_autoescape(("html",)), trim_blocks=True, lstrip_blocks=True)
_ENV.filters["num"] = charts.number_id
_ENV.filters["pct"] = charts.percent_id
# ASN of one agency's never-enrolled list shown on its page; the exports hold them all.
NEVER_ENROLLED_SHOWN = 200


def context(report: dict, months: list[dict], year: int, agency: str | None, now: datetime,
            never_enrolled: list[dict] | None = None) -> dict:
    """What the template shows: ``report`` is the compliance of every agency (queries.compliance),
    ``months`` the year's monthly figures (queries.monthly), ``never_enrolled`` the first ASN of
    the chosen agency who never took part (queries.never_enrolled)."""
    totals = report["totals"]
    years = list(range(now.year + 1, now.year - 5, -1))
    if year not in years:
        years.append(year)
    return {
        "year": year, "agency": agency, "agency_name": agency_name(agency) if agency else None,
        "target": report["target_jp"], "totals": totals,
        "rows": [r for r in report["agencies"] if r["known_asn"] > 0],
        # Per OPD with anyone who never took part: how many, and (one OPD's page) who.
        "never_rows": [r for r in report["agencies"] if r["never_enrolled"] > 0],
        "never_enrolled": never_enrolled or [],
        "certificates_issued": sum(m["certificates_issued"] for m in months),
        "completions": sum(m["completions"] for m in months),
        "agencies": [(code, a.name) for code, a in reference_agencies().items()],
        "years": sorted(years, reverse=True),
        "compliance_chart": charts.compliance_chart(report["agencies"], report["target_jp"]),
        "distribution_chart": charts.distribution_chart(totals["distribution"]),
        "trend_chart": charts.trend_chart(months),
        "updated": stamp_id(now),
    }


def render(report: dict, months: list[dict], year: int, agency: str | None, now: datetime,
           never_enrolled: list[dict] | None = None) -> str:
    return _ENV.get_template("dashboard.html").render(**context(report, months, year, agency, now, never_enrolled))
