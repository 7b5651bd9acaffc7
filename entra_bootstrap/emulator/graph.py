"""Microsoft Graph v1.0 on ``/graph/v1.0/…``: routing, authentication, directoryObjects and the
one Intune read the demo needs. The resources live in ``graph_apps`` (applications, federated
identity credentials, owners) and ``graph_sps`` (service principals, app role assignments,
delegated permission grants); OData query options in ``graph_query``; shared helpers in
``graph_common``.

Paths are parsed per segment so that alternate keys work wherever Graph accepts them:
``/applications(appId='…')``, ``/applications(uniqueName='…')``, ``/servicePrincipals(appId='…')``,
``…/federatedIdentityCredentials(name='…')``. A path no route matches answers 501 naming it
(without authentication, like the app-wide catch-all); a matched route authenticates the Graph
token (``tokens.authenticate``) and authorizes from its ``roles``.

Replication lag: creates mark the new object (``World.mark_new``); while it lags, reads and
updates addressed to it answer 404 ``Request_ResourceNotFound`` and references to it from other
requests answer the 400s of FACTS.md. Upserts with ``Prefer: create-if-missing`` see the
consistent key index and never duplicate a lagging object.

Not emulated (501): users, groups and every other Graph resource, /beta, $batch, $orderby,
$search, $expand, $count, addPassword/addKey, deleted items (deletes are hard deletes).
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Awaitable, Callable
from urllib.parse import unquote

from aiohttp import web

from . import graph_apps as apps
from .http import json_response, not_emulated, world_of
from .auth import authenticate
from . import graph_sps as sps
from .graph_common import APP_READ, DEVICE_CONFIG_READ, Ctx, Key, bad_request, entity_response, \
    not_found, visible
from .graph_query import check_unsupported_options

PREFIX = "/graph/v1.0"
ANY = object()                     # a path placeholder: an id or an alternate key
_KEYED = re.compile(r"^([A-Za-z0-9]+)\(([A-Za-z0-9]+)='((?:[^']|'')*)'\)$")

Handler = Callable[..., Awaitable[web.Response]]


def parse_path(raw_path: str) -> list:
    """``/graph/v1.0/applications(appId='x')/owners`` → ["applications", Key(appId, x), "owners"]."""
    out: list = []
    for raw in raw_path[len(PREFIX):].strip("/").split("/"):
        seg = unquote(raw)
        m = _KEYED.match(seg)
        if m:
            out += [m.group(1), Key(m.group(2), m.group(3).replace("''", "'"))]
        else:
            out.append(seg)
    return out


def _match(pattern: tuple, segs: list) -> list | None:
    if len(pattern) != len(segs):
        return None
    captured = []
    for want, got in zip(pattern, segs):
        if want is ANY:
            if got == "" or (isinstance(got, str) and got.startswith("$")):
                return None
            captured.append(got)
        elif not isinstance(got, str) or got.lower() != want.lower():
            return None
    return captured


# --- directoryObjects and deviceManagement ----------------------------------------------------
async def get_directory_object(ctx: Ctx, oid) -> web.Response:
    ctx.require(APP_READ)
    obj = apps.directory_object(ctx, str(oid)) if isinstance(oid, str) else None
    if obj is None or not visible(ctx.world, obj["id"]):
        raise not_found(str(oid))
    return entity_response(ctx, "directoryObjects", obj)


async def get_by_ids(ctx: Ctx) -> web.Response:
    ctx.require(APP_READ)
    body = await ctx.body()
    ids, types = body.get("ids"), body.get("types")
    if not isinstance(ids, list) or not ids or not all(isinstance(i, str) for i in ids):
        raise bad_request("Invalid value specified for property 'ids'.")
    if len(ids) > 1000:
        raise bad_request("Too many ids specified: the maximum is 1000.")
    wanted = {f"#microsoft.graph.{t}".lower() for t in types or []}
    found = []
    for oid in ids:
        obj = apps.directory_object(ctx, oid)
        if obj is not None and (not wanted or obj["@odata.type"].lower() in wanted):
            found.append(obj)
    return json_response({"@odata.context": f"{ctx.base}/$metadata#directoryObjects",
                          "value": found})


async def list_device_configurations(ctx: Ctx) -> web.Response:
    ctx.require(DEVICE_CONFIG_READ)
    check_unsupported_options(ctx)
    return json_response({"@odata.context": f"{ctx.base}/$metadata#deviceManagement/deviceConfigurations",
                          "value": []})


# --- the route table ----------------------------------------------------------------------------
def _owners(fn, collection):
    return lambda ctx, *a: fn(ctx, collection, *a)


def _side(fn, side):
    return lambda ctx, *a: fn(ctx, *a, side)


A, S = "applications", "servicePrincipals"
FIC = "federatedIdentityCredentials"
ROUTES: list[tuple[str, tuple, Handler]] = [
    ("GET", (A,), apps.list_applications),
    ("POST", (A,), apps.create_application_route),
    ("GET", (A, ANY), apps.get_application),
    ("PATCH", (A, ANY), apps.patch_application),
    ("DELETE", (A, ANY), apps.delete_application),
    ("GET", (A, ANY, FIC), apps.list_fics),
    ("POST", (A, ANY, FIC), apps.create_fic_route),
    ("GET", (A, ANY, FIC, ANY), apps.get_fic),
    ("PATCH", (A, ANY, FIC, ANY), apps.patch_fic),
    ("DELETE", (A, ANY, FIC, ANY), apps.delete_fic),
    ("GET", (S,), sps.list_sps),
    ("POST", (S,), sps.create_sp_route),
    ("GET", (S, ANY), sps.get_sp),
    ("PATCH", (S, ANY), sps.patch_sp),
    ("DELETE", (S, ANY), sps.delete_sp),
    ("GET", (S, ANY, "appRoleAssignedTo"), _side(sps.list_assignments, "resource")),
    ("POST", (S, ANY, "appRoleAssignedTo"), _side(sps.create_assignment_route, "resource")),
    ("GET", (S, ANY, "appRoleAssignedTo", ANY), _side(sps.get_assignment, "resource")),
    ("DELETE", (S, ANY, "appRoleAssignedTo", ANY), _side(sps.delete_assignment, "resource")),
    ("GET", (S, ANY, "appRoleAssignments"), _side(sps.list_assignments, "principal")),
    ("POST", (S, ANY, "appRoleAssignments"), _side(sps.create_assignment_route, "principal")),
    ("GET", (S, ANY, "appRoleAssignments", ANY), _side(sps.get_assignment, "principal")),
    ("DELETE", (S, ANY, "appRoleAssignments", ANY), _side(sps.delete_assignment, "principal")),
    ("GET", ("oauth2PermissionGrants",), sps.list_grants),
    ("POST", ("oauth2PermissionGrants",), sps.create_grant),
    ("GET", ("oauth2PermissionGrants", ANY), sps.get_grant),
    ("PATCH", ("oauth2PermissionGrants", ANY), sps.patch_grant),
    ("DELETE", ("oauth2PermissionGrants", ANY), sps.delete_grant),
    ("GET", ("directoryObjects", ANY), get_directory_object),
    ("POST", ("directoryObjects", "getByIds"), get_by_ids),
    ("GET", ("deviceManagement", "deviceConfigurations"), list_device_configurations),
]
for _coll in (A, S):
    ROUTES += [
        ("GET", (_coll, ANY, "owners"), _owners(apps.list_owners, _coll)),
        ("POST", (_coll, ANY, "owners", "$ref"), _owners(apps.add_owner, _coll)),
        ("DELETE", (_coll, ANY, "owners", ANY, "$ref"), _owners(apps.remove_owner, _coll)),
    ]


async def dispatch(request: web.Request) -> web.Response:
    segs = parse_path(request.rel_url.raw_path)
    for method, pattern, handler in ROUTES:
        captured = _match(pattern, segs)
        if captured is not None and method == request.method:
            caller = authenticate(request, "graph")
            if inspect.isawaitable(caller):
                caller = await caller
            return await handler(Ctx(request, world_of(request), caller), *captured)
    return await not_emulated(request)


def add_routes(app: web.Application, *args) -> None:
    app.router.add_route("*", PREFIX + "/{tail:.*}", dispatch)
