"""The portal's pure rules: who signs in as what (claims -> role), supervisors, the CSRF check,
the progress chart's geometry, safe return paths, the catalogue's filters."""
from __future__ import annotations

from datetime import datetime, timezone

import pytest

from services.portal import config, domain
from shared import production

NIP = "198503152010011002"
MAP = {"bangkom-admin": "admin", "bangkom-operator": "operator"}


def claims_to_role(**claims):
    return domain.map_claims(claims, nip_claim="nip", role_claim="roles", agency_claim="kode_opd", role_map=MAP)


def test_an_asn_is_known_by_the_nip_claim():
    mapped = claims_to_role(sub="u1", nip="1985 0315 2010 01 1 002", name="Rina")
    assert (mapped["role"], mapped["nip"], mapped["agency"], mapped["name"]) == ("asn", NIP, None, "Rina")


def test_roles_come_from_the_mapped_role_claim_admin_first():
    assert claims_to_role(sub="a", roles=["bangkom-operator", "bangkom-admin"])["role"] == "admin"
    operator = claims_to_role(sub="o", roles="bangkom-operator", kode_opd="diskominfo", nip=NIP)
    assert (operator["role"], operator["agency"], operator["nip"]) == ("operator", "DISKOMINFO", NIP)
    # a role the map does not know gives nothing: an ASN by the NIP
    assert claims_to_role(sub="x", roles=["superuser"], nip=NIP)["role"] == "asn"


def test_an_operator_without_an_agency_or_an_asn_without_a_nip_is_refused_in_bahasa_indonesia():
    with pytest.raises(domain.SignInRefused, match="kode OPD"):
        claims_to_role(sub="o", roles=["bangkom-operator"])
    with pytest.raises(domain.SignInRefused, match="NIP"):
        claims_to_role(sub="n", name="Tanpa NIP")
    with pytest.raises(domain.SignInRefused, match="tidak sah"):
        claims_to_role(sub="n", nip="12345")


def test_supervisors_have_staff_or_act_for_someone_and_older_roster_answers_mean_not():
    assert domain.is_supervisor({"staff_count": 4, "acting_for": []})
    assert domain.is_supervisor({"staff_count": 0, "acting_for": ["199001012015031001"]})
    assert not domain.is_supervisor({"staff_count": 0, "acting_for": []})
    assert not domain.is_supervisor({"nip": NIP, "name": "Tanpa kolom baru"})
    assert not domain.is_supervisor(None)


def test_the_menu_follows_the_roles():
    asn = domain.Identity(role="asn", subject="s", name="Rina", nip=NIP)
    keys = [i["key"] for i in domain.nav(asn)]
    assert keys == ["beranda", "katalog", "riwayat", "sertifikat", "kotak-masuk", "kalender"]
    boss = domain.Identity(role="asn", subject="s", name="Yus", nip=NIP, supervisor=True)
    assert {"persetujuan", "tim"} <= {i["key"] for i in domain.nav(boss)}
    admin = [i["key"] for i in domain.nav(domain.Identity(role="admin", subject="a", name="Admin"))]
    assert admin == ["beranda", "admin-log-akses"]
    operator = [i["key"] for i in domain.nav(domain.Identity(role="operator", subject="o", name="Op", agency="X"))]
    assert operator == ["beranda", "operator-plt"]
    assert [i["key"] for i in domain.nav(None)] == ["masuk"]


def test_csrf_tokens_match_only_exactly_and_never_when_missing():
    token = domain.new_secret()
    assert domain.csrf_ok(token, token)
    assert not domain.csrf_ok(token, token[:-1] + ("A" if token[-1] != "A" else "B"))
    assert not domain.csrf_ok(token, None) and not domain.csrf_ok(None, None) and not domain.csrf_ok("", "")
    assert domain.digest(token) != token and len(domain.digest(token)) == 64


@pytest.mark.parametrize("path,expected", [
    ("/katalog?jenis=seminar", "/katalog?jenis=seminar"), ("//evil.example/x", "/"),
    ("https://evil.example", "/"), ("/\\evil", "/"), ("", "/"), (None, "/"), ("/a\nb", "/")])
def test_return_paths_stay_on_the_portal(path, expected):
    assert domain.safe_next(path) == expected


def test_the_chart_puts_the_bar_and_the_two_targets_on_one_scale():
    chart = domain.progress_chart(12, 20, 15, "triwulan III tahun 2026", width=320)
    plot = chart["plot_w"]
    scale = chart["scale"]
    assert scale >= 22  # room beyond the target
    assert chart["bar_w"] == pytest.approx(plot * 12 / scale, abs=0.1)
    target = next(m for m in chart["markers"] if m["key"] == "target")
    checkpoint = next(m for m in chart["markers"] if m["key"] == "checkpoint")
    assert target["x"] == pytest.approx(chart["left"] + plot * 20 / scale, abs=0.1)
    assert checkpoint["x"] < target["x"]
    assert "triwulan III" in checkpoint["label"]
    assert (chart["met"], chart["on_track"]) == (False, False)
    done = domain.progress_chart(25, 20, 15)
    assert done["met"] and done["on_track"] and done["bar_w"] <= done["plot_w"]


def test_the_chart_copes_with_no_jp_and_no_checkpoint():
    chart = domain.progress_chart(0, 20)
    assert chart["bar_w"] == 0 and [m["key"] for m in chart["markers"]] == ["target"]
    assert chart["on_track"] is True


def test_the_catalogue_shows_published_programmes_not_over_of_the_month_soonest_first():
    now = datetime(2026, 3, 10, tzinfo=timezone.utc)
    programmes = [
        {"code": "B", "status": "published", "starts_at": "2026-04-02T01:00:00Z", "ends_at": "2026-04-03T09:00:00Z"},
        {"code": "A", "status": "published", "starts_at": "2026-03-31T17:30:00Z", "ends_at": "2026-04-01T09:00:00Z"},
        {"code": "OLD", "status": "published", "starts_at": "2026-02-02T01:00:00Z", "ends_at": "2026-02-03T09:00:00Z"},
        {"code": "X", "status": "cancelled", "starts_at": "2026-04-02T01:00:00Z", "ends_at": "2026-04-03T09:00:00Z"},
    ]
    filters = domain.check_filters("pelatihan", "bogus", "2026-04")
    assert filters == {"kind": "pelatihan", "competency_type": None, "month": "2026-04"}
    # A starts on 1 April in WIB (31 March 17:30 UTC)
    assert [p["code"] for p in domain.catalogue(programmes, filters, now)] == ["A", "B"]
    assert [p["code"] for p in domain.catalogue(programmes, domain.check_filters(None, None, None), now)] == ["A", "B"]
    assert domain.check_filters(None, None, "2026-13")["month"] is None


def test_seats_waitlist_and_approval_in_words():
    assert domain.seats_text({"seats_left": 3, "capacity": 20}) == "Sisa 3 kursi dari 20"
    assert domain.seats_text({"seats_left": 0, "capacity": 20, "waitlisted": 4}) == "Kursi penuh; daftar tunggu 4 orang"
    assert domain.enrolment_text({"status": "waitlisted", "waitlist_position": 2}) == "Daftar tunggu nomor 2"
    assert domain.enrolment_text({"status": "awaiting_approval", "approval": {"approver_name": "Yus"}}) == \
        "Menunggu persetujuan atasan (Yus)"
    assert "menunggu persetujuan atasan" in domain.enrol_outcome({"status": "awaiting_approval", "holds": "seat"})
    assert "nomor 5" in domain.enrol_outcome({"status": "waitlisted", "waitlist_position": 5})


def test_an_active_enrolment_wins_over_a_cancelled_one_of_the_same_programme():
    mine = domain.own_enrolments_by_programme([
        {"programme_code": "P", "status": "enrolled", "created_at": "2026-01-01T00:00:00Z", "id": "1"},
        {"programme_code": "P", "status": "cancelled", "created_at": "2026-02-01T00:00:00Z", "id": "2"}])
    assert mine["P"]["id"] == "1"


def test_role_map_and_flags_parse_or_name_the_problem():
    assert config.parse_role_map("a=admin, b=operator,") == {"a": "admin", "b": "operator"}
    with pytest.raises(ValueError):
        config.parse_role_map("a=root")
    assert config.parse_flag("ya") is True and config.parse_flag("off") is False
    with pytest.raises(ValueError):
        config.parse_flag("maybe")


def test_production_refuses_the_development_sign_in_and_development_secrets(monkeypatch):
    monkeypatch.setenv("ASN_ENV", "production")
    oidc = config.OidcConfig(issuer="https://sso.example", client_secret="a-real-secret-of-enough-length")
    with pytest.raises(production.ProductionConfigError, match="PORTAL_DEV_SIGNIN"):
        config.check_production(True, oidc, "https://portal.example")
    with pytest.raises(production.ProductionConfigError, match="CLIENT_SECRET"):
        config.check_production(False, config.OidcConfig(issuer="https://sso.example", client_secret="dev-x"),
                                "https://portal.example")
    with pytest.raises(production.ProductionConfigError, match="PUBLIC_URL"):
        config.check_production(False, oidc, "http://portal.example")
    config.check_production(False, oidc, "https://portal.example")  # fine
    monkeypatch.setenv("ASN_ENV", "development")
    config.check_production(True, config.OidcConfig(issuer=None), "http://127.0.0.1:8005")


def test_production_turns_the_development_sign_in_off_by_default(monkeypatch, tmp_path):
    secret = tmp_path / "s"
    secret.write_text("x" * 40)
    monkeypatch.setenv("PORTAL_AUTH_SECRET_FILE", str(secret))
    monkeypatch.setenv("PORTAL_OIDC_ISSUER", "https://sso.example")
    monkeypatch.setenv("PORTAL_PUBLIC_URL", "https://portal.example")
    monkeypatch.setenv("PORTAL_OIDC_CLIENT_SECRET", "a-real-secret-of-enough-length")
    monkeypatch.setenv("ASN_ENV", "production")
    assert config.load().dev_signin is False
    monkeypatch.setenv("PORTAL_DEV_SIGNIN", "on")
    with pytest.raises(production.ProductionConfigError):
        config.load()
    monkeypatch.setenv("ASN_ENV", "development")
    monkeypatch.delenv("PORTAL_DEV_SIGNIN")
    assert config.load().dev_signin is True
