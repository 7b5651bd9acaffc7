"""Helpers the emulator's Graph tests share (no tests here): a real msgraph-sdk
``GraphServiceClient`` on azure-identity's async ``ClientSecretCredential``, pointed at the
emulator, one event loop per test; ODataError assertions; request configurations."""

from __future__ import annotations

import asyncio
import uuid
from contextlib import asynccontextmanager

import pytest

GRAPH_APP_ID = "00000003-0000-0000-c000-000000000000"
GRAPH_SP_ID = "6a1f0c8e-2c3b-4c1e-9d1e-5f0c3a9b2e01"
OPERATOR_SP_ID = "a1b2c3d4-0001-4000-8000-0000000000b1"
READER_SP_ID = "a1b2c3d4-0002-4000-8000-0000000000b2"
OPERATOR_APP_OBJECT_ID = "a1b2c3d4-0001-4000-8000-0000000000a1"
DEVICE_CONFIG_RW = "9241abd9-d0e6-425a-bd4f-47ba86e767a4"     # DeviceManagementConfiguration.ReadWrite.All
USER_READ_ALL_ROLE = "df021288-bdef-4463-88db-98f22de89214"  # User.Read.All (Role)
EXCHANGE = "api://AzureADTokenExchange"
DENIED = "Insufficient privileges to complete the operation."


def not_found_text(ref: str) -> str:
    return (f"Resource '{ref}' does not exist or one of its queried reference-property objects "
            "are not present.")


@asynccontextmanager
async def graph_client(emu, client_id: str | None = None, secret: str | None = None):
    from azure.identity.aio import ClientSecretCredential
    from msgraph import GraphServiceClient

    graph = emu.env["ENTRA_BOOTSTRAP_GRAPH_ENDPOINT"]
    cred = ClientSecretCredential(emu.env["AZURE_TENANT_ID"], client_id or emu.env["AZURE_CLIENT_ID"],
                                  secret or emu.env["AZURE_CLIENT_SECRET"], authority=emu.url,
                                  disable_instance_discovery=True, connection_verify=emu.ca)
    async with cred:
        client = GraphServiceClient(cred, scopes=[graph + "/.default"])
        client.request_adapter.base_url = graph + "/v1.0"
        try:
            yield client
        finally:
            await client.request_adapter._http_client.aclose()


def run(emu, body, *, reader: bool = False):
    """Run ``await body(client)`` on a fresh event loop, as the operator (or the reader)."""
    kw = {}
    if reader:
        kw = {"client_id": emu.env["EMULATOR_READER_CLIENT_ID"],
              "secret": emu.env["EMULATOR_READER_CLIENT_SECRET"]}

    async def main():
        async with graph_client(emu, **kw) as client:
            return await body(client)

    return asyncio.run(main())


async def odata_error(awaitable, status: int, code: str, message: str | None = None):
    """Await ``awaitable``, expect Graph's error, and return it."""
    from msgraph.generated.models.o_data_errors.o_data_error import ODataError

    with pytest.raises(ODataError) as info:
        await awaitable
    err = info.value
    assert (err.response_status_code, err.error.code) == (status, code), err.error.message
    if message is not None:
        assert err.error.message == message
    return err


def prefer_create():
    from kiota_abstractions.base_request_configuration import RequestConfiguration

    cfg = RequestConfiguration()
    cfg.headers.add("Prefer", "create-if-missing")
    return cfg


def query(builder, **params):
    """A request configuration carrying OData query parameters for ``builder``'s GET."""
    from kiota_abstractions.base_request_configuration import RequestConfiguration

    cls = type(builder)
    qp = next(v for k, v in vars(cls).items() if k.endswith("GetQueryParameters"))
    return RequestConfiguration(query_parameters=qp(**params))


async def new_app(client, name: str = "demo", **kw):
    from msgraph.generated.models.application import Application

    return await client.applications.post(Application(display_name=name, **kw))


async def new_app_with_sp(client, name: str = "demo"):
    from msgraph.generated.models.service_principal import ServicePrincipal

    app = await new_app(client, name)
    sp = await client.service_principals.post(ServicePrincipal(app_id=app.app_id))
    return app, sp


def fic(name: str = "fic-one", subject: str = "subject-1", issuer: str = "https://issuer.example",
        audiences=None, **kw):
    from msgraph.generated.models.federated_identity_credential import FederatedIdentityCredential

    return FederatedIdentityCredential(name=name, issuer=issuer, subject=subject,
                                       audiences=[EXCHANGE] if audiences is None else audiences, **kw)


def owner_ref(base: str, oid: str):
    from msgraph.generated.models.reference_create import ReferenceCreate

    return ReferenceCreate(odata_id=f"{base}/v1.0/directoryObjects/{oid}")


def caller_with_roles(emu, *role_ids: str, name: str = "limited") -> tuple[str, str, str]:
    """A new app + service principal holding exactly these Graph app roles, with a client secret
    set through the control API; returns (client id, secret, service principal id)."""
    from msgraph.generated.models.app_role_assignment import AppRoleAssignment

    async def setup(client):
        app, sp = await new_app_with_sp(client, name)
        for role in role_ids:
            await client.service_principals.by_service_principal_id(GRAPH_SP_ID) \
                .app_role_assigned_to.post(AppRoleAssignment(
                    principal_id=uuid.UUID(sp.id), resource_id=uuid.UUID(GRAPH_SP_ID),
                    app_role_id=uuid.UUID(role)))
        return app, sp

    app, sp = run(emu, setup)
    state = emu.state()
    state["secrets"][app.app_id] = f"{name}-secret"
    emu.control("PUT", "/_emulator/state", state)
    return app.app_id, f"{name}-secret", sp.id
