"""Connections of one run: the cloud, the operator's credential, the Graph client, the retry policy.

A ``Session`` is created per command run (per event loop) and closed at its end. Clients are built
lazily so a command that fails validation never imports an SDK. ``memo`` holds what was already
read in this run (never GET the same object twice in a run).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

from ..clouds import Cloud
from ..errors import usage_error
from .retry import RetryPolicy


@dataclass
class Session:
    cloud: Cloud
    tenant: str | None = None
    subscription: str | None = None
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    memo: dict[Any, Any] = field(default_factory=dict)
    _credential: Any = None
    _graph: Any = None
    _graph_ops: Any = None
    extras: dict[str, Any] = field(default_factory=dict)   # other clients (ARM), closed with the session
    interrupted: int = 0          # the signal that stopped the run (cli/common.execute), else 0

    @property
    def credential(self):
        if self._credential is None:
            from .auth import OperatorCredential
            self._credential = OperatorCredential(self.cloud, self.tenant)
        return self._credential

    @property
    def graph(self):
        if self._graph is None:
            from .auth import ca_bundle
            from .graph import GraphClient
            self._graph = GraphClient(self.cloud, self.credential, self.retry, verify=ca_bundle())
        return self._graph

    @property
    def graph_ops(self):
        """The named Microsoft Graph operations (clients/graph_ops.py) over ``graph``."""
        if self._graph_ops is None:
            from .graph_ops import GraphOps
            self._graph_ops = GraphOps(self.graph)
        return self._graph_ops

    @property
    def subscription_id(self) -> str:
        """--subscription, else AZURE_SUBSCRIPTION_ID; exit 2 when neither is set."""
        value = self.subscription or os.environ.get("AZURE_SUBSCRIPTION_ID")
        if not value:
            raise usage_error("no subscription given", code="NoSubscription",
                              fix="pass --subscription ID or set ENTRA_BOOTSTRAP_SUBSCRIPTION "
                                  "(or AZURE_SUBSCRIPTION_ID)")
        return value

    async def graph_token_claims(self) -> dict:
        """Claims of the operator's Graph token (decoded, not verified)."""
        from .auth import decode_claims
        token = await self.credential.get_token(self.cloud.graph_scope, enable_cae=True)
        return decode_claims(token.token)

    async def tenant_id(self) -> str:
        """The tenant the operator signed in to (the token's ``tid``), else --tenant."""
        if "tenant_id" not in self.memo:
            claims = await self.graph_token_claims()
            self.memo["tenant_id"] = claims.get("tid") or self.tenant or ""
        return self.memo["tenant_id"]

    def client(self, key: str, make):
        """The run's client ``key``, made by ``make()`` on first use and closed with the session."""
        found = self.extras.get(key)
        if found is None:
            found = self.extras[key] = make()
        return found

    async def close(self) -> None:
        for client in list(self.extras.values()):
            close = getattr(client, "close", None)
            if close is not None:
                try:
                    await close()
                except Exception:  # noqa: BLE001 - closing must never mask the outcome
                    pass
        self.extras.clear()
        if self._graph is not None:
            await self._graph.close()
        if self._credential is not None:
            await self._credential.close()
