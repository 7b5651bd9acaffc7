"""The Graph permissions (app roles in the caller's token) the emulated routes need, and ``Needs``:
the check ``routes`` makes before any handler runs (Graph answers 403 before any lookup).

Permission sets follow the "Permissions" tables of the Microsoft Graph v1.0 API reference
(e.g. "Microsoft Graph: Create application", "Microsoft Graph: Grant an appRoleAssignment to a
service principal", "Microsoft Graph: Create oAuth2PermissionGrant"), application permissions only
(the emulator issues app-only tokens), from least to most privileged.
"""

from __future__ import annotations

from dataclasses import dataclass

from .errors import denied

APP_READ = frozenset({"Application.Read.All", "Application.ReadWrite.All", "Directory.Read.All",
                      "Directory.ReadWrite.All"})
APP_WRITE = frozenset({"Application.ReadWrite.All"})
OWNED_BY = frozenset({"Application.ReadWrite.OwnedBy"})
ASSIGNMENT_WRITE = frozenset({"AppRoleAssignment.ReadWrite.All"})
GRANT_READ = frozenset({"DelegatedPermissionGrant.Read.All", "DelegatedPermissionGrant.ReadWrite.All",
                        "Directory.Read.All", "Directory.ReadWrite.All"})
GRANT_WRITE = frozenset({"DelegatedPermissionGrant.ReadWrite.All"})
DEVICE_CONFIG_READ = frozenset({"DeviceManagementConfiguration.Read.All",
                                "DeviceManagementConfiguration.ReadWrite.All"})


@dataclass(frozen=True)
class Needs:
    """What a token must hold for a route: one of ``any_of``; with ``owned_by``,
    Application.ReadWrite.OwnedBy passes too (the handler then checks the caller owns the object);
    with ``and_any_of``, also one of those."""

    any_of: frozenset[str]
    owned_by: bool = False
    and_any_of: frozenset[str] = frozenset()

    def check(self, roles: frozenset[str]) -> None:
        accepted = self.any_of | (OWNED_BY if self.owned_by else frozenset())
        if not roles & accepted or (self.and_any_of and not roles & self.and_any_of):
            raise denied()


READ = Needs(APP_READ, owned_by=True)             # applications, service principals, their parts
WRITE = Needs(APP_WRITE, owned_by=True)
# NOTE: AppRoleAssignment.ReadWrite.All alone is refused; Graph also needs a read permission such as
# Application.Read.All (docs-contrib issue #3476; Microsoft Graph: "Grant an appRoleAssignment to a
# service principal", Permissions).
ASSIGN = Needs(ASSIGNMENT_WRITE, and_any_of=APP_READ)
DIRECTORY_READ = Needs(APP_READ)                  # directoryObjects: no OwnedBy
GRANTS_READ = Needs(GRANT_READ)
GRANTS_WRITE = Needs(GRANT_WRITE)
DEVICE_CONFIGS_READ = Needs(DEVICE_CONFIG_READ)
