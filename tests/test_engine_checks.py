"""A refusal found in the file leaves nothing behind: ``up`` writes nothing at all."""

from __future__ import annotations

import json

from cli_support import cli, env  # noqa: F401 - fixture


def test_consent_to_a_privileged_role_in_the_file_is_refused_before_any_write(env, tmp_path):
    path = tmp_path / "priv.toml"
    path.write_text('[[identity]]\nname = "priv-identity"\nresource_group = "myResourceGroup"\n\n'
                    '[[app]]\nunique_name = "priv-app"\nconsent = true\n'
                    '[[app.permission]]\nroles = ["User.Read.All", "RoleManagement.ReadWrite.Directory"]\n')
    doc = json.loads(cli("up", "-f", path, "-o", "json", code=2).stdout)
    [problem] = doc["error"]["problems"]
    assert problem["code"] == "PrivilegedPermission" and problem["line"] == 9
    assert "RoleManagement.ReadWrite.Directory" in problem["message"]
    assert "allow_privileged = true" in problem["fix"]
    assert env.writes() == []                       # not the identity, app, SP or permission either
    path.write_text(path.read_text().replace("consent = true\n", "consent = true\nallow_privileged = true\n"))
    cli("up", "-f", path, "-o", "none")
    assert any("appRoleAssignedTo" in w["path"] for w in env.writes())
