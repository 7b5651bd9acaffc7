"""The audit log: one JSON line appended per write (``--audit-log FILE`` / ``ENTRA_BOOTSTRAP_AUDIT_LOG``).

Each line: ``time`` (UTC, ISO 8601), ``operator`` (object id of the principal that wrote),
``tenant``, ``method``, ``kind`` (application, servicePrincipal, federatedIdentityCredential,
virtualMachines, userAssignedIdentities ...), ``id`` (the object's id or path key), ``status`` and
``outcome`` (succeeded / failed / unknown when no answer came). Only ids, never a body, a header,
a token or a secret. The Graph and ARM clients call ``record`` after every write they send.
"""

from __future__ import annotations

import json
import os
import re
import threading
from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import urlsplit

_lock = threading.Lock()
_state: dict = {"path": None, "operator": None, "tenant": None}


def configure(path: Path | str | None) -> None:
    """Set the file (None: ENTRA_BOOTSTRAP_AUDIT_LOG if set, else no audit log)."""
    value = path or os.environ.get("ENTRA_BOOTSTRAP_AUDIT_LOG") or None
    _state["path"] = Path(value) if value else None


def set_principal(operator: str | None, tenant: str | None) -> None:
    if operator:
        _state["operator"] = operator
    if tenant:
        _state["tenant"] = tenant


def enabled() -> bool:
    return _state["path"] is not None


_GUID = r"[0-9a-fA-F-]{36}"


def describe(url: str) -> tuple[str, str]:
    """(object kind, object id or key) from a Graph or ARM URL, without the query string."""
    path = urlsplit(url).path
    parts = [p for p in path.split("/") if p]
    # ARM: .../providers/NS/TYPE/NAME[/...]
    if "providers" in parts:
        i = len(parts) - 1 - parts[::-1].index("providers")
        kind = parts[i + 2] if len(parts) > i + 2 else "resource"
        ident = "/" + "/".join(parts[parts.index("subscriptions"):i + 4]) if "subscriptions" in parts else path
        return kind, ident
    # Graph: /v1.0/{collection}[/{id or (key='v')}][/{nav}[/{id}]][/$ref] -> kind = last collection
    if "v1.0" in parts:
        parts = parts[parts.index("v1.0") + 1:]
    parts = [p for p in parts if p != "$ref"]
    kind = "graph"
    for part in parts:
        m = re.match(r"^([A-Za-z]+)(\(.*\))?$", part)
        if m and not re.fullmatch(_GUID, part):
            kind = m.group(1)
    return kind, "/" + "/".join(parts)


def record(method: str, url: str, status: int | None, outcome: str) -> None:
    path = _state["path"]
    if path is None:
        return
    kind, ident = describe(url)
    line = {"time": datetime.now(timezone.utc).isoformat(timespec="milliseconds"),
            "operator": _state["operator"], "tenant": _state["tenant"], "method": method,
            "kind": kind, "id": ident, "status": status, "outcome": outcome}
    with _lock:
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a") as f:
            f.write(json.dumps(line) + "\n")
