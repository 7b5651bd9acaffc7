"""The one confirmation helper: every prompt ends the same way when refused or impossible.

``down``, ``up`` with a container-group target and ``identity enable --container-group`` ask on a
terminal (a real pseudo-terminal here, answered by the test) and stop with exit 2 and
``error[ConfirmationRequired]`` when the answer is no or stdin is not a terminal — before the write
that needed it.
"""

from __future__ import annotations

import os
import subprocess
import sys

from cli_support import cli, env  # noqa: F401 - fixture

RG = "myResourceGroup"


def on_terminal(*args: str, answer: str) -> subprocess.CompletedProcess:
    """Run the CLI with a pseudo-terminal as stdin and type ``answer`` into it."""
    master, slave = os.openpty()
    try:
        proc = subprocess.Popen([sys.executable, "-m", "entra_bootstrap", *args], stdin=slave,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        os.close(slave)
        os.write(master, (answer + "\n").encode())
        out, err = proc.communicate(timeout=120)
    finally:
        os.close(master)
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def _identity_file(tmp_path, assign: str = "") -> str:
    path = tmp_path / "one.toml"
    path.write_text(f'[[identity]]\nname = "confirm-identity"\nresource_group = "{RG}"\n'
                    + (f'assign_to = ["{assign}"]\n' if assign else ""))
    return str(path)


def test_down_answered_no_on_a_terminal_deletes_nothing_and_exits_2(env, tmp_path):
    path = _identity_file(tmp_path)
    cli("up", "-f", path, "-o", "none")
    env.clear_requests()
    result = on_terminal("down", "-f", path, answer="n")
    assert result.returncode == 2, result.stderr
    assert "error[ConfirmationRequired]" in result.stderr and "the answer was no" in result.stderr
    assert "userAssignedIdentity confirm-identity" in result.stderr      # what it would have deleted
    assert env.writes() == []
    result = on_terminal("down", "-f", path, answer="y")
    assert result.returncode == 0, result.stderr
    assert [w["method"] for w in env.writes()] == ["DELETE"]


def test_down_without_a_terminal_needs_yes_and_deletes_nothing(env, tmp_path):
    path = _identity_file(tmp_path)
    cli("up", "-f", path, "-o", "none")
    env.clear_requests()
    result = cli("down", "-f", path, code=2)
    assert "error[ConfirmationRequired]" in result.stderr and "not a terminal" in result.stderr
    assert "--yes" in result.stderr
    assert env.writes() == []


def test_up_container_group_answered_no_is_the_same_refusal(env, tmp_path):
    path = _identity_file(tmp_path, "container-group:myContainerGroup")
    result = on_terminal("up", "-f", path, answer="n")
    assert result.returncode == 2, result.stderr
    assert "error[ConfirmationRequired]" in result.stderr and "restarts every container" in result.stderr
    assert not [w for w in env.writes() if "containerGroups" in w["path"]]


def test_identity_enable_container_group_answered_no_is_the_same_refusal(env):
    cli("identity", "create", "confirm-identity", "-g", RG, "-o", "none")
    env.clear_requests()
    result = on_terminal("identity", "enable", "--container-group", "myContainerGroup", "-g", RG,
                         "--user-assigned", "confirm-identity", answer="n")
    assert result.returncode == 2, result.stderr
    assert "error[ConfirmationRequired]" in result.stderr and "the answer was no" in result.stderr
    assert env.writes() == []


def test_down_lists_detaches_apart_from_deletions(env, tmp_path):
    path = _identity_file(tmp_path, "vm:myVM")
    cli("up", "-f", path, "-o", "none")
    result = on_terminal("down", "-f", path, answer="n")
    assert result.returncode == 2, result.stderr
    assert "down deletes 1 object and detaches 1 identity" in result.stderr
    assert "detach vmIdentity myVM" in result.stderr and "delete userAssignedIdentity confirm-identity" in result.stderr
