"""The emulator's Entra ID side through azure-identity and MSAL: discovery, JWKS, client credentials
(secret), the managed identity endpoint, and the token checks Graph and ARM handlers rely on."""

from __future__ import annotations

import asyncio
import json
import ssl
import time
import urllib.error
import urllib.parse
import urllib.request

import jwt
import pytest


def _cred(emu, client_id=None, secret=None, tenant=None):
    from azure.identity import ClientSecretCredential

    return ClientSecretCredential(tenant or emu.env["AZURE_TENANT_ID"],
                                  client_id or emu.env["AZURE_CLIENT_ID"],
                                  secret or emu.env["AZURE_CLIENT_SECRET"],
                                  authority=emu.url, disable_instance_discovery=True,
                                  connection_verify=emu.ca)


def _claims(token: str) -> dict:
    return jwt.decode(token, options={"verify_signature": False})


def _raw(emu, method, path, *, form=None, headers=None):
    """(status, JSON body) of a raw HTTPS request, for the wire shapes the SDKs hide."""
    ctx = ssl.create_default_context(cafile=emu.ca)
    data = urllib.parse.urlencode(form).encode() if form is not None else None
    req = urllib.request.Request(emu.url + path, data=data, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, context=ctx, timeout=30) as resp:
            return resp.status, json.loads(resp.read() or b"null")
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"null")


def _token_form(emu, **kw):
    form = {"grant_type": "client_credentials", "client_id": emu.env["AZURE_CLIENT_ID"],
            "client_secret": emu.env["AZURE_CLIENT_SECRET"],
            "scope": emu.env["ENTRA_BOOTSTRAP_GRAPH_ENDPOINT"] + "/.default"}
    form.update(kw)
    return {k: v for k, v in form.items() if v is not None}


# --- discovery ---------------------------------------------------------------------------------

def test_openid_configuration_names_this_authority(emu):
    tenant = emu.env["AZURE_TENANT_ID"]
    status, doc = _raw(emu, "GET", f"/{tenant}/v2.0/.well-known/openid-configuration")
    assert status == 200
    assert doc["issuer"] == f"{emu.url}/{tenant}/v2.0"
    assert doc["token_endpoint"] == f"{emu.url}/{tenant}/oauth2/v2.0/token"
    assert doc["authorization_endpoint"].startswith(f"{emu.url}/{tenant}/")
    status, keys = _raw(emu, "GET", doc["jwks_uri"][len(emu.url):])
    assert status == 200 and keys["keys"][0]["kty"] == "RSA"


def test_common_discovery_has_templated_issuer(emu):
    status, doc = _raw(emu, "GET", "/organizations/v2.0/.well-known/openid-configuration")
    assert status == 200 and doc["issuer"] == f"{emu.url}/{{tenantid}}/v2.0"


def test_unknown_tenant_is_aadsts90002(emu):
    status, body = _raw(emu, "GET", "/11111111-2222-3333-4444-555555555555/v2.0/.well-known/openid-configuration")
    assert status == 400
    assert body["error"] == "invalid_tenant" and body["error_codes"] == [90002]
    assert body["error_description"].startswith(
        "AADSTS90002: Tenant '11111111-2222-3333-4444-555555555555' not found.")


# --- client credentials with a secret ------------------------------------------------------------

@pytest.mark.parametrize("which", ["graph", "graph/", "arm", "arm/", "https://graph.microsoft.com",
                                   "https://management.azure.com/",
                                   "https://management.core.windows.net/",
                                   "00000003-0000-0000-c000-000000000000"])
def test_client_secret_tokens_for_each_audience_form(emu, which):
    if which.startswith(("graph", "arm")):
        base = emu.env["ENTRA_BOOTSTRAP_GRAPH_ENDPOINT" if which.startswith("graph")
                       else "ENTRA_BOOTSTRAP_ARM_ENDPOINT"]
        resource = base + ("/" if which.endswith("/") else "")
    else:
        resource = which
    token = _cred(emu).get_token(resource.rstrip("/") + "/.default").token
    claims = jwt.decode(token, options={"verify_signature": False})
    assert claims["aud"] == resource.rstrip("/")
    assert claims["iss"] == f"{emu.url}/{emu.env['AZURE_TENANT_ID']}/v2.0"
    assert claims["tid"] == emu.env["AZURE_TENANT_ID"]
    assert claims["appid"] == claims["azp"] == emu.env["AZURE_CLIENT_ID"]
    assert claims["oid"] == claims["sub"]
    assert claims["ver"] == "2.0" and claims["nbf"] <= time.time() < claims["exp"]


def test_token_is_signed_by_the_published_key(emu):
    tenant = emu.env["AZURE_TENANT_ID"]
    token = _cred(emu).get_token(emu.env["ENTRA_BOOTSTRAP_GRAPH_ENDPOINT"] + "/.default").token
    _, keys = _raw(emu, "GET", f"/{tenant}/discovery/v2.0/keys")
    jwk = keys["keys"][0]
    assert jwt.get_unverified_header(token)["kid"] == jwk["kid"]
    key = jwt.algorithms.RSAAlgorithm.from_jwk(json.dumps(jwk))
    claims = jwt.decode(token, key, algorithms=["RS256"],
                        audience=emu.env["ENTRA_BOOTSTRAP_GRAPH_ENDPOINT"],
                        issuer=f"{emu.url}/{tenant}/v2.0")
    assert claims["tid"] == tenant


def test_graph_token_carries_consented_roles_arm_token_none(emu):
    graph = _claims(_cred(emu).get_token(emu.env["ENTRA_BOOTSTRAP_GRAPH_ENDPOINT"] + "/.default").token)
    assert set(graph["roles"]) == {"Application.ReadWrite.All", "AppRoleAssignment.ReadWrite.All",
                                   "DelegatedPermissionGrant.ReadWrite.All", "Directory.Read.All"}
    reader = _cred(emu, emu.env["EMULATOR_READER_CLIENT_ID"], emu.env["EMULATOR_READER_CLIENT_SECRET"])
    assert _claims(reader.get_token("https://graph.microsoft.com/.default").token)["roles"] == [
        "Directory.Read.All"]
    arm = _claims(_cred(emu).get_token("https://management.azure.com/.default").token)
    assert "roles" not in arm   # Entra omits the claim when nothing is assigned


def test_aio_credential_with_cae_claims(emu):
    from azure.identity.aio import ClientSecretCredential

    async def main():
        async with ClientSecretCredential(emu.env["AZURE_TENANT_ID"], emu.env["AZURE_CLIENT_ID"],
                                          emu.env["AZURE_CLIENT_SECRET"], authority=emu.url,
                                          disable_instance_discovery=True,
                                          connection_verify=emu.ca) as cred:
            graph = await cred.get_token(emu.env["ENTRA_BOOTSTRAP_GRAPH_ENDPOINT"] + "/.default",
                                         enable_cae=True)
            arm = await cred.get_token(emu.env["ENTRA_BOOTSTRAP_ARM_ENDPOINT"] + "/.default")
            return graph.token, arm.token

    graph, arm = asyncio.run(main())
    assert _claims(graph)["aud"] == emu.env["ENTRA_BOOTSTRAP_GRAPH_ENDPOINT"]
    assert _claims(arm)["aud"] == emu.env["ENTRA_BOOTSTRAP_ARM_ENDPOINT"]


def test_cae_claims_form_field_is_accepted(emu):
    tenant = emu.env["AZURE_TENANT_ID"]
    claims = json.dumps({"access_token": {"xms_cc": {"values": ["CP1"]}}})
    status, body = _raw(emu, "POST", f"/{tenant}/oauth2/v2.0/token", form=_token_form(emu, claims=claims))
    assert status == 200 and body["token_type"] == "Bearer" and body["expires_in"] > 0


def test_bad_secret_is_aadsts7000215(emu):
    from azure.core.exceptions import ClientAuthenticationError

    with pytest.raises(ClientAuthenticationError, match="AADSTS7000215: Invalid client secret provided"):
        _cred(emu, secret="not-the-secret").get_token("https://graph.microsoft.com/.default")
    status, body = _raw(emu, "POST", f"/{emu.env['AZURE_TENANT_ID']}/oauth2/v2.0/token",
                        form=_token_form(emu, client_secret="nope"))
    assert status == 401 and body["error"] == "invalid_client" and body["error_codes"] == [7000215]
    assert set(body) >= {"error", "error_description", "error_codes", "timestamp", "trace_id",
                         "correlation_id", "error_uri"}


def test_unknown_client_is_aadsts700016(emu):
    from azure.core.exceptions import ClientAuthenticationError

    with pytest.raises(ClientAuthenticationError, match="AADSTS700016: Application with identifier "
                                                        "'99999999-0000-0000-0000-000000000000' was not found"):
        _cred(emu, client_id="99999999-0000-0000-0000-000000000000").get_token(
            "https://graph.microsoft.com/.default")


def test_wrong_tenant_is_aadsts90002(emu):
    from azure.core.exceptions import ClientAuthenticationError

    # MSAL fails at discovery, exactly as against Entra (azure-cli#22145).
    with pytest.raises(ClientAuthenticationError, match="Unable to get authority configuration"):
        _cred(emu, tenant="11111111-2222-3333-4444-555555555555").get_token(
            "https://graph.microsoft.com/.default")
    status, body = _raw(emu, "POST", "/11111111-2222-3333-4444-555555555555/oauth2/v2.0/token",
                        form=_token_form(emu))
    assert status == 400 and body["error_codes"] == [90002]


@pytest.mark.parametrize("resource", ["https://vault.azure.net", "api://AzureADTokenExchange",
                                      "api://does-not-exist"])
def test_unknown_resource_is_aadsts500011(emu, resource):
    from azure.core.exceptions import ClientAuthenticationError

    with pytest.raises(ClientAuthenticationError, match=f"AADSTS500011: The resource principal named "
                                                        f"{resource} was not found in the tenant"):
        _cred(emu).get_token(resource + "/.default")


def test_scope_without_default_is_aadsts1002012(emu):
    status, body = _raw(emu, "POST", f"/{emu.env['AZURE_TENANT_ID']}/oauth2/v2.0/token",
                        form=_token_form(emu, scope="https://graph.microsoft.com/User.Read"))
    assert status == 400 and body["error"] == "invalid_scope" and body["error_codes"] == [1002012]


def test_missing_parameters_and_grant_type(emu):
    path = f"/{emu.env['AZURE_TENANT_ID']}/oauth2/v2.0/token"
    status, body = _raw(emu, "POST", path, form=_token_form(emu, client_id=None))
    assert status == 400 and body["error_codes"] == [900144] and "'client_id'" in body["error_description"]
    status, body = _raw(emu, "POST", path, form=_token_form(emu, client_secret=None))
    assert status == 401 and body["error_codes"] == [7000218]
    status, body = _raw(emu, "POST", path, form=_token_form(emu, grant_type="password"))
    assert status == 400 and body["error"] == "unsupported_grant_type"


def test_client_secret_basic_is_accepted(emu):
    import base64

    pair = f"{emu.env['AZURE_CLIENT_ID']}:{emu.env['AZURE_CLIENT_SECRET']}".encode()
    status, body = _raw(emu, "POST", f"/{emu.env['AZURE_TENANT_ID']}/oauth2/v2.0/token",
                        form=_token_form(emu, client_id=None, client_secret=None),
                        headers={"Authorization": "Basic " + base64.b64encode(pair).decode()})
    assert status == 200, body
    assert _claims(body["access_token"])["appid"] == emu.env["AZURE_CLIENT_ID"]


def test_secret_is_never_logged(emu):
    _cred(emu).get_token("https://graph.microsoft.com/.default")
    assert emu.env["AZURE_CLIENT_SECRET"] not in json.dumps(emu.requests())


# --- the managed identity endpoint (IMDS style) ---------------------------------------------------
# Identities are attached by editing state (PUT /_emulator/state) so these tests do not depend on
# the ARM routes; tests/test_emulator_exchange.py attaches them through the ARM SDKs.

RG = "/subscriptions/0b1f6471-1bf0-4dda-aec3-cb9272f09590/resourceGroups/myResourceGroup"
VM = RG + "/providers/Microsoft.Compute/virtualMachines/myVM"
CG = RG + "/providers/Microsoft.ContainerInstance/containerGroups/myContainerGroup"
VMSS = RG + "/providers/Microsoft.Compute/virtualMachineScaleSets/myScaleSet"
SYSTEM_PRINCIPAL = "5a5a5a5a-0000-4000-8000-000000000001"
SYSTEM_CLIENT = "5a5a5a5a-0000-4000-8000-0000000000c1"


def _uai_id(name):
    return f"{RG}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/{name}"


def _uai(n):
    return {"principalId": f"6b6b6b6b-0000-4000-8000-00000000000{n}",
            "clientId": f"6b6b6b6b-0000-4000-8000-0000000000c{n}"}


def _mi_sp(principal_id, client_id, name, resource_id):
    return {"id": principal_id, "appId": client_id, "displayName": name,
            "servicePrincipalType": "ManagedIdentity", "accountEnabled": True, "appRoles": [],
            "oauth2PermissionScopes": [], "servicePrincipalNames": [client_id, resource_id],
            "tags": []}


def _attach(emu, target=VM, *, system=False, users=(), graph_roles=()):
    """Give ``target`` a system-assigned identity and/or user-assigned identities uai1, uai2, ..."""
    state = emu.state()
    graph, resources = state["graph"], state["arm"]["resources"]
    identity = {"type": "None"}
    kinds = []
    if system:
        kinds.append("SystemAssigned")
        identity.update(principalId=SYSTEM_PRINCIPAL, tenantId=state["tenant_id"])
        graph["servicePrincipals"][SYSTEM_PRINCIPAL] = _mi_sp(SYSTEM_PRINCIPAL, SYSTEM_CLIENT,
                                                              target.rsplit("/", 1)[1], target)
    if users:
        kinds.append("UserAssigned")
        identity["userAssignedIdentities"] = {}
        for n in users:
            rid, ids = _uai_id(f"uai{n}"), _uai(n)
            resources[rid.lower()] = {
                "id": rid, "name": f"uai{n}", "location": "eastus", "tags": {},
                "type": "Microsoft.ManagedIdentity/userAssignedIdentities",
                "properties": {**ids, "tenantId": state["tenant_id"]}}
            graph["servicePrincipals"][ids["principalId"]] = _mi_sp(ids["principalId"],
                                                                    ids["clientId"], f"uai{n}", rid)
            identity["userAssignedIdentities"][rid] = ids
    if kinds:
        identity["type"] = ", ".join(kinds)
    resources[target.lower()]["identity"] = identity
    graph_sp = next(sp for sp in graph["servicePrincipals"].values()
                    if sp["appId"] == "00000003-0000-0000-c000-000000000000")
    role_ids = {r["value"]: r["id"] for r in graph_sp["appRoles"]}
    for i, (principal, role) in enumerate(graph_roles):
        aid = f"7c7c7c7c-0000-4000-8000-{i:012d}"
        graph["appRoleAssignments"][aid] = {"id": aid, "principalId": principal,
                                            "resourceId": graph_sp["id"],
                                            "appRoleId": role_ids[role]}
    emu.control("PUT", "/_emulator/state", state)


def _imds(emu, target=VM, headers=None, **params):
    query = urllib.parse.urlencode({"api-version": "2018-02-01", **params})
    return _raw(emu, "GET", f"/imds{target}/metadata/identity/oauth2/token?{query}",
                headers={"Metadata": "true"} if headers is None else headers)


def test_managed_identity_credential_gets_the_system_assigned_identity(emu):
    from azure.identity import ManagedIdentityCredential

    _attach(emu, system=True, graph_roles=[(SYSTEM_PRINCIPAL, "User.Read.All")])
    assert emu.env["AZURE_POD_IDENTITY_AUTHORITY_HOST"] == f"{emu.url}/imds{VM}"
    cred = ManagedIdentityCredential(connection_verify=emu.ca)
    claims = _claims(cred.get_token(emu.env["ENTRA_BOOTSTRAP_GRAPH_ENDPOINT"] + "/.default").token)
    assert claims["oid"] == claims["sub"] == SYSTEM_PRINCIPAL
    assert claims["appid"] == SYSTEM_CLIENT
    assert claims["iss"] == f"{emu.url}/{emu.env['AZURE_TENANT_ID']}/v2.0"
    assert claims["roles"] == ["User.Read.All"]
    assert claims["xms_mirid"] == VM


def test_user_assigned_identity_by_client_id_for_token_exchange_audience(emu):
    from azure.identity import ManagedIdentityCredential

    _attach(emu, system=True, users=(1, 2))
    cred = ManagedIdentityCredential(client_id=_uai(2)["clientId"], connection_verify=emu.ca)
    claims = _claims(cred.get_token("api://AzureADTokenExchange/.default").token)
    assert claims["aud"] == "api://AzureADTokenExchange"
    assert claims["sub"] == claims["oid"] == _uai(2)["principalId"]
    assert claims["appid"] == _uai(2)["clientId"]
    assert claims["xms_mirid"] == _uai_id("uai2")


def test_imds_answer_shape_and_selectors(emu):
    _attach(emu, users=(1, 2))
    for params in ({"client_id": _uai(1)["clientId"]}, {"object_id": _uai(1)["principalId"]},
                   {"msi_res_id": _uai_id("uai1").lower()}):
        status, body = _imds(emu, resource="https://management.azure.com/", **params)
        assert status == 200, body
        assert set(body) >= {"access_token", "expires_in", "expires_on", "not_before", "resource",
                             "token_type", "client_id"}
        assert all(isinstance(body[k], str) for k in ("expires_in", "expires_on", "not_before"))
        assert body["resource"] == "https://management.azure.com/"
        assert _claims(body["access_token"])["oid"] == _uai(1)["principalId"]


@pytest.mark.parametrize("setup, params, message", [
    ({}, {}, "Identity not found"),
    ({"system": True}, {"client_id": _uai(1)["clientId"]}, "Identity not found"),
    ({"users": (1,)}, {"client_id": "00000000-0000-0000-0000-0000000000ff"}, "Identity not found"),
    ({"users": (1, 2)}, {}, "Multiple user assigned identities exist, please specify the clientId "
                            "/ resourceId of the identity in the token request"),
])
def test_imds_refuses_identities_not_attached(emu, setup, params, message):
    _attach(emu, **setup)
    status, body = _imds(emu, resource="https://management.azure.com/", **params)
    assert status == 400 and body == {"error": "invalid_request", "error_description": message}


def test_token_lifetime_knob_applies_to_managed_identity_and_app_tokens_and_survives_reset(emu):
    _attach(emu, users=(1,))
    status, body = _imds(emu, resource="https://management.azure.com/")
    assert status == 200 and int(body["expires_in"]) == 86399               # the usual ~24 h
    emu.faults(token_lifetime_s=6)
    assert emu.control("GET", "/_emulator/faults")["token_lifetime_s"] == 6
    emu.reset()                                                             # knobs stay as they are
    assert emu.control("GET", "/_emulator/faults")["token_lifetime_s"] == 6
    _attach(emu, users=(1,))
    status, body = _imds(emu, resource="https://management.azure.com/")
    claims = _claims(body["access_token"])
    assert status == 200 and body["expires_in"] == "6" and claims["exp"] - claims["iat"] == 6
    assert int(body["expires_on"]) == claims["exp"]
    status, body = _raw(emu, "POST", f"/{emu.env['AZURE_TENANT_ID']}/oauth2/v2.0/token", form={
        "grant_type": "client_credentials", "client_id": emu.env["AZURE_CLIENT_ID"],
        "client_secret": emu.env["AZURE_CLIENT_SECRET"], "scope": "https://management.azure.com/.default"})
    claims = _claims(body["access_token"])
    assert status == 200 and body["expires_in"] == 6 and claims["exp"] - claims["iat"] == 6
    emu.faults(token_lifetime_s=None)
    status, body = _imds(emu, resource="https://management.azure.com/")
    assert int(body["expires_in"]) == 86399


def test_imds_single_user_assigned_is_the_default(emu):
    _attach(emu, users=(1,))
    status, body = _imds(emu, resource="https://management.azure.com/")
    assert status == 200 and _claims(body["access_token"])["oid"] == _uai(1)["principalId"]


def test_managed_identity_credential_reports_identity_not_found(emu):
    from azure.identity import CredentialUnavailableError, ManagedIdentityCredential

    _attach(emu, system=True)
    cred = ManagedIdentityCredential(client_id="00000000-0000-0000-0000-0000000000ff",
                                     connection_verify=emu.ca)
    with pytest.raises(CredentialUnavailableError, match="Identity not found"):
        cred.get_token("https://management.azure.com/.default")


def test_imds_wire_refusals(emu):
    _attach(emu, system=True)
    status, body = _imds(emu, headers={}, resource="https://management.azure.com/")
    assert status == 400 and body == {"error": "invalid_request",
                                      "error_description": "Required metadata header not specified"}
    status, body = _imds(emu)
    assert status == 400 and body["error_description"] == "Required query variable 'resource' is missing"
    status, body = _imds(emu, resource="https://vault.azure.net")
    assert status == 400 and body["error"] == "invalid_resource"
    assert body["error_description"].startswith("AADSTS500011: The resource principal named "
                                                "https://vault.azure.net was not found")
    status, body = _imds(emu, target=RG + "/providers/Microsoft.Compute/virtualMachines/noSuchVM",
                         resource="https://management.azure.com/")
    assert status == 400 and "noSuchVM" in body["error_description"]
    status, body = _imds(emu, target=_uai_id("uai9"), resource="https://management.azure.com/")
    assert status == 400 and body["error"] == "invalid_request"


@pytest.mark.parametrize("target", [CG, VMSS])
def test_aio_managed_identity_credential_on_other_compute(emu, monkeypatch, target):
    from azure.identity.aio import ManagedIdentityCredential

    _attach(emu, target=target, users=(3,))
    monkeypatch.setenv("AZURE_POD_IDENTITY_AUTHORITY_HOST", f"{emu.url}/imds{target}")

    async def main():
        async with ManagedIdentityCredential(client_id=_uai(3)["clientId"],
                                             connection_verify=emu.ca) as cred:
            return (await cred.get_token("api://AzureADTokenExchange/.default")).token

    assert _claims(asyncio.run(main()))["oid"] == _uai(3)["principalId"]


def test_app_service_style_endpoint(emu, monkeypatch):
    from azure.identity import ManagedIdentityCredential

    _attach(emu, users=(1,))
    monkeypatch.delenv("AZURE_POD_IDENTITY_AUTHORITY_HOST")
    monkeypatch.setenv("IDENTITY_ENDPOINT", f"{emu.url}/imds{VM}/metadata/identity/oauth2/token")
    monkeypatch.setenv("IDENTITY_HEADER", "any-value")
    cred = ManagedIdentityCredential(client_id=_uai(1)["clientId"], connection_verify=emu.ca)
    token = cred.get_token("https://management.azure.com/.default")
    assert _claims(token.token)["oid"] == _uai(1)["principalId"] and token.expires_on > time.time()
    assert emu.requests()[-1]["path"].count("api-version=2019-08-01") == 1


def test_mi_cannot_use_the_token_endpoint_for_exchange_audience_with_a_secret(emu):
    path = f"/{emu.env['AZURE_TENANT_ID']}/oauth2/v2.0/token"
    status, body = _raw(emu, "POST", path,
                        form=_token_form(emu, scope="api://AzureADTokenExchange/.default"))
    assert status == 400 and body["error_codes"] == [500011]


# --- client assertion: a managed identity token exchanged through a federated credential --------

APP = {"id": "8d8d8d8d-0000-4000-8000-0000000000a1", "appId": "8d8d8d8d-0000-4000-8000-000000000001",
       "spId": "8d8d8d8d-0000-4000-8000-0000000000b1"}


def _app_with_fic(emu, *, subject=None, issuer=None, audience="api://AzureADTokenExchange",
                  roles=("Application.Read.All",), fic=True, sp=True):
    """An app (+ SP, + consented Graph roles) whose FIC trusts user-assigned identity uai1 on myVM."""
    _attach(emu, users=(1,))
    state = emu.state()
    graph = state["graph"]
    graph["applications"][APP["id"]] = {"id": APP["id"], "appId": APP["appId"],
                                        "displayName": "exchange-target", "identifierUris": [],
                                        "requiredResourceAccess": []}
    if sp:
        graph["servicePrincipals"][APP["spId"]] = {"id": APP["spId"], "appId": APP["appId"],
                                                   "displayName": "exchange-target",
                                                   "servicePrincipalType": "Application",
                                                   "appRoles": [], "oauth2PermissionScopes": []}
    if fic:
        graph["federatedIdentityCredentials"][APP["id"]] = [{
            "id": "9e9e9e9e-0000-4000-8000-000000000001", "name": "myvm-uai1",
            "issuer": issuer or f"{emu.url}/{state['tenant_id']}/v2.0",
            "subject": subject or _uai(1)["principalId"], "audiences": [audience]}]
    emu.control("PUT", "/_emulator/state", state)
    if roles:
        _grant(emu, APP["spId"], roles)


def _grant(emu, principal, roles):
    state = emu.state()
    graph = state["graph"]
    graph_sp = next(sp for sp in graph["servicePrincipals"].values()
                    if sp["appId"] == "00000003-0000-0000-c000-000000000000")
    ids = {r["value"]: r["id"] for r in graph_sp["appRoles"]}
    for i, role in enumerate(roles):
        aid = f"7d7d7d7d-0000-4000-8000-{i:012d}"
        graph["appRoleAssignments"][aid] = {"id": aid, "principalId": principal,
                                            "resourceId": graph_sp["id"], "appRoleId": ids[role]}
    emu.control("PUT", "/_emulator/state", state)


def _mi_assertion(emu):
    from azure.identity import ManagedIdentityCredential

    mi = ManagedIdentityCredential(client_id=_uai(1)["clientId"], connection_verify=emu.ca)
    return mi.get_token("api://AzureADTokenExchange/.default").token


def _exchange(emu, assertion, client_id=APP["appId"]):
    from azure.identity import ClientAssertionCredential

    cred = ClientAssertionCredential(emu.env["AZURE_TENANT_ID"], client_id, lambda: assertion,
                                     authority=emu.url, disable_instance_discovery=True,
                                     connection_verify=emu.ca)
    return cred.get_token(emu.env["ENTRA_BOOTSTRAP_GRAPH_ENDPOINT"] + "/.default").token


def test_exchange_with_matching_fic_carries_the_apps_roles(emu):
    _app_with_fic(emu, roles=("Application.Read.All", "User.Read.All"))
    claims = _claims(_exchange(emu, _mi_assertion(emu)))
    assert claims["appid"] == APP["appId"] and claims["oid"] == APP["spId"]
    assert claims["roles"] == ["Application.Read.All", "User.Read.All"]
    assert claims["aud"] == emu.env["ENTRA_BOOTSTRAP_GRAPH_ENDPOINT"]


@pytest.mark.parametrize("kw, code, text", [
    ({"fic": False}, 700211, "No matching federated identity record found for presented assertion issuer"),
    ({"issuer": "https://login.microsoftonline.com/72f988bf-86f1-41af-91ab-2d7cd011db47/v2.0"},
     700211, "No matching federated identity record found for presented assertion issuer"),
    ({"subject": _uai(2)["principalId"]}, 700213,
     "No matching federated identity record found for presented assertion subject"),
    ({"subject": _uai(1)["principalId"].upper()}, 7002138,
     "The subject matches with case-insensitive comparison, but not with case-sensitive comparison"),
    ({"audience": "api://AzureADTokenExchangeUSGov"}, 700212,
     "No matching federated identity record found for presented assertion audience"),
])
def test_exchange_without_matching_fic_is_refused(emu, kw, code, text):
    from azure.core.exceptions import ClientAuthenticationError

    _app_with_fic(emu, **kw)
    assertion = _mi_assertion(emu)
    with pytest.raises(ClientAuthenticationError, match=f"AADSTS{code}: .*{text}"):
        _exchange(emu, assertion)
    status, body = _raw(emu, "POST", f"/{emu.env['AZURE_TENANT_ID']}/oauth2/v2.0/token", form={
        "grant_type": "client_credentials", "client_id": APP["appId"],
        "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
        "client_assertion": assertion, "scope": "https://graph.microsoft.com/.default"})
    assert status == 401 and body["error"] == "invalid_client" and body["error_codes"] == [code]


def test_exchange_refuses_a_forged_assertion(emu):
    from azure.core.exceptions import ClientAuthenticationError
    from cryptography.hazmat.primitives.asymmetric import rsa

    _app_with_fic(emu)
    real = _claims(_mi_assertion(emu))
    forged = jwt.encode(real, rsa.generate_private_key(public_exponent=65537, key_size=2048),
                        algorithm="RS256")
    with pytest.raises(ClientAuthenticationError, match="AADSTS700027"):
        _exchange(emu, forged)
    with pytest.raises(ClientAuthenticationError, match="AADSTS50027"):
        _exchange(emu, "not-a-jwt")


def test_exchange_for_unknown_app_or_app_without_sp(emu):
    from azure.core.exceptions import ClientAuthenticationError

    _app_with_fic(emu, sp=False, roles=())
    assertion = _mi_assertion(emu)
    with pytest.raises(ClientAuthenticationError, match="AADSTS7000229"):
        _exchange(emu, assertion)
    with pytest.raises(ClientAuthenticationError, match="AADSTS700016"):
        _exchange(emu, assertion, client_id="99999999-0000-0000-0000-000000000000")


def test_exchange_for_another_app_of_the_tenant_by_identifier_uri(emu):
    """An app's own API as the resource: roles assigned on its SP, by appId or identifierUri."""
    _app_with_fic(emu, roles=())
    state = emu.state()
    api_sp = state["graph"]["servicePrincipals"][emu.state()["seed"]["reader"]["spId"]]
    api_sp["appRoles"] = [{"id": "0f0f0f0f-0000-4000-8000-000000000001", "value": "Jobs.Run",
                           "allowedMemberTypes": ["Application"], "isEnabled": True}]
    reader_app = state["graph"]["applications"][state["seed"]["reader"]["appObjectId"]]
    reader_app["identifierUris"] = ["api://reader-api"]
    state["graph"]["appRoleAssignments"]["0e0e0e0e-0000-4000-8000-000000000001"] = {
        "id": "0e0e0e0e-0000-4000-8000-000000000001", "principalId": APP["spId"],
        "resourceId": api_sp["id"], "appRoleId": "0f0f0f0f-0000-4000-8000-000000000001"}
    emu.control("PUT", "/_emulator/state", state)
    from azure.identity import ClientAssertionCredential

    assertion = _mi_assertion(emu)
    cred = ClientAssertionCredential(emu.env["AZURE_TENANT_ID"], APP["appId"], lambda: assertion,
                                     authority=emu.url, disable_instance_discovery=True,
                                     connection_verify=emu.ca)
    for resource in ("api://reader-api", state["seed"]["reader"]["appId"]):
        claims = _claims(cred.get_token(resource + "/.default").token)
        assert claims["aud"] == resource and claims["roles"] == ["Jobs.Run"]


# --- authenticate(): the contract Graph and ARM handlers call ------------------------------------
# In-process on a real app object: expired and wrong-audience tokens cannot be minted over the wire.

def _local():
    import copy

    from aiohttp.test_utils import make_mocked_request

    from entra_bootstrap.emulator.app import make_app
    from entra_bootstrap.emulator.seed import seed_world
    from entra_bootstrap.emulator.state import World
    from entra_bootstrap.emulator.tokens import SIGNING_KEY

    base = "https://127.0.0.1:1"
    seeded = seed_world(base)
    world = World(data=copy.deepcopy(seeded), base_url=base)
    app = make_app(world, seeded)

    def request(token=None, header=None):
        headers = {"Authorization": header or f"Bearer {token}"} if (token or header) else {}
        return make_mocked_request("GET", "/graph/v1.0/applications", headers=headers, app=app)

    def sign(**claims):
        now = int(time.time())
        body = {"aud": base + "/graph", "iss": world.issuer, "tid": world.tenant_id,
                "oid": "o-1", "appid": "a-1", "iat": now, "nbf": now, "exp": now + 600,
                "roles": ["Directory.Read.All"]}
        body.update(claims)
        return app[SIGNING_KEY].sign(body)

    return request, sign, base


def _refusal(request, api):
    from entra_bootstrap.emulator.errors import ApiError
    from entra_bootstrap.emulator.auth import authenticate

    with pytest.raises(ApiError) as info:
        authenticate(request, api)
    err = info.value
    assert err.status == 401 and "WWW-Authenticate" in err.headers
    assert err.flavor == api
    return err.code, err.message


def test_authenticate_returns_the_caller():
    from entra_bootstrap.emulator.auth import authenticate

    request, sign, base = _local()
    caller = authenticate(request(sign()), "graph")
    assert (caller.oid, caller.app_id, caller.roles) == ("o-1", "a-1", frozenset({"Directory.Read.All"}))
    assert caller.audience == base + "/graph" and caller.claims["tid"] == caller.tenant_id
    for aud in (base + "/graph/", "https://graph.microsoft.com", "00000003-0000-0000-c000-000000000000"):
        assert authenticate(request(sign(aud=aud)), "graph").oid == "o-1"
    for aud in (base + "/arm", "https://management.azure.com/", "https://management.core.windows.net/"):
        assert authenticate(request(sign(aud=aud)), "arm").roles == frozenset({"Directory.Read.All"})


def test_authenticate_refusals_in_graph_shape():
    request, sign, base = _local()
    assert _refusal(request(), "graph") == ("InvalidAuthenticationToken", "Access token is empty.")
    assert _refusal(request(header="Basic abc"), "graph")[1] == "Access token is empty."
    assert _refusal(request("garbage"), "graph")[1] == "Access token validation failure."
    assert _refusal(request(sign(exp=int(time.time()) - 3600)), "graph")[1] == (
        "Lifetime validation failed, the token is expired.")
    for aud in (base + "/arm", "api://AzureADTokenExchange"):
        assert _refusal(request(sign(aud=aud)), "graph")[1] == (
            "Access token validation failure. Invalid audience.")


def test_authenticate_refusals_in_arm_shape():
    from cryptography.hazmat.primitives.asymmetric import rsa

    request, sign, base = _local()
    assert _refusal(request(), "arm") == ("AuthenticationFailed",
                                          "Authentication failed. The 'Authorization' header is missing.")
    forged = jwt.encode(_claims(sign(aud=base + "/arm")),
                        rsa.generate_private_key(public_exponent=65537, key_size=2048), algorithm="RS256")
    assert _refusal(request(forged), "arm") == ("InvalidAuthenticationToken", "The access token is invalid.")
    code, message = _refusal(request(sign(aud=base + "/arm", exp=int(time.time()) - 3600)), "arm")
    assert code == "ExpiredAuthenticationToken" and message.startswith("The access token expiry UTC time")
    code, message = _refusal(request(sign()), "arm")
    assert code == "InvalidAuthenticationTokenAudience"
    assert f"wrong audience or resource '{base}/graph'" in message


def test_disabled_service_principal_gets_no_token(emu):
    from azure.core.exceptions import ClientAuthenticationError

    state = emu.state()
    state["graph"]["servicePrincipals"][state["seed"]["reader"]["spId"]]["accountEnabled"] = False
    emu.control("PUT", "/_emulator/state", state)
    reader = _cred(emu, emu.env["EMULATOR_READER_CLIENT_ID"], emu.env["EMULATOR_READER_CLIENT_SECRET"])
    with pytest.raises(ClientAuthenticationError, match="AADSTS7000112: Application "
                                                        f"'{emu.env['EMULATOR_READER_CLIENT_ID']}'"
                                                        r"\(entra-bootstrap-reader\) is disabled."):
        reader.get_token("https://graph.microsoft.com/.default")


def test_deleted_identity_still_attached_gets_no_token(emu):
    _attach(emu, users=(1, 2))
    state = emu.state()
    del state["arm"]["resources"][_uai_id("uai2").lower()]
    emu.control("PUT", "/_emulator/state", state)
    status, body = _imds(emu, resource="https://management.azure.com/", client_id=_uai(2)["clientId"])
    assert status == 400 and body["error_description"] == "Identity not found"
    status, body = _imds(emu, resource="https://management.azure.com/")   # uai1 is now the only one
    assert status == 200 and _claims(body["access_token"])["oid"] == _uai(1)["principalId"]
