"""The emulator's Azure RBAC (Microsoft.Authorization) through the real azure-mgmt-authorization
async client: role definitions of the built-in roles (real ids), role assignments (create, get,
list with $filter, delete), the caller's permissions, and ARM's documented errors
(RoleAssignmentExists, PrincipalNotFound, RoleDefinitionDoesNotExist, AuthorizationFailed,
RoleAssignmentNotFound, InvalidRoleAssignmentId).
Sources: Azure RBAC REST "Role Assignments - Create / Get / Delete / List For Scope", "Role
Definitions - Get / List", "Permissions - List For Resource Group"; "Troubleshoot Azure RBAC";
"Azure built-in roles"."""

from __future__ import annotations

import asyncio

import pytest
from azure.core.exceptions import HttpResponseError

from test_emulator_arm import client_kwargs, credential

RG = "myResourceGroup"
READER_ID = "acdd72a7-3385-48ef-bd42-f606fba81ae7"
OWNER_ID = "8e3af657-a8ff-443c-a75c-2fe8c4bcb635"
CONTRIBUTOR_ID = "b24988ac-6180-42a0-ab88-20f7382dd24c"
NAME = "3f0c8e52-7d1b-4a8e-9d77-0a1b2c3d4e5f"
OTHER = "9b1e2d3c-4f5a-4b6c-8d7e-0f1a2b3c4d5e"


class Authz:
    def __init__(self, emu, reader: bool = False):
        from azure.mgmt.authorization.aio import AuthorizationManagementClient

        self.cred = credential(emu, reader)
        self.sub = emu.env["AZURE_SUBSCRIPTION_ID"]
        self.client = AuthorizationManagementClient(self.cred, self.sub, **client_kwargs(emu, retry_total=0))

    async def __aenter__(self):
        return self

    async def __aexit__(self, *exc):
        await self.client.close()
        await self.cred.close()

    @property
    def sub_scope(self) -> str:
        return f"/subscriptions/{self.sub}"

    @property
    def rg_scope(self) -> str:
        return f"/subscriptions/{self.sub}/resourceGroups/{RG}"

    def role_id(self, guid: str) -> str:
        return f"{self.sub_scope}/providers/Microsoft.Authorization/roleDefinitions/{guid}"

    async def create(self, scope: str, name: str, role: str, principal: str, ptype: str | None = "ServicePrincipal"):
        from azure.mgmt.authorization.v2022_04_01.models import RoleAssignmentCreateParameters

        return await self.client.role_assignments.create(scope, name, RoleAssignmentCreateParameters(
            role_definition_id=self.role_id(role), principal_id=principal, principal_type=ptype))


def run(coro):
    return asyncio.run(coro)


def error_of(exc: HttpResponseError) -> tuple[int, str, str]:
    return exc.status_code, exc.error.code, exc.error.message


def new_identity(emu, name: str = "mi-rbac") -> str:
    """A user-assigned identity made through ARM; its principal id."""
    from test_emulator_arm import Clients

    async def go():
        async with Clients(emu) as c:
            made = await c.msi.user_assigned_identities.create_or_update(RG, name, {"location": "eastus"})
            return made.principal_id

    return run(go())


def test_role_definitions_are_the_built_in_roles_with_their_real_ids(emu):
    async def go():
        async with Authz(emu) as a:
            (reader,) = [d async for d in a.client.role_definitions.list(a.rg_scope, filter="roleName eq 'Reader'")]
            got = await a.client.role_definitions.get(a.sub_scope, OWNER_ID)
            every = {d.role_name: d.name async for d in a.client.role_definitions.list(a.sub_scope)}
            with pytest.raises(HttpResponseError) as missing:
                await a.client.role_definitions.get(a.sub_scope, "00000000-0000-0000-0000-000000000001")
            return reader, got, every, missing.value

    reader, owner, every, missing = run(go())
    assert (reader.name, reader.role_type, reader.permissions[0].actions) == (READER_ID, "BuiltInRole", ["*/read"])
    assert reader.id.endswith(f"/providers/Microsoft.Authorization/roleDefinitions/{READER_ID}")
    assert owner.role_name == "Owner"
    assert every["Contributor"] == CONTRIBUTOR_ID and every["User Access Administrator"] == \
        "18d7d88d-d35e-4fb5-a5c3-7773c20a72d9" and every["Storage Blob Data Reader"] == \
        "2a2b9908-6ea1-4ae2-8e65-a410df84e7d1"
    assert error_of(missing) == (404, "RoleDefinitionDoesNotExist", "The specified role definition with ID "
                                 "'00000000000000000000000000000001' does not exist.")


def test_create_get_list_delete_a_role_assignment(emu):
    principal = new_identity(emu)

    async def go():
        async with Authz(emu) as a:
            made = await a.create(a.rg_scope, NAME, READER_ID, principal)
            got = await a.client.role_assignments.get(a.rg_scope, NAME)
            mine = [r async for r in a.client.role_assignments.list_for_scope(
                a.rg_scope, filter=f"principalId eq '{principal}'")]
            at_sub = [r async for r in a.client.role_assignments.list_for_scope(a.sub_scope, filter="atScope()")]
            below = [r async for r in a.client.role_assignments.list_for_scope(a.sub_scope)]
            deleted = await a.client.role_assignments.delete(a.rg_scope, NAME)
            again = await a.client.role_assignments.delete(a.rg_scope, NAME)
            with pytest.raises(HttpResponseError) as gone:
                await a.client.role_assignments.get(a.rg_scope, NAME)
            return made, got, mine, at_sub, below, deleted, again, gone.value

    made, got, mine, at_sub, below, deleted, again, gone = run(go())
    assert made.id == f"/subscriptions/{emu.env['AZURE_SUBSCRIPTION_ID']}/resourceGroups/{RG}/providers/" \
                      f"Microsoft.Authorization/roleAssignments/{NAME}"
    assert (made.principal_id, made.principal_type, made.scope.endswith(RG)) == (principal, "ServicePrincipal", True)
    assert made.role_definition_id.endswith(READER_ID) and got.id == made.id
    assert [r.name for r in mine] == [NAME]
    assert NAME not in [r.name for r in at_sub]           # atScope(): at or above the scope only
    assert NAME in [r.name for r in below]                # no filter: below the scope too
    assert deleted.name == NAME and again is None         # DELETE 200 with the assignment, then 204
    assert error_of(gone)[:2] == (404, "RoleAssignmentNotFound")


def test_the_same_assignment_twice_is_409_role_assignment_exists_whatever_its_name(emu):
    principal = new_identity(emu)

    async def go():
        async with Authz(emu) as a:
            await a.create(a.rg_scope, NAME, READER_ID, principal)
            out = []
            for name in (NAME, OTHER):
                with pytest.raises(HttpResponseError) as exists:
                    await a.create(a.rg_scope, name, READER_ID, principal)
                out.append(exists.value)
            with pytest.raises(HttpResponseError) as moved:       # same name, another role
                await a.create(a.rg_scope, NAME, CONTRIBUTOR_ID, principal)
            with pytest.raises(HttpResponseError) as bad_name:
                await a.create(a.rg_scope, "not-a-guid", READER_ID, principal)
            return out, moved.value, bad_name.value

    (same, other), moved, bad_name = run(go())
    for exc in (same, other):
        status, code, message = error_of(exc)
        assert (status, code) == (409, "RoleAssignmentExists")
        assert message.startswith("The role assignment already exists.")
    assert error_of(moved)[:2] == (400, "RoleAssignmentUpdateNotPermitted")
    assert error_of(bad_name)[:2] == (400, "InvalidRoleAssignmentId")


def test_unknown_role_and_unknown_principal_are_refused(emu):
    async def go():
        async with Authz(emu) as a:
            with pytest.raises(HttpResponseError) as role:
                await a.create(a.sub_scope, NAME, "00000000-0000-0000-0000-00000000abcd",
                               emu.state()["seed"]["reader"]["spId"])
            with pytest.raises(HttpResponseError) as principal:
                await a.create(a.sub_scope, NAME, READER_ID, "11111111-1111-4111-8111-111111111111")
            return role.value, principal.value

    role, principal = run(go())
    assert error_of(role) == (400, "RoleDefinitionDoesNotExist", "The specified role definition with ID "
                              "'0000000000000000000000000000abcd' does not exist.")
    status, code, message = error_of(principal)
    assert (status, code) == (400, "PrincipalNotFound")
    assert message.startswith(f"Principal 11111111111141118111111111111111 does not exist in the directory "
                              f"{emu.env['AZURE_TENANT_ID']}.") and "principalType" in message


def test_a_principal_that_has_not_replicated_is_refused_unless_principal_type_is_sent(emu):
    emu.faults(replication_lag=2)
    lagging = new_identity(emu, "mi-lag")
    typed = new_identity(emu, "mi-typed")

    async def go():
        async with Authz(emu) as a:
            refused = []
            for _ in range(2):                       # replication_lag: 2 -> two refusals, then accepted
                with pytest.raises(HttpResponseError) as exc:
                    await a.create(a.rg_scope, NAME, READER_ID, lagging, ptype=None)
                refused.append(error_of(exc.value)[:2])
            made = await a.create(a.rg_scope, NAME, READER_ID, lagging, ptype=None)
            # "Assign Azure roles using the REST API": principalType lets a new principal through at once
            typed_made = await a.create(a.rg_scope, OTHER, READER_ID, typed)
            return refused, made, typed_made

    refused, made, typed_made = run(go())
    assert refused == [(400, "PrincipalNotFound")] * 2
    assert made.principal_type == "ServicePrincipal" and typed_made.principal_id == typed


def test_the_reader_is_refused_role_assignment_writes_with_403_authorization_failed(emu):
    reader = emu.state()["seed"]["reader"]["spId"]

    async def go():
        async with Authz(emu, reader=True) as a:
            listed = [r async for r in a.client.role_assignments.list_for_scope(a.sub_scope)]
            with pytest.raises(HttpResponseError) as write:
                await a.create(a.sub_scope, NAME, READER_ID, reader)
            with pytest.raises(HttpResponseError) as delete:
                await a.client.role_assignments.delete(a.sub_scope, NAME)
            perms = [p async for p in a.client.permissions.list_for_resource_group(RG)]
            return listed, write.value, delete.value, perms

    listed, write, delete, perms = run(go())
    assert listed                                                   # Reader may read them
    status, code, message = error_of(write)
    assert (status, code) == (403, "AuthorizationFailed")
    assert f"'{reader}'" in message and "'Microsoft.Authorization/roleAssignments/write'" in message
    assert error_of(delete)[:2] == (403, "AuthorizationFailed")
    assert [p.actions for p in perms] == [["*/read"]]


def test_contributor_may_not_assign_roles_but_user_access_administrator_may(emu):
    from test_emulator_arm import set_roles

    state = emu.state()
    sub = f"/subscriptions/{state['subscription_id']}"
    reader = set_roles(emu, "reader", [("Contributor", sub)])

    async def attempt():
        async with Authz(emu, reader=True) as a:
            try:
                await a.create(a.rg_scope, NAME, READER_ID, reader)
                return "created"
            except HttpResponseError as exc:
                return error_of(exc)[1]

    assert run(attempt()) == "AuthorizationFailed"       # Contributor: notActions Microsoft.Authorization/*/Write
    set_roles(emu, "reader", [("User Access Administrator", sub)])
    assert run(attempt()) == "created"


def test_a_scope_that_does_not_exist_is_404(emu):
    async def go():
        async with Authz(emu) as a:
            with pytest.raises(HttpResponseError) as rg:
                await a.create(f"{a.sub_scope}/resourceGroups/nope", NAME, READER_ID, "x")
            with pytest.raises(HttpResponseError) as sub:
                await a.client.role_assignments.get("/subscriptions/00000000-0000-0000-0000-000000000000", NAME)
            return rg.value, sub.value

    rg, sub = run(go())
    assert error_of(rg)[:2] == (404, "ResourceGroupNotFound")
    assert error_of(sub)[:2] == (404, "SubscriptionNotFound")


def test_authorization_is_checked_before_the_resource_group(emu):
    """ARM's order: subscription, authorization, resource group - the reader learns nothing of
    a group it may not write to."""
    async def go():
        async with Authz(emu, reader=True) as a:
            with pytest.raises(HttpResponseError) as exc:
                await a.create(f"{a.sub_scope}/resourceGroups/nope", NAME, READER_ID, "x")
            return exc.value

    assert error_of(run(go()))[:2] == (403, "AuthorizationFailed")
