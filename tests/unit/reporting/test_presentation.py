"""Numbers, charts and export rows as people see them (Indonesian formats, WIB dates)."""
from __future__ import annotations

import csv
import io
from datetime import datetime, timezone

from services.reporting.adapters import charts, exports


def test_numbers_use_indonesian_separators():
    assert charts.number_id(1234) == "1.234"
    assert charts.number_id(7.78) == "7,8"
    assert charts.number_id(12.0) == "12"
    assert charts.percent_id(0.2222) == "22,2%"
    assert charts.percent_id(None) == "-"


def rows(*averages):
    return [{"agency": f"A{i}", "agency_name": f"Dinas {i}", "known_asn": 10, "met_target": i,
             "average_jp": avg} for i, avg in enumerate(averages)]


def test_the_compliance_chart_orders_agencies_by_average_and_draws_the_target_line_to_scale():
    chart = charts.compliance_chart(rows(5, 25, 15), target=20)
    assert [b["agency"] for b in chart["bars"]] == ["A1", "A2", "A0"]
    assert [b["met"] for b in chart["bars"]] == [True, False, False]
    widest = chart["bars"][0]
    # the bar of 25 JP ends right of the 20 JP line, in proportion
    assert widest["x"] + widest["w"] > chart["target_x"]
    assert abs((chart["target_x"] - widest["x"]) / widest["w"] - 20 / 25) < 0.01


def test_agencies_without_known_asn_are_left_out_of_the_chart():
    empty = rows(0)
    empty[0]["known_asn"] = 0
    assert charts.compliance_chart(empty, 20)["empty"] is True


def test_the_distribution_chart_bar_heights_follow_the_counts():
    chart = charts.distribution_chart({"0": 4, "1-4": 2, "5-9": 0})
    heights = [b["h"] for b in chart["bars"]]
    assert heights[0] == 2 * heights[1] and heights[2] == 0


def test_a_csv_export_starts_with_a_bom_and_parses_back_row_for_row():
    body = b"".join(exports.csv_stream(["a", "b"], ([i, f"nama {i}"] for i in range(1200))))
    assert body.startswith("\ufeff".encode())
    parsed = list(csv.DictReader(io.StringIO(body.decode("utf-8-sig"))))
    assert len(parsed) == 1200 and parsed[-1] == {"a": "1199", "b": "nama 1199"}
