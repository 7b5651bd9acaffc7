"""Replication lag on the emulator's Graph (Microsoft Graph: eventual consistency of directory objects), through msgraph-sdk:
with ``replication_lag: N`` a new object answers the documented errors to the next N reads or
references, then is there; upserts by key never duplicate a lagging object. Counted, not timed."""

from __future__ import annotations

import uuid

import pytest
from test_emulator_graph_support import DEVICE_CONFIG_RW, GRAPH_SP_ID, fic, new_app, new_app_with_sp, \
    not_found_text, odata_error, owner_ref, prefer_create, run

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

LAG = 2


def _assignment(principal, resource, role):
    from msgraph.generated.models.app_role_assignment import AppRoleAssignment

    return AppRoleAssignment(principal_id=uuid.UUID(principal), resource_id=uuid.UUID(resource),
                             app_role_id=uuid.UUID(role))


async def _lags(make_call, status, code, message=None, times=LAG):
    """``make_call()`` fails ``times`` times with Graph's error, then succeeds."""
    for _ in range(times):
        await odata_error(make_call(), status, code, message)
    return await make_call()


def test_new_application_is_invisible_for_n_reads_by_each_key(emu):
    emu.faults(replication_lag=LAG)

    async def body(client):
        app = await new_app(client)
        got = await _lags(lambda: client.applications.by_application_id(app.id).get(), 404,
                          "Request_ResourceNotFound", not_found_text(app.id))
        by_app_id = await _lags(lambda: client.applications_with_app_id(app.app_id).get(), 404,
                                "Request_ResourceNotFound", not_found_text(app.app_id))
        again = await client.applications.by_application_id(app.id).get()
        return app, got, by_app_id, again

    app, got, by_app_id, again = run(emu, body)
    assert got.id == by_app_id.id == again.id == app.id


def test_patch_of_a_lagging_application_is_404(emu):
    from msgraph.generated.models.application import Application

    emu.faults(replication_lag=LAG)

    async def body(client):
        app = await new_app(client)
        await _lags(lambda: client.applications.by_application_id(app.id).patch(Application(notes="n")),
                    404, "Request_ResourceNotFound")
        return (await client.applications.by_application_id(app.id).get()).notes

    assert run(emu, body) == "n"


def test_service_principal_for_a_lagging_application(emu):
    from msgraph.generated.models.service_principal import ServicePrincipal

    emu.faults(replication_lag=LAG)

    async def body(client):
        app = await new_app(client)
        sp = await _lags(lambda: client.service_principals.post(ServicePrincipal(app_id=app.app_id)),
                         400, "Request_BadRequest",
                         f"The appId '{app.app_id}' of the service principal does not reference a "
                         "valid application object.")
        return app, sp

    app, sp = run(emu, body)
    assert sp.app_id == app.app_id


def test_upsert_never_duplicates_a_lagging_application(emu):
    from msgraph.generated.models.application import Application

    emu.faults(replication_lag=LAG)

    async def body(client):
        def by_key():
            return client.applications_with_unique_name("lagging-key")

        created = await by_key().patch(Application(display_name="v1"), prefer_create())
        # Retried at once (e.g. after a dropped response): updated, not created again.
        assert await by_key().patch(Application(display_name="v2"), prefer_create()) is None
        # Without the header it is a plain update of an object this replica does not see yet.
        await odata_error(by_key().patch(Application(display_name="v3")), 404, "Request_ResourceNotFound")
        return created

    created = run(emu, body)
    graph = emu.state()["graph"]
    assert [(a["id"], a["displayName"]) for a in graph["applications"].values()
            if a.get("uniqueName") == "lagging-key"] == [(created.id, "v2")]


def test_service_principal_upsert_of_a_lagging_sp_answers_204(emu):
    from msgraph.generated.models.service_principal import ServicePrincipal

    async def body(client):
        app = await new_app(client)
        emu.faults(replication_lag=LAG)

        def by_key():
            return client.service_principals_with_app_id(app.app_id)

        created = await by_key().patch(ServicePrincipal(tags=["a"]), prefer_create())
        assert await by_key().patch(ServicePrincipal(tags=["b"]), prefer_create()) is None
        await odata_error(by_key().patch(ServicePrincipal(tags=["c"])), 404, "Request_ResourceNotFound")
        return app, created

    app, created = run(emu, body)
    sps = [s for s in emu.state()["graph"]["servicePrincipals"].values() if s["appId"] == app.app_id]
    assert [(s["id"], s["tags"]) for s in sps] == [(created.id, ["b"])]


def test_consent_and_grant_referencing_a_lagging_service_principal(emu):
    from msgraph.generated.models.o_auth2_permission_grant import OAuth2PermissionGrant
    from msgraph.generated.models.service_principal import ServicePrincipal

    async def body(client):
        apps = [await new_app(client, "one"), await new_app(client, "two")]
        emu.faults(replication_lag=LAG)          # the apps have replicated; the SPs will lag
        sp, other = [await client.service_principals.post(ServicePrincipal(app_id=a.app_id))
                     for a in apps]
        assigned_to = client.service_principals.by_service_principal_id(GRAPH_SP_ID).app_role_assigned_to
        assignment = await _lags(lambda: assigned_to.post(_assignment(sp.id, GRAPH_SP_ID, DEVICE_CONFIG_RW)),
                                 400, "Request_BadRequest", "Not a valid reference update.")
        # The new assignment itself lags for reads.
        await _lags(lambda: assigned_to.by_app_role_assignment_id(assignment.id).get(), 404,
                    "Request_ResourceNotFound")
        grant = await _lags(lambda: client.oauth2_permission_grants.post(OAuth2PermissionGrant(
            client_id=other.id, consent_type="AllPrincipals", resource_id=GRAPH_SP_ID, scope="User.Read")),
            400, "Request_BadRequest", not_found_text(other.id))
        return assignment, grant

    assignment, grant = run(emu, body)
    assert assignment.app_role_id == uuid.UUID(DEVICE_CONFIG_RW) and grant.scope == "User.Read"


def test_owner_and_fic_on_lagging_objects(emu):
    graph_url = emu.env["ENTRA_BOOTSTRAP_GRAPH_ENDPOINT"]

    async def body(client):
        owner_app, owner_sp = await new_app_with_sp(client, "owner")
        emu.faults(replication_lag=LAG)
        app = await new_app(client)
        owners = client.applications.by_application_id(app.id).owners
        await _lags(lambda: owners.get(), 404, "Request_ResourceNotFound")
        # The owner SP existed before the lag was set; a new one is refused while it lags.
        await owners.ref.post(owner_ref(graph_url, owner_sp.id))
        emu.faults(replication_lag=0)
        other_app = await new_app(client, "other")
        emu.faults(replication_lag=LAG)
        from msgraph.generated.models.service_principal import ServicePrincipal
        new_sp = await client.service_principals.post(ServicePrincipal(app_id=other_app.app_id))
        await _lags(lambda: owners.ref.post(owner_ref(graph_url, new_sp.id)), 404,
                    "Request_ResourceNotFound", not_found_text(new_sp.id))
        # A FIC on a lagging app is 404; the new FIC lags for reads too.
        fresh = await new_app(client, "fresh")
        fics = client.applications.by_application_id(fresh.id).federated_identity_credentials
        created = await _lags(lambda: fics.post(fic()), 404, "Request_ResourceNotFound",
                              not_found_text(fresh.id))
        await _lags(lambda: fics.by_federated_identity_credential_id(created.id).get(), 404,
                    "Request_ResourceNotFound")
        return [o.id for o in (await owners.get()).value], owner_sp.id, new_sp.id

    owners, first, second = run(emu, body)
    assert owners == [first, second]


def test_user_assigned_identity_lags_as_an_owner(emu):
    """ARM marks a new identity's service principal; Graph refuses it as an owner while it lags."""
    import asyncio

    from azure.identity.aio import ClientSecretCredential
    from azure.mgmt.msi.aio import ManagedServiceIdentityClient
    from test_emulator_graph_support import graph_client

    graph_url, arm = emu.env["ENTRA_BOOTSTRAP_GRAPH_ENDPOINT"], emu.env["ENTRA_BOOTSTRAP_ARM_ENDPOINT"]

    async def scenario():
        async with graph_client(emu) as client:
            app = await new_app(client)
            emu.faults(replication_lag=LAG)
            cred = ClientSecretCredential(emu.env["AZURE_TENANT_ID"], emu.env["AZURE_CLIENT_ID"],
                                          emu.env["AZURE_CLIENT_SECRET"], authority=emu.url,
                                          disable_instance_discovery=True, connection_verify=emu.ca)
            async with cred, ManagedServiceIdentityClient(
                    cred, emu.env["AZURE_SUBSCRIPTION_ID"], base_url=arm, connection_verify=emu.ca,
                    credential_scopes=[arm + "/.default"]) as msi:
                identity = await msi.user_assigned_identities.create_or_update(
                    "myResourceGroup", "lagging-identity", {"location": "eastus"})
            owners = client.applications.by_application_id(app.id).owners
            await _lags(lambda: owners.ref.post(owner_ref(graph_url, identity.principal_id)), 404,
                        "Request_ResourceNotFound")
            return identity.principal_id, [o.id for o in (await owners.get()).value]

    principal, owners = asyncio.run(scenario())
    assert owners == [principal]
