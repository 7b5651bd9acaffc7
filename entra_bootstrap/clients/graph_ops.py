"""The Microsoft Graph operations the steps use: named, typed, plain dicts in and out.

Each operation owns its request: the URL (alternate keys through ``key_segment``), the
``Prefer: create-if-missing`` header of an upsert, what its status codes mean (201 = created with
the new object as body, 204 = it existed: re-read), which errors mean "already done" (the write of
an earlier run whose response was lost), paging, and the Graph permission a 403 names
(``PERMISSIONS``). Steps and commands never see a URL, a header or a status code.

``obj`` texts are how an error names the object; operations take the names the user gave (an
app's unique name, a change's label) and spell them as the commands always have.

Sources: Microsoft Graph: Upsert application; Upsert servicePrincipal; Create
federatedIdentityCredential (upsert by name); Add owners; Grant an appRoleAssignment for a service
principal; Create oAuth2PermissionGrant; Entra ID: replication delay - "Objects may take time to
replicate".
"""

from __future__ import annotations

from typing import Any

from ..errors import not_found
from .graph import GraphClient, GraphError, key_segment, odata_literal

CREATE_IF_MISSING = {"Prefer": "create-if-missing"}

# NOTE: Microsoft Graph permissions reference; the least-privileged permission of each API call
# ("Permissions" section of each Graph API reference page) first.
PERMISSIONS = {
    "application": "Application.ReadWrite.OwnedBy (or Application.ReadWrite.All)",
    "application.read": "Application.Read.All (or Application.ReadWrite.OwnedBy as an owner)",
    "servicePrincipal": "Application.ReadWrite.OwnedBy (or Application.ReadWrite.All)",
    "permissions": "Application.ReadWrite.OwnedBy as an owner of the app (or Application.ReadWrite.All)",
    "appRoleAssignment": "AppRoleAssignment.ReadWrite.All (and Application.Read.All)",
    "oauth2PermissionGrant": "DelegatedPermissionGrant.ReadWrite.All",
    "owner": "Application.ReadWrite.OwnedBy as an owner of the app (or Application.ReadWrite.All)",
    "federatedIdentityCredential": "Application.ReadWrite.OwnedBy as an owner of the app "
                                   "(or Application.ReadWrite.All)",
}


def app_obj(name: str) -> str:
    return f"application '{name}'"


# --- "already done" answers of a write whose earlier response was lost --------------------------
def _already_owner(err: GraphError) -> bool:
    # NOTE: Microsoft Graph: Add owners - adding an existing owner fails with 400 "One or more
    # added object references already exist for the following modified properties: 'owners'".
    return err.status == 400 and "already exist" in (err.message or "").lower()


def _already_assigned(err: GraphError) -> bool:
    # NOTE: Microsoft Graph: Grant an appRoleAssignment for a service principal - a duplicate
    # assignment is 400 "Permission being assigned already exists on the object."
    return err.status in (400, 409) and "already exists" in (err.message or "").lower()


def _grant_exists(err: GraphError) -> bool:
    return err.status == 409


def _created(response) -> Any:
    """The body of a 201 (the created object), else None (204: it existed; re-read it)."""
    if response is not None and response.status == 201 and response.body:
        return response.body
    return None


class GraphOps:
    """Named Microsoft Graph operations over one run's ``GraphClient``."""

    def __init__(self, graph: GraphClient):
        self.graph = graph

    # --- applications ---------------------------------------------------------------------------
    async def get_application_by_app_id(self, app_id: str) -> dict | None:
        return await self.graph.get("/applications" + key_segment("appId", app_id), missing_ok=True,
                                    obj=app_obj(app_id), needs=PERMISSIONS["application.read"])

    async def get_application(self, object_id: str) -> dict | None:
        """By object id; None when there is none."""
        return await self.graph.get(f"/applications/{object_id}", missing_ok=True, obj=app_obj(object_id),
                                    needs=PERMISSIONS["application.read"])

    async def get_application_by_unique_name(self, unique_name: str) -> dict | None:
        return await self.graph.get("/applications" + key_segment("uniqueName", unique_name),
                                    missing_ok=True, obj=app_obj(unique_name),
                                    needs=PERMISSIONS["application.read"])

    async def upsert_application(self, unique_name: str, body: dict) -> tuple[dict, bool]:
        """Create or update the application keyed by ``unique_name``: (the app, created?).

        Microsoft Graph: Upsert application - 201 with the new app, or 204 when it existed (then
        re-read: what the server holds, as the next read would see it)."""
        path = "/applications" + key_segment("uniqueName", unique_name)
        response = await self.graph.call("PATCH", path, body=body, headers=CREATE_IF_MISSING,
                                         obj=app_obj(unique_name), needs=PERMISSIONS["application"])
        app = _created(response)
        if app is not None:
            return app, True
        app = await self.graph.get(path, obj=app_obj(unique_name), replicating=True,
                                   needs=PERMISSIONS["application"])
        return app, False

    async def delete_application(self, object_id: str, name: str) -> None:
        """Delete it; an application already gone is not an error."""
        await self.graph.call("DELETE", f"/applications/{object_id}", obj=app_obj(name),
                              needs=PERMISSIONS["application"], replicating=True, missing_ok=True)

    async def set_required_resource_access(self, object_id: str, rra: list[dict], name: str) -> dict:
        """Replace the app's requiredResourceAccess (the whole list); returns the app as re-read."""
        path = f"/applications/{object_id}"
        await self.graph.call("PATCH", path, body={"requiredResourceAccess": rra}, obj=app_obj(name),
                              needs=PERMISSIONS["permissions"], replicating=True)
        return await self.graph.get(path, obj=app_obj(name), replicating=True,
                                    needs=PERMISSIONS["permissions"])

    # --- service principals -----------------------------------------------------------------------
    async def get_service_principal_by_app_id(self, app_id: str) -> dict | None:
        return await self.graph.get("/servicePrincipals" + key_segment("appId", app_id), missing_ok=True,
                                    obj=f"service principal of {app_id}",
                                    needs=PERMISSIONS["application.read"])

    async def get_service_principal(self, object_id: str, *, what: str) -> dict | None:
        """By object id; ``what`` names it in errors ("managed identity", "API"). None if absent."""
        return await self.graph.get(f"/servicePrincipals/{object_id}", missing_ok=True,
                                    obj=f"{what} {object_id}", needs=PERMISSIONS["application.read"])

    async def upsert_service_principal(self, app_id: str, app_name: str) -> dict:
        """Create the service principal of ``app_id`` if missing (Microsoft Graph: Upsert
        servicePrincipal); returns it (the 201 body, else a re-read)."""
        path = "/servicePrincipals" + key_segment("appId", app_id)
        obj = f"service principal of application '{app_name}'"
        response = await self.graph.call("PATCH", path, body={}, headers=CREATE_IF_MISSING, obj=obj,
                                         needs=PERMISSIONS["servicePrincipal"])
        sp = _created(response)
        if sp is not None:
            return sp
        return await self.graph.get(path, obj=obj, replicating=True, needs=PERMISSIONS["servicePrincipal"])

    async def delete_service_principal(self, object_id: str, app_name: str) -> None:
        await self.graph.call("DELETE", f"/servicePrincipals/{object_id}",
                              obj=f"service principal of application '{app_name}'",
                              needs=PERMISSIONS["servicePrincipal"], replicating=True, missing_ok=True)

    # --- directory objects ------------------------------------------------------------------------
    async def get_directory_object(self, object_id: str, label: str) -> dict | None:
        """A user, group or service principal by object id; None when there is none."""
        return await self.graph.get(f"/directoryObjects/{object_id}", missing_ok=True,
                                    obj=f"principal {label}", needs=PERMISSIONS["application.read"])

    # --- owners -----------------------------------------------------------------------------------
    async def list_owners(self, app_object_id: str, name: str, *, replicating: bool = False) -> list[dict]:
        """The application's owners (every page). ``replicating``: the app may be new."""
        return await self.graph.list(f"/applications/{app_object_id}/owners", obj=app_obj(name),
                                     needs=PERMISSIONS["application.read"], replicating=replicating)

    async def add_owner(self, app_object_id: str, principal_id: str, *, owner: str, app_name: str) -> None:
        """Make ``principal_id`` an owner; an owner already there counts as done (Microsoft Graph:
        Add owners)."""
        ref = {"@odata.id": f"{self.graph.base}/directoryObjects/{principal_id}"}
        await self.graph.call("POST", f"/applications/{app_object_id}/owners/$ref", body=ref,
                              obj=f"owner {owner} of application '{app_name}'", needs=PERMISSIONS["owner"],
                              replicating=True, exists_ok=_already_owner)

    async def remove_owner(self, app_object_id: str, principal_id: str, *, owner: str, app_name: str) -> None:
        """Remove an owner; one that is not an owner (any more) is not an error."""
        await self.graph.call("DELETE", f"/applications/{app_object_id}/owners/{principal_id}/$ref",
                              obj=f"owner {owner} of application '{app_name}'", needs=PERMISSIONS["owner"],
                              missing_ok=True)

    # --- federated identity credentials -----------------------------------------------------------
    def _fics(self, app_object_id: str) -> str:
        return f"/applications/{app_object_id}/federatedIdentityCredentials"

    async def list_fics(self, app_object_id: str, name: str, *, replicating: bool = False) -> list[dict]:
        """The application's federated identity credentials (every page)."""
        return await self.graph.list(self._fics(app_object_id), obj=app_obj(name),
                                     needs=PERMISSIONS["federatedIdentityCredential"], replicating=replicating)

    async def upsert_fic(self, app_object_id: str, name: str, body: dict, *, label: str) -> dict:
        """Create or update the credential ``name`` (Microsoft Graph: Create
        federatedIdentityCredential, upsert by name); returns it (the 201 body, else a re-read)."""
        path = self._fics(app_object_id) + key_segment("name", name)
        obj = f"federated credential {label}"
        needs = PERMISSIONS["federatedIdentityCredential"]
        response = await self.graph.call("PATCH", path, body=body, headers=CREATE_IF_MISSING, obj=obj,
                                         needs=needs, replicating=True)
        fic = _created(response)
        if fic is not None:
            return fic
        return await self.graph.get(path, obj=obj, needs=needs, replicating=True)

    async def delete_fic(self, app_object_id: str, fic_id: str, *, label: str) -> None:
        await self.graph.call("DELETE", f"{self._fics(app_object_id)}/{fic_id}",
                              obj=f"federated credential {label}",
                              needs=PERMISSIONS["federatedIdentityCredential"], missing_ok=True,
                              replicating=False)

    # --- app role assignments (application permissions consented) --------------------------------
    async def list_app_role_assignments(self, sp_id: str, name: str | None = None) -> list[dict]:
        """The app role assignments the service principal holds (it may be new: replicating)."""
        return await self.graph.list(f"/servicePrincipals/{sp_id}/appRoleAssignments",
                                     obj=f"app role assignments of '{name}'" if name is not None else None,
                                     needs=PERMISSIONS["appRoleAssignment"], replicating=True)

    async def assign_app_role(self, resource_sp_id: str, principal_id: str, app_role_id: str, *,
                              label: str) -> None:
        """Assign the resource's app role to the principal; an existing assignment counts as done."""
        await self.graph.call("POST", f"/servicePrincipals/{resource_sp_id}/appRoleAssignedTo",
                              body={"principalId": principal_id, "resourceId": resource_sp_id,
                                    "appRoleId": app_role_id},
                              obj=f"app role assignment {label}", needs=PERMISSIONS["appRoleAssignment"],
                              replicating=True, exists_ok=_already_assigned)

    async def delete_app_role_assignment(self, sp_id: str, assignment_id: str, *, label: str) -> None:
        await self.graph.call("DELETE", f"/servicePrincipals/{sp_id}/appRoleAssignments/{assignment_id}",
                              obj=f"app role assignment {label}", needs=PERMISSIONS["appRoleAssignment"],
                              missing_ok=True)

    # --- delegated permission grants ----------------------------------------------------------------
    async def _grants(self, client_id: str, resource_id: str | None, obj: str) -> list[dict]:
        flt = f"clientId eq {odata_literal(client_id)}"
        if resource_id is not None:
            flt += f" and resourceId eq {odata_literal(resource_id)}"
        return await self.graph.list("/oauth2PermissionGrants", params={"$filter": flt}, obj=obj,
                                     needs=PERMISSIONS["oauth2PermissionGrant"])

    async def list_oauth2_grants(self, client_id: str, resource_id: str | None = None, *,
                                 name: str) -> list[dict]:
        """The delegated permission grants of the client service principal (to one resource)."""
        return await self._grants(client_id, resource_id, f"delegated permission grants of '{name}'")

    async def create_oauth2_grant(self, client_id: str, resource_id: str, scope: str, *,
                                  label: str) -> tuple[dict | None, bool]:
        """Create the AllPrincipals grant: (the new grant or None, True); when one exists for the
        pair already (a lost response of an earlier run: 409), (that grant, False)."""
        obj = f"delegated permission grant {label}"
        created = await self.graph.call("POST", "/oauth2PermissionGrants",
                                        body={"clientId": client_id, "consentType": "AllPrincipals",
                                              "resourceId": resource_id, "scope": scope},
                                        obj=obj, needs=PERMISSIONS["oauth2PermissionGrant"], replicating=True,
                                        exists_ok=_grant_exists)
        if created is not None:
            return (created.body if isinstance(created.body, dict) else None), True
        grants = await self._grants(client_id, resource_id, obj)
        grant = next((g for g in grants if g.get("consentType") == "AllPrincipals"), None)
        if grant is None:
            raise not_found("the delegated permission grant conflicts with one that cannot be read",
                            object=obj)
        return grant, False

    async def update_oauth2_grant(self, grant_id: str, scope: str, *, label: str) -> None:
        await self.graph.call("PATCH", f"/oauth2PermissionGrants/{grant_id}", body={"scope": scope},
                              obj=f"delegated permission grant {label}",
                              needs=PERMISSIONS["oauth2PermissionGrant"], replicating=True)

    async def delete_oauth2_grant(self, grant_id: str, *, label: str) -> None:
        await self.graph.call("DELETE", f"/oauth2PermissionGrants/{grant_id}",
                              obj=f"delegated permission grant {label}",
                              needs=PERMISSIONS["oauth2PermissionGrant"], missing_ok=True)

    # --- password / certificate credentials (up --prune) ---------------------------------------------
    async def add_password(self, object_id: str, display_name: str, *, label: str) -> dict:
        """Microsoft Graph: application: addPassword; the secret is in this answer only."""
        response = await self.graph.call("POST", f"/applications/{object_id}/addPassword",
                                         body={"passwordCredential": {"displayName": display_name}},
                                         obj=f"password credential {label}", needs=PERMISSIONS["application"])
        return response.body if isinstance(getattr(response, "body", None), dict) else {}

    async def remove_password(self, object_id: str, key_id: str, *, label: str) -> None:
        """Microsoft Graph: application: removePassword (an unknown keyId answers 404: done)."""
        await self.graph.call("POST", f"/applications/{object_id}/removePassword", body={"keyId": key_id},
                              obj=f"password credential {label}", needs=PERMISSIONS["application"],
                              missing_ok=True)

    async def set_key_credentials(self, object_id: str, keys: list[dict], *, label: str) -> None:
        """Microsoft Graph: Update application - ``keyCredentials`` replaces the whole list."""
        await self.graph.call("PATCH", f"/applications/{object_id}", body={"keyCredentials": keys},
                              obj=f"certificate credential {label}", needs=PERMISSIONS["application"])
