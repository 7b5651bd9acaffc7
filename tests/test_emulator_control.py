"""The control API (/_emulator/...), faults and --state persistence, over real HTTPS."""

from __future__ import annotations

import json
import ssl
import urllib.error
import urllib.request

import pytest


def _post_raw(emu, path, raw: bytes):
    ctx = ssl.create_default_context(cafile=emu.ca)
    req = urllib.request.Request(emu.url + path, data=raw, method="POST",
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, context=ctx, timeout=30) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def _get(emu, path, headers=None):
    ctx = ssl.create_default_context(cafile=emu.ca)
    req = urllib.request.Request(emu.url + path, headers=headers or {})
    try:
        with urllib.request.urlopen(req, context=ctx, timeout=30) as resp:
            return resp.status, dict(resp.headers), resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read()


def test_request_log_in_arrival_order_without_control_calls(emu):
    tenant = emu.env["AZURE_TENANT_ID"]
    _get(emu, f"/{tenant}/v2.0/.well-known/openid-configuration?x=1")
    _get(emu, "/graph/v1.0/notEmulatedAtAll")
    emu.state()
    log = emu.requests()
    assert log == [
        {"method": "GET", "path": f"/{tenant}/v2.0/.well-known/openid-configuration?x=1", "status": 200},
        {"method": "GET", "path": "/graph/v1.0/notEmulatedAtAll", "status": 501},
    ]
    emu.clear_requests()
    assert emu.requests() == []


def test_not_emulated_route_is_501_naming_it(emu):
    status, _, body = _get(emu, "/arm/subscriptions/x/providers/Microsoft.Storage/storageAccounts")
    err = json.loads(body)["error"]
    assert status == 501 and err["code"] == "NotImplemented"
    assert "GET /arm/subscriptions/x/providers/Microsoft.Storage/storageAccounts" in err["message"]


def test_state_dump_and_reset(emu):
    state = emu.state()
    assert state["tenant_id"] == emu.env["AZURE_TENANT_ID"]
    assert "myvm" in json.dumps(state["arm"]["resources"]).lower()
    assert state["secrets"][emu.env["AZURE_CLIENT_ID"]] == emu.env["AZURE_CLIENT_SECRET"]
    emu.reset()
    assert emu.state() == state


@pytest.mark.parametrize("body, needle", [
    (b"{not json", "not JSON"),
    (b"[1]", "JSON object"),
    (b'{"latency": 5}', "Unknown field(s) latency"),
    (b'{"latency_ms": -1}', "'latency_ms' must be an integer"),
    (b'{"fault_rate": 2}', "'fault_rate' must be a number from 0 to 1"),
    (b'{"drop_response_after_write": 0}', "'drop_response_after_write' must be an integer >= 1"),
    (b'{"replication_lag": "3"}', "'replication_lag' must be an integer"),
    (b'{"token_lifetime_s": 0}', "'token_lifetime_s' must be an integer >= 1 or null"),
])
def test_bad_faults_body_is_400_naming_the_problem(emu, body, needle):
    status, answer = _post_raw(emu, "/_emulator/faults", body)
    assert status == 400 and needle in answer["error"]["message"]


def test_faults_subset_changes_only_those(emu):
    emu.faults(latency_ms=0, replication_lag=2)
    assert emu.control("GET", "/_emulator/faults") == {
        "latency_ms": 0, "replication_lag": 2, "fault_rate": 0.0, "fault_seed": None,
        "drop_response_after_write": None, "token_lifetime_s": None}


# --- faults ------------------------------------------------------------------------------------

def _statuses(emu, n):
    return [_get(emu, f"/graph/v1.0/probe{i}")[0] for i in range(n)]


def test_fault_rate_is_deterministic_by_seed_with_retry_after(emu):
    emu.faults(fault_rate=0.5, fault_seed=7)
    first = _statuses(emu, 30)
    emu.faults(fault_seed=7)
    assert _statuses(emu, 30) == first
    assert {429, 503} <= set(first) and 501 in first      # 501: the probe route is not emulated
    status, headers, body = next(r for r in (_get(emu, f"/arm/probe{i}") for i in range(50))
                                 if r[0] == 429)
    assert headers["Retry-After"] == "1"
    assert json.loads(body)["error"]["code"] == "TooManyRequests"   # ARM shape: no innerError
    assert "innerError" not in json.loads(body)["error"]


def test_fault_rate_spares_token_and_control_requests(emu):
    emu.faults(fault_rate=1.0, fault_seed=1)
    status, _, _ = _get(emu, f"/{emu.env['AZURE_TENANT_ID']}/v2.0/.well-known/openid-configuration")
    assert status == 200
    assert set(_statuses(emu, 5)) <= {429, 503}


def test_latency_delays_every_response(emu):
    import time

    emu.faults(latency_ms=250)
    start = time.perf_counter()
    _get(emu, f"/{emu.env['AZURE_TENANT_ID']}/v2.0/.well-known/openid-configuration")
    assert time.perf_counter() - start >= 0.25
    emu.faults(latency_ms=0)
    start = time.perf_counter()
    _get(emu, f"/{emu.env['AZURE_TENANT_ID']}/v2.0/.well-known/openid-configuration")
    assert time.perf_counter() - start < 0.25


def test_sdk_sees_the_throttle_and_retries_past_it(emu):
    """Through azure-mgmt-msi: with retries off the SDK error carries the 429/503; with its default
    retry policy it honours Retry-After and gets through (fault_rate 0.5, seed chosen so the first
    ARM request is throttled and the second is not)."""
    from azure.core.exceptions import HttpResponseError

    emu.faults(fault_rate=1.0, fault_seed=3)
    with pytest.raises(HttpResponseError) as info:
        list(_msi_client(emu, retry_total=0).user_assigned_identities.list_by_resource_group(RG))
    assert info.value.status_code in (429, 503)
    assert info.value.response.headers["Retry-After"] == "1"
    seed = next(s for s in range(100) if _first_two_faults(s) == (True, False))
    emu.faults(fault_rate=0.5, fault_seed=seed)
    assert list(_msi_client(emu).user_assigned_identities.list_by_resource_group(RG)) == []
    assert [r["status"] for r in emu.requests() if r["path"].startswith("/arm/")][-2:] in (
        [429, 200], [503, 200])


def _first_two_faults(seed: int) -> tuple[bool, bool]:
    """Mirror of the fault middleware's draws: (faulted?) for the first two API requests."""
    import random

    rng = random.Random(seed)
    first = rng.random() < 0.5
    if first:
        rng.random()          # the 429-or-503 draw
    return first, rng.random() < 0.5


def test_port_in_use_is_a_clear_error(tmp_path):
    import socket
    import subprocess
    import sys

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        proc = subprocess.run([sys.executable, "-m", "entra_bootstrap", "emulator", "--port", str(port),
                               "--data-dir", str(tmp_path)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and f"127.0.0.1:{port}" in proc.stderr and "--port" in proc.stderr
    assert "Traceback" not in proc.stderr


# --- --state persistence -------------------------------------------------------------------------

def test_state_file_carries_state_and_secrets_across_restarts(tmp_path):
    from conftest import start_emulator, stop_emulator

    state_file = tmp_path / "state.json"
    first = start_emulator(tmp_path / "one", "--state", str(state_file))
    try:
        state = first.state()
        state["graph"]["applications"]["marker"] = {"id": "marker", "appId": "marker-app",
                                                    "displayName": "kept"}
        first.control("PUT", "/_emulator/state", state)
    finally:
        stop_emulator(first)
    assert json.loads(state_file.read_text())["graph"]["applications"]["marker"]["displayName"] == "kept"
    assert state_file.stat().st_mode & 0o777 == 0o600          # it holds the seeded client secrets
    second = start_emulator(tmp_path / "two", "--state", str(state_file))
    try:
        assert second.state()["graph"]["applications"]["marker"]["displayName"] == "kept"
        assert second.env["AZURE_CLIENT_SECRET"] == first.env["AZURE_CLIENT_SECRET"]
        assert second.env["EMULATOR_READER_CLIENT_SECRET"] == first.env["EMULATOR_READER_CLIENT_SECRET"]
        second.reset()
        after = second.state()
        assert "marker" not in after["graph"]["applications"]
        assert after["secrets"][second.env["AZURE_CLIENT_ID"]] == first.env["AZURE_CLIENT_SECRET"]
    finally:
        stop_emulator(second)


@pytest.mark.parametrize("content, needle", [("{broken", "is not valid JSON"),
                                             ('{"x": 1}', "is not an emulator state")])
def test_unusable_state_file_is_a_clear_error(tmp_path, content, needle):
    import subprocess
    import sys

    state_file = tmp_path / "state.json"
    state_file.write_text(content)
    proc = subprocess.run([sys.executable, "-m", "entra_bootstrap", "emulator", "--port", "0",
                           "--data-dir", str(tmp_path / "d"), "--state", str(state_file)],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert needle in proc.stderr and str(state_file) in proc.stderr
    assert "Traceback" not in proc.stderr


# --- writes through the ARM SDK: dropped responses and --state ------------------------------------

RG = "myResourceGroup"


def _msi_client(emu, **kw):
    from azure.identity import ClientSecretCredential
    from azure.mgmt.msi import ManagedServiceIdentityClient

    cred = ClientSecretCredential(emu.env["AZURE_TENANT_ID"], emu.env["AZURE_CLIENT_ID"],
                                  emu.env["AZURE_CLIENT_SECRET"], authority=emu.url,
                                  disable_instance_discovery=True, connection_verify=emu.ca)
    return ManagedServiceIdentityClient(cred, emu.env["AZURE_SUBSCRIPTION_ID"],
                                        base_url=emu.env["ENTRA_BOOTSTRAP_ARM_ENDPOINT"],
                                        connection_verify=emu.ca, polling_interval=0, **kw)


def _make_identity(emu, name, client=None):
    from azure.mgmt.msi.models import Identity

    return (client or _msi_client(emu)).user_assigned_identities.create_or_update(
        RG, name, Identity(location="eastus"))


def test_dropped_response_after_write_is_applied_but_unanswered(emu):
    from azure.core.exceptions import ServiceRequestError, ServiceResponseError

    # retry_total=0: azure-core would otherwise repeat the (idempotent) PUT after the drop.
    msi = _msi_client(emu, retry_total=0)
    _make_identity(emu, "first-uai", msi)
    emu.faults(drop_response_after_write=2)
    _make_identity(emu, "second-uai", msi)
    with pytest.raises((ServiceResponseError, ServiceRequestError)):
        _make_identity(emu, "dropped-uai", msi)
    # The write happened: a re-read finds it, and the next write is answered again (one-shot).
    assert msi.user_assigned_identities.get(RG, "dropped-uai").principal_id
    _make_identity(emu, "after-uai", msi)
    log = [r for r in emu.requests() if r["method"] == "PUT"]
    assert [r["status"] for r in log] == [201, 201, None, 201]
    assert "dropped-uai" in log[2]["path"]


def test_dropped_response_raw_client_sees_connection_closed(emu):
    import http.client
    import urllib.parse

    from azure.identity import ClientSecretCredential

    token = ClientSecretCredential(emu.env["AZURE_TENANT_ID"], emu.env["AZURE_CLIENT_ID"],
                                   emu.env["AZURE_CLIENT_SECRET"], authority=emu.url,
                                   disable_instance_discovery=True, connection_verify=emu.ca
                                   ).get_token("https://management.azure.com/.default").token
    url = urllib.parse.urlsplit(emu.url)
    conn = http.client.HTTPSConnection(url.hostname, url.port,
                                       context=ssl.create_default_context(cafile=emu.ca))
    path = (f"/arm/subscriptions/{emu.env['AZURE_SUBSCRIPTION_ID']}/resourceGroups/{RG}/providers/"
            "Microsoft.ManagedIdentity/userAssignedIdentities/raw-uai?api-version=2023-01-31")
    emu.faults(drop_response_after_write=1)
    conn.request("PUT", path, body=json.dumps({"location": "eastus"}),
                 headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    with pytest.raises((http.client.RemoteDisconnected, ConnectionResetError)):
        conn.getresponse()
    assert any(r["name"] == "raw-uai" for r in emu.state()["arm"]["resources"].values())
    assert emu.requests()[-1] == {"method": "PUT", "path": path, "status": None}


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_read_only_post_actions_are_not_writes(emu):
    """POST directoryObjects/getByIds only reads: drop_response_after_write skips it, and neither
    the emulator nor ``emu.writes()`` counts it."""
    from azure.core.exceptions import ServiceRequestError, ServiceResponseError
    from msgraph.generated.directory_objects.get_by_ids.get_by_ids_post_request_body import \
        GetByIdsPostRequestBody
    from test_emulator_graph_support import OPERATOR_SP_ID, run

    from entra_bootstrap.emulator.app import is_write

    async def get_by_ids(client):
        return (await client.directory_objects.get_by_ids.post(
            GetByIdsPostRequestBody(ids=[OPERATOR_SP_ID]))).value

    msi = _msi_client(emu, retry_total=0)
    emu.faults(drop_response_after_write=1)
    assert [o.id for o in run(emu, get_by_ids)] == [OPERATOR_SP_ID]      # answered, not counted
    assert [o.id for o in run(emu, get_by_ids)] == [OPERATOR_SP_ID]
    with pytest.raises((ServiceResponseError, ServiceRequestError)):
        _make_identity(emu, "first-write-uai", msi)                     # the 1st write is dropped
    log = emu.requests()
    reads = [r for r in log if r["path"].endswith("/directoryObjects/getByIds")]
    assert [(r["method"], r["status"]) for r in reads] == [("POST", 200), ("POST", 200)]
    assert [(r["method"], r["status"]) for r in emu.writes()] == [("PUT", None)]
    assert not is_write("POST", "/graph/v1.0/directoryObjects/getByIds?$select=id")
    assert not is_write("POST", "/graph/v1.0/DirectoryObjects/GetByIds/")
    assert is_write("POST", "/graph/v1.0/applications")
    assert not is_write("POST", "/" + emu.env["AZURE_TENANT_ID"] + "/oauth2/v2.0/token")


def test_state_file_continues_after_sdk_writes(tmp_path):
    """--state with two emulator processes: an identity created through the SDK survives a restart."""
    from conftest import start_emulator, stop_emulator

    state_file = tmp_path / "state.json"
    first = start_emulator(tmp_path / "one", "--state", str(state_file))
    try:
        uai = _make_identity(first, "persisted-uai")
    finally:
        stop_emulator(first)
    second = start_emulator(tmp_path / "two", "--state", str(state_file))
    try:
        again = _msi_client(second).user_assigned_identities.get(RG, "persisted-uai")
        assert (again.principal_id, again.client_id) == (uai.principal_id, uai.client_id)
    finally:
        stop_emulator(second)


def _persisted_names(state_file) -> set[str]:
    return {r["name"] for r in json.loads(state_file.read_text())["arm"]["resources"].values()}


@pytest.mark.parametrize("signame", ["SIGTERM", "SIGINT"])
def test_state_saved_when_stopped_right_after_a_write(tmp_path, monkeypatch, signame):
    """A write answered just before SIGTERM/SIGINT is on disk after the exit. The coalesced save is
    pushed out of reach (60 s), so only the save at exit can have written it."""
    import signal

    from conftest import start_emulator

    monkeypatch.setenv("ENTRA_BOOTSTRAP_EMULATOR_SAVE_DELAY_MS", "60000")
    state_file = tmp_path / "state.json"
    emu = start_emulator(tmp_path / "one", "--state", str(state_file))
    try:
        uai = _make_identity(emu, "last-write-uai")
        assert "last-write-uai" not in _persisted_names(state_file)   # not saved yet (coalesced)
        emu.process.send_signal(getattr(signal, signame))
        assert emu.process.wait(timeout=10) == 0
    finally:
        if emu.process.poll() is None:
            emu.process.kill()
    saved = json.loads(state_file.read_text())               # a whole JSON document
    uai_saved = [r for r in saved["arm"]["resources"].values() if r["name"] == "last-write-uai"]
    assert uai_saved[0]["properties"]["principalId"] == uai.principal_id
    assert not state_file.with_suffix(".json.tmp").exists()


def test_state_saved_shortly_after_a_write(tmp_path):
    """Without a stop, a write reaches the file by the coalesced save (~50 ms after it)."""
    import time

    from conftest import start_emulator, stop_emulator

    state_file = tmp_path / "state.json"
    emu = start_emulator(tmp_path / "one", "--state", str(state_file))
    try:
        _make_identity(emu, "soon-uai")
        deadline = time.monotonic() + 5
        while "soon-uai" not in _persisted_names(state_file) and time.monotonic() < deadline:
            time.sleep(0.01)
        assert "soon-uai" in _persisted_names(state_file)
    finally:
        stop_emulator(emu)


def test_token_lifetime_flag_sets_the_knob_at_start(tmp_path):
    from conftest import start_emulator, stop_emulator

    emu = start_emulator(tmp_path / "one", "--token-lifetime", "7")
    try:
        assert emu.control("GET", "/_emulator/faults")["token_lifetime_s"] == 7
        tenant = emu.env["AZURE_TENANT_ID"]
        status, body = _post_form(emu, f"/{tenant}/oauth2/v2.0/token", {
            "grant_type": "client_credentials", "client_id": emu.env["AZURE_CLIENT_ID"],
            "client_secret": emu.env["AZURE_CLIENT_SECRET"], "scope": emu.env["ENTRA_BOOTSTRAP_ARM_ENDPOINT"]
            + "/.default"})
        assert status == 200 and body["expires_in"] == 7
    finally:
        stop_emulator(emu)


def _post_form(emu, path, form: dict):
    import urllib.parse

    ctx = ssl.create_default_context(cafile=emu.ca)
    req = urllib.request.Request(emu.url + path, data=urllib.parse.urlencode(form).encode(), method="POST")
    try:
        with urllib.request.urlopen(req, context=ctx, timeout=30) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())
