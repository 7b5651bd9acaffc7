"""Issue 2, "done when": the managed-identity-as-federated-credential exchange end to end, every
step through the real SDKs over HTTPS — ManagedServiceIdentityClient, ComputeManagementClient,
GraphServiceClient, ManagedIdentityCredential, ClientAssertionCredential."""

from __future__ import annotations

import asyncio

import jwt
import pytest

RG = "myResourceGroup"
GRAPH_APP_ID = "00000003-0000-0000-c000-000000000000"
EXCHANGE = "api://AzureADTokenExchange"
# msgraph-sdk's generated request builders warn about their own deprecated classes.
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def _claims(token: str) -> dict:
    return jwt.decode(token, options={"verify_signature": False})


def _operator(emu):
    from azure.identity import ClientSecretCredential

    return ClientSecretCredential(emu.env["AZURE_TENANT_ID"], emu.env["AZURE_CLIENT_ID"],
                                  emu.env["AZURE_CLIENT_SECRET"], authority=emu.url,
                                  disable_instance_discovery=True, connection_verify=emu.ca)


def _arm_kw(emu) -> dict:
    return {"base_url": emu.env["ENTRA_BOOTSTRAP_ARM_ENDPOINT"], "connection_verify": emu.ca,
            "polling_interval": 0}


def _identity_on_my_vm(emu, name="exchange-uai"):
    """Create a user-assigned identity and attach it to myVM (ARM SDKs)."""
    from azure.mgmt.compute import ComputeManagementClient
    from azure.mgmt.compute.models import (UserAssignedIdentitiesValue, VirtualMachineIdentity,
                                           VirtualMachineUpdate)
    from azure.mgmt.msi import ManagedServiceIdentityClient
    from azure.mgmt.msi.models import Identity

    cred, sub = _operator(emu), emu.env["AZURE_SUBSCRIPTION_ID"]
    msi = ManagedServiceIdentityClient(cred, sub, **_arm_kw(emu))
    uai = msi.user_assigned_identities.create_or_update(RG, name, Identity(location="eastus"))
    compute = ComputeManagementClient(cred, sub, **_arm_kw(emu))
    vm = compute.virtual_machines.begin_update(RG, "myVM", VirtualMachineUpdate(
        identity=VirtualMachineIdentity(type="UserAssigned", user_assigned_identities={
            uai.id: UserAssignedIdentitiesValue()}))).result()
    assert {k.lower() for k in vm.identity.user_assigned_identities} == {uai.id.lower()}
    return uai


async def _graph_setup(emu, subject: str, role: str = "Application.Read.All", fic: bool = True):
    """App + SP + FIC trusting ``subject`` + admin consent to one Graph app role (msgraph-sdk)."""
    from azure.identity.aio import ClientSecretCredential
    from msgraph import GraphServiceClient
    from msgraph.generated.models.app_role_assignment import AppRoleAssignment
    from msgraph.generated.models.application import Application
    from msgraph.generated.models.federated_identity_credential import FederatedIdentityCredential
    from msgraph.generated.models.service_principal import ServicePrincipal

    graph = emu.env["ENTRA_BOOTSTRAP_GRAPH_ENDPOINT"]
    async with ClientSecretCredential(emu.env["AZURE_TENANT_ID"], emu.env["AZURE_CLIENT_ID"],
                                      emu.env["AZURE_CLIENT_SECRET"], authority=emu.url,
                                      disable_instance_discovery=True,
                                      connection_verify=emu.ca) as cred:
        client = GraphServiceClient(cred, scopes=[f"{graph}/.default"])
        client.request_adapter.base_url = f"{graph}/v1.0"
        app = await client.applications.post(Application(display_name="exchange-target"))
        sp = await client.service_principals.post(ServicePrincipal(app_id=app.app_id))
        if fic:
            await client.applications.by_application_id(app.id).federated_identity_credentials.post(
                FederatedIdentityCredential(
                    name="myvm-exchange-uai",
                    issuer=f"{emu.url}/{emu.env['AZURE_TENANT_ID']}/v2.0",
                    subject=subject, audiences=[EXCHANGE]))
        graph_sp = await client.service_principals_with_app_id(GRAPH_APP_ID).get()
        role_id = next(r.id for r in graph_sp.app_roles if r.value == role)
        await client.service_principals.by_service_principal_id(graph_sp.id).app_role_assigned_to.post(
            AppRoleAssignment(principal_id=sp.id, resource_id=graph_sp.id, app_role_id=role_id))
        return app


def _exchange_credential(emu, app_id: str, uai_client_id: str):
    """As myVM: the identity's token for api://AzureADTokenExchange, presented as the app's assertion."""
    from azure.identity import ClientAssertionCredential, ManagedIdentityCredential

    mi = ManagedIdentityCredential(client_id=uai_client_id, connection_verify=emu.ca)
    return ClientAssertionCredential(emu.env["AZURE_TENANT_ID"], app_id,
                                     func=lambda: mi.get_token(f"{EXCHANGE}/.default").token,
                                     authority=emu.url, disable_instance_discovery=True,
                                     connection_verify=emu.ca)


def test_managed_identity_as_federated_credential_end_to_end(emu):
    uai = _identity_on_my_vm(emu)
    app = asyncio.run(_graph_setup(emu, subject=uai.principal_id))
    cred = _exchange_credential(emu, app.app_id, uai.client_id)
    graph = emu.env["ENTRA_BOOTSTRAP_GRAPH_ENDPOINT"]
    claims = _claims(cred.get_token(f"{graph}/.default").token)
    assert claims["appid"] == app.app_id and claims["roles"] == ["Application.Read.All"]
    assert claims["iss"] == f"{emu.url}/{emu.env['AZURE_TENANT_ID']}/v2.0"

    # The exchanged token works against Graph with exactly the consented permission.
    from azure.identity.aio import ClientAssertionCredential, ManagedIdentityCredential
    from msgraph import GraphServiceClient

    async def list_apps_as_the_app():
        async with ManagedIdentityCredential(client_id=uai.client_id, connection_verify=emu.ca) as mi:
            assertion = (await mi.get_token(f"{EXCHANGE}/.default")).token
        async with ClientAssertionCredential(emu.env["AZURE_TENANT_ID"], app.app_id,
                                             func=lambda: assertion, authority=emu.url,
                                             disable_instance_discovery=True,
                                             connection_verify=emu.ca) as app_cred:
            client = GraphServiceClient(app_cred, scopes=[f"{graph}/.default"])
            client.request_adapter.base_url = f"{graph}/v1.0"
            return await client.applications.get()

    listed = asyncio.run(list_apps_as_the_app())
    assert app.app_id in {a.app_id for a in listed.value}


def test_exchange_without_the_fic_fails_with_aadsts700211(emu):
    from azure.core.exceptions import ClientAuthenticationError

    uai = _identity_on_my_vm(emu)
    app = asyncio.run(_graph_setup(emu, subject=uai.principal_id, fic=False))
    with pytest.raises(ClientAuthenticationError, match="AADSTS700211: No matching federated identity "
                                                        "record found for presented assertion issuer"):
        _exchange_credential(emu, app.app_id, uai.client_id).get_token("https://graph.microsoft.com/.default")


def test_exchange_with_a_wrong_case_subject_fails(emu):
    from azure.core.exceptions import ClientAuthenticationError

    uai = _identity_on_my_vm(emu)
    app = asyncio.run(_graph_setup(emu, subject=uai.principal_id.upper()))
    with pytest.raises(ClientAuthenticationError, match="AADSTS7002138: No matching federated identity "
                                                        "record found for presented assertion subject"):
        _exchange_credential(emu, app.app_id, uai.client_id).get_token("https://graph.microsoft.com/.default")


def test_exchange_with_another_identitys_subject_fails(emu):
    from azure.core.exceptions import ClientAuthenticationError

    uai = _identity_on_my_vm(emu)
    app = asyncio.run(_graph_setup(emu, subject="11111111-1111-1111-1111-111111111111"))
    with pytest.raises(ClientAuthenticationError, match="AADSTS700213"):
        _exchange_credential(emu, app.app_id, uai.client_id).get_token("https://graph.microsoft.com/.default")


def test_new_fic_not_yet_replicated_is_aadsts70021_then_works(emu):
    """Entra ID (workload identity federation, "Important considerations"): a just-created FIC answers AADSTS70021 until it has propagated (lag by count)."""
    from azure.core.exceptions import ClientAuthenticationError
    from azure.identity.aio import ClientSecretCredential
    from msgraph import GraphServiceClient
    from msgraph.generated.models.federated_identity_credential import FederatedIdentityCredential

    uai = _identity_on_my_vm(emu)
    app = asyncio.run(_graph_setup(emu, subject=uai.principal_id, fic=False))
    emu.faults(replication_lag=2)
    graph = emu.env["ENTRA_BOOTSTRAP_GRAPH_ENDPOINT"]

    async def add_fic():
        async with ClientSecretCredential(emu.env["AZURE_TENANT_ID"], emu.env["AZURE_CLIENT_ID"],
                                          emu.env["AZURE_CLIENT_SECRET"], authority=emu.url,
                                          disable_instance_discovery=True,
                                          connection_verify=emu.ca) as cred:
            client = GraphServiceClient(cred, scopes=[f"{graph}/.default"])
            client.request_adapter.base_url = f"{graph}/v1.0"
            await client.applications.by_application_id(app.id).federated_identity_credentials.post(
                FederatedIdentityCredential(name="late-fic", subject=uai.principal_id,
                                            issuer=f"{emu.url}/{emu.env['AZURE_TENANT_ID']}/v2.0",
                                            audiences=[EXCHANGE]))

    asyncio.run(add_fic())
    cred = _exchange_credential(emu, app.app_id, uai.client_id)
    for _ in range(2):
        with pytest.raises(ClientAuthenticationError, match="AADSTS70021: No matching federated "
                                                            "identity record found for presented assertion"):
            cred.get_token(f"{graph}/.default")
    assert _claims(cred.get_token(f"{graph}/.default").token)["appid"] == app.app_id


def test_identity_not_attached_to_my_vm_gets_no_token(emu):
    from azure.identity import CredentialUnavailableError, ManagedIdentityCredential
    from azure.mgmt.msi import ManagedServiceIdentityClient
    from azure.mgmt.msi.models import Identity

    msi = ManagedServiceIdentityClient(_operator(emu), emu.env["AZURE_SUBSCRIPTION_ID"], **_arm_kw(emu))
    loose = msi.user_assigned_identities.create_or_update(RG, "loose-uai", Identity(location="eastus"))
    mi = ManagedIdentityCredential(client_id=loose.client_id, connection_verify=emu.ca)
    with pytest.raises(CredentialUnavailableError, match="Identity not found"):
        mi.get_token(f"{EXCHANGE}/.default")
