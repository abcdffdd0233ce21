"""Object Lock as a policy says it and as the S3 transport writes it.

A policy's lock lasts its retention from the unit's date, and ends on the first day its
expiry rule would let the unit go: the two are held to each other over every date, and to
calendar arithmetic done by hand.  Through the real S3 server: an object the transport
writes locked cannot have a version deleted, is never overwritten in place, its retention
is never shortened (refused by the transport itself: the test server would allow it), and a
legal hold blocks expiry until it is lifted.
"""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError
from hypothesis import given
from hypothesis import strategies as st

from capacity.model import Policy
from capacity.model.policy import LockTerms
from capacity.transports import PermissionDenied
from capacity.transports.s3 import S3Target, S3Transport
from capacity.units import Years, parse_days
from tests.s3server import S3Server

TODAY = dt.datetime.now(dt.UTC).date()


def policy(retention: str, mode: str = "compliance", holds: list[dict[str, Any]] | None = None
           ) -> Policy:
    return Policy.model_validate({
        "hosts": ["pacs1"], "rules": [{"name": "archive", "source": "hot",
                                       "target": "archive"}],
        "retention": retention, "lock": {"mode": mode}, "holds": holds or []})


@pytest.mark.parametrize(("dated", "retention", "ends"), [
    (dt.date(2019, 3, 14), "10y", dt.date(2029, 3, 14)),
    (dt.date(2024, 2, 29), "5y", dt.date(2029, 3, 1)),  # no 29 February in 2029
    (dt.date(2024, 2, 29), "4y", dt.date(2028, 2, 29)),
    (dt.date(2026, 12, 2), "90d", dt.date(2027, 3, 2)),
])
def test_a_lock_ends_when_the_retention_from_the_units_date_has_run_out(
        dated: dt.date, retention: str, ends: dt.date) -> None:
    terms = policy(retention).lock_terms("2019/03/STUDY", [], dated, TODAY)
    assert terms == LockTerms("compliance", ends, False)


@given(dated=st.dates(dt.date(1990, 1, 1), dt.date(2060, 12, 31)),
       later=st.integers(0, 40 * 366), years=st.integers(1, 30), as_days=st.booleans())
def test_the_lock_ends_on_the_first_day_expiry_allows(dated: dt.date, later: int, years: int,
                                                     as_days: bool) -> None:
    """One rule: on any day, the unit may expire exactly when its lock has ended."""
    retention = f"{years * 365}d" if as_days else f"{years}y"
    p = policy(retention)
    today = dated + dt.timedelta(days=later)
    terms = p.lock_terms("u", [], dated, today)
    assert terms is not None
    assert p.may_expire("u", [], (today - dated).days, today) == (today >= terms.retain_until)


def test_holds_put_a_legal_hold_and_a_lock_needs_a_retention() -> None:
    held = policy("10y", "governance", [{"paths": ["2019/03/*"], "reason": "case 2026-17"}])
    assert held.lock_terms("2019/03/STUDY", [], dt.date(2019, 3, 1), TODAY) == LockTerms(
        "governance", dt.date(2029, 3, 1), True)
    assert not held.lock_terms("2019/04/STUDY", [], dt.date(2019, 4, 1), TODAY).legal_hold
    with pytest.raises(ValueError, match="a lock lasts as long as the policy's retention"):
        Policy.model_validate({"hosts": ["pacs1"], "rules": [
            {"name": "a", "source": "hot", "target": "archive"}], "lock": {"mode":
                                                                          "compliance"}})
    assert parse_days("5y") == Years(5)


@pytest.fixture
def archive(s3: S3Server, s3_bucket: str, monkeypatch: pytest.MonkeyPatch
            ) -> Iterator[S3Transport]:
    for name, value in s3.env().items():
        monkeypatch.setenv(name, value)
    with S3Transport(S3Target(s3_bucket, f"lock-{secrets.token_hex(4)}/",
                              endpoint=s3.endpoint)) as t:
        yield t


def versions(s3: S3Server, t: S3Transport, path: str) -> list[dict[str, Any]]:
    listed = s3.client().list_object_versions(Bucket=t.target.bucket, Prefix=t.key(path))
    return [v for v in listed.get("Versions", []) if v["Key"] == t.key(path)]


def test_a_locked_object_keeps_every_version(s3: S3Server, archive: S3Transport) -> None:
    study_day = dt.date(TODAY.year - 10, TODAY.month, min(TODAY.day, 28)) + dt.timedelta(
        days=3)
    terms = policy("10y").lock_terms("2016/STUDY", [], study_day, TODAY)
    assert terms is not None and terms.retain_until > TODAY
    archive.write("/2016/STUDY/IM1.dcm", b"the image", lock=terms)
    assert archive.lock_of("/2016/STUDY/IM1.dcm") == terms
    client = s3.client()
    (first,) = versions(s3, archive, "/2016/STUDY/IM1.dcm")
    with pytest.raises(ClientError) as refused:
        client.delete_object(Bucket=archive.target.bucket, VersionId=first["VersionId"],
                             Key=archive.key("/2016/STUDY/IM1.dcm"))
    assert refused.value.response["Error"]["Code"] == "AccessDenied"
    # A second write makes a new version; the locked one stays as it was.
    archive.write("/2016/STUDY/IM1.dcm", b"ransomware's encryption", lock=terms)
    old = client.get_object(Bucket=archive.target.bucket, VersionId=first["VersionId"],
                            Key=archive.key("/2016/STUDY/IM1.dcm"))
    assert old["Body"].read() == b"the image"
    with pytest.raises(PermissionDenied, match="not expired: its compliance retention ends"):
        archive.purge("/2016/STUDY/IM1.dcm", TODAY)
    assert len(versions(s3, archive, "/2016/STUDY/IM1.dcm")) == 2


def test_a_retention_is_extended_but_never_shortened(s3: S3Server,
                                                     archive: S3Transport) -> None:
    until = TODAY + dt.timedelta(days=30)
    archive.write("/IM1.dcm", b"x", lock=LockTerms("compliance", until, False))
    with pytest.raises(PermissionDenied, match="never shortened"):
        archive.extend_lock("/IM1.dcm", until - dt.timedelta(days=1))
    assert archive.lock_of("/IM1.dcm") == LockTerms("compliance", until, False)
    archive.extend_lock("/IM1.dcm", until + dt.timedelta(days=365))
    head = s3.client().head_object(Bucket=archive.target.bucket, Key=archive.key("/IM1.dcm"))
    assert head["ObjectLockRetainUntilDate"].date() == until + dt.timedelta(days=365)
    assert head["ObjectLockMode"] == "COMPLIANCE"


def test_a_legal_hold_blocks_expiry_until_it_is_lifted(s3: S3Server,
                                                       archive: S3Transport) -> None:
    archive.write("/held/IM1.dcm", b"evidence")
    archive.write("/free/IM1.dcm", b"expired")
    archive.set_legal_hold("/held/IM1.dcm", True)
    assert archive.lock_of("/held/IM1.dcm") == LockTerms("governance", dt.date.min, True)
    with pytest.raises(PermissionDenied, match="a legal hold is on it"):
        archive.purge("/held/IM1.dcm", TODAY)
    (held,) = versions(s3, archive, "/held/IM1.dcm")
    with pytest.raises(ClientError):  # and the server refuses it too
        s3.client().delete_object(Bucket=archive.target.bucket, VersionId=held["VersionId"],
                                  Key=archive.key("/held/IM1.dcm"))
    archive.set_legal_hold("/held/IM1.dcm", False)
    assert archive.purge("/held/IM1.dcm", TODAY) == 1
    archive.delete("/free/IM1.dcm")  # a delete marker over one version
    assert archive.purge("/free/IM1.dcm", TODAY) == 2
    listed = s3.client().list_object_versions(Bucket=archive.target.bucket,
                                              Prefix=archive.target.prefix)
    assert listed.get("Versions", []) == [] and listed.get("DeleteMarkers", []) == []


def test_a_large_object_is_locked_as_a_small_one(s3: S3Server, s3_bucket: str,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    import io
    import os

    from capacity.transports.s3 import MIN_PART

    for name, value in s3.env().items():
        monkeypatch.setenv(name, value)
    terms = LockTerms("compliance", TODAY + dt.timedelta(days=3650), True)
    data = os.urandom(MIN_PART + 1)
    with S3Transport(S3Target(s3_bucket, f"lock-{secrets.token_hex(4)}/",
                              endpoint=s3.endpoint, part_size=MIN_PART)) as t:
        assert t.upload("/CT.dcm", io.BytesIO(data), len(data), lock=terms).endswith("-2")
        assert t.lock_of("/CT.dcm") == terms
        with pytest.raises(PermissionDenied, match="a legal hold is on it"):
            t.purge("/CT.dcm", TODAY)
