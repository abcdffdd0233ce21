"""A client of the Hitachi VSP REST API (Configuration Manager, or the array's embedded REST
server): pools with their usage, parity groups, LDEVs, and the asynchronous jobs that change
them.  Only the Python standard library speaks HTTP here (``http.client`` and ``ssl``).

The contract, as the public references describe it (Hitachi's REST API Reference Guide
MK-98RD9014; the Hitachi Ansible collection for VSP One Block; OpenStack Cinder's HBSD REST
driver, ``cinder/volume/drivers/hitachi/hbsd_rest_api.py``):

- Objects live under ``/ConfigurationManager/v1/objects/``, or under
  ``/ConfigurationManager/v1/objects/storages/{storageDeviceId}/`` when a management server
  fronts several arrays.
- ``POST .../sessions`` with HTTP basic authentication answers ``{"token", "sessionId"}``;
  every other request carries ``Authorization: Session <token>``; ``DELETE
  .../sessions/{sessionId}`` discards it.  An array allows few sessions (64 on the VSP E and
  G/F series) and answers 503 when they are all taken, as it does when its REST server is busy.
  :class:`VspClient` opens one session, reuses it, and always deletes it; a 401 for its
  token (the session timed out, or the array restarted) has it log in again, once, as
  Cinder's ``RestApiClient.relogin`` does.
- POST, PATCH and DELETE answer 202 with a job (``jobId``, ``self``); the job is polled until
  its ``status`` is ``Completed``, and its ``state`` says ``Succeeded`` or ``Failed`` (with an
  ``error`` object: ``messageId``, ``message``, ``cause``, ``solution``).
- Units: logical capacities are binary (the guide's "1 MB = 1024^2 bytes").  Pool fields
  ``totalPoolCapacity``, ``availableVolumeCapacity`` and a tier's ``tierTotalCapacity`` and
  ``tierUsedCapacity`` are in MB, i.e. MiB; parity-group ``totalCapacity`` and
  ``availableVolumeCapacity`` in GB, i.e. GiB (as the Ansible collection converts them); an
  LDEV's ``blockCapacity`` and ``numOfUsedBlock`` in 512-byte blocks; rates are whole percent.
  Every size below is an integer number of bytes, converted once here by multiplication.

Credentials never come from the inventory: :func:`credentials` takes them from the
environment or from a file readable by its owner only.
"""

from __future__ import annotations

import base64
import contextlib
import http.client
import json
import os
import socket
import ssl
import stat
import time
import urllib.parse
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from capacity.errors import BadInput
from capacity.transports.base import (
    CommandTimeout,
    ConnectionLost,
    PermissionDenied,
    TransportError,
)

MIB = 2**20
"""Bytes in the API's MB (pool and tier capacities)."""
GIB = 2**30
"""Bytes in the API's GB (parity-group capacities)."""
BLOCK = 512
"""Bytes in one of the API's blocks (LDEV capacities)."""

ENV_USER = "CAPACITY_VSP_USER"
ENV_PASSWORD = "CAPACITY_VSP_PASSWORD"
ENV_FILE = "CAPACITY_VSP_CREDENTIALS"

#: Page size of LDEV listings (the API's maximum ``count``).
LDEV_PAGE = 16384


# --------------------------------------------------------------------------- errors


class ArrayError(TransportError):
    """The array answered, and not with what was asked for.  ``status`` is the HTTP status,
    ``message_id`` the array's ``messageId`` (``KART...``) when it gave one."""

    def __init__(self, message: str, *, host: str | None = None, status: int | None = None,
                 message_id: str | None = None) -> None:
        super().__init__(message, host=host)
        self.status, self.message_id = status, message_id


class ArrayBusy(ArrayError):
    """503 after every retry: the REST server busy, or every session the array allows taken."""


class ArrayRefused(ArrayError):
    """The array refused a request (4xx, a failed job): the request or its object is wrong."""


class ArrayJobFailed(ArrayRefused):
    """An asynchronous job completed with ``state: Failed``; ``job`` is what the array said."""

    def __init__(self, message: str, job: Job, *, host: str | None = None) -> None:
        super().__init__(message, host=host, message_id=job.error.get("messageId"))
        self.job = job


class ArrayJobTimeout(ArrayError, CommandTimeout):
    """A job did not complete within the timeout (it may still run on the array)."""


class ArrayAnswerInvalid(ArrayError):
    """The answer is not in the documented shape (a field missing or of another type)."""


class RequestOutcomeUnknown(ConnectionLost):
    """A request that changes the array (a POST or PATCH that starts a job) was sent and the
    connection failed before its answer came: the array may have acted on it.  It is not
    sent again; ``method`` and ``path`` say what was sent."""

    def __init__(self, message: str, *, host: str | None = None, method: str = "",
                 path: str = "") -> None:
        super().__init__(message, host=host)
        self.method, self.path = method, path


class SessionRefused(ArrayRefused):
    """The array refused, with 401, the token of a session it had just opened: renewing the
    session did not help, and it is not renewed again."""


class CertificateRefused(ConnectionLost):
    """The array's TLS certificate is not trusted by the CA bundle in use."""


class LoginRefused(PermissionDenied):
    """The array refused the user and password (HTTP 401).  Bad input, so exit 2: the
    credentials given are wrong, and retrying will not make them right."""

    exit_status = 2


class CredentialsRefused(BadInput):
    """No credentials, or a credentials file the tool will not read (mode, format)."""


# --------------------------------------------------------------------------- credentials


@dataclass(frozen=True, slots=True)
class Credentials:
    """A user of the array's REST API; the password is never shown."""

    user: str
    password: str = field(repr=False)


def credentials(file: Path | None = None, env: Mapping[str, str] | None = None) -> Credentials:
    """The credentials to use: ``file`` if given; else ``CAPACITY_VSP_USER`` and
    ``CAPACITY_VSP_PASSWORD``; else the file named by ``CAPACITY_VSP_CREDENTIALS``."""
    env = os.environ if env is None else env
    if file is not None:
        return read_credentials_file(file)
    user, password = env.get(ENV_USER), env.get(ENV_PASSWORD)
    if user and password:
        return Credentials(user, password)
    if user or password:
        missing = ENV_PASSWORD if user else ENV_USER
        raise CredentialsRefused(f"{missing} is not set ({ENV_USER} and {ENV_PASSWORD} go"
                                 " together)", field=missing)
    if env.get(ENV_FILE):
        return read_credentials_file(Path(env[ENV_FILE]))
    raise CredentialsRefused(
        f"no credentials for the array: set {ENV_USER} and {ENV_PASSWORD}, or name a file"
        f" holding USER:PASSWORD (mode 0600) with --credentials or {ENV_FILE}")


def read_credentials_file(path: Path) -> Credentials:
    """``USER:PASSWORD`` on the first line of a file only its owner may read or write."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except OSError as exc:
        raise CredentialsRefused(f"cannot read the credentials file: {exc.strerror}",
                                 file=str(path)) from None
    with os.fdopen(fd, "rb") as handle:
        mode = stat.S_IMODE(os.fstat(handle.fileno()).st_mode)  # of the file opened, no race
        if mode & 0o077:
            raise CredentialsRefused(
                f"the credentials file is mode {mode:04o}, so others may read or change it;"
                f" it must be 0600 (chmod 600 {path})", file=str(path))
        first = handle.read(64 * 1024).decode("utf-8", "replace").splitlines()[:1]
    user, colon, password = (first[0] if first else "").strip("\r\n").partition(":")
    if not colon or not user or not password:
        raise CredentialsRefused("the credentials file's first line must be USER:PASSWORD",
                                 file=str(path), line=1)
    return Credentials(user, password)


# --------------------------------------------------------------------------- results


def _ratio(percent: int) -> float:
    return percent / 100


@dataclass(frozen=True, slots=True)
class PoolTier:
    """A tier of a Dynamic Tiering (HDT) pool, as the array reports it (``tiers[]``)."""

    number: int
    """``tierNumber``: 1 is the fastest."""
    total_bytes: int
    """``tierTotalCapacity`` MiB x 2**20."""
    used_bytes: int
    """``tierUsedCapacity`` MiB x 2**20."""
    drive_type_name: str | None = None
    """``driveTypeName`` of the tier's drives, where the firmware reports it."""
    drive_speed: int | None = None
    """``driveSpeed`` (rpm) where reported."""


@dataclass(frozen=True, slots=True)
class Pool:
    """A Dynamic Provisioning pool and its usage."""

    pool_id: int
    name: str
    type: str
    """``poolType``: HDP, HDT, RT (active flash) ..."""
    status: str
    """``poolStatus``: POLN normal, POLF over a threshold, POLS suspended, POLE failed."""
    total_bytes: int
    """``totalPoolCapacity`` MiB x 2**20."""
    available_bytes: int
    """``availableVolumeCapacity`` MiB x 2**20."""
    used_ratio: float
    """``usedCapacityRate`` / 100 (the array's own rounding to whole percent)."""
    warning_ratio: float
    """``warningThreshold`` / 100."""
    depletion_ratio: float
    """``depletionThreshold`` / 100."""
    tiers: tuple[PoolTier, ...] = ()

    @property
    def used_bytes(self) -> int:
        return self.total_bytes - self.available_bytes


@dataclass(frozen=True, slots=True)
class ParityGroup:
    """A parity group (``parityGroupId`` like ``1-3``)."""

    group_id: str
    raid_level: str
    """``raidLevel``: RAID1, RAID5, RAID6."""
    raid_type: str
    """``raidType`` in Hitachi notation: 3D+1P, 14D+2P, 2D+2D."""
    drive_type: str
    """``driveType``, the drive's product code (DKS5E-J18TSS ...)."""
    drive_type_name: str
    """``driveTypeName``: SSD, SAS, NLSAS, FMD ..."""
    total_bytes: int
    """``totalCapacity`` GiB x 2**30."""
    available_bytes: int
    """``availableVolumeCapacity`` GiB x 2**30 (not yet carved into LDEVs)."""
    drive_speed: int | None = None
    """``driveSpeed`` in rpm, where reported (0 or absent for flash)."""


@dataclass(frozen=True, slots=True)
class Ldev:
    """A logical device: a DP volume (``attributes`` holds HDP or HDT) or a pool volume
    (POOL), with its tiering settings where it is on an HDT pool."""

    ldev_id: int
    label: str
    attributes: tuple[str, ...]
    pool_id: int | None
    capacity_bytes: int
    """``blockCapacity`` x 512."""
    used_bytes: int
    """``numOfUsedBlock`` x 512 (pages allocated; 0 where not reported)."""
    parity_group_ids: tuple[str, ...] = ()
    """``parityGroupIds``: for a pool volume, the parity groups that hold it."""
    is_relocation_enabled: bool | None = None
    tier_level: str | None = None
    """``tierLevel``: ``all`` or 1-31 (the tiering policy), as text."""
    tier_level_for_new_page_allocation: str | None = None
    """``tierLevelForNewPageAllocation``: H, M or L."""

    @property
    def is_pool_volume(self) -> bool:
        return "POOL" in self.attributes


@dataclass(frozen=True, slots=True)
class Job:
    """An asynchronous job as last read."""

    job_id: int
    status: str
    """Initializing, Running, Completed."""
    state: str
    """Queued, Started, Succeeded, Failed, Unknown."""
    affected_resources: tuple[str, ...] = ()
    error: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ArrayState:
    """What one session read: pools, parity groups and LDEVs."""

    endpoint: str
    pools: tuple[Pool, ...]
    parity_groups: tuple[ParityGroup, ...]
    ldevs: tuple[Ldev, ...]

    def pool_parity_groups(self, pool_id: int) -> list[ParityGroup]:
        """The parity groups that hold the pool's pool volumes, in the array's order."""
        ids = {pg for ldev in self.ldevs if ldev.is_pool_volume and ldev.pool_id == pool_id
               for pg in ldev.parity_group_ids}
        return [pg for pg in self.parity_groups if pg.group_id in ids]

    def tier_parity_groups(self, pool: Pool) -> dict[int, list[ParityGroup]]:
        """The pool's parity groups by tier number.  A tier that names its drives
        (``driveTypeName``, ``driveSpeed``) takes the groups of those drives; otherwise the
        drive classes are ranked as HDT ranks them (flash, then SAS by speed, then nearline)
        and numbered from 1.  An HDP pool has one tier."""
        groups = self.pool_parity_groups(pool.pool_id)
        if len(pool.tiers) <= 1:
            return {pool.tiers[0].number if pool.tiers else 1: groups} if groups else {}
        named = {(t.drive_type_name, t.drive_speed or 0): t.number for t in pool.tiers
                 if t.drive_type_name}
        if len(named) == len(pool.tiers):
            out: dict[int, list[ParityGroup]] = {}
            for pg in groups:
                number = named.get((pg.drive_type_name, pg.drive_speed or 0))
                if number is None:
                    number = next((n for (name, _), n in named.items()
                                   if name == pg.drive_type_name), 0)
                out.setdefault(number, []).append(pg)
            return out
        classes = sorted({drive_rank(pg) for pg in groups})
        by_tier: dict[int, list[ParityGroup]] = {}
        for pg in groups:
            by_tier.setdefault(classes.index(drive_rank(pg)) + 1, []).append(pg)
        return by_tier


def drive_rank(pg: ParityGroup) -> tuple[int, int]:
    """Sort key of a drive class, fastest first: flash, SAS by speed, nearline."""
    name = pg.drive_type_name.upper()
    if any(word in name for word in ("SSD", "FMD", "SCM", "NVME", "FLASH")):
        return (0, 0)
    if "NL" in name or "SATA" in name:
        return (2, -(pg.drive_speed or 0))
    return (1, -(pg.drive_speed or 0))


# --------------------------------------------------------------------------- parsing


def _get(obj: Mapping[str, Any], key: str, kind: type | tuple[type, ...], what: str) -> Any:
    value = obj.get(key)
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is int):
        raise ArrayAnswerInvalid(f"the array's {what} has no valid {key!r}: {value!r}")
    return value


def _opt(obj: Mapping[str, Any], key: str, kind: type) -> Any:
    value = obj.get(key)
    return value if isinstance(value, kind) else None


def parse_pool(obj: Mapping[str, Any]) -> Pool:
    what = f"pool {obj.get('poolId')!r}"
    tiers = tuple(PoolTier(
        number=_get(t, "tierNumber", int, what + " tier"),
        total_bytes=_get(t, "tierTotalCapacity", int, what + " tier") * MIB,
        used_bytes=_get(t, "tierUsedCapacity", int, what + " tier") * MIB,
        drive_type_name=_opt(t, "driveTypeName", str),
        drive_speed=_opt(t, "driveSpeed", int)) for t in obj.get("tiers") or ())
    return Pool(
        pool_id=_get(obj, "poolId", int, what), name=_get(obj, "poolName", str, what),
        type=_get(obj, "poolType", str, what), status=str(obj.get("poolStatus", "")),
        total_bytes=_get(obj, "totalPoolCapacity", int, what) * MIB,
        available_bytes=_get(obj, "availableVolumeCapacity", int, what) * MIB,
        used_ratio=_ratio(_get(obj, "usedCapacityRate", int, what)),
        warning_ratio=_ratio(_get(obj, "warningThreshold", int, what)),
        depletion_ratio=_ratio(_get(obj, "depletionThreshold", int, what)),
        tiers=tuple(sorted(tiers, key=lambda t: t.number)))


def parse_parity_group(obj: Mapping[str, Any]) -> ParityGroup:
    what = f"parity group {obj.get('parityGroupId')!r}"
    return ParityGroup(
        group_id=_get(obj, "parityGroupId", str, what),
        raid_level=_get(obj, "raidLevel", str, what), raid_type=_get(obj, "raidType", str, what),
        drive_type=str(obj.get("driveType", "")),
        drive_type_name=_get(obj, "driveTypeName", str, what),
        total_bytes=_get(obj, "totalCapacity", int, what) * GIB,
        available_bytes=_get(obj, "availableVolumeCapacity", int, what) * GIB,
        drive_speed=_opt(obj, "driveSpeed", int))


def parse_ldev(obj: Mapping[str, Any]) -> Ldev:
    what = f"LDEV {obj.get('ldevId')!r}"
    level = obj.get("tierLevel")
    return Ldev(
        ldev_id=_get(obj, "ldevId", int, what), label=str(obj.get("label", "")),
        attributes=tuple(str(a) for a in obj.get("attributes") or ()),
        pool_id=_opt(obj, "poolId", int),
        capacity_bytes=_get(obj, "blockCapacity", int, what) * BLOCK,
        used_bytes=(_opt(obj, "numOfUsedBlock", int) or 0) * BLOCK,
        parity_group_ids=tuple(str(p) for p in obj.get("parityGroupIds") or ()),
        is_relocation_enabled=_opt(obj, "isRelocationEnabled", bool),
        tier_level=None if level is None else str(level),
        tier_level_for_new_page_allocation=_opt(obj, "tierLevelForNewPageAllocation", str))


def parse_job(obj: Mapping[str, Any]) -> Job:
    error = obj.get("error")
    return Job(job_id=_get(obj, "jobId", int, "job"), status=_get(obj, "status", str, "job"),
               state=str(obj.get("state", "")),
               affected_resources=tuple(str(r) for r in obj.get("affectedResources") or ()),
               error=error if isinstance(error, dict) else {})


def _error_text(body: Any) -> tuple[str, str | None]:
    """The array's error object in one line (``messageId: message cause solution``)."""
    if not isinstance(body, dict):
        return (str(body)[:300] if body else ""), None
    inner = body.get("error")
    err: dict[str, Any] = inner if isinstance(inner, dict) else body
    parts = [str(err[k]) for k in ("message", "cause", "solution") if err.get(k)]
    message_id = err.get("messageId") if isinstance(err.get("messageId"), str) else None
    text = " ".join(parts)
    return (f"{message_id}: {text}" if message_id else text), message_id


# --------------------------------------------------------------------------- the client


@dataclass(frozen=True, slots=True)
class Retry:
    """Backoff on 503 and on failed connections (one budget for both): ``attempts`` tries
    in all, waiting ``first`` seconds, then ``factor`` times longer each time, never more
    than ``longest`` (or the server's Retry-After)."""

    attempts: int = 6
    first: float = 1.0
    factor: float = 2.0
    longest: float = 30.0

    def delays(self) -> Iterator[float]:
        delay = self.first
        for _ in range(self.attempts - 1):
            yield min(delay, self.longest)
            delay *= self.factor


class VspClient:
    """One session on one array.  Use as a context manager: the session is created on entry
    and deleted on exit, whatever happened in between::

        with VspClient("https://vsp1.example", credentials()) as array:
            pools = array.pools()

    ``endpoint`` is ``https://HOST[:PORT]`` (the path ``/ConfigurationManager`` is implied);
    ``storage_device_id`` scopes every object to one array behind a management server.
    TLS is always verified: against ``ca_bundle`` (a PEM file) if given, else the system's CAs.
    Requests are retried as :meth:`_call` says (503s and failed connections, never a change
    that may have reached the array), and a session the array discarded is renewed once.
    """

    def __init__(self, endpoint: str, creds: Credentials, *,
                 storage_device_id: str | None = None, ca_bundle: Path | None = None,
                 timeout: float = 30.0, job_timeout: float = 600.0, poll_interval: float = 1.0,
                 retry: Retry = Retry(), sleep: Callable[[float], None] = time.sleep,
                 clock: Callable[[], float] = time.monotonic) -> None:
        url = urllib.parse.urlsplit(endpoint)
        if url.scheme != "https" or not url.hostname:
            raise BadInput(f"the array's REST endpoint must be https://HOST[:PORT], not"
                           f" {endpoint!r}", field="rest.endpoint")
        self.endpoint = endpoint
        self.host = url.hostname
        self.port = url.port or 443
        root = url.path.rstrip("/") or "/ConfigurationManager"
        self._objects = f"{root}/v1/objects"
        if storage_device_id:
            self._objects += f"/storages/{urllib.parse.quote(storage_device_id, safe='')}"
        self._creds = creds
        try:
            self._tls = ssl.create_default_context(
                cafile=None if ca_bundle is None else str(ca_bundle))
        except (OSError, ssl.SSLError) as exc:
            raise BadInput(f"cannot use the CA bundle: {exc}", file=str(ca_bundle),
                           field="rest.ca_bundle") from None
        self.timeout, self.job_timeout, self.poll_interval = timeout, job_timeout, poll_interval
        self.retry, self._sleep, self._clock = retry, sleep, clock
        self._session: tuple[int, str] | None = None
        self.sessions_opened = 0
        """Sessions this client opened (renewals included)."""
        self.sessions_renewed = 0
        """Times a 401 for the session's token made the client open a new one."""

    # ---- sessions

    def __enter__(self) -> Self:
        self.open()
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        try:
            self.close()
        except TransportError as closing:
            if exc is None:
                raise
            exc.add_note(f"and the session could not be deleted: {closing}")

    def open(self) -> None:
        """Create the session (basic authentication).  503s and connection failures are
        retried with backoff, even once the request was sent: at worst the array holds a
        session whose answer was lost, which it discards once unused for its session timeout."""
        if self._session is not None:
            return
        basic = base64.b64encode(f"{self._creds.user}:{self._creds.password}".encode()).decode()
        body = self._call("POST", f"{self._objects}/sessions", {}, auth=f"Basic {basic}",
                          resend=True)
        if not isinstance(body, dict):
            raise ArrayAnswerInvalid("the array's session answer is not an object",
                                     host=self.host)
        self._session = (_get(body, "sessionId", int, "session"),
                         _get(body, "token", str, "session"))
        self.sessions_opened += 1

    def close(self) -> None:
        """Delete the session (it is forgotten here even if the array refuses).  A session
        the array no longer knows (401 for its token, or 404: it timed out, the array
        restarted, or a retried DELETE finds the first one did it) is deleted already."""
        if self._session is None:
            return
        session_id, token = self._session
        self._session = None
        try:
            self._call("DELETE", f"{self._objects}/sessions/{session_id}", None,
                       auth=f"Session {token}", renew=False)
        except ArrayRefused as exc:
            if exc.status not in (http.client.UNAUTHORIZED, http.client.NOT_FOUND):
                raise

    def _renew(self, refused: tuple[int, str]) -> None:
        """The array answered 401 for the session's token: forget that session, ask the
        array once, without retries, to delete it (it has most likely discarded it already;
        the answer is not read), and open a new one."""
        if self._session == refused:
            self._session = None
            session_id, token = refused
            with contextlib.suppress(TransportError, _Unanswered):
                self._send("DELETE", f"{self._objects}/sessions/{session_id}", None,
                           f"Session {token}")
        self.open()
        self.sessions_renewed += 1

    # ---- reads

    def pools(self) -> list[Pool]:
        return [parse_pool(p) for p in self._list("pools")]

    def parity_groups(self) -> list[ParityGroup]:
        return [parse_parity_group(p) for p in self._list("parity-groups")]

    def ldevs(self, pool_id: int | None = None) -> list[Ldev]:
        """Every defined LDEV (of one pool when ``pool_id`` is given), page by page."""
        out: list[Ldev] = []
        head = 0
        while True:
            query: dict[str, Any] = {"ldevOption": "defined", "count": LDEV_PAGE,
                                     "headLdevId": head}
            if pool_id is not None:
                query["poolId"] = pool_id
            page = [parse_ldev(obj) for obj in self._list("ldevs", query)]
            out.extend(page)
            if len(page) < LDEV_PAGE:
                return out
            head = page[-1].ldev_id + 1

    def read(self) -> ArrayState:
        """Pools, parity groups and LDEVs, in this one session."""
        return ArrayState(self.endpoint, tuple(self.pools()), tuple(self.parity_groups()),
                          tuple(self.ldevs()))

    # ---- changes (asynchronous jobs)

    def set_tiering_policy(self, ldev_id: int, tier_level: int) -> Job:
        """Give an LDEV on an HDT pool tiering policy ``tier_level`` (0 all, 1-5 the levels,
        6-31 custom policies), waiting for the job."""
        if not 0 <= tier_level <= 31:
            raise BadInput(f"a tiering policy is 0-31, not {tier_level}", field="tier_level")
        return self._job("PATCH", f"{self._objects}/ldevs/{ldev_id}",
                         {"tieringPolicy": {"tierLevel": tier_level}})

    def relocation(self, pool_id: int, start: bool) -> Job:
        """Start or stop tier relocation of an HDT pool, waiting for the job."""
        return self._job("POST", f"{self._objects}/pools/{pool_id}/actions/relocate/invoke",
                         {"parameters": {"operationType": "start" if start else "stop"}})

    # ---- plumbing

    def _token(self) -> tuple[int, str]:
        if self._session is None:
            raise ArrayError("no session: use the client as a context manager", host=self.host)
        return self._session

    def _list(self, kind: str, query: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
        path = f"{self._objects}/{kind}"
        if query:
            path += "?" + urllib.parse.urlencode(query)
        body = self._call("GET", path, None)
        data = body.get("data") if isinstance(body, dict) else None
        if not isinstance(data, list) or not all(isinstance(d, dict) for d in data):
            raise ArrayAnswerInvalid(f"the array's {kind} answer has no list 'data'",
                                     host=self.host)
        return data

    def _job(self, method: str, path: str, body: Mapping[str, Any]) -> Job:
        answer = self._call(method, path, body, accept_job=True)
        if not isinstance(answer, dict):
            raise ArrayAnswerInvalid(f"{method} {path}: the answer is not a job", host=self.host)
        job = parse_job(answer)
        where = answer.get("self")
        poll = where if isinstance(where, str) and where.startswith("/") else (
            f"{self._objects}/jobs/{job.job_id}")
        deadline = self._clock() + self.job_timeout
        while job.status != "Completed":
            if self._clock() >= deadline:
                raise ArrayJobTimeout(
                    f"job {job.job_id} ({method} {path}) not completed after"
                    f" {self.job_timeout:g} s (status {job.status}, state {job.state}); it may"
                    f" still run on the array: GET {poll}", host=self.host)
            self._sleep(self.poll_interval)
            try:
                polled = self._call("GET", poll, None)
            except CertificateRefused:
                raise
            except ConnectionLost as exc:
                raise ConnectionLost(f"{exc}; job {job.job_id} ({method} {path}) may still run"
                                     f" on the array: GET {poll}", host=self.host) from None
            if not isinstance(polled, dict):
                raise ArrayAnswerInvalid(f"job {job.job_id}: the answer is not a job",
                                         host=self.host)
            job = parse_job(polled)
        if job.state != "Succeeded":
            text, _ = _error_text(job.error)
            raise ArrayJobFailed(f"{self.host}: job {job.job_id} ({method} {path}) {job.state}:"
                                 f" {text or 'the array gave no reason'}", job, host=self.host)
        return job

    def _call(self, method: str, path: str, body: Mapping[str, Any] | None, *,
              auth: str | None = None, accept_job: bool = False, resend: bool | None = None,
              renew: bool = True) -> Any:
        """One request, with the session's token unless ``auth`` is given.

        Retried with backoff (one budget of :attr:`retry` attempts) while the array answers
        503, and when the connection fails: always when it failed before the request was
        sent (refused, reset or timed out while connecting or in the TLS handshake); once it
        was sent (reset, closed, or no answer within :attr:`timeout`), only when ``resend``
        (by default: GET and DELETE, which change nothing twice).  A POST or PATCH that may
        have reached the array is never sent again: :class:`RequestOutcomeUnknown`.

        A 401 for the session's token (the session timed out on the array, or the array
        restarted) renews the session once (:meth:`_renew`) and sends the request again
        with the new token: the array acted on nothing it refused.  A second 401 is
        :class:`SessionRefused`; never a loop."""
        resend = method in ("GET", "DELETE") if resend is None else resend
        delays = self.retry.delays()
        waited = 0.0
        tries = busy = 0
        renewed = False
        while True:
            session: tuple[int, str] | None = None
            if auth is None:
                session = self._token()
                header = f"Session {session[1]}"
            else:
                header = auth
            tries += 1
            try:
                status, headers, answer = self._send(method, path, body, header)
            except _Unanswered as failure:
                what = f"{self.host}:{self.port}: {method} {_shown(path)}"
                if failure.sent and not resend:
                    raise RequestOutcomeUnknown(
                        f"{what}: {failure.reason} after the request was sent; it is not sent"
                        f" again, since the array may have acted on it (started a job): look"
                        f" at the object and the array's jobs (GET {self._objects}/jobs)"
                        f" before trying again", host=self.host, method=method,
                        path=path) from None
                delay = next(delays, None) if failure.transient else None
                if delay is None:
                    raise ConnectionLost(
                        f"{what}: {failure.reason}"
                        + (f" ({tries} attempts over {waited:g} s)" if tries > 1 else ""),
                        host=self.host) from None
                self._sleep(delay)
                waited += delay
                continue
            if status == http.client.SERVICE_UNAVAILABLE:
                busy += 1
                delay = next(delays, None)
                if delay is None:
                    text, message_id = _error_text(answer)
                    failed = (f" (and its connection failed {tries - busy} times)"
                              if tries > busy else "")
                    raise ArrayBusy(
                        f"{self.host}: {method} {_shown(path)} answered 503 {busy} times"
                        f"{failed} over {waited:g} s: the REST server is busy or every session it"
                        f" allows is taken (close other clients' sessions, or wait for them"
                        f" to expire){': ' + text if text else ''}", host=self.host,
                        status=status, message_id=message_id)
                after = headers.get("Retry-After", "")
                if after.isdigit():
                    delay = min(max(delay, float(after)), self.retry.longest)
                self._sleep(delay)
                waited += delay
                continue
            if status == http.client.UNAUTHORIZED and session is not None:
                if renew and not renewed:
                    self._renew(session)
                    renewed = True
                    continue
                text, message_id = _error_text(answer)
                again = "a new session's token too" if renewed else "the session token"
                raise SessionRefused(f"{self.host}: {method} {_shown(path)}: the array refused"
                                     f" {again} (HTTP 401){': ' + text if text else ''}",
                                     host=self.host, status=status, message_id=message_id)
            break
        if status == http.client.UNAUTHORIZED and header.startswith("Basic"):
            text, _ = _error_text(answer)
            raise LoginRefused(f"{self.host}: the array refused the user {self._creds.user!r}"
                               f" and its password (HTTP 401){': ' + text if text else ''}",
                               host=self.host)
        if status >= 300 or (status == http.client.ACCEPTED and not accept_job):
            text, message_id = _error_text(answer)
            raise ArrayRefused(f"{self.host}: {method} {_shown(path)} answered {status}"
                               f"{': ' + text if text else ''}", host=self.host, status=status,
                               message_id=message_id)
        return answer

    def _send(self, method: str, path: str, body: Mapping[str, Any] | None,
              auth: str) -> tuple[int, http.client.HTTPMessage, Any]:
        """One request on a connection of its own.  A connection that fails raises
        :class:`_Unanswered`, saying whether the request had been sent."""
        conn = http.client.HTTPSConnection(self.host, self.port, context=self._tls,
                                           timeout=self.timeout)
        payload = None if body is None else json.dumps(body).encode()
        headers = {"Accept": "application/json", "Authorization": auth}
        if payload is not None:
            headers["Content-Type"] = "application/json"
        try:
            try:
                conn.connect()  # TCP and the TLS handshake: nothing of the request sent yet
            except ssl.SSLCertVerificationError as exc:
                raise CertificateRefused(
                    f"{self.host}:{self.port}: TLS certificate not trusted"
                    f" ({exc.verify_message or exc.reason}); give the CA that signed it with"
                    f" rest.ca_bundle (or --ca-bundle)", host=self.host) from None
            except (OSError, http.client.HTTPException) as exc:
                raise _Unanswered(exc, sent=False, timeout=self.timeout) from None
            try:
                conn.request(method, path, body=payload, headers=headers)
                response = conn.getresponse()
                raw = response.read()
            except (OSError, http.client.HTTPException) as exc:
                raise _Unanswered(exc, sent=True, timeout=self.timeout) from None
        finally:
            conn.close()
        answer: Any = None
        if raw:
            try:
                answer = json.loads(raw)
            except ValueError:
                answer = raw.decode("utf-8", "replace")
        return response.status, response.headers, answer


class _Unanswered(Exception):
    """A connection failed before the answer came: ``sent`` says whether the request had
    been sent (it may then have reached the array), ``reason`` what happened, in words;
    ``transient`` is false for what waiting will not mend (a name that does not resolve)."""

    def __init__(self, exc: BaseException, *, sent: bool, timeout: float) -> None:
        super().__init__(str(exc))
        self.sent = sent
        self.transient = not (isinstance(exc, socket.gaierror)
                              and exc.errno == socket.EAI_NONAME)
        self.reason = _reason(exc, sent, timeout)


def _reason(exc: BaseException, sent: bool, timeout: float) -> str:
    if isinstance(exc, TimeoutError):
        return (f"no answer within {timeout:g} s" if sent
                else f"no connection within {timeout:g} s")
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused (is the REST server running, and this its port?)"
    if isinstance(exc, http.client.RemoteDisconnected):
        return "the connection was closed without an answer"
    if isinstance(exc, ConnectionResetError | BrokenPipeError | ConnectionAbortedError):
        return "the connection was reset" + ("" if sent else " while connecting")
    if isinstance(exc, http.client.IncompleteRead):
        return "the answer was cut short"
    if isinstance(exc, socket.gaierror):
        return f"cannot resolve the host name ({exc.strerror})"
    if isinstance(exc, ssl.SSLError):
        return f"TLS failed ({exc.reason or exc})" + ("" if sent else " in the handshake")
    return str(exc) or type(exc).__name__


def _shown(path: str) -> str:
    return path.split("?", 1)[0]
