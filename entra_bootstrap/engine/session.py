"""The run's session (cloud, credential, clients, retry policy, what was read), opened for a command.

The CLI opens one per command through here and hands it to the steps; it never builds a client
itself. Closed by the caller (``await session.close()``).
"""

from __future__ import annotations


def open_session(*, cloud: str | None, tenant: str | None, subscription: str | None):
    """A session for ``cloud`` (validated before any request) with the retry policy of the
    environment (``ENTRA_BOOTSTRAP_RETRY_*``)."""
    from ..clients import Session
    from ..clients.retry import RetryPolicy
    from ..clouds import get_cloud

    return Session(cloud=get_cloud(cloud), tenant=tenant, subscription=subscription,
                   retry=RetryPolicy.from_env())
