"""The emulator's service principals, app role assignments (admin consent to application
permissions) and oauth2PermissionGrants (delegated consent), through msgraph-sdk."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from test_emulator_graph_support import DENIED, DEVICE_CONFIG_RW, GRAPH_APP_ID, GRAPH_SP_ID, \
    OPERATOR_SP_ID, READER_SP_ID, USER_READ_ALL_ROLE, caller_with_roles, graph_client, new_app, \
    new_app_with_sp, not_found_text, odata_error, prefer_create, query, run

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

NOT_A_VALID_REFERENCE = "Not a valid reference update."
ROLE_ID = uuid.UUID("5b8c1c7e-0c55-4c5d-9d9a-3c1f2a9e7a11")
SCOPE_ID = uuid.UUID("0d2f3c4b-1a2b-4c3d-8e9f-0a1b2c3d4e5f")


def _sp(**kw):
    from msgraph.generated.models.service_principal import ServicePrincipal

    return ServicePrincipal(**kw)


def _assignment(principal, resource, role):
    from msgraph.generated.models.app_role_assignment import AppRoleAssignment

    return AppRoleAssignment(principal_id=uuid.UUID(str(principal)), resource_id=uuid.UUID(str(resource)),
                             app_role_id=uuid.UUID(str(role)))


def _grant(**kw):
    from msgraph.generated.models.o_auth2_permission_grant import OAuth2PermissionGrant

    return OAuth2PermissionGrant(**kw)


def _api_app(client, name="api"):
    """An app that defines one app role and one delegated scope."""
    from msgraph.generated.models.api_application import ApiApplication
    from msgraph.generated.models.app_role import AppRole
    from msgraph.generated.models.permission_scope import PermissionScope

    role = AppRole(id=ROLE_ID, allowed_member_types=["Application"], value="Things.Read.All",
                   display_name="Read things", description="Read things", is_enabled=True)
    scope = PermissionScope(id=SCOPE_ID, value="things.read", type="User", is_enabled=True,
                            admin_consent_display_name="Read things",
                            admin_consent_description="Read things")
    return new_app(client, name, app_roles=[role], api=ApiApplication(oauth2_permission_scopes=[scope]))


# --- service principals ----------------------------------------------------------------------

def test_service_principal_copies_the_application(emu):
    async def body(client):
        app = await _api_app(client)
        sp = await client.service_principals.post(_sp(app_id=app.app_id))
        by_app_id = await client.service_principals_with_app_id(app.app_id).get()
        return app, sp, by_app_id

    app, sp, by_app_id = run(emu, body)
    assert sp.app_id == app.app_id and sp.display_name == "api" and sp.app_display_name == "api"
    assert sp.service_principal_type == "Application" and sp.account_enabled is True
    assert sp.app_owner_organization_id == uuid.UUID(emu.env["AZURE_TENANT_ID"])
    assert [(r.id, r.value) for r in sp.app_roles] == [(ROLE_ID, "Things.Read.All")]
    assert [(s.id, s.value) for s in sp.oauth2_permission_scopes] == [(SCOPE_ID, "things.read")]
    assert app.app_id in sp.service_principal_names
    assert by_app_id.id == sp.id


def test_service_principal_errors(emu):
    async def body(client):
        app, sp = await new_app_with_sp(client)
        await odata_error(client.service_principals.post(_sp(app_id=app.app_id)), 409,
                          "Request_MultipleObjectsWithSameKeyValue",
                          "The service principal cannot be created, updated, or restored because the "
                          f"service principal name {app.app_id} is already in use.")
        unknown = str(uuid.uuid4())
        await odata_error(client.service_principals.post(_sp(app_id=unknown)), 400, "Request_BadRequest",
                          f"The appId '{unknown}' of the service principal does not reference a valid "
                          "application object.")
        await odata_error(client.service_principals.post(_sp(display_name="no app id")), 400,
                          "Request_BadRequest")
        await odata_error(client.service_principals.by_service_principal_id(unknown).get(), 404,
                          "Request_ResourceNotFound", not_found_text(unknown))

    run(emu, body)


def test_service_principal_upsert_by_app_id(emu):
    async def body(client):
        app = await new_app(client)

        def builder():
            # NOTE: msgraph-sdk's *_with_app_id() writes the key into the client's shared path
            # parameters, so a builder kept across another *_with_app_id() call changes target.
            return client.service_principals_with_app_id(app.app_id)

        await odata_error(builder().patch(_sp(notes="x")), 404, "Request_ResourceNotFound",
                          not_found_text(app.app_id))
        created = await builder().patch(_sp(tags=["one"]), prefer_create())
        updated = await builder().patch(_sp(tags=["two"], app_role_assignment_required=True),
                                        prefer_create())
        unknown = str(uuid.uuid4())
        await odata_error(client.service_principals_with_app_id(unknown).patch(_sp(), prefer_create()),
                          400, "Request_BadRequest")
        return created, updated, await builder().get()

    created, updated, current = run(emu, body)
    assert created.tags == ["one"] and updated is None
    assert (current.id, current.tags, current.app_role_assignment_required) == (created.id, ["two"], True)


def test_service_principal_list_filter_and_select(emu):
    async def body(client):
        app, sp = await new_app_with_sp(client, "Filtered SP")
        sps = client.service_principals
        by_app_id = await sps.get(query(sps, filter=f"appId eq '{app.app_id}'"))
        by_name = await sps.get(query(sps, filter=f"servicePrincipalNames/any(x:x eq '{app.app_id}')",
                                      select=["id", "displayName"]))
        graph = await sps.get(query(sps, filter=f"appId eq '{GRAPH_APP_ID}'", select=["id"]))
        prefix = await sps.get(query(sps, filter="startswith(displayName,'entra-bootstrap')"))
        return sp, by_app_id.value, by_name.value, graph.value, prefix.value

    sp, by_app_id, by_name, graph, prefix = run(emu, body)
    assert [s.id for s in by_app_id] == [sp.id]
    assert [(s.id, s.display_name, s.app_id) for s in by_name] == [(sp.id, "Filtered SP", None)]
    assert [s.id for s in graph] == [GRAPH_SP_ID]
    assert sorted(s.id for s in prefix) == [OPERATOR_SP_ID, READER_SP_ID]


def test_application_changes_reach_its_service_principal(emu):
    from msgraph.generated.models.app_role import AppRole
    from msgraph.generated.models.application import Application

    async def body(client):
        app, sp = await new_app_with_sp(client)
        role = AppRole(id=ROLE_ID, allowed_member_types=["Application"], value="Late.Role",
                       display_name="Late", description="Late", is_enabled=True)
        await client.applications.by_application_id(app.id).patch(Application(app_roles=[role]))
        return await client.service_principals.by_service_principal_id(sp.id).get()

    assert [r.value for r in run(emu, body).app_roles] == ["Late.Role"]


def test_deleting_an_application_deletes_its_service_principal_and_consent(emu):
    async def body(client):
        app, sp = await new_app_with_sp(client)
        await client.service_principals.by_service_principal_id(GRAPH_SP_ID).app_role_assigned_to.post(
            _assignment(sp.id, GRAPH_SP_ID, DEVICE_CONFIG_RW))
        await client.applications.by_application_id(app.id).delete()
        await odata_error(client.service_principals.by_service_principal_id(sp.id).get(), 404,
                          "Request_ResourceNotFound")
        return sp

    sp = run(emu, body)
    state = emu.state()["graph"]
    assert sp.id not in state["servicePrincipals"]
    assert all(a["principalId"] != sp.id for a in state["appRoleAssignments"].values())


def test_delete_service_principal(emu):
    async def body(client):
        app, sp = await new_app_with_sp(client)
        await client.service_principals_with_app_id(app.app_id).delete()
        await odata_error(client.service_principals.by_service_principal_id(sp.id).delete(), 404,
                          "Request_ResourceNotFound")
        return (await client.applications.by_application_id(app.id).get()).id == app.id

    assert run(emu, body)                     # the application stays


# --- app role assignments ----------------------------------------------------------------------

def test_app_role_assigned_to_round_trip(emu):
    async def body(client):
        _, sp = await new_app_with_sp(client, "client-app")
        graph = client.service_principals.by_service_principal_id(GRAPH_SP_ID)
        created = await graph.app_role_assigned_to.post(_assignment(sp.id, GRAPH_SP_ID, DEVICE_CONFIG_RW))
        on_resource = await graph.app_role_assigned_to.get(
            query(graph.app_role_assigned_to, filter=f"principalId eq {sp.id}"))
        mine = client.service_principals.by_service_principal_id(sp.id).app_role_assignments
        on_client = await mine.get()
        one = await graph.app_role_assigned_to.by_app_role_assignment_id(created.id).get()
        await graph.app_role_assigned_to.by_app_role_assignment_id(created.id).delete()
        await odata_error(graph.app_role_assigned_to.by_app_role_assignment_id(created.id).delete(),
                          404, "Request_ResourceNotFound")
        return sp, created, on_resource.value, on_client.value, one, (await mine.get()).value

    sp, created, on_resource, on_client, one, after = run(emu, body)
    assert (created.principal_id, created.resource_id, created.app_role_id) == (
        uuid.UUID(sp.id), uuid.UUID(GRAPH_SP_ID), uuid.UUID(DEVICE_CONFIG_RW))
    assert created.principal_type == "ServicePrincipal" and created.principal_display_name == "client-app"
    assert created.resource_display_name == "Microsoft Graph" and created.created_date_time is not None
    assert [a.id for a in on_resource] == [a.id for a in on_client] == [one.id] == [created.id]
    assert after == []


def test_app_role_assignment_from_the_client_side(emu):
    async def body(client):
        api = await _api_app(client)
        api_sp = await client.service_principals.post(_sp(app_id=api.app_id))
        _, sp = await new_app_with_sp(client, "caller")
        mine = client.service_principals.by_service_principal_id(sp.id).app_role_assignments
        created = await mine.post(_assignment(sp.id, api_sp.id, ROLE_ID))
        listed = await client.service_principals.by_service_principal_id(api_sp.id).app_role_assigned_to.get()
        await mine.by_app_role_assignment_id(created.id).delete()
        return created, listed.value

    created, listed = run(emu, body)
    assert created.app_role_id == ROLE_ID and [a.id for a in listed] == [created.id]


def test_app_role_assignment_errors(emu):
    async def body(client):
        _, sp = await new_app_with_sp(client)
        assigned_to = client.service_principals.by_service_principal_id(GRAPH_SP_ID).app_role_assigned_to
        await assigned_to.post(_assignment(sp.id, GRAPH_SP_ID, DEVICE_CONFIG_RW))
        await odata_error(assigned_to.post(_assignment(sp.id, GRAPH_SP_ID, DEVICE_CONFIG_RW)), 400,
                          "Request_BadRequest", "Permission being assigned already exists on the object.")
        unknown_role = uuid.uuid4()
        await odata_error(assigned_to.post(_assignment(sp.id, GRAPH_SP_ID, unknown_role)), 400,
                          "Request_BadRequest",
                          f"Permission being assigned was not found on application '{GRAPH_APP_ID}'.")
        await odata_error(assigned_to.post(_assignment(uuid.uuid4(), GRAPH_SP_ID, DEVICE_CONFIG_RW)),
                          400, "Request_BadRequest", NOT_A_VALID_REFERENCE)
        missing = str(uuid.uuid4())
        await odata_error(client.service_principals.by_service_principal_id(missing).app_role_assigned_to
                          .post(_assignment(sp.id, missing, DEVICE_CONFIG_RW)), 404,
                          "Request_ResourceNotFound", not_found_text(missing))
        return len((await assigned_to.get()).value)

    assert run(emu, body) == 6             # the seeded operator (4) and reader (1), plus one


def test_assignment_needs_app_role_assignment_and_a_read_permission(emu):
    target = run(emu, lambda client: new_app_with_sp(client, "target"))[1]
    only_assign = caller_with_roles(emu, "06b708a9-e830-4db3-a914-8e69da51d44f", name="assigner")

    async def attempt(client_id, secret):
        async with graph_client(emu, client_id, secret) as client:
            await odata_error(client.service_principals.by_service_principal_id(GRAPH_SP_ID)
                              .app_role_assigned_to.post(_assignment(target.id, GRAPH_SP_ID,
                                                                     USER_READ_ALL_ROLE)),
                              403, "Authorization_RequestDenied", DENIED)

    asyncio.run(attempt(*only_assign[:2]))
    asyncio.run(attempt(emu.env["EMULATOR_READER_CLIENT_ID"], emu.env["EMULATOR_READER_CLIENT_SECRET"]))


def test_consented_role_appears_in_the_clients_token(emu):
    import jwt
    from azure.identity import ClientSecretCredential

    client_id, secret, _ = caller_with_roles(emu, DEVICE_CONFIG_RW, USER_READ_ALL_ROLE, name="consented")
    token = ClientSecretCredential(emu.env["AZURE_TENANT_ID"], client_id, secret, authority=emu.url,
                                   disable_instance_discovery=True, connection_verify=emu.ca) \
        .get_token(emu.env["ENTRA_BOOTSTRAP_GRAPH_ENDPOINT"] + "/.default").token
    roles = jwt.decode(token, options={"verify_signature": False})["roles"]
    assert roles == ["DeviceManagementConfiguration.ReadWrite.All", "User.Read.All"]


# --- oauth2PermissionGrants --------------------------------------------------------------------

def test_delegated_grant_round_trip_and_filters(emu):
    async def body(client):
        _, sp = await new_app_with_sp(client)
        grants = client.oauth2_permission_grants
        created = await grants.post(_grant(client_id=sp.id, consent_type="AllPrincipals",
                                           resource_id=GRAPH_SP_ID, scope="User.Read"))
        per_user = await grants.post(_grant(client_id=sp.id, consent_type="Principal",
                                            principal_id=READER_SP_ID, resource_id=GRAPH_SP_ID,
                                            scope="User.Read Mail.Read"))
        flt = f"clientId eq '{sp.id}' and consentType eq 'AllPrincipals'"
        all_principals = await grants.get(query(grants, filter=flt))
        by_resource = await grants.get(query(grants, filter=f"resourceId eq '{GRAPH_SP_ID}'"))
        item = grants.by_o_auth2_permission_grant_id(created.id)
        await item.patch(_grant(scope="User.Read Group.Read.All"))
        patched = await item.get()
        await item.delete()
        await odata_error(item.get(), 404, "Request_ResourceNotFound", not_found_text(created.id))
        return sp, created, per_user, all_principals.value, by_resource.value, patched

    sp, created, per_user, all_principals, by_resource, patched = run(emu, body)
    assert (created.client_id, created.resource_id, created.consent_type, created.principal_id) == (
        sp.id, GRAPH_SP_ID, "AllPrincipals", None)
    assert created.id and created.id != per_user.id and per_user.principal_id == READER_SP_ID
    assert [g.id for g in all_principals] == [created.id]
    assert sorted(g.id for g in by_resource) == sorted([created.id, per_user.id])
    assert patched.scope == "User.Read Group.Read.All"


def test_delegated_grant_errors(emu):
    async def body(client):
        _, sp = await new_app_with_sp(client)
        grants = client.oauth2_permission_grants
        await grants.post(_grant(client_id=sp.id, consent_type="AllPrincipals",
                                 resource_id=GRAPH_SP_ID, scope="User.Read"))
        await odata_error(grants.post(_grant(client_id=sp.id, consent_type="AllPrincipals",
                                             resource_id=GRAPH_SP_ID, scope="Mail.Read")),
                          409, "Request_MultipleObjectsWithSameKeyValue", "Permission entry already exists.")
        await odata_error(grants.post(_grant(client_id=sp.id, consent_type="Principal",
                                             resource_id=GRAPH_SP_ID, scope="x")), 400, "Request_BadRequest")
        await odata_error(grants.post(_grant(client_id=sp.id, consent_type="Everyone",
                                             resource_id=GRAPH_SP_ID, scope="x")), 400, "Request_BadRequest")
        unknown = str(uuid.uuid4())
        await odata_error(grants.post(_grant(client_id=unknown, consent_type="AllPrincipals",
                                             resource_id=GRAPH_SP_ID, scope="x")), 400,
                          "Request_BadRequest", not_found_text(unknown))

    run(emu, body)


def test_reader_reads_grants_but_cannot_write_them(emu):
    async def body(client):
        assert (await client.oauth2_permission_grants.get()).value == []
        await odata_error(client.oauth2_permission_grants.post(_grant(
            client_id=READER_SP_ID, consent_type="AllPrincipals", resource_id=GRAPH_SP_ID, scope="x")),
            403, "Authorization_RequestDenied", DENIED)

    run(emu, body, reader=True)
