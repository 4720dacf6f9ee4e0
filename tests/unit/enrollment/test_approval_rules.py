"""Supervisor approval rules without I/O (ADR 0092): the signed link token, who the approver is,
when a decision is refused, and the link key production refuses."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from services.enrollment import config, domain
from services.enrollment.adapters import approval_link
from shared.errors import Conflict, Forbidden, Invalid
from shared.production import ProductionConfigError

SECRET = "s" * 40
NOW = datetime(2026, 3, 5, 2, 0, tzinfo=timezone.utc)
HEAD, STAFF, PLT = "197801052003121004", "198503122010011002", "198002142005012003"
ENTRY = {"_id": STAFF, "supervisor_nip": HEAD, "status": "aktif"}
SUPERVISOR = {"_id": HEAD, "name": "Dr. Yuliani", "status": "aktif"}
ACTING = {"_id": HEAD, "acting_nip": PLT, "acting_name": "Hendra", "kind": "plh", "ends_at": NOW + timedelta(days=1)}


def test_a_token_carries_its_request_and_approver_and_only_this_secret_verifies_it():
    expires = NOW + timedelta(hours=72)
    token = approval_link.sign(SECRET, "abc123", HEAD, expires)
    claims = approval_link.verify(SECRET, token)
    assert (claims.enrolment_id, claims.approver_nip) == ("abc123", HEAD)
    assert approval_link.same_request(claims, expires.replace(tzinfo=None))  # as the store gives it back
    assert not approval_link.same_request(claims, expires + timedelta(seconds=5))
    payload, signature = token.split(".")
    forged = approval_link._b64(f"abc123.{PLT}.{int(expires.timestamp())}".encode())
    for bad in (f"{forged}.{signature}", f"{payload}.{signature[:-1]}A", payload, "", "a.b.c"):
        with pytest.raises(Invalid):
            approval_link.verify(SECRET, bad)
    with pytest.raises(Invalid):
        approval_link.verify("t" * 40, token)


def test_the_acting_supervisor_decides_while_the_delegation_lasts_then_the_supervisor_again():
    assert domain.approver_for(ENTRY, SUPERVISOR, ACTING, NOW) == {
        "approver_nip": PLT, "approver_name": "Hendra", "acting": "plh"}
    later = NOW + timedelta(days=1)
    assert domain.approver_for(ENTRY, SUPERVISOR, ACTING, later)["approver_nip"] == HEAD
    with pytest.raises(Conflict, match="Atasan langsung Anda belum tercatat"):
        domain.approver_for({**ENTRY, "supervisor_nip": None}, None, None, NOW)
    with pytest.raises(Conflict):
        domain.approver_for(ENTRY, {**SUPERVISOR, "status": "pensiun"}, None, NOW)
    # a supervisor who left, with a Plt named: the Plt decides
    assert domain.approver_for(ENTRY, {**SUPERVISOR, "status": "pensiun"}, ACTING, NOW)["acting"] == "plh"


def test_a_decision_is_the_approvers_once_and_before_expiry():
    approval = domain.new_approval({"approver_nip": HEAD, "approver_name": None, "acting": None}, NOW, 72, 24)
    assert approval["remind_at"] == NOW + timedelta(hours=48)
    waiting = {"_id": "e1", "status": domain.AWAITING, "approval": approval}
    domain.check_decision(waiting, HEAD, NOW)
    with pytest.raises(Forbidden):
        domain.check_decision(waiting, STAFF, NOW)
    with pytest.raises(domain.AlreadyDecided, match=r"\(kedaluwarsa\)"):
        domain.check_decision(waiting, HEAD, NOW + timedelta(hours=72))
    decided = {**waiting, "approval": {**approval, "decision": "declined"}}
    with pytest.raises(domain.AlreadyDecided) as refused:
        domain.check_decision(decided, HEAD, NOW)
    assert refused.value.code == "already_decided" and refused.value.message.endswith("(ditolak)")


def test_an_acting_supervisor_is_someone_else_aktif_until_a_date_within_a_year():
    colleague = {"_id": PLT, "status": "aktif"}
    domain.check_acting(HEAD, colleague, NOW + timedelta(days=30), NOW)
    for entry, ends, field in ((None, NOW + timedelta(days=1), "acting_nip"),
                               ({**colleague, "status": "pindah"}, NOW + timedelta(days=1), "acting_nip"),
                               ({"_id": HEAD, "status": "aktif"}, NOW + timedelta(days=1), "acting_nip"),
                               (colleague, NOW, "ends_at"), (colleague, NOW + timedelta(days=367), "ends_at")):
        with pytest.raises(Invalid) as refused:
            domain.check_acting(HEAD, entry, ends, NOW)
        assert refused.value.field == field


def test_production_refuses_a_missing_or_development_link_secret(monkeypatch):
    monkeypatch.setenv("ASN_ENV", "production")
    monkeypatch.delenv("ENROLLMENT_APPROVAL_LINK_SECRET", raising=False)
    monkeypatch.delenv("APPROVAL_LINK_SECRET", raising=False)
    with pytest.raises(ProductionConfigError, match="ENROLLMENT_APPROVAL_LINK_SECRET"):
        config.read_link_secret()
    monkeypatch.setenv("ENROLLMENT_APPROVAL_LINK_SECRET", "dev-" + "x" * 40)
    with pytest.raises(ProductionConfigError):
        config.read_link_secret()
    monkeypatch.setenv("ENROLLMENT_APPROVAL_LINK_SECRET", "short-but-real")
    with pytest.raises(ValueError, match="at least 32 bytes"):
        config.read_link_secret()
    monkeypatch.setenv("ENROLLMENT_APPROVAL_LINK_SECRET", "r" * 40)
    assert config.read_link_secret() == "r" * 40


def test_development_without_a_link_secret_signs_with_a_process_key(monkeypatch, tmp_path):
    monkeypatch.delenv("ASN_ENV", raising=False)
    monkeypatch.delenv("ENROLLMENT_APPROVAL_LINK_SECRET", raising=False)
    monkeypatch.delenv("APPROVAL_LINK_SECRET", raising=False)
    assert config.read_link_secret().startswith("dev-")
    key = tmp_path / "approval-link-secret"
    key.write_text("dev-" + "k" * 40 + "\n")
    monkeypatch.setenv("ENROLLMENT_APPROVAL_LINK_SECRET_FILE", str(key))
    assert config.read_link_secret() == "dev-" + "k" * 40
