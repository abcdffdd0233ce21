"""What the apply engine runs on a host: hashing and copying, as argv lists for a transport.

Hashing is most of a move's cost, so it goes to the fastest tool the host has: Python's
hashlib (OpenSSL underneath, with the CPU's SHA instructions: about 700 MB/s a core, where
coreutils' ``sha256sum`` manages about 180 MB/s), several files at once; ``sha256sum`` when
the host has no ``python3`` (or ``CAPACITY_SHA256SUM`` is set in the command's environment,
as the tests do to check one against the other).  Both print the same thing, ``sha256sum -z`` style:
``HEX  NAME`` entries ending in NUL, names as they are (any byte but NUL).

Every path reaches the host as an argument, never inside the script text.
"""

from __future__ import annotations

from collections.abc import Sequence

from capacity.transports.base import decode_path

HASH_PY = r"""
import hashlib, mmap, os, stat, sys, threading
workers, first, count = int(sys.argv[1]) or os.cpu_count() or 1, int(sys.argv[2]), int(sys.argv[3])
tops = [os.fsencode(a) for a in sys.argv[4 + first:4 + first + count]]
def digest(path):
    h = hashlib.sha256()
    with open(path, "rb", buffering=0) as f:
        if os.fstat(f.fileno()).st_size >= 1 << 20:
            # Hash the page cache in place: no copy into our memory, 10-15% faster.
            with mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as mapped:
                view = memoryview(mapped)
                for at in range(0, len(mapped), 1 << 23):
                    h.update(view[at:at + (1 << 23)])
                view.release()
            return h.hexdigest().encode()
        while True:
            block = f.read(1 << 20)
            if not block:
                return h.hexdigest().encode()
            h.update(block)
class Failed(Exception):
    pass
def files_of(top):
    st = os.lstat(top)
    if not stat.S_ISDIR(st.st_mode):
        return [(top, top)]
    found = []
    def fail(e):
        raise Failed(e)
    for folder, dirs, files in os.walk(top, onerror=fail):
        rel = os.path.relpath(folder, top)
        for name in files:
            if stat.S_ISREG(os.lstat(os.path.join(folder, name)).st_mode):
                found.append((b"./" + os.path.normpath(os.path.join(rel, name)),
                              os.path.join(folder, name)))
    return found
groups, jobs = [], []
for top in tops:
    try:
        group = files_of(top)
    except (OSError, Failed) as e:
        group = ("%s" % e).encode("utf-8", "replace")
    groups.append(group)
    if not isinstance(group, bytes):
        jobs += group
sums, todo, lock = {}, iter(jobs), threading.Lock()
def work():
    while True:
        with lock:
            job = next(todo, None)
        if job is None:
            return
        try:
            sums[job[1]] = digest(job[1])
        except OSError as e:
            sums[job[1]] = e
threads = [threading.Thread(target=work) for _ in range(max(1, min(workers, len(jobs))))]
for t in threads:
    t.start()
for t in threads:
    t.join()
out, failed = sys.stdout.buffer, False
for group in groups:
    if not isinstance(group, bytes):
        bad = [sums[path] for _, path in group if not isinstance(sums[path], bytes)]
        group = ("%s" % bad[0]).encode("utf-8", "replace") if bad else group
    if isinstance(group, bytes):
        failed = True
        out.write(b"!" + group.replace(b"\0", b"") + b"\0\0")
        continue
    for name, path in group:
        out.write(sums[path] + b"  " + name + b"\0")
    out.write(b"\0")
sys.exit(1 if failed else 0)
"""
"""sha256 of every regular file under each of argv[4 + first .. 4 + first + count] (of the
path itself if it is a file), argv[1] files at a time (0: as many as the host has cores),
in one interpreter whatever the number of trees.  Only the standard library, and Python 3.6
will do (RHEL 8's platform-python)."""

_PYTHON = (
    # The system's interpreter first: it starts in 20 ms where a pyenv or conda shim takes
    # ten times that.  -I -S: no user site, no PYTHON* variables.  CAPACITY_SHA256SUM in the
    # command's environment makes it coreutils alone (the tests check one against the other).
    'py=; if [ -z "$CAPACITY_SHA256SUM" ]; then for c in /usr/bin/python3 '
    '/usr/libexec/platform-python "$(command -v python3)"; do '
    'if [ -n "$c" ] && [ -x "$c" ]; then py=$c; break; fi; done; fi; ')

_HASH_FUNCTION = _PYTHON + (
    # h WORKERS FIRST COUNT ARGS...: hash ARGS[FIRST..FIRST+COUNT), a group each; python if
    # the host has it, else coreutils.
    'h() { if [ -n "$py" ]; then "$py" -I -S -c "$hash_py" "$@"; return; fi; '
    '_f=$2; _n=$3; shift 3; _i=0; _bad=0; for _t; do '
    'if [ $_i -ge $_f ] && [ $_i -lt $((_f + _n)) ]; then '
    'if [ -d "$_t" ]; then (cd -- "$_t" && find . -type f -print0 | '
    'xargs -0 -r sha256sum -z --); else sha256sum -z -- "$_t"; fi '
    "|| { printf '!hash failed\\000'; _bad=1; }; printf '\\000'; fi; _i=$((_i + 1)); done; "
    'return $_bad; }; ')


RENAME_PY = r"""
import ctypes, errno, os, sys
n = (len(sys.argv) - 1) // 2
pairs = [(os.fsencode(s), os.fsencode(d)) for s, d in zip(sys.argv[1:1 + n], sys.argv[1 + n:])]
libc = ctypes.CDLL(None, use_errno=True)
renameat2 = getattr(libc, "renameat2", None)
out = []
for src, dst in pairs:
    if renameat2 is not None and renameat2(-100, src, -100, dst, 1) == 0:  # RENAME_NOREPLACE
        out.append(b"1")
        continue
    moved = False
    if renameat2 is None or ctypes.get_errno() in (errno.EINVAL, errno.ENOSYS):
        # No RENAME_NOREPLACE (an old C library, a file system without it): look, then
        # rename, as OpenSSH's SFTP server does.
        if not os.path.lexists(dst):
            try:
                os.rename(src, dst)
                moved = True
            except OSError:
                pass
    out.append(b"1" if moved else b"0")
if pairs:
    fd = os.open(os.path.dirname(pairs[-1][1]) or b".", os.O_RDONLY)
    if getattr(libc, "syncfs", None) is None or libc.syncfs(fd) != 0:
        os.sync()
    os.close(fd)
sys.stdout.buffer.write(b"".join(out))
"""
"""Rename argv[1..n] to argv[n+1..2n], never over anything; print 1 or 0 for each; then
make the names durable (syncfs of the targets' file system)."""


def rename_many(pairs: Sequence[tuple[str, str]]) -> list[str]:
    """The command renaming each (src, dst), never over anything at dst: one interpreter
    for all (``RENAME_NOREPLACE``), else ``mv -n -T`` each; prints ``1`` for each renamed,
    ``0`` for each not, then flushes the names to disk."""
    script = ('rename_py=$1; shift; ' + _PYTHON
              + 'if [ -n "$py" ]; then exec "$py" -I -S -c "$rename_py" "$@"; fi; '
              'n=$(($# / 2)); _k=1; while [ $_k -le $n ]; do '
              'eval "s=\\"\\${$_k}\\" d=\\"\\${$((_k + n))}\\""; '
              'mv -n -T -- "$s" "$d" 2>/dev/null; '
              'if [ -e "$s" ] || [ -L "$s" ] || ! { [ -e "$d" ] || [ -L "$d" ]; }; '
              "then printf 0; else printf 1; fi; _k=$((_k + 1)); done; "
              'sync -f -- "${d%/*}" 2>/dev/null; true')
    return ["sh", "-c", script, "sh", RENAME_PY, *(s for s, _ in pairs),
            *(d for _, d in pairs)]


def hash_tree(path: str, workers: int = 0) -> list[str]:
    """The command hashing every regular file under ``path`` (or ``path`` itself)."""
    return hash_trees([path], workers)


def hash_trees(paths: Sequence[str], workers: int = 0) -> list[str]:
    """The command hashing every regular file under each of ``paths``: one group each, in
    order (see :func:`parse_groups`)."""
    script = 'hash_py=$1; shift; ' + _HASH_FUNCTION + 'h "$@"'
    return ["sh", "-c", script, "sh", HASH_PY, str(workers), "0", str(len(paths)), *paths]


COPY_FAILED = 3


def copy_and_hash(pairs: Sequence[tuple[str, str]], flush: str, sums_file: str,
                  bandwidth_kbps: int | None = None, in_flight: int = 1,
                  workers: int = 0) -> list[str]:
    """Copy and hash a batch of trees in one round trip: copy each source to its new copy
    path (``cp -a``, or ``rsync --bwlimit``), ``in_flight`` at a time, then flush the
    filesystem holding ``flush`` while hashing every copy (both see the same page cache:
    the flush writes exactly what is hashed, and fails loudly if it cannot); meanwhile hash
    every source, which the copies read too.  The halves keep the host's cores busy: a
    single large file hashes on one core only.  A copy that fails is removed (its group
    fails) and named on stderr (``capacity: copy K failed``, K from 1).  Prints the
    sources' groups, then the copies' (kept in ``sums_file``, a scratch file of the
    caller's); exits :data:`COPY_FAILED` when the flush fails."""
    sources = [s for s, _ in pairs]
    copies = [c for _, c in pairs]
    how = "cp" if bandwidth_kbps is None else str(max(1, bandwidth_kbps))
    copy_one = ('if [ "$how" = cp ]; then cp -a --no-dereference -- "$s" "$c"; '
                'elif [ -d "$s" ]; then rsync -a --bwlimit="$how" -- "$s/" "$c/"; '
                'else rsync -a --bwlimit="$how" -- "$s" "$c"; fi')
    script = ('hash_py=$1; how=$2; flush=$3; sums=$4; n=$5; shift 5; ' + _RECORD_GROUP
              + _HASH_FUNCTION
              + '{ _k=1; while [ $_k -le $n ]; do '
              'eval "s=\\"\\${$_k}\\" c=\\"\\${$((_k + n))}\\""; { { ' + copy_one + '; } '
              '|| { rm -rf -- "$c"; echo "capacity: copy $_k failed" >&2; }; } & '
              f'[ $((_k % {max(1, in_flight)})) -eq 0 ] && wait; _k=$((_k + 1)); done; wait; '
              f'sync -f -- "$flush" & flushing=$!; '
              f'h {workers} "$n" "$n" "$@" > "$sums"; '
              f'wait $flushing || exit {COPY_FAILED}; }} & copying=$!; '
              f'h {workers} 0 "$n" "$@"; '
              'wait $copying || exit $?; cat -- "$sums"')
    # setsid: the copies and their hashers are one process group of their own, which
    # outlives a controller killed mid-copy; remove_work ends that group before it removes
    # anything.
    return ["setsid", "-w", "sh", "-c", script, "sh", HASH_PY, how, flush, sums_file,
            str(len(pairs)), *sources, *copies]


GROUP_FILE = "copy.group"
"""In a unit's work directory: the process group copying into it, and when it started."""

# Written before the copies start, in each copy's work directory: the group's id (this
# shell's pid, as setsid made it the leader) and its start time (field 22 of
# /proc/PID/stat), so a later pid is not taken for it.
_RECORD_GROUP = ('read -r _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ start _ < /proc/$$/stat'
                 ' 2>/dev/null; _k=1; while [ $_k -le $n ]; do eval "c=\\"\\${$((_k + n))}\\""; '
                 'echo "$$ $start" > "${c%/*}/' + GROUP_FILE + '"; _k=$((_k + 1)); done; ')


def remove_work(works: Sequence[str], work_root: str) -> list[str]:
    """Remove units' work directories, and the tier's work root if that leaves it empty;
    first end a copy still running into each (a controller killed mid-copy leaves it
    behind), and wait until it is gone."""
    script = ('root=$1; shift; '
              # The leader's start time while it runs (a zombie has ended: nothing).
              'now() { read -r _ _ st _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ s _ < /proc/$pid/stat'
              ' 2>/dev/null && [ "$st" != Z ] && echo "$s"; }; '
              # A batch's copies share one group: it is ended once.
              f'last=; for w; do g="$w/{GROUP_FILE}"; if [ -f "$g" ] && read -r pid start < "$g"'
              ' && [ -n "$pid" ] && [ "$pid $start" != "$last" ]; then last="$pid $start"; '
              'if [ -n "$start" ] && [ "$(now)" = "$start" ]; then '
              # -s KILL: dash's kill takes no "-KILL --" (it quietly killed nothing).
              'kill -s KILL -- "-$pid" 2>/dev/null; n=0; '
              'while [ "$(now)" = "$start" ] && [ $n -lt 200 ]; do sleep 0.05; n=$((n+1)); '
              'done; fi; fi; done; '
              'rm -rf -- "$@"; rmdir -- "$root" 2>/dev/null; true')
    return ["sh", "-c", script, "sh", work_root, *works]


def parse_groups(out: bytes, count: int) -> list[dict[str, str] | str]:
    """The ``count`` groups that :func:`hash_trees` (and :func:`copy_and_hash`) print: each
    tree's sums ('HASH  ./path' entries ending in NUL, a single file's keyed ''), or why it
    could not be hashed.  A group the output does not reach failed too."""
    groups: list[dict[str, str] | str] = []
    sums: dict[str, str] = {}
    failure: str | None = None
    for entry in out.split(b"\0"):
        if len(groups) == count:
            break
        if not entry:
            groups.append(sums if failure is None else failure)
            sums, failure = {}, None
        elif entry.startswith(b"!"):
            failure = decode_path(entry[1:]) or "hash failed"
        else:
            digest, _, name = entry.partition(b"  ")
            rel = decode_path(name)
            sums[rel[2:] if rel.startswith("./") else ""] = digest.decode()
    return groups + ["the output ended early"] * (count - len(groups))


def parse_sums(out: bytes) -> dict[str, str]:
    """The sums of the one tree :func:`hash_tree` hashed."""
    group = parse_groups(out, 1)[0]
    if isinstance(group, str):
        raise ValueError(f"hashing failed: {group}")
    return group
