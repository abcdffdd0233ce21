"""The tier and lifecycle policy language: what a policy says, as data.

What a run of a policy does with it (first match, watermarks, caps, pacing, the brake) is
in ``capacity.model.policy.decide`` and ``.windows``: one set of rules, which the planner
applies to a host's catalogue and the simulator to its cohorts.
"""

from __future__ import annotations

import datetime as dt
import fnmatch
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Annotated, Literal, Self

from pydantic import BeforeValidator, Field, WithJsonSchema, model_validator

from capacity import units
from capacity.model.base import (
    ByteRate,
    Bytes,
    Date,
    Days,
    Model,
    Name,
    NonNegative,
    Positive,
    Ratio,
)
from capacity.model.estate import TierLevel


class Selection(Model):
    """Which units a rule may choose.  All given conditions must hold."""

    older_than: Days | None = None
    """Minimum age: '180d'. Age counts from the unit's newest file (a study is as young as
    its last image)."""
    age_of: Literal["mtime", "atime"] = "mtime"
    """Which time stamp ages a file: modification (default) or last access."""
    larger_than: Bytes | None = None
    """Only units larger than this."""
    smaller_than: Bytes | None = None
    """Only units smaller than this."""
    paths: list[str] = Field(default_factory=list)
    """Glob patterns, relative to the tier root, that a unit's path must match ('*/CT/*')."""
    exclude: list[str] = Field(default_factory=list)
    """Glob patterns that rule a unit out."""

    def matches(self, path: str | None, size: float, age_days: float) -> bool:
        """Whether a unit with this relative path, total size and age is selected.  With no
        path (the simulator's data has none) path patterns are taken to match."""
        if self.older_than is not None and age_days < self.older_than:
            return False
        if self.larger_than is not None and size <= self.larger_than:
            return False
        if self.smaller_than is not None and size >= self.smaller_than:
            return False
        if path is None:
            return True
        if self.paths and not any(fnmatch.fnmatchcase(path, p) for p in self.paths):
            return False
        return not any(fnmatch.fnmatchcase(path, p) for p in self.exclude)


class Rule(Model):
    """One step of a policy: move units from one tier to another, or expire them; on an
    array, set the tiering policy of a pool's volumes, or start or stop its relocation."""

    name: Name
    """Rule name, shown in plans and audit logs."""
    action: Literal["move", "copy", "expire", "tiering", "relocate"] = "move"
    """move to another tier; copy into a bucket tier (the immutable backup: the unit
    stays); expire (delete once retention allows); on an array policy,
    tiering (give the selected volumes ``tier_level``) or relocate (start or stop the pool's
    tier relocation, once each run)."""
    source: Name = Field(alias="from")
    """Tier the rule takes units from (on an array policy: the HDT pool)."""
    target: Name | None = Field(default=None, alias="to")
    """Tier the rule moves or copies units to (move and copy rules only)."""
    select: Selection = Field(default_factory=Selection)
    """Which units the rule chooses (a volume: its label, used bytes and age since its
    ``last_write``)."""
    tier_level: TierLevel | None = None
    """The tiering policy a tiering rule gives its volumes: all, or 1-5 (Level1 holds a
    volume on the pool's top tier, Level5 on its bottom tier)."""
    relocation: Literal["start", "stop"] | None = None
    """What a relocate rule does to its pool's tier relocation each run: start it (pages
    move now, in the window, instead of at the next monitoring cycle), or stop it."""

    @model_validator(mode="after")
    def _target_fits_action(self) -> Self:
        if self.action == "move" and self.target is None:
            raise ValueError("a move rule needs 'to': the tier it moves units to")
        if self.action == "copy" and self.target is None:
            raise ValueError("a copy rule needs 'to': the bucket tier it writes the backup"
                             " into")
        if self.action not in ("move", "copy") and self.target is not None:
            raise ValueError(f"a {self.action} rule has no 'to'" + (
                ": it deletes" if self.action == "expire" else ""))
        if self.target is not None and self.target == self.source:
            raise ValueError("'from' and 'to' name the same tier")
        if (self.action == "tiering") != (self.tier_level is not None):
            raise ValueError("a tiering rule needs tier_level: the tiering policy its volumes"
                             " get (all, or 1-5)" if self.action == "tiering" else
                             "tier_level goes with action: tiering only")
        if (self.action == "relocate") != (self.relocation is not None):
            raise ValueError("a relocate rule needs relocation: start or stop"
                             if self.action == "relocate" else
                             "relocation goes with action: relocate only")
        if self.action in ARRAY_ACTIONS and self.select.age_of == "atime":
            raise ValueError("a volume has no access time: age_of atime is for files")
        return self


ARRAY_ACTIONS = ("tiering", "relocate")
"""What a policy does on an array (its ``arrays``), never on a host."""


class Watermarks(Model):
    """Act on a tier only above ``high`` full, and stop once it is down to ``low``."""

    high: Ratio = 0.85
    """Start moving above this fill level."""
    low: Ratio = 0.80
    """Stop moving at this fill level."""

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if not 0 < self.low <= self.high <= 1:
            raise ValueError("watermarks need 0 < low <= high <= 100%")
        return self


class Window(Model):
    """A daily time window such as 22:00-06:00 (it may cross midnight)."""

    start: dt.time
    """Opening time."""
    end: dt.time
    """Closing time (may be earlier than start: the window crosses midnight)."""

    @model_validator(mode="before")
    @classmethod
    def _from_text(cls, value: object) -> object:
        if isinstance(value, str):
            start, sep, end = value.partition("-")
            if not sep:
                raise ValueError(f"expected a window such as 22:00-06:00, got {value!r}")
            try:
                return {"start": units.parse_clock(start), "end": units.parse_clock(end)}
            except units.UnitError as exc:
                raise ValueError(str(exc)) from None
        return value

    @property
    def hours(self) -> float:
        """Length of the window in hours (24 when start equals end: always open)."""
        minutes = (self.end.hour * 60 + self.end.minute) - (self.start.hour * 60
                                                             + self.start.minute)
        return (minutes % (24 * 60) or 24 * 60) / 60

    def contains(self, moment: dt.time) -> bool:
        if self.start == self.end:
            return True
        if self.start < self.end:
            return self.start <= moment < self.end
        return moment >= self.start or moment < self.end


def _clock(value: object) -> object:
    if isinstance(value, str):
        try:
            return units.parse_clock(value)
        except units.UnitError as exc:
            raise ValueError(str(exc)) from None
    return value


def _seconds(value: object) -> float:
    try:
        return units.parse_seconds(value)
    except units.UnitError as exc:
        raise ValueError(str(exc)) from None


WindowText = Annotated[Window, WithJsonSchema({
    "type": "string", "pattern": r"^\s*\d{1,2}:\d{2}\s*-\s*\d{1,2}:\d{2}\s*$",
    "description": "a daily window: '22:00-06:00'"})]
"""A window as written in YAML."""


class Pacing(Model):
    """When and how fast data may move."""

    windows: list[WindowText] = Field(default_factory=list)
    """Daily windows in which moves run; none means any time."""
    bandwidth: ByteRate | None = None
    """Upper bound on copy throughput, such as '500MB/s'."""


ClockTime = Annotated[dt.time, BeforeValidator(_clock), WithJsonSchema({
    "type": "string", "pattern": r"^\s*\d{1,2}:\d{2}\s*$",
    "description": "a time of day: '22:00'"})]
"""A time of day as written in YAML."""


class Schedule(Model):
    """When a policy's runs start (the timer that runs `tier plan` and `tier apply`; the
    simulator plays runs at the same instants): every ``every`` from ``at``."""

    every: Annotated[float, BeforeValidator(_seconds), WithJsonSchema({
        "type": "string", "description": "a duration: '6h', '24h', '7d'"})] = 86400.0
    """Time between runs: whole hours that divide a day ('6h'), or whole days ('7d')."""
    at: ClockTime | None = None
    """Time of day of the first run; default: when the windows open (midnight without
    windows)."""

    @model_validator(mode="after")
    def _whole(self) -> Self:
        hours = self.every / 3600
        if not (hours == int(hours) and hours >= 1 and (24 % hours == 0 or hours % 24 == 0)):
            raise ValueError("every: whole hours that divide a day (1h, 2h, 3h, 4h, 6h, 8h,"
                             " 12h, 24h) or whole days ('7d')")
        return self


class Caps(Model):
    """Limits on one run of a policy."""

    bytes: Bytes | None = None
    """Most bytes moved or expired per run ('20TB')."""
    count: Positive | None = None
    """Most units per run."""


BRAKE_MIN_TRIES = 20
"""The brake's ratio counts only after this many units were tried: one failure in the
first three units is not a pattern."""


class ErrorBrake(Model):
    """Stop a run once failures pile up."""

    failures: Positive = 10
    """Stop after this many failed units."""
    ratio: Ratio = 0.05
    """Stop when this share of the units tried so far failed (after at least 20 tries)."""

    def tripped(self, failures: int, tries: int) -> str | None:
        """Why the run must stop now, or None to go on."""
        if failures >= self.failures or (tries >= BRAKE_MIN_TRIES
                                         and failures / tries >= self.ratio):
            return f"error brake: {failures} of {tries} units failed"
        return None


class Hold(Model):
    """A legal or clinical hold: matching units are never expired, whatever their age."""

    paths: list[str]
    """Glob patterns relative to the tier root."""
    reason: str
    """Why the data is held (case number, order)."""
    until: Date | None = None
    """The hold lapses after this date; none means until removed."""

    def covers(self, unit: str, files: Iterable[str], today: dt.date) -> bool:
        """Whether the hold reaches a unit: a pattern that matches the unit, a folder above
        it, or any file or folder inside it (``files``: paths relative to the tier root).
        A hold on one study thus keeps a whole year when units are years."""
        if self.until is not None and today > self.until:
            return False
        return any(fnmatch.fnmatchcase(path, pattern)
                   for path in _paths_touching(unit, files) for pattern in self.paths)


_PLACEHOLDER = re.compile(r"\{(source|target|unit)\}")


def _paths_touching(unit: str, files: Iterable[str]) -> Iterator[str]:
    """The unit, every folder above it, and every file and folder inside it."""
    parts = unit.split("/")
    for i in range(1, len(parts) + 1):
        yield "/".join(parts[:i])
    inside = len(parts) + 1 if unit else 1
    for path in files:
        below = path.split("/")
        for i in range(inside, len(below) + 1):
            yield "/".join(below[:i])


class ObjectLock(Model):
    """Object Lock for what a policy writes into a bucket tier: each object immutable until
    the policy's retention from its unit's date has run out (the day expiry would first
    take it), and under a legal hold while one of the policy's holds reaches its unit."""

    mode: Literal["governance", "compliance"]
    """compliance: nobody can delete the object or shorten its retention before it ends,
    an administrator with stolen credentials included; governance: only someone with the
    s3:BypassGovernanceRetention permission who asks for it explicitly (this tool never
    does)."""


@dataclass(frozen=True, slots=True)
class LockTerms:
    """What an object is written with: its lock mode and the day its retention ends (UTC
    midnight, as S3 counts it), and whether a legal hold is on."""

    mode: Literal["governance", "compliance"]
    retain_until: dt.date
    legal_hold: bool


class Grouping(Model):
    """How files form units that move whole: a PACS study is one directory."""

    depth: NonNegative = 0
    """Directory depth below the tier root that makes a unit: with studies stored as
    ROOT/YYYY/MM/STUDY/, depth 3 makes each STUDY a unit; 0 makes every file its own unit."""

    def unit_of(self, relative_path: str) -> str:
        """The unit a file (path relative to the tier root) belongs to."""
        if self.depth == 0:
            return relative_path
        parts = relative_path.split("/")
        return "/".join(parts[: self.depth]) if len(parts) > self.depth else relative_path


_FILE_ONLY = ("unit", "trigger", "retention", "holds", "lock", "stub", "hook")
"""Policy fields about files, refused on a policy on arrays."""


class Policy(Model):
    """A tier and lifecycle policy, applied to the named hosts (or simulated on the
    storage behind their tiers)."""

    hosts: list[Name] = Field(default_factory=list)
    """Hosts the policy runs on (a policy runs on hosts or on arrays)."""
    arrays: list[Name] = Field(default_factory=list)
    """Arrays the policy runs on, through their REST API: its rules set the tiering policy
    of HDT pools' volumes, and start or stop relocation."""
    rules: list[Rule] = Field(min_length=1)
    """Ordered rules; the first whose selection matches a unit chooses it."""
    unit: Grouping = Field(default_factory=Grouping)
    """How files group into units that move whole."""
    order: Literal["oldest", "largest"] = "oldest"
    """Which eligible units go first."""
    trigger: Watermarks | None = None
    """Move rules act only while their source tier is above the high watermark; none means
    they always act."""
    pacing: Pacing = Field(default_factory=Pacing)
    """Time windows and bandwidth."""
    schedule: Schedule | None = None
    """When runs start; default: daily, when the windows open (midnight without windows)."""
    caps: Caps = Field(default_factory=Caps)
    """Limits per run."""
    error_brake: ErrorBrake = Field(default_factory=ErrorBrake)
    """When to stop a run that keeps failing."""
    retention: Days = 0
    """Nothing younger than this is ever expired (5y for radiographs in Korea)."""
    holds: list[Hold] = Field(default_factory=list)
    """Legal or clinical holds: never expired."""
    lock: ObjectLock | None = None
    """Object Lock for the objects the policy writes into a bucket tier (the bucket must
    have Object Lock): immutable until ``retention`` from the unit's date has run out."""
    stub: bool = False
    """After a move, leave a symbolic link at the old path pointing to the new one, so the
    application finds its data without updating its pointers."""
    hook: list[str] = Field(default_factory=list)
    """A command (argv, no shell) run on the host once a unit is in place at its target and
    before its source is deleted, so the application (the PACS) can update its pointers;
    {source}, {target} and {unit} are replaced by the paths.  A failing hook keeps the
    source: the unit then exists in both places and is reported."""

    @model_validator(mode="after")
    def _hosts_or_arrays(self) -> Self:
        if bool(self.hosts) == bool(self.arrays):
            raise ValueError("a policy runs on hosts or on arrays: give one of hosts and"
                             " arrays")
        on_array = bool(self.arrays)
        wrong = [r.name for r in self.rules if (r.action in ARRAY_ACTIONS) != on_array]
        if wrong:
            raise ValueError(
                f"rule {wrong[0]!r}: " + ("a policy on arrays has tiering and relocate"
                                           " rules only" if on_array else
                                           "tiering and relocate rules are for a policy on"
                                           " arrays"))
        if on_array:
            given = [f for f in _FILE_ONLY if f in self.model_fields_set]
            if self.pacing.bandwidth is not None:
                given.append("pacing.bandwidth")
            if given:
                raise ValueError(f"{', '.join(given)}: not for a policy on arrays, which sets"
                                 " the tiering policy of volumes that keep their data (the"
                                 " array paces its own relocation)")
        return self

    @property
    def on_arrays(self) -> bool:
        return bool(self.arrays)

    @model_validator(mode="after")
    def _copies_are_locked(self) -> Self:
        if self.lock is None and any(r.action == "copy" for r in self.rules):
            raise ValueError("a copy rule writes the immutable backup: give lock (mode:"
                             " compliance) and retention, so nobody can delete it early")
        return self

    @model_validator(mode="after")
    def _lock_needs_retention(self) -> Self:
        if self.lock is not None and not self.retention:
            raise ValueError("a lock lasts as long as the policy's retention: give retention"
                             " (such as '10y'), or the objects would be locked for no time")
        return self

    @model_validator(mode="after")
    def _unique_rule_names(self) -> Self:
        seen: set[str] = set()
        for rule in self.rules:
            if rule.name in seen:
                raise ValueError(f"two rules are named {rule.name!r}")
            seen.add(rule.name)
        return self

    def first_rule(self, tier: str, path: str | None, size: float, age_days: float,
                   atime_age_days: float | None = None, *, copy: bool = False
                   ) -> Rule | None:
        """The rule that chooses a unit on ``tier``: the first whose selection matches.
        ``age_days`` is the unit's modification age; ``atime_age_days`` its access age, which
        rules with ``age_of: atime`` judge instead (the modification age when not given).
        Copy rules choose among themselves (``copy``): a unit is backed up by the first copy
        rule that matches it, and moved or expired by the first other rule."""
        for rule in self.rules:
            if rule.action == "relocate" or (rule.action == "copy") != copy:
                continue  # a relocate rule chooses no unit: it acts on its pool once a run
            age = (atime_age_days if rule.select.age_of == "atime" and atime_age_days is not None
                   else age_days)
            if rule.source == tier and rule.select.matches(path, size, age):
                return rule
        return None

    def hook_argv(self, *, source: str, target: str, unit: str) -> list[str]:
        """The hook's arguments for one unit, each placeholder replaced in one pass: a study
        named ``{target}`` stays its own name and is never read as a placeholder."""
        values = {"source": source, "target": target, "unit": unit}
        return [_PLACEHOLDER.sub(lambda m: values[m.group(1)], arg) for arg in self.hook]

    def holding(self, unit: str, files: Iterable[str], today: dt.date) -> list[Hold]:
        """The holds that reach the unit (see :meth:`Hold.covers`)."""
        files = list(files)
        return [h for h in self.holds if h.covers(unit, files, today)]

    def lock_terms(self, unit: str, files: Iterable[str], dated: dt.date,
                   today: dt.date) -> LockTerms | None:
        """How the objects of a unit dated ``dated`` (its newest file's day, from which
        expiry counts too) are locked when written today; None without a lock.  The
        retention ends on the first day :meth:`may_expire` would let the unit go."""
        if self.lock is None:
            return None
        return LockTerms(self.lock.mode, units.ends_on(self.retention, dated),
                         bool(self.holding(unit, files, today)))

    def may_expire(self, unit: str, files: Iterable[str], age_days: float,
                   today: dt.date) -> bool:
        """Expiry is allowed only past the retention (``age_days``: the unit's newest file)
        and when no hold reaches the unit or anything in it."""
        return self.expiry_refusal(unit, files, age_days, today) is None

    def expiry_refusal(self, unit: str, files: Iterable[str], age_days: float,
                       today: dt.date) -> ExpiryRefusal | None:
        """Why expiry may not take the unit now: a hold reaches it (``hold``, the first
        such hold's reason said), or it is not past the retention (``retention``); None
        when it may (:meth:`may_expire`).  A hold is named before the retention: it is the
        one an operator acts on."""
        held = self.holding(unit, files, today)
        if held:
            return ExpiryRefusal("hold", f"held: {held[0].reason}")
        if age_days < units.days_on(self.retention, today):
            return ExpiryRefusal("retention", f"{age_days:.0f} days old, within the"
                                 f" retention of {units.days_on(self.retention, today):.0f}"
                                 " days")
        return None


@dataclass(frozen=True, slots=True)
class ExpiryRefusal:
    """Why a unit may not be expired: ``reason`` is ``hold`` or ``retention`` (the label of
    ``capacity_tier_refused_total``), ``text`` says it for people."""

    reason: Literal["hold", "retention"]
    text: str
