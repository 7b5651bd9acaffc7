"""Every input rule, defined once: names, lengths, patterns, enumerations and limits.

The flags of the commands and the bootstrap file use the same functions. A rule returns the value
(normalised where the service is case-insensitive) or raises ``RuleError``: one verdict with an
error code (the ``code`` the CLI reports, e.g. ``InvalidName``, ``BadFederation``,
``MalformedGuid``), a message naming the value, and the fix. ``option`` names the flag in the
message ("--name 'ab' breaks ..."); the file loader leaves it out (its ``Problem`` names the file,
line and key) and keeps the code. A ``RuleError`` is a ``CliError`` of exit 2, so a command may
let it propagate as it is.

Sources of the rules (public documentation):
- Microsoft Graph: federatedIdentityCredential resource type (name, issuer, subject, audiences,
  description: 600 characters; at most 20 credentials per application);
- Microsoft Graph: application resource type (uniqueName, displayName, signInAudience values);
- ARM: resource name rules (Microsoft.ManagedIdentity userAssignedIdentities: 3-128 characters,
  letters, digits, '-' and '_', starting with a letter or digit; resource groups: 1-90 characters,
  letters, digits, '_', '-', '.', '(' and ')', not ending with '.');
- Kubernetes: object names and IDs (namespaces are RFC 1123 DNS labels, service accounts DNS
  subdomain names);
- GitHub: OpenID Connect reference (subject claims ``repo:OWNER/REPO:...``).

Nothing of the package is imported but ``errors`` (no import circle; ``--help`` stays fast).
"""

from __future__ import annotations

import re
from typing import Callable, Iterable, Pattern

from ..errors import EXIT_USAGE, CliError


class RuleError(CliError):
    """A rule's verdict on a value: ``code``, ``message`` and ``fix`` (exit 2, before any request)."""

    def __init__(self, code: str, message: str, fix: str | None = None, object: str | None = None):
        super().__init__(message, code=code, object=object, fix=fix, exit_code=EXIT_USAGE)


def _refuse(code: str, option: str | None, text: str, fix: str | None = None,
            object: str | None = None) -> RuleError:
    return RuleError(code, f"{option} {text}" if option else text, fix, object)


def pattern(code: str, regex: Pattern[str], what: str, rule: str, fix: str,
            max_length: int | None = None) -> Callable[..., str]:
    """A rule made of a regular expression: ``check(value, option=None) -> value``.

    ``what``: "is not ..." text ("OWNER/REPO"); ``rule``: what a valid value is; ``fix``: what to do.
    """

    def check(value: str, option: str | None = None) -> str:
        value = value or ""
        if not regex.fullmatch(value) or (max_length is not None and len(value) > max_length):
            raise _refuse(code, option, f"'{value}' is not {what} ({rule})", fix)
        return value

    check.__doc__ = f"{what}: {rule} ({code})"
    return check


# --- GUIDs ------------------------------------------------------------------------------------
GUID_RE = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
GUID_FIX = "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx"


def is_guid(value: str | None) -> bool:
    return bool(GUID_RE.match(value or ""))


def looks_like_guid(value: str | None) -> bool:
    """Hex-and-dashes text meant as a GUID (so a malformed one is reported as such)."""
    v = value or ""
    if re.fullmatch(r"[{(]?\w{8}-\w{4}-\w{4}-\w{4}-\w{12}[})]?", v):     # the shape, a wrong character
        return True
    return "-" in v and len(v) >= 8 and bool(re.fullmatch(r"[0-9a-fA-F{}-]+", v)) and \
        any(c.isdigit() for c in v)


def check_guid(value: str, what: str | None = None, option: str | None = None) -> str:
    """A GUID (tenant, subscription, object id ...), lower-cased; ``MalformedGuid``."""
    if not is_guid(value):
        raise _refuse("MalformedGuid", option, f"'{value}' is not a GUID" + (f" ({what})" if what else ""),
                      f"give {option or 'it'} as {GUID_FIX}")
    return value.lower()


# --- applications -----------------------------------------------------------------------------
UNIQUE_NAME_MAX = 120
UNIQUE_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,119}$")
UNIQUE_NAME_RULE = "1-120 characters: letters, digits, '.', '-' and '_', starting with a letter or digit"
DISPLAY_NAME_MAX = 256
# Microsoft Graph: application resource type, signInAudience. Graph compares them without regard
# to case; the CLI always accepted any case, and so does the file: both send the canonical value.
SIGN_IN_AUDIENCES = ("AzureADMyOrg", "AzureADMultipleOrgs", "AzureADandPersonalMicrosoftAccount",
                     "PersonalMicrosoftAccount")


def check_unique_name(value: str, option: str | None = None) -> str:
    """An application's uniqueName; ``BadUniqueName``."""
    if not UNIQUE_NAME_RE.match(value or ""):
        raise _refuse("BadUniqueName", option, f"'{value}' is not a valid unique name: {UNIQUE_NAME_RULE}",
                      "use 1-120 letters, digits, '.', '_' or '-', starting with a letter or digit")
    return value


def derive_unique_name(name: str) -> str:
    """The uniqueName used when ``app create`` is given none: NAME with accents dropped ("Café" ->
    "cafe"), lower-cased, every run of characters other than letters, digits, '.', '_' and '-'
    replaced by '-', trimmed to 120. "" when nothing is left (the caller asks for --unique-name:
    a fixed fallback would make unrelated names upsert the same app)."""
    import unicodedata

    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    out = re.sub(r"[^a-z0-9._-]+", "-", ascii_name.strip().lower()).strip("-._")
    return out[:UNIQUE_NAME_MAX].rstrip("-._")


def unique_name_for(display_name: str, unique_name: str | None = None,
                    option: str | None = "--unique-name") -> str:
    """The unique name given, or derived from the display name; ``BadUniqueName``."""
    unique = unique_name if unique_name is not None else derive_unique_name(display_name)
    if not unique:
        raise RuleError("BadUniqueName", f"no unique name can be derived from NAME '{display_name}' (no "
                        "letters or digits once accents are dropped)",
                        f"give one with {option} (letters, digits, '.', '_', '-')")
    return check_unique_name(unique, option)


def check_display_name(value: str, option: str | None = None) -> str:
    """An application's display name: not blank, at most 256 characters; ``BadName``."""
    if not (value or "").strip():
        raise _refuse("BadName", option, "is empty", "give the application's display name")
    if len(value) > DISPLAY_NAME_MAX:
        raise _refuse("BadName", option, f"is longer than {DISPLAY_NAME_MAX} characters",
                      f"use a display name of at most {DISPLAY_NAME_MAX} characters")
    return value


def check_sign_in_audience(value: str, option: str | None = None) -> str:
    """One of ``SIGN_IN_AUDIENCES``, in any case; returns the canonical spelling; ``BadSignInAudience``."""
    match = {a.lower(): a for a in SIGN_IN_AUDIENCES}.get((value or "").lower())
    if match is None:
        raise _refuse("BadSignInAudience", option, f"'{value}' is not a sign-in audience: use one of "
                      + ", ".join(SIGN_IN_AUDIENCES), "use one of " + ", ".join(SIGN_IN_AUDIENCES))
    return match


def check_app_ref(value: str, option: str = "APP") -> str:
    """An application named by client id, object id or unique name; ``MalformedGuid`` /
    ``BadAppReference``. A GUID is lower-cased."""
    value = (value or "").strip()
    if is_guid(value):
        return value.lower()
    if looks_like_guid(value) and len(value) >= 30:
        raise _refuse("MalformedGuid", option, f"'{value}' looks like a GUID but is malformed",
                      f"give the app's client id or object id as {GUID_FIX}, or its unique name")
    if not UNIQUE_NAME_RE.match(value):
        raise _refuse("BadAppReference", option, f"'{value}' is neither a GUID nor a valid unique name",
                      "give the client id, the object id or the unique name (letters, digits, "
                      "'.', '_', '-'; up to 120 characters)")
    return value


# --- APIs and permissions ---------------------------------------------------------------------
GRAPH_APP_ID = "00000003-0000-0000-c000-000000000000"
GRAPH_API_NAMES = {"microsoft graph", "graph", GRAPH_APP_ID}
# Each of these lets its holder grant itself any other permission or role, or impersonate anyone.
PRIVILEGED_GRAPH_ROLES = frozenset({
    "RoleManagement.ReadWrite.Directory", "RoleAssignmentSchedule.ReadWrite.Directory",
    "RoleEligibilitySchedule.ReadWrite.Directory", "RoleManagementPolicy.ReadWrite.Directory",
    "Application.ReadWrite.All", "AppRoleAssignment.ReadWrite.All",
    "DelegatedPermissionGrant.ReadWrite.All", "Directory.ReadWrite.All", "Domain.ReadWrite.All",
    "Policy.ReadWrite.PermissionGrant", "Policy.ReadWrite.ConditionalAccess",
    "Policy.ReadWrite.AuthenticationMethod", "UserAuthenticationMethod.ReadWrite.All",
    "PrivilegedAccess.ReadWrite.AzureADGroup", "PrivilegedAssignmentSchedule.ReadWrite.AzureADGroup",
    "PrivilegedEligibilitySchedule.ReadWrite.AzureADGroup", "IdentityProvider.ReadWrite.All",
    "Organization.ReadWrite.All",
})
_PRIVILEGED_LOWER = {r.lower(): r for r in PRIVILEGED_GRAPH_ROLES}


def is_graph_api(value: str | None) -> bool:
    return (value or "Microsoft Graph").strip().lower() in GRAPH_API_NAMES


def api_app_id(api: str | None, option: str | None = "--api") -> str:
    """"Microsoft Graph" (default) or the resource application's client id; ``MalformedGuid`` /
    ``BadApi``."""
    value = (api or "Microsoft Graph").strip()
    if value.lower() in GRAPH_API_NAMES:
        return GRAPH_APP_ID
    if is_guid(value):
        return value.lower()
    if looks_like_guid(value):
        raise _refuse("MalformedGuid", option, f"'{value}' is not a valid GUID",
                      f"give the API's client id (appId) as {GUID_FIX}, or \"Microsoft Graph\"")
    raise _refuse("BadApi", option, f"'{value}' is not \"Microsoft Graph\" nor a client id",
                  "give \"Microsoft Graph\" or the client id (appId) of the API")


def check_permission_ref(value: str, option: str | None = None) -> str:
    """A permission by name or id: what looks like an id must be a GUID; ``MalformedGuid``."""
    if not is_guid(value) and looks_like_guid(value):
        raise _refuse("MalformedGuid", option, f"'{value}' looks like a permission id but is not a valid GUID",
                      f"give the permission's name (e.g. User.Read.All) or its id as {GUID_FIX}")
    return value


def check_privileged_roles(names: Iterable[str], allow: bool) -> None:
    """Microsoft Graph application permissions that let the app take over the tenant are refused
    unless ``allow``; ``PrivilegedPermission``. Names compare without regard to case."""
    bad = sorted({_PRIVILEGED_LOWER[n.lower()] for n in names if n.lower() in _PRIVILEGED_LOWER})
    if bad and not allow:
        raise RuleError("PrivilegedPermission", "refusing to consent to privileged Microsoft Graph "
                        f"application permission{'s' if len(bad) > 1 else ''} {', '.join(bad)}: each "
                        "lets the app take over the tenant",
                        "request a narrower permission, or pass --allow-privileged (allow_privileged = "
                        "true in a file) if this is really intended")


# --- undeclared access (steps/undeclared.py) ----------------------------------------------------
UNDECLARED_CATEGORIES = ("owners", "federations", "permissions", "app_roles", "scopes", "credentials")


def check_undeclared_category(value: str, option: str | None = None) -> str:
    """One ``allow_undeclared`` value: a category of undeclared access (lower-cased);
    ``BadUndeclaredCategory``. A privileged Microsoft Graph role is never allowed this way."""
    name = (value or "").strip().lower()
    if name not in UNDECLARED_CATEGORIES:
        raise _refuse("BadUndeclaredCategory", option,
                      f"'{value}' is not a category of undeclared access",
                      f"use some of {', '.join(UNDECLARED_CATEGORIES)}")
    return name


# --- clouds -----------------------------------------------------------------------------------
CLOUDS = ("public", "usgov", "china", "custom")


def check_cloud(value: str, option: str | None = None) -> str:
    """One of ``CLOUDS``, in any case (as ``--cloud`` takes it); lower-cased; ``BadCloud``."""
    name = (value or "").strip().lower()
    if name not in CLOUDS:
        raise _refuse("BadCloud", option, f"'{value}' is not a cloud: use one of {', '.join(CLOUDS)}",
                      f"use one of: {', '.join(CLOUDS)}")
    return name


# --- federated identity credentials -----------------------------------------------------------
# Microsoft Graph: federatedIdentityCredential resource type.
FIC_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{2,119}$")
FIC_NAME_RULE = "3-120 characters: letters, digits, '-' and '_', starting with a letter or digit"
FIC_FIELD_MAX = 600                  # issuer, subject, each audience, description
MAX_FEDERATED_CREDENTIALS = 20       # per application


def check_fic_name(value: str, option: str | None = None) -> str:
    """A federated identity credential's name; ``InvalidName``."""
    if not FIC_NAME_RE.match(value or ""):
        raise _refuse("InvalidName", option, f"'{value}' breaks the federated credential naming rules: "
                      f"{FIC_NAME_RULE}", f"use {FIC_NAME_RULE}")
    return value


def check_https_url(value: str, option: str | None = None, what: str = "issuer") -> str:
    """An issuer URL: https://, at most 600 characters, no whitespace; ``BadFederation``."""
    value = value or ""
    if not value.startswith("https://") or len(value) <= len("https://") or len(value) > FIC_FIELD_MAX \
            or any(c.isspace() for c in value):
        raise _refuse("BadFederation", option, f"'{value}' is not an https:// URL of at most "
                      f"{FIC_FIELD_MAX} characters", f"give the {what} as https://...")
    return value


def _field(value: str | None, option: str | None, fix: str, *, blank_ok: bool = False) -> str:
    value = value or ""
    if not blank_ok and not value.strip():
        raise _refuse("BadFederation", option, "is empty", fix)
    if len(value) > FIC_FIELD_MAX:
        raise _refuse("BadFederation", option, f"is longer than {FIC_FIELD_MAX} characters", fix)
    return value


def check_subject(value: str, option: str | None = None) -> str:
    """A credential's subject: not blank, at most 600 characters; ``BadFederation``."""
    return _field(value, option, "give the exact subject")


def check_audience(value: str, option: str | None = None) -> str:
    """An audience: not blank, at most 600 characters; ``BadFederation``."""
    return _field(value, option, "give one audience value")


def check_description(value: str, option: str | None = None) -> str:
    """A description: at most 600 characters; ``BadFederation``."""
    return _field(value, option, "shorten it", blank_ok=True)


def check_credential_count(count: int) -> int:
    """At most 20 federated identity credentials per application;
    ``TooManyFederatedIdentityCredentials``."""
    if count > MAX_FEDERATED_CREDENTIALS:
        raise RuleError("TooManyFederatedIdentityCredentials",
                        f"{count} federated credentials: an application holds at most "
                        f"{MAX_FEDERATED_CREDENTIALS}",
                        "remove one you no longer need (entra-bootstrap federation list / remove), or "
                        "use another application")
    return count


# Kubernetes: object names and IDs.
K8S_LABEL_RE = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
K8S_SUBDOMAIN_RE = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")


def check_k8s_namespace(value: str, option: str | None = None) -> str:
    """A namespace: an RFC 1123 DNS label (1-63 lower-case letters, digits, '-'); ``BadFederation``."""
    value = value or ""
    if not K8S_LABEL_RE.match(value) or len(value) > 63:
        raise _refuse("BadFederation", option, f"'{value}' is not a Kubernetes namespace (a DNS label: "
                      "1-63 lower-case letters, digits and '-', starting and ending with a letter or digit)",
                      f"give {option or 'the namespace'} as lower-case letters, digits and '-'")
    return value


def check_k8s_service_account(value: str, option: str | None = None) -> str:
    """A service account name: a DNS subdomain (at most 253 characters); ``BadFederation``."""
    value = value or ""
    if not K8S_SUBDOMAIN_RE.match(value) or len(value) > 253:
        raise _refuse("BadFederation", option, f"'{value}' is not a Kubernetes service account name (a "
                      "DNS subdomain: lower-case letters, digits, '-' and '.', at most 253 characters)",
                      f"give {option or 'the service account'} as lower-case letters, digits, '-' and '.'")
    return value


# GitHub: an owner (user or organisation: letters, digits, '-'; at most 39) and a repository
# (letters, digits, '.', '_', '-'; at most 100).
GITHUB_REPO_RE = re.compile(r"^[A-Za-z0-9-]{1,39}/[A-Za-z0-9._-]{1,100}$")
check_github_repo = pattern("BadFederation", GITHUB_REPO_RE, "OWNER/REPO",
                            "an owner of letters, digits and '-', a repository of letters, digits, "
                            "'.', '_' and '-'", "e.g. contoso/infra")


# --- ARM names and ids ------------------------------------------------------------------------
IDENTITY_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{2,127}$")
RG_NAME_RE = re.compile(r"^[-\w._()]{1,90}$")
UAMI_TYPE = "Microsoft.ManagedIdentity/userAssignedIdentities"
UAMI_ID_RE = re.compile(r"/subscriptions/(?P<sub>[^/]+)/resourceGroups/(?P<rg>[^/]+)/providers/"
                        r"Microsoft\.ManagedIdentity/userAssignedIdentities/(?P<name>[^/]+)/?", re.I)
RESOURCE_ID_RE = re.compile(r"^/subscriptions/[^/]+/resourceGroups/[^/]+/providers/[^/]+/[^/]+/[^/]+$",
                            re.IGNORECASE)
UAMI_ID_FIX = "use /subscriptions/SUB/resourceGroups/RG/providers/Microsoft.ManagedIdentity/" \
              "userAssignedIdentities/NAME"
# Compute resources whose identity can be attached (file ``assign_to``): kind -> ARM type.
TARGET_KINDS = {"vm": "virtualMachines", "vmss": "virtualMachineScaleSets",
                "container-group": "containerGroups"}
SYSTEM_ASSIGNED_TYPES = {"microsoft.compute/virtualmachines": "virtual machine",
                         "microsoft.compute/virtualmachinescalesets": "virtual machine scale set",
                         "microsoft.containerinstance/containergroups": "container group"}
SYSTEM_ASSIGNED_EXPLANATION = (
    "only user-assigned managed identities can be federated with an application (Entra ID "
    "does not accept a system-assigned identity as a federated identity credential); create a "
    "user-assigned identity (entra-bootstrap identity create NAME -g RG), attach it to the compute "
    "(entra-bootstrap identity enable ... --user-assigned NAME) and federate that one")


def check_identity_name(value: str, option: str | None = None) -> str:
    """A user-assigned identity's name; ``InvalidResourceName``."""
    if not IDENTITY_NAME_RE.match(value or ""):
        raise _refuse("InvalidResourceName", option, f"'{value}' breaks the naming rules of user-assigned "
                      "identities: 3-128 characters, letters, digits, '-' and '_', starting with a letter "
                      "or digit", "use 3-128 letters, digits, '-' or '_', starting with a letter or digit",
                      object=f"user-assigned identity '{value}'")
    return value


def check_resource_group(value: str, option: str | None = None) -> str:
    """A resource group name; ``BadResourceGroup``."""
    if not value or not RG_NAME_RE.match(value) or value.endswith("."):
        raise _refuse("BadResourceGroup", option, f"'{value}' is not a valid resource group name (1-90 "
                      "characters: letters, digits, '_', '-', '.', '(' and ')')",
                      "resource group names are 1-90 letters, digits, '_', '-', '.', '(' or ')' "
                      "and do not end with '.'")
    return value


def resource_type(resource_id: str) -> str | None:
    """"namespace/type" of an ARM resource id, lower-cased, or None."""
    parts = (resource_id or "").strip("/").split("/")
    # subscriptions/S/resourceGroups/RG/providers/NS/TYPE/NAME
    if len(parts) >= 8 and parts[0].lower() == "subscriptions" and parts[4].lower() == "providers":
        return f"{parts[5]}/{parts[6]}".lower()
    return None


def split_identity_ref(value: str, resource_group: str | None = None,
                       option: str | None = None, *, need_group: bool = True) -> tuple[str | None, str | None, str]:
    """A user-assigned identity by resource id, or by name with ``resource_group``: (subscription
    or None, resource group, name); ``MalformedResourceId`` / ``InvalidResourceName`` /
    ``BadResourceGroup`` / ``MissingResourceGroup`` (unless not ``need_group``: a file's identity
    named by name gets its resource group from its ``[[identity]]`` entry)."""
    value = (value or "").strip()
    if value.startswith("/"):
        m = UAMI_ID_RE.fullmatch(value)
        if m is None:
            raise _refuse("MalformedResourceId", option, f"'{value}' is not a user-assigned identity "
                          "resource id", UAMI_ID_FIX + ", or a name with -g")
        if not is_guid(m["sub"]):
            raise _refuse("MalformedResourceId", option, f"'{m['sub']}' in '{value}' is not a subscription "
                          "id (a GUID)", "copy the id from `identity show` or the portal")
        return m["sub"], check_resource_group(m["rg"]), check_identity_name(m["name"])
    if "/" in value:
        raise _refuse("MalformedResourceId", option, f"'{value}' is neither an identity name nor a "
                      "resource id", "a resource id starts with /subscriptions/; a name has no '/'")
    check_identity_name(value, option)
    if not resource_group and not need_group:
        return None, None, value
    if not resource_group:
        raise _refuse("MissingResourceGroup", None, f"the user-assigned identity '{value}' is named "
                      "without its resource group", "pass -g RESOURCE_GROUP or the full resource id")
    return None, check_resource_group(resource_group), value


def check_managed_identity_ref(value: str, option: str | None = None) -> str:
    """A user-assigned identity to federate, offline: refuse compute resource ids (their identity is
    system-assigned: ``SystemAssignedIdentity``), other resource ids (``MalformedResourceId``) and
    malformed principal ids (``MalformedGuid``). Names are checked where they are resolved."""
    value = (value or "").strip()
    if value.startswith("/"):
        rtype = resource_type(value)
        if rtype in SYSTEM_ASSIGNED_TYPES:
            raise _refuse("SystemAssignedIdentity", option, f"'{value}' is a {SYSTEM_ASSIGNED_TYPES[rtype]}: "
                          "its identity is system-assigned and cannot be federated",
                          SYSTEM_ASSIGNED_EXPLANATION)
        if rtype != UAMI_TYPE.lower():
            raise _refuse("MalformedResourceId", option, f"'{value}' is not a user-assigned identity "
                          "resource id", UAMI_ID_FIX + ", or NAME with -g")
    elif not is_guid(value) and looks_like_guid(value) and len(value) >= 30:
        raise _refuse("MalformedGuid", option, f"'{value}' looks like a principal id but is not a valid GUID",
                      f"give the identity's principal id as {GUID_FIX}, or its name with -g")
    return value


def check_identity_ref(value: str, resource_group: str | None = None, option: str | None = None, *,
                       need_group: bool = True) -> str:
    """A user-assigned identity by principal id (a GUID), resource id or name (an owner): the
    checks of ``split_identity_ref``, and ``MalformedGuid`` for what looks like a broken GUID."""
    value = (value or "").strip()
    if is_guid(value):
        return value
    if looks_like_guid(value) and len(value) >= 30:
        raise _refuse("MalformedGuid", option, f"'{value}' looks like a principal id but is not a valid GUID",
                      f"give the identity's principal id as {GUID_FIX}, its resource id or its name with -g")
    split_identity_ref(value, resource_group, option, need_group=need_group)
    return value


def parse_target(ref: str, default_rg: str | None) -> tuple[str, str, str | None, str | None]:
    """A compute target ``vm:NAME`` / ``vmss:NAME`` / ``container-group:NAME`` or the resource id of
    one: (kind, name, resource group, resource id or None); ``MalformedResourceId`` / ``BadTarget``."""
    if ref.startswith("/"):
        if not RESOURCE_ID_RE.match(ref):
            raise RuleError("MalformedResourceId", f"'{ref}' is not a resource id of the form /subscriptions/"
                            "SUB/resourceGroups/RG/providers/Microsoft.Compute/virtualMachines/NAME",
                            "copy the resource id from the portal or `az resource show`")
        parts = ref.split("/")
        rtype = parts[7].lower()
        kind = next((k for k, v in TARGET_KINDS.items() if v.lower() == rtype), None)
        if kind is None or parts[6].lower() not in ("microsoft.compute", "microsoft.containerinstance"):
            raise RuleError("BadTarget", f"'{ref}' is not a VM, scale set or container group",
                            "give the id of a VM, a scale set or a container group")
        return kind, parts[8], parts[4], ref
    kind, sep, name = ref.partition(":")
    if not sep or kind not in TARGET_KINDS or not name:
        raise RuleError("BadTarget", f"'{ref}' is not a target: use vm:NAME, vmss:NAME, "
                        "container-group:NAME or a resource id", "e.g. vm:myVM")
    return kind, name, default_rg, None


def parse_owner(ref: str) -> tuple[str, str]:
    """An owner in a file: ``identity:NAME`` / ``identity:RESOURCE_ID`` or ``principal:OBJECT_ID``
    (a bare GUID is a principal): (kind, value); ``BadOwner`` / ``MalformedGuid``."""
    kind, sep, value = ref.partition(":")
    if not sep:
        kind, value = ("principal", ref) if is_guid(ref) else ("", ref)
    if kind == "identity" and value:
        return "identity", check_identity_ref(value, need_group=False)
    if kind == "principal" and value:
        return "principal", check_guid(value, "an object id")
    raise RuleError("BadOwner", f"'{ref}' is not an owner: use identity:NAME (a user-assigned identity) "
                    "or principal:OBJECT_ID (a GUID)", "e.g. identity:my-identity")


# --- verify --call: where the app's Graph token may go ------------------------------------------------
def graph_call_url(value: str, graph: str, option: str | None = "--call") -> str:
    """A Microsoft Graph path (``/users``, ``v1.0/users``) or an https URL on the cloud's Graph host
    (``graph`` = its base, e.g. https://graph.microsoft.com): the full URL to GET. Anything else is
    ``BadCallTarget``: the app token was issued for Microsoft Graph and is never sent elsewhere."""
    from urllib.parse import urlsplit

    value = (value or "").strip()
    host = urlsplit(graph).netloc.lower()
    if "://" in value:
        parts = urlsplit(value)
        if parts.scheme.lower() != "https" or parts.netloc.lower() != host:
            raise _refuse("BadCallTarget", option, f"'{value}' is not on Microsoft Graph ({host}): the app "
                          "token is issued for Microsoft Graph and is sent nowhere else",
                          f"give a Graph path (e.g. --call /organization) or an https://{host}/... URL")
        return value
    path = value.lstrip("/")
    if not path or path.lower() in ("v1.0", "beta"):
        raise _refuse("BadCallTarget", option, f"'{value}' names no Graph resource",
                      "give a Graph path, e.g. --call /organization")
    if not path.lower().startswith(("v1.0/", "beta/")):
        path = "v1.0/" + path
    return f"{graph.rstrip('/')}/{path}"


# --- Azure role assignments (steps/role_assignment.py) -------------------------------------------
# Sources: Azure RBAC: "Understand scope for Azure RBAC" (a scope is a subscription, a resource
# group or a resource id); "Understand Azure role definitions" (a role definition id is a GUID, in
# ids like /subscriptions/SUB/providers/Microsoft.Authorization/roleDefinitions/GUID); "Azure
# built-in roles" (role names: letters, digits, spaces and a few punctuation marks).
ROLE_NAME_MAX = 512
ROLE_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 ._()\-&,]*$")
ROLE_ID_RE = re.compile(r"^(?:/subscriptions/[^/]+)?/providers/Microsoft\.Authorization/roleDefinitions/"
                        r"(?P<guid>[^/]+)$", re.I)
SCOPE_FIX = ("use subscription, resource_group:NAME, or a resource id (/subscriptions/SUB/resourceGroups/"
             "RG/providers/NAMESPACE/TYPE/NAME)")
_SCOPE_RG_RE = re.compile(r"^/subscriptions/(?P<sub>[^/]+)(?:/resourceGroups/(?P<rg>[^/]+)"
                          r"(?P<rest>/providers/[^/]+(?:/[^/]+/[^/]+)+)?)?$", re.I)


def check_role(value: str, option: str | None = None) -> tuple[str, str]:
    """A role as the user names it: ("id", GUID) for a role definition id (a GUID or its full id),
    ("name", NAME) for a built-in or custom role's name (resolved against ARM before any write);
    ``BadRole`` / ``MalformedGuid``."""
    value = (value or "").strip()
    if is_guid(value):
        return "id", value.lower()
    m = ROLE_ID_RE.fullmatch(value)
    if m is not None:
        return "id", check_guid(m["guid"], "a role definition id", option).lower()
    if value.startswith("/") or not ROLE_NAME_RE.fullmatch(value) or len(value) > ROLE_NAME_MAX:
        raise _refuse("BadRole", option, f"'{value}' is neither a role name nor a role definition id",
                      "give a role name such as Reader or 'Storage Blob Data Reader', or a role definition "
                      "id (a GUID, or /subscriptions/SUB/providers/Microsoft.Authorization/roleDefinitions/"
                      "GUID)")
    return "name", value


def check_role_scope(value: str, option: str | None = None) -> tuple[str, str | None]:
    """Where a role is assigned: ("subscription", None), ("resource_group", NAME) or ("id", the
    resource id of a subscription, resource group or resource); ``BadScope``."""
    value = (value or "").strip()
    if value.lower() == "subscription":
        return "subscription", None
    kind, sep, name = value.partition(":")
    if sep and kind.lower() == "resource_group":
        try:
            return "resource_group", check_resource_group(name)
        except RuleError as err:
            raise _refuse("BadScope", option, f"'{value}': {err.message}", err.fix) from None
    if value.startswith("/"):
        m = _SCOPE_RG_RE.fullmatch(value.rstrip("/"))
        if m is None or not is_guid(m["sub"]):
            raise _refuse("BadScope", option, f"'{value}' is not the id of a subscription, resource group "
                          "or resource", SCOPE_FIX)
        if m["rg"]:
            try:
                check_resource_group(m["rg"])
            except RuleError as err:
                raise _refuse("BadScope", option, f"'{value}': {err.message}", err.fix) from None
        return "id", value.rstrip("/")
    raise _refuse("BadScope", option, f"'{value}' is not a scope", SCOPE_FIX)


def check_role_assignment(entry: dict) -> Iterable[tuple[str | None, RuleError]]:
    """The problems of one ``[[identity.role_assignment]]`` / ``[[app.role_assignment]]`` table."""
    for key, rule in (("role", check_role), ("scope", check_role_scope)):
        if key in entry:
            try:
                rule(entry[key])
            except RuleError as err:
                yield key, err
