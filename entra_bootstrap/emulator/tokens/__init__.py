"""The emulator's Entra ID side: signing keys and JWKS (``keys``), OIDC discovery and ARM's cloud
metadata (``metadata``), what an access token says (``claims``), the v2.0 token endpoint
(``endpoint``) with federated-credential matching (``federation``), the managed identity endpoint
(``imds``), and their routes (``routes``). How Graph and ARM check these tokens is ``..auth``.

Kept thin: it re-exports only ``SIGNING_KEY`` (imported by tests) from ``keys``, which imports no
module that imports this package.
"""

from __future__ import annotations

from .keys import SIGNING_KEY  # noqa: F401 - re-exported
