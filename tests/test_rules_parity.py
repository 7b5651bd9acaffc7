"""Parity: every input rule gives the same verdict through the flags and through the bootstrap file.

One row per case: the command line, the same input as a bootstrap file, and the verdict both must
give - accepted (None) or the error code. The flags are refused before any request (their checks
run before ``execute``); "accepted" means the command got past every check to ``execute``, which
is replaced here by a stub, so no server is needed. The file is read by ``parse_spec``. A second
table-driven test runs the refused files through ``up`` against the emulator: exit 2, the code in
the JSON problems, and not a single request sent.

Not in the table, because the two sides do not take the same input: a managed identity or owner
named by name needs -g on the command line (MissingResourceGroup) and an [[identity]] entry in a
file (UndeclaredIdentity); ``--cloud mars`` is refused by the option's choices (UsageError, as
tests/test_cli_app.py asserts) and ``cloud = "mars"`` by the rule (BadCloud); ``--tenant`` also
takes a domain name, ``tenant =`` only a GUID.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import pytest

from cli_support import RUNNER, cli, cli_json, env, make_app  # noqa: F401 - fixture
from entra_bootstrap.cli import app as cli_app
from entra_bootstrap.errors import CliError
from entra_bootstrap.spec import SpecError, default_permission_lookup, parse_spec
from entra_bootstrap.steps.registry import KINDS

KNOWN, NAMES = default_permission_lookup()
SECTIONS = [k.file_section for k in KINDS if k.file_section is not None]   # what the CLI's loader reads
REACHED = 99                     # the exit code of the stub: every check of the flags passed
SUB = "0b1f6471-1bf0-4dda-aec3-cb9272f09590"
UAMI_ID = f"/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.ManagedIdentity/userAssignedIdentities/mi-one"
VM_ID = f"/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/vm1"
APP = '[[app]]\nunique_name = "my-app"\n'


@dataclass(frozen=True)
class Row:
    id: str
    flags: tuple[str, ...]        # the command line
    file: str                     # the same input in a bootstrap file
    code: str | None              # None: accepted both ways


def _toml(keys: dict) -> str:
    return "".join(f"{k} = {json.dumps(v)}\n" for k, v in keys.items())


def fed(flags: list[str], code: str | None, row_id: str, **keys) -> Row:
    """A ``federation add`` row; the file's entry is named "fic-one" unless ``name`` is given."""
    keys.setdefault("name", "fic-one")
    return Row(row_id, ("federation", "add", "--app", "my-app", *flags),
               APP + "[[app.federation]]\n" + _toml(keys), code)


GH = ["--github", "contoso/infra"]
K8S = ["--kubernetes", "--issuer", "https://oidc.example/c1/"]
K8S_KEYS = {"kubernetes_issuer": "https://oidc.example/c1/"}
ANY = ["--issuer", "https://issuer.example", "--subject", "s"]
ANY_KEYS = {"issuer": "https://issuer.example", "subject": "s"}
ADO_ISSUER = "https://vstoken.dev.azure.com/0b1f6471-aaaa-bbbb-cccc-000000000001"

FEDERATION_ROWS = [
    # GitHub
    fed([*GH, "--branch", "main"], None, "github-branch", github="contoso/infra", branch="main"),
    fed([*GH, "--environment", "prod"], None, "github-environment", github="contoso/infra", environment="prod"),
    fed([*GH, "--tag", "v1"], None, "github-tag", github="contoso/infra", tag="v1"),
    fed([*GH, "--pull-request"], None, "github-pull-request", github="contoso/infra", pull_request=True),
    fed(["--github", "not-a-repo", "--branch", "m"], "BadFederation", "github-not-owner-repo",
        github="not-a-repo", branch="m"),
    fed(["--github", "a_b/c", "--branch", "m"], "BadFederation", "github-owner-underscore",
        github="a_b/c", branch="m"),
    fed(["--github", "o" * 40 + "/r", "--branch", "m"], "BadFederation", "github-owner-too-long",
        github="o" * 40 + "/r", branch="m"),
    fed(GH, "BadFederation", "github-without-ref", github="contoso/infra"),
    fed([*GH, "--branch", "m", "--tag", "t"], "BadFederation", "github-two-refs",
        github="contoso/infra", branch="m", tag="t"),
    fed([*ANY, "--branch", "main"], "BadFederation", "branch-without-github", **ANY_KEYS, branch="main"),
    fed([*GH, "--branch", "m", *ANY], "BadFederation", "github-with-issuer",
        github="contoso/infra", branch="m", **ANY_KEYS),
    # GitLab
    fed(["--gitlab", "mygroup/myproject", "--branch", "main"], None, "gitlab-branch",
        gitlab="mygroup/myproject", branch="main"),
    fed(["--gitlab", "group/sub/project", "--tag", "v1"], None, "gitlab-nested-tag",
        gitlab="group/sub/project", tag="v1"),
    fed(["--gitlab", "g/p", "--branch", "m", "--gitlab-url", "https://gitlab.example.com/"], None,
        "gitlab-self-managed", gitlab="g/p", branch="m", gitlab_url="https://gitlab.example.com/"),
    fed(["--gitlab", "solo", "--branch", "m"], "BadFederation", "gitlab-no-group", gitlab="solo", branch="m"),
    fed(["--gitlab", "g/p.git", "--branch", "m"], "BadFederation", "gitlab-dot-git", gitlab="g/p.git", branch="m"),
    fed(["--gitlab", "g/p"], "BadFederation", "gitlab-without-ref", gitlab="g/p"),
    fed(["--gitlab", "g/p", "--branch", "m", "--tag", "t"], "BadFederation", "gitlab-two-refs",
        gitlab="g/p", branch="m", tag="t"),
    fed(["--gitlab", "g/p", "--environment", "prod"], "BadFederation", "gitlab-environment",
        gitlab="g/p", environment="prod"),
    fed(["--gitlab", "g/p", "--branch", "m", "--gitlab-url", "http://gitlab.example.com"], "BadFederation",
        "gitlab-url-not-https", gitlab="g/p", branch="m", gitlab_url="http://gitlab.example.com"),
    fed(["--gitlab", "g/p", "--branch", "m", *GH], "BadFederation", "gitlab-and-github",
        gitlab="g/p", branch="m", github="contoso/infra"),
    fed([*ANY, "--gitlab-url", "https://gitlab.example.com"], "BadFederation", "gitlab-url-without-gitlab",
        **ANY_KEYS, gitlab_url="https://gitlab.example.com"),
    # Kubernetes
    fed([*K8S, "--namespace", "apps", "--service-account", "web"], None, "k8s",
        **K8S_KEYS, namespace="apps", service_account="web"),
    fed(["--kubernetes", "--issuer", "http://not-https.example", "--namespace", "apps",
         "--service-account", "web"], "BadFederation", "k8s-http-issuer",
        kubernetes_issuer="http://not-https.example", namespace="apps", service_account="web"),
    fed([*K8S, "--namespace", "Bad_NS", "--service-account", "web"], "BadFederation", "k8s-bad-namespace",
        **K8S_KEYS, namespace="Bad_NS", service_account="web"),
    fed(["--kubernetes", "--issuer", "http://not-https.example", "--namespace", "Bad_NS",
         "--service-account", "web"], "BadFederation", "k8s-the-issue",
        kubernetes_issuer="http://not-https.example", namespace="Bad_NS", service_account="web"),
    fed([*K8S, "--namespace", "a.b", "--service-account", "web"], "BadFederation", "k8s-namespace-not-a-label",
        **K8S_KEYS, namespace="a.b", service_account="web"),
    fed([*K8S, "--namespace", "n" * 64, "--service-account", "web"], "BadFederation", "k8s-namespace-too-long",
        **K8S_KEYS, namespace="n" * 64, service_account="web"),
    fed([*K8S, "--namespace", "apps", "--service-account", "Web"], "BadFederation", "k8s-bad-service-account",
        **K8S_KEYS, namespace="apps", service_account="Web"),
    fed([*K8S, "--namespace", "apps"], "BadFederation", "k8s-without-service-account",
        **K8S_KEYS, namespace="apps"),
    fed([*K8S, "--namespace", "apps", "--service-account", "web", "--subject", "s"], "BadFederation",
        "k8s-with-subject", **K8S_KEYS, namespace="apps", service_account="web", subject="s"),
    fed([*ANY, "--namespace", "apps"], "BadFederation", "namespace-without-kubernetes",
        **ANY_KEYS, namespace="apps"),
    # Azure DevOps and any other issuer
    fed(["--azure-devops", "--issuer", ADO_ISSUER, "--subject", "sc://contoso/infra/prod"], None, "azure-devops",
        azure_devops=True, issuer=ADO_ISSUER, subject="sc://contoso/infra/prod"),
    fed(["--azure-devops", "--subject", "sc://a/b/c"], "BadFederation", "azure-devops-without-issuer",
        azure_devops=True, subject="sc://a/b/c"),
    fed(ANY, None, "issuer-and-subject", **ANY_KEYS),
    fed(["--issuer", "http://plain", "--subject", "s"], "BadFederation", "issuer-not-https",
        issuer="http://plain", subject="s"),
    fed(["--issuer", "https://issuer.example"], "BadFederation", "issuer-without-subject",
        issuer="https://issuer.example"),
    fed(["--issuer", "https://issuer.example", "--subject", "s" * 601], "BadFederation", "subject-too-long",
        issuer="https://issuer.example", subject="s" * 601),
    fed(["--issuer", "https://" + "i" * 600, "--subject", "s"], "BadFederation", "issuer-too-long",
        issuer="https://" + "i" * 600, subject="s"),
    fed([], "BadFederation", "no-source"),
    # managed identities
    fed(["--managed-identity", UAMI_ID], None, "managed-identity-by-id", managed_identity=UAMI_ID),
    fed(["--managed-identity", "0b5a0f4e-1111-4222-8333-944455556666"], None, "managed-identity-by-principal-id",
        managed_identity="0b5a0f4e-1111-4222-8333-944455556666"),
    fed(["--managed-identity", VM_ID], "SystemAssignedIdentity", "managed-identity-is-a-vm",
        managed_identity=VM_ID),
    fed(["--managed-identity", f"/subscriptions/{SUB}/resourceGroups/rg"], "MalformedResourceId",
        "managed-identity-bad-id", managed_identity=f"/subscriptions/{SUB}/resourceGroups/rg"),
    fed(["--managed-identity", "a1b2c3d4-0001-4000-8000-00000000000Z"], "MalformedGuid",
        "managed-identity-bad-principal-id", managed_identity="a1b2c3d4-0001-4000-8000-00000000000Z"),
    fed(["--managed-identity", UAMI_ID, *GH, "--branch", "m"], "BadFederation", "managed-identity-and-github",
        managed_identity=UAMI_ID, github="contoso/infra", branch="m"),
    fed(["--managed-identity", UAMI_ID, "--issuer", "https://i.example"], "BadFederation",
        "managed-identity-with-issuer", managed_identity=UAMI_ID, issuer="https://i.example"),
    # what every credential has: name, audience, description
    fed(["--name", "ci-main", *GH, "--branch", "m"], None, "name", name="ci-main", github="contoso/infra", branch="m"),
    *[fed(["--name", bad, *GH, "--branch", "m"], "InvalidName", f"name-{i}", name=bad, github="contoso/infra",
          branch="m")
      for i, bad in enumerate(["ab", "-starts-with-dash", "has space", "x" * 121, "dots.are.not.allowed"])],
    fed([*ANY, "--audience", "api://custom"], None, "audience", **ANY_KEYS, audience="api://custom"),
    fed([*ANY, "--audience", " "], "BadFederation", "audience-blank", **ANY_KEYS, audience=" "),
    fed([*ANY, "--audience", "a" * 601], "BadFederation", "audience-too-long", **ANY_KEYS, audience="a" * 601),
    fed([*ANY, "--description", "d" * 600], None, "description", **ANY_KEYS, description="d" * 600),
    fed([*ANY, "--description", "d" * 601], "BadFederation", "description-too-long", **ANY_KEYS,
        description="d" * 601),
]


def app_row(row_id: str, args: list[str], keys: dict, code: str | None) -> Row:
    return Row(row_id, ("app", "create", *args), "[[app]]\n" + _toml(keys), code)


def identity_row(row_id: str, name: str, group: str, code: str | None) -> Row:
    return Row(row_id, ("identity", "create", name, "-g", group),
               "[[identity]]\n" + _toml({"name": name, "resource_group": group}), code)


NAMING_ROWS = [
    app_row("unique-name", ["My App", "--unique-name", "my-app"], {"unique_name": "my-app", "display_name": "My App"},
            None),
    app_row("unique-name-bad", ["x", "--unique-name", "-bad name"], {"unique_name": "-bad name"}, "BadUniqueName"),
    app_row("unique-name-too-long", ["x", "--unique-name", "u" * 121], {"unique_name": "u" * 121}, "BadUniqueName"),
    app_row("display-name-too-long", ["d" * 257], {"unique_name": "d" * 120, "display_name": "d" * 257}, "BadName"),
    app_row("display-name-blank", ["  ", "--unique-name", "a"], {"unique_name": "a", "display_name": "  "}, "BadName"),
    app_row("sign-in-audience", ["x", "--sign-in-audience", "AzureADMultipleOrgs"],
            {"unique_name": "x", "sign_in_audience": "AzureADMultipleOrgs"}, None),
    app_row("sign-in-audience-any-case", ["x", "--sign-in-audience", "azureadmultipleorgs"],
            {"unique_name": "x", "sign_in_audience": "azureadmultipleorgs"}, None),
    app_row("sign-in-audience-bad", ["x", "--sign-in-audience", "Everyone"],
            {"unique_name": "x", "sign_in_audience": "Everyone"}, "BadSignInAudience"),
    identity_row("identity", "mi-one", "myResourceGroup", None),
    identity_row("identity-name-bad", "a!", "rg", "InvalidResourceName"),
    identity_row("identity-name-too-short", "ab", "rg", "InvalidResourceName"),
    identity_row("identity-name-too-long", "i" * 129, "rg", "InvalidResourceName"),
    identity_row("resource-group-trailing-dot", "mi-one", "bad.", "BadResourceGroup"),
    identity_row("resource-group-too-long", "mi-one", "g" * 91, "BadResourceGroup"),
    identity_row("resource-group-bad-character", "mi-one", "a/b", "BadResourceGroup"),
    Row("owner-principal", ("owner", "add", "--app", "my-app", "--principal", "0b5a0f4e-1111-4222-8333-944455556666"),
        APP + 'owners = ["principal:0b5a0f4e-1111-4222-8333-944455556666"]\n', None),
    Row("owner-principal-bad", ("owner", "add", "--app", "my-app", "--principal", "not-a-guid"),
        APP + 'owners = ["principal:not-a-guid"]\n', "MalformedGuid"),
    Row("owner-identity", ("owner", "add", "--app", "my-app", "--identity", UAMI_ID),
        APP + f'owners = ["identity:{UAMI_ID}"]\n', None),
    Row("owner-identity-bad-name", ("owner", "add", "--app", "my-app", "--identity", "a!", "-g", "rg"),
        APP + 'owners = ["identity:a!"]\n', "InvalidResourceName"),
    Row("owner-identity-bad-id", ("owner", "add", "--app", "my-app", "--identity", f"/subscriptions/{SUB}/resourceGroups"),
        APP + f'owners = ["identity:/subscriptions/{SUB}/resourceGroups"]\n', "MalformedResourceId"),
    Row("owner-identity-id-without-guid", ("owner", "add", "--app", "my-app", "--identity", UAMI_ID.replace(SUB, "sub")),
        APP + f'owners = ["identity:{UAMI_ID.replace(SUB, "sub")}"]\n', "MalformedResourceId"),
    Row("permission", ("permission", "add", "--app", "my-app", "--role", "User.Read.All"),
        APP + '[[app.permission]]\nroles = ["User.Read.All"]\n', None),
    Row("permission-unknown", ("permission", "add", "--app", "my-app", "--role", "Directory.Reed.All"),
        APP + '[[app.permission]]\nroles = ["Directory.Reed.All"]\n', "UnknownPermission"),
    Row("permission-bad-id", ("permission", "add", "--app", "my-app", "--role", "9241abd9-d0e6-425a-bd4f-47ba86e767aZ"),
        APP + '[[app.permission]]\nroles = ["9241abd9-d0e6-425a-bd4f-47ba86e767aZ"]\n', "MalformedGuid"),
    Row("api-bad", ("permission", "add", "--app", "my-app", "--api", "SharePoint", "--role", "X"),
        APP + '[[app.permission]]\napi = "SharePoint"\nroles = ["X"]\n', "BadApi"),
    Row("api-bad-guid", ("permission", "add", "--app", "my-app", "--api", "0000-0000-00", "--role", "X"),
        APP + '[[app.permission]]\napi = "0000-0000-00"\nroles = ["X"]\n', "MalformedGuid"),
    Row("cloud-any-case", ("--cloud", "Public", "app", "create", "x"), 'cloud = "Public"\n' + APP, None),
]

IDENTITY = '[[identity]]\nname = "mi-one"\nresource_group = "rg"\n'


def role(role_: str, scope: str, code: str | None, row_id: str, app: bool = False) -> Row:
    """A ``role assign`` row: the identity's (or the app's) [[….role_assignment]] in the file."""
    who = ("--app", "my-app") if app else ("--identity", "mi-one", "-g", "rg")
    parent = (APP + "[[app.role_assignment]]\n") if app else (IDENTITY + "[[identity.role_assignment]]\n")
    return Row(row_id, ("role", "assign", *who, "--role", role_, "--scope", scope),
               parent + _toml({"role": role_, "scope": scope}), code)


ROLE_ROWS = [
    role("Reader", "subscription", None, "role-name"),
    role("Storage Blob Data Reader", "resource_group:rg", None, "role-name-spaces-rg", app=True),
    role("acdd72a7-3385-48ef-bd42-f606fba81ae7", f"/subscriptions/{SUB}/resourceGroups/rg", None, "role-id"),
    role(f"/subscriptions/{SUB}/providers/Microsoft.Authorization/roleDefinitions/acdd72a7-3385-48ef-bd42-f606fba81ae7",
         VM_ID, None, "role-definition-id-on-a-resource"),
    role("Reader", "tenant", "BadScope", "role-scope-unknown"),
    role("Reader", "resource_group:a/b", "BadScope", "role-scope-bad-group"),
    role("Reader", "/subscriptions/sub/resourceGroups/rg", "BadScope", "role-scope-id-without-guid"),
    role("/not/a/role", "subscription", "BadRole", "role-bad"),
    role(f"/subscriptions/{SUB}/providers/Microsoft.Authorization/roleDefinitions/acdd72a7", "subscription",
         "MalformedGuid", "role-definition-id-bad-guid"),
]

ROWS = FEDERATION_ROWS + NAMING_ROWS + ROLE_ROWS


def _stub(*args, **kwargs):
    raise CliError("every check passed", code="Reached", exit_code=REACHED)


@pytest.fixture
def offline(monkeypatch):
    """``execute`` of every command replaced: reaching it means the flags were accepted."""
    import importlib

    for name in ("federation", "application", "identity", "owner", "permission", "role"):
        monkeypatch.setattr(importlib.import_module(f"entra_bootstrap.cli.{name}"), "execute", _stub)
    for key in ("ENTRA_BOOTSTRAP_OUTPUT", "ENTRA_BOOTSTRAP_CLOUD"):
        monkeypatch.delenv(key, raising=False)


def flag_verdict(args) -> str | None:
    result = RUNNER.invoke(cli_app, [*args, "-o", "json"])
    assert "Traceback" not in result.output
    if result.exit_code == REACHED:
        return None
    assert result.exit_code == 2, (result.exit_code, result.output)
    return json.loads(result.stdout)["error"]["code"]


def file_verdict(text: str) -> str | None:
    try:
        parse_spec(text, "parity.toml", KNOWN, NAMES, sections=SECTIONS)
    except SpecError as err:
        codes = {p.code for p in err.problems}
        assert len(codes) == 1, [str(p) for p in err.problems]
        return codes.pop()
    return None


@pytest.mark.parametrize("row", ROWS, ids=[r.id for r in ROWS])
def test_flags_and_file_give_the_same_verdict(row, offline):
    assert flag_verdict(row.flags) == row.code
    assert file_verdict(row.file) == row.code


REFUSED = [r for r in ROWS if r.code is not None]


@pytest.mark.parametrize("row", REFUSED, ids=[r.id for r in REFUSED])
def test_a_refused_file_is_refused_by_up_before_any_request(row, env, tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text(row.file)
    doc = cli_json("up", "-f", path, code=2)
    assert doc["error"]["code"] == "InvalidBootstrapFile"
    assert {p["code"] for p in doc["error"]["problems"]} == {row.code}
    assert env.requests() == []


def test_the_issue_the_http_kubernetes_issuer_and_bad_namespace(env, tmp_path):
    """`federation add` refused it (exit 2) while the same credential in a file was written by up."""
    make_app()
    env.clear_requests()
    res = cli("federation", "add", "--app", "my-app", "--kubernetes", "--issuer", "http://not-https.example",
              "--namespace", "Bad_NS", "--service-account", "web", code=2)
    assert "BadFederation" in res.stderr and "https://" in res.stderr
    path = tmp_path / "k8s.toml"
    path.write_text(APP + '[[app.federation]]\nname = "k8s"\nkubernetes_issuer = "http://not-https.example"\n'
                          'namespace = "Bad_NS"\nservice_account = "web"\n')
    doc = cli_json("up", "-f", path, code=2)
    assert [(p["key"], p["code"]) for p in doc["error"]["problems"]] == [
        ("app[0].federation[0].kubernetes_issuer", "BadFederation"),
        ("app[0].federation[0].namespace", "BadFederation")]
    assert env.writes() == []


# --- limits: the same code, whether the file or the application already holds too many --------
def test_more_than_20_credentials(env, tmp_path):
    make_app()
    for i in range(20):
        cli("federation", "add", "--app", "my-app", "--github", "contoso/infra", "--branch", f"b{i}", "-o", "none")
    env.clear_requests()
    res = cli_json("federation", "add", "--app", "my-app", "--github", "contoso/infra", "--branch", "b20", code=1)
    assert res["error"]["code"] == "TooManyFederatedIdentityCredentials"
    assert env.writes() == []
    text = APP + "".join(f'[[app.federation]]\nname = "ci-b{i}"\ngithub = "contoso/infra"\nbranch = "b{i}"\n'
                         for i in range(21))
    assert file_verdict(text) == "TooManyFederatedIdentityCredentials"
    assert file_verdict(text.rsplit("[[app.federation]]", 1)[0]) is None        # 20 are fine
    path = tmp_path / "many.toml"
    path.write_text(text)
    env.reset()
    env.clear_requests()
    doc = cli_json("up", "-f", path, code=2)
    assert {p["code"] for p in doc["error"]["problems"]} == {"TooManyFederatedIdentityCredentials"}
    assert env.requests() == []


def test_privileged_graph_roles(env, tmp_path):
    make_app()
    cli("sp", "create", "--app", "my-app")
    cli("permission", "add", "--app", "my-app", "--role", "RoleManagement.ReadWrite.Directory")
    env.clear_requests()
    res = cli_json("consent", "grant", "--app", "my-app", code=2)
    assert res["error"]["code"] == "PrivilegedPermission"
    assert env.writes() == []
    text = APP + 'consent = true\n[[app.permission]]\nroles = ["RoleManagement.ReadWrite.Directory"]\n'
    assert file_verdict(text) == "PrivilegedPermission"
    assert file_verdict(text.replace("roleManagement", "rolemanagement")) == "PrivilegedPermission"
    assert file_verdict(text.replace("consent = true", "consent = true\nallow_privileged = true")) is None
    assert file_verdict(text.replace("consent = true", "consent = false")) is None   # requested, not consented
    env.reset()
    env.clear_requests()
    path = tmp_path / "priv.toml"
    path.write_text(text)
    doc = cli_json("up", "-f", path, code=2)              # refused before the app is even created
    assert {p["code"] for p in doc["error"]["problems"]} == {"PrivilegedPermission"}
    assert env.requests() == []


def test_one_graph_app_id():
    from entra_bootstrap.clients.graph import GRAPH_APP_ID
    from entra_bootstrap.spec.rules import GRAPH_APP_ID as RULES_GRAPH_APP_ID

    assert RULES_GRAPH_APP_ID == GRAPH_APP_ID


def test_the_file_sends_the_canonical_sign_in_audience_and_cloud():
    spec = parse_spec('cloud = "Public"\n[[app]]\nunique_name = "x"\nsign_in_audience = "azureadmyorg"\n',
                      "parity.toml", KNOWN, NAMES)
    assert spec.cloud == "public" and spec.apps[0].sign_in_audience == "AzureADMyOrg"
