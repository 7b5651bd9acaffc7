"""What the official Azure CLI needs from the emulator when it is registered as a custom cloud
(README "Pointing the SDKs and the Azure CLI at it"), checked without the CLI (CI does not install
it): the same requests, sent by azure-identity, an azure-mgmt client and a raw HTTPS client.

- ``az cloud register --endpoint-resource-manager URL`` reads ``URL/metadata/endpoints?api-version=
  2022-09-01`` (azure-cli ``_populate_from_metadata_endpoint``), appending the suffix to the URL as
  given: with a trailing slash the path is ``/arm//metadata/endpoints``. Without a 200 the cloud is
  not registered at all.
- The CLI then asks tokens for ``resource + "/.default"`` (azure-cli ``resource_to_scopes``), so
  ARM tokens are requested as ``https://management.core.windows.net//.default`` (the first of
  ``authentication.audiences``) and Graph tokens as ``{microsoftGraphResourceId}/.default``, i.e.
  ``https://127.0.0.1:PORT/graph//.default``; ARM requests go to ``resourceManager`` with its
  trailing slash.
"""

from __future__ import annotations

import json
import ssl
import urllib.error
import urllib.request

import jwt
import pytest


def _get(emu, url, token=None):
    ctx = ssl.create_default_context(cafile=emu.ca)
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    req = urllib.request.Request(url, headers=headers)
    try:
        with urllib.request.urlopen(req, context=ctx, timeout=30) as resp:
            return resp.status, json.loads(resp.read() or b"null")
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"null")


def _metadata(emu, path="/arm/metadata/endpoints?api-version=2022-09-01"):
    status, body = _get(emu, emu.url + path)
    assert status == 200, body
    return body


def _cli_style_credential(emu, metadata):
    """The operator's credential, built from the metadata the way the CLI builds its MSAL app."""
    from azure.identity import ClientSecretCredential

    return ClientSecretCredential(emu.env["AZURE_TENANT_ID"], emu.env["AZURE_CLIENT_ID"],
                                  emu.env["AZURE_CLIENT_SECRET"],
                                  authority=metadata["authentication"]["loginEndpoint"],
                                  disable_instance_discovery=True, connection_verify=emu.ca)


@pytest.mark.parametrize("path", ["/arm/metadata/endpoints?api-version=2022-09-01",
                                  "/arm//metadata/endpoints?api-version=2022-09-01",
                                  "/arm/metadata/endpoints"])
def test_cloud_metadata_names_this_emulator_without_a_token(emu, path):
    body = _metadata(emu, path)
    assert body["name"] == "Emulator"
    assert body["authentication"]["loginEndpoint"] == emu.env["AZURE_AUTHORITY_HOST"]
    assert body["authentication"]["audiences"][0] == "https://management.core.windows.net/"
    assert body["authentication"]["tenant"] == "common"
    assert body["authentication"]["identityProvider"] == "AAD"
    assert body["resourceManager"] == emu.env["ENTRA_BOOTSTRAP_ARM_ENDPOINT"] + "/"
    assert body["microsoftGraphResourceId"] == emu.env["ENTRA_BOOTSTRAP_GRAPH_ENDPOINT"] + "/"
    assert isinstance(body["suffixes"], dict)
    assert emu.requests()[-1] == {"method": "GET", "path": path, "status": 200}


def test_other_arm_routes_still_need_a_token(emu):
    # The metadata route sits in front of ARM's catch-all; it must not open anything else.
    status, body = _get(emu, emu.env["ENTRA_BOOTSTRAP_ARM_ENDPOINT"]
                        + "/subscriptions?api-version=2022-12-01")
    assert status == 401
    assert body["error"]["code"] == "AuthenticationFailed"


def test_every_audience_in_the_metadata_gets_an_arm_token_arm_accepts(emu):
    from azure.mgmt.compute import ComputeManagementClient

    metadata = _metadata(emu)
    cred = _cli_style_credential(emu, metadata)
    for audience in metadata["authentication"]["audiences"]:
        scope = audience + "/.default"           # azure-cli resource_to_scopes: keeps the slash
        assert jwt.decode(cred.get_token(scope).token,
                          options={"verify_signature": False})["aud"] == audience
        compute = ComputeManagementClient(cred, emu.env["AZURE_SUBSCRIPTION_ID"],
                                          base_url=metadata["resourceManager"],
                                          credential_scopes=[scope], connection_verify=emu.ca,
                                          polling_interval=0)
        vm = compute.virtual_machines.get("myResourceGroup", "myVM")
        assert vm.name == "myVM"
    paths = [r["path"] for r in emu.requests() if r["path"].startswith("/arm/subscriptions")]
    assert paths and all("//" not in p for p in paths)


def test_graph_resource_id_from_the_metadata_gets_a_graph_token(emu):
    metadata = _metadata(emu)
    resource = metadata["microsoftGraphResourceId"]
    token = _cli_style_credential(emu, metadata).get_token(resource + "/.default").token
    claims = jwt.decode(token, options={"verify_signature": False})
    assert claims["aud"] == resource
    assert "Application.ReadWrite.All" in claims["roles"]
    # azure-cli's Graph client: rstrip('/') the resource id, then "/v1.0/…".
    status, body = _get(emu, resource.rstrip("/") + "/v1.0/servicePrincipals(appId="
                        "'00000003-0000-0000-c000-000000000000')", token)
    assert status == 200, body
    assert body["displayName"] == "Microsoft Graph"


def test_an_arm_token_on_graph_is_refused_the_way_graph_refuses_it(emu):
    # What `az rest` without --resource does on the emulator: Graph and ARM share one origin, so
    # the CLI takes the Graph URL for an ARM URL and sends an ARM token (README says to pass
    # --resource). Graph answers 401 InvalidAuthenticationToken, as for any wrong audience.
    metadata = _metadata(emu)
    token = _cli_style_credential(emu, metadata).get_token(
        metadata["authentication"]["audiences"][0] + "/.default").token
    status, body = _get(emu, emu.env["ENTRA_BOOTSTRAP_GRAPH_ENDPOINT"] + "/v1.0/applications", token)
    assert status == 401
    assert body["error"]["code"] == "InvalidAuthenticationToken"
    assert "Invalid audience" in body["error"]["message"]
