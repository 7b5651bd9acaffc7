"""The kinds' checks run before the first write of ``up``: a refusal leaves nothing behind."""

from __future__ import annotations

from cli_support import cli, env  # noqa: F401 - fixture


def test_consent_to_a_privileged_role_in_the_file_is_refused_before_any_write(env, tmp_path):
    path = tmp_path / "priv.toml"
    path.write_text('[[identity]]\nname = "priv-identity"\nresource_group = "myResourceGroup"\n\n'
                    '[[app]]\nunique_name = "priv-app"\nconsent = true\n'
                    '[[app.permission]]\nroles = ["User.Read.All", "RoleManagement.ReadWrite.Directory"]\n')
    result = cli("up", "-f", path, code=2)
    assert "error[PrivilegedPermission]" in result.stderr
    assert "RoleManagement.ReadWrite.Directory" in result.stderr
    assert "allow_privileged = true" in result.stderr and "--allow-privileged" not in result.stderr
    assert env.writes() == []                       # not the identity, app, SP or permission either
    path.write_text(path.read_text().replace("consent = true\n", "consent = true\nallow_privileged = true\n"))
    cli("up", "-f", path, "-o", "none")
    assert any("appRoleAssignedTo" in w["path"] or "appRoleAssignments" in w["path"] for w in env.writes())
