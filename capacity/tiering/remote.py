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

HASH_LIB = r"""
import hashlib, mmap, os, stat, sys, threading
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
def hash_groups(tops, workers):
    # One group a tree: its (name, sha256) pairs, or why it could not be hashed (bytes).
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
    out = []
    for group in groups:
        if not isinstance(group, bytes):
            bad = [sums[path] for _, path in group if not isinstance(sums[path], bytes)]
            group = ("%s" % bad[0]).encode("utf-8", "replace") if bad else [
                (name, sums[path]) for name, path in group]
        out.append(group)
    return out
def write_group(out, group):
    if isinstance(group, bytes):
        out.write(b"!" + group.replace(b"\0", b"") + b"\0\0")
        return False
    for name, digest in group:
        out.write(digest + b"  " + name + b"\0")
    out.write(b"\0")
    return True
"""

HASH_PY = HASH_LIB + r"""
workers, first, count = int(sys.argv[1]) or os.cpu_count() or 1, int(sys.argv[2]), int(sys.argv[3])
tops = [os.fsencode(a) for a in sys.argv[4 + first:4 + first + count]]
written = [write_group(sys.stdout.buffer, g) for g in hash_groups(tops, workers)]
sys.exit(0 if all(written) else 1)
"""
"""sha256 of every regular file under each of argv[4 + first .. 4 + first + count] (of the
path itself if it is a file), argv[1] files at a time (0: as many as the host has cores),
in one interpreter whatever the number of trees.  Only the standard library, and Python 3.6
will do (RHEL 8's platform-python)."""


COPY_PY = HASH_LIB + r"""
import ctypes, errno, shutil, subprocess
workers, flush, n = int(sys.argv[1]) or os.cpu_count() or 1, sys.argv[2], int(sys.argv[3])
tops = [os.fsencode(a) for a in sys.argv[4:4 + n]]
copies = [os.fsencode(a) for a in sys.argv[4 + n:4 + 2 * n]]
def owner(target, st, follow=True):
    # As cp -a: the owner where allowed (root), quietly not otherwise, and then no set-id
    # bits on the copy.
    try:
        if follow:
            os.chown(target, st.st_uid, st.st_gid)
        else:
            os.chown(target, st.st_uid, st.st_gid, follow_symlinks=False)
        return 0o7777
    except OSError as e:
        if e.errno not in (errno.EPERM, errno.EINVAL):
            raise
        return 0o1777
def xattrs(src, dst):
    # Extended attributes (ACLs, labels) where both file systems take them, as cp -a.
    try:
        names = os.listxattr(src, follow_symlinks=False)
    except OSError:
        return
    for name in names:
        try:
            os.setxattr(dst, name, os.getxattr(src, name, follow_symlinks=False),
                        follow_symlinks=False)
        except OSError:
            pass
def attrs(src, dst, st):
    if stat.S_ISLNK(st.st_mode):
        owner(dst, st, follow=False)
    else:
        mask = owner(dst, st)
        xattrs(src, dst)
        os.chmod(dst, stat.S_IMODE(st.st_mode) & mask)
    os.utime(dst, ns=(st.st_atime_ns, st.st_mtime_ns), follow_symlinks=False)
def copy_file(src, dst):
    # The source is read once: those bytes are hashed and written to the copy.
    fin = os.open(src, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        st = os.fstat(fin)
        if not stat.S_ISREG(st.st_mode):
            raise OSError(errno.EINVAL, "not a regular file", src)
        fout = os.open(dst, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW
                       | os.O_CLOEXEC, 0o600)
        try:
            h = hashlib.sha256()
            while True:
                block = os.read(fin, 1 << 20)
                if not block:
                    break
                h.update(block)
                view = memoryview(block)
                while view:
                    view = view[os.write(fout, view):]
            mask = owner(fout, st)
            xattrs(src, dst)
            os.fchmod(fout, stat.S_IMODE(st.st_mode) & mask)
            os.utime(fout, ns=(st.st_atime_ns, st.st_mtime_ns))
        finally:
            os.close(fout)
    finally:
        os.close(fin)
    return h.hexdigest().encode()
failed, source_sums, dirs, jobs, links = {}, [[] for _ in tops], [], [], []
def fail(k, e):
    failed.setdefault(k, ("%s" % e).encode("utf-8", "replace"))
def plan(k, top, copy):
    # The tree as lstat sees it: folders made now (their attributes set last, bottom up),
    # links as links, regular files for the copiers (a hard link once), anything else by cp.
    seen = {}
    def entry(src, dst, name, st):
        if stat.S_ISDIR(st.st_mode):
            os.mkdir(dst, 0o700)
            dirs.append((k, src, dst, st))
            with os.scandir(src) as it:
                children = [(e.name, e.stat(follow_symlinks=False)) for e in it]
            for child, cst in children:
                entry(os.path.join(src, child), os.path.join(dst, child),
                      child if name is None else name + b"/" + child, cst)
        elif stat.S_ISREG(st.st_mode):
            key = (st.st_dev, st.st_ino)
            if st.st_nlink > 1 and key in seen:
                links.append((k, name, seen[key], dst))
            else:
                seen[key] = dst
                jobs.append((k, name, src, dst))
        elif stat.S_ISLNK(st.st_mode):
            os.symlink(os.readlink(src), dst)
            attrs(src, dst, st)
        else:
            done = subprocess.run(["cp", "-a", "--no-dereference", "--", src, dst],
                                  stderr=subprocess.PIPE)
            if done.returncode:
                raise OSError(done.stderr.decode("utf-8", "replace").strip())
    entry(top, copy, None, os.lstat(top))
for k, (top, copy) in enumerate(zip(tops, copies)):
    try:
        plan(k, top, copy)
    except OSError as e:
        fail(k, e)
sums, todo, lock = {}, iter(jobs), threading.Lock()
def copier():
    while True:
        with lock:
            job = next(todo, None)
        if job is None:
            return
        k, name, src, dst = job
        if k in failed:
            continue
        try:
            sums[dst] = copy_file(src, dst)
            source_sums[k].append((name, sums[dst]))
        except OSError as e:
            fail(k, e)
threads = [threading.Thread(target=copier) for _ in range(max(1, min(workers, len(jobs))))]
for t in threads:
    t.start()
for t in threads:
    t.join()
for k, name, first, dst in links:
    if k not in failed:
        try:
            os.link(first, dst)
            source_sums[k].append((name, sums[first]))
        except (OSError, KeyError) as e:
            fail(k, e)
for k, src, dst, st in reversed(dirs):
    if k not in failed:
        try:
            attrs(src, dst, st)
        except OSError as e:
            fail(k, e)
err = sys.stderr.buffer
for k in sorted(failed):
    err.write(failed[k] + b"\ncapacity: copy %d failed\n" % (k + 1))
    try:
        if os.path.isdir(copies[k]) and not os.path.islink(copies[k]):
            shutil.rmtree(copies[k])
        elif os.path.lexists(copies[k]):
            os.unlink(copies[k])
    except OSError as e:
        err.write(("%s\n" % e).encode("utf-8", "replace"))
err.flush()
# Flush the copies' file system while they are read back and hashed: both see the same
# page cache, so the flush writes exactly what is hashed, and fails loudly if it cannot.
flushed = []
def flusher():
    try:
        fd = os.open(flush, os.O_RDONLY | os.O_CLOEXEC)
        try:
            syncfs = getattr(ctypes.CDLL(None, use_errno=True), "syncfs", None)
            if syncfs is not None:
                flushed.append(syncfs(fd) == 0)
            else:
                flushed.append(subprocess.run(["sync", "-f", "--", flush]).returncode == 0)
        finally:
            os.close(fd)
    except OSError:
        flushed.append(False)
flushing = threading.Thread(target=flusher)
flushing.start()
made = [c for k, c in enumerate(copies) if k not in failed]
copied = dict(zip(made, hash_groups(made, workers)))
flushing.join()
if flushed != [True]:
    sys.exit(3)
out = sys.stdout.buffer
for k, top in enumerate(tops):
    write_group(out, b"copy failed: " + failed[k] if k in failed else [
        (top if name is None else b"./" + name, digest) for name, digest in source_sums[k]])
for k, copy in enumerate(copies):
    write_group(out, b"copy failed: " + failed[k] if k in failed else copied[copy])
"""
"""Copy each of argv[4 .. 4 + n) to argv[4 + n .. 4 + 2n) as ``cp -a --no-dereference``
does (mode, owner where allowed, timestamps, extended attributes, hard links within a
tree, links as links), argv[1] files at a time, in one interpreter: each source file is
read once and those bytes are hashed as they are written.  Then flush the file system
holding argv[2] (syncfs, exit 3 if it fails) while every copy is read back and hashed.
Prints the sources' groups, then the copies'; a copy that failed is removed, its groups
say so and stderr names it (``capacity: copy K failed``)."""

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
                  workers: int = 0, in_interpreter: bool = False) -> list[str]:
    """Copy and hash a batch of trees in one round trip: copy each source to its new copy
    path (``cp -a``, or ``rsync --bwlimit``), ``in_flight`` at a time, then flush the
    filesystem holding ``flush`` while hashing every copy (both see the same page cache:
    the flush writes exactly what is hashed, and fails loudly if it cannot); meanwhile hash
    every source, which the copies read too.  The halves keep the host's cores busy: a
    single large file hashes on one core only.  A copy that fails is removed (its group
    fails) and named on stderr (``capacity: copy K failed``, K from 1).  Prints the
    sources' groups, then the copies' (kept in ``sums_file``, a scratch file of the
    caller's); exits :data:`COPY_FAILED` when the flush fails.

    ``in_interpreter`` (no bandwidth limit, a host with ``python3``): the whole batch is
    copied by the hashing interpreter instead (:data:`COPY_PY`), with no process per unit:
    each source file read once, hashed and written, the copies flushed and read back and
    hashed as above.  Elsewhere it is the ``cp -a`` loop."""
    sources = [s for s, _ in pairs]
    copies = [c for _, c in pairs]
    how = "cp" if bandwidth_kbps is None else str(max(1, bandwidth_kbps))
    copy_one = ('if [ "$how" = cp ]; then cp -a --no-dereference -- "$s" "$c"; '
                'elif [ -d "$s" ]; then rsync -a --bwlimit="$how" -- "$s/" "$c/"; '
                'else rsync -a --bwlimit="$how" -- "$s" "$c"; fi')
    if in_interpreter and bandwidth_kbps is None:
        how = "py"
    script = ('hash_py=$1; copy_py=$2; how=$3; flush=$4; sums=$5; n=$6; shift 6; '
              + _RECORD_GROUP + _HASH_FUNCTION
              + 'if [ "$how" = py ]; then if [ -n "$py" ]; then '
              f'"$py" -I -S -c "$copy_py" {workers} "$flush" "$n" "$@"; exit $?; fi; '
              'how=cp; fi; '
              '{ _k=1; while [ $_k -le $n ]; do '
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
    return ["setsid", "-w", "sh", "-c", script, "sh", HASH_PY,
            COPY_PY if how == "py" else "", how, flush, sums_file,
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
