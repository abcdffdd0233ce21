"""What-if scenarios: overlays on an inventory plus dated events.

A scenario file changes any field of the inventory (``changes``, merged entry by entry and
field by field, lists replaced whole) and lists events that happen on given dates.  Several
scenarios compose, applied in the order given.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, Self

from pydantic import Field, model_validator

from capacity.model.base import (
    MAX_COUNT,
    ByteRate,
    Bytes,
    Date,
    Days,
    Factor,
    Growth,
    Model,
    Name,
    Positive,
)
from capacity.model.demand import Compute, Workload
from capacity.model.policy.language import WindowText
from capacity.model.policy.windows import hours_per_day


class At(Model):
    """When an event happens."""

    on: Date
    """The day the event happens."""


class AddWorkload(At):
    """A new workload starts (pathology goes live); its ``start`` defaults to ``on``."""

    action: Literal["add_workload"]
    """The kind of event."""
    name: Name
    """Name of the new workload."""
    workload: Workload
    """The workload, written as in an inventory."""


class SetGrowth(At):
    """A workload's yearly growth changes from this date."""

    action: Literal["set_growth"]
    """The kind of event."""
    workload: Name
    """The workload that changes."""
    growth: Growth
    """Compound yearly growth of its daily volume from this date, continuing from the volume
    reached."""


class SetCompression(At):
    """Compression changes for a workload's drivers (all, or one modality)."""

    action: Literal["set_compression"]
    """The kind of event."""
    workload: Name
    """The workload that changes."""
    compression: float = Field(ge=1.0)
    """New ratio (1.0: none)."""
    modality: str | None = None
    """Only this modality's drivers; none means every driver."""


class ScaleDemand(At):
    """A workload's daily volume is multiplied by ``factor`` from this date."""

    action: Literal["scale_demand"]
    """The kind of event."""
    workload: Name
    """The workload that changes."""
    factor: Factor
    """Multiplier of the daily volume (2.0 doubles it)."""


class AddNodes(At):
    """Nodes added to (or, with a negative count, removed from) a cluster."""

    action: Literal["add_nodes"]
    """The kind of event."""
    cluster: Name
    """The cluster that changes."""
    count: int = Field(ge=-MAX_COUNT, le=MAX_COUNT)
    """Nodes added; negative to remove."""


class FailNode(At):
    """Nodes of a cluster fail and stay down for ``duration`` days."""

    action: Literal["fail_node"]
    """The kind of event."""
    cluster: Name
    """The cluster that loses nodes."""
    count: Positive = 1
    """Nodes that fail."""
    duration: Days = 14
    """Days until the nodes are back (repair or replacement)."""


class FailSite(At):
    """A whole site is lost for ``duration`` days: its stores and clusters go down, and its
    workloads carry on at other sites as their copies allow (GAD and active-active partners
    at once; replicas promoted, VMs restarted), their new data landing there until the site
    is back."""

    action: Literal["fail_site"]
    """The kind of event."""
    site: Name
    """The site that is lost."""
    duration: Days = 30
    """Days until the site is back."""


class Migrate(At):
    """A legacy migration wave: ``volume`` copied onto ``to`` at most ``bandwidth`` during
    the daily ``windows`` (or ``per_day``), with temporary staging space released at the end."""

    action: Literal["migrate"]
    """The kind of event."""
    name: Name
    """Name of the wave, shown in events."""
    volume: Bytes
    """Data to copy."""
    to: str
    """Destination resource ('ARRAY/POOL', cluster or object store)."""
    workload: Name | None = None
    """Workload the migrated data belongs to afterwards (retention, tiering)."""
    bandwidth: ByteRate | None = None
    """Copy throughput while a window is open."""
    windows: list[WindowText] = Field(default_factory=list)
    """Daily windows the copy runs in; none means all day."""
    per_day: Bytes | None = None
    """A plain daily volume instead of bandwidth and windows."""
    staging: Bytes = 0
    """Temporary space the migration holds on ``staging_on`` until it ends."""
    staging_on: str | None = None
    """The resource that holds the staging space."""
    age: Days = 0
    """Age of the migrated data on arrival (legacy data is old: tiering and retention see it)."""
    servers: Compute | None = None
    """Temporary migration servers on an HCI cluster: the vCPU, RAM and GPUs they take
    from the wave's first day until its last byte is placed, when they are released."""
    servers_storage: Bytes = 0
    """Storage the temporary servers take on their cluster meanwhile."""

    @model_validator(mode="after")
    def _has_rate(self) -> Self:
        if (self.bandwidth is None) == (self.per_day is None):
            raise ValueError("give either bandwidth (with windows) or per_day")
        if self.servers_storage and self.servers is None:
            raise ValueError("servers_storage needs 'servers': the cluster they run on")
        if self.staging and self.staging_on is None:
            raise ValueError("staging needs 'staging_on': the resource that holds it")
        return self

    @property
    def bytes_per_day(self) -> float:
        if self.per_day is not None:
            return float(self.per_day)
        assert self.bandwidth is not None
        return self.bandwidth * 3600 * hours_per_day(self.windows)


ScenarioEvent = Annotated[AddWorkload | SetGrowth | SetCompression | ScaleDemand | AddNodes
                          | FailNode | FailSite | Migrate, Field(discriminator="action")]
"""One dated event; ``action`` says which kind."""


class Adjust(Model):
    """Scenario-wide adjustments that would be tedious to write field by field."""

    lead_time_factor: Factor = 1.0
    """Multiply every procurement lead time (2.0: supply chains double)."""
    afr_factor: Factor = 1.0
    """Multiply every drive's annualised failure rate."""


class Scenario(Model):
    """A what-if: inventory changes, adjustments and dated events."""

    name: str
    """Short name, shown as the column heading in comparisons."""
    description: str = ""
    """What the scenario asks."""
    changes: dict[str, Any] = Field(default_factory=dict)
    """Inventory sections to change, written like the inventory itself; merged entry by
    entry and field by field, lists replaced whole."""
    adjust: Adjust = Field(default_factory=Adjust)
    """Scenario-wide multipliers."""
    events: list[ScenarioEvent] = Field(default_factory=list)
    """Dated events, each with ``on`` (the date) and ``action`` (the kind)."""
