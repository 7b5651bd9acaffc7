"""Graph v1.0 applications, their federatedIdentityCredentials, and owners (of applications and
service principals).

Sources: microsoft-graph-docs-contrib api-reference/v1.0 (application-post-applications,
application-upsert, application-update, application-delete, application-post-federatedidentitycredentials,
federatedidentitycredential-upsert, application-post-owners) and FACTS.md. Apps are addressed by
id or by the alternate keys ``(appId='…')`` / ``(uniqueName='…')``. Not emulated: soft delete
(deletedItems), addPassword/addKey, logo, extension properties, flexible (beta) FICs.
"""

from __future__ import annotations

import copy
import re
import uuid

from aiohttp import web

from .graph_common import APP_READ, APP_WRITE, OWNED_BY, Ctx, Key, Ref, bad_request, denied, \
    entity_response, invalid_value, no_content, not_found, now, visible
from .graph_query import collection_response
from .errors import graph_error

PUBLISHER_DOMAIN = "emulator.onmicrosoft.com"
SIGN_IN_AUDIENCES = {"AzureADMyOrg", "AzureADMultipleOrgs", "AzureADandPersonalMicrosoftAccount",
                     "PersonalMicrosoftAccount"}
FIC_LIMIT = 20
FIC_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{2,119}$")
FIC_VALUE_MAX = 600

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
APP_FILTERABLE = ["id", "appId", "uniqueName", "displayName", "identifierUris", "signInAudience",
                  "tags", "publisherDomain", "createdDateTime"]
FIC_FIELDS = {"name", "issuer", "subject", "audiences", "description"}


def unknown_property(prop: str, type_name: str):
    # NOTE: the OData library's text for a property the type does not define.
    return bad_request(f"The property '{prop}' does not exist on type 'microsoft.graph.{type_name}'. "
                       "Make sure to only use property names that are defined by the type or mark "
                       "the type as open type.")


# --- lookups ----------------------------------------------------------------------------------
def find_app(ctx: Ctx, ref: Ref) -> dict | None:
    apps = ctx.graph["applications"]
    if isinstance(ref, Key):
        field = {"appid": "appId", "uniquename": "uniqueName"}.get(ref.name.lower())
        if field is None:
            raise bad_request(f"'{ref.name}' is not an alternate key of applications.")
        return next((a for a in apps.values()
                     if (a.get(field) or "").lower() == ref.value.lower()), None)
    return apps.get(ref) or apps.get(ref.lower())


def lag_key(app: dict, ref: Ref) -> str:
    """Reads by appId wait on the appId's replication, every other address on the object's."""
    if isinstance(ref, Key) and ref.name.lower() == "appid":
        return app["appId"]
    return app["id"]


def resolve_app(ctx: Ctx, ref: Ref) -> dict:
    app = find_app(ctx, ref)
    if app is None or not visible(ctx.world, lag_key(app, ref)):
        raise not_found(str(ref))
    return app


def app_view(app: dict) -> dict:
    return {**copy.deepcopy(APP_DEFAULTS), **app}


def require_any(ctx: Ctx, full: frozenset) -> None:
    """403 before any lookup when the token holds neither ``full`` nor OwnedBy."""
    if not ctx.roles & (full | OWNED_BY):
        raise denied()


# --- application bodies -----------------------------------------------------------------------
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


def _check_unique(ctx: Ctx, app_id: str | None, changes: dict) -> None:
    """uniqueName and identifierUris are unique in the tenant."""
    others = [a for a in ctx.graph["applications"].values() if a["id"] != app_id]
    unique = (changes.get("uniqueName") or "").lower()
    if unique and any((a.get("uniqueName") or "").lower() == unique for a in others):
        # NOTE: Entra's duplicate-key text (as for identifierUris); the uniqueName variant is
        # *unconfirmed*.
        raise bad_request("Another object with the same value for property uniqueName already exists.")
    uris = {u.lower() for u in changes.get("identifierUris") or []}
    if uris and any(uris & {u.lower() for u in a.get("identifierUris") or []} for a in others):
        raise bad_request("Another object with the same value for property identifierUris already exists.")


def create_application(ctx: Ctx, body: dict, unique_name: str | None = None) -> dict:
    changes = _check_app_body(body, creating=True)
    if unique_name is not None:
        if changes.get("uniqueName") not in (None, unique_name):
            raise invalid_value("uniqueName", "Application")
        changes["uniqueName"] = unique_name
    _check_unique(ctx, None, changes)
    app = copy.deepcopy(APP_DEFAULTS)
    app.update(copy.deepcopy(changes))
    app.update({"id": str(uuid.uuid4()), "appId": str(uuid.uuid4()), "createdDateTime": now()})
    ctx.graph["applications"][app["id"]] = app
    if not ctx.roles & APP_WRITE:
        # NOTE: an app created under Application.ReadWrite.OwnedBy gets the caller as its owner
        # (application-post-applications, Permissions), so that it can manage it afterwards.
        ctx.graph["owners"].setdefault(app["id"], []).append(ctx.caller.oid)
    ctx.world.mark_new(app["id"], app["appId"])
    return app


def update_application(ctx: Ctx, app: dict, body: dict) -> None:
    changes = _check_app_body(body, creating=False)
    if "uniqueName" in changes:
        new, old = changes["uniqueName"], app.get("uniqueName")
        if old and (new or "") != old:
            # NOTE: uniqueName is immutable once set (application-upsert, FACTS.md); the text is
            # *unconfirmed*.
            raise bad_request("Property 'uniqueName' is read-only and cannot be changed once set.")
    _check_unique(ctx, app["id"], changes)
    app.update(copy.deepcopy(changes))
    sync_service_principal(ctx, app)


def sync_service_principal(ctx: Ctx, app: dict) -> None:
    """The app's service principal mirrors its roles, scopes, name and identifier URIs."""
    sp = ctx.world.service_principal_by_app_id(app["appId"])
    if sp is None:
        return
    view = app_view(app)
    sp["appRoles"] = copy.deepcopy(view["appRoles"])
    sp["oauth2PermissionScopes"] = copy.deepcopy(view["api"].get("oauth2PermissionScopes") or [])
    sp["appDisplayName"] = view["displayName"]
    sp["servicePrincipalNames"] = [app["appId"], *view["identifierUris"]]


def delete_service_principal(ctx: Ctx, sp_id: str) -> None:
    """Remove a service principal and everything that references it."""
    graph = ctx.graph
    graph["servicePrincipals"].pop(sp_id, None)
    graph["owners"].pop(sp_id, None)
    for owners in graph["owners"].values():
        if sp_id in owners:
            owners.remove(sp_id)
    for coll, fields in (("appRoleAssignments", ("principalId", "resourceId")),
                         ("oauth2PermissionGrants", ("clientId", "resourceId", "principalId"))):
        for oid in [k for k, v in graph[coll].items() if sp_id in (v.get(f) for f in fields)]:
            del graph[coll][oid]


# --- application routes -----------------------------------------------------------------------
async def list_applications(ctx: Ctx) -> web.Response:
    require_any(ctx, APP_READ)
    apps = [app_view(a) for a in ctx.graph["applications"].values()
            if ctx.can_read_all() or ctx.owns(a["id"])]
    return collection_response(ctx, "applications", apps, filterable=APP_FILTERABLE,
                               type_name="microsoft.graph.application", known=set(APP_DEFAULTS) | {
                                   "id", "appId", "displayName", "createdDateTime"})


async def create_application_route(ctx: Ctx) -> web.Response:
    require_any(ctx, APP_WRITE)
    app = create_application(ctx, await ctx.body())
    return entity_response(ctx, "applications", app_view(app), 201)


async def get_application(ctx: Ctx, ref: Ref) -> web.Response:
    require_any(ctx, APP_READ)
    app = resolve_app(ctx, ref)
    ctx.require_read(owned=(app["id"],))
    return entity_response(ctx, "applications", app_view(app),
                           type_name="microsoft.graph.application")


async def patch_application(ctx: Ctx, ref: Ref) -> web.Response:
    require_any(ctx, APP_WRITE)
    body = await ctx.body()
    upsert = isinstance(ref, Key) and ref.name.lower() == "uniquename"
    if upsert and ctx.prefer_create():
        # Graph's key index is consistent: an upsert never duplicates a lagging app.
        app = find_app(ctx, ref)
        if app is None:
            app = create_application(ctx, body, unique_name=ref.value)
            return entity_response(ctx, "applications", app_view(app), 201)
    else:
        app = resolve_app(ctx, ref)
    ctx.require(APP_WRITE, owned=(app["id"],))
    update_application(ctx, app, body)
    return no_content()


async def delete_application(ctx: Ctx, ref: Ref) -> web.Response:
    require_any(ctx, APP_WRITE)
    app = resolve_app(ctx, ref)
    ctx.require(APP_WRITE, owned=(app["id"],))
    graph = ctx.graph
    # NOTE: deleting an application deletes its service principal in the home tenant too (the
    # Entra admin center's delete dialog says so; over the API *unconfirmed*).
    sp = ctx.world.service_principal_by_app_id(app["appId"])
    if sp is not None:
        delete_service_principal(ctx, sp["id"])
    graph["applications"].pop(app["id"], None)
    graph["federatedIdentityCredentials"].pop(app["id"], None)
    graph["owners"].pop(app["id"], None)
    return no_content()


# --- federatedIdentityCredentials -------------------------------------------------------------
def _fic_set(app: dict) -> str:
    return f"applications('{app['id']}')/federatedIdentityCredentials"


def _fics(ctx: Ctx, app: dict) -> list[dict]:
    return ctx.graph["federatedIdentityCredentials"].setdefault(app["id"], [])


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
        # FACTS.md: exactly one audience.
        if not isinstance(aud, list) or len(aud) != 1 or not isinstance(aud[0], str) \
                or not aud[0] or len(aud[0]) > FIC_VALUE_MAX:
            raise _fic_invalid("audiences")
    if out.get("description") is not None and (not isinstance(out["description"], str)
                                               or len(out["description"]) > FIC_VALUE_MAX):
        raise _fic_invalid("description")
    return out


def _check_pair_unique(fics: list[dict], fic: dict, skip_id: str | None = None) -> None:
    for other in fics:
        if other["id"] != skip_id and other["issuer"] == fic["issuer"] \
                and other["subject"] == fic["subject"]:
            # NOTE: FACTS.md; issuer+subject compare exactly (case-sensitive).
            raise bad_request("The combination of issuer and subject must be unique for the "
                              "application.", code="InvalidFederatedIdentityCredentialValue")


def create_fic(ctx: Ctx, app: dict, body: dict, name: str | None = None) -> dict:
    fields = _check_fic({**body, **({"name": name} if name and "name" not in body else {})},
                        creating=True)
    if name is not None and fields["name"] != name:
        raise _fic_invalid("name")
    fics = _fics(ctx, app)
    if any(f["name"].lower() == fields["name"].lower() for f in fics):
        # NOTE: Graph's text for a duplicate FIC name (seen in azure-workload-identity).
        raise graph_error(409, "Request_MultipleObjectsWithSameKeyValue",
                          f"FederatedIdentityCredential with name {fields['name']} already exists.")
    fic = {"id": str(uuid.uuid4()), "name": fields["name"], "issuer": fields["issuer"],
           "subject": fields["subject"], "description": fields.get("description"),
           "audiences": list(fields["audiences"])}
    _check_pair_unique(fics, fic)
    if len(fics) >= FIC_LIMIT:
        # NOTE: the 20-per-app limit is documented; this code and text are *unconfirmed*.
        raise bad_request(f"The application has reached the maximum of {FIC_LIMIT} federated "
                          "identity credentials.")
    fics.append(fic)
    ctx.world.mark_new(fic["id"])
    return fic


def find_fic(ctx: Ctx, app: dict, ref: Ref) -> dict | None:
    fics = _fics(ctx, app)
    if isinstance(ref, Key):
        if ref.name.lower() != "name":
            raise bad_request(f"'{ref.name}' is not an alternate key of federatedIdentityCredentials.")
        return next((f for f in fics if f["name"].lower() == ref.value.lower()), None)
    # Graph addresses a federated identity credential by its id or by its name
    # (federatedidentitycredential-get: "{federatedIdentityCredentialId or name}"): an id first,
    # then the name (names are unique per app).
    return (next((f for f in fics if f["id"].lower() == ref.lower()), None)
            or next((f for f in fics if f["name"].lower() == ref.lower()), None))


def resolve_fic(ctx: Ctx, app: dict, ref: Ref) -> dict:
    fic = find_fic(ctx, app, ref)
    if fic is None or not visible(ctx.world, fic["id"]):
        raise not_found(str(ref))
    return fic


def _app_for(ctx: Ctx, ref: Ref, full: frozenset) -> dict:
    require_any(ctx, full)
    app = resolve_app(ctx, ref)
    ctx.require(full, owned=(app["id"],))
    return app


async def list_fics(ctx: Ctx, ref: Ref) -> web.Response:
    app = _app_for(ctx, ref, APP_READ)
    # FACTS.md: subject (and name, audiences) are filterable; issuer is not.
    return collection_response(ctx, _fic_set(app), [dict(f) for f in _fics(ctx, app)],
                               filterable=["id", "name", "subject", "audiences"],
                               type_name="microsoft.graph.federatedIdentityCredential",
                               known=FIC_FIELDS | {"id"})


async def create_fic_route(ctx: Ctx, ref: Ref) -> web.Response:
    app = _app_for(ctx, ref, APP_WRITE)
    fic = create_fic(ctx, app, await ctx.body())
    return entity_response(ctx, _fic_set(app), dict(fic), 201)


async def get_fic(ctx: Ctx, ref: Ref, fic_ref: Ref) -> web.Response:
    app = _app_for(ctx, ref, APP_READ)
    return entity_response(ctx, _fic_set(app), dict(resolve_fic(ctx, app, fic_ref)),
                           type_name="microsoft.graph.federatedIdentityCredential")


def _update_fic(ctx: Ctx, app: dict, fic: dict, body: dict) -> None:
    changes = _check_fic(body, creating=False)
    if "name" in changes and changes["name"] != fic["name"]:
        # NOTE: name is immutable (FACTS.md); this text is *unconfirmed*.
        raise bad_request("Property 'name' is immutable and cannot be changed after creation.")
    merged = {**fic, **changes}
    _check_pair_unique(_fics(ctx, app), merged, skip_id=fic["id"])
    fic.update({k: v for k, v in changes.items() if k != "name"})


async def patch_fic(ctx: Ctx, ref: Ref, fic_ref: Ref) -> web.Response:
    app = _app_for(ctx, ref, APP_WRITE)
    body = await ctx.body()
    if isinstance(fic_ref, Key) and ctx.prefer_create():
        fic = find_fic(ctx, app, fic_ref)
        if fic is None:
            fic = create_fic(ctx, app, body, name=fic_ref.value)
            return entity_response(ctx, _fic_set(app), dict(fic), 201)
    else:
        fic = resolve_fic(ctx, app, fic_ref)
    _update_fic(ctx, app, fic, body)
    return no_content()


async def delete_fic(ctx: Ctx, ref: Ref, fic_ref: Ref) -> web.Response:
    app = _app_for(ctx, ref, APP_WRITE)
    fic = resolve_fic(ctx, app, fic_ref)
    _fics(ctx, app).remove(fic)
    return no_content()


# --- owners (applications and service principals) ---------------------------------------------
_REF_ID = re.compile(r"^https://[^\s]+/(?:v1\.0|beta)/(?:directoryObjects|servicePrincipals|users|"
                     r"groups)/([0-9A-Za-z-]+)$")


def directory_object(ctx: Ctx, oid: str) -> dict | None:
    """The directory object with this id, in Graph's JSON shape with its @odata.type."""
    from .graph_sps import sp_view

    graph = ctx.graph
    sp = graph["servicePrincipals"].get(oid) or graph["servicePrincipals"].get(oid.lower())
    if sp is not None:
        return {"@odata.type": "#microsoft.graph.servicePrincipal", **sp_view(ctx, sp)}
    app = graph["applications"].get(oid) or graph["applications"].get(oid.lower())
    if app is not None:
        return {"@odata.type": "#microsoft.graph.application", **app_view(app)}
    return None


def resolve_owned(ctx: Ctx, collection: str, ref: Ref, full: frozenset) -> dict:
    """The application or service principal whose owners are read or changed."""
    from .graph_sps import resolve_sp

    require_any(ctx, full)
    obj = resolve_app(ctx, ref) if collection == "applications" else resolve_sp(ctx, ref)
    owned = (obj["id"],)
    if collection == "servicePrincipals":
        app = ctx.world.application_by_app_id(obj["appId"])
        owned += ((app["id"],) if app else ())
    ctx.require(full, owned=owned)
    return obj


async def list_owners(ctx: Ctx, collection: str, ref: Ref) -> web.Response:
    obj = resolve_owned(ctx, collection, ref, APP_READ)
    owners = [o for o in (directory_object(ctx, i) for i in ctx.graph["owners"].get(obj["id"], []))
              if o is not None]
    return collection_response(ctx, "directoryObjects", owners, filterable=["id", "displayName"],
                               type_name="microsoft.graph.directoryObject")


async def add_owner(ctx: Ctx, collection: str, ref: Ref) -> web.Response:
    obj = resolve_owned(ctx, collection, ref, APP_WRITE)
    body = await ctx.body()
    target = body.get("@odata.id")
    match = _REF_ID.match(target) if isinstance(target, str) else None
    if match is None:
        raise bad_request(f"Invalid object identifier '{target}'.")
    oid = match.group(1).lower()
    if directory_object(ctx, oid) is None or not visible(ctx.world, oid):
        raise not_found(oid)
    owners = ctx.graph["owners"].setdefault(obj["id"], [])
    if oid in (o.lower() for o in owners):
        # NOTE: Graph's text for a duplicate owner (FACTS.md; pnp/pnpframework#139).
        raise bad_request("One or more added object references already exist for the following "
                          "modified properties: 'owners'.")
    owners.append(oid)
    return no_content()


async def remove_owner(ctx: Ctx, collection: str, ref: Ref, oid: str) -> web.Response:
    obj = resolve_owned(ctx, collection, ref, APP_WRITE)
    owners = ctx.graph["owners"].get(obj["id"], [])
    match = next((o for o in owners if o.lower() == str(oid).lower()), None)
    if match is None:
        # NOTE: Graph's text when the reference to remove is not there (hashicorp/go-azure-sdk).
        raise bad_request("One or more removed object references do not exist for the following "
                          "modified properties: 'owners'.")
    owners.remove(match)
    return no_content()
