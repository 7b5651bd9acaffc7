"""Handlers of app role assignments, from both ends: ``/servicePrincipals/{id}/appRoleAssignedTo``
(``side="resource"``: the assignments granted on this resource — admin consent to application
permissions) and ``/servicePrincipals/{id}/appRoleAssignments`` (``side="principal"``: the
assignments this client holds). List, create, get, delete.
Source: Microsoft Graph: "Grant an appRoleAssignment to a service principal", "Grant an
appRoleAssignment for a service principal", "List appRoleAssignedTo", "List appRoleAssignments
granted to a service principal", "Delete appRoleAssignedTo", "Delete appRoleAssignment"; Entra ID:
"Grant tenant-wide admin consent to an application".
"""

from __future__ import annotations

from aiohttp import web

from . import models
from .context import Ctx, collection_response, entity_response, no_content
from .models import Ref

TYPE = "microsoft.graph.appRoleAssignment"
FILTERABLE = ["id", "principalId", "resourceId", "appRoleId", "principalType"]
FIELDS = {"id", "appRoleId", "createdDateTime", "deletedDateTime", "principalDisplayName",
          "principalId", "principalType", "resourceDisplayName", "resourceId"}


def _entity_set(sp: dict, side: str) -> str:
    nav = "appRoleAssignedTo" if side == "resource" else "appRoleAssignments"
    return f"servicePrincipals('{sp['id']}')/{nav}"


def _readable_sp(ctx: Ctx, ref: Ref) -> dict:
    sp = models.resolve_sp(ctx, ref)
    ctx.require_read(owned=models.sp_owned_ids(ctx, sp))
    return sp


async def list_assignments(ctx: Ctx, ref: Ref, *, side: str) -> web.Response:
    sp = _readable_sp(ctx, ref)
    return collection_response(ctx, _entity_set(sp, side), models.assignments_of(ctx, sp, side),
                               filterable=FILTERABLE, type_name=TYPE, known=FIELDS)


async def create_assignment(ctx: Ctx, ref: Ref, *, side: str) -> web.Response:
    sp = models.resolve_sp(ctx, ref)
    assignment = models.create_assignment(ctx, await ctx.body(), path_sp=sp, side=side)
    return entity_response(ctx, _entity_set(sp, side), dict(assignment), 201)


async def get_assignment(ctx: Ctx, ref: Ref, assignment_id: str, *, side: str) -> web.Response:
    sp = _readable_sp(ctx, ref)
    return entity_response(ctx, _entity_set(sp, side),
                           dict(models.find_assignment(ctx, sp, side, assignment_id)), type_name=TYPE)


async def delete_assignment(ctx: Ctx, ref: Ref, assignment_id: str, *, side: str) -> web.Response:
    sp = models.resolve_sp(ctx, ref)
    models.delete_assignment(ctx, models.find_assignment(ctx, sp, side, assignment_id))
    return no_content()
