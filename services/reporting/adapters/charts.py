"""Server-side SVG charts: geometry computed here, markup in templates/dashboard.html.

No JavaScript and no front-end build: each chart is a plain dict of shapes the template
draws as ``<rect>``/``<line>``/``<text>``.
"""
from __future__ import annotations

from shared import timefmt


def number_id(value: float | int | None, digits: int = 1) -> str:
    """Indonesian number format (``1.234``, ``12,5``); ``-`` for no value."""
    return "-" if value is None else timefmt.number_id(value, digits)


def percent_id(ratio: float | None) -> str:
    return "-" if ratio is None else f"{number_id(round(ratio * 100, 1))}%"


def _nice_max(value: float) -> float:
    for step in (5, 10, 20, 25, 50, 100, 200, 250, 500, 1000, 2000, 5000, 10000):
        if value <= step:
            return float(step)
    return float(int(value * 1.1) + 1)


def compliance_chart(rows: list[dict], target: int, width: int = 760) -> dict:
    """Average JP per agency as horizontal bars against a vertical target line."""
    rows = [r for r in rows if r["known_asn"] > 0]
    rows.sort(key=lambda r: (-(r["average_jp"] or 0), r["agency"]))
    label_w, value_w, bar_h, gap, top = 250, 150, 18, 8, 24
    plot_w = width - label_w - value_w
    scale_max = _nice_max(max([target * 1.5] + [r["average_jp"] or 0 for r in rows]))
    bars = []
    for i, r in enumerate(rows):
        avg = r["average_jp"] or 0
        y = top + i * (bar_h + gap)
        bars.append({
            "agency": r["agency"], "label": (r["agency_name"] or r["agency"])[:38],
            "x": label_w, "y": y, "w": round(plot_w * avg / scale_max, 1), "h": bar_h,
            "met": avg >= target, "text_x": label_w + round(plot_w * avg / scale_max, 1) + 6,
            "text": f"{number_id(avg)} JP · {r['met_target']}/{r['known_asn']} ASN",
        })
    height = top + max(len(rows), 1) * (bar_h + gap) + 24
    target_x = label_w + round(plot_w * target / scale_max, 1)
    ticks = [{"x": label_w + round(plot_w * v / scale_max, 1), "label": number_id(v)}
             for v in [scale_max * i / 5 for i in range(6)]]
    return {"width": width, "height": height, "bars": bars, "target_x": target_x, "target": target,
            "plot_top": top - 8, "plot_bottom": height - 20, "ticks": ticks, "empty": not rows}


def distribution_chart(distribution: dict[str, int], width: int = 460, height: int = 240) -> dict:
    """ASN per JP bucket as vertical bars."""
    labels = list(distribution)
    left, bottom, top = 40, 40, 20
    plot_h = height - bottom - top
    slot = (width - left - 10) / max(len(labels), 1)
    scale_max = _nice_max(max(list(distribution.values()) + [1]))
    bars = []
    for i, label in enumerate(labels):
        count = distribution[label]
        h = round(plot_h * count / scale_max, 1)
        x = round(left + i * slot + slot * 0.15, 1)
        bars.append({"label": label, "count": count, "x": x, "w": round(slot * 0.7, 1), "y": top + plot_h - h,
                     "h": h, "cx": round(x + slot * 0.35, 1)})
    return {"width": width, "height": height, "bars": bars, "baseline": top + plot_h,
            "label_y": top + plot_h + 16, "caption_y": height - 4, "scale_max": number_id(scale_max)}


def trend_chart(months: list[dict], width: int = 760, height: int = 260) -> dict:
    """Completions and certificates issued per month, two bars per month."""
    left, bottom, top = 40, 40, 20
    plot_h = height - bottom - top
    slot = (width - left - 10) / 12
    values = [m["completions"] for m in months] + [m["certificates_issued"] for m in months]
    scale_max = _nice_max(max(values + [1]))
    groups = []
    for i, m in enumerate(months):
        x0 = left + i * slot
        bar_w = slot * 0.35
        h1 = round(plot_h * m["completions"] / scale_max, 1)
        h2 = round(plot_h * m["certificates_issued"] / scale_max, 1)
        groups.append({
            "month": m["month"], "label": timefmt.month_name_id(int(m["month"][5:7]), short=True),
            "completions": m["completions"], "certificates": m["certificates_issued"],
            "c_x": round(x0 + slot * 0.12, 1), "c_y": top + plot_h - h1, "c_h": h1,
            "s_x": round(x0 + slot * 0.12 + bar_w, 1), "s_y": top + plot_h - h2, "s_h": h2,
            "w": round(bar_w, 1), "label_x": round(x0 + slot / 2, 1),
        })
    return {"width": width, "height": height, "groups": groups, "baseline": top + plot_h,
            "label_y": top + plot_h + 16, "scale_max": number_id(scale_max), "top": top}
