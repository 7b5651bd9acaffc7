"""The emulated world: one tenant, one subscription, everything JSON-serialisable.

``World.data`` is a plain dict (so ``/_emulator/state`` and ``--state FILE`` are a ``json.dumps``):

    tenant_id, subscription_id
    secrets:  {client_id: client_secret}              seeded operator and reader credentials
    graph:
      applications:           {object_id: application JSON, Graph v1.0 shape}
      servicePrincipals:      {object_id: servicePrincipal JSON (appRoles, oauth2PermissionScopes)}
      federatedIdentityCredentials: {application object_id: [FIC JSON, ...]}
      owners:                 {application or SP object_id: [directory object id, ...]}
      appRoleAssignments:     {id: appRoleAssignment JSON}
      oauth2PermissionGrants: {id: oAuth2PermissionGrant JSON}
    arm:
      resource_groups:  {lowercased name: resource group JSON}
      resources:        {lowercased resource id: resource JSON (id, name, type, location, tags,
                         identity, properties)}
      role_assignments: [{"principalId", "roleDefinitionName" (or "roleDefinitionId"), "scope",
                          and, when made through ARM, "name", "principalType", "createdOn", ...}]

Replication lag (``lag``) is run-time only and never persisted: see ``mark_new`` / ``lagging``.
Seeding lives in ``seed.py``.
"""

from __future__ import annotations

import asyncio
import copy
import json
import logging
import os
import uuid
from dataclasses import dataclass, field
from pathlib import Path

log = logging.getLogger("entra_bootstrap.emulator")

GRAPH_APP_ID = "00000003-0000-0000-c000-000000000000"
MANAGED_IDENTITY_APP_TYPE = "ManagedIdentity"
# What a state (``--state FILE``, ``PUT /_emulator/state``) must hold.
REQUIRED_STATE_KEYS = ("tenant_id", "subscription_id", "seed", "secrets", "graph", "arm")


def _save_delay() -> float:
    """Seconds from the first unsaved write to the coalesced save (``save_soon``): 50 ms, or
    ``ENTRA_BOOTSTRAP_EMULATOR_SAVE_DELAY_MS`` (a test knob: a long delay leaves only the save at
    exit)."""
    try:
        return max(0.0, float(os.environ.get("ENTRA_BOOTSTRAP_EMULATOR_SAVE_DELAY_MS", "50")) / 1000)
    except ValueError:
        return 0.05


@dataclass
class Faults:
    """Run-time knobs, changed by CLI flags and ``POST /_emulator/faults``."""

    latency_ms: int = 0
    replication_lag: int = 0
    fault_rate: float = 0.0
    fault_seed: int | None = None
    drop_response_after_write: int | None = None
    # Seconds every issued token lives (managed identity and token endpoint alike); None: Entra's
    # usual lifetimes (tokens/imds.py MI_TOKEN_TTL, tokens/endpoint.py ACCESS_TOKEN_TTL).
    token_lifetime_s: int | None = None

    def token_ttl(self, default: int) -> int:
        return default if self.token_lifetime_s is None else self.token_lifetime_s


@dataclass
class World:
    data: dict
    base_url: str = ""                         # https://127.0.0.1:PORT
    faults: Faults = field(default_factory=Faults)
    lag: dict[str, int] = field(default_factory=dict)
    state_file: Path | None = None
    save_delay: float = field(default_factory=_save_delay)
    dirty: bool = field(default=False, repr=False, compare=False)
    _save_timer: asyncio.TimerHandle | None = field(default=None, repr=False, compare=False)

    # --- endpoints of this emulator -------------------------------------------------------
    @property
    def authority(self) -> str:
        return self.base_url

    @property
    def graph_url(self) -> str:
        """Graph base URL, shaped like https://graph.microsoft.com (no /v1.0)."""
        return self.base_url + "/graph"

    @property
    def arm_url(self) -> str:
        """ARM base URL, shaped like https://management.azure.com."""
        return self.base_url + "/arm"

    @property
    def issuer(self) -> str:
        return f"{self.authority}/{self.tenant_id}/v2.0"

    @property
    def tenant_id(self) -> str:
        return self.data["tenant_id"]

    @property
    def subscription_id(self) -> str:
        return self.data["subscription_id"]

    @property
    def graph(self) -> dict:
        return self.data["graph"]

    @property
    def arm(self) -> dict:
        return self.data["arm"]

    # --- replication lag ------------------------------------------------------------------
    # Entra is eventually consistent: a new object is not visible everywhere at once (Microsoft
    # Entra Identity blog: "Designing for Eventual Consistency for Microsoft Entra").
    def mark_new(self, *keys: str) -> None:
        """A just-created object: invisible to the next ``replication_lag`` reads or references."""
        n = self.faults.replication_lag
        if n > 0:
            for key in keys:
                if key:
                    self.lag[key.lower()] = n

    def lagging(self, key: str) -> bool:
        """True (and one read used up) while ``key`` has not replicated yet. Deterministic by count."""
        k = (key or "").lower()
        left = self.lag.get(k, 0)
        if left <= 0:
            return False
        if left == 1:
            del self.lag[k]
        else:
            self.lag[k] = left - 1
        return True

    # --- directory helpers shared by Graph, ARM and tokens --------------------------------
    def service_principal_by_app_id(self, app_id: str) -> dict | None:
        for sp in self.graph["servicePrincipals"].values():
            if sp["appId"].lower() == (app_id or "").lower():
                return sp
        return None

    def application_by_app_id(self, app_id: str) -> dict | None:
        for app in self.graph["applications"].values():
            if app["appId"].lower() == (app_id or "").lower():
                return app
        return None

    def add_managed_identity_sp(self, principal_id: str, client_id: str, name: str,
                                resource_id: str) -> dict:
        """Azure creates a servicePrincipal (type ManagedIdentity) for every managed identity."""
        sp = {
            "id": principal_id,
            "appId": client_id,
            "displayName": name,
            "servicePrincipalType": MANAGED_IDENTITY_APP_TYPE,
            "alternativeNames": ["isExplicit=" + ("True" if "userassignedidentities" in
                                                   resource_id.lower() else "False"), resource_id],
            "accountEnabled": True,
            "appRoles": [],
            "oauth2PermissionScopes": [],
            "servicePrincipalNames": [client_id],
            "tags": [],
        }
        self.graph["servicePrincipals"][principal_id] = sp
        return sp

    def remove_managed_identity_sp(self, principal_id: str) -> None:
        self.graph["servicePrincipals"].pop(principal_id, None)

    # --- persistence ----------------------------------------------------------------------
    def dump(self) -> str:
        return json.dumps(self.data, indent=1, sort_keys=True)

    # Serialising the whole world costs ~3-7 ms (the seeded Microsoft Graph service principal is
    # ~490 KB of the ~500 KB), more than a request's budget. So an API write does not save:
    # ``save_soon`` marks the world dirty and schedules one save ``save_delay`` (50 ms) after the
    # first unsaved write; the writes of that window share it, and no write waits for the disk.
    # The server saves at exit (SIGTERM/SIGINT), control calls (PUT state, reset) save at once.
    # Each save writes a temporary file and renames it over the state file: the file is always a
    # whole state, the old or the new one, even if the process is killed mid-save.
    def save_soon(self) -> None:
        """After an API write: save within ``save_delay`` (coalesced); needs a running loop."""
        if self.state_file is None:
            return
        self.dirty = True
        if self._save_timer is None:
            self._save_timer = asyncio.get_running_loop().call_later(self.save_delay,
                                                                     self._scheduled_save)

    def _scheduled_save(self) -> None:
        self._save_timer = None
        if not self.dirty:
            return
        try:
            self.save()
        except OSError as exc:
            # Kept dirty: the next write schedules another attempt, and exit tries again.
            self.dirty = True
            log.error("cannot write the state file %s: %s", self.state_file, exc.strerror or exc)

    def save(self) -> None:
        """Write the state file now (atomically) if there is one; cancels a scheduled save."""
        if self._save_timer is not None:
            self._save_timer.cancel()
            self._save_timer = None
        self.dirty = False
        if self.state_file is None:
            return
        # Compact and unsorted: ~3-5 ms for the seeded world instead of ~22 ms pretty-printed.
        tmp = self.state_file.with_suffix(self.state_file.suffix + ".tmp")
        # The state holds the seeded client secrets: owner-only, like env.sh and server.key.
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(json.dumps(self.data, separators=(",", ":")))
        os.chmod(tmp, 0o600)
        os.replace(tmp, self.state_file)

    def reset(self, seeded: dict) -> None:
        self.data = copy.deepcopy(seeded)
        self.lag.clear()


def new_id() -> str:
    return str(uuid.uuid4())
