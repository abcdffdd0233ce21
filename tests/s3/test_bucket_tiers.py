"""A bucket tier as the inventory declares it (an object store's ``s3`` and a host tier's
``bucket``) reaches its bucket on the real S3 server: the tier's root is a key prefix there,
checked with a plain boto3 client.  Bad declarations are in tests/data/bad (bucket-*,
s3-plain-http), each reported at its line and column."""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

import pytest

from capacity.load import load_inventory
from capacity.tiering.hosts import s3_target
from capacity.transports.s3 import S3Transport
from capacity.yamlpos import InputError
from tests.s3server import S3Server

INVENTORY = """\
name: Bucket tiers
as_of: 2026-01-01
sites:
  main-dc: {{role: primary}}
object_stores:
  hcp1:
    site: main-dc
    raw: 1PB
    object_lock: true
    s3:
      endpoint: {endpoint}
      region: {region}
      ca_bundle: ~/hcp-ca.pem
hosts:
  pacs1:
    address: pacs1
    site: main-dc
    tiers:
      hot: /tiers/hot
      archive:
        storage: hcp1
        bucket: {bucket}
        path: /hospital-a
      dr:
        storage: hcp1
        bucket: {dr_bucket}
        path: /
"""


def test_a_bucket_tier_is_a_key_prefix_in_its_bucket(s3: S3Server, s3_bucket: str,
                                                     tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in s3.env().items():
        monkeypatch.setenv(name, value)
    path = tmp_path / "estate.yaml"
    path.write_text(INVENTORY.format(endpoint=s3.endpoint, region=s3.region,
                                     bucket=s3_bucket, dr_bucket="pacs-dr"))
    inv = load_inventory(path)
    tier = inv.hosts["pacs1"].tiers["archive"]
    target = s3_target(inv, tier)
    assert (target.bucket, target.prefix, target.endpoint, target.region) == (
        s3_bucket, "", s3.endpoint, s3.region)
    assert target.ca_bundle == os.path.expanduser("~/hcp-ca.pem")
    # The server here speaks plain HTTP (on loopback): no CA bundle to read.
    with S3Transport(replace(target, ca_bundle=None)) as archive:
        archive.write(f"{tier.path}/2019/03/STUDY/IM1.dcm", b"DICM")
        assert archive.listdir(tier.path) == ["2019"]
    keys = [o["Key"] for o in s3.client().list_objects_v2(
        Bucket=s3_bucket, Prefix="hospital-a/")["Contents"]]
    assert keys == ["hospital-a/2019/03/STUDY/IM1.dcm"]


def test_a_bucket_tier_and_a_file_tier_never_clash(tmp_path: Path) -> None:
    """Files and a bucket are namespaces of their own: '/' in a bucket overlaps no folder,
    but two tiers in one bucket may not nest."""
    path = tmp_path / "estate.yaml"
    path.write_text(INVENTORY.format(endpoint="https://hcp1.hospital.example",
                                     region="eu-central-1", bucket="pacs-archive",
                                     dr_bucket="pacs-archive"))
    with pytest.raises(InputError, match=r"tier 'archive' .* lies inside tier 'dr'"):
        load_inventory(path)
    path.write_text(INVENTORY.format(endpoint="https://hcp1.hospital.example",
                                     region="eu-central-1", bucket="pacs-archive",
                                     dr_bucket="pacs-dr"))
    inv = load_inventory(path)
    assert {t.bucket for t in inv.hosts["pacs1"].tiers.values()} == {
        None, "pacs-archive", "pacs-dr"}
