"""The supervisor, operator and admin pages' pure rules and templates: the printed NIP, which
requests wait and which were decided lately, the decision and Plt/Plh forms' errors in Bahasa
Indonesia, tim saya's bars (each scaled to the member's own target), the merged access log; and
the pages rendered from service answers (ids the tests rely on, no script, WIB)."""
from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

from services.portal import domain
from services.portal.adapters import pages
from services.portal.domain import Identity
from services.portal import usecases

NOW = datetime(2026, 3, 10, 3, 0, tzinfo=timezone.utc)  # 10.00 WIB
BOSS = "197501012000031001"
STAFF = "198503152010011002"


def request_view(eid="e1", *, holds="seat", acting=None, decision=None, decided_at=None, status="awaiting_approval",
                 expires_at="2026-03-13T03:00:00Z", position=None, reason=None):
    return {"id": eid, "programme_code": "SEM-1", "nip": STAFF, "status": status, "holds": holds,
            "waitlist_position": position,
            "participant": {"nip": STAFF, "name": "Budi Santoso", "position": "Pranata Komputer", "golongan": "III/a"},
            "programme": {"code": "SEM-1", "title": "Seminar Transformasi Digital", "jp": 8,
                          "starts_at": "2026-04-20T01:00:00Z", "ends_at": "2026-04-20T07:00:00Z"},
            "approval": {"approver_nip": BOSS, "approver_name": "Yusnani", "acting": acting,
                         "requested_at": "2026-03-10T02:00:00Z", "expires_at": expires_at,
                         "decided_at": decided_at, "decision": decision, "reason": reason}}


def test_a_nip_is_printed_in_its_four_groups():
    assert domain.nip_printed("198503152010011002") == "19850315 201001 1 002"
    assert domain.nip_printed("12345") == "12345" and domain.nip_printed(None) == "-"


def test_awaiting_requests_nearest_deadline_first_and_decided_ones_of_the_last_30_days_latest_first():
    late = request_view("late", expires_at="2026-03-14T00:00:00Z")
    soon = request_view("soon", expires_at="2026-03-11T00:00:00Z")
    decided = request_view("d1", decision="approved", decided_at="2026-03-09T00:00:00Z", status="enrolled")
    assert [e["id"] for e in domain.awaiting_requests([late, soon, decided])] == ["soon", "late"]
    recent = request_view("d2", decision="declined", decided_at="2026-03-10T01:00:00Z", status="cancelled")
    old = request_view("d3", decision="lapsed", decided_at=(NOW - timedelta(days=31)).isoformat(), status="cancelled")
    assert [e["id"] for e in domain.recently_decided([decided, recent, old, soon], NOW)] == ["d2", "d1"]


def test_declining_needs_a_reason_of_at_most_500_characters():
    assert domain.decision_errors("setuju", "") == {}
    assert domain.decision_errors("tolak", "  ")["alasan"] == "Alasan wajib diisi bila permohonan ditolak."
    assert "500" in domain.decision_errors("tolak", "x" * 501)["alasan"]
    assert "keputusan" in domain.decision_errors("mungkin", None)
    assert domain.decision_body("tolak", " Bentrok dengan jadwal rapat ") == {
        "decision": "declined", "reason": "Bentrok dengan jadwal rapat"}
    assert domain.decision_body("setuju", "") == {"decision": "approved", "reason": None}


def test_what_a_request_holds_and_the_words_after_a_decision():
    assert domain.holds_text(request_view()) == "Kursi ditahan"
    assert domain.holds_text(request_view(holds="waitlist", position=3)) == "Tempat daftar tunggu nomor 3 ditahan"
    granted = request_view(decision="approved", status="waitlisted")
    assert domain.decided_message(granted) == "Permohonan Budi Santoso disetujui; peserta kini masuk daftar tunggu."
    assert "ditolak" in domain.decided_message(request_view(decision="declined"))
    assert domain.decision_text(request_view(decision="lapsed")["approval"]) == \
        "Permohonan ini sudah diputuskan (kedaluwarsa)"


def test_each_team_bar_is_scaled_to_the_members_own_target():
    behind = domain.team_bar({"jp": 5, "target": 20, "checkpoint_target": 10, "met_target": False, "on_track": False})
    assert behind["target_x"] == 159.0 and behind["checkpoint_x"] == 80.0 and behind["bar_w"] == 39.5
    assert not behind["on_track"]
    over = domain.team_bar({"jp": 40, "target": 20, "checkpoint_target": 5, "met_target": True, "on_track": True})
    assert over["bar_w"] == over["plot_w"] and over["target_x"] == 80.0 and over["met"]


def test_the_acting_form_needs_two_different_nips_a_kind_and_a_future_date_within_a_year():
    form = {"atasan": BOSS, "pelaksana": "1985 0315 2010 01 1 002", "jenis": "plh", "sampai": "2026-03-20"}
    errors, ends = domain.acting_errors(form, NOW)
    assert errors == {} and form["pelaksana"] == STAFF
    assert ends == datetime(2026, 3, 20, 16, 59, 59, tzinfo=timezone.utc)  # 23.59.59 WIB
    errors, _ = domain.acting_errors({"atasan": "123", "pelaksana": BOSS, "jenis": "ketua", "sampai": "kemarin"}, NOW)
    assert set(errors) == {"atasan", "jenis", "sampai"}
    assert domain.acting_errors({"atasan": BOSS, "pelaksana": BOSS, "jenis": "plt", "sampai": "2026-03-20"},
                                NOW)[0] == {"pelaksana": "Plt/Plh tidak boleh atasan itu sendiri."}
    assert "setelah" in domain.acting_errors({**form, "sampai": "2026-03-09"}, NOW)[0]["sampai"]
    assert "satu tahun" in domain.acting_errors({**form, "sampai": "2027-06-01"}, NOW)[0]["sampai"]


def test_the_access_logs_merge_newest_first_keeping_each_service():
    rows = domain.merge_access_logs({
        "reporting": [{"id": "r1", "at": "2026-03-10T02:00:00Z", "what": "team"},
                      {"id": "r0", "at": "2026-03-01T02:00:00Z", "what": "ledger"}],
        "certification": [{"id": "c1", "at": "2026-03-10T02:30:00+00:00", "what": "certificates"}],
        "notification": []})
    assert [(r["id"], r["service"]) for r in rows] == [("c1", "certification"), ("r1", "reporting"),
                                                       ("r0", "reporting")]


# -- the pages rendered --------------------------------------------------------------------------
class FakeVisit:
    def __init__(self, identity):
        self.identity, self.csrf, self.flash, self.path = identity, "tok", None, "/"
        self.nav = domain.nav(identity)
        self.role_label = domain.ROLE_LABELS.get(identity.role, "")


def render(page, identity=None, **context):
    visit = FakeVisit(identity or Identity(role="asn", subject="s", name="Yusnani", nip=BOSS, supervisor=True))
    html = pages.html(page, visit=visit, **usecases._WORDS, **context)
    assert "<script" not in html and " style=" not in html
    return html


def test_the_approvals_page_shows_the_request_marks_plh_and_puts_the_reason_error_beside_its_field():
    waiting = request_view("e1", acting="plh", holds="waitlist", position=2)
    decided = request_view("e2", decision="declined", decided_at="2026-03-09T00:00:00Z", status="cancelled",
                           reason="Bentrok jadwal")
    html = render("persetujuan.html", awaiting=[waiting], decided=[decided], days=30,
                  errors={"e1": {"alasan": "Alasan wajib diisi bila permohonan ditolak."}}, form={})
    assert 'data-enrolment="e1" data-acting="plh" data-holds="waitlist"' in html
    assert "19850315 201001 1 002" in html and "Tempat daftar tunggu nomor 2 ditahan" in html
    assert "13 Maret 2026 10.00 WIB" in html  # the deadline in WIB
    assert re.search(r'id="reason-e1"[^>]*maxlength="500"[^>]*aria-invalid="true"', html)
    assert 'id="reason-error-e1"' in html and 'name="csrf_token" value="tok"' in html
    assert 'data-enrolment="e2" data-decision="declined"' in html and "Bentrok jadwal" in html


def test_the_link_page_of_a_decided_request_says_so():
    html = render("persetujuan_link.html", e=request_view(decision="approved", status="enrolled",
                                                          decided_at="2026-03-10T02:00:00Z"),
                  token="a.b", open=False, errors={}, form={})
    assert 'id="already-decided"' in html and "Permohonan ini sudah diputuskan (disetujui)" in html
    assert 'id="link-approve-form"' not in html


def test_the_team_page_in_name_order_without_a_summary_below_five():
    members = [{"nip": STAFF, "name": "Budi", "jp": 5, "target": 20, "checkpoint_target": 10, "met_target": False,
                "on_track": False}]
    html = render("tim.html", team={"year": 2026, "checkpoint": {"id": "2026-Q1", "label": "triwulan I tahun 2026"}},
                  members=members, bars={STAFF: domain.team_bar(members[0])}, summary=None)
    assert 'id="privacy-note"' in html and "akses Anda tercatat" in html
    assert 'data-jp="5" data-target="20" data-checkpoint-target="10"' in html
    assert 'id="no-summary"' in html and 'id="team-summary"' not in html
    assert 'id="team-empty"' in render("tim.html", team={}, members=[], bars={}, summary=None)


def test_the_acting_and_access_log_pages_render():
    operator = Identity(role="operator", subject="o", name="Operator", agency="DISKOMINFO")
    entry = {"nip": BOSS, "name": "Yusnani", "acting": {"acting_nip": STAFF, "acting_name": "Budi", "kind": "plh",
                                                        "ends_at": "2026-03-20T16:59:59Z"}, "acting_for": []}
    html = render("operator_plt.html", operator, nip=BOSS, looked_up=True, entry=entry, errors={"sampai": "x"},
                  form={}, kinds=domain.ACTING_LABELS, min_date="2026-03-11", max_date="2027-03-10")
    assert f'data-supervisor="{BOSS}" data-acting="{STAFF}" data-kind="plh"' in html
    assert 'id="error-sampai"' in html and 'id="end-acting-form"' in html
    admin = Identity(role="admin", subject="a", name="Admin")
    rows = domain.merge_access_logs({"reporting": [{"id": "1", "at": "2026-03-10T02:00:00Z", "what": "team",
                                                    "subject_nip": STAFF, "detail": "2026",
                                                    "reader": {"subject": "dev:x", "role": "asn", "nip": BOSS}}]})
    html = render("admin_log_akses.html", admin, rows=rows, missing=["notification"], nip="", reader="", errors={},
                  what_labels=domain.WHAT_LABELS)
    assert f'data-service="reporting" data-subject="{STAFF}" data-what="team" data-reader="dev:x"' in html
    assert "10 Maret 2026 09.00 WIB" in html and 'data-service="notification"' in html


def test_every_page_of_approval_requests_is_read():
    from services.portal import queries

    class Pages:
        def __init__(self):
            self.asked = []

        def get(self, service, path, as_, params=None):
            self.asked.append(params)
            return {"items": [{"id": "a"}], "next_cursor": "c2"} if "cursor" not in params else \
                {"items": [{"id": "b"}], "next_cursor": None}

    client = Pages()
    assert [e["id"] for e in queries.approvals(client, Identity(role="asn", subject="s", name="n", nip=BOSS),
                                               "decided")] == ["a", "b"]
    assert client.asked[1] == {"status": "decided", "limit": 500, "cursor": "c2"}
