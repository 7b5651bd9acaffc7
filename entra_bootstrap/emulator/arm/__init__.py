"""Azure Resource Manager, emulated on ``/arm/…``: ``routes`` (the route table and dispatcher),
``context`` (request context, resource lookup, common errors), ``rbac`` (role assignments and the
actions of the built-in roles), ``identity`` (managed identities on compute resources),
``subscriptions``, ``compute`` (VMs, scale sets), ``aci`` (container groups), ``msi``
(user-assigned identities), ``locations``. Kept thin: it imports nothing.
"""
