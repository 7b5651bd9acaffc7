"""Unit tests of the CLI framework's pure logic: retries, clouds, output, engine, options."""

from __future__ import annotations

import asyncio
import base64
import json

import pytest

from entra_bootstrap.cli.common import Options
from entra_bootstrap.clients.auth import decode_claims
from entra_bootstrap.clients.graph import GraphError, key_segment, odata_literal, to_cli_error
from entra_bootstrap.clients.retry import REPLICATION, THROTTLED, RetryPolicy, classify, with_retries
from entra_bootstrap.clouds import get_cloud
from entra_bootstrap.engine import Change, planned, is_planned, run_step
from entra_bootstrap.errors import CliError
from entra_bootstrap.render import Output


# --- retries -----------------------------------------------------------------------------------
@pytest.mark.parametrize("status,code,message,expected", [
    (429, "TooManyRequests", "", THROTTLED),
    (503, "ServiceUnavailable", "", THROTTLED),
    (504, "GatewayTimeout", "", THROTTLED),
    (409, "Error_MsaAppDoesNotExist", "", REPLICATION),
    (400, "Request_BadRequest", "The appId 'x' of the service principal does not reference a valid "
                                "application object.", REPLICATION),
    (403, "Authorization_RequestDenied", "When using this permission, the backing application of the "
                                         "service principal being created must in the local tenant", REPLICATION),
    (400, "Request_BadRequest", "Not a valid reference update.", REPLICATION),
    (400, "Request_BadRequest", "Resource 'x' does not exist or one of its queried reference-property "
                                "objects are not present.", REPLICATION),
    (400, "PrincipalNotFound", "", REPLICATION),
    (404, "Request_ResourceNotFound", "", None),
    (403, "Authorization_RequestDenied", "Insufficient privileges to complete the operation.", None),
    (400, "Request_BadRequest", "Invalid value", None),
])
def test_classify(status, code, message, expected):
    assert classify(GraphError(status, code, message)) == expected


def test_not_found_is_replication_only_when_asked():
    err = GraphError(404, "Request_ResourceNotFound", "gone")
    assert classify(err) is None and classify(err, not_found_is_replication=True) == REPLICATION


def test_delay_is_jittered_bounded_and_honours_retry_after():
    policy = RetryPolicy(base_delay=1.0, max_delay=4.0)
    for attempt in range(1, 8):
        d = policy.delay(attempt)
        ceiling = min(4.0, 2 ** (attempt - 1))
        assert ceiling / 2 <= d <= ceiling
    assert policy.delay(1, retry_after=3) >= 3
    assert policy.delay(1, retry_after=100) <= 4.0


def test_with_retries_stops_on_success_non_retryable_attempts_and_time():
    policy = RetryPolicy(base_delay=0.001, max_delay=0.002, max_time=1.0)
    calls = []

    async def flaky():
        calls.append(1)
        if len(calls) < 3:
            raise GraphError(503, "ServiceUnavailable", "")
        return "ok"

    retry_on = lambda exc: classify(exc) if isinstance(exc, GraphError) else None  # noqa: E731
    assert asyncio.run(with_retries(flaky, what="x", policy=policy, retry_on=retry_on)) == "ok"
    assert len(calls) == 3

    async def denied():
        calls.append(1)
        raise GraphError(403, "Authorization_RequestDenied", "no")

    calls.clear()
    with pytest.raises(GraphError):
        asyncio.run(with_retries(denied, what="x", policy=policy, retry_on=retry_on))
    assert len(calls) == 1

    async def always():
        calls.append(1)
        raise GraphError(429, "TooManyRequests", "")

    calls.clear()
    with pytest.raises(GraphError):
        asyncio.run(with_retries(always, what="x", policy=policy, retry_on=retry_on, attempts=4))
    assert len(calls) == 4
    calls.clear()
    with pytest.raises(GraphError):
        asyncio.run(with_retries(always, what="x", policy=RetryPolicy(base_delay=0.05, max_delay=0.05,
                                                                      max_time=0.12), retry_on=retry_on))
    assert 2 <= len(calls) <= 4


def test_retry_policy_from_env():
    policy = RetryPolicy.from_env({"ENTRA_BOOTSTRAP_RETRY_BASE_DELAY": "0.5",
                                   "ENTRA_BOOTSTRAP_RETRY_MAX_TIME": "30",
                                   "ENTRA_BOOTSTRAP_RETRY_LOOKUP_ATTEMPTS": "2"})
    assert (policy.base_delay, policy.max_time, policy.lookup_attempts) == (0.5, 30, 2)
    assert RetryPolicy.from_env({}) == RetryPolicy()
    with pytest.raises(CliError) as err:
        RetryPolicy.from_env({"ENTRA_BOOTSTRAP_RETRY_MAX_TIME": "soon"})
    assert err.value.exit_code == 2


# --- Graph error mapping -------------------------------------------------------------------------
def test_graph_errors_map_to_exit_codes_and_name_the_permission():
    err = to_cli_error(GraphError(403, "Authorization_RequestDenied", "Insufficient privileges",
                                  method="PATCH", url="https://g/v1.0/applications"),
                       obj="application 'a'", needs="Application.ReadWrite.All")
    assert err.exit_code == 3 and "Application.ReadWrite.All" in err.fix and err.object == "application 'a'"
    assert to_cli_error(GraphError(401, "InvalidAuthenticationToken", "x")).exit_code == 3
    assert to_cli_error(GraphError(404, "Request_ResourceNotFound", "x")).exit_code == 4
    err = to_cli_error(GraphError(400, "Request_BadRequest", "Not a valid reference update."))
    assert err.exit_code == 1 and "ENTRA_BOOTSTRAP_RETRY_MAX_TIME" in err.fix


def test_key_segment_and_literals_quote_single_quotes():
    assert key_segment("uniqueName", "my-app") == "(uniqueName='my-app')"
    assert key_segment("name", "o'k") == "(name='o%27%27k')"
    assert odata_literal("o'k") == "'o''k'"


def test_decode_claims_reads_without_verifying():
    payload = base64.urlsafe_b64encode(json.dumps({"tid": "t", "roles": ["A"]}).encode()).rstrip(b"=")
    assert decode_claims(f"h.{payload.decode()}.s") == {"tid": "t", "roles": ["A"]}
    assert decode_claims("not a token") == {}


# --- clouds ----------------------------------------------------------------------------------------
def test_clouds_table_and_custom_from_env():
    public = get_cloud(None)
    assert public.issuer("T") == "https://login.microsoftonline.com/T/v2.0"
    assert get_cloud("usgov").token_exchange_audience == "api://AzureADTokenExchangeUSGov"
    assert get_cloud("china").login == "https://login.chinacloudapi.cn"
    env = {"AZURE_AUTHORITY_HOST": "https://login.example/", "ENTRA_BOOTSTRAP_GRAPH_ENDPOINT": "https://g.example",
           "ENTRA_BOOTSTRAP_ARM_ENDPOINT": "https://arm.example"}
    custom = get_cloud("custom", env)
    assert (custom.login, custom.graph_scope, custom.instance_discovery) == \
        ("https://login.example", "https://g.example/.default", False)
    with pytest.raises(CliError) as err:
        get_cloud("custom", {"AZURE_AUTHORITY_HOST": "https://x"})
    assert err.value.exit_code == 2 and "ENTRA_BOOTSTRAP_GRAPH_ENDPOINT" in err.value.message
    with pytest.raises(CliError):
        get_cloud("custom", {**env, "ENTRA_BOOTSTRAP_ARM_ENDPOINT": "http://plain"})
    with pytest.raises(CliError):
        get_cloud("moon")


# --- engine and output -----------------------------------------------------------------------------
class _Step:
    kind = "thing"

    def __init__(self, action):
        self.action, self.applied = action, False

    async def plan(self, session):
        return [Change("thing", "t", self.action, {"id": "1"}, reason="because")]

    async def apply(self, session, changes):
        self.applied = True
        for c in changes:
            c.applied = True
        return changes


def test_plan_mode_stops_before_apply_and_unchanged_never_applies():
    step = _Step("create")
    [change] = asyncio.run(run_step(step, None, plan=True))
    assert not step.applied and change.outcome == "would create" and change.symbol == "+"
    [change] = asyncio.run(run_step(step, None))
    assert step.applied and change.outcome == "created"
    step = _Step("unchanged")
    asyncio.run(run_step(step, None))
    assert not step.applied
    assert is_planned(planned(uniqueName="x")) and not is_planned({"uniqueName": "x"})
    with pytest.raises(ValueError):
        Change("thing", "t", "explode")


def test_output_formats(capsys):
    changes = [Change("application", "my-app", "create", {"appId": "A", "objectId": "O"}, reason="new",
                      applied=True, notes=("a note",)),
               Change("servicePrincipal", "my-app", "unchanged", {"objectId": "S"}, reason="exists")]
    Output("table").changes(changes)
    out = capsys.readouterr().out
    assert out.splitlines()[0].startswith("created    application") and "(new)" in out
    assert "(exists)" not in out and "note: a note" in out
    Output("table", verbose=1).changes(changes)
    assert "(exists)" in capsys.readouterr().out
    Output("json").changes(changes, result={"appId": "A"}, dry_run=True)
    doc = json.loads(capsys.readouterr().out)
    assert doc["result"] == {"appId": "A"} and doc["dryRun"] and doc["changes"][1]["outcome"] == "unchanged"
    Output("tsv").changes(changes, tsv=["A", None, ["x", "y"]])
    assert capsys.readouterr().out == "A\t\tx,y\n"
    Output("none").changes(changes)
    assert capsys.readouterr().out == ""
    Output("tsv").records([{"a": 1, "b": "x"}], ["a", "b"])
    assert capsys.readouterr().out == "1\tx\n"


def test_errors_render_code_message_object_and_fix(capsys):
    err = CliError("boom", code="Bad", object="application 'a'", fix="do this", exit_code=2)
    Output("table").error(err)
    captured = capsys.readouterr()
    assert captured.out == "" and "error[Bad]: boom" in captured.err and "fix: do this" in captured.err
    Output("json").error(err)
    assert json.loads(capsys.readouterr().out)["error"] == {"code": "Bad", "message": "boom", "exitCode": 2,
                                                            "object": "application 'a'", "fix": "do this"}


def test_options_merge_after_command_wins_and_flags_add_up():
    opts = Options()
    opts.merge({"tenant": "from-root", "output": None, "dry_run": True, "verbose": 1, "debug": False})
    opts.merge({"tenant": "from-command", "output": "json", "dry_run": False, "verbose": 0, "debug": True})
    assert (opts.tenant, opts.output, opts.dry_run, opts.verbose, opts.debug) == \
        ("from-command", "json", True, 1, True)
    assert opts.out.format == "json"
