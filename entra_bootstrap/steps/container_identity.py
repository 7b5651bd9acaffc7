"""Step: the managed identities of a container group (Azure Container Instances).

NOTE: Azure Container Instances REST API, "Container Groups - Update": PATCH only changes tags;
there is no identity PATCH ("Container Groups - Create Or Update" takes the whole definition).
Changing identities is a GET then a PUT of the whole definition, which restarts every container
and resets any property left out. So the PUT body is the group exactly as ARM returned it, minus
the read-only parts (provisioningState, instance views, the FQDN), with only ``identity`` changed.

Refused before any write:
- a stopped or terminated group (a PUT would start it again: not what "enable an identity" means);
- a group holding values ARM never returns — secure environment variables, registry passwords,
  secret volumes, Azure Files keys — because re-sending the definition would erase them.
Before the PUT, ``confirm(change)`` is called when given (the CLI shows what is re-sent and asks,
or refuses without --yes when stdin is not a terminal); it raises to stop.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Callable, Sequence

from ..clients.arm import arm
from ..engine import Change
from ..errors import api_error
from .identity_attachment import (Attached, IdentityPlan, change_ids, check_outcome, gone, identity_refs,
                                  plan_identity, refuse_unknown_detach, wanted_user_identities,
                                  detach_first, identity_principals)

KIND = "containerGroupIdentity"
READ_ONLY_TOP = ("id", "name", "type", "systemData", "etag", "identity")


def group_state(group: dict) -> str:
    props = group.get("properties") or {}
    state = (props.get("instanceView") or {}).get("state") or ""
    containers = props.get("containers") or []
    views = [((c.get("properties") or {}).get("instanceView") or {}).get("currentState") or {}
             for c in containers]
    if state.lower() == "stopped":
        return "Stopped"
    if containers and views and all(v.get("state") == "Terminated" for v in views):
        return "Terminated"
    return state or "Unknown"


def unreturned_secrets(group: dict) -> list[str]:
    """What the definition holds that ARM does not return (and a PUT would therefore erase)."""
    props = group.get("properties") or {}
    found = []
    for c in props.get("containers") or []:
        for env in (c.get("properties") or {}).get("environmentVariables") or []:
            if "value" not in env and "secureValue" not in env:
                found.append(f"secure environment variable {env.get('name')} of container {c.get('name')}")
    for cred in props.get("imageRegistryCredentials") or []:
        if cred.get("username") and not cred.get("password") and not cred.get("identity"):
            found.append(f"the password of registry {cred.get('server')}")
    for vol in props.get("volumes") or []:
        if "secret" in vol:
            found.append(f"secret volume {vol.get('name')}")
        if (vol.get("azureFile") or {}) and not vol["azureFile"].get("storageAccountKey"):
            found.append(f"the storage account key of Azure Files volume {vol.get('name')}")
    return found


def put_body(group: dict, identity: dict) -> dict:
    """The group as ARM returned it, read-only parts removed, with ``identity`` replaced."""
    body = {k: copy.deepcopy(v) for k, v in group.items() if k not in READ_ONLY_TOP}
    props = body.setdefault("properties", {})
    props.pop("provisioningState", None)
    props.pop("instanceView", None)
    for c in props.get("containers") or []:
        (c.get("properties") or {}).pop("instanceView", None)
    for c in props.get("initContainers") or []:
        (c.get("properties") or {}).pop("instanceView", None)
    if isinstance(props.get("ipAddress"), dict):
        props["ipAddress"].pop("fqdn", None)
    body["identity"] = identity
    return body


def resend_summary(group: dict) -> dict:
    """What the PUT re-sends, for the user to confirm (names and shapes, never values)."""
    props = group.get("properties") or {}
    containers = []
    for c in props.get("containers") or []:
        cp = c.get("properties") or {}
        containers.append({
            "name": c.get("name"), "image": cp.get("image"),
            "ports": [p.get("port") for p in cp.get("ports") or []],
            "environmentVariables": [e.get("name") for e in cp.get("environmentVariables") or []],
            "resources": (cp.get("resources") or {}).get("requests")})
    ip = props.get("ipAddress") or {}
    return {"containers": containers, "restartPolicy": props.get("restartPolicy"),
            "osType": props.get("osType"), "ipAddress": {"type": ip.get("type"),
                                                          "ports": [p.get("port") for p in ip.get("ports") or []]}}


@dataclass
class ContainerGroupIdentityStep:
    name: str
    resource_group: str
    mode: str                               # enable | disable
    system: bool = False
    users: Sequence[str] = ()
    identity_group: str | None = None
    confirm: Callable[[Change], None] | None = None
    gone_ok: bool = False                   # down: a group that no longer exists has nothing attached
    kind: str = KIND
    attached: Attached | None = field(default=None, init=False)
    group: dict | None = field(default=None, init=False)
    _plan: IdentityPlan | None = field(default=None, init=False)

    @property
    def obj(self) -> str:
        return f"container group '{self.name}' in resource group '{self.resource_group}'"

    @property
    def target_key(self) -> tuple[str, str, str]:
        """The resource it writes: ``up``/``down`` never run two such steps on it at once."""
        return ("containerGroup", self.resource_group.lower(), self.name.lower())

    async def plan(self, session) -> list[Change]:
        refs = identity_refs(session, self.users, self.identity_group or self.resource_group)
        client = arm(session)
        self.group = await client.get_container_group(self.resource_group, self.name, self.obj,
                                                      missing_ok=self.gone_ok)
        if self.group is None:
            return [gone(KIND, self.name)]
        users = await wanted_user_identities(session, self.mode, refs)
        current = Attached.of(self.group)
        self.attached = current
        if self.mode == "disable" and not self.gone_ok:
            await refuse_unknown_detach(session, refs, current, self.obj)
        self._plan = plan_identity(current, self.mode, self.system, users,
                                   await identity_principals(session, self.mode, refs))
        if self._plan.changed:
            self._refuse_unsafe()
        action = "update" if self._plan.changed else "unchanged"
        reason = self._plan.reason() + ("; every container restarts" if self._plan.changed else "")
        return [Change(KIND, self.name, action, ids=change_ids(current), reason=reason,
                       fields=("identity",) if self._plan.changed else (), before=current.as_dict(),
                       after={"type": self._plan.type, "userAssigned": sorted(self._plan.users.values()),
                              "resend": resend_summary(self.group)},
                       confirm="this re-sends the container group and restarts every container"
                       if self._plan.changed else "")]

    def _refuse_unsafe(self) -> None:
        state = group_state(self.group)
        if state in ("Stopped", "Terminated"):
            raise api_error(f"the container group '{self.name}' is {state.lower()}: changing its identity "
                            "re-deploys it, which would start it again", code="ContainerGroupNotRunning",
                            object=self.obj,
                            fix=f"start it first (az container start -g {self.resource_group} -n {self.name}) "
                                "if it should run, then run this command again")
        lost = unreturned_secrets(self.group)
        if lost:
            raise api_error("the container group holds values Azure never returns, so re-sending its "
                            "definition would erase them: " + "; ".join(lost),
                            code="UnreturnedSecrets", object=self.obj,
                            fix="redeploy the group from its source definition with the identity added "
                                "(e.g. `az container create ... --assign-identity`)")

    def put_body(self) -> dict:
        identity: dict = {"type": self._plan.type}
        if self._plan.users:
            identity["userAssignedIdentities"] = {rid: {} for rid in self._plan.users.values()}
        return put_body(self.group, identity)

    async def apply(self, session, changes: list[Change]) -> list[Change]:
        out = []
        for change in changes:
            if change.changed:
                if self.confirm is not None:
                    self.confirm(change)
                if self._plan.reattach:       # the dead identities out first, then in again
                    kind, left = detach_first(self.attached, self._plan)
                    identity: dict = {"type": kind}
                    if left:
                        identity["userAssignedIdentities"] = {rid: {} for rid in left.values()}
                    await arm(session).put_container_group(self.resource_group, self.name,
                                                           put_body(self.group, identity), self.obj)
                result = await arm(session).put_container_group(
                    self.resource_group, self.name, self.put_body(), self.obj,
                    attaching=bool(self._plan.add))
                self.attached = check_outcome(result, self._plan, self.obj)
                change.ids = change_ids(self.attached)
                change.applied = True
            out.append(change)
        return out
