"""A local emulator of Entra ID tokens, Microsoft Graph v1.0 and Azure Resource Manager.

Served over HTTPS on 127.0.0.1 so that the real, unmodified Azure SDKs talk to it exactly as they
talk to Azure. Layered like moto — routes → handlers (HTTP in and out) → models (rules on the
state) → ``errors`` (the wire-error catalog) — with no import circle:

  http        bottom layer: app keys, world_of, JSON responses, is_write, 501 for what is not emulated
  app         composition root: builds the aiohttp app, middlewares, mounts the route tables
  faults      latency, injected 429/503, dropped responses after a write
  auth        the Bearer-token check of Graph and ARM requests
  tokens/     signing key and JWKS, OIDC and cloud metadata, token endpoint, FIC matching, IMDS
  graph/      Microsoft Graph: ``routes`` (one table), one handler module per resource, ``models``
  arm/        Azure Resource Manager: ``routes``, ``rbac``, ``identity``, ``compute``, ``aci``, ``msi``
  state       the world and its persistence; ``seed`` the seeded world
  control     the control API under ``/_emulator``
  server      TLS, start-up, env files; ``embedded`` an emulator in a background thread
"""
