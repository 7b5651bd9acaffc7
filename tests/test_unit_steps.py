"""Unit tests of the Graph steps' pure logic: references, names, permission merging, federation rules."""

from __future__ import annotations

import pytest

from entra_bootstrap.errors import CliError
from entra_bootstrap.steps import (api_app_id, check_app_ref, check_managed_identity_ref, derive_unique_name,
                                   looks_like_guid)
from entra_bootstrap.steps.consent import PRIVILEGED_GRAPH_ROLES, check_privileged
from entra_bootstrap.steps.federation import (FederationSource, default_name, static_issuer_subject,
                                              validate)
from entra_bootstrap.steps.permissions import Permission, check_offline, merged, resolve

GRAPH = "00000003-0000-0000-c000-000000000000"
SUB = "0b1f6471-1bf0-4dda-aec3-cb9272f09590"


def _exit(fn, *args, **kw) -> CliError:
    with pytest.raises(CliError) as err:
        fn(*args, **kw)
    return err.value


@pytest.mark.parametrize("name,unique", [("My App", "my-app"), ("  Shop API (prod)!", "shop-api-prod"),
                                         ("a.b_c-d", "a.b_c-d"), ("***", ""), ("Café Ünïcode", "cafe-unicode"),
                                         ("アプリ", ""), ("x" * 200, "x" * 120)])
def test_derive_unique_name(name, unique):
    assert derive_unique_name(name) == unique


def test_app_references():
    assert check_app_ref("My-App") == "My-App"
    assert check_app_ref("A1B2C3D4-0001-4000-8000-000000000001") == "a1b2c3d4-0001-4000-8000-000000000001"
    assert _exit(check_app_ref, "a1b2c3d4-0001-4000-8000-00000000000").code == "MalformedGuid"
    assert _exit(check_app_ref, "has space").exit_code == 2
    assert looks_like_guid("1234abcd-12") and not looks_like_guid("User.Read.All")


def test_api_names():
    for name in ("Microsoft Graph", "graph", GRAPH, None):
        assert api_app_id(name) == GRAPH
    assert api_app_id("A1B2C3D4-0001-4000-8000-000000000001") == "a1b2c3d4-0001-4000-8000-000000000001"
    assert _exit(api_app_id, "0000-0000-00").code == "MalformedGuid"
    assert _exit(api_app_id, "SharePoint").code == "BadApi"


def test_offline_permission_check_suggests_close_names():
    check_offline(GRAPH, ["DeviceManagementConfiguration.ReadWrite.All", "User.Read.All"], ["User.Read.All"])
    err = _exit(check_offline, GRAPH, ["Directory.Reed.All"], [])
    assert err.code == "UnknownPermission" and "Directory.Read.All" in err.fix
    err = _exit(check_offline, GRAPH, [], ["Directory.Read.Al"])
    assert "Directory.Read.All" in err.fix
    err = _exit(check_offline, GRAPH, ["openid"], [])
    assert "delegated" in err.message and "--scope" in err.fix
    assert _exit(check_offline, GRAPH, ["9241abd9-d0e6-425a-bd4f-47ba86e767aZ"], []).code == "MalformedGuid"
    check_offline("a1b2c3d4-0001-4000-8000-000000000001", ["AnythingGoes"], [])   # checked online


R1, R2 = "df021288-bdef-4463-88db-98f22de89214", "5b567255-7703-4780-807c-7be8301ae99b"
S1, S2 = "a154be20-db9c-4678-8ab7-66f6cc099a59", "37f7f235-527c-4136-accd-4a02d197296e"
SP = {"appId": GRAPH, "displayName": "Microsoft Graph",
      "appRoles": [{"id": R1, "value": "User.Read.All"}, {"id": R2, "value": "Group.Read.All"}],
      "oauth2PermissionScopes": [{"id": S1, "value": "User.Read.All"}, {"id": S2, "value": "openid"}]}


def test_resolve_against_the_service_principal():
    perms = resolve(SP, ["user.read.all", R2, R2.upper()], ["User.Read.All"])
    assert perms == [Permission(GRAPH, "Role", R1, "User.Read.All"), Permission(GRAPH, "Role", R2, "Group.Read.All"),
                     Permission(GRAPH, "Scope", S1, "User.Read.All")]
    assert "--scope" in _exit(resolve, SP, [S2], []).fix
    assert "--scope" in _exit(resolve, SP, ["openid"], []).fix
    assert _exit(resolve, SP, ["Group.Read.Al"], []).fix.startswith("did you mean Group.Read.All")


def test_merge_keeps_other_entries_and_never_duplicates():
    other = {"resourceAppId": "other", "resourceAccess": [{"id": "x", "type": "Role"}]}
    current = [other, {"resourceAppId": GRAPH, "resourceAccess": [{"id": "r1", "type": "Role"}]}]
    perms = [Permission(GRAPH, "Role", "r1", "A"), Permission(GRAPH, "Scope", "s1", "B")]
    out = merged(current, GRAPH, perms, add=True)
    assert out[0] is other
    assert out[1]["resourceAccess"] == [{"id": "r1", "type": "Role"}, {"id": "s1", "type": "Scope"}]
    assert merged(out, GRAPH, perms, add=True) == out
    assert merged(out, GRAPH, perms, add=False) == [other]
    assert merged([], GRAPH, perms[:1], add=True) == [{"resourceAppId": GRAPH,
                                                       "resourceAccess": [{"id": "r1", "type": "Role"}]}]


def test_privileged_roles_need_the_flag():
    assert {"RoleManagement.ReadWrite.Directory", "Application.ReadWrite.All", "AppRoleAssignment.ReadWrite.All",
            "Directory.ReadWrite.All"} <= PRIVILEGED_GRAPH_ROLES
    bad = [Permission(GRAPH, "Role", "x", "AppRoleAssignment.ReadWrite.All")]
    assert _exit(check_privileged, bad, False).code == "PrivilegedPermission"
    check_privileged(bad, True)
    check_privileged([Permission(GRAPH, "Scope", "x", "Directory.ReadWrite.All")], False)   # roles only
    check_privileged([Permission("other", "Role", "x", "Directory.ReadWrite.All")], False)  # Graph only


def test_federation_sources_validate_offline():
    validate(FederationSource(github="contoso/infra", branch="main"))
    validate(FederationSource(managed_identity="mi", resource_group="rg"))
    for src, code in [
        (FederationSource(name="ab", github="a/b", branch="m"), "InvalidName"),
        (FederationSource(github="a/b"), "BadFederation"),
        (FederationSource(github="a/b", branch="m", tag="t"), "BadFederation"),
        (FederationSource(github="a/b", branch="m", managed_identity="x", resource_group="rg"), "BadFederation"),
        (FederationSource(managed_identity="mi"), "MissingResourceGroup"),
        (FederationSource(kubernetes_issuer="http://x", namespace="n", service_account="s"), "BadFederation"),
        (FederationSource(kubernetes_issuer="https://x/", namespace="Bad_NS", service_account="s"), "BadFederation"),
        (FederationSource(issuer="https://x"), "BadFederation"),
        (FederationSource(azure_devops=True, subject="sc://a/b/c"), "BadFederation"),
        (FederationSource(issuer="https://x", subject="s" * 601), "BadFederation"),
    ]:
        assert _exit(validate, src).code == code, src


def test_system_assigned_compute_ids_are_refused_offline():
    for rtype in ("Microsoft.Compute/virtualMachines", "Microsoft.Compute/virtualMachineScaleSets",
                  "Microsoft.ContainerInstance/containerGroups"):
        err = _exit(check_managed_identity_ref, f"/subscriptions/{SUB}/resourceGroups/rg/providers/{rtype}/x")
        assert err.code == "SystemAssignedIdentity" and "user-assigned" in err.fix
    assert _exit(check_managed_identity_ref, f"/subscriptions/{SUB}/resourceGroups/rg").code == "MalformedResourceId"
    check_managed_identity_ref(f"/subscriptions/{SUB}/resourceGroups/rg/providers/"
                               "Microsoft.ManagedIdentity/userAssignedIdentities/mi")


def test_default_names_are_deterministic_valid_and_distinct():
    sources = [FederationSource(github="contoso/infra", branch="main"),
               FederationSource(github="contoso/infra", environment="main"),
               FederationSource(github="contoso/infra", pull_request=True),
               FederationSource(kubernetes_issuer="https://a/", namespace="n", service_account="s"),
               FederationSource(kubernetes_issuer="https://b/", namespace="n", service_account="s"),
               FederationSource(issuer="https://i", subject="s1"), FederationSource(issuer="https://i", subject="s2"),
               FederationSource(managed_identity=f"/subscriptions/{SUB}/resourceGroups/rg/providers/"
                                                 "Microsoft.ManagedIdentity/userAssignedIdentities/tf-mi"),
               FederationSource(github="o/" + "r" * 100, tag="t" * 100)]
    names = [default_name(s) for s in sources]
    assert len(set(names)) == len(names)
    assert names[0] == "github-contoso-infra-branch-main" and names[7] == "tf-mi"
    assert all(3 <= len(n) <= 120 for n in names)
    assert [default_name(s) for s in sources] == names


def test_issuer_and_subject_per_source():
    gh = "https://token.actions.githubusercontent.com"
    assert static_issuer_subject(FederationSource(github="o/r", tag="v1")) == (gh, "repo:o/r:ref:refs/tags/v1")
    assert static_issuer_subject(FederationSource(github="o/r", environment="prod")) == \
        (gh, "repo:o/r:environment:prod")
    assert static_issuer_subject(FederationSource(kubernetes_issuer="https://k/", namespace="n",
                                                  service_account="s")) == ("https://k/", "system:serviceaccount:n:s")
    assert static_issuer_subject(FederationSource(managed_identity="x", resource_group="rg")) is None


def test_gitlab_source_issuer_subject_and_default_name():
    src = FederationSource(gitlab="group/sub/project", tag="v1")
    validate(src)
    assert static_issuer_subject(src) == ("https://gitlab.com", "project_path:group/sub/project:ref_type:tag:ref:v1")
    assert default_name(src) == "gitlab-group-sub-project-tag-v1"
    other = FederationSource(gitlab="group/sub/project", tag="v1", gitlab_url="https://gitlab.example.com/")
    assert static_issuer_subject(other)[0] == "https://gitlab.example.com"
    assert default_name(other) != default_name(src) and default_name(other) == default_name(other)
    for bad in (FederationSource(gitlab="g/p"), FederationSource(gitlab="g", branch="m"),
                FederationSource(gitlab="g/p", branch="m", pull_request=True)):
        assert _exit(validate, bad).code == "BadFederation", bad
