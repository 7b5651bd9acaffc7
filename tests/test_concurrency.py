"""Two runs at once on one resource converge: two processes attaching different identities to one
VM both exit 0 and the VM ends with both (the post-write check asks only for what each run wrote;
the other run's identity is not a failure)."""

from __future__ import annotations

import os
import subprocess
import sys

from cli_support import cli, env  # noqa: F401 - fixture

RG = "myResourceGroup"


def test_two_identity_enable_processes_on_one_vm_both_succeed(env):
    for name in ("race-one", "race-two"):
        cli("identity", "create", name, "-g", RG, "-o", "none")
    env.faults(latency_ms=200)                  # both read before either writes
    procs = [subprocess.Popen([sys.executable, "-m", "entra_bootstrap", "identity", "enable", "--vm", "myVM",
                               "-g", RG, "--user-assigned", name, "-o", "none"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=dict(os.environ))
             for name in ("race-one", "race-two")]
    results = [p.communicate(timeout=120) + (p.returncode,) for p in procs]
    env.faults(latency_ms=0)
    assert [rc for _, _, rc in results] == [0, 0], results
    vm = next(v for k, v in env.state()["arm"]["resources"].items() if k.endswith("/virtualmachines/myvm"))
    held = {k.rsplit("/", 1)[-1].lower() for k in vm["identity"]["userAssignedIdentities"]}
    assert {"race-one", "race-two"} <= held
    patches = [r for r in env.requests() if r["method"] == "PATCH" and "virtualMachines/myVM" in r["path"]]
    assert len(patches) == 2                    # one write each, no retry storm, no duplicate


def test_two_up_runs_of_one_file_at_once_converge_and_report_honestly(env, tmp_path):
    path = tmp_path / "race.toml"
    path.write_text(f'[[identity]]\nname = "race-identity"\nresource_group = "{RG}"\n\n'
                    '[[app]]\nunique_name = "race-app"\n')
    env.faults(latency_ms=200)                  # both plan before either writes
    procs = [subprocess.Popen([sys.executable, "-m", "entra_bootstrap", "up", "-f", str(path), "-o", "json"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=dict(os.environ))
             for _ in range(2)]
    results = [p.communicate(timeout=120) + (p.returncode,) for p in procs]
    env.faults(latency_ms=0)
    assert [rc for _, _, rc in results] == [0, 0], results
    import json
    outcomes = [{(c["kind"], c["outcome"]) for c in json.loads(out)["changes"]} for out, _, _ in results]
    for kind in ("userAssignedIdentity", "application"):
        created = [o for o in outcomes if (kind, "created") in o]
        assert len(created) <= 1, (kind, outcomes)          # never two "created" for one object
    state = env.state()
    assert len([k for k in state["arm"]["resources"] if k.endswith("/race-identity")]) == 1
    assert len([a for a in state["graph"]["applications"].values() if a.get("uniqueName") == "race-app"]) == 1
