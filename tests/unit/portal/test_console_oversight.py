"""The oversight pages' pure rules (issue 21): no aggregate of fewer than five people, the
charts' geometry with every value also in words, a checkpoint job as the page shows it, the
revoke reason's rule, and the exports the portal offers."""
from __future__ import annotations

from services.portal import domain

ROW = {"agency": "DISKOMINFO", "agency_name": "Dinas Komunikasi dan Informatika", "known_asn": 5, "met_target": 2,
       "below_target": 3, "met_rate": 0.4, "average_jp": 12.8, "never_enrolled": 3, "jp_total": 64, "asn_with_jp": 2,
       "distribution": {"0": 3, "1-4": 0, "5-9": 0, "10-19": 0, "20+": 2}}


def test_an_opd_of_five_shows_its_figures_and_one_of_four_only_dashes():
    shown = domain.agency_figures(ROW)
    assert shown["shown"] and shown["known"] == "5" and shown["met_rate"] == "40%" and shown["average_jp"] == "12,8"
    small = domain.agency_figures({**ROW, "known_asn": 4})
    assert not small["shown"] and small["known"] == "kurang dari 5"
    assert {small[k] for k in ("met_target", "below_target", "never_enrolled", "jp_total", "met_rate",
                               "average_jp")} == {"—"}
    assert domain.distribution_chart({**ROW, "known_asn": 4}) is None


def test_the_distribution_chart_carries_every_value_and_scales_to_the_largest():
    chart = domain.distribution_chart(ROW)
    assert [(b["label"], b["value"]) for b in chart["bars"]] == list(ROW["distribution"].items())
    assert chart["summary"] == "0: 3; 1-4: 0; 5-9: 0; 10-19: 0; 20+: 2" and chart["scale"] == 5
    tallest = max(chart["bars"], key=lambda b: b["h"])
    assert tallest["label"] == "0" and tallest["y"] >= chart["top"] and tallest["y"] + tallest["h"] == chart["base_y"]


def test_the_rate_chart_keeps_the_code_order_and_draws_no_bar_for_a_small_opd():
    rows = [domain.agency_figures(r) for r in (ROW, {**ROW, "agency": "DINKES", "known_asn": 2, "met_rate": 1.0})]
    chart = domain.rate_chart(rows)
    assert [b["agency"] for b in chart["bars"]] == ["DISKOMINFO", "DINKES"]
    assert chart["bars"][0]["shown"] and chart["bars"][0]["w"] == round(chart["plot_w"] * 0.4, 1)
    assert not chart["bars"][1]["shown"] and chart["bars"][1]["text"] == "—"


def test_a_programmes_results_are_hidden_under_five_completions():
    few = domain.programme_figures({"completed": 4, "passed": 4, "pass_rate": 1.0, "fill_rate": 0.2})
    assert few["passed_text"] == few["pass_rate_text"] == "—" and few["fill_text"] == "20%"
    many = domain.programme_figures({"completed": 5, "passed": 4, "pass_rate": 0.8})
    assert many["passed_text"] == "4" and many["pass_rate_text"] == "80%"


def test_a_checkpoint_job_as_the_page_shows_it():
    assert domain.job_view(None)["status"] == "none" and domain.job_view(None)["status_text"] == "Belum dijalankan"
    running = domain.job_view({"checkpoint": "2026-Q2", "status": "running", "progress": 0.4321, "checked": 43,
                               "total": 100, "started_at": "2026-06-30T17:00:00Z"})
    assert running["active"] and not running["done"] and running["percent"] == 43
    assert running["started"].endswith("WIB") and running["started"].startswith("1 Juli 2026")
    assert domain.job_view({"status": "done", "progress": 1.0})["percent"] == 100
    assert domain.job_view({"status": "queued", "progress": None})["percent"] is None


def test_the_checkpoints_offered_and_accepted():
    assert [c["id"] for c in domain.checkpoint_choices(2026)][:2] == ["2026-Q1", "2026-Q2"]
    assert domain.checkpoint_choices(2026)[4] == {"id": "2025-Q1", "label": "Triwulan I tahun 2025"}
    assert domain.checkpoint_valid("2026-Q3") and not domain.checkpoint_valid("2026-Q5")
    assert not domain.checkpoint_valid("26-Q1") and not domain.checkpoint_valid(None)


def test_a_revocation_needs_a_reason_of_five_to_five_hundred_characters():
    assert domain.revoke_errors(None) == {"alasan": "Alasan pencabutan wajib diisi."}
    assert "minimal 5" in domain.revoke_errors(" abc ")["alasan"]
    assert "paling banyak 500" in domain.revoke_errors("x" * 501)["alasan"]
    assert domain.revoke_errors("Nilai dibatalkan") == {}


def test_the_exports_are_reportings():
    assert {path for path, _ in domain.EXPORTS.values()} == {
        "/exports/compliance.csv", "/exports/compliance.xlsx", "/exports/never-enrolled.csv",
        "/exports/never-enrolled.xlsx", "/exports/ledger.csv", "/exports/ledger.xlsx", "/exports/ledger-siasn.csv",
        "/exports/ledger-siasn.xlsx"}
