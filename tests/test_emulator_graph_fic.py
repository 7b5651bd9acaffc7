"""The emulator's federatedIdentityCredentials and owners, through msgraph-sdk: round trips, the
upsert by name, every validation rule of the federatedIdentityCredential reference, and owners that are service principals
(including a user-assigned managed identity created through ARM)."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from test_emulator_graph_support import EXCHANGE, OPERATOR_SP_ID, READER_SP_ID, fic, graph_client, \
    new_app, new_app_with_sp, not_found_text, odata_error, owner_ref, prefer_create, query, run

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

INVALID = "Invalid value specified for property '{}' of resource 'FederatedIdentityCredential'."


def _fic_patch(**kw):
    from msgraph.generated.models.federated_identity_credential import FederatedIdentityCredential

    return FederatedIdentityCredential(**kw)


# --- federatedIdentityCredentials ------------------------------------------------------------

def test_fic_create_list_get_patch_delete(emu):
    async def body(client):
        app = await new_app(client)
        fics = client.applications.by_application_id(app.id).federated_identity_credentials
        created = await fics.post(fic("mi-fic", subject="4b2c6f0e-1111-2222-3333-444455556666",
                                      description="the VM's identity"))
        by_id = await fics.by_federated_identity_credential_id(created.id).get()
        by_name = await client.applications.by_application_id(app.id) \
            .federated_identity_credentials_with_name("mi-fic").get()
        await fics.by_federated_identity_credential_id(created.id).patch(
            _fic_patch(subject="new-subject", issuer="https://other.example", description=None))
        listed = await fics.get()
        await client.applications.by_application_id(app.id) \
            .federated_identity_credentials_with_name("mi-fic").delete()
        after = await fics.get()
        await odata_error(fics.by_federated_identity_credential_id(created.id).get(), 404,
                          "Request_ResourceNotFound", not_found_text(created.id))
        return created, by_id, by_name, listed.value, after.value

    created, by_id, by_name, listed, after = run(emu, body)
    assert uuid.UUID(created.id) and created.name == "mi-fic"
    assert created.audiences == [EXCHANGE] and created.description == "the VM's identity"
    assert by_id.id == by_name.id == created.id
    assert [(f.issuer, f.subject, f.name) for f in listed] == [
        ("https://other.example", "new-subject", "mi-fic")]
    assert after == []


def test_fic_upsert_by_name_creates_then_updates(emu):
    async def body(client):
        app = await new_app(client)
        builder = client.applications.by_application_id(app.id) \
            .federated_identity_credentials_with_name("upserted")
        await odata_error(builder.patch(fic("upserted")), 404, "Request_ResourceNotFound")
        created = await builder.patch(fic("upserted"), prefer_create())
        updated = await builder.patch(fic("upserted", subject="subject-2"), prefer_create())
        # The name may be left out of the body: the key names it.
        other = await client.applications.by_application_id(app.id) \
            .federated_identity_credentials_with_name("by-key-only").patch(
                _fic_patch(issuer="https://k.example", subject="s", audiences=[EXCHANGE]), prefer_create())
        return created, updated, await builder.get(), other

    created, updated, current, other = run(emu, body)
    assert created.name == "upserted" and created.subject == "subject-1"
    assert updated is None
    assert (current.id, current.subject) == (created.id, "subject-2")
    assert other.name == "by-key-only"


def test_fic_addressed_by_name_in_a_plain_segment(emu):
    # Graph: GET/PATCH/DELETE /applications/{id}/federatedIdentityCredentials/{id or name}
    # (what `az ad app federated-credential show/update/delete --federated-credential-id NAME` sends).
    async def body(client):
        app = await new_app(client)
        fics = client.applications.by_application_id(app.id).federated_identity_credentials
        created = await fics.post(fic("by-name", subject="sub-1"))
        # A credential named like another one's id: the id wins (a plain segment is an id first).
        decoy = await fics.post(fic(created.id, subject="sub-2"))
        by_name = fics.by_federated_identity_credential_id("by-name")
        got = await by_name.get()
        got_upper = await fics.by_federated_identity_credential_id("BY-NAME").get()
        got_by_id = await fics.by_federated_identity_credential_id(created.id).get()
        got_by_upper_id = await fics.by_federated_identity_credential_id(created.id.upper()).get()
        decoy_by_key = await client.applications.by_application_id(app.id) \
            .federated_identity_credentials_with_name(created.id).get()     # (name='…') is a name
        await by_name.patch(_fic_patch(subject="sub-3", description="patched by name"))
        patched = await fics.by_federated_identity_credential_id(created.id).get()
        await by_name.delete()
        await odata_error(by_name.get(), 404, "Request_ResourceNotFound", not_found_text("by-name"))
        await odata_error(by_name.patch(_fic_patch(subject="x")), 404, "Request_ResourceNotFound")
        await odata_error(by_name.delete(), 404, "Request_ResourceNotFound")
        return created, got, got_upper, got_by_id, got_by_upper_id, decoy_by_key, decoy, patched, (await fics.get()).value

    created, got, got_upper, got_by_id, got_by_upper_id, decoy_by_key, decoy, patched, left = run(emu, body)
    assert got.id == got_upper.id == created.id and got.name == "by-name"
    assert got_by_id.id == got_by_upper_id.id == created.id and decoy_by_key.id == decoy.id
    assert (patched.subject, patched.description) == ("sub-3", "patched by name")
    assert [f.id for f in left] == [decoy.id]
    paths = [(r["method"], r["path"].rsplit("/", 1)[-1]) for r in emu.requests()
             if "/federatedIdentityCredentials/" in r["path"] and r["status"] in (200, 204)]
    assert ("GET", "by-name") in paths and ("PATCH", "by-name") in paths and ("DELETE", "by-name") in paths


@pytest.mark.parametrize("name", ["ab", "-leading-dash", "has space", "dots.not.allowed", "x" * 121])
def test_fic_name_rules(emu, name):
    async def body(client):
        app = await new_app(client)
        await odata_error(client.applications.by_application_id(app.id).federated_identity_credentials
                          .post(fic(name)), 400, "Request_BadRequest", INVALID.format("name"))

    run(emu, body)


def test_fic_value_rules(emu):
    async def body(client):
        app = await new_app(client)
        fics = client.applications.by_application_id(app.id).federated_identity_credentials
        await fics.post(fic("abc"))                                    # 3 characters is enough
        await fics.post(fic("y" * 120, subject="s-120"))               # ... and 120 the most
        for bad, prop in ((fic("aud-none", audiences=[]), "audiences"),
                          (fic("aud-two", audiences=[EXCHANGE, "api://other"]), "audiences"),
                          (fic("long-issuer", issuer="https://" + "i" * 600), "issuer"),
                          (fic("long-subject", subject="s" * 601), "subject"),
                          (fic("no-subject", subject=None), "subject")):
            await odata_error(fics.post(bad), 400, "Request_BadRequest", INVALID.format(prop))
        await fics.post(fic("max-subject", subject="s" * 600))

    run(emu, body)


def test_fic_duplicates_and_immutable_name(emu):
    async def body(client):
        app = await new_app(client)
        fics = client.applications.by_application_id(app.id).federated_identity_credentials
        first = await fics.post(fic("first", subject="sub-A"))
        await fics.post(fic("second", subject="sub-B"))
        await odata_error(fics.post(fic("FIRST", subject="sub-C")), 409,
                          "Request_MultipleObjectsWithSameKeyValue",
                          "FederatedIdentityCredential with name FIRST already exists.")
        await odata_error(fics.post(fic("third", subject="sub-A")), 400,
                          "InvalidFederatedIdentityCredentialValue",
                          "The combination of issuer and subject must be unique for the application.")
        # Subjects compare case-sensitively: another case is another credential.
        await fics.post(fic("fourth", subject="SUB-A"))
        item = fics.by_federated_identity_credential_id(first.id)
        await odata_error(item.patch(_fic_patch(subject="sub-B")), 400,
                          "InvalidFederatedIdentityCredentialValue")
        await odata_error(item.patch(_fic_patch(name="renamed")), 400, "Request_BadRequest")
        return [f.name for f in (await fics.get()).value]

    assert run(emu, body) == ["first", "second", "fourth"]


def test_fic_limit_is_twenty_per_application(emu):
    async def body(client):
        app = await new_app(client)
        fics = client.applications.by_application_id(app.id).federated_identity_credentials
        for i in range(20):
            await fics.post(fic(f"fic-{i:02d}", subject=f"subject-{i}"))
        await odata_error(fics.post(fic("fic-20", subject="subject-20")), 400, "Request_BadRequest")
        await odata_error(client.applications.by_application_id(app.id)
                          .federated_identity_credentials_with_name("fic-20")
                          .patch(fic("fic-20", subject="subject-20"), prefer_create()),
                          400, "Request_BadRequest")
        return len((await fics.get()).value)

    assert run(emu, body) == 20


def test_fic_filter_by_subject_not_issuer(emu):
    async def body(client):
        app = await new_app(client)
        fics = client.applications.by_application_id(app.id).federated_identity_credentials
        await fics.post(fic("one", subject="repo:o/r:ref:refs/heads/main"))
        await fics.post(fic("two", subject="repo:o/r:environment:prod"))
        hits = await fics.get(query(fics, filter="subject eq 'repo:o/r:environment:prod'"))
        await odata_error(fics.get(query(fics, filter="issuer eq 'https://issuer.example'")), 400,
                          "Request_UnsupportedQuery")
        return [f.name for f in hits.value]

    assert run(emu, body) == ["two"]


def test_fic_on_missing_application(emu):
    missing = str(uuid.uuid4())

    async def body(client):
        await odata_error(client.applications.by_application_id(missing).federated_identity_credentials
                          .post(fic()), 404, "Request_ResourceNotFound", not_found_text(missing))

    run(emu, body)


def test_reader_cannot_write_fics(emu):
    app = run(emu, lambda client: new_app(client))

    async def body(client):
        fics = client.applications.by_application_id(app.id).federated_identity_credentials
        assert (await fics.get()).value == []
        await odata_error(fics.post(fic()), 403, "Authorization_RequestDenied")

    run(emu, body, reader=True)


# --- owners ------------------------------------------------------------------------------------

def test_owners_add_list_duplicate_remove(emu):
    graph = emu.env["ENTRA_BOOTSTRAP_GRAPH_ENDPOINT"]

    async def body(client):
        app = await new_app(client)
        owners = client.applications.by_application_id(app.id).owners
        await owners.ref.post(owner_ref(graph, OPERATOR_SP_ID))
        await owners.ref.post(owner_ref("https://graph.microsoft.com", READER_SP_ID))   # public host
        listed = await owners.get()
        await odata_error(owners.ref.post(owner_ref(graph, OPERATOR_SP_ID)), 400, "Request_BadRequest",
                          "One or more added object references already exist for the following "
                          "modified properties: 'owners'.")
        missing = str(uuid.uuid4())
        await odata_error(owners.ref.post(owner_ref(graph, missing)), 404, "Request_ResourceNotFound",
                          not_found_text(missing))
        await owners.by_directory_object_id(READER_SP_ID).ref.delete()
        await odata_error(owners.by_directory_object_id(READER_SP_ID).ref.delete(), 400,
                          "Request_BadRequest", "One or more removed object references do not exist "
                          "for the following modified properties: 'owners'.")
        return listed.value, (await owners.get()).value

    listed, after = run(emu, body)
    assert [(o.id, o.odata_type) for o in listed] == [
        (OPERATOR_SP_ID, "#microsoft.graph.servicePrincipal"),
        (READER_SP_ID, "#microsoft.graph.servicePrincipal")]
    assert listed[0].display_name == "entra-bootstrap-operator"
    assert [o.id for o in after] == [OPERATOR_SP_ID]


def test_service_principal_owners(emu):
    graph = emu.env["ENTRA_BOOTSTRAP_GRAPH_ENDPOINT"]

    async def body(client):
        _, sp = await new_app_with_sp(client)
        owners = client.service_principals.by_service_principal_id(sp.id).owners
        await owners.ref.post(owner_ref(graph, READER_SP_ID))
        listed = await owners.get()
        await owners.by_directory_object_id(READER_SP_ID).ref.delete()
        return [o.id for o in listed.value], (await owners.get()).value

    assert run(emu, body) == ([READER_SP_ID], [])


def test_user_assigned_identity_from_arm_can_own_an_app(emu):
    """ARM creates a ManagedIdentity-type service principal; Graph lists it as an owner."""
    from azure.identity.aio import ClientSecretCredential
    from azure.mgmt.msi.aio import ManagedServiceIdentityClient

    graph, arm = emu.env["ENTRA_BOOTSTRAP_GRAPH_ENDPOINT"], emu.env["ENTRA_BOOTSTRAP_ARM_ENDPOINT"]

    async def scenario():
        cred = ClientSecretCredential(emu.env["AZURE_TENANT_ID"], emu.env["AZURE_CLIENT_ID"],
                                      emu.env["AZURE_CLIENT_SECRET"], authority=emu.url,
                                      disable_instance_discovery=True, connection_verify=emu.ca)
        async with cred, ManagedServiceIdentityClient(
                cred, emu.env["AZURE_SUBSCRIPTION_ID"], base_url=arm, connection_verify=emu.ca,
                credential_scopes=[arm + "/.default"]) as msi:
            identity = await msi.user_assigned_identities.create_or_update(
                "myResourceGroup", "app-owner-identity", {"location": "eastus"})
        async with graph_client(emu) as client:
            app = await new_app(client)
            owners = client.applications.by_application_id(app.id).owners
            await owners.ref.post(owner_ref(graph, identity.principal_id))
            listed = (await owners.get()).value
            sp = await client.service_principals.by_service_principal_id(identity.principal_id).get()
            return identity, listed, sp

    identity, listed, sp = asyncio.run(scenario())
    assert [(o.id, o.odata_type) for o in listed] == [
        (identity.principal_id, "#microsoft.graph.servicePrincipal")]
    assert sp.service_principal_type == "ManagedIdentity" and sp.app_id == identity.client_id
    assert sp.display_name == "app-owner-identity"


def test_owner_reference_must_be_a_directory_object_url(emu):
    async def body(client):
        from msgraph.generated.models.reference_create import ReferenceCreate

        app = await new_app(client)
        await odata_error(client.applications.by_application_id(app.id).owners.ref.post(
            ReferenceCreate(odata_id="not-a-url")), 400, "Request_BadRequest")

    run(emu, body)


def test_reader_cannot_change_owners(emu):
    graph = emu.env["ENTRA_BOOTSTRAP_GRAPH_ENDPOINT"]
    app = run(emu, lambda client: new_app(client))

    async def body(client):
        owners = client.applications.by_application_id(app.id).owners
        assert (await owners.get()).value == []
        await odata_error(owners.ref.post(owner_ref(graph, READER_SP_ID)), 403,
                          "Authorization_RequestDenied")

    run(emu, body, reader=True)
