"""The VSP REST driver against the contract server of the documented API (over HTTPS with
its own CA).  Sizes are checked by closed-form arithmetic from the documented units (pool MB
= 2**20 bytes, parity-group GB = 2**30, blocks of 512); sessions by the server's count of
the sessions still open, after every call, errors included."""

from __future__ import annotations

import os
import socket
from collections.abc import Callable
from pathlib import Path

import pytest

from capacity.errors import BadInput
from capacity.transports import vsp as driver
from capacity.transports.base import CommandTimeout, ConnectionLost, TransportError
from capacity.transports.vsp import (
    ArrayBusy,
    ArrayJobFailed,
    ArrayJobTimeout,
    ArrayRefused,
    CertificateRefused,
    Credentials,
    CredentialsRefused,
    LoginRefused,
    RequestOutcomeUnknown,
    Retry,
    SessionRefused,
    VspClient,
    credentials,
    read_credentials_file,
)
from tests.pki import TestPki
from tests.vsp_contract import (
    PASSWORD,
    ROOT,
    STORAGE_DEVICE_ID,
    USER,
    ContractServer,
    serve,
)

TIB = 2**40
FAST = Retry(attempts=4, first=0.01, factor=2.0, longest=0.05)


def client(server: ContractServer, **options: object) -> VspClient:
    options.setdefault("ca_bundle", server.pki.ca)
    options.setdefault("retry", FAST)
    options.setdefault("poll_interval", 0.01)
    return VspClient(server.endpoint, Credentials(USER, PASSWORD), **options)  # type: ignore[arg-type]


def assert_no_session_left(server: ContractServer) -> None:
    assert server.state.open_sessions == 0
    counts = server.state.counts
    assert counts.sessions_created == counts.sessions_deleted


# --------------------------------------------------------------------------- reading


def test_pools_in_integer_bytes_from_mib(vsp: ContractServer) -> None:
    with client(vsp) as array:
        pools = {p.name: p for p in array.pools()}
    hdt = pools["pacs-hdt"]
    # totalPoolCapacity 1,200,095,232 MB x 2**20 = 1,144.5 TiB; available 348,127,232 MB =
    # 332 TiB; used the difference, 812.5 TiB
    assert (hdt.total_bytes, hdt.available_bytes, hdt.used_bytes) == (
        2289 * TIB // 2, 332 * TIB, 1625 * TIB // 2)
    assert (hdt.type, hdt.used_ratio, hdt.warning_ratio, hdt.depletion_ratio) == (
        "HDT", 0.71, 0.70, 0.80)
    assert [(t.number, t.total_bytes, t.used_bytes) for t in hdt.tiers] == [
        (1, 49 * TIB // 2, 20 * TIB), (2, 1120 * TIB, 1585 * TIB // 2)]
    assert pools["vm-hdp"].total_bytes == 13 * TIB and pools["vm-hdp"].tiers == ()
    assert all(isinstance(p.total_bytes, int) for p in pools.values())
    assert_no_session_left(vsp)


def test_a_capacity_past_float_precision_stays_exact(vsp: ContractServer) -> None:
    vsp.state.objects["pools"][1]["totalPoolCapacity"] = 2**53 + 1
    with client(vsp) as array:
        pool = next(p for p in array.pools() if p.pool_id == 1)
    assert pool.total_bytes == (2**53 + 1) * 1024 * 1024
    assert pool.total_bytes != int(float(2**53 + 1) * 2**20)  # what a float would give


def test_parity_groups_in_gib_and_ldevs_in_blocks(vsp: ContractServer) -> None:
    with client(vsp) as array:
        groups = {g.group_id: g for g in array.parity_groups()}
        ldevs = {d.ldev_id: d for d in array.ldevs()}
    assert groups["2-3"].total_bytes == 224 * TIB  # 229,376 GB x 2**30
    assert (groups["2-3"].raid_type, groups["2-3"].drive_type_name) == ("14D+2P", "NLSAS")
    archive = ldevs[0x200]
    assert (archive.capacity_bytes, archive.used_bytes) == (40 * TIB, 31 * TIB)
    assert (archive.pool_id, archive.tier_level, archive.is_relocation_enabled) == (0, "all",
                                                                                     True)
    assert ldevs[0x101].is_pool_volume and ldevs[0x101].parity_group_ids == ("2-1",)
    assert len(ldevs) == 9


def test_ldevs_are_read_page_by_page(vsp: ContractServer,
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(driver, "LDEV_PAGE", 2)
    with client(vsp) as array:
        ids = [d.ldev_id for d in array.ldevs()]
        one_pool = [d.ldev_id for d in array.ldevs(pool_id=1)]
    every = sorted(d["ldevId"] for d in vsp.state.objects["ldevs"])
    assert ids == every
    assert one_pool == sorted(d["ldevId"] for d in vsp.state.objects["ldevs"]
                              if d["poolId"] == 1)
    assert sum("ldevs" in r for r in vsp.state.counts.requests) == 5 + 2  # 9 by 2; 2 by 2


def test_parity_groups_by_tier(vsp: ContractServer) -> None:
    with client(vsp) as array:
        state = array.read()
    hdt, hdp = state.pools
    by_tier = {n: [g.group_id for g in groups]
               for n, groups in state.tier_parity_groups(hdt).items()}
    assert by_tier == {1: ["1-1"], 2: ["2-1", "2-2", "2-3", "2-4", "2-5"]}
    assert [g.group_id for g in state.tier_parity_groups(hdp)[1]] == ["3-1"]


def test_tiers_that_do_not_name_their_drives_are_ranked(vsp: ContractServer) -> None:
    for tier in vsp.state.objects["pools"][0]["tiers"]:
        del tier["driveTypeName"], tier["driveSpeed"]
    with client(vsp) as array:
        state = array.read()
    assert {n: len(g) for n, g in state.tier_parity_groups(state.pools[0]).items()} == {
        1: 1, 2: 5}


def test_a_storage_device_id_scopes_every_request(vsp: ContractServer) -> None:
    with client(vsp, storage_device_id=STORAGE_DEVICE_ID) as array:
        assert len(array.pools()) == 2
    assert all(f"/objects/storages/{STORAGE_DEVICE_ID}/" in r for r in vsp.state.counts.requests)
    with pytest.raises(ArrayRefused, match="404"), client(vsp, storage_device_id="886000999999"):
        pass
    assert_no_session_left(vsp)


# --------------------------------------------------------------------------- sessions


def test_the_session_is_deleted_when_the_block_raises(vsp: ContractServer) -> None:
    with pytest.raises(RuntimeError), client(vsp) as array:
        array.pools()
        assert vsp.state.open_sessions == 1
        raise RuntimeError("boom")
    assert_no_session_left(vsp)


def test_the_session_is_deleted_after_an_array_refusal(vsp: ContractServer) -> None:
    with pytest.raises(ArrayRefused, match="LDEV 999 does not exist"), client(vsp) as array:
        array.set_tiering_policy(999, 3)
    assert_no_session_left(vsp)


def test_one_session_serves_every_call(vsp: ContractServer) -> None:
    with client(vsp) as array:
        array.read()
        array.set_tiering_policy(0x200, 2)
    assert vsp.state.counts.sessions_created == 1
    assert_no_session_left(vsp)


def test_session_exhaustion_is_retried_with_backoff_then_succeeds(
        vsp: ContractServer) -> None:
    vsp.state.session_limit = 1
    holder = client(vsp)
    holder.open()
    waits: list[float] = []

    def sleep(seconds: float) -> None:
        waits.append(seconds)
        if len(waits) == 2:  # another client lets its session go while we back off
            holder.close()

    with client(vsp, sleep=sleep) as array:
        assert len(array.pools()) == 2
    assert waits == [0.01, 0.02]
    assert vsp.state.counts.session_refusals == 2
    assert_no_session_left(vsp)


def test_session_exhaustion_that_lasts_is_a_clear_error(vsp: ContractServer) -> None:
    vsp.state.session_limit = 1
    with client(vsp) as holder:
        waits: list[float] = []
        with pytest.raises(ArrayBusy, match="503 4 times") as caught, client(
                vsp, sleep=waits.append):
            pass
        assert "session" in str(caught.value)
        assert waits == [0.01, 0.02, 0.04]
        assert vsp.state.counts.session_refusals == 4
        assert holder.pools()  # the holder's session is untouched
    assert_no_session_left(vsp)
    assert caught.value.exit_status == 1


def test_a_busy_server_is_retried_with_backoff(vsp: ContractServer) -> None:
    waits: list[float] = []
    with client(vsp, sleep=waits.append) as array:
        vsp.state.busy = 3
        assert len(array.parity_groups()) == 7
    assert waits == [0.01, 0.02, 0.04]
    assert vsp.state.counts.busy_answers == 3
    assert_no_session_left(vsp)


def test_backoff_never_waits_longer_than_its_cap() -> None:
    assert list(Retry(attempts=6, first=1, factor=3, longest=10).delays()) == [1, 3, 9, 10, 10]


def test_busy_past_every_retry_raises_and_still_deletes_the_session(
        vsp: ContractServer) -> None:
    with pytest.raises(ArrayBusy, match="busy"), client(vsp, sleep=lambda s: None) as array:
        vsp.state.busy = FAST.attempts + 1  # the read's tries, and one of the delete's
        array.pools()
    assert_no_session_left(vsp)


# --------------------------------------------------------------------------- jobs


def test_a_job_is_polled_until_it_completes(vsp: ContractServer) -> None:
    vsp.state.job_polls = 3
    with client(vsp) as array:
        job = array.set_tiering_policy(0x200, 4)
    assert (job.status, job.state) == ("Completed", "Succeeded")
    assert job.affected_resources == ("/ConfigurationManager/v1/objects/ldevs/512",)
    assert vsp.state.counts.job_polls == 3
    archive = next(d for d in vsp.state.objects["ldevs"] if d["ldevId"] == 0x200)
    assert archive["tierLevel"] == "4"


def test_relocation_is_a_job(vsp: ContractServer) -> None:
    with client(vsp) as array:
        assert array.relocation(0, start=True).state == "Succeeded"
    assert "POST /ConfigurationManager/v1/objects/pools/0/actions/relocate/invoke" in (
        vsp.state.counts.requests)


def test_a_failed_job_raises_with_the_arrays_reason(vsp: ContractServer) -> None:
    with pytest.raises(ArrayJobFailed) as caught, client(vsp) as array:
        array.set_tiering_policy(0x201, 3)  # an HDP volume: no tiers
    assert "not on a Dynamic Tiering pool" in str(caught.value)
    assert caught.value.message_id == "KART40046-E" and caught.value.job.state == "Failed"
    assert_no_session_left(vsp)


def test_a_job_that_never_completes_times_out(vsp: ContractServer) -> None:
    vsp.state.job_polls = None
    with pytest.raises(ArrayJobTimeout, match=r"not completed after 0\.2 s") as caught, client(
            vsp, job_timeout=0.2) as array:
        array.set_tiering_policy(0x200, 3)
    assert isinstance(caught.value, CommandTimeout) and isinstance(caught.value, TimeoutError)
    assert vsp.state.counts.job_polls >= 2
    assert_no_session_left(vsp)


def test_a_tiering_policy_out_of_range_is_refused_before_any_request(
        vsp: ContractServer) -> None:
    with client(vsp) as array, pytest.raises(BadInput, match="0-31"):
        array.set_tiering_policy(0x200, 32)
    assert not any("PATCH" in r for r in vsp.state.counts.requests)


# --------------------------------------------------------------------------- TLS


def test_an_untrusted_certificate_is_refused(vsp: ContractServer) -> None:
    for bundle in (None, vsp.pki.other_ca):
        with pytest.raises(CertificateRefused, match="not trusted") as caught:
            client(vsp, ca_bundle=bundle).open()
        assert "ca_bundle" in str(caught.value) and caught.value.exit_status == 1
    assert vsp.state.counts.requests == []  # nothing, credentials included, was sent


def test_the_ca_bundle_makes_the_certificate_trusted(vsp: ContractServer) -> None:
    with client(vsp, ca_bundle=vsp.pki.ca) as array:
        assert array.pools()


def self_signed(folder: Path, names: list[str], *, expired: bool = False) -> TestPki:
    """A certificate that signs itself, as an array's REST server has out of the box (no
    CA of its own): its own bundle."""
    import datetime as dt
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = dt.datetime.now(dt.UTC)
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])])
    alt: list[x509.GeneralName] = [
        x509.IPAddress(ipaddress.ip_address(n)) if n[0].isdigit() else x509.DNSName(n)
        for n in names]
    until = now - dt.timedelta(days=1) if expired else now + dt.timedelta(days=2)
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=30)).not_valid_after(until)
            .add_extension(x509.SubjectAlternativeName(alt), critical=False)
            .sign(key, hashes.SHA256()))
    folder.mkdir(exist_ok=True)
    pem = serialization.Encoding.PEM
    (folder / "cert.pem").write_bytes(cert.public_bytes(pem))
    (folder / "key.pem").write_bytes(key.private_bytes(pem, serialization.PrivateFormat.PKCS8,
                                                       serialization.NoEncryption()))
    return TestPki(folder / "cert.pem", folder / "cert.pem", folder / "cert.pem",
                   folder / "key.pem")


def test_an_arrays_self_signed_certificate_is_its_own_bundle(tmp_path: Path) -> None:
    with serve(self_signed(tmp_path / "own", ["127.0.0.1"])) as array, client(array) as c:
        assert c.pools()


@pytest.mark.parametrize(("names", "expired", "reason"), [
    (["vsp-g900-main.mgmt.example"], False, "IP address mismatch"),
    (["127.0.0.1"], True, "certificate has expired"),
])
def test_a_certificate_for_another_name_or_expired_is_refused(
        tmp_path: Path, names: list[str], expired: bool, reason: str) -> None:
    with serve(self_signed(tmp_path / "bad", names, expired=expired)) as array:
        with pytest.raises(CertificateRefused, match=reason):
            client(array).open()
        assert array.state.counts.requests == []


def test_http_is_refused() -> None:
    with pytest.raises(BadInput, match="https"):
        VspClient("http://127.0.0.1:1", Credentials("u", "p"))


def test_an_unreachable_array_is_retried_then_a_clear_error(vsp: ContractServer) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    waits: list[float] = []
    with pytest.raises(ConnectionLost) as caught:
        VspClient(f"https://127.0.0.1:{port}", Credentials(USER, PASSWORD),
                  ca_bundle=vsp.pki.ca, retry=FAST, sleep=waits.append).open()
    assert waits == [0.01, 0.02, 0.04]
    assert str(caught.value).startswith(
        f"127.0.0.1:{port}: POST /ConfigurationManager/v1/objects/sessions: connection refused")
    assert "(4 attempts over 0.07 s)" in str(caught.value)
    assert caught.value.exit_status == 1 and not isinstance(caught.value, RequestOutcomeUnknown)


# --------------------------------------------------------------------------- credentials


def test_wrong_credentials_are_bad_input_without_the_password(vsp: ContractServer) -> None:
    with pytest.raises(LoginRefused) as caught:
        VspClient(vsp.endpoint, Credentials(USER, "wrong-password"), ca_bundle=vsp.pki.ca,
                  retry=FAST).open()
    assert caught.value.exit_status == 2 and isinstance(caught.value, TransportError)
    assert USER in str(caught.value) and "wrong-password" not in str(caught.value)
    assert "401" in str(caught.value)
    assert vsp.state.open_sessions == 0


def test_a_credentials_file_readable_by_others_is_refused(credentials_file: Path) -> None:
    credentials_file.chmod(0o644)
    with pytest.raises(CredentialsRefused) as caught:
        read_credentials_file(credentials_file)
    text = str(caught.value)
    assert text.startswith(f"{credentials_file}: ") and "0644" in text
    assert f"chmod 600 {credentials_file}" in text and caught.value.exit_status == 2
    credentials_file.chmod(0o640)
    with pytest.raises(CredentialsRefused, match="0640"):
        read_credentials_file(credentials_file)


def test_a_0600_credentials_file_is_read(credentials_file: Path) -> None:
    assert read_credentials_file(credentials_file) == Credentials(USER, PASSWORD)
    assert PASSWORD not in repr(read_credentials_file(credentials_file))


def test_a_credentials_file_in_another_shape_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "creds"
    path.write_text("just-a-user\n", encoding="utf-8")
    path.chmod(0o600)
    with pytest.raises(CredentialsRefused, match=r":1: .*USER:PASSWORD"):
        read_credentials_file(path)
    with pytest.raises(CredentialsRefused, match="cannot read"):
        read_credentials_file(tmp_path / "missing")


def test_credentials_from_the_environment(credentials_file: Path) -> None:
    env = {driver.ENV_USER: "u", driver.ENV_PASSWORD: "p"}
    assert credentials(env=env) == Credentials("u", "p")
    assert credentials(env={driver.ENV_FILE: str(credentials_file)}) == Credentials(USER,
                                                                                  PASSWORD)
    assert credentials(credentials_file, env=env) == Credentials(USER, PASSWORD)
    with pytest.raises(CredentialsRefused, match=driver.ENV_PASSWORD):
        credentials(env={driver.ENV_USER: "u"})
    with pytest.raises(CredentialsRefused, match="no credentials"):
        credentials(env={})


def test_a_symlinked_credentials_file_is_not_followed(credentials_file: Path,
                                                      tmp_path: Path) -> None:
    link = tmp_path / "link"
    os.symlink(credentials_file, link)
    with pytest.raises(CredentialsRefused, match="cannot read"):
        read_credentials_file(link)


# --------------------------------------------------------------------------- a network that fails

POOLS = f"GET {ROOT}/pools"


def sent(server: ContractServer, line: str) -> int:
    """How many requests ``METHOD path`` the server read."""
    return server.state.counts.requests.count(line)


def test_connections_reset_before_anything_is_sent_are_retried_for_every_method(
        vsp: ContractServer) -> None:
    waits: list[float] = []
    vsp.state.reset_connections = 2  # the session's POST meets them
    with client(vsp, sleep=waits.append) as array:
        assert waits == [0.01, 0.02]
        vsp.state.reset_connections = 3  # and now the PATCH that starts a job
        job = array.set_tiering_policy(0x200, 5)
    # backoff for the session, backoff for the PATCH, then the job's one poll interval
    assert job.state == "Succeeded" and waits == [0.01, 0.02, 0.01, 0.02, 0.04, 0.01]
    assert vsp.state.counts.connections_reset == 5
    assert sent(vsp, f"PATCH {ROOT}/ldevs/512") == 1 and len(vsp.state.jobs) == 1
    assert_no_session_left(vsp)


def test_a_get_whose_connection_drops_after_it_was_sent_is_sent_again(
        vsp: ContractServer) -> None:
    vsp.state.reset_requests, vsp.state.fault_match = 2, POOLS
    with client(vsp) as array:
        assert len(array.pools()) == 2
    assert sent(vsp, POOLS) == 3 and vsp.state.counts.requests_reset == 2
    assert_no_session_left(vsp)


@pytest.mark.parametrize(("change", "line"), [
    (lambda array: array.set_tiering_policy(0x200, 2), f"PATCH {ROOT}/ldevs/512"),
    (lambda array: array.relocation(0, start=True),
     f"POST {ROOT}/pools/0/actions/relocate/invoke"),
])
def test_a_change_whose_connection_drops_after_it_was_sent_is_never_sent_again(
        vsp: ContractServer, change: Callable[[VspClient], object], line: str) -> None:
    vsp.state.reset_requests, vsp.state.fault_match = 1, line
    waits: list[float] = []
    with pytest.raises(RequestOutcomeUnknown) as caught, client(
            vsp, sleep=waits.append) as array:
        change(array)
    # the array did start the job: sending the request again would have started a second
    assert sent(vsp, line) == 1 and len(vsp.state.jobs) == 1 and waits == []
    text = str(caught.value)
    assert text.startswith(f"127.0.0.1:{vsp.endpoint.rsplit(':', 1)[1]}: {line}: the connection")
    assert "not sent again" in text and "jobs" in text and caught.value.exit_status == 1
    assert (caught.value.method, caught.value.path) == tuple(line.split(" "))
    assert_no_session_left(vsp)


def test_a_read_that_times_out_is_sent_again(vsp: ContractServer) -> None:
    line = f"GET {ROOT}/parity-groups"
    vsp.state.stall_requests, vsp.state.stall_seconds, vsp.state.fault_match = 1, 1.0, line
    with client(vsp, timeout=0.2) as array:
        assert len(array.parity_groups()) == 7
    assert sent(vsp, line) == 2 and vsp.state.counts.requests_stalled == 1


def test_a_change_that_times_out_is_never_sent_again(vsp: ContractServer) -> None:
    line = f"PATCH {ROOT}/ldevs/512"
    vsp.state.stall_requests, vsp.state.stall_seconds, vsp.state.fault_match = 1, 0.5, line
    with pytest.raises(RequestOutcomeUnknown, match=r"no answer within 0\.2 s after the"
                       " request was sent"), client(vsp, timeout=0.2) as array:
        array.set_tiering_policy(0x200, 2)
    assert sent(vsp, line) == 1 and vsp.state.counts.requests_stalled == 1


def test_a_job_poll_that_drops_is_sent_again(vsp: ContractServer) -> None:
    vsp.state.job_polls = 2
    vsp.state.reset_requests, vsp.state.fault_match = 1, f"GET {ROOT}/jobs/"
    with client(vsp) as array:
        assert array.set_tiering_policy(0x200, 3).state == "Succeeded"
    # the first poll was answered and its answer lost; the second found the job completed
    assert vsp.state.counts.requests_reset == 1 and sent(vsp, f"GET {ROOT}/jobs/1000") == 2
    assert_no_session_left(vsp)


def test_a_job_poll_past_every_retry_says_the_job_may_still_run(vsp: ContractServer) -> None:
    vsp.state.job_polls = None
    vsp.state.reset_requests = FAST.attempts
    vsp.state.fault_match = f"GET {ROOT}/jobs/"
    with pytest.raises(ConnectionLost, match=r"4 attempts .*job 1000 \(PATCH .*may still"
                       " run on the array"), client(vsp) as array:
        array.set_tiering_policy(0x200, 3)
    assert_no_session_left(vsp)


def test_a_session_post_is_sent_again_and_its_lost_session_is_left_to_expire(
        vsp: ContractServer) -> None:
    line = f"POST {ROOT}/sessions"
    vsp.state.reset_requests, vsp.state.fault_match = 1, line
    with client(vsp) as array:
        assert array.pools()
    # the first session's answer was lost, so its id is unknown here: the array discards it
    # once unused for its session timeout; the one the client knows is deleted
    assert sent(vsp, line) == 2 and vsp.state.counts.sessions_created == 2
    assert vsp.state.counts.sessions_deleted == 1 and vsp.state.open_sessions == 1


def test_connection_failures_past_every_retry_name_the_host_and_what_failed(
        vsp: ContractServer) -> None:
    waits: list[float] = []
    with pytest.raises(ConnectionLost) as caught, client(vsp, sleep=waits.append) as array:
        vsp.state.reset_connections = FAST.attempts  # the DELETE after them gets through
        array.pools()
    port = vsp.endpoint.rsplit(":", 1)[1]
    assert str(caught.value) == (f"127.0.0.1:{port}: {POOLS}: the connection was reset while"
                                 " connecting (4 attempts over 0.07 s)")
    assert waits == [0.01, 0.02, 0.04] and sent(vsp, POOLS) == 0
    assert_no_session_left(vsp)


def test_a_server_that_never_answers_the_handshake_times_out_and_is_retried(
        vsp: ContractServer) -> None:
    with socket.socket() as silent:  # connections queue in its backlog, never accepted
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        port = silent.getsockname()[1]
        waits: list[float] = []
        with pytest.raises(ConnectionLost) as caught:
            VspClient(f"https://127.0.0.1:{port}", Credentials(USER, PASSWORD),
                      ca_bundle=vsp.pki.ca, retry=FAST, sleep=waits.append,
                      timeout=0.1).open()
    assert str(caught.value) == (f"127.0.0.1:{port}: POST {ROOT}/sessions: no connection"
                                 " within 0.1 s (4 attempts over 0.07 s)")
    assert waits == [0.01, 0.02, 0.04]


def test_503s_and_connection_failures_share_one_budget(vsp: ContractServer) -> None:
    waits: list[float] = []
    with pytest.raises(ArrayBusy) as caught, client(vsp, sleep=waits.append) as array:
        vsp.state.busy, vsp.state.reset_connections = 2, 2  # the resets come first
        array.pools()
    assert "answered 503 2 times (and its connection failed 2 times) over 0.07 s" in str(
        caught.value)
    assert len(waits) == FAST.attempts - 1
    assert_no_session_left(vsp)


# --------------------------------------------------------------------------- session renewal


def test_a_session_that_times_out_mid_read_is_renewed_once(vsp: ContractServer) -> None:
    vsp.state.expire_after = 2  # pools and parity groups; the LDEVs meet a 401
    with client(vsp) as array:
        state = array.read()
        assert array.sessions_renewed == 1 and array.sessions_opened == 2
    assert len(state.pools) == 2 and len(state.ldevs) == 9
    counts = vsp.state.counts
    assert (counts.sessions_created, counts.sessions_expired, counts.sessions_deleted) == (
        2, 1, 1)
    assert vsp.state.open_sessions == 0


def test_a_change_refused_for_an_old_session_is_sent_again_with_a_new_one(
        vsp: ContractServer) -> None:
    with client(vsp) as array:
        array.pools()
        vsp.state.expire_sessions()  # the array's REST server restarted
        job = array.set_tiering_policy(0x200, 1)
    assert job.state == "Succeeded" and len(vsp.state.jobs) == 1  # the 401 started nothing
    assert sent(vsp, f"PATCH {ROOT}/ldevs/512") == 2
    assert next(d for d in vsp.state.objects["ldevs"] if d["ldevId"] == 0x200)["tierLevel"] == (
        "1")
    assert vsp.state.open_sessions == 0 and vsp.state.counts.sessions_created == 2


def test_a_session_lost_while_a_job_is_polled_is_renewed(vsp: ContractServer) -> None:
    vsp.state.job_polls = 3

    def sleep(seconds: float) -> None:
        if vsp.state.counts.job_polls == 1:
            vsp.state.expire_sessions()

    with client(vsp, sleep=sleep) as array:
        assert array.set_tiering_policy(0x200, 3).state == "Succeeded"
        assert array.sessions_renewed == 1
    assert vsp.state.open_sessions == 0


def test_renewal_is_tried_once_never_in_a_loop(vsp: ContractServer) -> None:
    vsp.state.expire_after = 0  # every token refused at once
    with pytest.raises(SessionRefused, match="refused a new session's token too") as caught, \
            client(vsp) as array:
        array.pools()
    assert caught.value.exit_status == 1 and caught.value.status == 401
    assert vsp.state.counts.sessions_created == 2 and sent(vsp, POOLS) == 2
    assert vsp.state.open_sessions == 0


def test_a_renewal_with_a_password_changed_meanwhile_is_wrong_credentials(
        vsp: ContractServer) -> None:
    with pytest.raises(LoginRefused, match=f"refused the user {USER!r}") as caught, client(
            vsp) as array:
        vsp.state.users[USER] = "changed"
        vsp.state.expire_sessions()
        array.pools()
    assert caught.value.exit_status == 2 and vsp.state.open_sessions == 0


def test_a_session_gone_before_it_is_deleted_ends_quietly(vsp: ContractServer) -> None:
    with client(vsp) as array:
        array.pools()
        vsp.state.expire_sessions()
    assert vsp.state.counts.sessions_deleted == 0 and vsp.state.open_sessions == 0
