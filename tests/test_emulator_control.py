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
])
def test_bad_faults_body_is_400_naming_the_problem(emu, body, needle):
    status, answer = _post_raw(emu, "/_emulator/faults", body)
    assert status == 400 and needle in answer["error"]["message"]


def test_faults_subset_changes_only_those(emu):
    emu.faults(latency_ms=0, replication_lag=2)
    assert emu.control("GET", "/_emulator/faults") == {
        "latency_ms": 0, "replication_lag": 2, "fault_rate": 0.0, "fault_seed": None,
        "drop_response_after_write": None}
