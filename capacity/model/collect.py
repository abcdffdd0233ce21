"""Where ``capacity collect`` reads usage that the hosts and arrays entries do not reach:
a Prometheus server that scrapes the hosts' node_exporter (docs/operations.md, "Collecting
usage")."""

from __future__ import annotations

import posixpath

from pydantic import Field, field_validator

from capacity.endpoints import check_endpoint
from capacity.model.base import Model


class PrometheusFilesystem(Model):
    """One file system as node_exporter reports it, and the resource it is."""

    resource: str
    """The host tier it holds, as `HOST:TIER` of the inventory's `hosts:` (a file tier,
    not a bucket): the history row it gives."""
    instance: str = Field(min_length=1)
    """The `instance` label of the host's node_exporter series (the scrape target,
    such as `pacs-store.example:9100`)."""
    mountpoint: str
    """The `mountpoint` label: where the file system is mounted on that host."""

    @field_validator("resource")
    @classmethod
    def _host_tier(cls, value: str) -> str:
        host, colon, tier = value.partition(":")
        if not colon or not host or not tier or ":" in tier:
            raise ValueError(f"{value!r} is not HOST:TIER (a host of `hosts:` and one of its"
                             " tiers)")
        return value

    @field_validator("mountpoint")
    @classmethod
    def _absolute(cls, value: str) -> str:
        if not value.startswith("/"):
            raise ValueError(f"a mountpoint is an absolute path, got {value!r}")
        return posixpath.normpath(value)


class PrometheusSource(Model):
    """A Prometheus server whose HTTP API answers for the hosts' file systems."""

    url: str
    """`https://HOST[:PORT]` of the server (plain http only on this machine).  TLS is
    always verified."""
    ca_bundle: str | None = None
    """A PEM file of the CA that signed the server's certificate (without it, the
    system's CAs)."""
    filesystems: list[PrometheusFilesystem] = Field(min_length=1)
    """The file systems to read, each the resource it is."""

    @field_validator("url")
    @classmethod
    def _endpoint(cls, value: str) -> str:
        return check_endpoint(value)


class Collect(Model):
    """Sources of `capacity collect` beyond the hosts (over SSH) and the arrays (their
    `rest:` entries)."""

    prometheus: PrometheusSource | None = None
    """A Prometheus server to read file systems from (node_exporter's
    `node_filesystem_size_bytes` and `node_filesystem_free_bytes`)."""
