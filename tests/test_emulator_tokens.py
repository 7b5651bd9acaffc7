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
