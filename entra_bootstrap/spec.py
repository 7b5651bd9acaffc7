"""The bootstrap file: desired state as frozen dataclasses, validated before the first request.

A TOML file declares ``[[identity]]`` and ``[[app]]`` entries (with ``[[app.permission]]`` and
``[[app.federation]]``) plus optional top-level ``tenant``, ``subscription`` and ``cloud``.
``load_spec`` parses it and runs every offline check at once — unknown keys, wrong types, unknown
Microsoft Graph permission names, references to identities that are not declared, duplicate
names, malformed ids — and raises one ``SpecError`` listing every problem with its file, line and
key. Checks that need Azure (an identity referenced but not declared must exist; a permission of
another API) run in the plan's observe phase, still before any write.

NOTE: tomllib gives no positions, so ``_LineIndex`` maps each key path to its line by reading
the file's table headers and ``key =`` lines (the TOML subset such files use).
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from difflib import get_close_matches
from pathlib import Path
from typing import Any, Callable, Iterable

GRAPH_API_NAMES = {"microsoft graph", "graph", "00000003-0000-0000-c000-000000000000"}
CLOUDS = ("public", "usgov", "china", "custom")
TARGET_KINDS = {"vm": "virtualMachines", "vmss": "virtualMachineScaleSets",
                "container-group": "containerGroups"}
GUID_RE = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
FIC_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{2,119}$")
IDENTITY_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{2,127}$")
RG_NAME_RE = re.compile(r"^[-\w._()]{1,90}$")
UNIQUE_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,119}$")
RESOURCE_ID_RE = re.compile(r"^/subscriptions/[^/]+/resourceGroups/[^/]+/providers/[^/]+/[^/]+/[^/]+$",
                            re.IGNORECASE)


# --- the desired state -----------------------------------------------------------------------
@dataclass(frozen=True)
class Target:
    """A compute resource an identity is attached to: ``vm:NAME`` or a resource id."""

    kind: str                      # vm | vmss | container-group
    name: str
    resource_group: str | None     # None when given as a resource id (then it is in the id)
    resource_id: str | None = None

    @property
    def label(self) -> str:
        return f"{self.kind}:{self.name}"


@dataclass(frozen=True)
class IdentitySpec:
    name: str
    resource_group: str
    location: str | None = None
    assign_to: tuple[Target, ...] = ()
    tags: tuple[tuple[str, str], ...] = ()
    line: int | None = None


@dataclass(frozen=True)
class PermissionSpec:
    api: str                       # "Microsoft Graph" or an appId
    roles: tuple[str, ...] = ()
    scopes: tuple[str, ...] = ()

    @property
    def is_graph(self) -> bool:
        return self.api.lower() in GRAPH_API_NAMES


@dataclass(frozen=True)
class FederationSpec:
    """One federated identity credential; exactly one source kind is set.

    The same record serves the file and ``federation add`` (steps/federation.py); there ``name``
    may be None (a deterministic one is derived) and ``resource_group`` says where a managed
    identity given by name lives."""

    name: str | None = None
    managed_identity: str | None = None
    resource_group: str | None = None          # of a managed identity given by name
    github: str | None = None
    branch: str | None = None
    environment: str | None = None
    tag: str | None = None
    pull_request: bool = False
    kubernetes_issuer: str | None = None
    namespace: str | None = None
    service_account: str | None = None
    azure_devops: bool = False
    issuer: str | None = None
    subject: str | None = None
    audience: str | None = None
    description: str | None = None


@dataclass(frozen=True)
class OwnerRef:
    kind: str                      # identity | principal
    value: str


@dataclass(frozen=True)
class AppSpec:
    unique_name: str
    display_name: str
    sign_in_audience: str | None = None
    owners: tuple[OwnerRef, ...] = ()
    consent: bool = False
    allow_privileged: bool = False
    permissions: tuple[PermissionSpec, ...] = ()
    federations: tuple[FederationSpec, ...] = ()
    line: int | None = None


@dataclass(frozen=True)
class Spec:
    path: str
    tenant: str | None = None
    subscription: str | None = None
    cloud: str | None = None
    identities: tuple[IdentitySpec, ...] = ()
    apps: tuple[AppSpec, ...] = ()

    def identity(self, name: str) -> IdentitySpec | None:
        return next((i for i in self.identities if i.name.lower() == name.lower()), None)


# --- errors ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Problem:
    file: str
    line: int | None
    key: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where}: {self.key}: {self.message}"


class SpecError(Exception):
    """Every problem of a bootstrap file, found before any request."""

    def __init__(self, problems: list[Problem]):
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


# --- line index ------------------------------------------------------------------------------
_HEADER_RE = re.compile(r"^\s*(\[\[?)\s*([A-Za-z0-9_.\-\"' ]+?)\s*\]\]?\s*(#.*)?$")
_KEY_RE = re.compile(r"^\s*([A-Za-z0-9_\-\"']+(?:\s*\.\s*[A-Za-z0-9_\-\"']+)*)\s*=")


class _LineIndex:
    """Maps a key path like ("app", 0, "permission", 1, "roles") to its line number."""

    def __init__(self, text: str):
        self.lines: dict[tuple, int] = {}
        counters: dict[tuple, int] = {}
        current: tuple = ()
        depth = 0   # open brackets of a multi-line array value: its lines are not keys
        for number, raw in enumerate(text.splitlines(), start=1):
            line = _strip_comment(raw)
            if depth > 0:
                depth = max(0, depth + line.count("[") - line.count("]"))
                continue
            header = _HEADER_RE.match(line)
            if header:
                names = tuple(n.strip().strip("\"'") for n in header.group(2).split("."))
                current = self._resolve(names, counters, is_array=header.group(1) == "[[")
                self.lines.setdefault(current, number)
                continue
            key = _KEY_RE.match(line)
            if key:
                names = tuple(n.strip().strip("\"'") for n in key.group(1).split("."))
                self.lines.setdefault(current + names, number)
                rest = line[key.end():]
                depth = max(0, rest.count("[") - rest.count("]"))

    def _resolve(self, names: tuple, counters: dict, is_array: bool) -> tuple:
        path: tuple = ()
        for i, name in enumerate(names):
            path += (name,)
            last = i == len(names) - 1
            if last and is_array:
                counters[path] = counters.get(path, -1) + 1
                # a new [[app]] restarts the numbering of its [[app.permission]] children
                for key in [k for k in counters if len(k) > len(path) and k[:len(path)] == path]:
                    del counters[key]
                path += (counters[path],)
            elif path in counters:
                path += (counters[path],)
        return path

    def line_of(self, path: tuple) -> int | None:
        while path:
            if path in self.lines:
                return self.lines[path]
            path = path[:-1]
        return None


def _strip_comment(line: str) -> str:
    out, quote = [], None
    for ch in line:
        if quote:
            if ch == quote:
                quote = None
        elif ch in "\"'":
            quote = ch
        elif ch == "#":
            break
        out.append(ch)
    return "".join(out)


def _key_text(path: tuple) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else part)
    return out


# --- the loader ------------------------------------------------------------------------------
PermissionLookup = Callable[[str, str], bool]      # (name or id, "Role"|"Scope") -> known?


class _Reader:
    """Walks the parsed document, collecting every problem instead of stopping at the first."""

    def __init__(self, path: str, text: str, known_permission: PermissionLookup | None,
                 permission_names: Iterable[str]):
        self.file = path
        self.index = _LineIndex(text)
        self.problems: list[Problem] = []
        self.known_permission = known_permission
        self.permission_names = sorted(set(permission_names))

    def problem(self, path: tuple, message: str) -> None:
        self.problems.append(Problem(self.file, self.index.line_of(path), _key_text(path), message))

    def table(self, value: Any, path: tuple, allowed: dict[str, str], required: Iterable[str] = ()) -> dict:
        if not isinstance(value, dict):
            self.problem(path, "must be a table")
            return {}
        for key in value:
            if key not in allowed:
                close = get_close_matches(key, list(allowed), n=1)
                hint = f" (did you mean '{close[0]}'?)" if close else \
                    f" (allowed: {', '.join(sorted(allowed))})"
                self.problem(path + (key,), f"unknown key{hint}")
        for key in required:
            if key not in value:
                self.problem(path, f"missing required key '{key}'")
        for key, kind in allowed.items():
            if key in value and not _is(value[key], kind):
                self.problem(path + (key,), f"must be {_KIND_TEXT[kind]}")
        return {k: v for k, v in value.items() if k in allowed and _is(v, allowed[k])}

    def array_of_tables(self, doc: dict, key: str, path: tuple) -> list[dict]:
        value = doc.get(key, [])
        if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
            self.problem(path + (key,), f"must be an array of tables ([[{_key_text(path + (key,))}]])")
            return []
        return value

    # --- entries -----------------------------------------------------------------------------
    def identity(self, raw: dict, path: tuple) -> IdentitySpec | None:
        d = self.table(raw, path, {"name": "str", "resource_group": "str", "location": "str",
                                   "assign_to": "strs", "tags": "strmap"},
                       required=("name", "resource_group"))
        if "name" not in d or "resource_group" not in d:
            return None
        if not IDENTITY_NAME_RE.match(d["name"]):
            self.problem(path + ("name",), f"'{d['name']}' breaks the naming rules of user-assigned "
                         "identities: 3-128 characters, letters, digits, '-' and '_', starting with a "
                         "letter or digit")
        if not RG_NAME_RE.match(d["resource_group"]) or d["resource_group"].endswith("."):
            self.problem(path + ("resource_group",), f"'{d['resource_group']}' is not a valid resource "
                         "group name (1-90 characters: letters, digits, '_', '-', '.', '(' and ')')")
        targets = []
        for i, ref in enumerate(d.get("assign_to", [])):
            target = self.target(ref, path + ("assign_to", i), d["resource_group"])
            if target:
                targets.append(target)
        seen = set()
        for i, t in enumerate(targets):
            key = (t.kind, t.name.lower(), (t.resource_group or "").lower())
            if key in seen:
                self.problem(path + ("assign_to", i), f"'{t.label}' is listed twice")
            seen.add(key)
        return IdentitySpec(name=d["name"], resource_group=d["resource_group"],
                            location=d.get("location"), assign_to=tuple(targets),
                            tags=tuple(sorted(d.get("tags", {}).items())),
                            line=self.index.line_of(path))

    def target(self, ref: str, path: tuple, default_rg: str) -> Target | None:
        if ref.startswith("/"):
            if not RESOURCE_ID_RE.match(ref):
                self.problem(path, f"'{ref}' is not a resource id of the form /subscriptions/SUB/"
                             "resourceGroups/RG/providers/Microsoft.Compute/virtualMachines/NAME")
                return None
            parts = ref.split("/")
            rtype = parts[7].lower()
            kind = next((k for k, v in TARGET_KINDS.items() if v.lower() == rtype), None)
            if kind is None or parts[6].lower() not in ("microsoft.compute", "microsoft.containerinstance"):
                self.problem(path, f"'{ref}' is not a VM, scale set or container group")
                return None
            return Target(kind=kind, name=parts[8], resource_group=parts[4], resource_id=ref)
        kind, sep, name = ref.partition(":")
        if not sep or kind not in TARGET_KINDS or not name:
            self.problem(path, f"'{ref}' is not a target: use vm:NAME, vmss:NAME, "
                         "container-group:NAME or a resource id")
            return None
        return Target(kind=kind, name=name, resource_group=default_rg)

    def app(self, raw: dict, path: tuple) -> AppSpec | None:
        d = self.table(raw, path, {"unique_name": "str", "display_name": "str",
                                   "sign_in_audience": "str", "owners": "strs", "consent": "bool",
                                   "allow_privileged": "bool", "permission": "tables",
                                   "federation": "tables"},
                       required=("unique_name",))
        if "unique_name" not in d:
            return None
        if not UNIQUE_NAME_RE.match(d["unique_name"]):
            self.problem(path + ("unique_name",), f"'{d['unique_name']}' is not a valid unique name: "
                         "1-120 characters, letters, digits, '.', '-' and '_'")
        audiences = ("AzureADMyOrg", "AzureADMultipleOrgs", "AzureADandPersonalMicrosoftAccount",
                     "PersonalMicrosoftAccount")
        if "sign_in_audience" in d and d["sign_in_audience"] not in audiences:
            self.problem(path + ("sign_in_audience",), f"must be one of {', '.join(audiences)}")
        owners = tuple(o for i, ref in enumerate(d.get("owners", []))
                       if (o := self.owner(ref, path + ("owners", i))))
        perms = tuple(p for i, raw_p in enumerate(d.get("permission", []))
                      if (p := self.permission(raw_p, path + ("permission", i))))
        feds = tuple(f for i, raw_f in enumerate(d.get("federation", []))
                     if (f := self.federation(raw_f, path + ("federation", i))))
        self.duplicates([f.name for f in feds], path + ("federation",), "name")
        if len(feds) > 20:
            self.problem(path + ("federation",), f"{len(feds)} federated credentials: an application "
                         "holds at most 20")
        return AppSpec(unique_name=d["unique_name"], display_name=d.get("display_name", d["unique_name"]),
                       sign_in_audience=d.get("sign_in_audience"), owners=owners,
                       consent=d.get("consent", False), allow_privileged=d.get("allow_privileged", False),
                       permissions=perms, federations=feds, line=self.index.line_of(path))

    def owner(self, ref: str, path: tuple) -> OwnerRef | None:
        kind, sep, value = ref.partition(":")
        if not sep:
            kind, value = ("principal", ref) if GUID_RE.match(ref) else ("", ref)
        if kind == "identity" and value:
            return OwnerRef("identity", value)
        if kind == "principal" and GUID_RE.match(value):
            return OwnerRef("principal", value.lower())
        self.problem(path, f"'{ref}' is not an owner: use identity:NAME (a user-assigned identity) "
                     "or principal:OBJECT_ID (a GUID)")
        return None

    def permission(self, raw: dict, path: tuple) -> PermissionSpec | None:
        d = self.table(raw, path, {"api": "str", "roles": "strs", "scopes": "strs"})
        api = d.get("api", "Microsoft Graph")
        if api.lower() not in GRAPH_API_NAMES and not GUID_RE.match(api):
            self.problem(path + ("api",), f"'{api}' is not an API: use \"Microsoft Graph\" or the "
                         "application (client) id of the API, a GUID")
            return None
        spec = PermissionSpec(api=api, roles=tuple(d.get("roles", ())), scopes=tuple(d.get("scopes", ())))
        if not spec.roles and not spec.scopes:
            self.problem(path, "names no permission: add roles = [...] or scopes = [...]")
        if spec.is_graph and self.known_permission is not None:
            for key, kind in (("roles", "Role"), ("scopes", "Scope")):
                for i, name in enumerate(getattr(spec, key)):
                    if not self.known_permission(name, kind):
                        self.problem(path + (key, i), self.unknown_permission(name, kind))
        for key in ("roles", "scopes"):
            self.duplicates(list(getattr(spec, key)), path + (key,), None)
        return spec

    def unknown_permission(self, name: str, kind: str) -> str:
        what = "an application permission (app role)" if kind == "Role" else "a delegated permission (scope)"
        other = "Scope" if kind == "Role" else "Role"
        if self.known_permission is not None and self.known_permission(name, other):
            move = "scopes" if other == "Scope" else "roles"
            return (f"'{name}' is not {what} of Microsoft Graph; it is a "
                    f"{'delegated permission' if other == 'Scope' else 'application permission'}: "
                    f"list it under {move}")
        close = get_close_matches(name, self.permission_names, n=3, cutoff=0.6)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        return f"'{name}' is not {what} of Microsoft Graph{hint}"

    def federation(self, raw: dict, path: tuple) -> FederationSpec | None:
        d = self.table(raw, path, {
            "name": "str", "managed_identity": "str", "github": "str", "branch": "str",
            "environment": "str", "tag": "str", "pull_request": "bool", "kubernetes_issuer": "str",
            "namespace": "str", "service_account": "str", "azure_devops": "bool", "issuer": "str",
            "subject": "str", "audience": "str", "description": "str"}, required=("name",))
        if "name" not in d:
            return None
        if not FIC_NAME_RE.match(d["name"]):
            self.problem(path + ("name",), f"'{d['name']}' breaks the federated credential naming rules: "
                         "3-120 characters, letters, digits, '-' and '_', starting with a letter or digit")
        sources = [k for k in ("managed_identity", "github", "kubernetes_issuer") if k in d]
        if d.get("azure_devops"):
            sources.append("azure_devops")
        if not sources and not ("issuer" in d and "subject" in d):
            self.problem(path, "says nothing to trust: set managed_identity, github, kubernetes_issuer "
                         "(with namespace and service_account), azure_devops (with issuer and subject), "
                         "or issuer and subject")
        elif len(sources) > 1:
            self.problem(path, f"sets {' and '.join(sources)}: choose one")
        if "github" in d:
            if not re.match(r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$", d["github"]):
                self.problem(path + ("github",), f"'{d['github']}' is not OWNER/REPO")
            chosen = [k for k in ("branch", "environment", "tag") if k in d] + \
                (["pull_request"] if d.get("pull_request") else [])
            if len(chosen) != 1:
                self.problem(path, "a github credential needs exactly one of branch, environment, tag "
                             "or pull_request = true")
        if "kubernetes_issuer" in d and not ("namespace" in d and "service_account" in d):
            self.problem(path, "a kubernetes credential needs namespace and service_account")
        if d.get("azure_devops") and not ("issuer" in d and "subject" in d):
            self.problem(path, "an azure_devops credential needs issuer and subject (from the service "
                         "connection)")
        for key in ("issuer", "subject"):
            if len(d.get(key, "")) > 600:
                self.problem(path + (key,), "is longer than 600 characters")
        return FederationSpec(**d)

    def duplicates(self, names: list[str], path: tuple, key: str | None) -> None:
        seen: set[str] = set()
        for i, name in enumerate(names):
            if name.lower() in seen:
                where = path + (i, key) if key else path + (i,)
                self.problem(where, f"'{name}' is declared twice")
            seen.add(name.lower())


_KIND_TEXT = {"str": "a string", "strs": "an array of strings", "bool": "true or false",
              "strmap": "a table of strings", "tables": "an array of tables"}


def _is(value: Any, kind: str) -> bool:
    if kind == "str":
        return isinstance(value, str) and value != ""
    if kind == "strs":
        return isinstance(value, list) and all(isinstance(v, str) and v for v in value)
    if kind == "bool":
        return isinstance(value, bool)
    if kind == "strmap":
        return isinstance(value, dict) and all(isinstance(v, str) for v in value.values())
    if kind == "tables":
        return isinstance(value, list) and all(isinstance(v, dict) for v in value)
    raise AssertionError(kind)


def default_permission_lookup() -> tuple[PermissionLookup, list[str]]:
    """Offline Graph permission check against the packaged catalog (names or ids)."""
    from entra_bootstrap.permissions_catalog import graph_permissions

    rows = graph_permissions()
    known = {(name.lower(), kind) for name, kind, _, _ in rows} | {(pid, kind) for _, kind, pid, _ in rows}
    return (lambda name, kind: (name.lower(), kind) in known), [r[0] for r in rows]


def parse_spec(text: str, path: str = "<string>", known_permission: PermissionLookup | None = None,
               permission_names: Iterable[str] = ()) -> Spec:
    """Parse and validate; raise ``SpecError`` with every problem found."""
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        m = re.search(r"line (\d+)", str(exc))
        raise SpecError([Problem(path, int(m.group(1)) if m else None, "(syntax)",
                                 f"not valid TOML: {exc}")]) from None
    r = _Reader(path, text, known_permission, permission_names)
    top = r.table(doc, (), {"tenant": "str", "subscription": "str", "cloud": "str",
                            "identity": "tables", "app": "tables"})
    if "cloud" in top and top["cloud"] not in CLOUDS:
        r.problem(("cloud",), f"'{top['cloud']}' is not a cloud: use one of {', '.join(CLOUDS)}")
    for key in ("tenant", "subscription"):
        if key in top and not GUID_RE.match(top[key]):
            r.problem((key,), f"'{top[key]}' is not a GUID")
    identities = [i for n, raw in enumerate(top.get("identity", []))
                  if (i := r.identity(raw, ("identity", n)))]
    apps = [a for n, raw in enumerate(top.get("app", [])) if (a := r.app(raw, ("app", n)))]
    r.duplicates([i.name for i in identities], ("identity",), "name")
    r.duplicates([a.unique_name for a in apps], ("app",), "unique_name")
    _check_references(r, identities, apps)
    if not identities and not apps:
        r.problem((), "declares nothing: add [[identity]] or [[app]] entries")
    if r.problems:
        raise SpecError(r.problems)
    return Spec(path=path, tenant=top.get("tenant"), subscription=top.get("subscription"),
                cloud=top.get("cloud"), identities=tuple(identities), apps=tuple(apps))


def _check_references(r: _Reader, identities: list[IdentitySpec], apps: list[AppSpec]) -> None:
    """An identity named by bare name must be declared in the file; a resource id may exist outside."""
    declared = {i.name.lower() for i in identities}

    def check(name: str, path: tuple) -> None:
        if not name.startswith("/") and name.lower() not in declared:
            r.problem(path, f"identity '{name}' is not declared in this file: add an [[identity]] "
                      "entry with that name, or give the identity's full resource id")

    for n, app in enumerate(apps):
        for i, owner in enumerate(app.owners):
            if owner.kind == "identity":
                check(owner.value, ("app", n, "owners", i))
        for i, fed in enumerate(app.federations):
            if fed.managed_identity:
                check(fed.managed_identity, ("app", n, "federation", i, "managed_identity"))


def load_spec(path: str | Path) -> Spec:
    p = Path(path)
    try:
        text = p.read_text()
    except FileNotFoundError:
        raise SpecError([Problem(str(p), None, "(file)", "no such file: check the path given to -f")]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise SpecError([Problem(str(p), None, "(file)", f"cannot be read: {exc}")]) from None
    known, names = default_permission_lookup()
    return parse_spec(text, str(p), known, names)
