"""A local emulator of Entra ID tokens, Microsoft Graph v1.0 and Azure Resource Manager.

Served over HTTPS on 127.0.0.1 so that the real, unmodified Azure SDKs talk to it exactly as they
talk to Azure. Layout: ``app`` (middlewares, routing, 501 for what is not emulated), ``server``
(TLS, start-up, env files), ``state`` (the world, JSON persistence), ``errors`` (wire-error
catalog), ``tokens`` (OIDC, token and managed identity endpoints), ``graph``, ``arm``,
``control`` (``/_emulator/...``).
"""
