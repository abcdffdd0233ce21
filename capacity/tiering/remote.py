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
top, workers = os.fsencode(sys.argv[1]), int(sys.argv[2]) or os.cpu_count() or 1
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
st = os.lstat(top)
if stat.S_ISDIR(st.st_mode):
    names = []
    for folder, dirs, files in os.walk(top, onerror=lambda e: sys.exit("hash: %s" % e)):
        rel = os.path.relpath(folder, top)
        for name in files:
            if stat.S_ISREG(os.lstat(os.path.join(folder, name)).st_mode):
                names.append(os.path.normpath(os.path.join(rel, name)))
    paths = [os.path.join(top, n) for n in names]
    names = [b"./" + n for n in names]
else:
    names, paths = [top], [top]
sums = [None] * len(paths)
todo = iter(range(len(paths)))
lock = threading.Lock()
def work():
    while True:
        with lock:
            i = next(todo, None)
        if i is None:
            return
        sums[i] = digest(paths[i])
threads = [threading.Thread(target=work) for _ in range(max(1, min(workers, len(paths))))]
for t in threads:
    t.start()
for t in threads:
    t.join()
if None in sums:
    sys.exit("hash: a file could not be read")
out = sys.stdout.buffer
for name, hexdigest in zip(names, sums):
    out.write(hexdigest + b"  " + name + b"\0")
"""
"""sha256 of every regular file under argv[1] (or of argv[1]), argv[2] files at a time
(0: as many as the host has cores).  Only the standard library, and Python 3.6 will do
(RHEL 8's platform-python)."""

_HASH_FUNCTION = (
    # The system's interpreter first: it starts in 20 ms where a pyenv or conda shim takes
    # ten times that, twice per unit.  -I -S: no user site, no PYTHON* variables.
    'py=; if [ -z "$CAPACITY_SHA256SUM" ]; then for c in /usr/bin/python3 '
    '/usr/libexec/platform-python "$(command -v python3)"; do '
    'if [ -n "$c" ] && [ -x "$c" ]; then py=$c; break; fi; done; fi; '
    # h PATH WORKERS: python if the host has it, else coreutils.
    'h() { if [ -n "$py" ]; then "$py" -I -S -c "$hash_py" "$1" "$2"; '
    'elif [ -d "$1" ]; then (cd -- "$1" && find . -type f -print0 | '
    'xargs -0 -r sha256sum -z --); else sha256sum -z -- "$1"; fi; }; ')


def hash_tree(path: str, workers: int = 0) -> list[str]:
    """The command hashing every regular file under ``path`` (or ``path`` itself)."""
    script = 'hash_py=$1; shift; ' + _HASH_FUNCTION + 'h "$1" "$2"'
    return ["sh", "-c", script, "sh", HASH_PY, path, str(workers)]


COPY_FAILED = 3
HASH_FAILED = 4


def copy_and_hash(source: str, copy_path: str, sums_file: str, copy: Sequence[str],
                  workers: int = 0) -> list[str]:
    """Copy and hash in one round trip: run the ``copy`` argv (which makes ``copy_path``),
    then flush that filesystem while hashing the copy (both see the same page cache: the
    flush writes exactly what is hashed, and fails loudly if it cannot); meanwhile hash
    ``source``, which the copy reads too.  The halves keep the host's cores busy: a single
    large file hashes on one core only.  Prints the source's sums, two NULs, the copy's
    (kept in ``sums_file``, a scratch file of the caller's); exits :data:`COPY_FAILED` or
    :data:`HASH_FAILED`."""
    script = ('hash_py=$1; src=$2; copy=$3; sums=$4; shift 4; ' + _RECORD_GROUP
              + _HASH_FUNCTION
              + f'{{ "$@" || exit {COPY_FAILED}; sync -f -- "$copy" & flushing=$!; '
              f'h "$copy" {workers} > "$sums" || exit {HASH_FAILED}; '
              f'wait $flushing || exit {COPY_FAILED}; }} & copying=$!; '
              f'h "$src" {workers} || {{ wait $copying; exit {HASH_FAILED}; }}; '
              'wait $copying || exit $?; '
              "printf '\\000\\000'; cat -- \"$sums\"")
    # setsid: the copy and its hashers are one process group of their own, which outlives
    # a controller killed mid-copy; remove_work ends that group before it removes anything.
    return ["setsid", "-w", "sh", "-c", script, "sh", HASH_PY, source, copy_path, sums_file,
            *copy]


GROUP_FILE = "copy.group"
"""In a unit's work directory: the process group copying into it, and when it started."""

# Written before the copy starts: the group's id (this shell's pid, as setsid made it the
# leader) and its start time (field 22 of /proc/PID/stat), so a later pid is not taken for it.
_RECORD_GROUP = ('read -r _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ start _ < /proc/$$/stat'
                 ' 2>/dev/null; echo "$$ $start" > "${copy%/*}/' + GROUP_FILE + '"; ')


def remove_work(work: str, work_root: str) -> list[str]:
    """Remove a unit's work directory, and the tier's work root if that leaves it empty;
    first end a copy still running into it (a controller killed mid-copy leaves it behind),
    and wait until it is gone."""
    script = (f'g="$1/{GROUP_FILE}"; if [ -f "$g" ] && read -r pid start < "$g" && '
              '[ -n "$pid" ]; then '
              # The leader's start time while it runs (a zombie has ended: nothing).
              'now() { read -r _ _ st _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ s _ < /proc/$pid/stat'
              ' 2>/dev/null && [ "$st" != Z ] && echo "$s"; }; '
              'if [ -n "$start" ] && [ "$(now)" = "$start" ]; then '
              # -s KILL: dash's kill takes no "-KILL --" (it quietly killed nothing).
              'kill -s KILL -- "-$pid" 2>/dev/null; n=0; '
              'while [ "$(now)" = "$start" ] && [ $n -lt 200 ]; do sleep 0.05; n=$((n+1)); '
              'done; fi; fi; '
              'rm -rf -- "$1"; rmdir -- "$2" 2>/dev/null; true')
    return ["sh", "-c", script, "sh", work, work_root]


def parse_pair(out: bytes) -> tuple[dict[str, str], dict[str, str]]:
    """The two sets of sums :func:`copy_and_hash` prints."""
    first, _, second = out.partition(b"\0\0")
    return parse_sums(first), parse_sums(second)


def parse_sums(out: bytes) -> dict[str, str]:
    """Hash output: 'HASH  ./path' entries ending in NUL; a single file's entry (its
    absolute path) is keyed ''."""
    sums: dict[str, str] = {}
    for entry in out.split(b"\0"):
        if not entry:
            continue
        digest, _, name = entry.partition(b"  ")
        rel = decode_path(name)
        sums[rel[2:] if rel.startswith("./") else ""] = digest.decode()
    return sums
