"""`verify`: the read-only check of the whole chain, and the proof of the token exchange.

The checks are the plan itself (one code path with ``up``): every object the file declares is
observed and diffed exactly as ``up`` would; an ``unchanged`` object passes, anything ``up`` would
still create or change fails with the reason and the fix. For a federated credential the diff is
against the issuer, subject (the identity's *current* principal id) and audience right for the
cloud, so a credential left behind by a re-created identity fails here.

``--exchange`` then does what the workload does (Entra ID: "Configure an application to trust a
managed identity"): a managed identity token for the cloud's token-exchange audience, presented as
a client assertion for the app, gives an app token whose roles are shown; ``--call URL`` makes one GET with it. On an Azure
resource the managed identity endpoint is the machine's; against the emulator it is
``AZURE_POD_IDENTITY_AUTHORITY_HOST`` of env.sh (acting as a VM). Tokens are never printed.

It also proves the consumer path, a separate check "consumer path (WorkloadIdentityCredential)":
the identity's token is written to a private token file by workload.py's writer (as ``exec`` does)
and the app token is got by azure-identity's ``WorkloadIdentityCredential`` reading that file, as
every consumer of ``exec`` does ("Workload identity federation": the workload presents the
federated token as a client assertion). The file and its directory are removed after.
"""

from __future__ import annotations

from typing import Any

from .spec import Spec

def checks_from_plan(spec: Spec, outcome, path) -> list[dict]:
    from .steps.registry import labels

    names = labels()
    checks = []
    for c in outcome.changes:
        name = names.get(c.kind, c.kind)
        if c.action == "undeclared":
            # steps/undeclared.py: passes only when the app's allow_undeclared lists its category
            # (never for a privileged Microsoft Graph role)
            info = c.after if isinstance(c.after, dict) else {}
            passed = bool(info.get("allowed"))
            fix = None if passed else (
                "a privileged Microsoft Graph role is never allowed: remove it with "
                f"`entra-bootstrap up -f {path} --prune`, or declare it in the file"
                if info.get("privileged") else
                f"declare it in the file, allow it (allow_undeclared = [\"{info.get('category')}\"]), "
                f"or remove it with `entra-bootstrap up -f {path} --prune`")
            checks.append({"check": "not in file", "passed": passed,
                           "detail": f"{c.kind} {c.name}: {c.reason}"
                                     + (" (allowed)" if passed else ""),
                           "fix": fix, "kind": c.kind, "name": c.name, "ids": dict(c.ids)})
            continue
        if c.changed:
            detail = f"{c.kind} {c.name}: {c.reason or c.action}"
            fix = f"run `entra-bootstrap up -f {path}`"
        else:
            detail = f"{c.kind} {c.name}"
            fix = None
        checks.append({"check": name, "passed": not c.changed, "detail": detail, "fix": fix,
                       "kind": c.kind, "name": c.name, "ids": dict(c.ids)})
    if outcome.error is not None:
        err = outcome.error
        checks.append({"check": "read", "passed": False, "detail": str(err),
                       "fix": getattr(err, "fix", None), "kind": "error", "name": "", "ids": {}})
    return checks


def _pairs(spec: Spec, outcome) -> list[tuple[str, str, str, str]]:
    """(app unique name, app client id, identity name, identity client id) per MI federation."""
    app_ids = {c.name.lower(): c.ids.get("appId") for c in outcome.changes if c.kind == "application"}
    ident_ids = {c.name.lower(): c.ids.get("clientId") for c in outcome.changes
                 if c.kind == "userAssignedIdentity"}
    out = []
    for app in spec.apps:
        for fed in app.federations:
            if fed.managed_identity:
                ident = fed.managed_identity.rsplit("/", 1)[-1]
                out.append((app.unique_name, app_ids.get(app.unique_name.lower()), ident,
                            ident_ids.get(ident.lower())))
    return out


def _expected_roles(spec: Spec, unique_name: str) -> set[str]:
    app = next(a for a in spec.apps if a.unique_name == unique_name)
    if not app.consent:
        return set()
    return {r for p in app.permissions if p.is_graph for r in p.roles}


async def prove_exchanges(spec: Spec, session, outcome, call: str | None) -> list[dict]:
    checks = [dict(c, kind="tokenExchange", name=c.get("name", ""), ids=c.get("ids", {}))
              for c in await _prove(spec, session, outcome, call)]
    return checks


async def _prove(spec: Spec, session, outcome, call: str | None) -> list[dict]:
    checks = []
    for unique_name, app_id, ident, client_id in _pairs(spec, outcome):
        label = f"{ident} -> {unique_name}"
        if not app_id or not client_id:
            checks.append({"check": "token exchange", "passed": False, "detail": f"{label}: the app or "
                           "the identity does not exist yet", "fix": "run `entra-bootstrap up` first"})
            continue
        checks += await _exchange(session, label, app_id, client_id,
                                  _expected_roles(spec, unique_name), call, spec.path,
                                  (ident, unique_name))
    if not checks:
        checks.append({"check": "token exchange", "passed": False,
                       "detail": "the file declares no federation with a managed identity",
                       "fix": "add an [[app.federation]] entry with managed_identity = NAME"})
    return checks


CONSUMER_CHECK = "consumer path (WorkloadIdentityCredential)"


async def _exchange(session, label: str, app_id: str, client_id: str, expected: set[str],
                    call: str | None, file: str = "FILE",
                    names: tuple[str, str] = ("IDENTITY", "APP")) -> list[dict[str, Any]]:
    """The exchange check, then the consumer path check with the same managed identity token."""
    mi_token, result = await _exchange_check(session, label, app_id, client_id, expected, call)
    if mi_token is None:
        return [result, {"check": CONSUMER_CHECK, "passed": False,
                         "detail": f"{label}: not tried (no managed identity token)",
                         "fix": result["fix"]}]
    return [result, await _consumer_path(session, label, app_id, mi_token, expected, file, names)]


async def _consumer_path(session, label: str, app_id: str, mi_token, expected: set[str],
                         file: str, names: tuple[str, str]) -> dict[str, Any]:
    """The app token through ``WorkloadIdentityCredential(tenant_id, client_id, token_file_path)``
    reading a token file written by workload.py (``exec``'s writer); the file is removed after."""
    from azure.core.exceptions import ClientAuthenticationError
    from azure.identity.aio import WorkloadIdentityCredential

    from .clients.auth import ca_bundle, decode_claims
    from .workload import TOKEN_FILE_NAME, fresh_token_dir, remove_token_dir, write_token_file

    cloud = session.cloud
    tenant = await session.tenant_id()
    verify = ca_bundle()
    kw: dict[str, Any] = {"connection_verify": verify} if verify else {}
    directory = fresh_token_dir()
    try:
        path = directory / TOKEN_FILE_NAME
        write_token_file(path, mi_token.token)
        credential = WorkloadIdentityCredential(tenant_id=tenant, client_id=app_id, token_file_path=str(path),
                                                authority=cloud.login,
                                                disable_instance_discovery=not cloud.instance_discovery, **kw)
        try:
            token = await _exchange_with_retries(session.retry, credential, cloud.graph_scope)
        except ClientAuthenticationError as exc:
            return {"check": CONSUMER_CHECK, "passed": False,
                    "detail": f"{label}: WorkloadIdentityCredential reading the token file was refused: "
                              f"{_short(exc)}",
                    "fix": f"app {names[1]} ({app_id}) must have a federated credential trusting identity "
                           f"{names[0]} (issuer, subject = its principal id, audience): run `entra-bootstrap "
                           f"up -f {file}` (or `entra-bootstrap federation add --app {names[1]} "
                           f"--managed-identity {names[0]}`); a new one can take minutes to propagate"}
        finally:
            await credential.close()
    finally:
        remove_token_dir(directory)
    roles = sorted(decode_claims(token.token).get("roles", []))
    missing = sorted(expected - set(roles))
    return {"check": CONSUMER_CHECK, "passed": not missing, "roles": roles,
            "detail": f"{label}: WorkloadIdentityCredential reading the token file got an app token with "
                      f"roles {', '.join(roles) or '(none)'}",
            "fix": None if not missing else
            f"consent {', '.join(missing)} (`entra-bootstrap consent grant --app {app_id}`)"}


async def _exchange_check(session, label: str, app_id: str, client_id: str, expected: set[str],
                          call: str | None):
    """(the managed identity token or None when there is none, the exchange check)."""
    from azure.core.exceptions import ClientAuthenticationError
    from azure.identity.aio import ClientAssertionCredential, ManagedIdentityCredential

    from .clients.auth import ca_bundle, decode_claims

    cloud = session.cloud
    tenant = await session.tenant_id()
    verify = ca_bundle()
    kw: dict[str, Any] = {"connection_verify": verify} if verify else {}
    mi = ManagedIdentityCredential(client_id=client_id, **kw)
    try:
        try:
            mi_token = await mi.get_token(f"{cloud.token_exchange_audience}/.default")
        except ClientAuthenticationError as exc:
            return None, _failed(label, f"no managed identity token for {client_id}: {_short(exc)}",
                                 "run this on a resource the identity is attached to (`entra-bootstrap "
                                 "identity show`), or check AZURE_POD_IDENTITY_AUTHORITY_HOST")

        # NOTE: azure-identity's aio ClientAssertionCredential takes a synchronous callable.
        app_cred = ClientAssertionCredential(tenant, app_id, lambda: mi_token.token, authority=cloud.login,
                                             disable_instance_discovery=not cloud.instance_discovery, **kw)
        try:
            try:
                app_token = await _exchange_with_retries(session.retry, app_cred, cloud.graph_scope)
            except ClientAuthenticationError as exc:
                return mi_token, _failed(label, f"the exchange was refused: {_short(exc)}",
                                         "check the federated credential (issuer, subject = the identity's "
                                         "principal id, audience); a new one can take minutes to propagate")
            roles = sorted(decode_claims(app_token.token).get("roles", []))
            missing = sorted(expected - set(roles))
            result = {"check": "token exchange", "passed": not missing, "roles": roles,
                      "detail": f"{label}: app token issued with roles {', '.join(roles) or '(none)'}",
                      "fix": None if not missing else
                      f"consent {', '.join(missing)} (`entra-bootstrap consent grant --app {app_id}`)"}
            if call and not missing:
                status = await _call(cloud, app_token.token, call, verify)
                result["detail"] += f"; GET {call} -> {status}"
                result["passed"] = 200 <= status < 300
                if not result["passed"]:
                    result["fix"] = "the app token was refused: check the permissions the call needs"
            return mi_token, result
        finally:
            await app_cred.close()
    finally:
        await mi.close()


async def _exchange_with_retries(policy, credential, scope: str):
    """NOTE: AADSTS70021 ("No matching federated identity record found") is also what a new federated
    credential answers until it has propagated ("Important considerations and restrictions" of
    workload identity federation: it can take a while): retried within the run's retry budget by the
    one retry helper; every other refusal is final."""
    from .clients.retry import REPLICATION, with_retries

    def retry_on(exc: Exception) -> str | None:
        return REPLICATION if aadsts_code(exc) == 70021 else None

    return await with_retries(lambda: credential.get_token(scope), what="token exchange",
                              policy=policy, retry_on=retry_on)


def aadsts_code(exc: BaseException) -> int | None:
    """The Entra ID error number of a refused token request (``AADSTS70021: ...`` -> 70021)."""
    import re

    from azure.core.exceptions import ClientAuthenticationError

    if not isinstance(exc, ClientAuthenticationError):
        return None
    m = re.search(r"\bAADSTS(\d+)\b", str(getattr(exc, "message", "") or exc))
    return int(m.group(1)) if m else None


async def _call(cloud, token: str, url: str, verify: str | None) -> int:
    import ssl

    import httpx

    # ``url`` is a full URL on the cloud's Graph host (spec/rules.graph_call_url, checked offline).
    ctx = ssl.create_default_context(cafile=verify) if verify else True
    async with httpx.AsyncClient(verify=ctx, timeout=30) as client:
        response = await client.get(url, headers={"Authorization": f"Bearer {token}"})
    return response.status_code


def _failed(label: str, detail: str, fix: str) -> dict:
    return {"check": "token exchange", "passed": False, "detail": f"{label}: {detail}", "fix": fix}


def _short(exc: BaseException) -> str:
    text = " ".join(str(getattr(exc, "message", exc)).split())
    return text[:300]
