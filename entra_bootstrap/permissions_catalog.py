"""The packaged catalog of Microsoft Graph permissions (name, type, id, admin consent required).

Used offline: to validate permission names before any request, to suggest the closest real name,
and to seed the emulator's Microsoft Graph service principal. Online resolution still reads the
resource service principal (the catalog can lag behind Graph).
"""

from __future__ import annotations

import csv
from functools import lru_cache
from importlib import resources


@lru_cache(maxsize=1)
def graph_permissions() -> tuple[tuple[str, str, str, bool], ...]:
    """(name, "Role"|"Scope", id, admin_consent_required), sorted by name then type."""
    text = resources.files("entra_bootstrap").joinpath("data/graph-permissions.tsv").read_text()
    rows = csv.DictReader(text.splitlines(), delimiter="\t")
    return tuple((r["name"], r["type"], r["id"], r["admin_consent_required"] == "true") for r in rows)
