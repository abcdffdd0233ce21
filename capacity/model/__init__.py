"""The declarative language of the estate: pure data and maths, no I/O."""

from capacity.model.demand import Compute, Driver, Procurement, Replication, Workload
from capacity.model.estate import (
    Array,
    Cluster,
    DataReduction,
    ObjectStore,
    ParityGroups,
    Pool,
    PoolTier,
    Protection,
    Racks,
    Site,
    Support,
    Thresholds,
)
from capacity.model.hardware import ArrayModel, Catalog, DriveType, NodeModel, RaidLayout
from capacity.model.inventory import Host, HostTier, Inventory, Licence, Resource, Route
from capacity.model.policy import Caps, Grouping, Hold, Pacing, Policy, Rule, Selection, Window

__all__ = [
    "Array",
    "ArrayModel",
    "Caps",
    "Catalog",
    "Cluster",
    "Compute",
    "DataReduction",
    "DriveType",
    "Driver",
    "Grouping",
    "Hold",
    "Host",
    "HostTier",
    "Inventory",
    "Licence",
    "NodeModel",
    "ObjectStore",
    "Pacing",
    "ParityGroups",
    "Policy",
    "Pool",
    "PoolTier",
    "Procurement",
    "Protection",
    "Racks",
    "RaidLayout",
    "Replication",
    "Resource",
    "Route",
    "Rule",
    "Selection",
    "Site",
    "Support",
    "Thresholds",
    "Window",
    "Workload",
]
