"""The directory rules of the emulated Graph, on ``World.graph`` — no HTTP, no aiohttp: how
applications, service principals, federated identity credentials, owners, app role assignments and
delegated permission grants are looked up, validated, created, changed and deleted, what each
looks like on the wire (``*_view``), and who may touch an object it owns (``Directory.require``).

Handlers call these; these call each other (never a handler), so cross-resource rules — deleting
an app deletes its service principal, an app's service principal mirrors its roles — live here.

Replication lag: creates mark the new object (``World.mark_new``); while it lags, reads and updates
addressed to it answer 404 ``Request_ResourceNotFound`` and references to it from other requests the
400s Entra answers then (Microsoft Entra Identity blog: "Designing for Eventual Consistency for
Microsoft Entra"; terraform-provider-azuread waits until it has read a new object several times). Finds (``find_*``) see the consistent key
index: upserts with ``Prefer: create-if-missing`` never duplicate a lagging object.

Sources: the Microsoft Graph v1.0 API reference — "Create application", "Upsert application",
"Update application", "Delete application", "Create federatedIdentityCredential", "Upsert
federatedIdentityCredential", "federatedIdentityCredential resource type", "Add owner", "Create
servicePrincipal", "Upsert servicePrincipal", "Grant an appRoleAssignment to a service principal",
"Create oAuth2PermissionGrant", "Update oAuth2PermissionGrant" — and Entra ID: "Grant tenant-wide
admin consent to an application". Not emulated: soft delete (deletedItems), addKey/removeKey,
logo, extension properties, flexible (beta) FICs, users and groups as principals, policies.
"""

from __future__ import annotations

import base64
import copy
import re
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone

from ..state import World
from .errors import already_exists, bad_request, denied, invalid_value, not_a_valid_reference, \
    not_found, unknown_property
from .permissions import APP_READ, APP_WRITE, OWNED_BY

PUBLISHER_DOMAIN = "emulator.onmicrosoft.com"
SIGN_IN_AUDIENCES = {"AzureADMyOrg", "AzureADMultipleOrgs", "AzureADandPersonalMicrosoftAccount",
                     "PersonalMicrosoftAccount"}
FIC_LIMIT = 20
FIC_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{2,119}$")
FIC_VALUE_MAX = 600
DEFAULT_ACCESS_ROLE = "00000000-0000-0000-0000-000000000000"
CONSENT_TYPES = ("AllPrincipals", "Principal")

APP_DEFAULTS = {
    "deletedDateTime": None, "applicationTemplateId": None, "disabledByMicrosoftStatus": None,
    "description": None, "groupMembershipClaims": None, "identifierUris": [],
    "isDeviceOnlyAuthSupported": None, "isFallbackPublicClient": None,
    "nativeAuthenticationApisEnabled": None, "notes": None, "publisherDomain": PUBLISHER_DOMAIN,
    "serviceManagementReference": None, "signInAudience": "AzureADMyOrg", "tags": [],
    "tokenEncryptionKeyId": None, "uniqueName": None, "samlMetadataUrl": None,
    "defaultRedirectUri": None, "certification": None, "optionalClaims": None,
    "requestSignatureVerification": None, "addIns": [],
    "api": {"acceptMappedClaims": None, "knownClientApplications": [], "requestedAccessTokenVersion": None,
            "oauth2PermissionScopes": [], "preAuthorizedApplications": []},
    "appRoles": [], "info": {"logoUrl": None, "marketingUrl": None, "privacyStatementUrl": None,
                             "supportUrl": None, "termsOfServiceUrl": None},
    "keyCredentials": [], "parentalControlSettings": {"countriesBlockedForMinors": [],
                                                      "legalAgeGroupRule": "Allow"},
    "passwordCredentials": [], "publicClient": {"redirectUris": []}, "requiredResourceAccess": [],
    "verifiedPublisher": {"displayName": None, "verifiedPublisherId": None, "addedDateTime": None},
    "web": {"homePageUrl": None, "logoutUrl": None, "redirectUris": [],
            "implicitGrantSettings": {"enableAccessTokenIssuance": False,
                                      "enableIdTokenIssuance": False},
            "redirectUriSettings": []},
    "spa": {"redirectUris": []},
}
# Set by Graph, ignored in request bodies (as Graph ignores them).
APP_READ_ONLY = {"id", "appId", "createdDateTime", "deletedDateTime", "publisherDomain",
                 "createdByAppId", "applicationTemplateId", "disabledByMicrosoftStatus",
                 "certification", "verifiedPublisher", "passwordCredentials"}
APP_WRITABLE = (set(APP_DEFAULTS) | {"displayName", "logo", "authenticationBehaviors",
                                     "oauth2RequirePostResponse", "isDisabled",
                                     "servicePrincipalLockConfiguration"}) - APP_READ_ONLY
FIC_FIELDS = {"name", "issuer", "subject", "audiences", "description"}

SP_DEFAULTS = {
    "deletedDateTime": None, "accountEnabled": True, "addIns": [], "alternativeNames": [],
    "appDescription": None, "appDisplayName": None, "applicationTemplateId": None,
    "appOwnerOrganizationId": None, "appRoleAssignmentRequired": False,
    "description": None, "disabledByMicrosoftStatus": None, "displayName": None, "homepage": None,
    "loginUrl": None, "logoutUrl": None, "notes": None, "notificationEmailAddresses": [],
    "preferredSingleSignOnMode": None, "preferredTokenSigningKeyThumbprint": None, "replyUrls": [],
    "servicePrincipalNames": [], "servicePrincipalType": "Application", "signInAudience": None,
    "tags": [], "tokenEncryptionKeyId": None, "samlSingleSignOnSettings": None,
    "verifiedPublisher": {"displayName": None, "verifiedPublisherId": None, "addedDateTime": None},
    "appRoles": [], "info": {"logoUrl": None, "marketingUrl": None, "privacyStatementUrl": None,
                             "supportUrl": None, "termsOfServiceUrl": None},
    "keyCredentials": [], "oauth2PermissionScopes": [], "passwordCredentials": [],
    "resourceSpecificApplicationPermissions": [],
}
SP_READ_ONLY = {"id", "appId", "appDisplayName", "appOwnerOrganizationId",
                "deletedDateTime", "servicePrincipalType", "signInAudience", "applicationTemplateId",
                "disabledByMicrosoftStatus", "verifiedPublisher", "passwordCredentials",
                "resourceSpecificApplicationPermissions", "appDescription"}
SP_WRITABLE = (set(SP_DEFAULTS) | {"displayName", "customSecurityAttributes", "isDisabled"}) \
    - SP_READ_ONLY
GRANT_FIELDS = ["id", "clientId", "consentType", "principalId", "resourceId", "scope"]

_REF_ID = re.compile(r"^https://[^\s]+/(?:v1\.0|beta)/(?:directoryObjects|servicePrincipals|users|"
                     r"groups)/([0-9A-Za-z-]+)$")


# --- addressing, identifiers, time --------------------------------------------------------------
@dataclass(frozen=True)
class Key:
    """An alternate key in a path segment: ``applications(appId='…')`` → Key("appId", "…")."""

    name: str
    value: str

    def __str__(self) -> str:
        return self.value


Ref = str | Key          # an object addressed by id or by alternate key


def now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def b64_id(*guids: str, random_tail: bool = False) -> str:
    """Graph's opaque ids for grants and assignments: base64url of the related GUIDs' bytes."""
    raw = b"".join(uuid.UUID(g).bytes_le for g in guids)
    if random_tail:
        raw += uuid.uuid4().bytes
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def is_guid(value) -> bool:
    try:
        uuid.UUID(str(value))
    except (ValueError, TypeError, AttributeError):
        return False
    return True


def visible(world: World, key: str) -> bool:
    """False while ``key`` is still replicating; every call uses up one of the lag's reads."""
    return not world.lagging(key)


# --- the caller in the directory ------------------------------------------------------------------
@dataclass
class Directory:
    """The world as one caller (``auth.Caller``: ``oid``, ``roles``) sees and changes it."""

    world: World
    caller: object

    @property
    def graph(self) -> dict:
        return self.world.graph

    @property
    def roles(self) -> frozenset:
        return frozenset(self.caller.roles or ())

    def owns(self, *object_ids: str) -> bool:
        owners = self.graph["owners"]
        oid = (self.caller.oid or "").lower()
        return any(oid in (o.lower() for o in owners.get(i, [])) for i in object_ids if i)

    def require(self, any_of: frozenset, *, owned: tuple[str, ...] = ()) -> None:
        """Pass when the token holds one of ``any_of``, or Application.ReadWrite.OwnedBy and the
        caller owns one of ``owned``; otherwise Graph's 403."""
        if self.roles & any_of:
            return
        if owned and self.roles & OWNED_BY and self.owns(*owned):
            return
        raise denied()

    def require_read(self, *, owned: tuple[str, ...] = ()) -> None:
        self.require(APP_READ, owned=owned)

    def can_read_all(self) -> bool:
        return bool(self.roles & APP_READ)

    def add_owner_if_owned_by(self, object_id: str) -> None:
        """An object created under Application.ReadWrite.OwnedBy gets the caller as its owner
        (Microsoft Graph: "Create application", Permissions), so that it can manage it afterwards."""
        if not self.roles & APP_WRITE:
            self.graph["owners"].setdefault(object_id, []).append(self.caller.oid)


# --- applications ---------------------------------------------------------------------------------
def find_app(d: Directory, ref: Ref) -> dict | None:
    apps = d.graph["applications"]
    if isinstance(ref, Key):
        field = {"appid": "appId", "uniquename": "uniqueName"}.get(ref.name.lower())
        if field is None:
            raise bad_request(f"'{ref.name}' is not an alternate key of applications.")
        return next((a for a in apps.values()
                     if (a.get(field) or "").lower() == ref.value.lower()), None)
    return apps.get(ref) or apps.get(ref.lower())


def is_unique_name(ref: Ref) -> bool:
    return isinstance(ref, Key) and ref.name.lower() == "uniquename"


def _app_lag_key(app: dict, ref: Ref) -> str:
    """Reads by appId wait on the appId's replication, every other address on the object's."""
    if isinstance(ref, Key) and ref.name.lower() == "appid":
        return app["appId"]
    return app["id"]


def resolve_app(d: Directory, ref: Ref) -> dict:
    app = find_app(d, ref)
    if app is None or not visible(d.world, _app_lag_key(app, ref)):
        raise not_found(str(ref))
    return app


def app_view(app: dict) -> dict:
    return {**copy.deepcopy(APP_DEFAULTS), **app}


def visible_apps(d: Directory) -> list[dict]:
    """The applications the caller may list: all, or (OwnedBy) the ones it owns."""
    return [app_view(a) for a in d.graph["applications"].values()
            if d.can_read_all() or d.owns(a["id"])]


def _check_app_body(body: dict, creating: bool) -> dict:
    out = {}
    for key, value in body.items():
        if key.startswith("@odata"):
            continue
        if key in APP_READ_ONLY:
            continue
        if key not in APP_WRITABLE:
            raise unknown_property(key, "application")
        out[key] = value
    if creating or "displayName" in out:
        name = out.get("displayName")
        if not isinstance(name, str) or not name.strip():
            raise invalid_value("displayName", "Application")
    if "signInAudience" in out and out["signInAudience"] not in SIGN_IN_AUDIENCES:
        raise invalid_value("signInAudience", "Application")
    for key in ("identifierUris", "tags", "requiredResourceAccess", "appRoles", "keyCredentials"):
        if key in out and not isinstance(out[key], list):
            raise invalid_value(key, "Application")
    if "uniqueName" in out and out["uniqueName"] is not None and \
            (not isinstance(out["uniqueName"], str) or not out["uniqueName"].strip()):
        raise invalid_value("uniqueName", "Application")
    return out


def _check_unique(d: Directory, app_id: str | None, changes: dict) -> None:
    """uniqueName and identifierUris are unique in the tenant."""
    others = [a for a in d.graph["applications"].values() if a["id"] != app_id]
    unique = (changes.get("uniqueName") or "").lower()
    if unique and any((a.get("uniqueName") or "").lower() == unique for a in others):
        # NOTE: Entra's duplicate-key text (as for identifierUris); the uniqueName variant is
        # *unconfirmed*.
        raise bad_request("Another object with the same value for property uniqueName already exists.")
    uris = {u.lower() for u in changes.get("identifierUris") or []}
    if uris and any(uris & {u.lower() for u in a.get("identifierUris") or []} for a in others):
        raise bad_request("Another object with the same value for property identifierUris already exists.")


def create_application(d: Directory, body: dict, unique_name: str | None = None) -> dict:
    changes = _check_app_body(body, creating=True)
    if unique_name is not None:
        if changes.get("uniqueName") not in (None, unique_name):
            raise invalid_value("uniqueName", "Application")
        changes["uniqueName"] = unique_name
    _check_unique(d, None, changes)
    app = copy.deepcopy(APP_DEFAULTS)
    app.update(copy.deepcopy(changes))
    app.update({"id": str(uuid.uuid4()), "appId": str(uuid.uuid4()), "createdDateTime": now()})
    d.graph["applications"][app["id"]] = app
    d.add_owner_if_owned_by(app["id"])
    d.world.mark_new(app["id"], app["appId"])
    return app


def update_application(d: Directory, app: dict, body: dict) -> None:
    changes = _check_app_body(body, creating=False)
    if "uniqueName" in changes:
        new, old = changes["uniqueName"], app.get("uniqueName")
        if old and (new or "") != old:
            # NOTE: uniqueName is immutable once set (Microsoft Graph: "Upsert application"); the
            # text is *unconfirmed*.
            raise bad_request("Property 'uniqueName' is read-only and cannot be changed once set.")
    _check_unique(d, app["id"], changes)
    app.update(copy.deepcopy(changes))
    _sync_service_principal(d, app)


def _sync_service_principal(d: Directory, app: dict) -> None:
    """The app's service principal mirrors its roles, scopes, name and identifier URIs."""
    sp = d.world.service_principal_by_app_id(app["appId"])
    if sp is None:
        return
    view = app_view(app)
    sp["appRoles"] = copy.deepcopy(view["appRoles"])
    sp["oauth2PermissionScopes"] = copy.deepcopy(view["api"].get("oauth2PermissionScopes") or [])
    sp["appDisplayName"] = view["displayName"]
    sp["servicePrincipalNames"] = [app["appId"], *view["identifierUris"]]


def delete_application(d: Directory, app: dict) -> None:
    graph = d.graph
    # NOTE: deleting an application deletes its service principal in the home tenant too (the
    # Entra admin center's delete dialog says so; over the API *unconfirmed*).
    sp = d.world.service_principal_by_app_id(app["appId"])
    if sp is not None:
        delete_service_principal(d, sp["id"])
    graph["applications"].pop(app["id"], None)
    graph["federatedIdentityCredentials"].pop(app["id"], None)
    graph["owners"].pop(app["id"], None)


# --- service principals ---------------------------------------------------------------------------
def find_sp(d: Directory, ref: Ref) -> dict | None:
    sps = d.graph["servicePrincipals"]
    if isinstance(ref, Key):
        if ref.name.lower() != "appid":
            raise bad_request(f"'{ref.name}' is not an alternate key of servicePrincipals.")
        return d.world.service_principal_by_app_id(ref.value)
    return sps.get(ref) or sps.get(ref.lower())


def resolve_sp(d: Directory, ref: Ref) -> dict:
    sp = find_sp(d, ref)
    if sp is None or not visible(d.world, sp["id"]):
        raise not_found(str(ref))
    return sp


def sp_view(d: Directory, sp: dict) -> dict:
    view = {**copy.deepcopy(SP_DEFAULTS), **sp}
    if view["signInAudience"] is None and view["servicePrincipalType"] == "Application":
        app = d.world.application_by_app_id(sp["appId"])
        view["signInAudience"] = (app or {}).get("signInAudience") or "AzureADMyOrg"
    return view


def sp_owned_ids(d: Directory, sp: dict) -> tuple[str, ...]:
    """Owning the service principal or its application lets an OwnedBy caller manage it."""
    app = d.world.application_by_app_id(sp["appId"])
    return (sp["id"],) + ((app["id"],) if app else ())


def visible_sps(d: Directory) -> list[dict]:
    return [sp_view(d, s) for s in d.graph["servicePrincipals"].values()
            if d.can_read_all() or d.owns(*sp_owned_ids(d, s))]


def _check_sp_body(body: dict) -> dict:
    out = {}
    for key, value in body.items():
        if key.startswith("@odata") or key in SP_READ_ONLY:
            continue
        if key not in SP_WRITABLE:
            raise unknown_property(key, "servicePrincipal")
        out[key] = value
    if "displayName" in out and (not isinstance(out["displayName"], str) or not out["displayName"]):
        raise invalid_value("displayName", "ServicePrincipal")
    return out


def _no_backing_app(app_id: str):
    # NOTE: Graph's text for an appId without an application this replica can see (the shape
    # Entra answers during replication delay; terraform-provider-azuread retries on it).
    return bad_request(f"The appId '{app_id}' of the service principal does not reference a valid "
                       "application object.")


def create_sp(d: Directory, body: dict, app_id: str | None) -> dict:
    changes = _check_sp_body(body)
    if not app_id or not isinstance(app_id, str):
        raise invalid_value("appId", "ServicePrincipal")
    app = d.world.application_by_app_id(app_id)
    if app is None or not visible(d.world, app["appId"]):
        raise _no_backing_app(app_id)
    if not d.roles & APP_WRITE and not d.owns(app["id"]):
        raise denied()
    if d.world.service_principal_by_app_id(app_id) is not None:
        # NOTE: Graph's 409 for a second service principal of one app (terraform-provider-azuread).
        raise already_exists("The service principal cannot be created, updated, or restored because "
                             f"the service principal name {app['appId']} is already in use.")
    view = app_view(app)
    sp = copy.deepcopy(SP_DEFAULTS)
    sp.update({
        "id": str(uuid.uuid4()), "appId": app["appId"], "displayName": view["displayName"],
        "appDisplayName": view["displayName"], "appDescription": view["description"],
        "appOwnerOrganizationId": d.world.tenant_id,
        "signInAudience": view["signInAudience"],
        "servicePrincipalNames": [app["appId"], *view["identifierUris"]],
        # The service principal carries the app's roles and delegated scopes.
        "appRoles": copy.deepcopy(view["appRoles"]),
        "oauth2PermissionScopes": copy.deepcopy(view["api"].get("oauth2PermissionScopes") or []),
        "info": copy.deepcopy(view["info"]),
    })
    sp.update(copy.deepcopy(changes))
    d.graph["servicePrincipals"][sp["id"]] = sp
    d.add_owner_if_owned_by(sp["id"])
    d.world.mark_new(sp["id"])
    return sp


def update_sp(sp: dict, body: dict) -> None:
    sp.update(copy.deepcopy(_check_sp_body(body)))


def delete_service_principal(d: Directory, sp_id: str) -> None:
    """Remove a service principal and everything that references it."""
    graph = d.graph
    graph["servicePrincipals"].pop(sp_id, None)
    graph["owners"].pop(sp_id, None)
    for owners in graph["owners"].values():
        if sp_id in owners:
            owners.remove(sp_id)
    for coll, fields in (("appRoleAssignments", ("principalId", "resourceId")),
                         ("oauth2PermissionGrants", ("clientId", "resourceId", "principalId"))):
        for oid in [k for k, v in graph[coll].items() if sp_id in (v.get(f) for f in fields)]:
            del graph[coll][oid]


# --- federatedIdentityCredentials (on applications) -------------------------------------------------
def fics(d: Directory, app: dict) -> list[dict]:
    return d.graph["federatedIdentityCredentials"].setdefault(app["id"], [])


def _fic_invalid(prop: str):
    # NOTE: the validation texts for FIC properties are *unconfirmed*; Entra's generic shape is used.
    return invalid_value(prop, "FederatedIdentityCredential")


def _check_fic(body: dict, creating: bool) -> dict:
    out = {}
    for key, value in body.items():
        if key.startswith("@odata") or key == "id":
            continue
        if key not in FIC_FIELDS:
            raise unknown_property(key, "federatedIdentityCredential")
        out[key] = value
    required = ("name", "issuer", "subject", "audiences") if creating else ()
    for key in required:
        if out.get(key) in (None, "", []):
            raise _fic_invalid(key)
    if "name" in out and (not isinstance(out["name"], str) or not FIC_NAME.match(out["name"])):
        raise _fic_invalid("name")
    for key in ("issuer", "subject"):
        if key in out and (not isinstance(out[key], str) or not out[key]
                           or len(out[key]) > FIC_VALUE_MAX):
            raise _fic_invalid(key)
    if "audiences" in out:
        aud = out["audiences"]
        # Exactly one audience (Microsoft Graph: "federatedIdentityCredential resource type").
        if not isinstance(aud, list) or len(aud) != 1 or not isinstance(aud[0], str) \
                or not aud[0] or len(aud[0]) > FIC_VALUE_MAX:
            raise _fic_invalid("audiences")
    if out.get("description") is not None and (not isinstance(out["description"], str)
                                               or len(out["description"]) > FIC_VALUE_MAX):
        raise _fic_invalid("description")
    return out


def _check_pair_unique(existing: list[dict], fic: dict, skip_id: str | None = None) -> None:
    for other in existing:
        if other["id"] != skip_id and other["issuer"] == fic["issuer"] \
                and other["subject"] == fic["subject"]:
            # NOTE: issuer+subject are unique per app and compare exactly (case-sensitive)
            # (Microsoft Graph: "federatedIdentityCredential resource type").
            raise bad_request("The combination of issuer and subject must be unique for the "
                              "application.", code="InvalidFederatedIdentityCredentialValue")


def create_fic(d: Directory, app: dict, body: dict, name: str | None = None) -> dict:
    fields = _check_fic({**body, **({"name": name} if name and "name" not in body else {})},
                        creating=True)
    if name is not None and fields["name"] != name:
        raise _fic_invalid("name")
    existing = fics(d, app)
    if any(f["name"].lower() == fields["name"].lower() for f in existing):
        # NOTE: Graph's text for a duplicate FIC name (seen in azure-workload-identity).
        raise already_exists(f"FederatedIdentityCredential with name {fields['name']} already exists.")
    fic = {"id": str(uuid.uuid4()), "name": fields["name"], "issuer": fields["issuer"],
           "subject": fields["subject"], "description": fields.get("description"),
           "audiences": list(fields["audiences"])}
    _check_pair_unique(existing, fic)
    if len(existing) >= FIC_LIMIT:
        # NOTE: the 20-per-app limit is documented; this code and text are *unconfirmed*.
        raise bad_request(f"The application has reached the maximum of {FIC_LIMIT} federated "
                          "identity credentials.")
    existing.append(fic)
    d.world.mark_new(fic["id"])
    return fic


def find_fic(d: Directory, app: dict, ref: Ref) -> dict | None:
    existing = fics(d, app)
    if isinstance(ref, Key):
        if ref.name.lower() != "name":
            raise bad_request(f"'{ref.name}' is not an alternate key of federatedIdentityCredentials.")
        return next((f for f in existing if f["name"].lower() == ref.value.lower()), None)
    # Graph addresses a federated identity credential by its id or by its name
    # (federatedidentitycredential-get: "{federatedIdentityCredentialId or name}"): an id first,
    # then the name (names are unique per app).
    return (next((f for f in existing if f["id"].lower() == ref.lower()), None)
            or next((f for f in existing if f["name"].lower() == ref.lower()), None))


def resolve_fic(d: Directory, app: dict, ref: Ref) -> dict:
    fic = find_fic(d, app, ref)
    if fic is None or not visible(d.world, fic["id"]):
        raise not_found(str(ref))
    return fic


def update_fic(d: Directory, app: dict, fic: dict, body: dict) -> None:
    changes = _check_fic(body, creating=False)
    if "name" in changes and changes["name"] != fic["name"]:
        # NOTE: name is immutable (Microsoft Graph: "federatedIdentityCredential resource type");
        # this text is *unconfirmed*.
        raise bad_request("Property 'name' is immutable and cannot be changed after creation.")
    merged = {**fic, **changes}
    _check_pair_unique(fics(d, app), merged, skip_id=fic["id"])
    fic.update({k: v for k, v in changes.items() if k != "name"})


def delete_fic(d: Directory, app: dict, fic: dict) -> None:
    fics(d, app).remove(fic)


# --- directory objects and owners -----------------------------------------------------------------
def directory_object(d: Directory, oid: str) -> dict | None:
    """The directory object with this id, in Graph's JSON shape with its @odata.type."""
    graph = d.graph
    sp = graph["servicePrincipals"].get(oid) or graph["servicePrincipals"].get(oid.lower())
    if sp is not None:
        return {"@odata.type": "#microsoft.graph.servicePrincipal", **sp_view(d, sp)}
    app = graph["applications"].get(oid) or graph["applications"].get(oid.lower())
    if app is not None:
        return {"@odata.type": "#microsoft.graph.application", **app_view(app)}
    return None


def resolve_owned(d: Directory, collection: str, ref: Ref, full: frozenset) -> dict:
    """The application or service principal whose owners are read or changed, once the caller
    holds ``full`` or owns it."""
    if collection == "applications":
        obj = resolve_app(d, ref)
        owned = (obj["id"],)
    else:
        obj = resolve_sp(d, ref)
        owned = sp_owned_ids(d, obj)
    d.require(full, owned=owned)
    return obj


def owners_of(d: Directory, obj: dict) -> list[dict]:
    return [o for o in (directory_object(d, i) for i in d.graph["owners"].get(obj["id"], []))
            if o is not None]


def add_owner(d: Directory, obj: dict, reference) -> None:
    """``reference``: the ``@odata.id`` of the new owner, a Graph URL of a directory object."""
    match = _REF_ID.match(reference) if isinstance(reference, str) else None
    if match is None:
        raise bad_request(f"Invalid object identifier '{reference}'.")
    oid = match.group(1).lower()
    if directory_object(d, oid) is None or not visible(d.world, oid):
        raise not_found(oid)
    owners = d.graph["owners"].setdefault(obj["id"], [])
    if oid in (o.lower() for o in owners):
        # NOTE: Graph's text for a duplicate owner (Microsoft Graph: "Add owner"; pnp/pnpframework#139).
        raise bad_request("One or more added object references already exist for the following "
                          "modified properties: 'owners'.")
    owners.append(oid)


def remove_owner(d: Directory, obj: dict, oid: str) -> None:
    owners = d.graph["owners"].get(obj["id"], [])
    match = next((o for o in owners if o.lower() == str(oid).lower()), None)
    if match is None:
        # NOTE: Graph's text when the reference to remove is not there (hashicorp/go-azure-sdk).
        raise bad_request("One or more removed object references do not exist for the following "
                          "modified properties: 'owners'.")
    owners.remove(match)


# --- appRoleAssignments -----------------------------------------------------------------------------
# ``side`` is "resource" for appRoleAssignedTo (on the resource), "principal" for appRoleAssignments
# (on the client).
def _side_field(side: str) -> str:
    return "resourceId" if side == "resource" else "principalId"


def _referenced_sp(d: Directory, oid) -> dict:
    """A service principal named in a request body: unknown or not yet replicated → 400."""
    sp = d.graph["servicePrincipals"].get(str(oid).lower()) if is_guid(oid) else None
    if sp is None or not visible(d.world, sp["id"]):
        raise not_a_valid_reference()
    return sp


def create_assignment(d: Directory, body: dict, *, path_sp: dict, side: str) -> dict:
    principal_id, resource_id = body.get("principalId"), body.get("resourceId")
    role_id = body.get("appRoleId") or DEFAULT_ACCESS_ROLE
    if not is_guid(principal_id):
        raise invalid_value("principalId", "AppRoleAssignment")
    if not is_guid(resource_id):
        raise invalid_value("resourceId", "AppRoleAssignment")
    if not is_guid(role_id):
        raise invalid_value("appRoleId", "AppRoleAssignment")
    if str(body.get(_side_field(side))).lower() != path_sp["id"].lower():
        raise not_a_valid_reference()   # *unconfirmed* for a body that names another object
    principal = _referenced_sp(d, principal_id)
    resource = _referenced_sp(d, resource_id)
    # The stored appRoleId is the role's own id string (tokens match roles on it exactly).
    role_ids = {r["id"].lower(): r["id"] for r in resource.get("appRoles") or []}
    if role_id.lower() != DEFAULT_ACCESS_ROLE and role_id.lower() not in role_ids:
        # NOTE: Graph's text for an appRoleId the resource does not define; what it quotes
        # after "application" is *unconfirmed* (the resource's appId here).
        raise bad_request("Permission being assigned was not found on application "
                          f"'{resource['appId']}'.")
    for a in d.graph["appRoleAssignments"].values():
        if (a["principalId"].lower(), a["resourceId"].lower(), a["appRoleId"].lower()) == \
                (principal["id"].lower(), resource["id"].lower(), role_id.lower()):
            # NOTE: Microsoft Graph: "Grant an appRoleAssignment to a service principal"; Entra ID:
            # "Grant tenant-wide admin consent to an application".
            raise bad_request("Permission being assigned already exists on the object.")
    assignment = {
        "id": b64_id(principal["id"], random_tail=True), "deletedDateTime": None,
        "appRoleId": role_ids.get(role_id.lower(), DEFAULT_ACCESS_ROLE), "createdDateTime": now(),
        "principalDisplayName": principal.get("displayName"), "principalId": principal["id"],
        "principalType": "ServicePrincipal", "resourceDisplayName": resource.get("displayName"),
        "resourceId": resource["id"],
    }
    d.graph["appRoleAssignments"][assignment["id"]] = assignment
    d.world.mark_new(assignment["id"])
    return assignment


def assignments_of(d: Directory, sp: dict, side: str) -> list[dict]:
    field = _side_field(side)
    return [dict(a) for a in d.graph["appRoleAssignments"].values()
            if a[field].lower() == sp["id"].lower()]


def find_assignment(d: Directory, sp: dict, side: str, assignment_id: str) -> dict:
    a = d.graph["appRoleAssignments"].get(str(assignment_id))
    if a is None or a[_side_field(side)].lower() != sp["id"].lower() or not visible(d.world, a["id"]):
        raise not_found(str(assignment_id))
    return a


def delete_assignment(d: Directory, assignment: dict) -> None:
    del d.graph["appRoleAssignments"][assignment["id"]]


# --- oauth2PermissionGrants -------------------------------------------------------------------------
def _grant_reference(d: Directory, oid) -> dict:
    """clientId / resourceId of a grant: unknown or not yet replicated → Graph's 400 (the shape
    Entra answers during replication delay)."""
    sp = d.graph["servicePrincipals"].get(str(oid).lower()) if is_guid(oid) else None
    if sp is None or not visible(d.world, sp["id"]):
        raise bad_request(f"Resource '{oid}' does not exist or one of its queried reference-property "
                          "objects are not present.")
    return sp


def _check_scope(scope) -> str:
    if scope is None:
        return ""
    if not isinstance(scope, str):
        raise invalid_value("scope", "OAuth2PermissionGrant")
    return scope


def create_grant(d: Directory, body: dict) -> dict:
    for key in body:
        if not key.startswith("@odata") and key not in GRANT_FIELDS + ["startTime", "expiryTime"]:
            raise unknown_property(key, "oAuth2PermissionGrant")
    consent = body.get("consentType")
    if consent not in CONSENT_TYPES:
        raise invalid_value("consentType", "OAuth2PermissionGrant")
    principal_id = body.get("principalId")
    if (consent == "Principal") != bool(principal_id):
        raise invalid_value("principalId", "OAuth2PermissionGrant")
    client = _grant_reference(d, body.get("clientId"))
    resource = _grant_reference(d, body.get("resourceId"))
    if consent == "Principal":
        # Users are not emulated: any directory object the replica sees may be the principal.
        principal = _grant_reference(d, principal_id)
        grant_id = b64_id(client["id"], resource["id"], principal["id"])
    else:
        grant_id = b64_id(client["id"], resource["id"])
    if grant_id in d.graph["oauth2PermissionGrants"]:
        # NOTE: Graph's 409 for a second grant of one client, resource and principal
        # (terraform-provider-azuread#690).
        raise already_exists("Permission entry already exists.")
    grant = {"id": grant_id, "clientId": client["id"], "consentType": consent,
             "principalId": principal_id.lower() if principal_id else None,
             "resourceId": resource["id"], "scope": _check_scope(body.get("scope"))}
    d.graph["oauth2PermissionGrants"][grant_id] = grant
    return grant


def find_grant(d: Directory, grant_id: str) -> dict:
    grant = d.graph["oauth2PermissionGrants"].get(grant_id)
    if grant is None:
        raise not_found(grant_id)
    return grant


def update_grant(grant: dict, body: dict) -> None:
    for key in body:
        if key.startswith("@odata") or key == "scope":
            continue
        if key in GRANT_FIELDS:
            if body[key] == grant.get(key):
                continue
            # NOTE: only scope is updatable (Microsoft Graph: "Update oAuth2PermissionGrant"); this
            # text is *unconfirmed*.
            raise bad_request(f"Property '{key}' is read-only and cannot be updated.")
        raise unknown_property(key, "oAuth2PermissionGrant")
    if "scope" in body:
        grant["scope"] = _check_scope(body["scope"])


def delete_grant(d: Directory, grant: dict) -> None:
    del d.graph["oauth2PermissionGrants"][grant["id"]]
