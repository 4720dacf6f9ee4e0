"""The supervisor-approval (izin atasan) and acting-supervisor (Plt/Plh) messages: who gets
which, in Bahasa Indonesia, the approver's link to the portal and the deadline in WIB."""
from __future__ import annotations

import copy
from datetime import datetime, timezone

import pytest

from services.notification import domain
from services.notification.adapters.templates import Renderer
from services.notification.config import NotificationConfig, from_env
from shared import topology
from shared.events import registry

CONFIG = NotificationConfig(portal_public_url="https://portal.bangkom.test")
RENDERER = Renderer()
ENROLMENT = "65f1a2b3c4d5e6f708192a3b"
APPROVER, ASN, ACTING = "197801012005011003", "198503122010011002", "198001012006042004"
TOKEN = "ZW5yb2xtZW50LmFwcHJvdmVyLmV4cGlyeQ.c2lnbmF0dXJl"


def example(name: str, **changes) -> dict:
    """The registry's example of enrollment's ``name`` with the contract's test values."""
    data = copy.deepcopy(registry.latest("enrollment", name).example)
    for key, value in {"enrolment_id": ENROLMENT, "approver_nip": APPROVER, "acting_nip": ACTING,
                       "participant_nip": ASN, "expires_at": "2026-01-08T03:00:00Z", **changes}.items():
        if key in data or key in changes:
            data[key] = value
    if "participant" in data:
        data["participant"] = {**data["participant"], "nip": ASN, "name": "Rahmat Hidayat"}
    return data


def render(name: str, data: dict, **kwargs):
    kind, _ = domain.APPROVAL_MESSAGES[name]
    context = domain.approval_context(name, data, CONFIG, **kwargs)
    return context, RENDERER.render(kind, context)


def test_the_approver_gets_the_link_to_the_portal_and_the_deadline_in_wib():
    data = example("approval_link", token=TOKEN, participant_name="Rahmat Hidayat")
    context, out = render("approval_link", data, token=TOKEN, names={APPROVER: "Drs. Syafril"})
    assert context["nip"] == APPROVER
    assert out.subject == f"Permohonan izin atasan: Rahmat Hidayat – {data['programme_title']}"
    link = f"https://portal.bangkom.test/persetujuan/{TOKEN}"
    assert link in out.text and f'href="{link}"' in out.html and link in out.short
    # 03.00 UTC is 10.00 in Bukittinggi
    assert "sebelum Kamis, 8 Januari 2026 pukul 10.00 WIB" in out.text
    assert "Yth. Drs. Syafril" in out.text and "198503122010011002" not in out.text  # the NIP as printed
    assert "19850312 201001 1 002" in out.text
    assert 0 < len(out.short) <= 320


def test_a_reminder_repeats_the_link_or_points_to_the_list_when_none_is_kept():
    data = example("approval_reminded")
    _, out = render("approval_reminded", data, token=TOKEN)
    assert out.subject.startswith("Pengingat")
    assert f"https://portal.bangkom.test/persetujuan/{TOKEN}" in out.text
    _, without = render("approval_reminded", data)
    assert "Putuskan di portal: https://portal.bangkom.test/persetujuan\n" in without.text
    assert TOKEN not in without.text + without.html + without.short


@pytest.mark.parametrize("name, changes, expected", [
    ("approval_requested", {"holds": "seat", "position": None}, "Kursi Anda ditahan sampai Kamis, 8 Januari 2026"),
    ("approval_requested", {"holds": "waitlist", "position": 2}, "daftar tunggu (urutan ke-2) ditahan"),
    ("approval_granted", {"status": "enrolled"}, "Anda terdaftar sebagai peserta"),
    ("approval_granted", {"status": "waitlisted"}, "Anda berada di daftar tunggu"),
    ("approval_declined", {"reason": "Bertepatan dengan audit BPK"}, "Alasan  : Bertepatan dengan audit BPK"),
    ("approval_lapsed", {}, "kedaluwarsa"),
])
def test_the_asn_is_told_each_step(name, changes, expected):
    context, out = render(name, example(name, **changes), names={APPROVER: "Drs. Syafril"})
    assert context["nip"] == ASN
    assert expected in out.text, out.text
    assert "Rahmat Hidayat" in out.html and out.subject and "\n" not in out.subject
    assert 0 < len(out.short) <= 320


def test_the_acting_person_is_told_for_whom_and_until_when():
    data = example("acting_supervisor_assigned", kind="plt", ends_at="2026-03-31T09:00:00Z",
                   supervisor_nip=APPROVER)
    context, out = render("acting_supervisor_assigned", data, names={APPROVER: "Drs. Syafril"})
    assert context["nip"] == ACTING
    assert out.subject == "Anda ditunjuk sebagai Pelaksana Tugas (Plt) atasan Drs. Syafril"
    assert "sampai Selasa, 31 Maret 2026 pukul 16.00 WIB" in out.text
    _, revoked = render("acting_supervisor_revoked", example("acting_supervisor_revoked", supervisor_nip=APPROVER))
    assert "berakhir" in revoked.subject and "19780101 200501 1 003" in revoked.subject  # no name known: the NIP


def test_approval_messages_that_cost_someone_else_cannot_be_opted_out_of():
    for kind in ("approval_request", "approval_reminder", "approval_declined", "approval_lapsed",
                 "acting_assigned", "acting_revoked"):
        assert kind not in domain.OPTABLE_KINDS
        assert not domain.opted_out({"opt_outs": [kind]}, kind)
    assert {"approval_pending", "approval_granted"} <= set(domain.OPTABLE_KINDS)


def test_the_portal_public_url_setting(monkeypatch):
    for name in ("PORTAL_PUBLIC_URL", "NOTIFICATION_PORTAL_PUBLIC_URL"):
        monkeypatch.delenv(name, raising=False)
    assert from_env().portal_public_url == "http://127.0.0.1:8005"
    monkeypatch.setenv("PORTAL_PUBLIC_URL", "https://portal.bukittinggikota.go.id/")  # the portal's own setting
    assert from_env().portal_public_url == "https://portal.bukittinggikota.go.id"
    monkeypatch.setenv("NOTIFICATION_PORTAL_PUBLIC_URL", "portal.example")
    with pytest.raises(ValueError, match="NOTIFICATION_PORTAL_PUBLIC_URL"):
        from_env()


def test_the_approval_link_reaches_notification_on_the_private_exchange_only():
    import services.notification.subscriptions  # noqa: F401 - fills notification's subscription table

    queue = topology.consumer_queue("notification", "enrollment", "approval_link")
    assert {(b.exchange.name, b.routing_key) for b in queue.bindings} == {
        ("enrollment.private", "approval_link"), ("notification.requeue", queue.name)}
    assert ("enrollment", "approval_reminded") in topology.subscriptions_of("notification")
