"""Typed Azure RBAC calls (Microsoft.Authorization) through azure-mgmt-authorization's async client,
on the run's ARM pipeline (``ArmClient.sdk``: the same transport, retries, logging and error
mapping as clients/arm.py; ``ArmClient.call`` runs every call).

Role assignments and role definitions come back as small dicts in ARM's camelCase
(``id``, ``name``, ``scope``, ``roleDefinitionId``, ``principalId``, ``principalType``;
``roleName``, ``type`` for definitions).

- ``create_role_assignment`` sends ``principalType`` (Azure RBAC: "Assign Azure roles using the
  REST API": set it for a just-created service principal, or ARM may answer PrincipalNotFound
  while the principal replicates); a 400 ``PrincipalNotFound`` that comes anyway is retried as
  replication delay (clients/retry.classify), and a 409 ``RoleAssignmentExists`` (the assignment
  exists, possibly under another name: "Troubleshoot Azure RBAC") returns None so the caller
  re-reads and adopts it. With a deterministic name the PUT may be repeated after a lost answer.
- A 403 names the role needed: User Access Administrator or Owner on the scope (or Role Based
  Access Control Administrator).
"""

from __future__ import annotations

from typing import Any

from .arm import ArmError, _wire_error, arm

ROLE_ASSIGNMENT_WRITER = ("the 'User Access Administrator' role (or Owner, or Role Based Access Control "
                          "Administrator) on the scope")


def _make(credential, subscription_id: str, **kwargs):
    from azure.mgmt.authorization.aio import AuthorizationManagementClient

    return AuthorizationManagementClient(credential, subscription_id, **kwargs)


def _assignment(ra) -> dict:
    return {"id": ra.id, "name": ra.name, "scope": ra.scope, "roleDefinitionId": ra.role_definition_id,
            "principalId": ra.principal_id, "principalType": ra.principal_type}


def _definition(rd) -> dict:
    return {"id": rd.id, "name": rd.name, "roleName": rd.role_name, "type": rd.role_type}


class AuthorizationOps:
    def __init__(self, session):
        self.arm = arm(session)

    @property
    def _client(self):
        return self.arm.sdk("authorization", _make)

    # --- role definitions ---------------------------------------------------------------------
    async def get_role_definition(self, scope: str, role_id: str) -> dict | None:
        """A role definition by its GUID (None when ARM has none: RoleDefinitionDoesNotExist)."""
        ops = self._client.role_definitions

        async def fn():
            return _definition(await ops.get(scope, role_id))

        return await self.arm.call(fn, what=f"GET role definition {role_id}", obj=f"role definition {role_id}",
                                   missing_ok=True)

    async def get_role_definition_by_name(self, scope: str, name: str) -> dict | None:
        """The role definition whose roleName is ``name`` (case-insensitive), or None."""
        ops = self._client.role_definitions
        flt = "roleName eq '{}'".format(name.replace("'", "''"))

        async def fn():
            return [_definition(rd) async for rd in ops.list(scope, filter=flt)]

        found = await self.arm.call(fn, what=f"GET role definition '{name}'", obj=f"role '{name}'")
        return next((rd for rd in found if (rd["roleName"] or "").lower() == name.lower()), None)

    async def list_role_definitions(self, scope: str) -> list[dict]:
        ops = self._client.role_definitions

        async def fn():
            return [_definition(rd) async for rd in ops.list(scope)]

        return await self.arm.call(fn, what="GET role definitions", obj=f"role definitions at {scope}")

    # --- role assignments ---------------------------------------------------------------------
    async def list_role_assignments(self, scope: str, principal_id: str | None = None) -> list[dict]:
        """The assignments at, above and below ``scope`` (of ``principal_id`` when given)."""
        ops = self._client.role_assignments
        flt = f"principalId eq '{principal_id}'" if principal_id else None

        async def fn():
            return [_assignment(ra) async for ra in ops.list_for_scope(scope, filter=flt)]

        return await self.arm.call(fn, what=f"GET role assignments at {scope}",
                                   obj=f"role assignments at {scope}")

    async def create_role_assignment(self, scope: str, name: str, role_definition_id: str,
                                     principal_id: str, principal_type: str | None) -> dict | None:
        """PUT the assignment ``name``; None when ARM says it exists already (RoleAssignmentExists)."""
        from azure.core.exceptions import HttpResponseError
        from azure.mgmt.authorization.v2022_04_01.models import RoleAssignmentCreateParameters


        ops = self._client.role_assignments
        params = RoleAssignmentCreateParameters(role_definition_id=role_definition_id,
                                                principal_id=principal_id, principal_type=principal_type)

        async def fn() -> Any:
            try:
                return _assignment(await ops.create(scope, name, params))
            except HttpResponseError as exc:
                wire: ArmError | None = _wire_error(exc)
                if wire is not None and wire.status == 409 and wire.code == "RoleAssignmentExists":
                    return None
                raise

        return await self.arm.call(fn, what=f"PUT role assignment {name}",
                                   obj=f"role assignment at {scope}", needs=ROLE_ASSIGNMENT_WRITER)

    async def delete_role_assignment(self, assignment_id: str) -> None:
        ops = self._client.role_assignments
        await self.arm.call(lambda: ops.delete_by_id(assignment_id), what=f"DELETE {assignment_id}",
                            obj=f"role assignment {assignment_id}", needs=ROLE_ASSIGNMENT_WRITER,
                            missing_ok=True)


def authorization(session) -> AuthorizationOps:
    """The run's RBAC operations (their SDK client is closed with the run's ARM client)."""
    return session.client("arm_authorization", lambda: AuthorizationOps(session))
