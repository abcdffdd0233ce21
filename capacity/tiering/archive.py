"""A move from a file tier on a host into a bucket tier (an object archive).

An object store has no rename, so the switch is a manifest: the unit's files go up as one
object each under the unit's prefix, the server checks each against the SHA-256 the host
computed of it, the objects are read back from the server's own sums, locked where the
policy says, and only then the manifest (every file's size and SHA-256) is written, last.
A unit is in the archive exactly when its manifest is.  The source goes after that, as
safely as any move (set aside, exactly the verified files deleted, a late image kept).

Data does not pass through the controller where the host has curl: the controller signs a
URL for each object (with the file's SHA-256 in the signed headers, so the URL can store
those bytes and no others) and the host uploads it, at the policy's bandwidth.  A file
larger than one PUT may store (5 GiB) goes up in parts the same way: the controller starts
a multipart upload, the host hashes each part's byte range (and the whole file, in the same
read), the controller signs one URL per part with that part's SHA-256, the host uploads
each range, and the controller completes the upload from the parts' sums and checks the
server's sum of them.  Without curl the controller streams each file from the host to the
store.  Credentials never leave the controller.

Every step is journaled before it starts and may run again after a crash: a cut-off try's
objects (no manifest over them) are purged, its unfinished uploads aborted; one that cannot
be purged (locked before the crash) is adopted when it is exactly the planned file, and
stops the unit otherwise.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import posixpath
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from capacity.tiering import journal as J
from capacity.transports import (
    AlreadyExists,
    Capability,
    CommandFailed,
    CommandResult,
    NotFound,
    PermissionDenied,
    TransportError,
)
from capacity.transports.s3 import composite_sha256

if TYPE_CHECKING:
    from capacity.model.policy import LockTerms, Policy
    from capacity.tiering.apply import Engine
    from capacity.tiering.journal import UnitRow
    from capacity.transports.s3 import S3Transport

MANIFEST = ".capacity-manifest.json"
"""The object, under a unit's prefix, whose presence says the unit is in the archive."""
URL_SECONDS = 3600
"""How long a signed URL may be used (one part's, for a file sent in parts)."""
_PART_SUMS = (
    'f=$1; shift; { { while [ $# -gt 1 ]; do'
    ' dd if="$f" iflag=skip_bytes,count_bytes skip="$1" count="$2" bs=1M status=none'
    ' | tee /dev/fd/5 | sha256sum >&3; shift 2; done; } 5>&1 | sha256sum >&3; } 3>&1')
"""``sh -c`` on the host, with a file and its parts' (offset, length) pairs: the SHA-256 of
each part, a line each, then of the whole file, all from one read of it."""
_PART_FEED = (
    'f=$1 off=$2 len=$3; shift 3; { dd if="$f" iflag=skip_bytes,count_bytes skip="$off"'
    ' count="$len" bs=1M status=none; head -c "$len" /dev/zero; } | head -c "$len" | "$@"')
"""``sh -c`` on the host, with a file, a part's offset and length, and a command: the part's
bytes to the command's stdin, exactly ``len`` of them (a file that shrank is padded with
zeros, which the store refuses, rather than let curl wait for bytes that never come)."""
_CURL_UNREACHABLE = (5, 6, 7, 28, 35, 60)
"""curl's exit codes for a store the host cannot reach or trust (proxy, DNS, connect,
timeout, TLS): the controller streams instead."""


def manifest_of(row: UnitRow, sums: dict[str, Any]) -> bytes:
    """The manifest of a unit: every file's size and SHA-256 (and mtime, for recall)."""
    files = [{"path": rel, "size": size, "mtime": mtime, "sha256": sha}
             for rel, (size, mtime, sha) in sorted(sums.items())]
    return json.dumps({"format": 1, "unit": row.unit, "source": row.source, "id": row.id,
                       "files": files}, indent=1, ensure_ascii=False).encode()


def object_path(prefix: str, rel: str) -> str:
    """A file's object path below a unit's prefix (a single-file unit is its own object)."""
    return f"{prefix}/{rel}" if rel else prefix


@dataclass(frozen=True)
class Held:
    """A unit a bucket holds already: its manifest's files (path -> size, mtime, SHA-256),
    and the ETag of the manifest's version they were read from."""

    files: dict[str, tuple[int, float, str]]
    etag: str


class ArchiveMove:
    """Takes one unit of ``engine``'s host into the bucket tier ``store`` holds."""

    def __init__(self, engine: Engine, store: S3Transport) -> None:
        self.e = engine
        self.store = store
        self.sent_in_parts: dict[str, tuple[str, str]] = {}
        """Object path -> (the server's sum of its parts as the host computed them, the
        host's SHA-256 of the whole file from the same read) for each file the host sent in
        parts in this try."""

    def _manifest(self, row: UnitRow) -> str:
        assert row.target is not None
        if row.detail["is_dir"]:
            return f"{row.target}/{MANIFEST}"
        return f"{row.target}{MANIFEST}"  # beside the object: a file has nothing below

    def run(self, row: UnitRow) -> None:
        """Take the unit through its steps, from whichever it is at: bring it into the
        bucket and verify it there (:meth:`_bring`), then switch it in (lock, manifest
        last); a move then finishes and deletes its source, a copy is done."""
        state = row.state
        if state in (J.PENDING, J.CHECKING, J.COPYING, J.VERIFYING):
            sums = self._bring(row)
            self.e._set(row, J.RENAMING, checksums=sums)
            state = J.RENAMING
        row = self.e._reload(row)
        if state == J.RENAMING:
            self._switch(row)
            if row.action == "copy":  # the backup is in place, and the unit stays
                self.e._set(row, J.DONE)
                return
            self.e._set(row, J.FINISHING)
            state = J.FINISHING
        row = self.e._reload(row)
        if state == J.FINISHING:
            self.e._finish(row)
            self.e._set(row, J.DELETING)
            state = J.DELETING
        if state == J.DELETING:
            self.e._delete_source(row)
            self.e._set(row, J.DONE)

    def _bring(self, row: UnitRow) -> dict[str, Any]:
        """Check, upload and verify the unit's files from the host; their (size, mtime,
        SHA-256) as verified, for the manifest."""
        from capacity.tiering.apply import UnitProblem, same_files

        self.e._set(row, J.CHECKING)
        listing = self.e._check_source(row)
        held = self._held(row)
        left = self._clear_target(row, held)
        self.e._set(row, J.COPYING)
        sources = self.e._hashes(row.source)
        if set(sources) != set(listing):
            raise UnitProblem(J.SKIPPED, "the source changed while it was hashed")
        kept = self._grown(row, held, sources)
        adopted = self._adopt(row, left, {p: (listing[p][0], h) for p, h in sources.items()},
                              sources)
        self._upload(row, {p: h for p, h in sources.items()
                           if p not in adopted and (held is None or p not in held.files)})
        self.e._set(row, J.VERIFYING)
        if not same_files(self.e._listing(row.source, row.detail["source_root"]), listing):
            raise UnitProblem(J.SKIPPED, "the source changed while it was uploaded")
        self._verify_stored(row, {**{p: v[2] for p, v in kept.items()}, **sources}, sources,
                            "the source")
        self._note_growth(row, held, kept)
        return {p: [listing[p][0], listing[p][1], h] for p, h in sorted(sources.items())}

    # ---- steps

    def _held(self, row: UnitRow) -> Held | None:
        """What the bucket holds of the unit already (its manifest's files), or None.  A
        manifest this tool cannot read fails the unit: nothing is written over it."""
        from capacity.tiering.apply import UnitProblem

        manifest = self._manifest(row)
        try:
            data, etag = self.store.read_tagged(manifest)
        except NotFound:
            return None
        try:
            files = {str(f["path"]): (int(f["size"]), float(f["mtime"]), str(f["sha256"]))
                     for f in json.loads(data)["files"]}
        except (ValueError, KeyError, TypeError):
            raise UnitProblem(J.FAILED, f"{manifest} is not a manifest this tool reads; it is"
                              " never written over") from None
        return Held(files, etag)

    def _grown(self, row: UnitRow, held: Held | None, sources: dict[str, str]
               ) -> dict[str, list[Any]]:
        """A unit the bucket holds already only grows: files the source has and the
        manifest does not (late images) are added; the files the manifest lists and the
        source no longer has are kept (returned: path -> [size, mtime, SHA-256]).  A file
        in both with other bytes fails the unit, and nothing is written: PACS never rewrites
        an image in place (a correction is a new instance, with a new name), so other
        bytes under an archived name are damage or tampering (ransomware encrypts in place)
        until someone shows otherwise, and the bucket's locked bytes are the good copy."""
        from capacity.tiering.apply import UnitProblem

        if held is None:
            return {}
        changed = sorted(p for p in sources.keys() & held.files.keys()
                         if sources[p] != held.files[p][2])
        if changed:
            name = object_path(row.unit, changed[0])
            kind = "backup" if row.action == "copy" else "archive"
            raise UnitProblem(J.FAILED, f"{name} changed since it went into the {kind}"
                              f" (SHA-256 {held.files[changed[0]][2][:16]}... there,"
                              f" {sources[changed[0]][:16]}... now"
                              + (f"; {len(changed) - 1} more file(s) changed"
                                 if len(changed) > 1 else "")
                              + f"): an image is never rewritten in place, so the {kind}"
                              " keeps its locked bytes and nothing of the unit is written;"
                              " the source stays as it is")
        return {p: list(v) for p, v in sorted(held.files.items()) if p not in sources}

    def _note_growth(self, row: UnitRow, held: Held | None, kept: dict[str, list[Any]]
                     ) -> None:
        """Journal what the manifest to be written keeps of the one there, and which
        version of it the new one replaces (only exactly that one: a conditional put)."""
        self.e._set(row, J.VERIFYING, kept=kept,
                    replaces=held.etag if held is not None else None)

    def _clear_target(self, row: UnitRow, held: Held | None = None) -> dict[str, str]:
        """What a cut-off try left under the unit's prefix (objects no manifest lists: not
        in the archive) is removed, its unfinished uploads aborted; what the manifest
        there (``held``) lists is the archive's and stays.  Returns the objects that cannot
        be removed (locked before a crash; path below the prefix -> why), for
        :meth:`_adopt`."""
        assert row.target is not None
        self.store.abort_uploads(row.target)
        today = self.e.options.clock().date()
        left: dict[str, str] = {}
        for rel in self._objects(row):
            if held is not None and (rel in held.files or rel == MANIFEST):
                continue
            try:
                self.store.purge(object_path(row.target or "", rel), today)
            except TransportError as exc:
                left[rel] = str(exc)
        return left

    def _adopt(self, row: UnitRow, left: dict[str, str], planned: dict[str, tuple[int, str]],
               on_host: dict[str, str]) -> set[str]:
        """The objects of an earlier try that cannot be removed (``left``: locked when it was
        cut off before its manifest) taken into this one when each is exactly the planned
        file (``planned``: path -> size, SHA-256): its size, and its SHA-256 as the server
        vouches for it (the verification's own sums, :meth:`_stored_sum`).  An adopted
        object is not sent again; it is verified with the others and, at the switch, its
        retention extended to the unit's (never shortened) and listed by the manifest.  Any
        other (a name the unit does not plan, other bytes) stops the unit, and nothing of
        it is written.  Returns the paths adopted, journaled and audited."""
        from capacity.tiering.apply import UnitProblem

        prefix = row.target or ""
        for rel, why in sorted(left.items()):
            path = object_path(prefix, rel)
            wrong = None
            st = self.store.stat(path)
            if rel not in planned:
                wrong = "the unit has no such file"
            elif st is None or st.size != planned[rel][0]:
                wrong = (f"it holds {st.size if st else 0} bytes, the file"
                         f" {planned[rel][0]}")
            else:
                stored = self._stored_sum(path, rel, st.size, row, on_host)
                if stored != planned[rel][1]:
                    wrong = (f"its SHA-256 is {stored[:16]}... in the store, the file's"
                             f" {planned[rel][1][:16]}...")
            if wrong is not None:
                raise UnitProblem(J.FAILED, f"{path}: an object of an earlier try that cannot"
                                  f" be removed ({why}) and is not the planned file ({wrong});"
                                  " nothing was uploaded and no manifest is written")
        if left:
            self.e._set(row, J.COPYING, adopted=sorted(left))
            self.e._audit(row, "adopted", target=prefix, files=len(left),
                          sha256={rel: planned[rel][1] for rel in sorted(left)})
        return set(left)

    def roll_back(self, row: UnitRow) -> None:
        """A unit that ends short of the archive leaves nothing there: its objects are
        purged and its uploads aborted, except what a manifest there lists (that is in the
        archive, and stays).  One that cannot be purged (locked before a crash) is left and
        said so in the audit log; the next try clears it, or its lock ends."""
        from capacity.tiering.apply import UnitProblem

        assert row.target is not None
        try:
            left = self._clear_target(row, self._held(row))
        except (TransportError, UnitProblem) as exc:
            self.e._audit(row, "objects-left", target=row.target, error=str(exc))
            return
        if left:
            self.e._audit(row, "objects-left", target=row.target, objects=sorted(left),
                          error="; ".join(left[rel] for rel in sorted(left)))

    def _objects(self, row: UnitRow) -> list[str]:
        assert row.target is not None
        try:
            return [rel for rel, st in self.store.walk(row.target) if st.is_file]
        except NotFound:
            return []

    def _upload(self, row: UnitRow, sources: dict[str, str]) -> None:
        """Each of ``sources`` (the files to send: all of a new unit's, the late ones of a
        unit the bucket holds) to its object."""
        if not sources:
            return  # all in the bucket already: only verified
        bandwidth = self.e._bandwidth(row)
        for rel, sha in sorted(sources.items()):
            path = posixpath.join(row.source, rel) if rel else row.source
            size = self.e.t.stat(path)
            nbytes = size.size if size is not None else 0
            target = object_path(row.target or "", rel)
            if nbytes <= self.store.target.single_put_limit:
                if self.e.archive_by_host() and self._host_put(row, path, target, sha,
                                                               bandwidth):
                    continue
            elif self.e.archive_by_host() and self._host_parts(row, path, target, sha, nbytes,
                                                               bandwidth):
                continue
            self._stream(path, target, nbytes, sha, bandwidth)
        self.e._audit(row, "uploaded", bytes=row.bytes, target=row.target,
                      by="host" if self.e.archive_by_host() else "controller")

    def _host_put(self, row: UnitRow, path: str, target: str, sha: str,
                  bandwidth: float | None) -> bool:
        """The host uploads the file with a URL the controller signed; False when it cannot
        reach the store (the caller streams instead, and so does the rest of the run)."""
        b64 = base64.b64encode(bytes.fromhex(sha)).decode()
        url = self.store.presigned_put(target, b64, URL_SECONDS)
        # The signed URL can store these bytes at this key for an hour and nothing else (the
        # SHA-256 is signed), so it is no credential.
        result = _curl(self.e, ["--request", "PUT", "--upload-file", path,
                                "--header", f"x-amz-checksum-sha256: {b64}",
                                "--header", "x-amz-sdk-checksum-algorithm: SHA256"],
                       url, bandwidth)
        if result is None:
            return False
        if not result.ok:
            self._refused(row, path, result)
        return True

    def _refused(self, row: UnitRow, path: str, result: CommandResult) -> None:
        """A host's upload failed: the unit is skipped if its source changed meanwhile (the
        store refused bytes that differ from their sum), else it failed."""
        from capacity.tiering.apply import UnitProblem, planned_files, same_files

        if not same_files(self.e._listing(row.source, row.detail["source_root"]),
                          planned_files(row)):
            raise UnitProblem(J.SKIPPED, f"the source changed while it was uploaded ({path}:"
                              " the store refused bytes that differ from their sum)")
        raise UnitProblem(J.FAILED, f"the upload of {path} failed: curl exited"
                          f" {result.exit_code}:"
                          f" {result.stderr.decode('utf-8', 'replace').strip()[-500:]}")

    def _host_parts(self, row: UnitRow, path: str, target: str, sha: str, size: int,
                    bandwidth: float | None) -> bool:
        """The host uploads a file too large for one PUT in parts, each with a URL the
        controller signed with that part's SHA-256; the controller completes the upload
        from the parts' sums.  Any failure aborts the upload (no parts are left behind);
        False when the host cannot reach the store (the caller streams instead)."""
        ranges = self.store.part_ranges(size)
        digests = self._part_sums(path, ranges, sha)
        upload_id = self.store.begin_upload(target)
        completed = False
        try:
            for number, ((offset, length), digest) in enumerate(zip(ranges, digests,
                                                                    strict=True), start=1):
                b64 = base64.b64encode(digest).decode()
                url = self.store.presigned_part(target, upload_id, number, b64, URL_SECONDS)
                # Signed with the part's SHA-256: it stores those bytes as this part, nothing
                # else, for an hour (each part's URL is signed just before its upload).
                result = _curl(self.e, [
                    "--request", "PUT", "--upload-file", "-",
                    "--header", "Transfer-Encoding:", "--header", f"Content-Length: {length}",
                    "--header", f"x-amz-checksum-sha256: {b64}",
                    "--header", "x-amz-sdk-checksum-algorithm: SHA256"],
                    url, bandwidth, feed=(path, offset, length))
                if result is None:
                    return False
                if not result.ok:
                    self._refused(row, path, result)
            composite = self.store.complete_upload(
                target, upload_id, [(length, d) for (_o, length), d in zip(ranges, digests,
                                                                        strict=True)])
            completed = True
        finally:
            if not completed:
                self.store.abort_upload(target, upload_id)
        self.sent_in_parts[target] = (composite.split("-")[0], sha)
        return True

    def _part_sums(self, path: str, ranges: list[tuple[int, int]], sha: str) -> list[bytes]:
        """The SHA-256 of each part of the file, hashed on the host in one read with the
        whole file, whose sum must still be ``sha`` (what the manifest will say)."""
        from capacity.tiering.apply import UnitProblem

        result = self.e.t.run(["sh", "-c", _PART_SUMS, "sh", path,
                               *[str(n) for part in ranges for n in part]], check=False)
        lines = result.stdout.decode("ascii", "replace").split("\n")
        sums = [line.split(" ")[0] for line in lines if line.strip()]
        if (not result.ok or len(sums) != len(ranges) + 1
                or not all(len(s) == 64 for s in sums)):
            raise UnitProblem(J.FAILED, f"cannot hash the parts of {path} on the host:"
                              f" {result.stderr.decode('utf-8', 'replace').strip()[-500:]}")
        if sums[-1] != sha:
            raise UnitProblem(J.SKIPPED, f"the source changed while it was hashed ({path})")
        return [bytes.fromhex(s) for s in sums[:-1]]

    def _stream(self, path: str, target: str, size: int, sha: str,
                bandwidth: float | None) -> None:
        """Through the controller: the host's bytes read by a command, sent in parts, no
        faster than ``bandwidth`` bytes a second, and hashed on the way (what went up in
        parts is then verified by the server's sum of them, not read back)."""
        reader = _ChunkReader(self.e.t.stream(["cat", "--", path]), bandwidth)
        try:
            sent = self.store.upload(target, reader, size)  # type: ignore[arg-type]
        finally:
            reader.close()
        if "-" in sent and reader.sha256.hexdigest() == sha:
            self.sent_in_parts[target] = (sent.split("-")[0], sha)

    def _verify_stored(self, row: UnitRow, expected: dict[str, str], on_host: dict[str, str],
                       against: str) -> None:
        """Every object of the unit there, and no other, each with the SHA-256 ``expected``
        of it (path -> sum) as the server vouches for it (:meth:`_stored_sums`;
        ``on_host``: the sums of the files the host holds, whose parts it may hash)."""
        from capacity.tiering.apply import UnitProblem

        stored = self._stored_sums(row.target or "", row, on_host)
        if row.detail["is_dir"]:
            stored.pop(MANIFEST, None)
        else:
            stored = {"": stored[""]} if "" in stored else {}
        if stored != expected:
            wrong = sorted(set(stored) ^ set(expected)) or sorted(
                p for p in expected if stored.get(p) != expected[p])
            kind = "backup" if row.action == "copy" else "archive"
            raise UnitProblem(J.FAILED, f"verification failed: the {kind}'s objects"
                              f" differ from {against}, e.g. {wrong[0]!r}")
        self.e._audit(row, "verified", files=len(expected), sha256=expected)

    def _stored_sums(self, prefix: str, row: UnitRow, sources: dict[str, str]
                     ) -> dict[str, str]:
        """The SHA-256 of every object under ``prefix`` as the server vouches for it: its own
        sum of a whole object; for one in parts, the file's sum (``sources``) once the
        server's sum of the parts equals the one of the file's parts as hashed in the same
        read as the whole file (when it was sent, or now on the host, for an object put
        there before); any other object is read back and hashed here."""
        return {rel: self._stored_sum(object_path(prefix, rel), rel, st.size, row, sources)
                for rel, st in self.store.walk(prefix) if st.is_file}

    def _stored_sum(self, path: str, rel: str, size: int, row: UnitRow,
                    sources: dict[str, str]) -> str:
        """The SHA-256 of the object at ``path`` (the unit's file ``rel``, of ``size``
        bytes) as the server vouches for it: see :meth:`_stored_sums`."""
        stored = self.store.checksum(path)
        if stored is not None and not stored[1]:
            return base64.b64decode(stored[0]).hex()
        if (stored is not None and path not in self.sent_in_parts and rel in sources
                and self.e.t.has(Capability.RUN)):
            source = posixpath.join(row.source, rel) if rel else row.source
            digests = self._part_sums(source, self.store.part_ranges(size), sources[rel])
            self.sent_in_parts[path] = (composite_sha256(digests).split("-")[0], sources[rel])
        if stored is not None and self.sent_in_parts.get(path, ("", ""))[0] == stored[0]:
            return self.sent_in_parts[path][1]
        return self.store.read_sha256(path)

    def _switch(self, row: UnitRow) -> None:
        """Lock the objects where the policy says, then write the manifest, last: the unit's
        verified files and those an earlier manifest listed and it keeps.  Over a manifest
        there already (a unit grown by late images), a new version, written only over the
        version the check read; the earlier one stays, locked as it was."""
        from capacity.tiering.apply import UnitProblem

        manifest = self._manifest(row)
        listed = {**row.detail.get("kept", {}), **row.detail["checksums"]}
        replaces = row.detail.get("replaces")
        try:
            data, etag = self.store.read_tagged(manifest)
        except NotFound:
            data, etag = None, ""
        files: dict[str, str] = {}
        if data is not None:
            found = json.loads(data)
            files = {f["path"]: f["sha256"] for f in found.get("files", [])}
            if found.get("id") == row.id or files == {p: v[2] for p, v in listed.items()}:
                return  # written before a crash, or the same files archived before
            if etag != replaces:
                raise UnitProblem(J.KEPT_BOTH, f"another manifest appeared at {manifest}")
        elif replaces:
            raise UnitProblem(J.FAILED, f"the manifest at {manifest} went meanwhile;"
                              " nothing is switched")
        lock = self._lock(row, listed)
        if lock is not None:
            for rel in sorted(listed):  # an earlier object's lock is only ever extended
                self.store.lock(object_path(row.target or "", rel), lock)
        try:
            self.store.write(manifest, manifest_of(row, listed), overwrite=data is not None,
                             if_match=etag if data is not None else None, lock=lock)
        except AlreadyExists:
            raise UnitProblem(J.KEPT_BOTH, f"the manifest at {manifest} changed meanwhile;"
                              " it is not written over") from None
        added = len(set(listed) - set(files)) if data is not None else None
        self.e._audit(row, "renamed", target=row.target, manifest=manifest,
                      files=len(listed), added=added,
                      locked_until=lock.retain_until.isoformat() if lock else None)

    def _lock(self, row: UnitRow, sums: dict[str, Any]) -> LockTerms | None:
        import datetime as dt

        policy = self.e.inventory.policies.get(row.policy)
        if policy is None or policy.lock is None:
            return None
        newest = max((mtime for _size, mtime, _sha in sums.values()), default=0.0)
        dated = dt.datetime.fromtimestamp(newest, dt.UTC).date()
        files = [posixpath.join(row.unit, rel) if rel else row.unit for rel in sums]
        return policy.lock_terms(row.unit, files, dated, self.e.options.clock().date())


def _curl(engine: Engine, args: list[str], url: str, bandwidth: float | None,
          feed: tuple[str, int, int] | None = None) -> CommandResult | None:
    """curl on the host with a signed URL, at the bandwidth, verifying TLS with the store's
    CA; None when the host cannot reach the store (the run goes on through the
    controller).  ``feed`` (a file, an offset and a length) gives curl those bytes of the
    file on its stdin."""
    argv = ["curl", "--silent", "--show-error", "--fail", *args]
    if bandwidth:
        argv += ["--limit-rate", str(max(int(bandwidth), 1024))]
    ca = engine.archive_ca()
    if ca:
        argv += ["--cacert", ca]
    if feed is not None:
        argv = ["sh", "-c", _PART_FEED, "sh", feed[0], str(feed[1]), str(feed[2]), *argv]
    result = engine.t.run([*argv, "--url", url], check=False)
    if result.exit_code in _CURL_UNREACHABLE:
        engine.archive_unreachable(result.stderr)
        return None
    return result


class _ChunkReader:
    """A file-like ``read(n)`` over a stream of chunks, paced to ``bandwidth``."""

    def __init__(self, chunks: Iterator[bytes], bandwidth: float | None = None) -> None:
        self.chunks = chunks
        self.buffer = bytearray()
        self.bandwidth = bandwidth
        self.started = time.monotonic()
        self.given = 0
        self.sha256 = hashlib.sha256()
        """Of the bytes handed on."""

    def read(self, size: int) -> bytes:
        while len(self.buffer) < size:
            try:
                self.buffer += next(self.chunks)
            except StopIteration:
                break
            except CommandFailed as exc:
                raise OSError(f"reading the source failed: {exc}") from None
        out = bytes(self.buffer[:size])
        del self.buffer[:size]
        self.given += len(out)
        self.sha256.update(out)
        if self.bandwidth:  # what is handed on is sent at once: hand it on no sooner
            ahead = self.given / self.bandwidth - (time.monotonic() - self.started)
            if ahead > 0:
                time.sleep(ahead)
        return out

    def close(self) -> None:
        close = getattr(self.chunks, "close", None)
        if close is not None:
            close()


class ArchiveCopy(ArchiveMove):
    """Copies an archived unit from its bucket tier into another (the backup of what is
    archived already).  Where both buckets are on one store (same endpoint and
    credentials), inside it: CopyObject (UploadPartCopy above one copy's limit), the target
    computing its own SHA-256, no byte through the controller (so no bandwidth limit
    either).  Else through the controller: each object read from the source store, its
    bytes hashed on the way against the source's manifest, written to the target in parts
    with their SHA-256 (which the target's server checks).  Either way verified by the
    target's sums against the manifest, then locked, and the manifest last.  The source is
    read only."""

    def __init__(self, engine: Engine, source: S3Transport, target: S3Transport) -> None:
        super().__init__(engine, target)
        self.source = source

    def _bring(self, row: UnitRow) -> dict[str, Any]:
        """Check the source's manifest, copy its objects, verify them against it."""
        self.e._set(row, J.CHECKING)
        files = self._source_files(row)
        sources = {rel: sha for rel, (_size, _mtime, sha) in files.items()}
        held = self._held(row)
        left = self._clear_target(row, held)
        kept = self._grown(row, held, sources)
        self.e._set(row, J.COPYING)
        adopted = self._adopt(row, left, {p: (f[0], f[2]) for p, f in files.items()}, {})
        self._copy(row, {p: f for p, f in files.items()
                         if p not in adopted and (held is None or p not in held.files)})
        self.e._set(row, J.VERIFYING)
        self._verify_stored(row, {**{p: v[2] for p, v in kept.items()}, **sources}, {},
                            "the archive's manifest")
        self._note_growth(row, held, kept)
        return {rel: [size, mtime, sha] for rel, (size, mtime, sha) in sorted(files.items())}

    def _source_files(self, row: UnitRow) -> dict[str, tuple[int, float, str]]:
        """The unit's files as the source's manifest lists them; they must be the planned
        ones."""
        from capacity.tiering.apply import UnitProblem, planned_files

        where = f"{row.source}/{MANIFEST}" if row.detail["is_dir"] else f"{row.source}{MANIFEST}"
        try:
            listed = json.loads(self.source.read(where))["files"]
            files = {f["path"]: (int(f["size"]), float(f["mtime"]), str(f["sha256"]))
                     for f in listed}
        except (NotFound, ValueError, KeyError, TypeError):
            raise UnitProblem(J.SKIPPED, f"not in the archive: no manifest at {where}"
                              ) from None
        if {p: (size, mtime) for p, (size, mtime, _sha) in files.items()} != planned_files(row):
            raise UnitProblem(J.SKIPPED, "the archive's unit is not the one planned (its"
                              " manifest lists other files): re-plan")
        return files

    def _copy(self, row: UnitRow, files: dict[str, tuple[int, float, str]]) -> None:
        from capacity.tiering.apply import UnitProblem

        if not files:
            return  # all in the backup already: only verified
        inside = self.store.same_store(self.source)
        bandwidth = self.e._bandwidth(row)
        for rel, (size, _mtime, sha) in sorted(files.items()):
            target = object_path(row.target or "", rel)
            if inside:  # verified like any other, by the target's sums (_verify_stored)
                self.store.copy_from(self.source, object_path(row.source, rel), target, size)
                continue
            reader = _ChunkReader(iter(self.source.stream_object(object_path(row.source, rel))),
                                  bandwidth)
            try:
                sent = self.store.upload(target, reader, size)  # type: ignore[arg-type]
            finally:
                reader.close()
            if reader.sha256.hexdigest() != sha:
                raise UnitProblem(J.FAILED, f"{object_path(row.source, rel)}: the archive's"
                                  " object is not what its manifest says (its SHA-256"
                                  " differs); nothing is switched")
            if "-" in sent:
                self.sent_in_parts[target] = (sent.split("-")[0], sha)
        self.e._audit(row, "uploaded", bytes=sum(f[0] for f in files.values()),
                      target=row.target, by="store" if inside else "controller")


class ArchiveExpiry:
    """Expires one archived unit of ``engine``'s host from the bucket tier ``store`` holds:
    only a unit its manifest says is the planned one, past the policy's retention, outside
    its holds, and only when no version of any of its objects is locked or held on the
    server.  Then the manifest is hidden (a delete marker: the unit leaves the archive, and
    can come back), every version of each object is deleted, and the manifest's versions
    last.  Should the server refuse a deletion all the same (a hold or a longer retention
    put on an object since the check), the manifest comes back, so the unit is in the
    archive again and is planned again; the unit fails with the server's word."""

    def __init__(self, engine: Engine, store: S3Transport) -> None:
        self.e = engine
        self.store = store

    def run(self, row: UnitRow, policy: Policy) -> None:
        from capacity.tiering.apply import UnitProblem, planned_files

        manifest = f"{row.source}/{MANIFEST}" if row.detail["is_dir"] else (
            f"{row.source}{MANIFEST}")
        objects = [object_path(row.source, rel) for rel in sorted(planned_files(row))]
        today = self.e.options.clock().date()
        if row.state in (J.PENDING, J.CHECKING):
            self.e._set(row, J.CHECKING)
            data = self._check(row, policy, manifest, objects, today)
            self.e._set(row, J.DELETING, manifest_text=data.decode("utf-8", "replace"))
            row = self.e._reload(row)
        if "hidden" not in row.detail:
            self.e._set(row, J.DELETING, hidden=self.store.hide(manifest))
            row = self.e._reload(row)
        gone = expired = 0
        for path in objects:
            try:
                count = self.store.purge(path, today)
            except PermissionDenied as exc:  # the server's word, or a lock set since
                left = [o for o in objects if self.store.stat(o) is not None]
                self._bring_back(row, manifest)
                raise UnitProblem(J.FAILED, f"the archive refused to expire {path}: {exc}; "
                                  + ("nothing was deleted" if len(left) == len(objects) else
                                     f"{len(objects) - len(left)} of its {len(objects)}"
                                     " objects had expired before it")
                                  + ": its manifest is back, so the unit is in the archive"
                                  " and is planned again", refused="object-lock") from None
            gone += count
            expired += 1
        try:
            gone += self.store.purge(manifest, today)
        except PermissionDenied as exc:
            raise UnitProblem(J.FAILED, f"the archive refused to expire {manifest}: {exc};"
                              f" its {expired} objects are expired, the manifest's versions"
                              " stay (hidden) until the archive lets them go",
                              refused="object-lock") from None
        self.e._audit(row, "expired", source=row.source, bytes=row.bytes, versions=gone)
        self.e._set(row, J.DONE)

    def _bring_back(self, row: UnitRow, manifest: str) -> None:
        """The manifest as it was: its delete marker removed (or, in a bucket without
        versions, its bytes written again)."""
        from capacity.tiering.apply import UnitProblem

        marker = row.detail.get("hidden")
        if marker:
            self.store.unhide(manifest, marker)
        elif not self.store.exists(manifest):
            text = row.detail.get("manifest_text")
            if text is None:  # journaled by an older version of this tool
                raise UnitProblem(J.FAILED, f"{manifest} is gone and cannot be brought back:"
                                  " the objects left are not in the archive")
            self.store.write(manifest, str(text).encode(), overwrite=False)
        self.e._audit(row, "manifest-back", manifest=manifest)

    def _check(self, row: UnitRow, policy: Policy, manifest: str, objects: list[str],
               today: dt.date) -> bytes:
        """The manifest's bytes, once the unit may go."""
        from capacity.tiering.apply import UnitProblem, _tier_paths, planned_files

        try:
            data = self.store.read(manifest)
            listed = json.loads(data)["files"]
        except (NotFound, ValueError, KeyError, TypeError):
            raise UnitProblem(J.SKIPPED, f"not in the archive: no manifest at {manifest}"
                              ) from None
        found = {f["path"]: (int(f["size"]), float(f["mtime"])) for f in listed}
        if found != planned_files(row):
            raise UnitProblem(J.SKIPPED, "the archive's unit is not the one planned (its"
                              " manifest lists other files): re-plan")
        newest = max((mtime for _, mtime in found.values()), default=0.0)
        age = (self.e.options.clock().timestamp() - newest) / 86400
        refusal = policy.expiry_refusal(row.unit, _tier_paths(row), age, today)
        if refusal is not None:
            raise UnitProblem(J.SKIPPED, f"{refusal.text}, at apply time: nothing was deleted",
                              refused=refusal.reason)
        for path in (manifest, *objects):
            why = self.store.expiry_refusal(path, today)
            if why is not None:
                raise UnitProblem(J.SKIPPED, f"{path}: {why}: the archive refuses its"
                                  " deletion until then; nothing was deleted",
                                  refused="object-lock")
        return data


class Recall:
    """Brings one archived unit back from a bucket tier to a file tier of ``engine``'s host,
    verified against its manifest; the archive keeps its copy (it may be locked, and it is
    the copy of record).  Journaled like a move: check, copy (into a work directory on the
    file tier), verify, rename into place (never over anything), done."""

    def __init__(self, engine: Engine, store: S3Transport) -> None:
        self.e = engine
        self.store = store

    def run(self, row: UnitRow) -> None:
        from capacity.tiering.apply import UnitProblem, work_path

        assert row.target is not None
        root = row.detail["target_root"]
        work = work_path(root, row.id)
        payload = f"{work}/payload"
        state = row.state
        if state in (J.PENDING, J.CHECKING, J.COPYING, J.VERIFYING):
            self.e._roll_back_work(row)
            self.e._set(row, J.CHECKING)
            files = self._manifest(row)
            if self.e.t.exists(row.target):
                raise UnitProblem(J.FAILED, f"{row.target} exists on the host; a recall never"
                                  " writes over anything")
            self.e._inside_root(posixpath.dirname(row.target), root, may_be_missing=True)
            space = self.e.t.free_space(root)
            if space.available < row.bytes:
                raise UnitProblem(J.FAILED, f"target tier full: {space.available} bytes"
                                  f" available, the unit needs {row.bytes}")
            self.e._set(row, J.COPYING, work=work)
            self._fetch(row, files, payload)
            self.e._set(row, J.VERIFYING)
            found = self.e._hashes(payload)
            wanted = {f["path"]: f["sha256"] for f in files}
            if not row.detail["is_dir"]:
                found = {"": found.get("", "")} if found else {}
                wanted = {"": files[0]["sha256"]}
            if found != wanted:
                raise UnitProblem(J.FAILED, "verification failed: what came back differs from"
                                  " the manifest")
            self.e._audit(row, "verified", files=len(files))
            self.e._set(row, J.RENAMING)
            state = J.RENAMING
        if state == J.RENAMING:
            if self.e.t.exists(payload):
                self.e.t.mkdir(posixpath.dirname(row.target))
                try:
                    self.e.t.rename(payload, row.target)
                except TransportError as exc:
                    raise UnitProblem(J.FAILED, f"{row.target} appeared meanwhile: nothing was"
                                      f" overwritten ({exc})") from None
            elif not self.e.t.exists(row.target):
                raise UnitProblem(J.FAILED, "neither the verified copy nor the target exists")
            self.e._roll_back_work(row)
            self.e._audit(row, "recalled", target=row.target, source=row.source)
            self.e._set(row, J.DONE)

    def _manifest(self, row: UnitRow) -> list[dict[str, Any]]:
        from capacity.tiering.apply import UnitProblem

        try:
            manifest = json.loads(self.store.read(row.detail["manifest"]))
        except NotFound:
            raise UnitProblem(J.FAILED, f"{row.unit} is not in the archive (no manifest at"
                              f" {row.detail['manifest']})") from None
        except ValueError as exc:
            raise UnitProblem(J.FAILED, f"the manifest of {row.unit} is not readable:"
                              f" {exc}") from None
        return list(manifest["files"])

    def _fetch(self, row: UnitRow, files: list[dict[str, Any]], payload: str) -> None:
        """Each object to its place under the work directory: fetched by the host with a
        signed URL, or through the controller; its mtime set back from the manifest."""
        from capacity.tiering.apply import UnitProblem

        bandwidth = self.e._bandwidth(row)
        for f in files:
            rel = f["path"]
            dest = f"{payload}/{rel}" if rel else payload
            source = object_path(row.source, rel)
            self.e.t.mkdir(posixpath.dirname(dest))
            if not (self.e.archive_by_host() and self._host_get(source, dest, bandwidth)):
                self.e.t.write(dest, self.store.read(source))
            result = self.e.t.run(["touch", "-m", "-d", f"@{f['mtime']}", "--", dest],
                                  check=False)
            if not result.ok:
                raise UnitProblem(J.FAILED, f"cannot set the mtime of {dest}")
        self.e.t.flush(payload)
        self.e._audit(row, "fetched", bytes=row.bytes, work=payload)

    def _host_get(self, source: str, dest: str, bandwidth: float | None) -> bool:
        from capacity.tiering.apply import UnitProblem

        url = self.store.presigned_get(source, URL_SECONDS)
        result = _curl(self.e, ["--output", dest], url, bandwidth)
        if result is None:
            return False
        if not result.ok:
            raise UnitProblem(J.FAILED, f"fetching {source} failed: curl exited"
                              f" {result.exit_code}:"
                              f" {result.stderr.decode('utf-8', 'replace').strip()[-500:]}")
        return True

