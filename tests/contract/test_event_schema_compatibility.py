"""Published event versions keep their schema: a breaking change needs a new major version."""
from __future__ import annotations

from dataclasses import replace

import pytest
from marshmallow import Schema, fields, validate

from shared.asyncapi import json_schema_of
from shared.events import registry
from shared.events.common import ParticipantSnapshot, ProgrammeSnapshot
from tests.contract.compat import (REFRESH_COMMAND, check, explain, incompatibilities, load_snapshots,
                                   snapshot_of)

pytestmark = pytest.mark.unit

COMPLETED = registry.get("enrollment", "completed", 1)


def completed_with(**changes) -> type[Schema]:
    """CompletedV1 with fields replaced (a field set to None is removed)."""
    declared = dict(COMPLETED.schema._declared_fields)
    for name, value in changes.items():
        if value is None:
            declared.pop(name)
        else:
            declared[name] = value
    return Schema.from_dict(declared, name="CompletedV1")


def problems_after(schema: type[Schema]) -> list[str]:
    return incompatibilities(json_schema_of(COMPLETED.schema), json_schema_of(schema))


# -- the registry against the stored snapshots -------------------------------------------------

def test_every_published_event_version_matches_its_stored_snapshot_or_changed_compatibly():
    report = check(registry.all_definitions(), load_snapshots())
    assert report.ok, "\n" + explain(report)


# -- the rules, on real event schemas -------------------------------------------------------------

def test_removing_a_field_is_a_breaking_change():
    assert problems_after(completed_with(score=None)) == ["data.score: field removed"]


def test_retyping_a_field_is_a_breaking_change():
    problems = problems_after(completed_with(jp_earned=fields.Str(required=True)))
    assert problems == ["data.jp_earned: retyped from integer to string"]


def test_changing_a_date_time_to_a_date_is_a_breaking_change():
    problems = problems_after(completed_with(completed_at=fields.Date(required=True)))
    assert problems == ["data.completed_at: retyped from string (date-time) to string (date)"]


def test_a_new_required_field_is_a_breaking_change():
    problems = problems_after(completed_with(certificate_expected=fields.Bool(required=True)))
    assert len(problems) == 1
    assert problems[0].startswith("data.certificate_expected: new required field")


def test_making_an_optional_field_required_is_a_breaking_change():
    problems = problems_after(completed_with(score=fields.Float(required=True, allow_none=True)))
    assert problems == ["data.score: now required (published events may lack it)"]


def test_narrowing_an_enum_is_a_breaking_change():
    problems = problems_after(completed_with(
        result=fields.Str(required=True, validate=validate.OneOf(("passed", "failed")))))
    assert problems == ["data.result: enum narrowed, ['no_show'] no longer allowed"]


def test_a_field_removed_inside_a_nested_snapshot_is_a_breaking_change():
    declared = dict(ParticipantSnapshot._declared_fields)
    declared.pop("agency")
    smaller = Schema.from_dict(declared, name="ParticipantSnapshot")
    problems = problems_after(completed_with(participant=fields.Nested(smaller, required=True)))
    assert problems == ["data.participant.agency: field removed"]


def test_a_field_that_may_now_be_null_is_a_breaking_change():
    problems = problems_after(completed_with(enrolment_id=fields.Str(required=True, allow_none=True)))
    assert problems == ["data.enrolment_id: may now be null"]


def test_tightening_a_constraint_is_a_breaking_change():
    problems = problems_after(completed_with(
        jp_earned=fields.Int(required=True, validate=validate.Range(min=1))))
    assert problems == ["data.jp_earned: minimum tightened from 0 to 1"]


def test_adding_an_optional_field_is_compatible():
    assert problems_after(completed_with(certificate_expected=fields.Bool(load_default=None,
                                                                          allow_none=True))) == []


def test_adding_an_optional_field_to_a_nested_snapshot_is_compatible():
    declared = {**ProgrammeSnapshot._declared_fields, "venue_url": fields.Url(allow_none=True)}
    bigger = Schema.from_dict(declared, name="ProgrammeSnapshot")
    assert problems_after(completed_with(programme=fields.Nested(bigger, required=True))) == []


def test_adding_an_enum_value_is_compatible():
    wider = fields.Str(required=True, validate=validate.OneOf(("passed", "failed", "no_show", "exempted")))
    assert problems_after(completed_with(result=wider)) == []


def test_loosening_a_constraint_and_rewording_are_compatible():
    declared = dict(COMPLETED.schema._declared_fields)
    declared["jp_earned"] = fields.Int(required=True, metadata={"description": "JP credited"})
    assert problems_after(Schema.from_dict(declared, name="CompletedV1")) == []


# -- the version rule, on a registry that changes ------------------------------------------------

def test_a_breaking_change_to_a_published_version_fails_the_check_and_says_what_to_do():
    snapshots = {COMPLETED.type: snapshot_of(COMPLETED)}
    broken = replace(COMPLETED, schema=completed_with(jp_earned=None))
    report = check([broken], snapshots)
    assert not report.ok
    assert report.breaking == {COMPLETED.type: ["data.jp_earned: field removed"]}
    assert "new major version" in explain(report)


def test_the_same_breaking_change_published_as_v2_beside_an_unchanged_v1_passes_once_recorded():
    snapshots = {COMPLETED.type: snapshot_of(COMPLETED)}
    v2 = replace(COMPLETED, version=2, schema=completed_with(jp_earned=None))
    first = check([COMPLETED, v2], snapshots)
    assert first.breaking == {} and first.missing == [v2.type]
    assert REFRESH_COMMAND in explain(first)  # a new version is recorded deliberately

    snapshots[v2.type] = snapshot_of(v2)
    assert check([COMPLETED, v2], snapshots).ok


def test_an_optional_field_added_to_a_published_version_passes_and_is_reported_for_refresh():
    snapshots = {COMPLETED.type: snapshot_of(COMPLETED)}
    grown = replace(COMPLETED, schema=completed_with(remarks=fields.Str(allow_none=True)))
    report = check([grown], snapshots)
    assert report.ok
    assert report.changed == [COMPLETED.type]


def test_a_published_version_dropped_from_the_registry_fails_the_check():
    snapshots = {COMPLETED.type: snapshot_of(COMPLETED)}
    report = check([], snapshots)
    assert report.removed == [COMPLETED.type]
    assert not report.ok


def test_moving_an_event_to_another_routing_key_is_a_breaking_change():
    snapshot = {**snapshot_of(COMPLETED), "routing_key": "finished"}
    report = check([COMPLETED], {COMPLETED.type: snapshot})
    assert report.breaking == {COMPLETED.type: ["routing_key changed from 'finished' to 'completed'"]}

