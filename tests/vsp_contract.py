"""A contract server of the documented Hitachi VSP REST API, not an array.

It answers the endpoints and response shapes the public references document, so the driver
(capacity/transports/vsp.py) can be tested over real HTTPS on 127.0.0.1 with a CA of its
own.  It holds no storage: pools, parity groups and LDEVs are the JSON a test gives it, and
it counts what a client did (sessions opened and still open, requests, polls) so tests can
check the client against that count rather than against the client's own word.

Where each shape comes from (all public):

- sessions: ``POST /ConfigurationManager/v1/objects/sessions`` with basic auth answers
  ``{"token", "sessionId"}``; ``DELETE .../sessions/{sessionId}``; other requests carry
  ``Authorization: Session <token>``; a session beyond the array's limit is answered 503
  (Hitachi REST API Reference Guide MK-98RD9014, "Generating a session", 64 sessions per
  array; OpenStack Cinder ``hbsd_rest_api.py`` ``_login``/``Session``).
- pools: ``GET .../pools`` -> ``{"data": [{poolId, poolName, poolType, poolStatus,
  usedCapacityRate, availableVolumeCapacity, totalPoolCapacity, warningThreshold,
  depletionThreshold, tiers: [{tierNumber, tierTotalCapacity, tierUsedCapacity, ...}]}]}``,
  capacities in MB of 1024**2 bytes (the guide; Ansible collection vspone_block
  ``vsp_storage_pool_models.py`` ``VSPPfrestStoragePool``, ``TierObject``, ``TierUpdated``).
- parity groups: ``GET .../parity-groups`` -> ``{parityGroupId, raidLevel, raidType,
  driveType, driveTypeName, driveSpeed, totalCapacity, availableVolumeCapacity, ...}``,
  capacities in GB (Ansible ``vsp_parity_group_models.py``, converted there x 1024**3).
- LDEVs: ``GET .../ldevs?ldevOption=defined&count=N&headLdevId=M[&poolId=P]`` ->
  ``{ldevId, label, attributes, poolId, blockCapacity, numOfUsedBlock, parityGroupIds,
  isRelocationEnabled, tierLevel, tierLevelForNewPageAllocation}``, capacities in 512-byte
  blocks (the guide, "Getting a list of volumes"; Ansible ``vsp_volume_models.py``).
- jobs: POST/PATCH answer 202 with ``{jobId, self, status, state, affectedResources}``;
  ``GET .../jobs/{jobId}`` until ``status: Completed``, ``state: Succeeded|Failed`` with
  ``error: {messageId, message, cause, solution}`` (the guide, "Job object"; Cinder
  ``ResponseData.job_succeeded``).
- errors: ``{errorSource, messageId, message, cause, solution}`` bodies; 503 when busy.
- a session the array no longer holds (it went unused past the array's session timeout, or
  the array restarted) answers 401 to its token, and a client logs in again (Cinder
  ``hbsd_rest_api.py``: ``ResponseData.is_auth_fail``, then ``RestApiClient.relogin``,
  which retries the request with the new session).

Faults a test can inject: ``busy`` (the next N requests answer 503), ``job_polls`` (polls
before a job completes; None never completes), ``job_fails``; and, for a network that fails:
``reset_connections`` (the next N connections are reset as soon as they are accepted, before
the TLS handshake: nothing of a request is sent), ``reset_requests`` (the next N requests
whose ``METHOD path`` holds ``fault_match`` are read and carried out, then their connection
is reset before the answer, as when the link drops while the array works; a job such a
request started stays where it is until it is polled, as every job here does),
``stall_requests`` (the next N such requests are answered only after ``stall_seconds``, past
a client's timeout, and carried out then); for sessions: ``expire_after`` (a session serves
that many requests, then the array has discarded it: 401) and
:meth:`ContractState.expire_sessions` (the array restarted: every session gone).
"""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import json
import re
import secrets
import socket
import ssl
import struct
import threading
import time
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from tests.pki import TestPki

ROOT = "/ConfigurationManager/v1/objects"
USER, PASSWORD = "capacity-ro", "s3cret:with:colons"
STORAGE_DEVICE_ID = "886000412345"  # a G900 (fixed value 886000) with serial 412345


# --------------------------------------------------------------------------- the array's data


def example_objects() -> dict[str, list[dict[str, Any]]]:
    """A G900 as the API would describe it: an HDT pool of 1,144.5 TiB over one SSD
    parity group (tier 1, 7D+1P of 3.84 TB drives) and five NL-SAS ones (tier 2, 14D+2P of
    18 TB), 71% used; an HDP pool of 13 TiB on 2.4 TB SAS (6D+2P), 40% used; their pool
    volumes, and two DP volumes."""
    pools = [
        {"poolId": 0, "poolName": "pacs-hdt", "poolType": "HDT", "poolStatus": "POLN",
         "usedCapacityRate": 71, "availableVolumeCapacity": 348_127_232,
         "totalPoolCapacity": 1_200_095_232, "totalPhysicalCapacity": 1_200_095_232,
         "warningThreshold": 70, "depletionThreshold": 80, "numOfLdevs": 7,
         "tiers": [
             {"tierNumber": 1, "tierTotalCapacity": 25_690_112,
              "tierUsedCapacity": 20_971_520,
              "performanceRate": 40, "progressOfReplacing": 100, "raidLevel": "RAID5",
              "raidType": "7D+1P", "driveTypeName": "SSD", "driveSpeed": 0},
             {"tierNumber": 2, "tierTotalCapacity": 1_174_405_120,
              "tierUsedCapacity": 830_996_480, "performanceRate": 60,
              "progressOfReplacing": 100, "raidLevel": "RAID6", "raidType": "14D+2P",
              "driveTypeName": "NLSAS", "driveSpeed": 7200}]},
        {"poolId": 1, "poolName": "vm-hdp", "poolType": "HDP", "poolStatus": "POLN",
         "usedCapacityRate": 40, "availableVolumeCapacity": 8_126_464,
         "totalPoolCapacity": 13_631_488, "warningThreshold": 75, "depletionThreshold": 85,
         "numOfLdevs": 2},
    ]
    groups = [{"parityGroupId": "1-1", "raidLevel": "RAID5", "raidType": "7D+1P",
               "driveType": "SLB5F-M3R8SS", "driveTypeName": "SSD", "driveSpeed": 0,
               "totalCapacity": 25_088, "availableVolumeCapacity": 0, "numOfLdevs": 1,
               "usedCapacityRate": 100, "clprId": 0}]
    groups += [{"parityGroupId": f"2-{n}", "raidLevel": "RAID6", "raidType": "14D+2P",
                "driveType": "DKS5K-J18TSS", "driveTypeName": "NLSAS", "driveSpeed": 7200,
                "totalCapacity": 229_376, "availableVolumeCapacity": 0, "numOfLdevs": 1,
                "usedCapacityRate": 100, "clprId": 0} for n in range(1, 6)]
    groups += [{"parityGroupId": "3-1", "raidLevel": "RAID6", "raidType": "6D+2P",
                "driveType": "DKS2K-H2R4SS", "driveTypeName": "SAS", "driveSpeed": 10000,
                "totalCapacity": 13_312, "availableVolumeCapacity": 0, "numOfLdevs": 1,
                "usedCapacityRate": 100, "clprId": 0}]
    ldevs: list[dict[str, Any]] = []
    for n, group in enumerate(groups):
        ldevs.append({"ldevId": 0x100 + n, "label": f"pool-vol-{group['parityGroupId']}",
                      "attributes": ["CVS", "POOL"], "status": "NML",
                      "poolId": 1 if group["parityGroupId"] == "3-1" else 0,
                      "blockCapacity": group["totalCapacity"] * 2**30 // 512,
                      "parityGroupIds": [group["parityGroupId"]], "emulationType": "OPEN-V-CVS"})
    ldevs.append({"ldevId": 0x200, "label": "pacs-archive-2019", "attributes": ["CVS", "HDT"],
                  "status": "NML", "poolId": 0, "blockCapacity": 40 * 2**40 // 512,
                  "numOfUsedBlock": 31 * 2**40 // 512, "isRelocationEnabled": True,
                  "tierLevel": "all", "tierLevelForNewPageAllocation": "M",
                  "emulationType": "OPEN-V-CVS"})
    ldevs.append({"ldevId": 0x201, "label": "vm-datastore-1", "attributes": ["CVS", "HDP"],
                  "status": "NML", "poolId": 1, "blockCapacity": 4 * 2**40 // 512,
                  "numOfUsedBlock": 2 * 2**40 // 512, "emulationType": "OPEN-V-CVS"})
    return {"pools": pools, "parity-groups": groups, "ldevs": ldevs}


# --------------------------------------------------------------------------- the server


@dataclass
class Counts:
    """What clients did, as the server saw it."""

    sessions_created: int = 0
    sessions_deleted: int = 0
    session_refusals: int = 0
    busy_answers: int = 0
    job_polls: int = 0
    sessions_expired: int = 0
    connections_reset: int = 0
    requests_reset: int = 0
    requests_stalled: int = 0
    requests: list[str] = field(default_factory=list)
    """``METHOD path`` of every request read (a reset connection's included)."""


class ContractState:
    """The server's state: its objects, sessions, jobs and faults (locked: one handler
    thread per request)."""

    def __init__(self, session_limit: int = 3) -> None:
        self.lock = threading.Lock()
        self.objects = example_objects()
        self.session_limit = session_limit
        self.sessions: dict[int, str] = {}
        self.next_session = 1
        self.jobs: dict[int, dict[str, Any]] = {}
        self.next_job = 1000
        self.counts = Counts()
        self.users = {USER: PASSWORD}
        self.busy = 0
        self.job_polls: int | None = 1
        self.job_fails = False
        self.reset_connections = 0
        self.reset_requests = 0
        self.stall_requests = 0
        self.stall_seconds = 1.0
        self.fault_match = ""
        self.expire_after: int | None = None
        self.session_uses: dict[int, int] = {}

    @property
    def open_sessions(self) -> int:
        with self.lock:
            return len(self.sessions)

    def expire_sessions(self) -> None:
        """Every session gone, as after the array's REST server restarted."""
        with self.lock:
            self.counts.sessions_expired += len(self.sessions)
            self.sessions.clear()

    def take_fault(self, line: str) -> str | None:
        """``reset`` or ``stall`` when a request (``METHOD path``) is to meet that fault
        (called with the lock held)."""
        if self.fault_match not in line:
            return None
        if self.reset_requests > 0:
            self.reset_requests -= 1
            self.counts.requests_reset += 1
            return "reset"
        if self.stall_requests > 0:
            self.stall_requests -= 1
            self.counts.requests_stalled += 1
            return "stall"
        return None


def _error(status: int, message_id: str | None, message: str, cause: str = "",
           solution: str = "") -> tuple[int, dict[str, Any]]:
    body: dict[str, Any] = {"errorSource": "", "message": message, "cause": cause,
                            "solution": solution}
    if message_id:
        body["messageId"] = message_id
    return status, body


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    def do_GET(self) -> None:
        self._answer()

    def do_POST(self) -> None:
        self._answer()

    def do_PATCH(self) -> None:
        self._answer()

    def do_DELETE(self) -> None:
        self._answer()

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        state = self.server.state
        line = f"{self.command} {urllib.parse.urlsplit(self.path).path}"
        with state.lock:
            state.counts.requests.append(line)
            fault = state.take_fault(line)
        if fault == "stall":
            time.sleep(state.stall_seconds)  # the client has given up by now
        try:
            status, body = self.server.route(self.command, self.path, self.headers, raw)
        except Exception as exc:  # a bug here must show as a 500, not a hung client
            status, body = _error(500, None, f"contract server: {exc!r}")
        if fault == "reset":  # carried out; the answer never leaves
            self.close_connection = True
            _reset(self.connection)
            return
        data = json.dumps(body).encode() if body is not None else b""
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, tls: ssl.SSLContext, state: ContractState) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.tls, self.state = tls, state

    def get_request(self) -> tuple[Any, Any]:
        sock, addr = super().get_request()
        with self.state.lock:
            reset = self.state.reset_connections > 0
            if reset:
                self.state.reset_connections -= 1
                self.state.counts.connections_reset += 1
        if reset:
            _reset(sock)
            raise OSError("connection reset by the contract server")  # socketserver skips it
        # the handshake happens in the handler's thread: a refused client blocks nobody
        return self.tls.wrap_socket(sock, server_side=True,
                                    do_handshake_on_connect=False), addr

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client that refused our certificate, or hung up

    def route(self, method: str, target: str, headers: Any,
              raw: bytes) -> tuple[int, dict[str, Any] | None]:
        state = self.state
        url = urllib.parse.urlsplit(target)
        query = dict(urllib.parse.parse_qsl(url.query))
        path = url.path
        prefix = f"{ROOT}/storages/"
        if path.startswith(prefix):
            device, _, rest = path[len(prefix):].partition("/")
            if device != STORAGE_DEVICE_ID:
                return _error(404, "KART30013-E", f"storage {device} does not exist")
            path = f"{ROOT}/{rest}"
        if not path.startswith(ROOT + "/"):
            return _error(404, None, f"no such resource: {path}")
        parts = path[len(ROOT) + 1:].split("/")
        with state.lock:
            if state.busy > 0:
                state.busy -= 1
                state.counts.busy_answers += 1
                return _error(503, "KART00003-E", "The REST API server is busy.",
                              solution="Wait a while, and then retry the operation.")
            if parts == ["sessions"] and method == "POST":
                return self._create_session(headers)
            token = self._session_of(headers)
            if token is None:
                return _error(401, None, "Authentication failed.",
                              cause="The session token is not valid.")
            if parts[0] == "sessions" and len(parts) == 2 and method == "DELETE":
                session_id = int(parts[1]) if parts[1].isdigit() else -1
                if state.sessions.get(session_id) != token:
                    return _error(404, "KART30013-E", "The specified session does not exist.")
                del state.sessions[session_id]
                state.counts.sessions_deleted += 1
                return 200, None
            if method == "GET" and len(parts) == 1 and parts[0] in ("pools", "parity-groups"):
                return 200, {"data": state.objects[parts[0]]}
            if method == "GET" and parts == ["ldevs"]:
                return 200, {"data": self._ldevs(query)}
            if method == "GET" and parts[0] == "jobs" and len(parts) == 2:
                return self._poll(int(parts[1]) if parts[1].isdigit() else -1)
            if method == "PATCH" and parts[0] == "ldevs" and len(parts) == 2:
                return self._patch_ldev(parts[1], raw)
            if (method == "POST" and parts[0] == "pools" and parts[2:] == [
                    "actions", "relocate", "invoke"]):
                return self._relocate(parts[1], raw)
            return _error(404, None, f"no such resource: {method} {path}")

    def _create_session(self, headers: Any) -> tuple[int, dict[str, Any] | None]:
        state = self.state
        auth = headers.get("Authorization", "")
        match = re.fullmatch(r"Basic (\S+)", auth)
        try:
            user, _, password = base64.b64decode(match.group(1)).decode().partition(":") if (
                match) else ("", "", "")
        except ValueError:
            user = password = ""
        if state.users.get(user) != password or not user:
            return _error(401, None, "Authentication failed.",
                          cause="The user ID or password is incorrect.")
        if len(state.sessions) >= state.session_limit:
            state.counts.session_refusals += 1
            return _error(503, None, "The number of sessions has reached the maximum.",
                          solution="Discard sessions that are not in use, and then retry.")
        session_id = state.next_session
        state.next_session += 1
        token = secrets.token_hex(16)
        state.sessions[session_id] = token
        state.counts.sessions_created += 1
        return 200, {"token": token, "sessionId": session_id}

    def _session_of(self, headers: Any) -> str | None:
        state = self.state
        match = re.fullmatch(r"Session (\S+)", headers.get("Authorization", ""))
        session_id = next((i for i, token in state.sessions.items()
                           if match and token == match.group(1)), None)
        if session_id is None or match is None:
            return None
        uses = state.session_uses[session_id] = state.session_uses.get(session_id, 0) + 1
        if state.expire_after is not None and uses > state.expire_after:
            del state.sessions[session_id]  # timed out on the array: its token is refused
            state.counts.sessions_expired += 1
            return None
        return match.group(1)

    def _ldevs(self, query: dict[str, str]) -> list[dict[str, Any]]:
        count = int(query.get("count", "100"))
        head = int(query.get("headLdevId", "0"))
        found = [ldev for ldev in self.state.objects["ldevs"] if ldev["ldevId"] >= head
                 and ("poolId" not in query or ldev.get("poolId") == int(query["poolId"]))]
        return sorted(found, key=lambda ldev: ldev["ldevId"])[:count]

    def _new_job(self, affected: str, error: dict[str, Any] | None = None,
                 apply: Any = None) -> tuple[int, dict[str, Any]]:
        state = self.state
        job_id = state.next_job
        state.next_job += 1
        job = {"jobId": job_id, "self": f"{ROOT}/jobs/{job_id}", "userId": USER,
               "status": "Initializing", "state": "Queued",
               "createdTime": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
               "affectedResources": [affected], "_left": state.job_polls,
               "_fails": state.job_fails, "_error": error, "_apply": apply}
        state.jobs[job_id] = job
        return 202, self._public(job)

    @staticmethod
    def _public(job: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in job.items() if not k.startswith("_")}

    def _poll(self, job_id: int) -> tuple[int, dict[str, Any] | None]:
        job = self.state.jobs.get(job_id)
        if job is None:
            return _error(404, "KART30013-E", f"job {job_id} does not exist")
        self.state.counts.job_polls += 1
        if job["_left"] is None:
            job["status"], job["state"] = "Running", "Started"
        elif job["_left"] > 0:
            job["_left"] -= 1
            job["status"], job["state"] = "Running", "Started"
        if job["_left"] == 0 and job["status"] != "Completed":
            job["status"] = "Completed"
            if job["_fails"] or job["_error"]:
                job["state"] = "Failed"
                job["error"] = job["_error"] or {
                    "messageId": "KART40046-E", "message": "The operation failed.",
                    "cause": "The storage system rejected the request.",
                    "solution": "Check the storage system's status."}
            else:
                job["state"] = "Succeeded"
                if job["_apply"] is not None:
                    job["_apply"]()
        return 200, self._public(job)

    def _patch_ldev(self, ident: str, raw: bytes) -> tuple[int, dict[str, Any] | None]:
        ldev = next((d for d in self.state.objects["ldevs"] if str(d["ldevId"]) == ident), None)
        if ldev is None:
            return _error(404, "KART30013-E", f"LDEV {ident} does not exist")
        body = json.loads(raw or b"{}")
        level = body.get("tieringPolicy", {}).get("tierLevel")
        error = None
        if "HDT" not in ldev["attributes"]:
            error = {"messageId": "KART40046-E", "message": "The tiering policy cannot be set.",
                     "cause": f"LDEV {ident} is not on a Dynamic Tiering pool."}

        def apply() -> None:
            ldev["tierLevel"] = "all" if level == 0 else str(level)

        return self._new_job(f"{ROOT}/ldevs/{ident}", error, apply)

    def _relocate(self, ident: str, raw: bytes) -> tuple[int, dict[str, Any] | None]:
        body = json.loads(raw or b"{}")
        operation = body.get("parameters", {}).get("operationType")
        if operation not in ("start", "stop"):
            return _error(400, "KART40047-E", "operationType must be start or stop")
        return self._new_job(f"{ROOT}/pools/{ident}")


def _reset(sock: socket.socket) -> None:
    """Close with a TCP reset (RST), not an orderly close: the peer reads ECONNRESET."""
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


@dataclass
class ContractServer:
    """A running contract server; ``endpoint`` is what a client is given."""

    endpoint: str
    state: ContractState
    pki: TestPki


@contextmanager
def serve(pki: TestPki, state: ContractState | None = None) -> Iterator[ContractServer]:
    """Serve on 127.0.0.1 at an ephemeral port until the block ends."""
    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls.load_cert_chain(str(pki.cert), str(pki.key))
    server = _Server(tls, state or ContractState())
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                              daemon=True)
    thread.start()
    try:
        yield ContractServer(f"https://127.0.0.1:{server.server_address[1]}", server.state, pki)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
