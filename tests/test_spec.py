"""The bootstrap file: parsing and validation, offline (no server)."""

from __future__ import annotations

from importlib import resources

import pytest

from entra_bootstrap.spec import SpecError, Target, load_spec, parse_spec, default_permission_lookup

KNOWN, NAMES = default_permission_lookup()


def parse(text: str):
    return parse_spec(text, "boot.toml", KNOWN, NAMES)


def problems(text: str) -> list[str]:
    with pytest.raises(SpecError) as exc:
        parse(text)
    return [str(p) for p in exc.value.problems]


def test_the_example_file_parses_as_written(tmp_path):
    text = resources.files("entra_bootstrap").joinpath("data/example.toml").read_text()
    path = tmp_path / "example.toml"
    path.write_text(text)
    spec = load_spec(path)
    (ident,) = spec.identities
    assert ident.name == "terraform-managed-identity"
    assert ident.resource_group == "myResourceGroup" and ident.location == "eastus"
    assert ident.assign_to == (Target("vm", "myVM", "myResourceGroup"),)
    (app,) = spec.apps
    assert (app.unique_name, app.display_name, app.consent) == ("microsoft365-provider", "Microsoft365Provider", True)
    assert [(o.kind, o.value) for o in app.owners] == [("identity", "terraform-managed-identity")]
    (perm,) = app.permissions
    assert perm.is_graph and perm.roles == ("DeviceManagementConfiguration.ReadWrite.All",)
    (fed,) = app.federations
    assert (fed.name, fed.managed_identity) == ("terraform-managed-identity", "terraform-managed-identity")


def test_unknown_key_names_file_line_and_key_and_suggests():
    text = '[[identity]]\nname = "abc"\nresource_group = "rg"\nlocaton = "eastus"\n'
    assert problems(text) == ["boot.toml:4: identity[0].locaton: unknown key (did you mean 'location'?)"]


def test_unknown_permission_in_second_app_points_at_its_line():
    text = """
[[app]]
unique_name = "one"

[[app]]
unique_name = "two"

  [[app.permission]]
  roles = ["User.Read.All"]

  [[app.permission]]
  api = "Microsoft Graph"
  roles = ["User.Read.All",
           "DeviceManagementConfiguration.ReadWrite.Al"]
"""
    (msg,) = problems(text)
    assert msg.startswith("boot.toml:13: app[1].permission[1].roles[1]: 'DeviceManagementConfiguration.ReadWrite.Al'")
    assert "did you mean DeviceManagementConfiguration.ReadWrite.All" in msg


def test_role_versus_scope_is_checked_by_type():
    # Mail.Send exists as both; User.ReadBasic.All is a scope and a role; Calendars.ReadBasic is a scope only
    ok = parse('[[app]]\nunique_name = "a"\n[[app.permission]]\nscopes = ["Calendars.ReadBasic"]\nroles = ["User.Read.All"]\n')
    assert ok.apps[0].permissions[0].scopes == ("Calendars.ReadBasic",)
    msgs = problems('[[app]]\nunique_name = "a"\n[[app.permission]]\nroles = ["offline_access"]\n')
    assert msgs == ["boot.toml:4: app[0].permission[0].roles[0]: 'offline_access' is not an application "
                    "permission (app role) of Microsoft Graph; it is a delegated permission: list it under scopes"]


def test_reference_to_an_undeclared_identity():
    text = '[[app]]\nunique_name = "a"\nowners = ["identity:ghost"]\n[[app.federation]]\nname = "fic"\nmanaged_identity = "ghost"\n'
    assert problems(text) == [
        "boot.toml:3: app[0].owners[0]: identity 'ghost' is not declared in this file: add an [[identity]] "
        "entry with that name, or give the identity's full resource id",
        "boot.toml:6: app[0].federation[0].managed_identity: identity 'ghost' is not declared in this file: "
        "add an [[identity]] entry with that name, or give the identity's full resource id",
    ]


def test_duplicates_are_reported_with_the_line_of_the_second():
    text = ('[[identity]]\nname = "idone"\nresource_group = "rg"\n'
            '[[identity]]\nname = "IDONE"\nresource_group = "rg"\n'
            '[[app]]\nunique_name = "a"\n[[app.federation]]\nname = "fic-one"\nissuer = "https://i"\nsubject = "s"\n'
            '[[app.federation]]\nname = "fic-one"\nissuer = "https://i"\nsubject = "t"\n')
    assert problems(text) == [
        "boot.toml:14: app[0].federation[1].name: 'fic-one' is declared twice",
        "boot.toml:5: identity[1].name: 'IDONE' is declared twice",
    ]


def test_every_problem_is_reported_at_once():
    text = ('cloud = "mars"\ntenant = "not-a-guid"\n[[identity]]\nname = "x"\nresource_group = "rg"\n'
            'assign_to = ["server:web"]\n[[app]]\ndisplay_name = "no unique name"\n')
    msgs = problems(text)
    assert "boot.toml:1: cloud: 'mars' is not a cloud: use one of public, usgov, china, custom" in msgs
    assert "boot.toml:2: tenant: 'not-a-guid' is not a GUID" in msgs
    assert any(m.startswith("boot.toml:4: identity[0].name: 'x' breaks the naming rules") for m in msgs)
    assert any(m.startswith("boot.toml:6: identity[0].assign_to[0]: 'server:web' is not a target") for m in msgs)
    assert "boot.toml:7: app[0]: missing required key 'unique_name'" in msgs
    assert len(msgs) == 5


def test_types_and_syntax_errors():
    assert problems('[[app]]\nunique_name = "a"\nconsent = "yes"\n') == ["boot.toml:3: app[0].consent: must be true or false"]
    (msg,) = problems('[[app]\nunique_name = "a"\n')
    assert msg.startswith("boot.toml:1: (syntax): not valid TOML")


def test_federation_sources_and_their_required_companions():
    base = '[[app]]\nunique_name = "a"\n[[app.federation]]\nname = "gh-main"\n'
    assert problems(base + 'github = "org/repo"\n') == [
        "boot.toml:3: app[0].federation[0]: a github credential needs exactly one of branch, environment, tag "
        "or pull_request = true"]
    assert problems(base + 'github = "org/repo"\nbranch = "main"\nmanaged_identity = "/subscriptions/s/resourceGroups/r/providers/Microsoft.ManagedIdentity/userAssignedIdentities/u"\n') == [
        "boot.toml:3: app[0].federation[0]: sets managed_identity and github: choose one"]
    ok = parse(base + 'kubernetes_issuer = "https://oidc.example/"\nnamespace = "ns"\nservice_account = "sa"\n')
    assert ok.apps[0].federations[0].kubernetes_issuer == "https://oidc.example/"
    assert problems(base.replace("gh-main", "x") + 'issuer = "https://i"\nsubject = "s"\n')[0].startswith(
        "boot.toml:4: app[0].federation[0].name: 'x' breaks the federated credential naming rules")


def test_resource_id_targets_and_principal_owners():
    rid = "/subscriptions/s/resourceGroups/other/providers/Microsoft.Compute/virtualMachineScaleSets/ss"
    spec = parse(f'[[identity]]\nname = "idx"\nresource_group = "rg"\nassign_to = ["{rid}", "container-group:cg"]\n'
                 '[[app]]\nunique_name = "a"\nowners = ["principal:0B5A0F4E-1111-4222-8333-944455556666"]\n')
    assert spec.identities[0].assign_to == (Target("vmss", "ss", "other", rid), Target("container-group", "cg", "rg"))
    assert spec.apps[0].owners[0].value == "0b5a0f4e-1111-4222-8333-944455556666"
    assert problems('[[app]]\nunique_name = "a"\nowners = ["bob"]\n')[0].startswith("boot.toml:3: app[0].owners[0]: 'bob' is not an owner")


def test_missing_file(tmp_path):
    with pytest.raises(SpecError) as exc:
        load_spec(tmp_path / "nope.toml")
    assert "no such file" in str(exc.value)
