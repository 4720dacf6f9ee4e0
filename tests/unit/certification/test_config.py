"""The signatories per organiser (CERTIFICATION_SIGNATORIES) and the number format, as an
operator configures them, and what production mode refuses."""
from __future__ import annotations

import json

import pytest

from services.certification import config
from shared.production import ProductionConfigError
from shared.reference import organisers

REAL_KEY = "AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyA="  # 32 bytes, not the development seed
CITY = {"role": "Wali Kota Bukittinggi", "name": "H. Hendra Saputra", "nip": "19700101 199503 1 001"}
BKN = {"role": "Kepala Kantor Regional XII BKN Pekanbaru", "name": "Drs. Andi Wijaya", "nip": None}


@pytest.fixture
def environment(monkeypatch):
    for name in ("SIGNATORIES", "NUMBER_FORMAT", "ASN_ENV"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(f"CERTIFICATION_{name}", raising=False)
    return monkeypatch


def signatories(environment, value) -> dict:
    environment.setenv("CERTIFICATION_SIGNATORIES", value if isinstance(value, str) else json.dumps(value))
    return config._signatories(config.env("SIGNATORIES", None, config.SERVICE))


def names(by_organiser: dict, code: str) -> list[str]:
    return [s.name for s in by_organiser.get(code) or by_organiser.get(config.ANY_ORGANISER)]


def test_development_has_a_placeholder_signatory_for_every_organiser_of_the_reference_list(environment):
    defaults = config._signatories(None)
    assert set(defaults) == set(organisers())
    assert names(defaults, "PEMKOT_BUKITTINGGI") == ["Nama Wali Kota"]
    assert names(defaults, "LKPP") == ["Nama Pejabat LKPP"]
    assert all(config.is_placeholder(s.name) for group in defaults.values() for s in group)


def test_signatories_are_configured_per_organiser_and_the_nip_may_be_typed_as_printed(environment):
    configured = signatories(environment, {"PEMKOT_BUKITTINGGI": [CITY], "BKN": [BKN]})
    assert names(configured, "PEMKOT_BUKITTINGGI") == ["H. Hendra Saputra"]
    assert configured["PEMKOT_BUKITTINGGI"][0].nip == "197001011995031001"
    assert names(configured, "BKN") == ["Drs. Andi Wijaya"]
    assert names(configured, "LKPP") == ["Nama Pejabat LKPP"]  # development fills the others


def test_the_list_of_the_first_version_signs_for_every_organiser(environment):
    configured = signatories(environment, [CITY])
    assert configured == {"*": (config.Signatory(CITY["role"], CITY["name"], "197001011995031001"),)}


@pytest.mark.parametrize("value, message", [
    ({"PEMKOT": [CITY]}, "unknown organisers \\['PEMKOT'\\]"),
    ({"BKN": []}, "one to three"),
    ({"BKN": [BKN] * 4}, "one to three"),
    ({"BKN": [{"role": "Kepala"}]}, "a role and a name"),
    ({"BKN": [{**BKN, "nip": "1970"}]}, "18 digits"),
    ("[{", "is not JSON"),
    ('"Wali Kota"', "must be a JSON object"),
])
def test_a_malformed_setting_stops_the_start_naming_the_variable_and_the_reason(environment, value, message):
    with pytest.raises(ValueError, match=message) as refused:
        signatories(environment, value)
    assert "CERTIFICATION_SIGNATORIES" in str(refused.value)


def test_production_refuses_placeholder_names_for_any_organiser(environment):
    environment.setenv("ASN_ENV", "production")
    with pytest.raises(ProductionConfigError, match="SIGNATORIES.*placeholder"):
        config.check_production(REAL_KEY, config._signatories(None))  # unset: the placeholders
    configured = signatories(environment, {"*": [CITY], "LKPP": [{"role": "Kepala LKPP", "name": "Nama Pejabat LKPP"}]})
    with pytest.raises(ProductionConfigError, match="Nama Pejabat LKPP"):
        config.check_production(REAL_KEY, configured)


def test_production_refuses_an_organiser_nobody_signs_for_and_fills_no_gap_with_a_placeholder(environment):
    environment.setenv("ASN_ENV", "production")
    configured = signatories(environment, {"PEMKOT_BUKITTINGGI": [CITY], "BKN": [BKN]})
    assert set(configured) == {"PEMKOT_BUKITTINGGI", "BKN"}
    with pytest.raises(ProductionConfigError, match="no signatories for the organisers \\['LAN', 'LKPP'"):
        config.check_production(REAL_KEY, configured)
    # every organiser covered: its own list, "*" for the others (or the list form)
    config.check_production(REAL_KEY, signatories(environment, {"PEMKOT_BUKITTINGGI": [CITY], "BKN": [BKN],
                                                                "*": [CITY]}))
    config.check_production(REAL_KEY, signatories(environment, [CITY]))


def test_development_starts_with_the_placeholders(environment):
    config.check_production(None, config._signatories(None))  # nothing refused outside production


def test_the_number_format_may_use_the_issuer_and_a_broken_one_stops_the_start(environment):
    assert config._number_format() == "{seq:04d}/{issuer}/SERT-{line}/{year}"
    environment.setenv("CERTIFICATION_NUMBER_FORMAT", "{seq:04d}/BKN-BKT/SERT-{line}/{year}")
    assert config._number_format() == "{seq:04d}/BKN-BKT/SERT-{line}/{year}"  # the first version's
    environment.setenv("CERTIFICATION_NUMBER_FORMAT", "{seq:04d}/{penerbit}/{year}")
    with pytest.raises(ValueError, match="CERTIFICATION_NUMBER_FORMAT.*{issuer}"):
        config._number_format()
