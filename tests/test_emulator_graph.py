"""The emulator's Graph v1.0 applications, directoryObjects, the Intune read and the authorization
rules, driven through msgraph-sdk's GraphServiceClient over HTTPS."""

from __future__ import annotations

import uuid

import pytest
from test_emulator_graph_support import DENIED, GRAPH_SP_ID, OPERATOR_APP_OBJECT_ID, OPERATOR_SP_ID, \
    new_app, not_found_text, odata_error, prefer_create, query, run

# msgraph-sdk's generated builders warn about their own deprecated configuration classes.
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def _app(**kw):
    from msgraph.generated.models.application import Application

    return Application(**kw)


# --- create, read, update, delete ------------------------------------------------------------

def test_create_application_defaults_and_round_trip(emu):
    from msgraph.generated.models.required_resource_access import RequiredResourceAccess
    from msgraph.generated.models.resource_access import ResourceAccess

    rra = [RequiredResourceAccess(resource_app_id="00000003-0000-0000-c000-000000000000",
                                  resource_access=[ResourceAccess(id=uuid.UUID(
                                      "9241abd9-d0e6-425a-bd4f-47ba86e767a4"), type="Role")])]

    async def body(client):
        app = await new_app(client, "demo", required_resource_access=rra)
        again = await client.applications.by_application_id(app.id).get()
        return app, again

    app, again = run(emu, body)
    assert uuid.UUID(app.id) and uuid.UUID(app.app_id) and app.id != app.app_id
    assert app.display_name == "demo" and app.sign_in_audience == "AzureADMyOrg"
    assert app.created_date_time is not None and app.unique_name is None
    assert again.id == app.id and again.app_id == app.app_id
    stored = again.required_resource_access[0]
    assert stored.resource_app_id == "00000003-0000-0000-c000-000000000000"
    assert (str(stored.resource_access[0].id), stored.resource_access[0].type) == (
        "9241abd9-d0e6-425a-bd4f-47ba86e767a4", "Role")
    raw = emu.state()["graph"]["applications"][app.id]["requiredResourceAccess"]
    assert raw == [{"resourceAppId": "00000003-0000-0000-c000-000000000000", "resourceAccess": [
        {"id": "9241abd9-d0e6-425a-bd4f-47ba86e767a4", "type": "Role"}]}]


def test_create_requires_display_name_and_a_known_audience(emu):
    async def body(client):
        await odata_error(client.applications.post(_app(description="nameless")), 400,
                          "Request_BadRequest",
                          "Invalid value specified for property 'displayName' of resource 'Application'.")
        await odata_error(client.applications.post(_app(display_name="x", sign_in_audience="Nobody")),
                          400, "Request_BadRequest")

    run(emu, body)
    assert len(emu.state()["graph"]["applications"]) == 2          # only the seeded ones


def test_patch_and_delete_by_id_and_by_alternate_keys(emu):
    async def body(client):
        app = await new_app(client, "demo", unique_name="demo-key")
        assert await client.applications.by_application_id(app.id).patch(
            _app(notes="by id")) is None
        by_app_id = client.applications_with_app_id(app.app_id)
        await by_app_id.patch(_app(description="by appId"))
        got = await client.applications_with_unique_name("demo-key").get()
        assert (got.id, got.notes, got.description) == (app.id, "by id", "by appId")
        await client.applications_with_unique_name("demo-key").delete()
        await odata_error(by_app_id.get(), 404, "Request_ResourceNotFound", not_found_text(app.app_id))
        await odata_error(client.applications.by_application_id(app.id).delete(), 404,
                          "Request_ResourceNotFound", not_found_text(app.id))
        other = await new_app(client, "other")
        await client.applications_with_app_id(other.app_id).delete()
        await odata_error(client.applications.by_application_id(other.id).get(), 404,
                          "Request_ResourceNotFound")

    run(emu, body)


def test_upsert_by_unique_name_creates_then_updates(emu):
    async def body(client):
        builder = client.applications_with_unique_name("my-unique")
        created = await builder.patch(_app(display_name="first"), prefer_create())
        updated = await builder.patch(_app(display_name="second"), prefer_create())
        return created, updated, await builder.get()

    created, updated, current = run(emu, body)
    assert created.unique_name == "my-unique" and created.display_name == "first"
    assert updated is None                                    # 204: updated, no body
    assert (current.id, current.display_name) == (created.id, "second")
    assert [r["status"] for r in emu.writes()] == [201, 204]


def test_upsert_without_prefer_is_an_update_of_a_missing_app(emu):
    async def body(client):
        await odata_error(client.applications_with_unique_name("nope").patch(_app(display_name="x")),
                          404, "Request_ResourceNotFound", not_found_text("nope"))
        # Creating needs displayName.
        await odata_error(client.applications_with_unique_name("nope").patch(
            _app(description="x"), prefer_create()), 400, "Request_BadRequest")

    run(emu, body)
    assert len(emu.state()["graph"]["applications"]) == 2


def test_unique_name_is_immutable_and_unique(emu):
    async def body(client):
        app = await new_app(client, "a", unique_name="first-key")
        await odata_error(client.applications.by_application_id(app.id).patch(
            _app(unique_name="second-key")), 400, "Request_BadRequest")
        await odata_error(new_app(client, "b", unique_name="first-key"), 400, "Request_BadRequest",
                          "Another object with the same value for property uniqueName already exists.")
        keyless = await new_app(client, "c")
        # A uniqueName may be set once on an app that has none.
        await client.applications.by_application_id(keyless.id).patch(_app(unique_name="late-key"))
        return (await client.applications_with_unique_name("late-key").get()).id == keyless.id

    assert run(emu, body)


def test_unknown_property_is_refused(emu):
    async def body(client):
        app = _app(display_name="x")
        app.additional_data = {"notAProperty": 1}
        await odata_error(client.applications.post(app), 400, "Request_BadRequest",
                          "The property 'notAProperty' does not exist on type "
                          "'microsoft.graph.application'. Make sure to only use property names that "
                          "are defined by the type or mark the type as open type.")

    run(emu, body)


# --- list: $filter, $select, $top, paging ----------------------------------------------------

def test_filter_by_app_id_unique_name_display_name_and_startswith(emu):
    async def body(client):
        a = await new_app(client, "Alpha One", unique_name="alpha-1")
        await new_app(client, "Alpha Two")
        await new_app(client, "Beta")
        apps = client.applications

        async def names(flt):
            page = await apps.get(query(apps, filter=flt))
            return sorted(x.display_name for x in page.value)

        assert await names(f"appId eq '{a.app_id}'") == ["Alpha One"]
        assert await names("uniqueName eq 'ALPHA-1'") == ["Alpha One"]      # case-insensitive
        assert await names("displayName eq 'Beta'") == ["Beta"]
        assert await names("startswith(displayName,'alpha')") == ["Alpha One", "Alpha Two"]
        assert await names("startswith(displayName,'Alpha') and uniqueName eq 'alpha-1'") == ["Alpha One"]
        assert await names("displayName eq 'nobody'") == []
        await odata_error(apps.get(query(apps, filter="notes eq 'x'")), 400, "Request_UnsupportedQuery",
                          "Unsupported or invalid query filter clause specified for property 'notes' "
                          "of resource 'microsoft.graph.application'.")
        await odata_error(apps.get(query(apps, filter="displayName eq")), 400, "BadRequest")
        await odata_error(apps.get(query(apps, filter="displayName eq 'a' or displayName eq 'b'")),
                          501, "NotImplemented")
        await odata_error(apps.get(query(apps, count=True)), 501, "NotImplemented")
        await odata_error(apps.get(query(apps, orderby=["displayName"])), 501, "NotImplemented")

    run(emu, body)


def test_select_returns_only_the_named_properties(emu):
    async def body(client):
        await new_app(client, "Selected")
        apps = client.applications
        page = await apps.get(query(apps, select=["displayName", "appId"],
                                    filter="displayName eq 'Selected'"))
        one = await apps.by_application_id(OPERATOR_APP_OBJECT_ID).get(
            query(apps.by_application_id(OPERATOR_APP_OBJECT_ID), select=["id"]))
        await odata_error(apps.get(query(apps, select=["nope"])), 400, "Request_BadRequest",
                          "Parsing OData Select and Expand failed: Could not find a property named "
                          "'nope' on type 'microsoft.graph.application'.")
        return page.value[0], one

    app, one = run(emu, body)
    assert app.display_name == "Selected" and app.app_id and app.id is None and app.sign_in_audience is None
    assert one.id == OPERATOR_APP_OBJECT_ID and one.display_name is None


def test_paging_follows_next_link(emu):
    state = emu.state()
    for i in range(103):                     # seeded 2 + 103 = 105 apps: two pages of 100
        oid = str(uuid.uuid4())
        state["graph"]["applications"][oid] = {"id": oid, "appId": str(uuid.uuid4()),
                                               "displayName": f"bulk-{i:03d}"}
    emu.control("PUT", "/_emulator/state", state)

    async def body(client):
        apps = client.applications
        # $select keeps the SDK's model parsing (the slow part here) small; nextLink carries it.
        first = await apps.get(query(apps, select=["id"]))
        second = await apps.with_url(first.odata_next_link).get()
        small = await apps.get(query(apps, top=40, filter="startswith(displayName,'bulk-')",
                                     select=["displayName"]))
        seen = [a.display_name for a in small.value]
        link = small.odata_next_link
        while link:
            more = await apps.with_url(link).get()
            seen += [a.display_name for a in more.value]
            link = more.odata_next_link
        await odata_error(apps.get(query(apps, top=1000)), 400, "Request_BadRequest",
                          "Invalid page size specified: '1000'. Must be between 1 and 999 inclusive.")
        big = await apps.get(query(apps, top=999, select=["id"], filter="startswith(displayName,'bulk-1')"))
        return first, second, seen, big

    first, second, seen, big = run(emu, body)
    assert len(first.value) == 100 and first.odata_next_link
    assert "$skiptoken=" in first.odata_next_link and "$select=id" in first.odata_next_link
    assert first.odata_next_link.startswith(emu.url + "/graph/v1.0/applications?")
    assert len(second.value) == 5 and second.odata_next_link is None
    assert {a.id for a in first.value}.isdisjoint(a.id for a in second.value)
    assert seen == [f"bulk-{i:03d}" for i in range(103)]
    assert len(big.value) == 3 and big.odata_next_link is None            # bulk-100 … bulk-102


# --- authorization --------------------------------------------------------------------------

def test_reader_reads_but_cannot_write(emu):
    async def body(client):
        listed = await client.applications.get()
        sp = await client.service_principals.by_service_principal_id(GRAPH_SP_ID).get()
        await odata_error(client.applications.post(_app(display_name="x")), 403,
                          "Authorization_RequestDenied", DENIED)
        await odata_error(client.applications.by_application_id(OPERATOR_APP_OBJECT_ID).patch(
            _app(notes="x")), 403, "Authorization_RequestDenied", DENIED)
        await odata_error(client.applications_with_unique_name("u").patch(
            _app(display_name="x"), prefer_create()), 403, "Authorization_RequestDenied", DENIED)
        await odata_error(client.applications.by_application_id(OPERATOR_APP_OBJECT_ID).delete(),
                          403, "Authorization_RequestDenied", DENIED)
        await odata_error(client.device_management.device_configurations.get(), 403,
                          "Authorization_RequestDenied", DENIED)
        return len(listed.value), sp.app_id

    assert run(emu, body, reader=True) == (2, "00000003-0000-0000-c000-000000000000")
    assert emu.writes() and all(r["status"] == 403 for r in emu.writes())


def test_owned_by_caller_manages_only_what_it_owns(emu):
    """An SP holding only Application.ReadWrite.OwnedBy creates apps (and becomes their owner),
    changes its own, and neither sees nor touches anyone else's."""
    import asyncio

    from test_emulator_graph_support import caller_with_roles, graph_client

    client_id, secret, sp_id = caller_with_roles(emu, "18a4783c-866b-4cc7-a460-3d5e5662c884")

    async def limited():
        async with graph_client(emu, client_id, secret) as client:
            mine = await new_app(client, "mine")
            await client.applications.by_application_id(mine.id).patch(_app(notes="ok"))
            owners = await client.applications.by_application_id(mine.id).owners.get()
            listed = await client.applications.get()
            await odata_error(client.applications.by_application_id(OPERATOR_APP_OBJECT_ID).get(),
                              403, "Authorization_RequestDenied", DENIED)
            await odata_error(client.applications.by_application_id(OPERATOR_APP_OBJECT_ID).patch(
                _app(notes="no")), 403, "Authorization_RequestDenied", DENIED)
            return [o.id for o in owners.value], [a.display_name for a in listed.value]

    owners, listed = asyncio.run(limited())
    assert owners == [sp_id] and listed == ["mine"]


# --- directoryObjects, deviceManagement, gaps -------------------------------------------------

def test_directory_objects_get_and_get_by_ids(emu):
    from msgraph.generated.directory_objects.get_by_ids.get_by_ids_post_request_body import \
        GetByIdsPostRequestBody

    async def body(client):
        one = await client.directory_objects.by_directory_object_id(OPERATOR_SP_ID).get()
        missing = str(uuid.uuid4())
        await odata_error(client.directory_objects.by_directory_object_id(missing).get(), 404,
                          "Request_ResourceNotFound", not_found_text(missing))
        both = await client.directory_objects.get_by_ids.post(GetByIdsPostRequestBody(
            ids=[OPERATOR_SP_ID, OPERATOR_APP_OBJECT_ID, missing]))
        sps = await client.directory_objects.get_by_ids.post(GetByIdsPostRequestBody(
            ids=[OPERATOR_SP_ID, OPERATOR_APP_OBJECT_ID], types=["servicePrincipal"]))
        return one, both.value, sps.value

    one, both, sps = run(emu, body)
    assert one.odata_type == "#microsoft.graph.servicePrincipal"
    assert one.display_name == "entra-bootstrap-operator"
    assert [(o.id, o.odata_type) for o in both] == [
        (OPERATOR_SP_ID, "#microsoft.graph.servicePrincipal"),
        (OPERATOR_APP_OBJECT_ID, "#microsoft.graph.application")]
    assert [o.id for o in sps] == [OPERATOR_SP_ID]


def test_device_configurations_need_an_intune_role(emu):
    async def body(client):
        await odata_error(client.device_management.device_configurations.get(), 403,
                          "Authorization_RequestDenied", DENIED)

    run(emu, body)          # the operator has no DeviceManagementConfiguration role


def test_device_configurations_with_the_role_is_an_empty_collection(emu):
    from test_emulator_graph_support import DEVICE_CONFIG_RW
    from msgraph.generated.models.app_role_assignment import AppRoleAssignment

    async def grant(client):
        await client.service_principals.by_service_principal_id(GRAPH_SP_ID).app_role_assigned_to.post(
            AppRoleAssignment(principal_id=uuid.UUID(OPERATOR_SP_ID), resource_id=uuid.UUID(GRAPH_SP_ID),
                              app_role_id=uuid.UUID(DEVICE_CONFIG_RW)))

    run(emu, grant)
    result = run(emu, lambda client: client.device_management.device_configurations.get())
    assert result.value == []


def test_routes_not_emulated_answer_501_naming_them(emu):
    async def body(client):
        err = await odata_error(client.users.get(), 501, "NotImplemented")
        return err.error.message

    assert "GET /graph/v1.0/users" in run(emu, body)


def test_missing_token_is_refused_in_graphs_shape(emu):
    import json
    import ssl
    import urllib.error
    import urllib.request

    req = urllib.request.Request(emu.url + "/graph/v1.0/applications")
    try:
        urllib.request.urlopen(req, context=ssl.create_default_context(cafile=emu.ca))
        raise AssertionError("expected 401")
    except urllib.error.HTTPError as exc:
        assert exc.code == 401
        assert json.loads(exc.read())["error"]["code"] == "InvalidAuthenticationToken"
