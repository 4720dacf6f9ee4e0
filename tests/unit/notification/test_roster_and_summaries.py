"""Issue 19 in notification's rules, without I/O: the roster's contact data, nudges once per
checkpoint with the pro-rated target and the peer line, and who gets a summary."""
from __future__ import annotations

import copy
from datetime import datetime, timedelta, timezone

import pytest
from marshmallow import ValidationError

from services.notification import config as notification_config
from services.notification import domain, schemas
from services.notification.adapters.templates import Renderer, nip_cetak
from services.notification.config import NotificationConfig
from shared.events import registry

CONFIG = NotificationConfig()
NOW = datetime(2026, 6, 30, 17, 30, tzinfo=timezone.utc)
RENDERER = Renderer()
SUPERVISOR = {"nip": "197801052003121004", "name": "Yusnani"}


def shortfall(**changes) -> dict:
    data = copy.deepcopy(registry.latest("reporting", "shortfall_detected").example)
    data.update(checkpoint="2026-Q2", jp_total=4, jp_target=10, jp_missing=6, yearly_target=20,
                consecutive_shortfalls=1, never_enrolled=False, peers=None, supervisor=SUPERVISOR,
                escalate_to=["supervisor"])
    data.update(changes)
    return data


def nudge(**changes):
    return RENDERER.render("nudge", domain.asn_context("nudge", shortfall(**changes), CONFIG, NOW))


# -- the nudge's text ---------------------------------------------------------------------
def test_the_nudge_shows_the_pro_rated_checkpoint_target_and_the_yearly_target():
    out = nudge()
    assert "Pada pemantauan triwulan II tahun 2026, JP pengembangan kompetensi Anda tahun 2026" in out.text
    assert "Capaian Anda: 4 JP; target sampai akhir triwulan II tahun 2026: 10 JP, jadi masih kurang 6 JP." in out.text
    assert "Target Anda untuk tahun 2026: 20 JP." in out.text
    assert out.subject == "JP Anda tahun 2026: 4 dari target 10 JP sampai akhir triwulan II tahun 2026"
    assert "target sampai akhir triwulan II tahun 2026: <strong>10 JP</strong>" in out.html
    assert "JP Anda 4 dari target 10 JP s.d. akhir triwulan II tahun 2026 (setahun 20 JP)." in out.short
    # A person never reads the raw checkpoint id.
    assert all("2026-Q2" not in part for part in (out.subject, out.text, out.html, out.short))


def test_a_pns_nudge_states_the_duty_of_every_asn():
    out = nudge(participant={**shortfall()["participant"], "jenis_asn": "PNS"})
    assert "Pengembangan kompetensi adalah hak sekaligus kewajiban setiap ASN." in out.text
    assert "Target Anda untuk tahun 2026: 20 JP." in out.text
    assert "PPPK" not in out.text and "PPPK" not in out.html


@pytest.mark.parametrize("who", [
    {"jenis_asn": "PPPK", "id_kind": "ni_pppk", "nip": "199009132025242014"},
    {"jenis_asn": None, "id_kind": "ni_pppk", "nip": "199009132025242014"},  # not on the roster: by the number
])
def test_a_pppk_nudge_speaks_of_the_pppk_opportunity_not_of_the_pns_minimum(who):
    out = nudge(participant={**shortfall()["participant"], **who})
    for body in (out.text, " ".join(out.html.split())):
        assert ("Sebagai PPPK, Anda mendapat kesempatan pengembangan kompetensi hingga 24 JP dalam setiap "
                "tahun masa perjanjian kerja. Manfaatkan kesempatan ini untuk mencapai target instansi.") \
            in " ".join(body.split())
        assert "Target instansi untuk Anda sebagai PPPK tahun 2026: 20 JP." in body
        assert "kewajiban" not in body and "Target Anda untuk tahun" not in body
    assert "Capaian Anda: 4 JP; target sampai akhir triwulan II tahun 2026: 10 JP" in out.text


def test_a_never_enrolled_asn_gets_a_different_opening():
    out = nudge(never_enrolled=True, jp_total=0, jp_missing=10)
    assert "Anda belum pernah mengikuti pengembangan kompetensi tahun ini (2026)." in out.text
    assert out.subject == "Anda belum mengikuti pengembangan kompetensi tahun 2026"
    assert "Pada pemantauan" not in out.text
    assert "belum pernah" not in nudge().text


@pytest.mark.parametrize("met_share, line", [
    (0.64, "64% rekan di Dinas Komunikasi dan Informatika sudah memenuhi target."),
    (0.29, "29% rekan di Dinas Komunikasi dan Informatika sudah memenuhi target."),  # not 28 (binary 28.99…)
    (0.999, "99% rekan"),  # rounded down: never more than is true
    (0.0, "0% rekan"),
])
def test_the_peer_line_gives_the_share_of_colleagues_rounded_down(met_share, line):
    out = nudge(peers={"agency_asn": 42, "met_share": met_share})
    assert line in out.text and line in out.html
    assert "rekan se-OPD" in out.short and len(out.short) <= 320


def test_no_peer_line_without_peers():
    out = nudge(peers=None)
    assert "rekan" not in out.text and "rekan" not in out.html and "rekan" not in out.short


def test_the_peer_line_names_the_opd_from_the_reference_list_when_the_event_does_not():
    data = shortfall(peers={"agency_asn": 6, "met_share": 0.5})
    data["participant"]["agency_name"] = None
    out = RENDERER.render("nudge", domain.asn_context("nudge", data, CONFIG, NOW))
    assert "50% rekan di Dinas Komunikasi dan Informatika sudah memenuhi target." in out.text


def test_an_older_event_without_the_new_fields_keeps_the_yearly_wording():
    data = copy.deepcopy(registry.latest("reporting", "shortfall_detected").example)
    for field in ("yearly_target", "never_enrolled", "peers", "supervisor", "escalate_to"):
        data.pop(field)
    out = RENDERER.render("nudge", domain.asn_context("nudge", data, CONFIG, NOW))
    assert "Capaian Anda: 8 JP dari target 20 JP tahun 2026, jadi masih kurang 12 JP." in out.text
    assert "target sampai" not in out.text and "rekan" not in out.text


def test_a_checkpoint_is_named_as_people_read_it():
    assert domain.checkpoint_label("2026-Q3") == "akhir triwulan III tahun 2026"
    assert domain.checkpoint_label("2026-H1") == "akhir semester I tahun 2026"
    assert domain.checkpoint_label("2026-SEMESTER1") == "SEMESTER1 tahun 2026"


# -- once per checkpoint ------------------------------------------------------------------
def test_a_checkpoint_nudges_once_whatever_the_time_since():
    state = {"last_nudged_at": NOW, "checkpoint": "2026-Q2", "checkpoints": ["2026-Q1", "2026-Q2"]}
    assert domain.nudge_decision(None, "2026-Q2", NOW, CONFIG) is None
    assert domain.nudge_decision(state, "2026-Q2", NOW + timedelta(days=200), CONFIG) == "already nudged for 2026-Q2"
    assert domain.nudge_decision(state, "2026-Q3", NOW + timedelta(days=92), CONFIG) is None


def test_a_state_from_before_the_checkpoint_list_still_counts_its_checkpoint():
    state = {"last_nudged_at": NOW, "checkpoint": "2026-Q2"}
    assert domain.nudge_decision(state, "2026-Q2", NOW + timedelta(days=90), CONFIG) is not None


def test_another_checkpoint_within_the_nudge_period_is_throttled():
    state = {"last_nudged_at": NOW, "checkpoints": ["2026-Q2"]}
    assert "NUDGE_PERIOD" in domain.nudge_decision(state, "2026-Q3", NOW + timedelta(days=10), CONFIG)


def test_a_nudge_period_that_could_swallow_a_quarterly_checkpoint_is_refused(monkeypatch):
    monkeypatch.setenv("NOTIFICATION_NUDGE_PERIOD", "90d")
    with pytest.raises(ValueError, match="NOTIFICATION_NUDGE_PERIOD = '90d': must be between 0 and 60d"):
        notification_config.from_env()
    monkeypatch.setenv("NOTIFICATION_NUDGE_PERIOD", "60d")
    assert notification_config.from_env().nudge_period == timedelta(days=60)


# -- who gets a summary -------------------------------------------------------------------
@pytest.mark.parametrize("changes, targets", [
    ({"escalate_to": ["supervisor"]}, ("supervisor",)),
    ({"escalate_to": ["agency"]}, ("agency",)),
    ({"escalate_to": ["supervisor", "agency"]}, ("supervisor", "agency")),
    ({"escalate_to": []}, ()),
    ({"escalate_to": ["supervisor"], "supervisor": None}, ("agency",)),  # supervisor unknown: the OPD
    ({"escalate_to": None, "consecutive_shortfalls": 1}, ()),  # older producers: the threshold rule
    ({"escalate_to": None, "consecutive_shortfalls": 2}, ("agency",)),
])
def test_escalate_to_decides_and_older_events_keep_the_threshold(changes, targets):
    assert domain.escalation_targets(shortfall(**changes), CONFIG) == targets


def test_digests_are_keyed_by_supervisor_or_agency_and_checkpoint():
    assert domain.supervisor_digest_id("197801052003121004", "2026-Q2") == "supervisor:197801052003121004|2026-Q2"
    assert domain.agency_digest_id("DISKOMINFO", "2026-Q2") == "DISKOMINFO|2026-Q2"


def test_the_supervisor_summary_lists_each_staff_member_with_printed_nip_jp_target_and_gap():
    staff = [("199001012015032001", "Siti Aminah", 0, True), ("198503122010011002", "Rahmat Hidayat", 4, False)]
    items = [domain.shortfall_item(shortfall(participant={**shortfall()["participant"], "nip": n, "name": name},
                                             jp_total=jp, jp_missing=10 - jp, never_enrolled=never), NOW)
             for n, name, jp, never in staff]
    context = domain.supervisor_summary_context(
        {"supervisor_nip": SUPERVISOR["nip"], "checkpoint": "2026-Q2", "year": 2026}, items, "Yusnani", CONFIG)
    out = RENDERER.render("supervisor_summary", context)
    assert out.subject == "2 staf Anda di bawah target JP (triwulan II tahun 2026)"
    assert out.text.startswith("Yth. Yusnani,")
    assert "1. Rahmat Hidayat, NIP 19850312 201001 1 002" in out.text  # sorted by name
    assert "2. Siti Aminah, NIP 19900101 201503 2 001" in out.text
    assert "Pada pemantauan triwulan II tahun 2026, staf berikut" in out.text
    assert "JP sejauh ini: 4 JP; target sampai akhir triwulan II tahun 2026: 10 JP; kurang 6 JP" in out.text
    assert out.short.startswith("Bangkom ASN: 2 staf Anda di bawah target JP pemantauan triwulan II tahun 2026.")
    assert all("2026-Q2" not in part for part in (out.subject, out.text, out.html, out.short))
    assert out.text.count("Belum pernah mengikuti") == 1
    assert "19900101 201503 2 001" in out.html and 0 < len(out.short) <= 320


def test_the_operator_summary_says_why_an_asn_is_there():
    first = domain.shortfall_item(shortfall(supervisor=None, escalate_to=["agency"]), NOW)
    context = domain.escalation_context({"agency": "DISKOMINFO", "checkpoint": "2026-Q2", "year": 2026}, [first],
                                        None, "Dinas Komunikasi dan Informatika", CONFIG)
    out = RENDERER.render("escalation", context)
    assert out.subject == "1 ASN Dinas Komunikasi dan Informatika di bawah target JP (triwulan II tahun 2026)"
    assert "Pada pemantauan triwulan II tahun 2026, ASN berikut" in out.text
    assert all("2026-Q2" not in part for part in (out.subject, out.text, out.html, out.short))
    assert "pertama kali; atasan langsung belum tercatat" in out.text
    assert "nip_atasan" in out.text


def test_a_nip_is_printed_in_its_four_groups():
    assert nip_cetak("198503122010011002") == "19850312 201001 1 002"
    assert nip_cetak("bukan nip") == "bukan nip"


# -- supervisor summaries are duty ----------------------------------------------------------
def test_nobody_can_opt_out_of_supervisor_summaries():
    with pytest.raises(ValidationError) as refused:
        schemas.load_recipient("198503122010011002", {"opt_outs": ["supervisor_summary"]})
    assert "opt_outs" in refused.value.messages
    # even a record that somehow holds it: every channel is used
    legacy = {"channels": ["email"], "opt_outs": ["supervisor_summary", "escalation"]}
    assert domain.channels_for(legacy, "supervisor_summary", CONFIG) == [("email", None), ("inbox", None)]
    assert not domain.opted_out(legacy, "supervisor_summary")
    assert domain.opted_out({"opt_outs": ["nudge"]}, "nudge")


# -- the roster -----------------------------------------------------------------------------
def test_roster_contact_is_normalised_and_a_bad_value_is_left_out_without_repeating_it():
    assert domain.roster_contact(" rahmat@bukittinggikota.go.id ", "0812-6600-1122") == (
        "rahmat@bukittinggikota.go.id", "+6281266001122", [])
    assert domain.roster_contact("", None) == (None, None, [])
    email, phone, problems = domain.roster_contact("bukan-alamat", "12345")
    assert (email, phone) == (None, None) and len(problems) == 2
    assert not any("bukan-alamat" in p or "12345" in p for p in problems)


@pytest.mark.parametrize("status, left", [("aktif", False), ("pensiun", True), ("pindah", True),
                                          ("tidak_tercantum", True)])
def test_an_asn_has_left_by_the_roster_status(status, left):
    assert domain.has_left({"status": status}) is left
    assert domain.has_left(None) is False
