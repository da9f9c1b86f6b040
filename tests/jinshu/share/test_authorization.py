"""Authorized development, the pure rules: complete, filed, unexpired, for that dataset and
organization; the stamp's checksum."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime

import pytest

from jinshu.share import stamp
from jinshu.share.authorization import (
    Authorization,
    NotAuthorized,
    RegistrationError,
    authorize,
    status,
    valid_uscc,
)
from jinshu.share.decision import Caller

USCC = "91140105MA0K1B2C1E"
NOW = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
DEVELOPER = Caller("p_dev", "sx_renshe", "developer", USCC)
COMPLETE = Authorization(7, "晋数科技有限公司", USCC, frozenset({"enterprise_registration"}),
                         "企业信用产品研发", "晋数协〔2026〕12号", date(2026, 10, 1), "晋数备〔2026〕3号",
                         date(2026, 10, 9), date(2027, 9, 30))


@pytest.mark.parametrize(("held", "code", "missing"), [
    ([], "authorization_required", ()),
    ([replace(COMPLETE, uscc="12140100123456788C")], "authorization_required", ()),  # another org
    ([replace(COMPLETE, datasets=frozenset({"vaccination_sites"}))], "authorization_required", ()),
    ([replace(COMPLETE, revoked_at=NOW)], "authorization_revoked", ()),
    ([replace(COMPLETE, filing_no=None, filed_on=None)], "authorization_incomplete", ("filing",)),
    ([replace(COMPLETE, filed_on=None)], "authorization_incomplete", ("filing",)),  # number alone
    ([replace(COMPLETE, agreement_no=None, agreement_on=None)], "authorization_incomplete",
     ("agreement",)),
    ([replace(COMPLETE, expires_on=date(2026, 11, 1))], "authorization_expired", ("expiry",)),
    ([replace(COMPLETE, agreement_no=None, filing_no=None, expires_on=date(2026, 1, 1))],
     "authorization_incomplete", ("agreement", "filing", "expiry")),
], ids=["none", "another_organization", "another_dataset", "revoked", "no_filing",
        "filing_without_date", "no_agreement", "expired", "nothing"])
def test_a_developer_reads_only_under_a_complete_filed_unexpired_authorization(held, code, missing):
    with pytest.raises(NotAuthorized) as refused:
        authorize(DEVELOPER, "enterprise_registration", held, NOW)
    assert (refused.value.status, refused.value.code, refused.value.missing) == (403, code, missing)
    message = refused.value.message
    assert all(m in message.split("missing: ")[1] for m in missing) if missing else True
    assert "Fix: " in message
    for value in ("晋数协", "晋数备", "2026-10-01", "2026-10-09", "2027-09-30", USCC):
        assert value not in message  # names what is missing, never a value it holds


def test_the_usable_authorization_is_chosen_and_the_refusal_names_the_closest_one():
    expired = replace(COMPLETE, id=1, expires_on=date(2026, 1, 1))
    unfiled = replace(COMPLETE, id=2, filing_no=None, filed_on=None)
    assert authorize(DEVELOPER, "enterprise_registration", [expired, unfiled, COMPLETE], NOW) == COMPLETE
    with pytest.raises(NotAuthorized) as refused:
        authorize(DEVELOPER, "enterprise_registration", [expired, unfiled], NOW)
    # as close as each other (one thing missing): the newest is named, with its own fix
    assert (refused.value.authorization_id, refused.value.missing) == (2, ("filing",))
    assert "authorization #2 " in refused.value.message
    assert "jinshu developers file 2 --filing-no" in refused.value.message


def test_a_term_runs_through_its_last_day_in_china():
    last_day = replace(COMPLETE, expires_on=date(2026, 11, 2))
    late_evening = datetime(2026, 11, 2, 15, 59, tzinfo=UTC)  # 23:59 in Shanghai
    assert authorize(DEVELOPER, "enterprise_registration", [last_day], late_evening) == last_day
    next_morning = datetime(2026, 11, 2, 16, 0, tzinfo=UTC)  # 00:00 on the 3rd in Shanghai
    with pytest.raises(NotAuthorized, match="missing: expiry"):
        authorize(DEVELOPER, "enterprise_registration", [last_day], next_morning)
    assert status(last_day, date(2026, 11, 3)) == "expired"


def test_a_developer_credential_without_an_organization_is_refused():
    with pytest.raises(NotAuthorized) as refused:
        authorize(replace(DEVELOPER, organization=None), "enterprise_registration", [COMPLETE], NOW)
    assert refused.value.code == "authorization_required" and "--uscc" in refused.value.message


@pytest.mark.parametrize(("code", "part"), [
    ("91140105MA0K1B2C1F", "check character does not match"),
    ("91140105MA0K1B2C1", "must have 18 characters"),
    ("91140105MA0K1B2CIE", "only digits and capital letters"),
    ("", "must have 18 characters"),
])
def test_an_invalid_uscc_names_the_field_the_part_and_the_fix_never_the_code(code, part):
    with pytest.raises(RegistrationError) as refused:
        valid_uscc(code)
    message = str(refused.value)
    assert message.startswith("field uscc: ") and part in message
    assert "Fix: copy the code from the business licence" in message
    assert not code or code not in message


def test_the_stamp_checksum_covers_every_row_value_and_verifies_from_the_body_alone():
    import json

    rows = [{"uscc": "91140105MA0K1B2C1E", "name": "晋数科技", "capital": "100.500000",
             "founded_on": "2020-01-02", "staff": 12, "_subject": "ab"}]
    body = json.loads(json.dumps({"dataset": "enterprise_registration", "rows": rows, "provenance": {
        "source_dataset": "enterprise_registration", "rows": 1, "checksum": stamp.checksum(rows)}}))
    assert stamp.verify(body) == []
    as_python = json.dumps(rows, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    assert stamp.canonical(rows) == as_python.encode()  # what a recipient recomputes
    body["rows"][0]["staff"] = 13
    assert stamp.verify(body) == ["checksum: the rows are not the ones delivered (edited, added "
                                  "or removed)"]
    body["rows"].append(dict(rows[0]))
    assert [p.split(":")[0] for p in stamp.verify(body)] == ["rows", "checksum"]
