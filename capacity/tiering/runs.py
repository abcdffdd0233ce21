"""Running the engine over hosts: each host under its lock, a failing host never stopping the
others, every host key trusted on first use said and audited; and, after an apply, what the
catalogue forgets."""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Callable, Collection, Iterator

from capacity.model import Inventory
from capacity.tiering import journal as J
from capacity.tiering.apply import Engine, HostReport, Options
from capacity.tiering.audit import AuditLog
from capacity.tiering.catalog import Catalogue
from capacity.tiering.hosts import connect
from capacity.tiering.journal import Journal
from capacity.tiering.lock import LockHeld, host_lock
from capacity.tiering.planfile import Plan
from capacity.tiering.state import StateDir
from capacity.transports import HostKeyTrusted, TransportError

#: Told of each host key trusted on first use (the CLI prints it as a warning).
KeyTrusted = Callable[[HostKeyTrusted], None]


def run_hosts(inventory: Inventory, hosts: list[str], state: StateDir, trust: bool,
              options: Options, work: Callable[[Engine], HostReport],
              key_trusted: KeyTrusted) -> list[HostReport]:
    """Run ``work(engine)`` on each host under its lock, as :func:`run_each` says."""
    def one(name: str, journal: Journal, audit: AuditLog) -> HostReport:
        with _host_keys_reported(audit, name, key_trusted):
            transport = connect(inventory.hosts[name], trust_on_first_use=trust)
            with host_lock(transport, name, state.locks, inventory.hosts[name].lock):
                return work(Engine(inventory, name, transport, journal, audit, options))

    return run_each(hosts, inventory.hosts, state, one)


def run_each(names: list[str], known: Collection[str], state: StateDir,
             one: Callable[[str, Journal, AuditLog], HostReport]) -> list[HostReport]:
    """``one(name, journal, audit)`` for each host or array (it connects and locks), a
    report for each in order; one that is not ``known`` to the inventory, cannot be reached
    or is locked gets a failed report, and the others still run."""
    reports = []
    journal = Journal(state.journal)
    audit = AuditLog(state.audit)
    try:
        for name in names:
            if name not in known:
                reports.append(HostReport(name, failed=1, stopped="not in the inventory"))
                continue
            try:
                reports.append(one(name, journal, audit))
            except (TransportError, LockHeld) as exc:
                reports.append(HostReport(name, stopped=f"{type(exc).__name__}: {exc}"
                                          " (run `capacity tier resume` when it is back)",
                                          failed=1))
    finally:
        journal.close()
        audit.close()
    return reports


@contextlib.contextmanager
def _host_keys_reported(audit: AuditLog, host: str, key_trusted: KeyTrusted) -> Iterator[None]:
    """Every host key trusted on first use is told to ``key_trusted`` and written to the
    audit log, never silently; other warnings are shown as usual."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", HostKeyTrusted)
        try:
            yield
        finally:
            for w in caught:
                if isinstance(w.message, HostKeyTrusted):
                    key = w.message
                    key_trusted(key)
                    audit.write(host=host, step="host-key-trusted", key_type=key.key_type,
                                fingerprint=key.fingerprint, known_hosts=key.known_hosts)
                else:
                    warnings.showwarning(w.message, w.category, w.filename, w.lineno)


def forget_moved(state: StateDir, plan: Plan) -> None:
    """Entries the engine moved or deleted leave the catalogue until the next scan."""
    journal = Journal(state.journal)
    try:
        done = {u.id: u for u in plan.units if u.files and (row := journal.get(u.id)) and
                row.state == J.DONE}
    finally:
        journal.close()
    if not done or not state.catalogue.exists():
        return
    with Catalogue(state.catalogue) as catalogue:
        for unit in done.values():
            catalogue.forget(unit.host, unit.source, [f.path for f in unit.files])
