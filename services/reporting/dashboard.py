"""``GET /dashboard``: a server-rendered page in Bahasa Indonesia (Jinja2 + server-side SVG)."""
from __future__ import annotations

from datetime import datetime
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, select_autoescape
from shared.reference import agencies as reference_agencies

from services.reporting import charts, queries
from services.reporting.config import ReportingConfig
from services.reporting.store import ReadModels
from services.reporting.timefmt import stamp_id

_ENV = Environment(loader=FileSystemLoader(Path(__file__).with_name("templates")),
                   autoescape=select_autoescape(("html",)), trim_blocks=True, lstrip_blocks=True)
_ENV.filters["num"] = charts.number_id
_ENV.filters["pct"] = charts.percent_id


def context(rm: ReadModels, cfg: ReportingConfig, year: int, agency: str | None, now: datetime) -> dict:
    report = queries.compliance(rm, cfg, year, agency=agency, per_page=10_000)
    months = queries.monthly(rm, year, agency)
    totals = report["totals"]
    certificates = sum(m["certificates_issued"] for m in months)
    years = list(range(now.year + 1, now.year - 5, -1))
    if year not in years:
        years.append(year)
    return {
        "year": year, "agency": agency, "agency_name": queries.agency_name(agency) if agency else None,
        "target": cfg.jp_target, "totals": totals, "rows": [r for r in report["agencies"] if r["known_asn"] > 0],
        "certificates_issued": certificates,
        "completions": sum(m["completions"] for m in months),
        "agencies": [(code, a.name) for code, a in reference_agencies().items()],
        "years": sorted(years, reverse=True),
        "compliance_chart": charts.compliance_chart(report["agencies"], cfg.jp_target),
        "distribution_chart": charts.distribution_chart(totals["distribution"]),
        "trend_chart": charts.trend_chart(months),
        "updated": stamp_id(now),
    }


def render(rm: ReadModels, cfg: ReportingConfig, year: int, agency: str | None, now: datetime) -> str:
    return _ENV.get_template("dashboard.html").render(**context(rm, cfg, year, agency, now))
