"""Hardware as data: drive types, array models, HCI node models and RAID layouts.

The built-in catalogue (``capacity/catalog/*.yaml``) fills these; an inventory can add entries
or override any figure.  Every entry says where its figures come from (``source``) or that
they are a stand-in (``assumed: true``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal, Self

from pydantic import Field, model_validator

from capacity.model.base import ByteRate, Bytes, Model, Name, NonNegative, Positive, Ratio

DriveKind = Literal["nvme-ssd", "sas-ssd", "sas-10k", "nl-sas"]


class Sourced(Model):
    """Where a catalogue entry's figures come from."""

    source: str | None = None
    """Public document, vendor page or data sheet the figures come from."""
    assumed: bool = False
    """True when the figures are stand-ins that nobody has confirmed: check before buying."""
    overridden: list[str] = Field(default_factory=list)
    """Fields an inventory changed from the built-in entry (filled in by the loader)."""

    @model_validator(mode="after")
    def _has_provenance(self) -> Self:
        if not self.source and not self.assumed:
            raise ValueError("every catalogue entry needs a 'source' or 'assumed: true'")
        return self


class DriveType(Sourced):
    """A drive model as sold: nominal capacity in decimal units, as on the data sheet."""

    kind: DriveKind
    """Drive class: nvme-ssd, sas-ssd, sas-10k (10k rpm SAS) or nl-sas (7.2k rpm)."""
    capacity: Bytes
    """Nominal capacity as sold (decimal units)."""
    afr: Ratio
    """Annualised failure rate (Backblaze: failures / drive-years)."""
    rebuild_rate: ByteRate
    """Sustained rebuild speed under production load ('105MB/s' for 7.2k NL-SAS at 30% load)."""
    power_w: float = Field(ge=0)
    """Typical operating power per drive, watts."""


class DriveBox(Model):
    """A drive enclosure that expands an array."""

    slots: Positive
    """Drive slots in one box."""
    rack_units: Positive
    """Rack units taken."""
    power_w: float = Field(ge=0)
    """Typical power draw, watts."""


class ArrayModel(Sourced):
    """An enterprise block array class (controller chassis plus drive boxes)."""

    family: str
    """Product family or generation."""
    controllers: Positive = 2
    """Storage controllers."""
    cores: NonNegative | None = None
    """CPU cores across the controllers."""
    cache: Bytes | None = None
    """Cache memory across the controllers."""
    controller_slots: NonNegative
    """Drive slots in the controller chassis itself."""
    drive_box: DriveBox
    """The drive enclosure that expands it."""
    max_drive_boxes: NonNegative
    """Most drive boxes the array takes."""
    max_drives: Positive
    """Most drives the array takes in all."""
    rack_units: Positive
    """Rack units of the controller chassis."""
    power_w: float = Field(ge=0)
    """Typical power of the controller chassis, watts (drives and boxes counted apart)."""
    raid_layouts: list[str]
    """RAID layouts the array builds parity groups with, such as '14D+2P'."""
    page_size: Bytes = 42 * 2**20
    """Dynamic Provisioning page; Hitachi writes '42 MB' meaning 42 MiB."""
    pool_overhead: Bytes = 4200 * 2**20
    """Capacity a pool keeps for its own management (HDP: pages x 42 MB - 4,200 MB)."""


class NodeModel(Sourced):
    """A hyper-converged node model (one server)."""

    family: str
    """Product family or generation."""
    cores: Positive
    """Physical CPU cores per node."""
    ram: Bytes
    """RAM per node."""
    gpus: NonNegative = 0
    """GPUs fitted per node (the maximum if the node is ordered with them)."""
    drive_bays: Positive
    """Capacity-drive bays per node."""
    rack_units: Positive
    """Rack units taken."""
    power_w: float = Field(ge=0)
    """Typical power draw, watts."""


class Catalog(Model):
    """Hardware the inventory can name: the built-in catalogue plus the inventory's additions."""

    drives: dict[Name, DriveType] = Field(default_factory=dict)
    """Drive types, by name."""
    arrays: dict[Name, ArrayModel] = Field(default_factory=dict)
    """Array models, by name."""
    nodes: dict[Name, NodeModel] = Field(default_factory=dict)
    """HCI node models, by name."""


_RAID_RE = re.compile(r"^(?P<data>[0-9]+)D\+(?P<extra>[0-9]+)(?P<kind>[DP])$")


@dataclass(frozen=True)
class RaidLayout:
    """A parity-group layout in Hitachi notation: ``14D+2P`` (RAID6), ``7D+1P`` (RAID5),
    ``2D+2D`` (RAID1, mirrored).  Parsing checks the layout can exist."""

    data: int
    redundancy: int
    mirrored: bool

    @classmethod
    def parse(cls, text: str) -> RaidLayout:
        match = _RAID_RE.match(text.strip().upper())
        if not match:
            raise ValueError(f"not a RAID layout: {text!r} (write it like 14D+2P, 7D+1P or 2D+2D)")
        data, extra = int(match.group("data")), int(match.group("extra"))
        mirrored = match.group("kind") == "D"
        if data < 1:
            raise ValueError(f"{text!r}: a parity group needs at least one data drive")
        if mirrored and extra != data:
            raise ValueError(f"{text!r}: a mirrored layout copies every data drive (nD+nD)")
        if not mirrored and extra not in (1, 2):
            raise ValueError(f"{text!r}: parity is 1P (RAID5) or 2P (RAID6)")
        if not mirrored and data < extra + 1:
            raise ValueError(f"{text!r}: needs more data drives than parity drives")
        return cls(data, extra, mirrored)

    @property
    def width(self) -> int:
        """Drives in one parity group."""
        return self.data + self.redundancy

    @property
    def level(self) -> str:
        return "RAID1" if self.mirrored else ("RAID5" if self.redundancy == 1 else "RAID6")

    @property
    def efficiency(self) -> float:
        """Share of raw capacity that holds data: 14D+2P keeps 14/16 = 87.5%."""
        return self.data / self.width

    def __str__(self) -> str:
        return f"{self.data}D+{self.redundancy}{'D' if self.mirrored else 'P'}"



__all__ = ["ArrayModel", "Catalog", "DriveBox", "DriveKind", "DriveType", "NodeModel",
           "RaidLayout", "Ratio", "Sourced"]
