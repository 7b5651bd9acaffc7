"""What every emulated Graph v1.0 handler shares: the request context, Graph's wire errors,
authorization from the caller's app roles, replication-lag lookups, and entity/collection responses.

Permission sets follow the "Permissions" tables of the Microsoft Graph v1.0 API reference
(microsoft-graph-docs-contrib, api-reference/v1.0/api/*.md) as narrowed in FACTS.md
("What the operator running the tool needs").
"""

from __future__ import annotations

import base64
import json
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone

from aiohttp import web

from .errors import ApiError, graph_error
from .http import json_response
from .state import World

# --- permission sets --------------------------------------------------------------------------
APP_READ = frozenset({"Application.Read.All", "Application.ReadWrite.All", "Directory.Read.All",
                      "Directory.ReadWrite.All"})
APP_WRITE = frozenset({"Application.ReadWrite.All"})
OWNED_BY = frozenset({"Application.ReadWrite.OwnedBy"})
ASSIGNMENT_WRITE = frozenset({"AppRoleAssignment.ReadWrite.All"})
GRANT_READ = frozenset({"DelegatedPermissionGrant.Read.All", "DelegatedPermissionGrant.ReadWrite.All",
                        "Directory.Read.All", "Directory.ReadWrite.All"})
GRANT_WRITE = frozenset({"DelegatedPermissionGrant.ReadWrite.All"})
DEVICE_CONFIG_READ = frozenset({"DeviceManagementConfiguration.Read.All",
                                "DeviceManagementConfiguration.ReadWrite.All"})

PAGE_SIZE = 100          # Graph's default page size for directory objects
MAX_TOP = 999            # ... and the largest $top it accepts


def now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


# --- Graph's wire errors (exact texts where the public record has them) -----------------------
def not_found(resource_id: str) -> ApiError:
    # NOTE: the text Graph answers for any missing directory object (docs-contrib issue #6431).
    return graph_error(404, "Request_ResourceNotFound",
                       f"Resource '{resource_id}' does not exist or one of its queried "
                       "reference-property objects are not present.")


def denied() -> ApiError:
    # NOTE: Graph's 403 for a token without the needed role (docs-contrib issue #3970).
    return graph_error(403, "Authorization_RequestDenied",
                       "Insufficient privileges to complete the operation.")


def bad_request(message: str, code: str = "Request_BadRequest") -> ApiError:
    return graph_error(400, code, message)


def invalid_value(prop: str, resource: str) -> ApiError:
    # NOTE: Entra's generic validation text, "Invalid value specified for property 'X' of resource 'Y'."
    return bad_request(f"Invalid value specified for property '{prop}' of resource '{resource}'.")


def not_a_valid_reference() -> ApiError:
    # NOTE: 400 for a reference to an object this replica does not see yet (FACTS.md, "Replication
    # delay"; azure-docs service-fabric-cluster-creation-setup-aad troubleshooting).
    return bad_request("Not a valid reference update.")


def not_emulated(what: str) -> ApiError:
    return graph_error(501, "NotImplemented",
                       f"The emulator does not emulate {what}. See README.md, section "
                       "'The emulator', for the routes it serves.")


# --- path keys ------------------------------------------------------------------------------
@dataclass(frozen=True)
class Key:
    """An alternate key in a path segment: ``applications(appId='…')`` → Key("appId", "…")."""

    name: str
    value: str

    def __str__(self) -> str:
        return self.value


Ref = str | Key          # an object addressed by id or by alternate key


# --- the request context ----------------------------------------------------------------------
@dataclass
class Ctx:
    request: web.Request
    world: World
    caller: object            # tokens.Caller

    @property
    def graph(self) -> dict:
        return self.world.graph

    @property
    def base(self) -> str:
        """The v1.0 service root, as Graph writes it into @odata.context and nextLink."""
        return self.world.graph_url + "/v1.0"

    @property
    def roles(self) -> frozenset:
        return frozenset(self.caller.roles or ())

    def query(self, name: str) -> str | None:
        return self.request.query.get(name)

    def prefer_create(self) -> bool:
        prefer = ",".join(self.request.headers.getall("Prefer", []))
        return any(p.strip().lower() == "create-if-missing" for p in prefer.split(","))

    async def body(self) -> dict:
        raw = await self.request.read()
        try:
            body = json.loads(raw or b"null")
        except ValueError:
            body = None
        if not isinstance(body, dict):
            # NOTE: Graph's text for an unreadable body.
            raise graph_error(400, "BadRequest", "Unable to read JSON request payload. Please ensure "
                              "Content-Type header is set and payload is of valid JSON format.")
        return body

    # --- authorization --------------------------------------------------------------------
    def owns(self, *object_ids: str) -> bool:
        owners = self.graph["owners"]
        oid = (self.caller.oid or "").lower()
        return any(oid in (o.lower() for o in owners.get(i, [])) for i in object_ids if i)

    def require(self, any_of: frozenset, *, owned: tuple[str, ...] = ()) -> None:
        """Pass when the token holds one of ``any_of``, or Application.ReadWrite.OwnedBy and the
        caller owns one of ``owned``; otherwise Graph's 403."""
        if self.roles & any_of:
            return
        if owned and self.roles & OWNED_BY and self.owns(*owned):
            return
        raise denied()

    def require_read(self, *, owned: tuple[str, ...] = ()) -> None:
        self.require(APP_READ, owned=owned)

    def can_read_all(self) -> bool:
        return bool(self.roles & APP_READ)


# --- replication lag (FACTS.md "Replication delay") ------------------------------------------
def visible(world: World, key: str) -> bool:
    """False while ``key`` is still replicating; every call uses up one of the lag's reads."""
    return not world.lagging(key)


# --- responses --------------------------------------------------------------------------------
def no_content() -> web.Response:
    return web.Response(status=204)


def context_url(ctx: Ctx, entity_set: str, select: list[str] | None = None,
                entity: bool = False) -> str:
    sel = f"({','.join(select)})" if select else ""
    return f"{ctx.base}/$metadata#{entity_set}{sel}" + ("/$entity" if entity else "")


def entity_response(ctx: Ctx, entity_set: str, item: dict, status: int = 200,
                    type_name: str | None = None) -> web.Response:
    from .graph_query import project, select_fields

    select = select_fields(ctx, item, type_name=type_name)
    body = {"@odata.context": context_url(ctx, entity_set, select, entity=True)}
    body.update(project(item, select))
    return json_response(body, status)


# --- identifiers --------------------------------------------------------------------------------
def b64_id(*guids: str, random_tail: bool = False) -> str:
    """Graph's opaque ids for grants and assignments: base64url of the related GUIDs' bytes."""
    raw = b"".join(uuid.UUID(g).bytes_le for g in guids)
    if random_tail:
        raw += uuid.uuid4().bytes
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def is_guid(value) -> bool:
    try:
        uuid.UUID(str(value))
    except (ValueError, TypeError, AttributeError):
        return False
    return True
