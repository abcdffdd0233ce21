"""The whole estate: one inventory, possibly written over several files."""

from __future__ import annotations

import ipaddress
import itertools
import posixpath
import re
from dataclasses import dataclass
from typing import Literal, Self

from pydantic import Field, field_validator, model_validator

from capacity.model.base import Date, Model, Name
from capacity.model.collect import Collect
from capacity.model.demand import Procurement, Replication, Workload
from capacity.model.estate import Array, Cluster, ObjectStore, Pool, Site, Support, Thresholds
from capacity.model.hardware import Catalog
from capacity.model.policy import Pacing, Policy, Rule

_HOST_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]{0,252}")
_SECRET = re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----|^(AKIA|ASIA)[A-Z0-9]{16}$")


_BUCKET = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")


class HostTier(Model):
    """A tier as a host sees it: a directory, and the storage resource behind it; or, with
    ``bucket``, a bucket of an object store."""

    path: str
    """Absolute path of the tier root on the host; in a bucket, the key prefix of the tier
    ('/hospital-a' holds the keys 'hospital-a/...', '/' the whole bucket)."""
    storage: str | None = None
    """The resource the directory lives on ('ARRAY/POOL', a cluster or an object store), so
    the simulator can play the host's policy forward on it.  A bucket tier names the object
    store that holds the bucket, whose ``s3`` says where it answers."""
    bucket: str | None = None
    """The bucket that holds the tier, on the object store ``storage`` names: the tier is
    objects, not files (no rename, no folders of its own)."""

    @field_validator("bucket")
    @classmethod
    def _bucket_name(cls, value: str | None) -> str | None:
        if value is not None and (not _BUCKET.fullmatch(value) or ".." in value):
            raise ValueError(f"{value!r} is not a bucket name (3-63 lower-case letters,"
                             " digits, '.' and '-', starting and ending with a letter or"
                             " digit)")
        return value

    @model_validator(mode="after")
    def _bucket_on_a_store(self) -> Self:
        if self.bucket is not None and self.storage is None:
            raise ValueError("a bucket tier names the object store that holds the bucket"
                             " (storage)")
        return self

    @model_validator(mode="before")
    @classmethod
    def _from_path(cls, value: object) -> object:
        return {"path": value} if isinstance(value, str) else value

    @field_validator("path")
    @classmethod
    def _absolute(cls, value: str) -> str:
        if not value.startswith("/"):
            raise ValueError(f"a tier root must be an absolute path, got {value!r}")
        return posixpath.normpath(value)


def path_contains(outer: str, inner: str) -> bool:
    """Whether ``inner`` is ``outer`` or lies below it (normalised absolute paths)."""
    return inner == outer or inner.startswith(outer.rstrip("/") + "/")


def overlapping_roots(roots: dict[str, str]) -> list[tuple[str, str]]:
    """Pairs of tiers (outer, inner) whose roots are one folder or one inside the other: an
    expiry on the outer tier would plan the inner tier's root as a unit and delete it."""
    return [(a, b) for a, b in itertools.permutations(roots, 2)
            if path_contains(roots[a], roots[b]) and (roots[a] != roots[b] or a < b)]


class Host(Model):
    """A machine the tiering engine reaches over SSH.  Credentials are never written here:
    authentication uses ssh-agent, or the key file named by ``key``."""

    address: str
    """Host name or IP address to reach over SSH (~/.ssh/config aliases work)."""
    port: int | None = Field(default=None, ge=1, le=65535)
    """SSH port; default: the Port ~/.ssh/config gives the host, else 22 (as OpenSSH)."""
    user: str | None = None
    """Remote user; default from ~/.ssh/config or the local user."""
    key: str | None = None
    """Path of a private key file (not the key itself); default: ssh-agent and ~/.ssh."""
    known_hosts: str | None = None
    """known_hosts file to verify the host key against; default ~/.ssh/known_hosts."""
    site: Name | None = None
    """The site the host stands in."""
    tiers: dict[Name, HostTier] = Field(min_length=1)
    """Tier name -> root directory (a path, or 'path' and 'storage')."""
    pacing: Pacing = Field(default_factory=Pacing)
    """Windows and bandwidth for this host, on top of each policy's own."""
    copies_in_flight: int = Field(default=1, ge=1, le=16)
    """Units of a batch copied at once where a batch is copied by `cp -a` or `rsync` (a host
    without `python3`, or a bandwidth limit); more than 1 where the host has cores and
    spindles to spare (the copies then share its disks and its bandwidth limit each).
    Elsewhere the interpreter that copies a batch copies as many files at once as the host
    has cores."""
    lock: str = ".capacity-apply.lock"
    """Where the apply lock lives on the host (relative paths are in the remote user's
    home): one apply per host at a time, whichever controller runs it."""

    @field_validator("lock")
    @classmethod
    def _lock_file(cls, value: str) -> str:
        if not value.strip() or value.endswith("/") or len(value) > 4096:
            raise ValueError("the lock must name a file, such as '.capacity-apply.lock'")
        if any(ord(char) < 32 for char in value):
            raise ValueError("the lock path has a control character")
        return value

    @field_validator("address")
    @classmethod
    def _host_name(cls, value: str) -> str:
        # ssh_config may run commands on what it is given (Match exec "... %h"): only a
        # host name, an ssh_config alias of the same syntax, or an IP address gets through.
        try:
            ipaddress.ip_address(value)
            return value
        except ValueError:
            pass
        if not _HOST_NAME.fullmatch(value):
            raise ValueError(f"{value!r} is not a host name or an IP address (letters, digits,"
                             " '.', '-' and '_', not starting with '-' or '.')")
        return value

    @field_validator("tiers")
    @classmethod
    def _roots_apart(cls, tiers: dict[str, HostTier]) -> dict[str, HostTier]:
        # Files, and each bucket, are namespaces of their own: roots can only clash within one.
        spaces = {tier.bucket for tier in tiers.values()}
        clash = [pair for space in spaces for pair in overlapping_roots(
            {name: tier.path for name, tier in tiers.items() if tier.bucket == space})]
        if clash:
            outer, inner = clash[0]
            where = ("is the same folder as" if tiers[outer].path == tiers[inner].path
                     else "lies inside")
            raise ValueError(f"tier {inner!r} ({tiers[inner].path}) {where} tier {outer!r}"
                             f" ({tiers[outer].path}): tier roots may not nest or overlap")
        return tiers

    @field_validator("key", "address", "user")
    @classmethod
    def _no_secrets(cls, value: str | None) -> str | None:
        if value is not None and _SECRET.search(value):
            raise ValueError("secrets never live in the inventory: name a key file, or use"
                             " ssh-agent")
        return value


ResourceKind = Literal["pool", "cluster", "object_store"]


@dataclass(frozen=True)
class Resource:
    """A resolved reference to a storage resource."""

    kind: ResourceKind
    ref: str
    """As written: 'ARRAY/POOL', 'CLUSTER' or 'STORE'."""
    site: str


@dataclass(frozen=True)
class Route:
    """A policy rule as it acts on storage: from one resource to another (target None:
    expire), taking data once it is ``age`` days old (an expiry never before the policy's
    retention)."""

    rule: Rule
    source: str
    target: str | None
    age: int


class Licence(Model):
    """Software paid for a year by capacity or by cores."""

    per: Literal["tb", "core"]
    """'tb': per TB (10^12 bytes) of the capacity the resources offer; 'core': per
    physical core of the clusters' nodes."""
    price: float = Field(ge=0)
    """A year, per TB or per core, in the inventory's currency."""
    applies_to: list[str] = Field(min_length=1)
    """The resources it covers: clusters for 'core'; pools 'ARRAY/POOL', clusters or
    object stores for 'tb'."""


class Inventory(Model):
    """An estate: sites, hardware, the data on it, and the policies that move that data."""

    name: str
    """Name of the estate, shown in reports."""
    as_of: Date
    """The date that stored volumes and fill levels describe."""
    currency: str = "USD"
    """Currency of every cost in the inventory (ISO 4217 code)."""
    power_price: float = Field(default=0.0, ge=0, le=1000)
    """Price of a kWh of power, in the inventory's currency, for the equipment's running
    cost (cooling included if the price includes it)."""
    include: list[str] = Field(default_factory=list)
    """Further files of this inventory, relative to this one; each adds sections or entries."""
    catalog: Catalog = Field(default_factory=Catalog)
    """Additions to the built-in hardware catalogue, and overrides of any of its figures."""
    sites: dict[Name, Site] = Field(min_length=1)
    """Data centres and server rooms, by name."""
    clusters: dict[Name, Cluster] = Field(default_factory=dict)
    """Hyper-converged clusters, by name."""
    arrays: dict[Name, Array] = Field(default_factory=dict)
    """Block-storage arrays, by name."""
    object_stores: dict[Name, ObjectStore] = Field(default_factory=dict)
    """S3-compatible object stores and archives, by name."""
    replications: dict[Name, Replication] = Field(default_factory=dict)
    """Copy relations between storage resources (GAD, remote copy, backup)."""
    workloads: dict[Name, Workload] = Field(default_factory=dict)
    """Data and compute demand, with the business drivers behind them."""
    hosts: dict[Name, Host] = Field(default_factory=dict)
    """Machines the tiering engine reaches, with their tier directories."""
    policies: dict[Name, Policy] = Field(default_factory=dict)
    """Tier and lifecycle policies, shared by the simulator and the executor."""
    procurement: dict[Name, Procurement] = Field(default_factory=dict)
    """How each expandable resource grows: unit, lead time, cost."""
    licences: dict[Name, Licence] = Field(default_factory=dict)
    """Software paid a year per TB or per core (virtualisation, storage software)."""
    collect: Collect = Field(default_factory=Collect)
    """Where `capacity collect` reads usage beyond the hosts and the arrays' REST APIs."""

    @model_validator(mode="after")
    def _unique_resource_names(self) -> Self:
        # Clusters, arrays and object stores share one namespace so a bare name is unambiguous.
        seen: dict[str, str] = {}
        for section in ("clusters", "arrays", "object_stores"):
            for name in getattr(self, section):
                if name in seen:
                    raise ValueError(f"{name!r} names both one of {seen[name]} and one of"
                                     f" {section}")
                seen[name] = section
        return self

    def resource(self, ref: str) -> Resource | None:
        """Resolve 'ARRAY/POOL', 'CLUSTER' or 'STORE'; None when it names nothing."""
        if "/" in ref:
            array_name, _, pool_name = ref.partition("/")
            array = self.arrays.get(array_name)
            if array is None or pool_name not in array.pools:
                return None
            return Resource("pool", ref, array.site)
        if ref in self.clusters:
            return Resource("cluster", ref, self.clusters[ref].site)
        if ref in self.object_stores:
            return Resource("object_store", ref, self.object_stores[ref].site)
        return None

    def thresholds(self, ref: str) -> Thresholds | None:
        """The fill thresholds of the storage resource ``ref`` names (None: no such)."""
        found = self.resource(ref)
        if found is None:
            return None
        if found.kind == "pool":
            return self.pool(ref).thresholds
        if found.kind == "cluster":
            return self.clusters[ref].thresholds
        return self.object_stores[ref].thresholds

    def routes(self, policy: Policy) -> list[Route]:
        """The rules of a policy that move or expire data, through the storage behind its
        hosts' tiers, once each (hosts that share storage share routes)."""
        return self._routes(policy, ("move", "expire"))

    def copies(self, policy: Policy) -> list[Route]:
        """The copy rules of a policy as they act on storage: each writes a backup of what
        it selects onto its target, and its source keeps the data."""
        return self._routes(policy, ("copy",))

    def _routes(self, policy: Policy, actions: tuple[str, ...]) -> list[Route]:
        found: list[Route] = []
        for host in policy.hosts:
            tiers = self.hosts[host].tiers
            for rule in policy.rules:
                if rule.action not in actions:
                    continue
                source = tiers[rule.source].storage
                target = tiers[rule.target].storage if rule.target else None
                if source is None or (rule.action != "expire" and target is None):
                    continue
                age = rule.select.older_than or 0
                if rule.action == "expire":
                    age = max(age, policy.retention)
                route = Route(rule, source, target, age)
                if route not in found:
                    found.append(route)
        return found

    def contracts(self) -> list[tuple[str, Support]]:
        """Every array, cluster and object store with a support contract, by name."""
        found: list[tuple[str, Support]] = []
        for section in (self.arrays, self.clusters, self.object_stores):
            found += [(name, r.support) for name, r in section.items()
                      if r.support is not None]
        return found

    def pool(self, ref: str) -> Pool:
        array_name, _, pool_name = ref.partition("/")
        return self.arrays[array_name].pools[pool_name]

    def resource_names(self) -> list[str]:
        """Every storage resource, in inventory order."""
        pools = [f"{a}/{p}" for a, array in self.arrays.items() for p in array.pools]
        return [*pools, *self.clusters, *self.object_stores]
