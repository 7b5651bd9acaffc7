"""What the steps, the lookups and the package's validators share, below all of them (imports
nothing from ``steps``): how objects are named in messages, and which ARM resource types carry a
system-assigned identity.
"""

from __future__ import annotations

SYSTEM_ASSIGNED_TYPES = {"microsoft.compute/virtualmachines": "virtual machine",
                         "microsoft.compute/virtualmachinescalesets": "virtual machine scale set",
                         "microsoft.containerinstance/containergroups": "container group"}
SYSTEM_ASSIGNED_EXPLANATION = (
    "only user-assigned managed identities can be federated with an application (Entra ID "
    "does not accept a system-assigned identity as a federated identity credential); create a "
    "user-assigned identity (entra-bootstrap identity create NAME -g RG), attach it to the compute "
    "(entra-bootstrap identity enable ... --user-assigned NAME) and federate that one")


def app_label(ref: str) -> str:
    return f"application '{ref}'"


def identity_label(value: str) -> str:
    return value.rstrip("/").rsplit("/", 1)[-1]


def resource_type(resource_id: str) -> str | None:
    parts = resource_id.strip("/").split("/")
    # subscriptions/S/resourceGroups/RG/providers/NS/TYPE/NAME
    if len(parts) >= 8 and parts[0].lower() == "subscriptions" and parts[4].lower() == "providers":
        return f"{parts[5]}/{parts[6]}".lower()
    return None
