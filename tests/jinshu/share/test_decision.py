"""The exchange's pure rules: sharing classes, grant fields, exit masking, pseudonyms, deadlines."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import pytest

from jinshu.protect.pseudonyms import Pseudonymizer
from jinshu.share import deadlines
from jinshu.share.cursor import Cursors, MalformedCursor
from jinshu.share.decision import Caller, Grant, Refused, consumer_pseudonyms, decide

NOW = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
RENSHE = Caller("p_1", "sx_renshe", "department")
DEVELOPER = Caller("p_2", "sx_renshe", "developer")
GRANT = Grant(7, "household_registration", "sx_renshe", "approved", "社保资格核验",
              frozenset({"id_number", "name", "address", "county_code"}), NOW + timedelta(days=30))


@pytest.fixture
def not_shared(contracts):
    household = contracts["household_registration"]
    sharing = household.sharing.model_copy(update={"class_": "not_shared",
                                                   "legal_basis": "某法 第十条"})
    return household.model_copy(update={"sharing": sharing, "id": "secret_registry"})


@pytest.mark.parametrize(("dataset", "caller", "grant", "fields", "status", "code"), [
    ("household_registration", RENSHE, None, None, 403, "grant_required"),
    ("household_registration", RENSHE, replace(GRANT, department="sx_minzheng"), None, 403,
     "grant_of_another_department"),
    ("household_registration", RENSHE, replace(GRANT, dataset_id="minimum_living_allowance"), None,
     403, "grant_for_another_dataset"),
    ("household_registration", RENSHE, replace(GRANT, status="pending"), None, 403, "grant_pending"),
    ("household_registration", RENSHE, replace(GRANT, status="refused"), None, 403, "grant_refused"),
    ("household_registration", RENSHE, replace(GRANT, revoked_at=NOW), None, 403, "grant_revoked"),
    ("household_registration", RENSHE, replace(GRANT, expires_at=NOW), None, 403, "grant_expired"),
    ("household_registration", RENSHE, GRANT, ["name", "ethnicity"], 403, "field_outside_grant"),
    ("household_registration", RENSHE, GRANT, ["nickname"], 400, "unknown_field"),
    ("household_registration", DEVELOPER, GRANT, None, 403, "developers_unconditional_only"),
], ids=lambda v: v if isinstance(v, str) else None)
def test_refusals(contracts, dataset, caller, grant, fields, status, code):
    with pytest.raises(Refused) as refused:
        decide(contracts[dataset], caller, grant, fields, NOW)
    assert (refused.value.status, refused.value.code) == (status, code)
    assert refused.value.message.strip()


def test_not_shared_is_refused_naming_its_legal_basis(not_shared):
    with pytest.raises(Refused) as refused:
        decide(not_shared, RENSHE, replace(GRANT, dataset_id="secret_registry"), None, NOW)
    assert refused.value.code == "not_shared" and "某法 第十条" in refused.value.message


@pytest.mark.parametrize(("dataset", "grant", "fields", "expected"), [
    # conditional: only granted fields; personal ones clear, sensitive_personal never clear
    ("household_registration", GRANT, None,
     {"id_number": "mask", "name": "keep", "county_code": "keep", "address": "keep"}),
    ("household_registration", GRANT, ["county_code", "name"], {"name": "keep", "county_code": "keep"}),
    # unconditional: every field; personal ones masked unless a grant names them
    ("enterprise_registration", None, ["uscc", "legal_representative"],
     {"uscc": "keep", "legal_representative": "mask"}),
    ("enterprise_registration", Grant(9, "enterprise_registration", "sx_renshe", "approved", "核验",
                                      frozenset({"legal_representative"})),
     ["uscc", "legal_representative"], {"uscc": "keep", "legal_representative": "keep"}),
    ("vaccination_sites", None, None, None),
], ids=["conditional_all_granted", "conditional_minimized", "unconditional_masked",
        "unconditional_granted_clear", "unconditional_no_personal"])
def test_fields_leave_clear_only_as_a_grant_allows(contracts, dataset, grant, fields, expected):
    access = decide(contracts[dataset], RENSHE, grant, fields, NOW)
    if expected is None:  # every field, none of them masked: the dataset holds nothing personal
        assert access.fields == tuple(contracts[dataset].field_names)
    else:
        assert access.exits == expected
        assert list(access.fields) == [f for f in contracts[dataset].field_names if f in expected]
    assert access.grant_id == (grant.id if grant else None)


def test_sensitive_and_trade_secret_fields_are_never_clear_even_when_granted(contracts):
    household = contracts["household_registration"]
    grant = replace(GRANT, fields=frozenset(household.field_names))
    access = decide(household, RENSHE, grant, None, NOW)
    assert access.exits["id_number"] == access.exits["ethnicity"] == "mask"
    assert access.exits["name"] == "keep"


def test_a_subject_lookup_of_a_person_dataset_needs_a_grant(contracts):
    enterprise = contracts["enterprise_registration"]
    assert decide(enterprise, RENSHE, None, None, NOW, lookup=True).grant_id is None
    with pytest.raises(Refused):
        decide(contracts["household_registration"], RENSHE, None, None, NOW, lookup=True)


def test_pseudonym_scope_is_the_dataset_unless_the_grant_is_linkable(contracts):
    household = contracts["household_registration"]
    assert decide(household, RENSHE, GRANT, None, NOW).scope == "dataset:household_registration"
    linked = replace(GRANT, linkable=True, link="低保联审")
    assert decide(household, RENSHE, linked, None, NOW).scope == "link:低保联审"


def test_two_consumers_get_different_pseudonyms_and_a_link_joins_datasets():
    hmac = Pseudonymizer(b"k" * 32)
    person = ["ab" * 32]
    renshe = consumer_pseudonyms(hmac, "sx_renshe", "dataset:household_registration", person)
    minzheng = consumer_pseudonyms(hmac, "sx_minzheng", "dataset:household_registration", person)
    other_dataset = consumer_pseudonyms(hmac, "sx_renshe", "dataset:minimum_living_allowance", person)
    assert len({renshe[0], minzheng[0], other_dataset[0], person[0]}) == 4
    assert (consumer_pseudonyms(hmac, "sx_renshe", "link:x", person)
            == consumer_pseudonyms(hmac, "sx_renshe", "link:x", person))


@pytest.mark.parametrize(("received", "review", "holidays", "due"), [
    (date(2026, 11, 2), "conditional", set(), date(2026, 11, 9)),  # Mon + 5 -> next Mon
    (date(2026, 10, 30), "unconditional", set(), date(2026, 11, 3)),  # Fri + 2 -> Tue
    (date(2026, 11, 7), "unconditional", set(), date(2026, 11, 10)),  # Sat + 2 -> Tue
    (date(2026, 11, 2), "publish_first", set(), date(2026, 11, 16)),
    (date(2026, 9, 30), "conditional", {date(2026, 10, d) for d in range(1, 8)},
     date(2026, 10, 14)),  # the National Day week skipped
])
def test_deadlines_count_working_days(received, review, holidays, due):
    assert deadlines.due_on(received, review, frozenset(holidays)) == due
    assert not deadlines.is_overdue(due, due) and deadlines.is_overdue(due, due + timedelta(days=1))


@pytest.mark.parametrize(("sharing", "published", "review"), [
    ("unconditional", True, "unconditional"), ("conditional", True, "conditional"),
    ("conditional", False, "publish_first")])
def test_the_review_kind_follows_class_and_publication(sharing, published, review):
    assert deadlines.review_kind(sharing, published) == review


def test_a_cursor_round_trips_only_for_its_dataset_and_consumer():
    cursors = Cursors(b"c" * 32)
    sealed = cursors.seal(("ab" * 32,), "household_registration", "sx_renshe")
    assert "ab" * 8 not in sealed
    assert cursors.open(sealed, "household_registration", "sx_renshe", 1) == ("ab" * 32,)
    for cursor, dataset, consumer in [(sealed, "household_registration", "sx_minzheng"),
                                      (sealed, "minimum_living_allowance", "sx_renshe"),
                                      (sealed[:-2], "household_registration", "sx_renshe"),
                                      ("%%%", "household_registration", "sx_renshe")]:
        with pytest.raises(MalformedCursor):
            cursors.open(cursor, dataset, consumer, 1)
