"""Where capacity lives: sites and racks, HCI clusters, block arrays, object stores."""

from __future__ import annotations

from typing import Literal, Self

from pydantic import Field, field_validator, model_validator

from capacity.endpoints import check_endpoint
from capacity.model.base import Bytes, Date, Days, Model, Name, NonNegative, Positive, Ratio
from capacity.model.hardware import RaidLayout


class Support(Model):
    """The support contract of installed hardware, and its refresh when support ends."""

    installed: Date | None = None
    """When it went into service (its age: a planner's record)."""
    per_year: float = Field(default=0, ge=0)
    """Support and maintenance a year, in the inventory's currency."""
    ends: Date | None = None
    """End of support: the vendor's end of service life, or the last contract year."""
    refresh_cost: float = Field(default=0, ge=0)
    """What replacing it with supported hardware of the same capacity costs; the plan buys
    the refresh to be in service on ``ends`` (0: no refresh planned)."""
    refresh_lead_time: Days = 84
    """Days from ordering the refresh to its being in service."""


class Thresholds(Model):
    """Fill levels that raise an alarm: for a Hitachi pool ``critical`` is the depletion
    threshold (defaults 70% and 80%, from the VSP manuals)."""

    warning: Ratio = 0.70
    """Fill level that gives notice the resource is filling up; procurement orders at it
    unless a rule says ``reorder_at``."""
    critical: Ratio = 0.80
    """Fill level that must not be reached (a Hitachi pool's depletion threshold); tier
    moves never fill a target past it."""

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if not 0 < self.warning <= self.critical <= 1:
            raise ValueError("thresholds need 0 < warning <= critical <= 100%")
        return self


class Racks(Model):
    """The rack space and power a site has for this estate."""

    count: NonNegative = 0
    """Racks this estate may use at the site (0: none, so equipment that takes rack units
    does not fit)."""
    units: Positive = 42
    """Rack units per rack."""
    power_kw: float = Field(default=0, ge=0)
    """Power budget per rack, kW."""


class Site(Model):
    """A data centre or hospital server room."""

    role: Literal["primary", "dr", "branch"]
    """primary or dr data centre, or a branch (a hospital server room)."""
    description: str = ""
    """What and where the site is, for people reading the inventory."""
    racks: Racks = Field(default_factory=Racks)
    """Rack space and power for this estate at the site."""


# --- hyper-converged clusters ---------------------------------------------------------

StoragePolicy = Literal["mirror-ftt1", "raid5-ftt1", "mirror-ftt2", "raid6-ftt2",
                        "esa-raid5-2p1", "esa-raid5-4p1"]


class NodeDrives(Model):
    """Capacity drives fitted in each node (cache drives do not add capacity)."""

    drive: Name
    """A drive type from the catalogue."""
    count: Positive
    """Drives per node."""


class ControllerVm(Model):
    """What the storage controller VM (or vSAN service) takes from each node."""

    cores: NonNegative = 4
    """Physical cores reserved per node."""
    ram: Bytes = 32 * 2**30
    """RAM reserved per node."""


class Overcommit(Model):
    """How many virtual units each physical one may carry."""

    cpu: float = Field(default=1.0, ge=1.0)
    """vCPUs per physical core."""
    ram: float = Field(default=1.0, ge=1.0)
    """Virtual RAM per physical byte (1.0: no overcommit)."""


class Cluster(Model):
    """A hyper-converged cluster of identical nodes."""

    site: Name
    """The site it stands in."""
    node_model: Name
    """A node model from the catalogue."""
    nodes: Positive
    """Nodes in the cluster."""
    drives: NodeDrives
    """Capacity drives per node."""
    cores: Positive | None = None
    """Physical cores per node, when they differ from the node model."""
    ram: Bytes | None = None
    """RAM per node, when it differs from the node model."""
    gpus: NonNegative | None = None
    """GPUs per node, when they differ from the node model."""
    storage_policy: StoragePolicy = "mirror-ftt1"
    """Protection across nodes: mirror (RAID-1) or erasure coding, and the failures to
    tolerate (FTT)."""
    slack: Ratio = 0.25
    """Free space kept for rebalancing and snapshots (25-30% is common)."""
    failover_reserve: NonNegative = 1
    """Nodes whose loss the cluster must absorb (N+1, N+2): their capacity is held back."""
    controller_vm: ControllerVm = Field(default_factory=ControllerVm)
    """Cores and RAM the storage controller VM takes on each node."""
    overcommit: Overcommit = Field(default_factory=Overcommit)
    """Virtual-to-physical ratios for CPU and RAM."""
    thresholds: Thresholds = Field(default_factory=lambda: Thresholds(warning=0.8,
                                                                      critical=0.9))
    """Warning and critical fill levels of usable capacity (default 80% and 90%)."""
    support: Support | None = None
    """Its support contract and end of support (for the running cost and the refresh)."""


# --- block arrays ---------------------------------------------------------------------

class ParityGroups(Model):
    """Identical parity groups: ``count`` groups of ``raid`` layout on ``drive``."""

    drive: Name
    """A drive type from the catalogue."""
    raid: str
    """RAID layout in Hitachi notation: '14D+2P', '7D+1P', '2D+2D'."""
    count: Positive = 1
    """Number of identical parity groups."""

    @field_validator("raid")
    @classmethod
    def _layout(cls, value: str) -> str:
        return str(RaidLayout.parse(value))

    @property
    def layout(self) -> RaidLayout:
        return RaidLayout.parse(self.raid)


class PoolTier(Model):
    """A tier of a pool (HDT has up to three, fastest first)."""

    name: Name
    """Tier name (fastest tier first)."""
    parity_groups: list[ParityGroups] = Field(min_length=1)
    """The parity groups that make the tier."""
    spares: NonNegative = 0
    """Spare drives of this tier's drive type, installed but outside every parity group."""


class DataReduction(Model):
    """Compression and deduplication.  PACS images are compressed by the application
    already: model them at 1.0."""

    ratio: float = Field(default=1.0, ge=1.0)
    """Logical to physical, 1.5 for 1.5:1."""
    overhead: Ratio = 0.10
    """Metadata and garbage overhead paid on capacity when reduction is on (~10%)."""


TierLevel = Literal["all", 1, 2, 3, 4, 5]
"""An HDT tiering policy: All(0) or Level1-Level5, as Hitachi defines them (custom levels
6-31 are set on the array; their ranges are not the simulator's to know)."""


class Volume(Model):
    """A DP volume (LDEV) on an HDT pool, for the lifecycle policies that set its tiering
    policy: the array does not know when a volume stopped being written; this does."""

    ldev: NonNegative
    """The array's `ldevId` (YAML reads 0x200 as 512)."""
    used: Bytes
    """Pages allocated to it on ``as_of`` (`numOfUsedBlock` x 512)."""
    last_write: Date | None = None
    """The day it was last written (an archive era's volume: the day the era closed);
    none: it is still written, so no age selects it."""
    tier_level: TierLevel = "all"
    """Its tiering policy on ``as_of``."""


class Pool(Model):
    """A Dynamic Provisioning (HDP) or Dynamic Tiering (HDT) pool."""

    pool_id: NonNegative | None = None
    """The array's `poolId` of this pool; without it `capacity array` finds the pool by
    its name (the array's `poolName`)."""
    type: Literal["HDP", "HDT"] = "HDP"
    """HDP: one tier; HDT: Dynamic Tiering over up to three tiers."""
    tiers: list[PoolTier] = Field(min_length=1)
    """The tiers of the pool, fastest first."""
    thresholds: Thresholds = Field(default_factory=Thresholds)
    """Warning and depletion thresholds (Hitachi defaults 70% and 80%)."""
    data_reduction: DataReduction = Field(default_factory=DataReduction)
    """Compression and deduplication on the pool."""
    volumes: dict[Name, Volume] = Field(default_factory=dict)
    """DP volumes on an HDT pool, by label, for policies that set their tiering policy."""

    @model_validator(mode="after")
    def _tier_count(self) -> Self:
        if self.type == "HDP" and len(self.tiers) != 1:
            raise ValueError("an HDP pool has exactly one tier (use type: HDT for tiering)")
        if len(self.tiers) > 3:
            raise ValueError("an HDT pool has at most three tiers")
        names = [t.name for t in self.tiers]
        if len(set(names)) != len(names):
            raise ValueError("tier names in a pool must differ")
        if self.volumes and self.type != "HDT":
            raise ValueError("volumes are listed for their tiering policy: only an HDT pool"
                             " has one")
        ldevs = [v.ldev for v in self.volumes.values()]
        if len(set(ldevs)) != len(ldevs):
            raise ValueError("two volumes of the pool name the same ldev")
        return self


class ArrayRest(Model):
    """Where the array's REST API answers (its embedded server, or a Configuration Manager
    server).  Credentials never go here: `capacity array` reads them from the environment
    or from a file only its owner can read (docs/arrays.md)."""

    endpoint: str
    """`https://HOST[:PORT]` of the REST server (443 on the array, 23451 on a
    Configuration Manager server).  TLS is always verified."""
    storage_device_id: str | None = None
    """The array's 12-digit `storageDeviceId` when one server fronts several arrays: the
    model's fixed value and the serial (886000 for a G900, 938000 for an E1090)."""
    ca_bundle: str | None = None
    """A PEM file of the CA that signed the REST server's certificate (without it, the
    system's CAs)."""

    @field_validator("endpoint")
    @classmethod
    def _https(cls, value: str) -> str:
        if not value.startswith("https://") or len(value) <= len("https://"):
            raise ValueError("the REST endpoint is https://HOST[:PORT]: TLS is always used")
        return value.rstrip("/")


class Array(Model):
    """A block-storage array."""

    site: Name
    """The site it stands in."""
    model: Name
    """An array model from the catalogue."""
    drive_boxes: NonNegative = 0
    """Drive enclosures installed besides the controller chassis."""
    pools: dict[Name, Pool] = Field(min_length=1)
    """Pools of the array, by name."""
    rest: ArrayRest | None = None
    """Where its REST API answers, for `capacity array show` and `capacity array
    import`."""
    support: Support | None = None
    """Its support contract and end of support (for the running cost and the refresh)."""


# --- object stores --------------------------------------------------------------------

class Protection(Model):
    """How an object store protects data: erasure coding (``data`` + ``parity``) or
    whole ``copies``."""

    data: Positive | None = None
    """Data fragments per object (erasure coding)."""
    parity: NonNegative | None = None
    """Parity fragments per object (erasure coding)."""
    copies: Positive | None = None
    """Whole copies of each object (replication)."""

    @model_validator(mode="after")
    def _one_scheme(self) -> Self:
        erasure = self.data is not None or self.parity is not None
        if erasure == (self.copies is not None):
            raise ValueError("give either data and parity (erasure coding) or copies")
        if erasure and (self.data is None or self.parity is None):
            raise ValueError("erasure coding needs both data and parity")
        return self

    @property
    def efficiency(self) -> float:
        """Usable share of raw: 10+4 keeps 10/14; 2 copies keep 1/2."""
        if self.copies is not None:
            return 1 / self.copies
        assert self.data is not None and self.parity is not None
        return self.data / (self.data + self.parity)


class S3Api(Model):
    """Where an object store's S3 API answers.  Credentials never go here: they come from
    the environment (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY), a profile of the shared
    credentials file, or AWS_SHARED_CREDENTIALS_FILE (docs/archive.md)."""

    endpoint: str
    """`https://HOST[:PORT]` of the S3 service (plain http only on this machine).  TLS is
    always verified."""
    region: str | None = None
    """The region to sign requests for (an HCP or MinIO takes any; AWS needs its own)."""
    profile: str | None = None
    """A profile of ~/.aws/credentials and ~/.aws/config to take the credentials from."""
    ca_bundle: str | None = None
    """A PEM file of the CA that signed the store's certificate (without it, the system's
    CAs)."""

    @field_validator("endpoint")
    @classmethod
    def _endpoint(cls, value: str) -> str:
        return check_endpoint(value)


class ObjectStore(Model):
    """An S3-compatible object store or archive (HCP, MinIO, Ceph RGW)."""

    site: Name
    """The site it stands in."""
    raw: Bytes
    """Raw capacity installed."""
    protection: Protection = Field(default_factory=lambda: Protection(copies=1))
    """Erasure coding or copies (default: one copy, protection handled inside the store)."""
    rack_units: NonNegative = 0
    """Rack units the store takes at its site (0 for a service outside the racks)."""
    power_w: float = Field(default=0, ge=0)
    """Power the store draws, watts."""
    object_lock: bool = False
    """Object Lock enabled at bucket creation: immutable copies are possible."""
    thresholds: Thresholds = Field(default_factory=lambda: Thresholds(warning=0.8,
                                                                      critical=0.9))
    """Warning and critical fill levels of usable capacity (default 80% and 90%)."""
    support: Support | None = None
    """Its support contract and end of support (for the running cost and the refresh)."""
    s3: S3Api | None = None
    """Where its S3 API answers, for the tier engine to reach it (a host tier with a
    ``bucket`` on this store)."""
