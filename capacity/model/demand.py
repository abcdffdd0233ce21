"""What consumes capacity: workloads with business drivers, and replication relations."""

from __future__ import annotations

from typing import Literal, Self

from pydantic import Field, model_validator

from capacity.model.base import Bytes, Date, Days, Growth, Model, Name, NonNegative, Ratio

YEAR_DAYS = 365


class Driver(Model):
    """A business driver: studies a day of one modality, and their size on disk."""

    modality: str
    """DICOM modality or kind of data: CT, MR, CR, DX, MG, US, SM (pathology), WGS ..."""
    studies_per_day: float = Field(gt=0)
    """Studies (exams, slides, genomes) acquired per day."""
    study_size: Bytes
    """Size of one study as acquired, before compression."""
    compression: float = Field(default=1.0, ge=1.0)
    """Lossless compression ratio applied before storage (2.5 for 2.5:1)."""

    @property
    def bytes_per_day(self) -> float:
        return self.studies_per_day * self.study_size / self.compression


class AgeRange(Model):
    """Ages of data already stored: between ``youngest`` and ``oldest`` days old."""

    youngest: Days = 0
    """Age of the newest stored data."""
    oldest: Days
    """Age of the oldest stored data."""

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if self.oldest < self.youngest:
            raise ValueError("oldest must not be younger than youngest")
        return self


class Compute(Model):
    """What a workload needs from an HCI cluster."""

    cluster: Name
    """The HCI cluster the workload runs on."""
    vcpu: NonNegative = 0
    """Virtual CPUs its VMs take, against the cluster's cores times CPU overcommit."""
    ram: Bytes = 0
    """Memory its VMs take, against the cluster's RAM times RAM overcommit."""
    gpus: NonNegative = 0
    """GPUs (AI inference for pathology, say)."""
    growth: Growth | Literal["with-data"] | None = None
    """How the demand grows from the figures above (which hold on the inventory's as_of
    date, or from the workload's start): a yearly rate of its own ('8%/y'), or 'with-data',
    as the workload's daily volume does (its drivers' studies, its growth, a scenario's
    scaling); none: it stays as given."""
    failover: Name | None = None
    """The cluster at another site its VMs restart on when its site is lost; default: the
    cluster its data is replicated to, or its ``partner``'s cluster."""


class Workload(Model):
    """Data that arrives, grows and ages on one storage resource."""

    lands_on: str
    """Where new data is written: 'ARRAY/POOL', a cluster or an object store."""
    stored: Bytes = 0
    """Data already stored on the inventory's ``as_of`` date."""
    stored_ages: AgeRange | None = None
    """How old the stored data is (the simulator ages, tiers and expires it); default: from
    new up to the retention (or 5 years), spread as the growth rate implies."""
    drivers: list[Driver] = Field(default_factory=list)
    """Business drivers: studies per day per modality."""
    per_year: Bytes = 0
    """A plain yearly volume, added to what the drivers give."""
    growth: Growth = 0.0
    """Compound yearly growth of the daily volume."""
    start: Date | None = None
    """First day of ingest; none means it is already running."""
    end: Date | None = None
    """Last day of ingest and of its compute (a temporary service is released after it);
    its data stays, for its retention.  None: it runs on."""
    ramp: Days = 0
    """Days from start to full volume, rising linearly."""
    retention: Days | None = None
    """How long data must be kept; older data may expire (none: kept for ever)."""
    compute: Compute | None = None
    """Compute the workload needs on a cluster."""
    policy: Name | None = None
    """The tier and lifecycle policy that governs this workload's data."""
    partner: Name | None = None
    """The other half of an application that runs at two sites at once (an active-active
    PACS): that workload holds this one's data, replicated by the application, and carries
    this one's load when its site is lost.  Said on either side, it holds both ways."""

    @model_validator(mode="after")
    def _has_volume(self) -> Self:
        if not self.drivers and not self.per_year and not self.stored:
            raise ValueError("a workload needs drivers, per_year or stored data")
        if self.start is not None and self.end is not None and self.end < self.start:
            raise ValueError("end comes before start")
        return self

    @property
    def base_bytes_per_day(self) -> float:
        """Daily volume at full ramp, before growth."""
        return sum(d.bytes_per_day for d in self.drivers) + self.per_year / YEAR_DAYS


class Replication(Model):
    """A copy relation between two storage resources.

    ``gad`` (Global-Active Device) and ``sync`` hold a full copy at the target at all times;
    ``async`` a full copy that trails by ``lag``; ``backup`` a full copy plus the changed data
    kept for ``retention``."""

    kind: Literal["gad", "sync", "async", "backup"]
    """gad (active-active), sync or async remote copy, or backup."""
    source: str
    """The resource copied: 'ARRAY/POOL', a cluster or an object store."""
    target: str
    """The resource that holds the copy: 'ARRAY/POOL', a cluster or an object store (a pool
    for gad and sync)."""
    lag: Days = 0
    """For async copies: how far the copy trails (whole days; 0 for minutes)."""
    retention: Days = 0
    """For backups: how long each backup is kept."""
    change_rate: Ratio | Literal["new-data"] = 0.0
    """For backups: share of the source that changes per day; or 'new-data' for a
    write-once source (an image archive), where nothing is rewritten and each day's change
    is only what was written that day, which the full copy already holds."""
    immutable: bool = False
    """For backups: copies are locked (WORM) until their retention ends."""
    quorum: Name | None = None
    """For GAD: the site holding the quorum disk (a third site)."""
    start: Date | None = None
    """When the copy starts (the first full copy is made that day); none: already there.
    GAD to a DR centre can start once the migration is done."""
    start_after: Name | None = None
    """A scenario's migration wave: the copy starts the day after its last byte is placed
    (a DR centre completed once all legacy data is migrated)."""

    @model_validator(mode="after")
    def _fields_fit_kind(self) -> Self:
        if self.kind != "backup" and (self.retention or self.change_rate or self.immutable):
            raise ValueError("retention, change_rate and immutable belong to backup copies")
        if self.kind == "backup" and not self.retention:
            raise ValueError("a backup needs a retention")
        if self.lag and self.kind != "async":
            raise ValueError("lag belongs to async copies")
        if self.start is not None and self.start_after is not None:
            raise ValueError("give start or start_after, not both")
        return self


class Procurement(Model):
    """How an expandable resource grows: what one unit adds, how long it takes, what it costs.
    Applies to a cluster (node, or drives into its nodes' empty bays), a pool tier
    'ARRAY/POOL/TIER' (parity group), an array (drive box) or an object store (raw
    capacity).  Where several rules grow one resource, the desk buys the cheapest that
    covers the need."""

    resource: str
    """What grows: a cluster, 'ARRAY/POOL/TIER', an array or an object store."""
    unit: Literal["node", "drive", "parity-group", "drive-box", "array", "raw"]
    """What one unit of expansion is ('drive': one drive into an empty bay of a cluster's
    node; every node takes the same, so an order is a whole set of one a node)."""
    drive: Name | None = None
    """The drive a parity group is made of, if not the tier's own (a bigger drive: a new
    group of it joins the tier with the same RAID layout)."""
    units_per_order: NonNegative = 1
    """Units bought together: an order is a whole multiple of it."""
    lead_time: Days
    """Days from order to installed capacity."""
    unit_cost: float = Field(ge=0)
    """Cost of one unit, in the inventory's currency."""
    capacity: Bytes | None = None
    """Raw capacity one unit adds, for 'raw' units (object store nodes)."""
    power_w: float | None = Field(default=None, ge=0)
    """Power one unit adds; default from the catalogue."""
    rack_units: NonNegative | None = None
    """Rack units one unit adds; default from the catalogue."""
    reorder_at: Ratio | None = None
    """Fill level that triggers an order; default the resource's warning threshold."""
    safety_margin: Days = 14
    """Extra days of growth an order must cover beyond its lead time."""
    max_units: NonNegative | None = None
    """Most units the resource can take in all (slots, chassis, licence)."""
    support: Ratio = 0.0
    """Support and maintenance a year, as a share of the unit cost ('18%'), from the day a
    unit is in service."""
    support_per_unit: float = Field(default=0, ge=0)
    """Support and maintenance a year as a price per unit (a node's software subscription),
    besides ``support``, from the day a unit is in service."""

    @model_validator(mode="after")
    def _raw_needs_capacity(self) -> Self:
        if self.unit == "raw" and not self.capacity:
            raise ValueError("a 'raw' unit needs the capacity one unit adds")
        if self.drive is not None and self.unit != "parity-group":
            raise ValueError("drive belongs to parity-group units (a drive unit is the"
                             " cluster's own drive)")
        return self


__all__ = ["Compute", "Driver", "Procurement", "Replication", "Workload"]
