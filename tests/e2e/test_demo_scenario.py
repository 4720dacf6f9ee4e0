"""The demo scenario (deploy/demo.py) against the platform started by deploy.launcher.Stack,
as `python -m deploy.launcher run --demo` plays it; at a reduced size to keep the suite fast
(the default, ~500 ASN, is measured by running the command itself)."""
from __future__ import annotations

import io
import subprocess
import sys
from collections import Counter
from datetime import date
from pathlib import Path

import pytest

from deploy import demo
from deploy.launcher import Stack, free_ports
from shared import nip as nip_rules
from shared.reference import agencies
from tests.e2e.client import Platform

ROOT = Path(__file__).resolve().parents[2]
SIZE = 60


@pytest.fixture(scope="module")
def stack(amqp_uri, tmp_path_factory):
    # Its own SecantusDB: the demo writes thousands of documents the rest of the suite need not wade through.
    with Stack(amqp_uri=amqp_uri, db_prefix="demo_", ports=free_ports(), log_dir=tmp_path_factory.mktemp("demo-logs"),
               extra_env={"RELAY_POLL_INTERVAL_S": "0.1"}) as running:
        yield running


@pytest.fixture(scope="module")
def played(stack):
    out = io.StringIO()
    result = demo.run(stack, asn=SIZE, out=out)
    return result, out.getvalue()


def test_the_demo_people_are_plausible_asn_of_the_real_opd_and_the_same_for_the_same_seed():
    plan = demo.build_plan(500, seed=7, today=date(2026, 11, 30))
    people = plan.people
    assert len(people) == len({p.nip for p in people}) == 500
    for p in people:
        parsed = nip_rules.validate(p.nip, "auto", today=date(2026, 11, 30))
        assert parsed.kind == p.id_kind and parsed.gender == p.gender
    assert {p.agency for p in people} <= set(agencies()) and len({p.agency for p in people}) > 25
    assert 0 < sum(p.id_kind == "ni_pppk" for p in people) < 60  # some contract staff, mostly PNS
    assert {p.email.rsplit("@", 1)[1] for p in people} == {demo.EMAIL_DOMAIN}
    kinds = Counter(p.spec.kind for p in plan.programmes)
    assert len(plan.programmes) == 12 and set(kinds) >= {"pelatihan", "sertifikasi", "seminar", "lokakarya",
                                                          "e-learning", "coaching", "mentoring"}
    seminar = next(p.spec for p in plan.programmes if p.spec.kind == "seminar")
    workshop = next(p.spec for p in plan.programmes if p.spec.kind == "lokakarya")
    assert seminar.speakers and workshop.speakers and set(workshop.organisers) == {"BKN", "PEMKOT_BUKITTINGGI"}
    full = next(p for p in plan.programmes if p.spec.oversubscribed)
    assert len(full.applicants) > full.capacity
    applying = {p.nip for prog in plan.programmes for p in prog.applicants}
    assert applying < {p.nip for p in people}  # some never enrol: the roster counts them
    assert 0.55 <= len(applying) / len(people) <= 0.75
    # every OPD has one head (supervisor unknown to the city's roster); everyone else reports to
    # someone of their own OPD, and each supervisor has a handful of staff
    by_nip = {p.nip: p for p in people}
    heads = [p for p in people if p.supervisor_nip is None]
    assert len(heads) == len({p.agency for p in people})
    assert all(by_nip[p.supervisor_nip].agency == p.agency for p in people if p.supervisor_nip)
    staff = Counter(p.supervisor_nip for p in people if p.supervisor_nip)
    assert max(staff.values()) <= 3 * demo.STAFF_PER_SUPERVISOR
    assert {p.jenis_asn for p in people} == {"PNS", "PPPK"} and all(p.golongan for p in people)
    assert demo.build_plan(500, seed=7, today=date(2026, 11, 30)).people == people
    assert demo.build_plan(500, seed=8, today=date(2026, 11, 30)).people != people


def test_the_demo_plays_the_whole_season_and_points_at_what_it_made(stack, played):
    result, printed = played
    platform = Platform(stack)
    counts = result.counts
    assert counts["roster"] == counts["recipients"] == SIZE and counts["programmes"] == 12
    plan = demo.build_plan(SIZE)
    applying = {a.nip for p in plan.programmes for a in p.applicants}
    assert counts["never_enrolled"] == SIZE - len(applying) > 0
    compliance = platform.get("reporting", "/compliance", params={"year": plan.year})["totals"]
    assert (compliance["rostered_asn"], compliance["never_enrolled"]) == (SIZE, counts["never_enrolled"])
    assert counts["waitlisted"] > 0 and counts["promoted"] >= 1  # a full programme, and seats that moved up
    assert counts["completed_passed"] > counts["completed_failed"] > 0 and counts["completed_no_show"] > 0
    assert counts["certificates"] > 0

    # every place it points at answers with what it claims
    dashboard = platform.call("GET", "reporting", "/dashboard")
    assert dashboard.headers["Content-Type"].startswith("text/html") and "Bukittinggi" in dashboard.text
    code = result.certificate["verification_code"]
    assert platform.verify(code).json()["status"] == "valid"
    revoked = platform.verify(result.revoked["verification_code"]).json()
    assert (revoked["status"], revoked["revocation_reason"]) == ("revoked", demo.REVOCATION_REASON)
    pdf = platform.http.get(result.urls["pdf"], timeout=30)
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    inbox = platform.http.get(result.urls["inbox"], timeout=30).json()
    assert {"enrolled", "completed_passed", "nudge"} <= {m["kind"] for m in inbox["items"]}
    ledger = platform.http.get(result.urls["ledger"], timeout=30).json()
    [year] = ledger["years"]
    assert 0 < year["jp_total"] < ledger["target_jp"]  # credited, still short: hence the nudge
    holder = platform.get("reporting", f"/ledger/{result.certificate['holder']['nip']}")
    assert result.certificate["number"] in {e["certificate_number"] for y in holder["years"] for e in y["entries"]}
    waiting = platform.http.get(result.urls["waitlist"], timeout=30).json()
    assert waiting["total"] == counts["waitlisted"]
    assert result.checkpoint["status"] == "done" and result.checkpoint["nudged"] > 0

    for key in ("dashboard", "verification", "pdf", "inbox", "ledger"):
        assert result.urls[key] in printed
    assert "The demo is ready" in printed


def test_playing_the_demo_again_from_the_command_line_changes_nothing(stack, played):
    result, _ = played
    platform = Platform(stack)
    before = {code: platform.get("enrollment", "/enrolments", params={"programme": code, "limit": 1})["total"]
              for code in (p.spec.code for p in demo.build_plan(SIZE).programmes)}
    certificates = platform.get("certification", "/certificates", params={"per_page": 1})["total"]
    base_urls = ",".join(f"{s}={stack.url(s)}" for s in stack.services)
    token = stack.auth_headers("admin")["Authorization"].removeprefix("Bearer ")
    again = subprocess.run([sys.executable, "-m", "deploy.demo", "--base-urls", base_urls, "--asn", str(SIZE),
                            "--token", token, "--timeout", "120"],
                           cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stdout[-3000:] + again.stderr[-3000:]
    assert "published 12 programmes (0 new, 12 already there)" in again.stdout
    assert "0 new, 0 updated" in again.stdout  # recipients
    assert "was already done" in again.stdout  # the checkpoint nudges once
    after = {code: platform.get("enrollment", "/enrolments", params={"programme": code, "limit": 1})["total"]
             for code in before}
    assert after == before
    assert platform.get("certification", "/certificates", params={"per_page": 1})["total"] == certificates
    assert result.revoked["number"] in again.stdout  # the same certificate, revoked once


def test_the_demo_without_a_platform_says_where_it_looked(tmp_path):
    closed = ",".join(f"{s}=http://127.0.0.1:{port}" for s, port in free_ports().items())
    run = subprocess.run([sys.executable, "-m", "deploy.demo", "--base-urls", closed, "--token", "x",
                          "--timeout", "2"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert run.returncode == 1
    assert "demo stopped: gave up waiting for the platform; got only 0/4 services ready" in run.stderr
