"""End to end: `owner add|remove|list` and `federation add|list|remove` against the emulator."""

from __future__ import annotations

from cli_support import (cli, cli_json, env, graph_writes, make_app, make_identity, outcomes,  # noqa: F401
                         twice)

RG = "myResourceGroup"
GITHUB = "https://token.actions.githubusercontent.com"


def _fics(env, unique_name="my-app") -> list[dict]:
    state = env.state()["graph"]
    app = next(a for a in state["applications"].values() if a.get("uniqueName") == unique_name)
    return state["federatedIdentityCredentials"].get(app["id"], [])


def test_owner_add_twice_by_identity_and_by_principal_then_remove(env):
    make_app()
    identity = make_identity()
    first, _ = twice(env, "owner", "add", "--app", "my-app", "--identity", "tf-mi", "-g", RG)
    assert outcomes(first) == ["created"]
    assert first["changes"][0]["ids"]["principalId"] == identity["principalId"]
    # ownership is explained, never sold as token access
    text = cli("owner", "add", "--app", "my-app", "--identity", identity["id"]).stdout
    assert "unchanged" in text and "does not let it get tokens" in text
    operator = env.env["AZURE_CLIENT_ID"]
    operator_sp = cli_json("whoami")["principalId"]
    twice(env, "owner", "add", "--app", "my-app", "--principal", operator_sp)
    owners = cli_json("owner", "list", "--app", "my-app")
    assert {o["id"] for o in owners} == {identity["principalId"], operator_sp}
    assert operator
    removed, _ = twice(env, "owner", "remove", "--app", "my-app", "--identity", identity["principalId"])
    assert outcomes(removed) == ["deleted"]
    assert [o["id"] for o in cli_json("owner", "list", "--app", "my-app")] == [operator_sp]


def test_owner_of_unknown_principal_is_exit_4_without_write(env):
    make_app()
    env.clear_requests()
    res = cli("owner", "add", "--app", "my-app", "--principal", "0f0f0f0f-0000-4000-8000-000000000000", code=4)
    assert "PrincipalNotFound" in res.stderr
    assert env.writes() == []
    res = cli("owner", "add", "--app", "my-app", "--identity", "nope-mi", "-g", RG, code=4)
    assert env.writes() == []


def test_federation_add_managed_identity_twice(env):
    make_app()
    identity = make_identity()
    first, _ = twice(env, "federation", "add", "--app", "my-app", "--managed-identity", "tf-mi", "-g", RG)
    assert outcomes(first) == ["created"]
    [fic] = _fics(env)
    assert fic["name"] == "tf-mi"
    assert fic["issuer"] == f"{env.env['AZURE_AUTHORITY_HOST']}/{env.env['AZURE_TENANT_ID']}/v2.0"
    assert fic["subject"] == identity["principalId"]
    assert fic["audiences"] == ["api://AzureADTokenExchange"]
    # the same credential named by resource id or principal id is the same credential
    for ref in (identity["id"], identity["principalId"]):
        doc = cli_json("federation", "add", "--app", "my-app", "--managed-identity", ref)
        assert outcomes(doc) == ["unchanged"]
    assert len(_fics(env)) == 1
    assert cli("federation", "add", "--app", "my-app", "--managed-identity", "tf-mi", "-g", RG,
               "-o", "tsv").stdout.strip() == "tf-mi"


def test_federation_sources_and_their_subjects(env):
    make_app()
    cases = [
        (["--github", "contoso/infra", "--branch", "main"], GITHUB, "repo:contoso/infra:ref:refs/heads/main"),
        (["--github", "contoso/infra", "--environment", "prod"], GITHUB, "repo:contoso/infra:environment:prod"),
        (["--github", "contoso/infra", "--tag", "v1"], GITHUB, "repo:contoso/infra:ref:refs/tags/v1"),
        (["--github", "contoso/infra", "--pull-request"], GITHUB, "repo:contoso/infra:pull_request"),
        (["--kubernetes", "--issuer", "https://oidc.example/cluster1/", "--namespace", "apps",
          "--service-account", "web"], "https://oidc.example/cluster1/", "system:serviceaccount:apps:web"),
        (["--azure-devops", "--issuer", "https://vstoken.dev.azure.com/0b1f6471-aaaa-bbbb-cccc-000000000001",
          "--subject", "sc://contoso/infra/prod"], "https://vstoken.dev.azure.com/0b1f6471-aaaa-bbbb-cccc-000000000001",
         "sc://contoso/infra/prod"),
        (["--issuer", "https://issuer.example", "--subject", "Some-Subject", "--name", "custom",
          "--audience", "api://custom"], "https://issuer.example", "Some-Subject"),
    ]
    for args, issuer, subject in cases:
        first, _ = twice(env, "federation", "add", "--app", "my-app", *args)
        assert outcomes(first) == ["created"]
        ids = first["changes"][0]["ids"]
        assert (ids["issuer"], ids["subject"]) == (issuer, subject)
    fics = {f["name"]: f for f in _fics(env)}
    assert len(fics) == len(cases)
    assert "github-contoso-infra-branch-main" in fics and fics["custom"]["audiences"] == ["api://custom"]
    rows = cli_json("federation", "list", "--app", "my-app")
    assert len(rows) == len(cases)


def test_federation_update_and_remove_twice(env):
    make_app()
    cli("federation", "add", "--app", "my-app", "--name", "ci-main", "--github", "contoso/infra", "--branch", "main")
    doc = cli_json("federation", "add", "--app", "my-app", "--name", "ci-main", "--github", "contoso/infra",
                   "--branch", "release")
    assert outcomes(doc) == ["updated"] and doc["changes"][0]["fields"] == ["subject"]
    assert _fics(env)[0]["subject"] == "repo:contoso/infra:ref:refs/heads/release"
    first, _ = twice(env, "federation", "remove", "--app", "my-app", "--name", "ci-main")
    assert outcomes(first) == ["deleted"]
    assert _fics(env) == []


def test_federation_name_that_breaks_the_rules_is_exit_2(env):
    for name in ("ab", "-starts-with-dash", "has space", "x" * 121, "dots.are.not.allowed"):
        res = cli("federation", "add", "--app", "my-app", "--name", name, "--github", "a/b", "--branch", "m",
                  code=2)
        assert "InvalidName" in res.stderr
    assert env.requests() == []


def test_duplicate_issuer_and_subject_is_reported_not_duplicated(env):
    make_app()
    cli("federation", "add", "--app", "my-app", "--name", "first", "--github", "contoso/infra", "--branch", "main")
    env.clear_requests()
    # without --name: the existing credential is adopted and reported
    doc = cli_json("federation", "add", "--app", "my-app", "--github", "contoso/infra", "--branch", "main")
    assert outcomes(doc) == ["unchanged"] and "first" in doc["changes"][0]["reason"]
    # with another --name: refused before any write, naming the existing credential
    res = cli("federation", "add", "--app", "my-app", "--name", "second", "--github", "contoso/infra",
              "--branch", "main", code=1)
    assert "InvalidFederatedIdentityCredentialValue" in res.stderr and "first" in res.stderr
    assert env.writes() == []
    assert len(_fics(env)) == 1


def test_the_21st_credential_is_refused_before_the_write(env):
    make_app()
    for i in range(20):
        cli("federation", "add", "--app", "my-app", "--github", "contoso/infra", "--branch", f"b{i}", "-o", "none")
    env.clear_requests()
    res = cli("federation", "add", "--app", "my-app", "--github", "contoso/infra", "--branch", "b20", code=1)
    assert "TooManyFederatedIdentityCredentials" in res.stderr and "20" in res.stderr
    assert env.writes() == []
    # updating one of the 20 is still fine
    doc = cli_json("federation", "add", "--app", "my-app", "--github", "contoso/infra", "--branch", "b3",
                   "--description", "third")
    assert outcomes(doc) == ["updated"]


def test_system_assigned_identity_is_refused_for_federation(env):
    make_app()
    vm_id = f"/subscriptions/{env.env['AZURE_SUBSCRIPTION_ID']}/resourceGroups/{RG}/providers/" \
            "Microsoft.Compute/virtualMachines/myVM"
    env.clear_requests()
    res = cli("federation", "add", "--app", "my-app", "--managed-identity", vm_id, code=2)
    assert "SystemAssignedIdentity" in res.stderr and "user-assigned" in res.stderr
    assert "FACTS" not in res.stderr                   # users have no FACTS.md
    assert env.requests() == []
    vm = cli_json("identity", "enable", "--vm", "myVM", "-g", RG, "--system-assigned")
    principal = vm["changes"][0]["ids"]["principalId"]
    env.clear_requests()
    res = cli("federation", "add", "--app", "my-app", "--managed-identity", principal, code=2)
    assert "SystemAssignedIdentity" in res.stderr and "myVM" in res.stderr
    assert env.writes() == []
    assert _fics(env) == []


def test_federation_for_missing_app_and_bad_sources(env):
    res = cli("federation", "add", "--app", "ghost", "--github", "a/b", "--branch", "main", code=4)
    assert "ApplicationNotFound" in res.stderr
    cli("federation", "add", "--app", "ghost", "--github", "not-a-repo", "--branch", "m", code=2)
    cli("federation", "add", "--app", "ghost", "--github", "a/b", code=2)
    cli("federation", "add", "--app", "ghost", "--github", "a/b", "--branch", "m", "--tag", "t", code=2)
    cli("federation", "add", "--app", "ghost", "--kubernetes", "--namespace", "n", "--service-account", "s", code=2)
    cli("federation", "add", "--app", "ghost", "--issuer", "http://plain", "--subject", "s", code=2)
    cli("federation", "add", "--app", "ghost", "--managed-identity", "tf-mi", code=2)   # no -g
    assert graph_writes(env) == []


GITLAB = "https://gitlab.com"


def test_federation_add_gitlab_branch_tag_nested_groups_and_self_managed(env):
    make_app()
    cases = [
        (["--gitlab", "mygroup/myproject", "--branch", "main"], GITLAB,
         "project_path:mygroup/myproject:ref_type:branch:ref:main", "gitlab-mygroup-myproject-branch-main"),
        (["--gitlab", "mygroup/myproject", "--tag", "v1.2"], GITLAB,
         "project_path:mygroup/myproject:ref_type:tag:ref:v1.2", "gitlab-mygroup-myproject-tag-v1-2"),
        (["--gitlab", "group/sub/project", "--branch", "release/1"], GITLAB,
         "project_path:group/sub/project:ref_type:branch:ref:release/1", "gitlab-group-sub-project-branch-release-1"),
        (["--gitlab", "mygroup/myproject", "--branch", "main", "--gitlab-url", "https://gitlab.example.com/"],
         "https://gitlab.example.com", "project_path:mygroup/myproject:ref_type:branch:ref:main", None),
    ]
    for args, issuer, subject, name in cases:
        first, _ = twice(env, "federation", "add", "--app", "my-app", *args)
        assert outcomes(first) == ["created"]
        ids = first["changes"][0]["ids"]
        assert (ids["issuer"], ids["subject"]) == (issuer, subject)
        if name:
            assert first["result"]["name"] == name
    fics = _fics(env)
    assert len(fics) == len(cases) and len({f["name"] for f in fics}) == len(cases)
    self_managed = next(f for f in fics if f["issuer"] == "https://gitlab.example.com")
    assert self_managed["name"].startswith("gitlab-mygroup-myproject-branch-main-")   # + hash of the URL
    assert {tuple(f["audiences"]) for f in fics} == {("api://AzureADTokenExchange",)}
    removed, _ = twice(env, "federation", "remove", "--app", "my-app", "--name", "gitlab-mygroup-myproject-tag-v1-2")
    assert outcomes(removed) == ["deleted"]


def test_federation_add_gitlab_bad_input_is_exit_2_before_any_request(env):
    for args in (["--gitlab", "no-group"], ["--gitlab", "g/p"], ["--gitlab", "g/p", "--branch", "m", "--tag", "t"],
                 ["--gitlab", "-g/p", "--branch", "m"], ["--gitlab", "g/p.git", "--branch", "m"],
                 ["--gitlab", "g/p", "--branch", "m", "--gitlab-url", "http://gitlab.example.com"],
                 ["--gitlab", "g/p", "--environment", "prod"], ["--gitlab", "g/p", "--pull-request"],
                 ["--gitlab", "g/p", "--branch", "m", "--github", "o/r"],
                 ["--gitlab-url", "https://gitlab.example.com", "--issuer", "https://i", "--subject", "s"]):
        res = cli("federation", "add", "--app", "my-app", *args, code=2)
        assert "BadFederation" in res.stderr, args
    assert env.requests() == []
