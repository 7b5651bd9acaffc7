"""A thin Azure Resource Manager client: plain JSON dicts in and out, through the async azure-mgmt SDKs.

Requests go through azure-mgmt-compute, azure-mgmt-msi and azure-mgmt-containerinstance (their
ARM pipeline: bearer token for the cloud's ARM scope, retry on 429/5xx honouring Retry-After), but
bodies are read and sent as raw JSON (``cls=`` and ``IO`` bodies): what a step re-sends (a
container group's whole definition) is exactly what ARM returned, never a model's projection of it.

Long-running operations are polled by ``ServerPacedPolling``: it waits what the server's
``Retry-After`` says — including 0, which azure-core treats as absent and replaces with the SDK's
30 s default — and ``FALLBACK_POLL_SECONDS`` when the server says nothing. A failed operation
reports ARM's own error code.

Also here: the ARM error mapping (401/403 exit 3 naming the role needed, 404 exit 4, the rest
exit 1). Operations are named (``get_compute``, ``patch_compute``, ``get_container_group``,
``put_container_group``, ``get_identity``, ...); a write names the role it needs itself
(``attaching``: user-assigned identities are attached, so Managed Identity Operator too). Reads are
not cached here: steps/lookups.py reads each identity and resource group once per run.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any, Awaitable, Callable, TypeVar

from ..errors import CliError, api_error, auth_error, not_found
from ..spec.rules import split_identity_ref
from .retry import classify, with_retries

log = logging.getLogger("entra_bootstrap.http")
T = TypeVar("T")

FALLBACK_POLL_SECONDS = 2.0       # when an LRO answer has no Retry-After
MAX_POLL_SECONDS = 60.0
RG_API_VERSION = "2021-04-01"
UAMI_TYPE = "Microsoft.ManagedIdentity/userAssignedIdentities"

# The least-privilege built-in role for each kind of write (Azure built-in roles reference).
ROLE_VM = "Virtual Machine Contributor"
ROLE_MI_OPERATOR = "Managed Identity Operator"
ROLE_MI_CONTRIBUTOR = "Managed Identity Contributor"
ROLE_ACI = "Contributor"


def role_phrase(role: str, attaching: bool = False) -> str:
    """What the operator needs, for a 403's fix: the role, plus Managed Identity Operator on the
    identities when user-assigned identities are attached."""
    text = f"the '{role}' role on the resource or its resource group"
    if attaching:
        text += f", and the '{ROLE_MI_OPERATOR}' role on each user-assigned identity it attaches"
    return text


# --- a user-assigned identity as the user named it (checked by spec/rules.py) ----------------------
@dataclass(frozen=True)
class IdentityRef:
    """A user-assigned identity as the user named it, made into a full resource id."""

    subscription_id: str
    resource_group: str
    name: str

    @property
    def id(self) -> str:
        return (f"/subscriptions/{self.subscription_id}/resourceGroups/{self.resource_group}/providers/"
                f"{UAMI_TYPE}/{self.name}")

    @property
    def key(self) -> str:
        return self.id.lower()


def parse_identity_ref(value: str, resource_group: str | None, subscription_id: str) -> IdentityRef:
    """A name (needs ``resource_group``) or a full resource id; exit 2 on anything malformed."""
    subscription, group, name = split_identity_ref(value, resource_group)
    return IdentityRef(subscription or subscription_id, group, name)


# --- errors -------------------------------------------------------------------------------------

@dataclass
class ArmError(Exception):
    status: int
    code: str
    message: str
    method: str = ""
    url: str = ""
    retry_after: float | None = None

    def __str__(self) -> str:
        return f"{self.status} {self.code}: {self.message}"


def _error_body(response) -> dict:
    try:
        body = response.json()
    except Exception:  # noqa: BLE001 - not JSON: no ARM error document
        return {}
    err = body.get("error") if isinstance(body, dict) else None
    return err if isinstance(err, dict) else {}


def _wire_error(exc: Exception) -> ArmError | None:
    """An azure-core error as ARM spelled it (status, code, message); None for other exceptions."""
    from azure.core.exceptions import HttpResponseError

    if not isinstance(exc, HttpResponseError) or exc.response is None:
        return None
    response = exc.response
    request = getattr(response, "request", None)
    err = _error_body(response)
    code = err.get("code") or (exc.error.code if getattr(exc, "error", None) else None) or \
        f"HTTP{response.status_code}"
    message = err.get("message") or (exc.error.message if getattr(exc, "error", None) else "") or \
        str(exc.message or "")
    status = response.status_code
    try:
        body = response.json()
    except Exception:  # noqa: BLE001
        body = None
    if isinstance(body, dict) and str(body.get("status", "")).lower() in ("failed", "canceled"):
        status = 0    # a long-running operation that ended Failed (polling answered 200)
    retry_after = None
    raw = response.headers.get("Retry-After") if response.headers else None
    if raw:
        try:
            retry_after = float(raw)
        except ValueError:
            retry_after = None
    return ArmError(status, code, message, getattr(request, "method", ""),
                    str(getattr(request, "url", "")), retry_after)


def to_cli_error(err: ArmError, *, obj: str | None = None, needs: str | None = None) -> CliError:
    """An ARM error as the user sees it: 401/403 exit 3, 404 exit 4, everything else exit 1."""
    where = f"{err.method} {err.url.split('?')[0]}" if err.method else ""
    text = f"{err.message} ({where})" if where else err.message
    if err.status == 401:
        return auth_error(f"Azure Resource Manager refused the operator's token: {text}", code=err.code,
                          object=obj, status=401,
                          fix="check the tenant, the subscription and the operator's credentials")
    if err.status == 403:
        if err.code == "LinkedAuthorizationFailed":
            needs = f"the '{ROLE_MI_OPERATOR}' role on each user-assigned identity it attaches"
        if needs and "Owner" in needs:        # the phrase names every role that allows it
            fix = f"grant the operator {needs}"
        else:
            fix = (f"grant the operator {needs} (Owner or Contributor also allow it)" if needs
                   else "grant the operator an ARM role that allows this action")
        return auth_error(f"the operator is not allowed to do this: {err.message}", code=err.code,
                          object=obj, status=403, fix=fix)
    if err.status == 404:
        return not_found(f"not found: {err.message}", code=err.code, object=obj, status=404,
                         fix="check the name, the resource group (-g) and the subscription")
    if err.status == 0:
        return api_error(f"the Azure operation failed: {err.code}: {err.message}", code=err.code,
                         object=obj, fix="fix the cause ARM names and run the command again")
    fix = None
    if err.status in (429, 503, 504):
        fix = "Azure Resource Manager is throttling or unavailable; run the command again later"
    elif err.code == "PrincipalNotFound":
        fix = "a new identity had not replicated yet; run the command again"
    return api_error(text, code=err.code, object=obj, status=err.status, fix=fix)


def _retryable(exc: Exception, idempotent: bool) -> str | None:
    from azure.core.exceptions import ServiceRequestError, ServiceResponseError

    if isinstance(exc, ServiceRequestError):
        return "connection failed"
    if isinstance(exc, ServiceResponseError) and idempotent:
        # NOTE: our ARM writes are idempotent (PATCH of a merge, PUT of a whole definition), so a
        # response lost after the write is safe to repeat.
        return "response lost"
    if isinstance(exc, ArmError) and exc.status:
        return classify(exc)
    return None


# --- long-running operations --------------------------------------------------------------------

def _server_paced_polling(fallback: float, base_url: str):
    from azure.mgmt.core.polling.async_arm_polling import AsyncARMPolling

    class ServerPacedPolling(AsyncARMPolling):
        """ARM polling that waits exactly the server's Retry-After (0 included)."""

        def _extract_delay(self) -> float:
            headers = self._pipeline_response.http_response.headers
            for name, scale in (("retry-after", 1.0), ("retry-after-ms", 0.001),
                                ("x-ms-retry-after-ms", 0.001)):
                raw = headers.get(name)
                if raw is None:
                    continue
                try:
                    return min(max(float(raw) * scale, 0.0), MAX_POLL_SECONDS)
                except ValueError:
                    break     # an HTTP date: let azure-core parse it
            return super()._extract_delay() if headers.get("retry-after") else fallback

    return ServerPacedPolling(fallback, path_format_arguments={"endpoint": base_url})


def _raw(pipeline_response, deserialized, headers):
    """``cls=`` hook: the response body as ARM sent it (a dict), or None when empty."""
    response = pipeline_response.http_response
    try:
        body = response.text()
    except Exception:  # noqa: BLE001
        return None
    return json.loads(body) if body else None


def _raw_and_status(pipeline_response, deserialized, headers):
    """``cls=`` hook: (the body as ARM sent it, the HTTP status) - 201 tells a create from an update."""
    return _raw(pipeline_response, deserialized, headers), pipeline_response.http_response.status_code


def _raw_items(items):
    """``cls=`` hook of a paged list: each page's items in ARM's own JSON shape (not models)."""
    return [i.serialize(keep_readonly=True) if hasattr(i, "serialize") else i for i in items]


def _json_bytes(body: dict) -> bytes:
    # NOTE: bytes, not BytesIO: azure-mgmt-containerinstance 10 tests isinstance(x, typing.IO),
    # which no BytesIO passes; every generated client accepts bytes as a raw body.
    return json.dumps(body).encode()


# --- the client ----------------------------------------------------------------------------------

class ArmClient:
    """One per run and event loop; SDK clients are created on first use."""

    def __init__(self, session):
        self.session = session
        self.cloud = session.cloud
        self._clients: dict[str, Any] = {}
        self._transport = None

    @property
    def subscription_id(self) -> str:
        return self.session.subscription_id

    def _kwargs(self) -> dict:
        from .auth import ca_bundle, shared_transport

        if self._transport is None:      # one connection pool for every ARM client of the run
            self._transport = shared_transport(ca_bundle())
        kw: dict[str, Any] = {"base_url": self.cloud.arm, "credential_scopes": [self.cloud.arm_scope],
                              "polling_interval": FALLBACK_POLL_SECONDS, "retry_total": 4,
                              "raw_response_hook": _log_response, "transport": self._transport}
        if ca_bundle():
            kw["connection_verify"] = ca_bundle()
        return kw

    def _client(self, kind: str):
        client = self._clients.get(kind)
        if client is not None:
            return client
        if kind == "compute":
            from azure.mgmt.compute.aio import ComputeManagementClient as C
        elif kind == "msi":
            from azure.mgmt.msi.aio import ManagedServiceIdentityClient as C
        else:
            from azure.mgmt.containerinstance.aio import ContainerInstanceManagementClient as C
        client = C(self.session.credential, self.subscription_id, **self._kwargs())
        self._clients[kind] = client
        return client

    def sdk(self, kind: str, make: Callable[..., Any]):
        """The run's SDK client ``kind`` made by ``make(credential, subscription_id, **kwargs)``
        with this client's pipeline options (one transport, retries, logging); closed with it.
        How clients/arm_authorization.py gets its azure-mgmt-authorization client."""
        client = self._clients.get(kind)
        if client is None:
            client = make(self.session.credential, self.subscription_id, **self._kwargs())
            self._clients[kind] = client
        return client

    @property
    def compute(self):
        return self._client("compute")

    @property
    def msi(self):
        return self._client("msi")

    @property
    def aci(self):
        return self._client("aci")

    def polling(self):
        return _server_paced_polling(FALLBACK_POLL_SECONDS, self.cloud.arm)

    async def close(self) -> None:
        for client in self._clients.values():
            try:
                await client.close()
            except Exception:  # noqa: BLE001 - closing must never mask the outcome
                pass
        self._clients.clear()
        if self._transport is not None:
            await self._transport.close()

    # --- calls with retries and user-facing errors ----------------------------------------------
    async def call(self, fn: Callable[[], Awaitable[T]], *, what: str, obj: str | None = None,
                   needs: str | None = None, missing_ok: bool = False, idempotent: bool = True) -> T | None:
        """Run one SDK call with classified retries; errors become CliError (404 → None if missing_ok)."""
        async def attempt():
            try:
                return await fn()
            except Exception as exc:  # noqa: BLE001 - translated, then classified by with_retries
                wire = _wire_error(exc)
                if wire is not None:
                    raise wire from None
                raise

        try:
            return await with_retries(attempt, what=what, policy=self.session.retry,
                                      retry_on=lambda e: _retryable(e, idempotent))
        except ArmError as err:
            if err.status == 404 and missing_ok:
                return None
            raise to_cli_error(err, obj=obj, needs=needs) from None
        except CliError:
            raise
        except Exception as exc:  # noqa: BLE001
            from azure.core.exceptions import ServiceRequestError, ServiceResponseError
            if isinstance(exc, (ServiceRequestError, ServiceResponseError)):
                raise api_error(f"cannot reach Azure Resource Manager at {self.cloud.arm}: {exc}",
                                code="EndpointUnreachable",
                                fix="check the network, --cloud / ENTRA_BOOTSTRAP_ARM_ENDPOINT and the "
                                    "CA bundle (REQUESTS_CA_BUNDLE)") from None
            raise

    # --- resource groups (no SDK for them here: a raw GET through the compute pipeline) ---------
    async def get_resource_group(self, name: str) -> dict:
        from azure.core.rest import HttpRequest

        async def fn():
            url = (f"{self.cloud.arm}/subscriptions/{self.subscription_id}/resourcegroups/{name}"
                   f"?api-version={RG_API_VERSION}")
            response = await self.compute.send_request(HttpRequest("GET", url))
            if response.status_code >= 400:
                from azure.core.exceptions import HttpResponseError
                raise HttpResponseError(response=response)
            return response.json()

        return await self.call(fn, what=f"GET resource group {name}", obj=f"resource group '{name}'")

    # --- compute ----------------------------------------------------------------------------------
    def _compute_ops(self, kind: str):
        return self.compute.virtual_machines if kind == "vm" else self.compute.virtual_machine_scale_sets

    async def get_compute(self, kind: str, rg: str, name: str, obj: str, *,
                          missing_ok: bool = False) -> dict | None:
        ops = self._compute_ops(kind)
        return await self.call(lambda: ops.get(rg, name, cls=_raw), what=f"GET {obj}", obj=obj,
                               missing_ok=missing_ok)

    async def patch_compute(self, kind: str, rg: str, name: str, body: dict, obj: str, *,
                            attaching: bool = False) -> dict:
        """PATCH a VM or scale set (``kind`` vm | vmss); returns it as ARM answered."""
        ops = self._compute_ops(kind)

        async def fn():
            poller = await ops.begin_update(rg, name, body, cls=_raw, polling=self.polling())
            return await poller.result()

        return await self.call(fn, what=f"PATCH {obj}", obj=obj, needs=role_phrase(ROLE_VM, attaching))

    async def list_scale_set_instances(self, rg: str, name: str, obj: str) -> list[dict]:
        async def fn():
            return [dict(i) async for i in self.compute.virtual_machine_scale_set_vms.list(rg, name)]

        return await self.call(fn, what=f"GET instances of {obj}", obj=obj)

    async def upgrade_scale_set_instances(self, rg: str, name: str, instance_ids: list[str], obj: str) -> None:
        async def fn():
            poller = await self.compute.virtual_machine_scale_sets.begin_update_instances(
                rg, name, {"instanceIds": instance_ids}, polling=self.polling())
            return await poller.result()

        await self.call(fn, what=f"POST manualupgrade {obj}", obj=obj, needs=role_phrase(ROLE_VM))

    # --- container groups ---------------------------------------------------------------------------
    async def get_container_group(self, rg: str, name: str, obj: str, *,
                                  missing_ok: bool = False) -> dict | None:
        return await self.call(lambda: self.aci.container_groups.get(rg, name, cls=_raw),
                               what=f"GET {obj}", obj=obj, missing_ok=missing_ok)

    async def put_container_group(self, rg: str, name: str, body: dict, obj: str, *,
                                  attaching: bool = False) -> dict:
        """PUT the container group's whole definition; returns it as ARM answered."""
        async def fn():
            poller = await self.aci.container_groups.begin_create_or_update(
                rg, name, _json_bytes(body), cls=_raw, polling=self.polling())
            return await poller.result()

        return await self.call(fn, what=f"PUT {obj}", obj=obj, needs=role_phrase(ROLE_ACI, attaching))

    # --- user-assigned identities -------------------------------------------------------------------
    async def get_identity(self, ref: IdentityRef, *, missing_ok: bool = False) -> dict | None:
        """The identity as ARM returns it (None when missing and ``missing_ok``)."""
        ops = self._identity_ops(ref.subscription_id)
        obj = f"user-assigned identity '{ref.name}' in resource group '{ref.resource_group}'"
        return await self.call(lambda: ops.get(ref.resource_group, ref.name, cls=_raw),
                               what=f"GET {obj}", obj=obj, missing_ok=missing_ok)

    async def put_identity(self, ref: IdentityRef, body: dict) -> tuple[dict, bool]:
        """Create or update (ARM: 201 created, 200 updated): (the identity as ARM answered, created?)."""
        ops = self._identity_ops(ref.subscription_id)
        obj = f"user-assigned identity '{ref.name}' in resource group '{ref.resource_group}'"
        saved, status = await self.call(
            lambda: ops.create_or_update(ref.resource_group, ref.name, _json_bytes(body), cls=_raw_and_status),
            what=f"PUT {obj}", obj=obj, needs=role_phrase(ROLE_MI_CONTRIBUTOR))
        return saved, status == 201

    async def delete_identity(self, ref: IdentityRef) -> None:
        ops = self._identity_ops(ref.subscription_id)
        obj = f"user-assigned identity '{ref.name}' in resource group '{ref.resource_group}'"
        await self.call(lambda: ops.delete(ref.resource_group, ref.name), what=f"DELETE {obj}", obj=obj,
                        needs=role_phrase(ROLE_MI_CONTRIBUTOR))

    async def list_identities(self, resource_group: str) -> list[dict]:
        """The user-assigned identities of a resource group, as ARM returns them (every page)."""
        ops = self.msi.user_assigned_identities
        obj = f"resource group '{resource_group}'"

        async def fn():
            return [dict(i) async for i in ops.list_by_resource_group(resource_group, cls=_raw_items)]

        return await self.call(fn, what=f"GET user-assigned identities of {obj}", obj=obj)

    def _identity_ops(self, subscription_id: str):
        if subscription_id.lower() == self.subscription_id.lower():
            return self.msi.user_assigned_identities
        # An identity in another subscription: a client for that subscription, same credential.
        kind = f"msi:{subscription_id.lower()}"
        client = self._clients.get(kind)
        if client is None:
            from azure.mgmt.msi.aio import ManagedServiceIdentityClient
            client = ManagedServiceIdentityClient(self.session.credential, subscription_id, **self._kwargs())
            self._clients[kind] = client
        return client.user_assigned_identities


def _log_response(pipeline_response) -> None:
    from .. import audit

    request = pipeline_response.http_request
    status = pipeline_response.http_response.status_code
    log.debug("%s %s -> %d", request.method, request.url, status)
    if request.method in ("PUT", "PATCH", "POST", "DELETE") and audit.enabled():
        audit.record(request.method, request.url, status, "succeeded" if status < 400 else "failed")


def arm(session) -> ArmClient:
    """The run's ARM client (closed with the session)."""
    return session.client("arm", lambda: ArmClient(session))
