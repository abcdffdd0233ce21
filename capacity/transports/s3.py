"""An S3 object store (an HCP-class archive) through boto3: what an object store can of the
transport contract.

A path names an object under the target's prefix: ``/2019/03/STUDY/IM1.dcm`` in
``s3://archive/pacs/`` is the key ``pacs/2019/03/STUDY/IM1.dcm``.  A directory is the common
prefix of the keys below it (no :attr:`Capability.DIRECTORIES`): it exists while something
is in it.  There is no rename (:attr:`Capability.RENAME`): a move into the store switches by
a manifest written last.  There is no free space either (:attr:`Capability.SPACE`).  Keys
are UTF-8 without control characters (no :attr:`Capability.BYTE_NAMES`): AWS's naming
guidelines say to avoid those, and an XML listing cannot carry most of them.

Every write carries its SHA-256, which the server checks before it stores the object (a
mismatch is refused, never stored), and :meth:`S3Transport.hash_tree` reads the sums the
server computed; a multipart object's sum is of its parts, so that one is read back and
hashed.  Writes are durable when the server answers; nothing needs a flush.

Credentials come from boto3's own chain only: the environment (``AWS_ACCESS_KEY_ID``...),
a named profile, or the shared credentials file; never from the inventory.  TLS is verified
against the system's CAs, or a CA bundle the target names; plain HTTP is refused except on
loopback (a test server).
"""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import errno as _errno
import hashlib
import posixpath
import re
import stat as _stat
import threading
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, BinaryIO
from urllib.parse import urlsplit

from capacity.endpoints import check_endpoint
from capacity.model.policy.language import LockTerms
from capacity.transports.base import (
    AlreadyExists,
    Capability,
    CommandTimeout,
    ConnectionLost,
    FileStat,
    NotFound,
    OperationFailed,
    PermissionDenied,
    Transport,
    TransportError,
    check_path,
    check_tree_root,
    join_below,
    sort_names,
)

MiB = 1024 * 1024
MIN_PART = 5 * MiB
"""S3's smallest part but the last one."""
MAX_PARTS = 10_000
MAX_PART = 5 * 1024**3
"""S3's largest part."""
SINGLE_PUT_LIMIT = 5 * 1024**3
"""The largest object S3 stores with one PUT."""
MAX_KEY_BYTES = 1024
_DELETE_BATCH = 1000  # DeleteObjects takes at most this many keys
_READ_CHUNK = 8 * MiB

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_FILE_MODE = _stat.S_IFREG | 0o644
_DIR_MODE = _stat.S_IFDIR | 0o755

# Error codes S3 answers with, by what they mean to a caller.
_MISSING = {"NoSuchKey", "NotFound", "404", "NoSuchBucket", "NoSuchUpload"}
_REFUSED = {"AccessDenied", "403", "InvalidObjectState", "ObjectLocked"}
_EXISTS = {"PreconditionFailed", "412"}


@dataclass(frozen=True, slots=True)
class S3Target:
    """Where the archive is: a bucket, a prefix in it, and how to reach it.  No credentials:
    those come from the environment, ``profile`` or the shared credentials file."""

    bucket: str
    prefix: str = ""
    endpoint: str | None = None
    """``https://archive.example:443``; None for AWS's own endpoint of ``region``."""
    region: str | None = None
    profile: str | None = None
    """A profile of the shared credentials and config files (``~/.aws/``)."""
    ca_bundle: str | None = None
    """A PEM file of the CAs that sign a private archive's certificate."""
    part_size: int = 64 * MiB
    """Objects larger than this go up in parts of this size, each with its own SHA-256
    (through :meth:`S3Transport.upload`)."""
    single_put_limit: int = SINGLE_PUT_LIMIT
    """The largest object a host stores with one signed PUT; a larger one goes up in parts
    (S3's limit; lower only to test the parts with small files)."""

    def __post_init__(self) -> None:
        if not self.bucket or "/" in self.bucket:
            raise ValueError(f"invalid bucket name {self.bucket!r}")
        if self.prefix and (self.prefix.startswith("/") or not self.prefix.endswith("/")):
            raise ValueError(f"the prefix {self.prefix!r} must be relative and end with '/'")
        if self.part_size < MIN_PART:
            raise ValueError(f"part_size must be at least {MIN_PART} bytes (S3's minimum)")
        if self.part_size > MAX_PART:
            raise ValueError(f"part_size must be at most {MAX_PART} bytes (S3's maximum)")
        if not MIN_PART <= self.single_put_limit <= SINGLE_PUT_LIMIT:
            raise ValueError(f"single_put_limit must be {MIN_PART} to {SINGLE_PUT_LIMIT}"
                             " bytes")
        if self.endpoint is not None:
            check_endpoint(self.endpoint)

    @property
    def label(self) -> str:
        where = f" at {self.endpoint}" if self.endpoint else ""
        return f"s3://{self.bucket}/{self.prefix}{where}"


def parse_s3(address: str, **options: Any) -> S3Target:
    """``s3://BUCKET/PREFIX/`` (the trailing slash is added), with the other fields of
    :class:`S3Target` as keywords."""
    parts = urlsplit(address)
    if parts.scheme != "s3" or not parts.netloc:
        raise ValueError(f"not an s3:// address: {address!r}")
    prefix = parts.path.strip("/")
    return S3Target(bucket=parts.netloc, prefix=f"{prefix}/" if prefix else "", **options)


def sha256_b64(data: bytes) -> str:
    """The form S3 carries a SHA-256 in (``x-amz-checksum-sha256``)."""
    return base64.b64encode(hashlib.sha256(data).digest()).decode()


def composite_sha256(part_digests: Sequence[bytes]) -> str:
    """A multipart object's checksum as S3 computes it: the SHA-256 of the parts' binary
    digests, then ``-`` and the number of parts."""
    whole = hashlib.sha256(b"".join(part_digests)).digest()
    return f"{base64.b64encode(whole).decode()}-{len(part_digests)}"


def _seconds(when: datetime) -> float:
    """Whole seconds: a HEAD answers to the second, a listing may carry milliseconds."""
    return float(int(when.timestamp()))


def _inode(key: str, etag: str, mtime: float) -> int:
    """A number that names this object as written (S3 has no inode): another key, or a
    rewrite of this one, gives another."""
    digest = hashlib.sha256(f"{key}\0{etag}\0{mtime}".encode("utf-8", "surrogatepass"))
    return int.from_bytes(digest.digest()[:8], "big") >> 1


def _file_stat(key: str, size: int, etag: str, when: datetime) -> FileStat:
    mtime = _seconds(when)
    return FileStat(size=size, mtime=mtime, atime=mtime, mode=_FILE_MODE,
                    inode=_inode(key, etag, mtime), is_dir=False, is_symlink=False)


def _dir_stat(key: str) -> FileStat:
    """A prefix has no size or time of its own."""
    return FileStat(size=0, mtime=0.0, atime=0.0, mode=_DIR_MODE, inode=_inode(key, "/", 0.0),
                    is_dir=True, is_symlink=False)


class S3Transport(Transport):
    """One bucket and prefix of an S3 store.  Thread-safe: boto3's clients are."""

    capabilities = Capability.HASH_TREE

    def __init__(self, target: S3Target, *, client: Any = None) -> None:
        self.target = target
        self.label = target.label
        self._client = client
        self._lock = threading.Lock()

    # ---- the connection

    @property
    def client(self) -> Any:
        with self._lock:
            if self._client is None:
                self._client = self._connect()
            return self._client

    def _connect(self) -> Any:
        try:
            import boto3
            from botocore.config import Config
        except ImportError as exc:  # pragma: no cover - boto3 is a dependency
            raise TransportError(f"the S3 transport needs boto3: {exc}") from None
        session = boto3.session.Session(profile_name=self.target.profile,
                                        region_name=self.target.region)
        # Standard retries: 3 attempts with jittered backoff, for throttling (503 SlowDown)
        # and dropped connections alike; an error that stays is reported after them.
        config = Config(retries={"mode": "standard", "max_attempts": 3},
                        connect_timeout=10, read_timeout=60,
                        request_checksum_calculation="when_required",
                        response_checksum_validation="when_required")
        verify: bool | str = self.target.ca_bundle or True
        return session.client("s3", endpoint_url=self.target.endpoint, verify=verify,
                              config=config)

    def close(self) -> None:
        with self._lock:
            client, self._client = self._client, None
        if client is not None:
            client.close()

    # ---- names

    def key(self, path: str) -> str:
        """The object key of ``path`` (no trailing slash); the prefix alone for ``/``."""
        check_path(path)
        parts = [p for p in path.split("/") if p]
        if any(p in (".", "..") for p in parts):
            raise ValueError(f"{path!r}: an object store has no '.' or '..' names")
        joined = "/".join(parts)
        try:
            rel = joined.encode("utf-8")
        except UnicodeEncodeError:
            raise TransportError(f"{path!r}: an object store names objects in UTF-8, and this"
                                 " name is not", path=path, code=_errno.EILSEQ,
                                 host=self.label) from None
        if _CONTROL.search(joined):
            raise TransportError(f"{path!r}: a control character in an object name (S3 lists"
                                 " names in XML, which cannot carry most of them)", path=path,
                                 code=_errno.EILSEQ, host=self.label)
        if len(self.target.prefix.encode()) + len(rel) + 1 > MAX_KEY_BYTES:
            raise TransportError(f"{path!r}: longer than an object key may be"
                                 f" ({MAX_KEY_BYTES} bytes)", path=path,
                                 code=_errno.ENAMETOOLONG, host=self.label)
        return self.target.prefix + rel.decode()

    def _below(self, key: str) -> str:
        """The prefix of the keys inside the directory ``key``."""
        return key if self._is_root(key) else f"{key}/"

    def _is_root(self, key: str) -> bool:
        return key == self.target.prefix

    # ---- requests

    def _error(self, exc: Exception, path: str, doing: str) -> TransportError:
        """Our error for what boto3 raised."""
        from botocore.exceptions import (
            ClientError,
            ConnectionClosedError,
            ConnectTimeoutError,
            EndpointConnectionError,
            ReadTimeoutError,
        )

        if isinstance(exc, TransportError):
            return exc
        if isinstance(exc, ConnectTimeoutError | ReadTimeoutError):
            return CommandTimeout(f"{self.label}: {doing} {path}: {exc}", path=path,
                                  host=self.label)
        if isinstance(exc, EndpointConnectionError | ConnectionClosedError):
            return ConnectionLost(f"{self.label}: {doing} {path}: {exc}", path=path,
                                  host=self.label)
        if isinstance(exc, ClientError):
            code = str(exc.response.get("Error", {}).get("Code", ""))
            message = exc.response.get("Error", {}).get("Message") or code
            text = f"{path}: {doing}: {message} ({code})"
            if code in _MISSING:
                return NotFound(text, path=path, code=_errno.ENOENT, host=self.label)
            if code in _REFUSED:
                return PermissionDenied(text, path=path, code=_errno.EACCES, host=self.label)
            if code in _EXISTS:
                return AlreadyExists(text, path=path, code=_errno.EEXIST, host=self.label)
            if code in ("BadDigest", "XAmzContentSHA256Mismatch", "InvalidDigest"):
                return OperationFailed(doing, f"{path}: the server's checksum differs from"
                                       f" the data sent: {message}", host=self.label)
            return TransportError(text, path=path, host=self.label)
        from botocore.exceptions import BotoCoreError, NoCredentialsError

        if isinstance(exc, NoCredentialsError):
            return PermissionDenied(
                f"{self.label}: no credentials for the S3 store: set AWS_ACCESS_KEY_ID and"
                " AWS_SECRET_ACCESS_KEY, name a profile of ~/.aws/credentials (profile), or"
                " set AWS_SHARED_CREDENTIALS_FILE; the inventory never holds them",
                path=path, code=_errno.EACCES, host=self.label)
        if isinstance(exc, BotoCoreError):
            return ConnectionLost(f"{self.label}: {doing} {path}: {exc}", path=path,
                                  host=self.label)
        raise exc

    def _head(self, key: str, path: str) -> dict[str, Any] | None:
        try:
            answer: dict[str, Any] = self.client.head_object(
                Bucket=self.target.bucket, Key=key, ChecksumMode="ENABLED")
        except Exception as exc:
            error = self._error(exc, path, "stat")
            if isinstance(error, NotFound):
                return None
            raise error from None
        return answer

    def _pages(self, path: str, **params: Any) -> Iterator[dict[str, Any]]:
        paginator = self.client.get_paginator("list_objects_v2")
        try:
            yield from paginator.paginate(Bucket=self.target.bucket, **params)
        except Exception as exc:
            raise self._error(exc, path, "list") from None

    def _any_below(self, key: str, path: str) -> bool:
        for page in self._pages(path, Prefix=self._below(key), MaxKeys=1):
            return bool(page.get("KeyCount", 0))
        return False

    def _keys_below(self, key: str, path: str) -> Iterator[dict[str, Any]]:
        for page in self._pages(path, Prefix=self._below(key)):
            yield from page.get("Contents", [])

    # ---- files

    def stat(self, path: str) -> FileStat | None:
        key = self.key(path)
        if self._is_root(key):
            return _dir_stat(key)
        head = self._head(key, path)
        if head is not None:
            return _file_stat(key, int(head["ContentLength"]), str(head.get("ETag", "")),
                              head["LastModified"])
        return _dir_stat(key) if self._any_below(key, path) else None

    def read(self, path: str) -> bytes:
        key = self.key(path)
        try:
            answer = self.client.get_object(Bucket=self.target.bucket, Key=key)
            return bytes(answer["Body"].read())
        except Exception as exc:
            raise self._error(exc, path, "read") from None

    def read_tagged(self, path: str) -> tuple[bytes, str]:
        """The object's bytes and the ETag of the version read (for :meth:`write`'s
        ``if_match``: a new version only over exactly that one)."""
        key = self.key(path)
        try:
            answer = self.client.get_object(Bucket=self.target.bucket, Key=key)
            return bytes(answer["Body"].read()), str(answer.get("ETag", ""))
        except Exception as exc:
            raise self._error(exc, path, "read") from None

    def write(self, path: str, data: bytes, *, overwrite: bool = True,
              lock: LockTerms | None = None, if_match: str | None = None) -> None:
        """One object with ``data``, checked by the server against its SHA-256.  Replaces
        whatever the key held in one step (S3 puts are atomic; in a versioned bucket the
        earlier version stays, behind the new one); ``overwrite=False`` is a conditional
        put, refused by the server if the key exists, ``if_match`` one refused unless the
        key's current version has that ETag (:class:`AlreadyExists` both).  ``lock``
        writes it immutable (the bucket must have Object Lock)."""
        key = self.key(path)
        self._refuse_directory(key, path)
        params = _lock_params(lock)
        if not overwrite:
            params["IfNoneMatch"] = "*"
        if if_match is not None:
            params["IfMatch"] = if_match
        try:
            self.client.put_object(Bucket=self.target.bucket, Key=key, Body=data,
                                   ChecksumAlgorithm="SHA256",
                                   ChecksumSHA256=sha256_b64(data), **params)
        except Exception as exc:
            raise self._error(exc, path, "write") from None

    def _refuse_directory(self, key: str, path: str) -> None:
        if self._is_root(key) or self._any_below(key, path):
            raise TransportError(f"{path}: is a directory (objects are stored below it)",
                                 path=path, code=_errno.EISDIR, host=self.label)

    def upload(self, path: str, source: BinaryIO, size: int, *,
               lock: LockTerms | None = None) -> str:
        """Store ``size`` bytes read from ``source`` at ``path``, in parts of the target's
        ``part_size`` when larger, each part checked by the server against its SHA-256.
        Returns the server's checksum (:func:`sha256_b64` of the whole, or
        :func:`composite_sha256` of the parts), which the caller compares with its own.
        An upload that fails is aborted: no parts are left behind."""
        key = self.key(path)
        ranges = self.part_ranges(size)
        if len(ranges) == 1:
            data = _read_exactly(source, size, path)
            self.write(path, data, lock=lock)
            return sha256_b64(data)
        bucket = self.target.bucket
        upload_id = self.begin_upload(path, lock=lock)
        with self._aborted_on_failure(key, upload_id, path, "upload"):
            parts, digests = [], []
            for number, (_offset, length) in enumerate(ranges, start=1):
                chunk = _read_exactly(source, length, path)
                digest = hashlib.sha256(chunk).digest()
                answer = self.client.upload_part(
                    Bucket=bucket, Key=key, UploadId=upload_id, PartNumber=number,
                    Body=chunk, ChecksumAlgorithm="SHA256",
                    ChecksumSHA256=base64.b64encode(digest).decode())
                parts.append({"PartNumber": number, "ETag": answer["ETag"],
                              "ChecksumSHA256": answer.get("ChecksumSHA256")
                              or base64.b64encode(digest).decode()})
                digests.append(digest)
            done = self.client.complete_multipart_upload(
                Bucket=bucket, Key=key, UploadId=upload_id, MultipartUpload={"Parts": parts})
        expected = composite_sha256(digests)
        stored = str(done.get("ChecksumSHA256") or "")
        if stored and stored.split("-")[0] != expected.split("-")[0]:
            raise OperationFailed("upload", f"{path}: the server holds checksum {stored},"
                                  f" the parts sent make {expected}", host=self.label)
        if lock is not None:
            self._make_locked(path, key, lock)
        return expected

    @contextlib.contextmanager
    def _aborted_on_failure(self, key: str, upload_id: str, path: str, what: str
                            ) -> Iterator[None]:
        """An upload in parts that fails in any way is aborted (no parts left behind), its
        error said as the transport says errors."""
        try:
            yield
        except BaseException as exc:
            self._abort(key, upload_id)
            if isinstance(exc, Exception):
                raise self._error(exc, path, what) from None
            raise

    def same_store(self, other: S3Transport) -> bool:
        """Whether ``other`` reaches the same store as this one, with the same credentials
        (endpoint, region, profile, CA): then an object is copied from it inside the store
        (:meth:`copy_from`), its bytes never through the controller."""
        a, b = self.target, other.target
        return (a.endpoint, a.region, a.profile, a.ca_bundle) == (
            b.endpoint, b.region, b.profile, b.ca_bundle)

    def copy_from(self, source: S3Transport, source_path: str, path: str, size: int
                  ) -> str:
        """Copy the object at ``source_path`` of ``source`` (on the same store:
        :meth:`same_store`) to ``path``, inside the store: CopyObject with the SHA-256
        algorithm, so the target computes its own sum of what it stored; an object larger
        than one copy may be (the target's ``single_put_limit``, S3's 5 GiB) by
        UploadPartCopy in the target's parts, each part's SHA-256 computed by the target
        where it gives one.  Returns the server's checksum as :meth:`upload` does (the
        whole object's, or of its parts), '' where it gives none; the caller verifies it.
        A copy in parts that fails is aborted."""
        key = self.key(path)
        copy_source = {"Bucket": source.target.bucket, "Key": source.key(source_path)}
        bucket = self.target.bucket
        if size <= self.target.single_put_limit:
            try:
                answer = self.client.copy_object(Bucket=bucket, Key=key, CopySource=copy_source,
                                                 ChecksumAlgorithm="SHA256")
            except Exception as exc:
                raise self._error(exc, path, "copy") from None
            return str(answer.get("CopyObjectResult", {}).get("ChecksumSHA256") or "")
        upload_id = self.begin_upload(path)
        with self._aborted_on_failure(key, upload_id, path, "copy in parts"):
            parts = []
            for number, (offset, length) in enumerate(self.part_ranges(size), start=1):
                answer = self.client.upload_part_copy(
                    Bucket=bucket, Key=key, UploadId=upload_id, PartNumber=number,
                    CopySource=copy_source,
                    CopySourceRange=f"bytes={offset}-{offset + length - 1}")
                result = answer["CopyPartResult"]
                part = {"PartNumber": number, "ETag": result["ETag"]}
                if result.get("ChecksumSHA256"):
                    part["ChecksumSHA256"] = result["ChecksumSHA256"]
                parts.append(part)
            done = self.client.complete_multipart_upload(
                Bucket=bucket, Key=key, UploadId=upload_id, MultipartUpload={"Parts": parts})
        return str(done.get("ChecksumSHA256") or "")

    def part_ranges(self, size: int) -> list[tuple[int, int]]:
        """(offset, length) of each part an object of ``size`` bytes goes up in: one for an
        object no larger than the target's ``part_size``, else parts of that size (larger
        where 10,000 of them would not hold it), the last one shorter."""
        part = max(self.target.part_size, -(-size // MAX_PARTS))
        if size <= part:
            return [(0, size)]
        return [(offset, min(part, size - offset)) for offset in range(0, size, part)]

    # ---- multipart uploads by another party (a host with signed URLs)

    def begin_upload(self, path: str, *, lock: LockTerms | None = None) -> str:
        """Start a multipart upload of the object at ``path``, each part to be checked
        against its SHA-256; its upload id.  Whoever starts one completes or aborts it."""
        key = self.key(path)
        self._refuse_directory(key, path)
        try:
            return str(self.client.create_multipart_upload(
                Bucket=self.target.bucket, Key=key, ChecksumAlgorithm="SHA256",
                **_lock_params(lock))["UploadId"])
        except Exception as exc:
            raise self._error(exc, path, "start an upload") from None

    def presigned_part(self, path: str, upload_id: str, number: int, sha256_b64: str,
                       seconds: int) -> str:
        """A URL that stores, for ``seconds``, part ``number`` of the upload: only the bytes
        whose SHA-256 is ``sha256_b64`` (the sum is in its signed headers)."""
        try:
            return str(self.client.generate_presigned_url(
                "upload_part", ExpiresIn=seconds,
                Params={"Bucket": self.target.bucket, "Key": self.key(path),
                        "UploadId": upload_id, "PartNumber": number,
                        "ChecksumSHA256": sha256_b64, "ChecksumAlgorithm": "SHA256"}))
        except Exception as exc:
            raise self._error(exc, path, "sign an upload") from None

    def complete_upload(self, path: str, upload_id: str,
                        parts: Sequence[tuple[int, bytes]]) -> str:
        """Complete the upload from its parts, given as (length, SHA-256 digest) in order:
        the server must hold each part at that length (and that sum, where it lists sums),
        and the object's sum of the parts' sums must be theirs.  Returns that sum
        (:func:`composite_sha256`).  Raises :class:`OperationFailed` and completes nothing
        where a part differs; the caller aborts the upload."""
        key = self.key(path)
        bucket = self.target.bucket
        try:
            listed: dict[int, dict[str, Any]] = {}
            for page in self.client.get_paginator("list_parts").paginate(
                    Bucket=bucket, Key=key, UploadId=upload_id):
                listed.update((p["PartNumber"], p) for p in page.get("Parts", []))
        except Exception as exc:
            raise self._error(exc, path, "list the parts of an upload") from None
        sent = []
        for number, (length, digest) in enumerate(parts, start=1):
            b64 = base64.b64encode(digest).decode()
            there = listed.get(number)
            if there is None or int(there["Size"]) != length or there.get(
                    "ChecksumSHA256", b64) != b64:
                raise OperationFailed("upload", f"{path}: part {number} is not on the server"
                                      f" as it was sent ({length} bytes, SHA-256 {b64})",
                                      host=self.label)
            sent.append({"PartNumber": number, "ETag": there["ETag"], "ChecksumSHA256": b64})
        if set(listed) - set(range(1, len(parts) + 1)):
            raise OperationFailed("upload", f"{path}: the upload holds parts that were not"
                                  " sent", host=self.label)
        try:
            done = self.client.complete_multipart_upload(
                Bucket=bucket, Key=key, UploadId=upload_id, MultipartUpload={"Parts": sent})
        except Exception as exc:
            raise self._error(exc, path, "complete an upload") from None
        expected = composite_sha256([digest for _length, digest in parts])
        stored = str(done.get("ChecksumSHA256") or "")
        if stored and stored.split("-")[0] != expected.split("-")[0]:
            raise OperationFailed("upload", f"{path}: the server holds checksum {stored},"
                                  f" the parts sent make {expected}", host=self.label)
        return expected

    def abort_upload(self, path: str, upload_id: str) -> None:
        """End an upload begun with :meth:`begin_upload`, its parts discarded (failing
        that, :meth:`abort_uploads` finds it on the next try)."""
        self._abort(self.key(path), upload_id)

    def checksum(self, path: str) -> tuple[str, bool] | None:
        """The SHA-256 the server keeps for the object at ``path``, as S3 carries it
        (base64), and whether it is of the object's parts (:func:`composite_sha256`, without
        the ``-N``) rather than of its bytes; None when it keeps none."""
        key = self.key(path)
        head = self._head(key, path)
        if head is None:
            raise NotFound(f"{path}: No such file or directory", path=path,
                           code=_errno.ENOENT, host=self.label)
        stored = head.get("ChecksumSHA256")
        if not stored:
            return None
        return str(stored).split("-")[0], _of_parts(head)

    def _make_locked(self, path: str, key: str, lock: LockTerms) -> None:
        """Check that a completed multipart object holds its lock, and set it where the
        store did not carry the upload's over (moto does not; S3 does)."""
        if self.lock_of(path) == lock:
            return
        try:
            self.client.put_object_retention(
                Bucket=self.target.bucket, Key=key,
                Retention={"Mode": lock.mode.upper(),
                           "RetainUntilDate": _midnight(lock.retain_until)})
        except Exception as exc:
            raise self._error(exc, path, "lock the object") from None
        self.set_legal_hold(path, lock.legal_hold)
        if self.lock_of(path) != lock:
            raise OperationFailed("upload", f"{path}: the object holds"
                                  f" {self.lock_of(path)}, not the lock it was written with",
                                  host=self.label)

    def _abort(self, key: str, upload_id: str) -> None:
        # Failing that, the upload is listed and aborted on the next resume.
        with contextlib.suppress(Exception):
            self.client.abort_multipart_upload(Bucket=self.target.bucket, Key=key,
                                               UploadId=upload_id)

    def unfinished_uploads(self, path: str) -> list[tuple[str, str]]:
        """(key, upload id) of every multipart upload begun under ``path`` and never
        completed: what a controller killed mid-upload leaves, billed and invisible."""
        key = self.key(path)
        found = []
        paginator = self.client.get_paginator("list_multipart_uploads")
        prefix = self.target.prefix if self._is_root(key) else key
        try:
            for page in paginator.paginate(Bucket=self.target.bucket, Prefix=prefix):
                found += [(u["Key"], u["UploadId"]) for u in page.get("Uploads", [])
                          if u["Key"] == key or u["Key"].startswith(self._below(key))]
        except Exception as exc:
            raise self._error(exc, path, "list uploads") from None
        return found

    def abort_uploads(self, path: str) -> int:
        """Abort :meth:`unfinished_uploads` under ``path``; how many there were."""
        found = self.unfinished_uploads(path)
        for key, upload_id in found:
            try:
                self.client.abort_multipart_upload(Bucket=self.target.bucket, Key=key,
                                                   UploadId=upload_id)
            except Exception as exc:
                error = self._error(exc, path, "abort an upload")
                if not isinstance(error, NotFound):  # finished or aborted meanwhile
                    raise error from None
        return len(found)

    # ---- Object Lock

    def lock_of(self, path: str) -> LockTerms | None:
        """The lock the object at ``path`` holds now (None: neither retention nor hold)."""
        key = self.key(path)
        head = self._head(key, path)
        if head is None:
            raise NotFound(f"{path}: No such file or directory", path=path,
                           code=_errno.ENOENT, host=self.label)
        return _lock_in(head)

    def extend_lock(self, path: str, until: dt.date) -> None:
        """Retain the object until ``until`` at least, in the mode it has.  Never earlier:
        that is refused here, before the server is asked (an S3 store refuses to shorten a
        compliance retention, and lets a governance one be shortened only with the bypass,
        which this tool never sends; the test server enforces neither)."""
        key = self.key(path)
        now = self.lock_of(path)
        if now is None or now.retain_until == dt.date.min:
            raise PermissionDenied(f"{path}: the object has no retention to extend",
                                   path=path, code=_errno.EPERM, host=self.label)
        if until < now.retain_until:
            raise PermissionDenied(
                f"{path}: its {now.mode} retention ends {now.retain_until.isoformat()};"
                f" it is never shortened (asked: {until.isoformat()})", path=path,
                code=_errno.EPERM, host=self.label)
        if until == now.retain_until:
            return
        try:
            self.client.put_object_retention(
                Bucket=self.target.bucket, Key=key,
                Retention={"Mode": now.mode.upper(), "RetainUntilDate": _midnight(until)})
        except Exception as exc:
            raise self._error(exc, path, "extend the retention") from None

    def lock(self, path: str, terms: LockTerms) -> None:
        """Give the object at ``path`` the retention and legal hold of ``terms``; a retention
        it holds already is only ever extended (:meth:`extend_lock`)."""
        now = self.lock_of(path)
        if now is not None and now.retain_until != dt.date.min:
            self.extend_lock(path, max(now.retain_until, terms.retain_until))
        else:
            try:
                self.client.put_object_retention(
                    Bucket=self.target.bucket, Key=self.key(path),
                    Retention={"Mode": terms.mode.upper(),
                               "RetainUntilDate": _midnight(terms.retain_until)})
            except Exception as exc:
                raise self._error(exc, path, "lock the object") from None
        if terms.legal_hold or (now is not None and now.legal_hold):
            self.set_legal_hold(path, terms.legal_hold or bool(now and now.legal_hold))

    def presigned_put(self, path: str, sha256_b64: str, seconds: int) -> str:
        """A URL that stores, for ``seconds``, the bytes whose SHA-256 is ``sha256_b64`` at
        ``path`` (the sum is in its signed headers): what a host uploads with, while the
        credentials stay here."""
        try:
            return str(self.client.generate_presigned_url(
                "put_object", ExpiresIn=seconds,
                Params={"Bucket": self.target.bucket, "Key": self.key(path),
                        "ChecksumSHA256": sha256_b64, "ChecksumAlgorithm": "SHA256"}))
        except Exception as exc:
            raise self._error(exc, path, "sign an upload") from None

    def presigned_get(self, path: str, seconds: int) -> str:
        """A URL that reads the object at ``path`` for ``seconds``."""
        try:
            return str(self.client.generate_presigned_url(
                "get_object", ExpiresIn=seconds,
                Params={"Bucket": self.target.bucket, "Key": self.key(path)}))
        except Exception as exc:
            raise self._error(exc, path, "sign a download") from None

    def set_legal_hold(self, path: str, on: bool) -> None:
        """Put a legal hold on the object (no version of it can be deleted while it is on,
        whatever its retention), or lift it."""
        key = self.key(path)
        try:
            self.client.put_object_legal_hold(
                Bucket=self.target.bucket, Key=key,
                LegalHold={"Status": "ON" if on else "OFF"})
        except Exception as exc:
            raise self._error(exc, path, "set the legal hold") from None

    def purge(self, path: str, today: dt.date) -> int:
        """Delete every version of the object at ``path`` (and its delete markers): what
        expiry does in a versioned bucket, where a plain delete only hides the object.
        Refused here, before anything is deleted, while a version is retained past
        ``today`` or under a legal hold; a refusal of the server's is raised as it came
        (:class:`PermissionDenied`).  Returns how many versions went."""
        key = self.key(path)
        versions = self._versions(key, path)
        why = self._locked(key, path, versions, today)
        if why is not None:
            raise PermissionDenied(f"{path}: not expired: {why}", path=path,
                                   code=_errno.EPERM, host=self.label)
        for version in versions:
            try:
                self.client.delete_object(Bucket=self.target.bucket, Key=key,
                                          VersionId=version["VersionId"])
            except Exception as exc:
                raise self._error(exc, path, "expire a version") from None
        return len(versions)

    def hide(self, path: str) -> str | None:
        """Hide the object at ``path`` behind a delete marker (a versioned bucket: its
        versions stay, locked or not, and :meth:`unhide` brings it back); the marker's
        version id, the one there already when the object is hidden.  None in a bucket
        without versions, where the object is then gone."""
        key = self.key(path)
        for version in self._versions(key, path):
            if version.get("IsLatest"):
                if version.get("IsMarker"):
                    return str(version["VersionId"])
                break
        try:
            answer = self.client.delete_object(Bucket=self.target.bucket, Key=key)
        except Exception as exc:
            raise self._error(exc, path, "hide") from None
        return str(answer["VersionId"]) if answer.get("DeleteMarker") else None

    def unhide(self, path: str, marker: str) -> None:
        """Remove the delete marker :meth:`hide` put: the version before it is current
        again, as it was."""
        try:
            self.client.delete_object(Bucket=self.target.bucket, Key=self.key(path),
                                      VersionId=marker)
        except Exception as exc:
            raise self._error(exc, path, "bring back") from None

    def expiry_refusal(self, path: str, today: dt.date) -> str | None:
        """Why :meth:`purge` would refuse the object at ``path`` today (a version retained
        past ``today``, or under a legal hold), or None: it may go."""
        key = self.key(path)
        return self._locked(key, path, self._versions(key, path), today)

    def _locked(self, key: str, path: str, versions: list[dict[str, Any]],
                today: dt.date) -> str | None:
        for version in versions:
            if version.get("IsMarker"):
                continue
            lock = self._version_lock(key, path, version["VersionId"])
            if lock is not None and (lock.legal_hold or lock.retain_until > today):
                return ("a legal hold is on it" if lock.legal_hold else
                        f"its {lock.mode} retention ends {lock.retain_until.isoformat()}")
        return None

    def _versions(self, key: str, path: str) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        paginator = self.client.get_paginator("list_object_versions")
        try:
            for page in paginator.paginate(Bucket=self.target.bucket, Prefix=key):
                found += [v for v in page.get("Versions", []) if v["Key"] == key]
                found += [{**m, "IsMarker": True} for m in page.get("DeleteMarkers", [])
                          if m["Key"] == key]
        except Exception as exc:
            raise self._error(exc, path, "list versions") from None
        return found

    def _version_lock(self, key: str, path: str, version: str) -> LockTerms | None:
        try:
            head = self.client.head_object(Bucket=self.target.bucket, Key=key,
                                           VersionId=version)
        except Exception as exc:
            raise self._error(exc, path, "stat a version") from None
        return _lock_in(head)

    def delete(self, path: str, *, missing_ok: bool = False) -> None:
        """Remove the object (in a versioned bucket, hide it behind a delete marker: its
        versions stay until their own expiry)."""
        key = self.key(path)
        st = self.stat(path)
        if st is None:
            if missing_ok:
                return
            raise NotFound(f"{path}: No such file or directory", path=path,
                           code=_errno.ENOENT, host=self.label)
        if st.is_dir:
            raise TransportError(f"{path}: is a directory", path=path, code=_errno.EISDIR,
                                 host=self.label)
        self._delete_keys([key], path)

    def _delete_keys(self, keys: Sequence[str], path: str) -> None:
        for start in range(0, len(keys), _DELETE_BATCH):
            batch = [{"Key": k} for k in keys[start:start + _DELETE_BATCH]]
            try:
                answer = self.client.delete_objects(
                    Bucket=self.target.bucket, Delete={"Objects": batch, "Quiet": True})
            except Exception as exc:
                raise self._error(exc, path, "delete") from None
            errors = answer.get("Errors") or []
            if errors:
                first = errors[0]
                code = str(first.get("Code", ""))
                text = (f"{first.get('Key')}: delete: {first.get('Message') or code} ({code});"
                        f" {len(errors)} object(s) not deleted")
                cls = PermissionDenied if code in _REFUSED else TransportError
                raise cls(text, path=path, host=self.label)

    def delete_tree(self, path: str, *, missing_ok: bool = False) -> None:
        key = self.key(check_tree_root(path))
        if not self._is_root(key) and self._head(key, path) is not None:
            raise TransportError(f"{path}: Not a directory", path=path, code=_errno.ENOTDIR,
                                 host=self.label)
        keys = [o["Key"] for o in self._keys_below(key, path)]
        if not keys:
            if missing_ok:
                return
            raise NotFound(f"{path}: No such file or directory", path=path,
                           code=_errno.ENOENT, host=self.label)
        self._delete_keys(keys, path)

    def delete_files(self, paths: Sequence[str]) -> None:
        """One listing per folder and one request per thousand objects: a directory among
        ``paths`` is refused before anything is deleted."""
        by_folder: dict[str, list[tuple[str, str]]] = {}
        for path in paths:
            key = self.key(path)
            by_folder.setdefault(posixpath.dirname(key), []).append((path, key))
        doomed = []
        for folder, wanted in by_folder.items():
            files, dirs = self._entries(folder)
            for path, key in wanted:
                if key in dirs:
                    raise TransportError(f"{path}: is a directory", path=path,
                                         code=_errno.EISDIR, host=self.label)
                if key in files:
                    doomed.append(key)
        if doomed:
            self._delete_keys(doomed, paths[0])

    def _entries(self, folder: str) -> tuple[set[str], set[str]]:
        """The keys of the objects directly in ``folder`` and of the prefixes there."""
        prefix = f"{folder}/" if folder else ""
        files: set[str] = set()
        dirs: set[str] = set()
        for page in self._pages(folder, Prefix=prefix, Delimiter="/"):
            files.update(o["Key"] for o in page.get("Contents", []))
            dirs.update(p["Prefix"].rstrip("/") for p in page.get("CommonPrefixes", []))
        return files, dirs

    def rmdir(self, path: str) -> None:
        """There is no empty directory in an object store: one with objects below is not
        empty (ENOTEMPTY), any other is missing."""
        key = self.key(path)
        if not self._is_root(key) and self._head(key, path) is not None:
            raise TransportError(f"{path}: Not a directory", path=path, code=_errno.ENOTDIR,
                                 host=self.label)
        if self._is_root(key) or self._any_below(key, path):
            raise AlreadyExists(f"{path}: Directory not empty", path=path,
                                code=_errno.ENOTEMPTY, host=self.label)
        raise NotFound(f"{path}: No such file or directory", path=path, code=_errno.ENOENT,
                       host=self.label)

    def mkdir(self, path: str, *, parents: bool = True, exist_ok: bool = True) -> None:
        """Nothing to make (a directory is the prefix of what is written below it), but an
        object in the way is refused as a file would be: at ``path`` (EEXIST) or above it
        (ENOTDIR).  ``parents`` changes nothing."""
        key = self.key(path)
        if self._is_root(key):
            if not exist_ok:
                raise AlreadyExists(f"{path}: File exists", path=path, code=_errno.EEXIST,
                                    host=self.label)
            return
        if self._head(key, path) is not None:
            raise AlreadyExists(f"{path}: File exists", path=path, code=_errno.EEXIST,
                                host=self.label)
        rel = key[len(self.target.prefix):].split("/")
        for depth in range(1, len(rel)):
            above = self.target.prefix + "/".join(rel[:depth])
            if self._head(above, path) is not None:
                raise TransportError(f"{path}: Not a directory", path=path,
                                     code=_errno.ENOTDIR, host=self.label)
        if not exist_ok and self._any_below(key, path):
            raise AlreadyExists(f"{path}: File exists", path=path, code=_errno.EEXIST,
                                host=self.label)

    def listdir(self, path: str) -> list[str]:
        key = self.key(path)
        folder = key.rstrip("/") if self._is_root(key) else key
        files, dirs = self._entries(folder)
        start = len(folder) + 1 if folder else 0
        names = [k[start:] for k in files | dirs]
        if not names and not self._is_root(key):
            if self._head(key, path) is not None:
                raise TransportError(f"{path}: Not a directory", path=path,
                                     code=_errno.ENOTDIR, host=self.label)
            raise NotFound(f"{path}: No such file or directory", path=path,
                           code=_errno.ENOENT, host=self.label)
        return sort_names(names)

    # ---- trees: one listing for the whole tree

    def walk(self, path: str) -> Iterator[tuple[str, FileStat]]:
        """One paginated listing of every key below ``path``; the directories are the
        prefixes on the way, each given before what is in it."""
        key = self.key(path)
        if not self._is_root(key):
            head = self._head(key, path)
            if head is not None:
                yield "", _file_stat(key, int(head["ContentLength"]),
                                     str(head.get("ETag", "")), head["LastModified"])
                return
        below = self._below(key)
        seen: set[str] = set()
        for entry in self._keys_below(key, path):
            if not seen:
                seen.add("")
                yield "", _dir_stat(key)
            rel = entry["Key"][len(below):]
            parts = rel.split("/")
            for depth in range(1, len(parts)):
                folder = "/".join(parts[:depth])
                if folder not in seen:
                    seen.add(folder)
                    yield folder, _dir_stat(below + folder)
            yield rel, _file_stat(entry["Key"], int(entry["Size"]),
                                  str(entry.get("ETag", "")), entry["LastModified"])
        if not seen:
            if self._is_root(key):
                yield "", _dir_stat(key)
                return
            raise NotFound(f"{path}: No such file or directory", path=path,
                           code=_errno.ENOENT, host=self.label)

    def hash_tree(self, path: str) -> dict[str, str]:
        """The SHA-256 of every object under ``path``: the server's own where it has it for
        the whole object, else (a multipart object, or one stored without a checksum) read
        back and hashed here."""
        sums = {}
        for rel, st in self.walk(path):
            if st.is_file:
                sums[rel] = self._sha256(join_below(path, rel))
        return sums

    def _sha256(self, path: str) -> str:
        stored = self.checksum(path)
        if stored is not None and not stored[1]:
            return base64.b64decode(stored[0]).hex()
        return self.read_sha256(path)

    def read_sha256(self, path: str) -> str:
        """The SHA-256 of the object's bytes, read back and hashed here."""
        digest = hashlib.sha256()
        for chunk in self.stream_object(path):
            digest.update(chunk)
        return digest.hexdigest()

    def stream_object(self, path: str) -> Iterable[bytes]:
        """The object's bytes in chunks, without holding it whole."""
        key = self.key(path)
        try:
            body = self.client.get_object(Bucket=self.target.bucket, Key=key)["Body"]
            while chunk := body.read(_READ_CHUNK):
                yield chunk
        except Exception as exc:
            raise self._error(exc, path, "read") from None


def _midnight(day: dt.date) -> datetime:
    """The start of ``day`` in UTC: S3 retains an object until that instant."""
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def _lock_in(head: dict[str, Any]) -> LockTerms | None:
    """The lock a HEAD answer shows (None: neither a retention nor a legal hold); a hold
    alone reads as governance with no retention day (``date.min``)."""
    until = head.get("ObjectLockRetainUntilDate")
    hold = head.get("ObjectLockLegalHoldStatus") == "ON"
    if until is None and not hold:
        return None
    mode = str(head.get("ObjectLockMode") or "governance").lower()
    if mode not in ("governance", "compliance"):
        mode = "governance"
    day = until.astimezone(UTC).date() if until else dt.date.min
    return LockTerms(mode, day, hold)  # type: ignore[arg-type]


def _lock_params(lock: LockTerms | None) -> dict[str, Any]:
    """The put parameters of a lock (none without one)."""
    if lock is None:
        return {}
    return {"ObjectLockMode": lock.mode.upper(),
            "ObjectLockRetainUntilDate": _midnight(lock.retain_until),
            "ObjectLockLegalHoldStatus": "ON" if lock.legal_hold else "OFF"}


def _of_parts(head: dict[str, Any]) -> bool:
    """Whether an object's checksum is of its parts (a multipart upload's), not of its
    bytes: S3 says so by the type, the ``-N`` of the sum, or the ``-N`` of the ETag."""
    return (head.get("ChecksumType") == "COMPOSITE" or "-" in str(head["ChecksumSHA256"])
            or "-" in str(head.get("ETag", "")).strip('"'))


def _read_exactly(source: BinaryIO, size: int, path: str) -> bytes:
    data = source.read(size)
    if len(data) != size:
        raise OperationFailed("upload", f"{path}: the source gave {len(data)} of {size}"
                              " bytes (changed while read?)")
    return data
