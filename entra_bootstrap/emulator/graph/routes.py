"""Microsoft Graph v1.0 on ``/graph/v1.0/…``: the one route table, and the dispatcher.

To add an emulated Graph route, add one row to ``ROUTES`` here — (method, path, handler,
permissions needed) — and its handler to one handler module (HTTP in and out only; directory
rules live in ``models``). Nothing else changes.

Paths are parsed per segment so that alternate keys work wherever Graph accepts them:
``/applications(appId='…')``, ``/applications(uniqueName='…')``, ``/servicePrincipals(appId='…')``,
``…/federatedIdentityCredentials(name='…')``; ``{…}`` in a path matches an id or such a key. Rows
are tried in order. A path no row matches answers 501 naming it (without authentication, like the
app-wide catch-all); a matched row authenticates the Graph token (``auth.authenticate``), checks
its ``roles`` against the row's ``permissions.Needs`` (403 before any lookup), then calls the
handler with the captured segments.

Not emulated (501): users, groups and every other Graph resource, /beta, $batch, $orderby,
$search, $expand, $count, addKey/removeKey (keyCredentials are set with PATCH), deleted items (deletes are hard deletes).
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Awaitable, Callable
from functools import partial
from urllib.parse import unquote

from aiohttp import web

from ..auth import authenticate
from ..http import not_emulated, world_of
from . import app_role_assignments as assignments
from . import applications, device_management, directory_objects, owners
from . import password_credentials as passwords
from . import federated_identity_credentials as fics
from . import oauth2_permission_grants as grants
from . import service_principals as sps
from .context import PREFIX, Ctx
from .models import Key
from .permissions import ASSIGN, DEVICE_CONFIGS_READ, DIRECTORY_READ, GRANTS_READ, GRANTS_WRITE, \
    READ, WRITE, Needs

Handler = Callable[..., Awaitable[web.Response]]
APPS, SPS = "applications", "servicePrincipals"

ROUTES: list[tuple[str, str, Handler, Needs]] = [
    ("GET", "/applications", applications.list_applications, READ),
    ("POST", "/applications", applications.create_application, WRITE),
    ("GET", "/applications/{app}", applications.get_application, READ),
    ("PATCH", "/applications/{app}", applications.patch_application, WRITE),
    ("DELETE", "/applications/{app}", applications.delete_application, WRITE),
    ("POST", "/applications/{app}/addPassword", passwords.add_password, WRITE),
    ("POST", "/applications/{app}/removePassword", passwords.remove_password, WRITE),
    ("GET", "/applications/{app}/federatedIdentityCredentials", fics.list_fics, READ),
    ("POST", "/applications/{app}/federatedIdentityCredentials", fics.create_fic, WRITE),
    ("GET", "/applications/{app}/federatedIdentityCredentials/{fic}", fics.get_fic, READ),
    ("PATCH", "/applications/{app}/federatedIdentityCredentials/{fic}", fics.patch_fic, WRITE),
    ("DELETE", "/applications/{app}/federatedIdentityCredentials/{fic}", fics.delete_fic, WRITE),
    ("GET", "/servicePrincipals", sps.list_sps, READ),
    ("POST", "/servicePrincipals", sps.create_sp, WRITE),
    ("GET", "/servicePrincipals/{sp}", sps.get_sp, READ),
    ("PATCH", "/servicePrincipals/{sp}", sps.patch_sp, WRITE),
    ("DELETE", "/servicePrincipals/{sp}", sps.delete_sp, WRITE),
    ("GET", "/servicePrincipals/{sp}/appRoleAssignedTo",
     partial(assignments.list_assignments, side="resource"), READ),
    ("POST", "/servicePrincipals/{sp}/appRoleAssignedTo",
     partial(assignments.create_assignment, side="resource"), ASSIGN),
    ("GET", "/servicePrincipals/{sp}/appRoleAssignedTo/{id}",
     partial(assignments.get_assignment, side="resource"), READ),
    ("DELETE", "/servicePrincipals/{sp}/appRoleAssignedTo/{id}",
     partial(assignments.delete_assignment, side="resource"), ASSIGN),
    ("GET", "/servicePrincipals/{sp}/appRoleAssignments",
     partial(assignments.list_assignments, side="principal"), READ),
    ("POST", "/servicePrincipals/{sp}/appRoleAssignments",
     partial(assignments.create_assignment, side="principal"), ASSIGN),
    ("GET", "/servicePrincipals/{sp}/appRoleAssignments/{id}",
     partial(assignments.get_assignment, side="principal"), READ),
    ("DELETE", "/servicePrincipals/{sp}/appRoleAssignments/{id}",
     partial(assignments.delete_assignment, side="principal"), ASSIGN),
    ("GET", "/oauth2PermissionGrants", grants.list_grants, GRANTS_READ),
    ("POST", "/oauth2PermissionGrants", grants.create_grant, GRANTS_WRITE),
    ("GET", "/oauth2PermissionGrants/{id}", grants.get_grant, GRANTS_READ),
    ("PATCH", "/oauth2PermissionGrants/{id}", grants.patch_grant, GRANTS_WRITE),
    ("DELETE", "/oauth2PermissionGrants/{id}", grants.delete_grant, GRANTS_WRITE),
    ("GET", "/directoryObjects/{id}", directory_objects.get_directory_object, DIRECTORY_READ),
    ("POST", "/directoryObjects/getByIds", directory_objects.get_by_ids, DIRECTORY_READ),
    ("GET", "/deviceManagement/deviceConfigurations", device_management.list_device_configurations,
     DEVICE_CONFIGS_READ),
    ("GET", "/applications/{app}/owners", partial(owners.list_owners, collection=APPS), READ),
    ("POST", "/applications/{app}/owners/$ref", partial(owners.add_owner, collection=APPS), WRITE),
    ("DELETE", "/applications/{app}/owners/{id}/$ref",
     partial(owners.remove_owner, collection=APPS), WRITE),
    ("GET", "/servicePrincipals/{sp}/owners", partial(owners.list_owners, collection=SPS), READ),
    ("POST", "/servicePrincipals/{sp}/owners/$ref", partial(owners.add_owner, collection=SPS), WRITE),
    ("DELETE", "/servicePrincipals/{sp}/owners/{id}/$ref",
     partial(owners.remove_owner, collection=SPS), WRITE),
]

ANY = object()                     # a path placeholder: an id or an alternate key
_KEYED = re.compile(r"^([A-Za-z0-9]+)\(([A-Za-z0-9]+)='((?:[^']|'')*)'\)$")


def _pattern(path: str) -> tuple:
    """``/applications/{app}/owners`` → ("applications", ANY, "owners")."""
    return tuple(ANY if s.startswith("{") else s for s in path.strip("/").split("/"))


_TABLE = [(method, _pattern(path), handler, needs) for method, path, handler, needs in ROUTES]


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


async def dispatch(request: web.Request) -> web.Response:
    segs = parse_path(request.rel_url.raw_path)
    for method, pattern, handler, needs in _TABLE:
        captured = _match(pattern, segs)
        if captured is not None and method == request.method:
            caller = authenticate(request, "graph")
            if inspect.isawaitable(caller):
                caller = await caller
            ctx = Ctx(world=world_of(request), caller=caller, request=request)
            needs.check(ctx.roles)
            return await handler(ctx, *captured)
    return await not_emulated(request)


def add_routes(app: web.Application) -> None:
    app.router.add_route("*", PREFIX + "/{tail:.*}", dispatch)
