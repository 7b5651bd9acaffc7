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
