"""Reading a bootstrap file: TOML to ``Spec``, every problem with its file, line, key and code.

``load_spec`` parses the file and runs every offline check at once — unknown keys, wrong types,
unknown Microsoft Graph permission names, references to identities that are not declared,
duplicate names, and every rule of spec/rules.py (the very functions the flags use; federation
entries through the sources of spec/sources.py) — and raises one ``SpecError`` listing every
problem. Checks that need Azure (an identity referenced but not declared must exist; a permission
of another API) run in the plan's observe phase, still before any write.

NOTE: tomllib gives no positions, so ``_LineIndex`` maps each key path to its line by reading
the file's table headers and ``key =`` lines (the TOML subset such files use).
"""

from __future__ import annotations

import functools
import re
import tomllib
from dataclasses import dataclass
from difflib import get_close_matches
from pathlib import Path
from typing import Any, Callable, Iterable

from . import rules, sources
from .model import AppSpec, FederationSpec, IdentitySpec, OwnerRef, PermissionSpec, Section, Spec, Target
from .rules import RuleError


# --- errors ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Problem:
    """One problem of a file: where (file, line, key), what (message) and its error ``code`` (the
    code the flags report for the same input), and the fix when the rule gives one."""

    file: str
    line: int | None
    key: str
    message: str
    code: str = "BadInput"
    fix: str | None = None

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
                 permission_names: Iterable[str], sections: Iterable[Section] = (),
                 allow_privileged: bool = False):
        self.sections = tuple(sections)
        self.allow_privileged = allow_privileged
        self.file = path
        self.index = _LineIndex(text)
        self.problems: list[Problem] = []
        self.known_permission = known_permission
        self.permission_names = sorted(set(permission_names))

    def problem(self, path: tuple, message: str, code: str = "BadInput", fix: str | None = None) -> None:
        self.problems.append(Problem(self.file, self.index.line_of(path), _key_text(path), message,
                                     code, fix))

    def refused(self, path: tuple, err: RuleError) -> None:
        self.problem(path, err.message, err.code, err.fix)

    def rule(self, path: tuple, rule: Callable[..., Any], *args: Any) -> Any:
        """``rule(*args)``'s value, or None with its verdict recorded as a problem at ``path``."""
        try:
            return rule(*args)
        except RuleError as err:
            self.refused(path, err)
            return None

    def table(self, value: Any, path: tuple, allowed: dict[str, str], required: Iterable[str] = ()) -> dict:
        if not isinstance(value, dict):
            self.problem(path, "must be a table", "WrongType")
            return {}
        for key in value:
            if key not in allowed:
                close = get_close_matches(key, list(allowed), n=1)
                hint = f" (did you mean '{close[0]}'?)" if close else \
                    f" (allowed: {', '.join(sorted(allowed))})"
                self.problem(path + (key,), f"unknown key{hint}", "UnknownKey")
        for key in required:
            if key not in value:
                self.problem(path, f"missing required key '{key}'", "MissingKey")
        for key, kind in allowed.items():
            if key in value and not _is(value[key], kind):
                self.problem(path + (key,), f"must be {_KIND_TEXT[kind]}", "WrongType")
        return {k: v for k, v in value.items() if k in allowed and _is(v, allowed[k])}

    # --- sections declared by step kinds -------------------------------------------------------
    def declared(self, parent: str) -> dict[str, str]:
        return {s.key: "tables" for s in self.sections if s.parent == parent}

    def parts(self, parent: str, d: dict, path: tuple) -> tuple[tuple[str, tuple[dict, ...]], ...]:
        """The checked tables of each section a step kind declared under ``parent``."""
        out = []
        for section in (s for s in self.sections if s.parent == parent and s.key in d):
            entries = []
            for i, raw in enumerate(d[section.key]):
                where = path + (section.key, i)
                entry = self.table(raw, where, dict(section.keys), section.required)
                if self.allow_privileged and section.keys.get("allow_privileged") == "bool":
                    entry["allow_privileged"] = True       # the run's --allow-privileged, as for [[app]]
                for key, err in (section.check(entry) if section.check else ()):
                    self.refused(where + ((key,) if key else ()), err)
                entries.append(entry)
            out.append((section.key, tuple(entries)))
        return tuple(out)

    # --- entries -----------------------------------------------------------------------------
    def identity(self, raw: dict, path: tuple) -> IdentitySpec | None:
        d = self.table(raw, path, {"name": "str", "resource_group": "str", "location": "str",
                                   "assign_to": "strs", "tags": "strmap", "protect": "bool",
                                   **self.declared("identity")},
                       required=("name", "resource_group"))
        if "name" not in d or "resource_group" not in d:
            return None
        self.rule(path + ("name",), rules.check_identity_name, d["name"])
        self.rule(path + ("resource_group",), rules.check_resource_group, d["resource_group"])
        targets = []
        for i, ref in enumerate(d.get("assign_to", [])):
            parsed = self.rule(path + ("assign_to", i), rules.parse_target, ref, d["resource_group"])
            if parsed:
                targets.append(Target(*parsed))
        seen = set()
        for i, t in enumerate(targets):
            key = (t.kind, t.name.lower(), (t.resource_group or "").lower())
            if key in seen:
                self.problem(path + ("assign_to", i), f"'{t.label}' is listed twice", "Duplicate")
            seen.add(key)
        return IdentitySpec(name=d["name"], resource_group=d["resource_group"],
                            location=d.get("location"), assign_to=tuple(targets),
                            tags=tuple(sorted(d.get("tags", {}).items())), protect=d.get("protect", False),
                            line=self.index.line_of(path), parts=self.parts("identity", d, path))

    def app(self, raw: dict, path: tuple) -> AppSpec | None:
        d = self.table(raw, path, {"unique_name": "str", "display_name": "str",
                                   "sign_in_audience": "str", "owners": "strs", "consent": "bool",
                                   "allow_privileged": "bool", "permission": "tables",
                                   "federation": "tables", "protect": "bool",
                                   "allow_undeclared": "strs", **self.declared("app")},
                       required=("unique_name",))
        if "unique_name" not in d:
            return None
        self.rule(path + ("unique_name",), rules.check_unique_name, d["unique_name"])
        if "display_name" in d:
            self.rule(path + ("display_name",), rules.check_display_name, d["display_name"])
        audience = None
        if "sign_in_audience" in d:
            audience = self.rule(path + ("sign_in_audience",), rules.check_sign_in_audience,
                                 d["sign_in_audience"])
        owners = tuple(o for i, ref in enumerate(d.get("owners", []))
                       if (o := self.owner(ref, path + ("owners", i))))
        perms = tuple(p for i, raw_p in enumerate(d.get("permission", []))
                      if (p := self.permission(raw_p, path + ("permission", i))))
        feds = tuple(f for i, raw_f in enumerate(d.get("federation", []))
                     if (f := self.federation(raw_f, path + ("federation", i))))
        self.duplicates([f.name for f in feds], path + ("federation",), "name")
        self.rule(path + ("federation",), rules.check_credential_count, len(feds))
        allow_undeclared = tuple(c for i, v in enumerate(d.get("allow_undeclared", []))
                                 if (c := self.rule(path + ("allow_undeclared", i),
                                                    rules.check_undeclared_category, v)))
        allow = d.get("allow_privileged", False) or self.allow_privileged
        if d.get("consent", False):
            for i, perm in enumerate(perms):
                if perm.is_graph:
                    self.rule(path + ("permission", i, "roles"), rules.check_privileged_roles, perm.roles, allow)
        return AppSpec(unique_name=d["unique_name"], display_name=d.get("display_name", d["unique_name"]),
                       sign_in_audience=audience, owners=owners,
                       consent=d.get("consent", False), allow_privileged=allow,
                       permissions=perms, federations=feds, protect=d.get("protect", False),
                       allow_undeclared=allow_undeclared, line=self.index.line_of(path),
                       parts=self.parts("app", d, path))

    def owner(self, ref: str, path: tuple) -> OwnerRef | None:
        parsed = self.rule(path, rules.parse_owner, ref)
        return OwnerRef(*parsed) if parsed else None

    def permission(self, raw: dict, path: tuple) -> PermissionSpec | None:
        d = self.table(raw, path, {"api": "str", "roles": "strs", "scopes": "strs"})
        api = d.get("api", "Microsoft Graph")
        if self.rule(path + ("api",), rules.api_app_id, api, None) is None:
            return None
        spec = PermissionSpec(api=api, roles=tuple(d.get("roles", ())), scopes=tuple(d.get("scopes", ())))
        if not spec.roles and not spec.scopes:
            self.problem(path, "names no permission: add roles = [...] or scopes = [...]", "NoPermission")
        for key, kind in (("roles", "Role"), ("scopes", "Scope")):
            for i, name in enumerate(getattr(spec, key)):
                if self.rule(path + (key, i), rules.check_permission_ref, name) is None:
                    continue
                if spec.is_graph and self.known_permission is not None and not rules.is_guid(name) \
                        and not self.known_permission(name, kind):
                    self.problem(path + (key, i), self.unknown_permission(name, kind), "UnknownPermission")
        for key in ("roles", "scopes"):
            self.duplicates(list(getattr(spec, key)), path + (key,), None)
        return spec

    def unknown_permission(self, name: str, kind: str) -> str:
        return unknown_permission(name, kind, self.known_permission, self.permission_names)

    def federation(self, raw: dict, path: tuple) -> FederationSpec | None:
        d = self.table(raw, path, sources.file_keys(), required=("name",))
        if "name" not in d:
            return None
        fed = FederationSpec(**d)
        for key, err in sources.problems(fed, flags=False):
            self.refused(path + ((key,) if key else ()), err)
        return fed

    def duplicates(self, names: list[str], path: tuple, key: str | None) -> None:
        seen: set[str] = set()
        for i, name in enumerate(names):
            if name.lower() in seen:
                where = path + (i, key) if key else path + (i,)
                self.problem(where, f"'{name}' is declared twice", "Duplicate")
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


def unknown_permission(name: str, kind: str, known: PermissionLookup | None, names: Iterable[str], *,
                       other_fix: str | None = None) -> str:
    """What is wrong with a Microsoft Graph permission name the catalog does not know as ``kind``:
    it is of the other kind (``other_fix``: what to do then, by default the key to list it under),
    or the closest real names."""
    what = "an application permission (app role)" if kind == "Role" else "a delegated permission (scope)"
    other = "Scope" if kind == "Role" else "Role"
    if known is not None and known(name, other):
        move = "scopes" if other == "Scope" else "roles"
        return (f"'{name}' is not {what} of Microsoft Graph; it is a "
                f"{'delegated permission' if other == 'Scope' else 'application permission'}: "
                f"{other_fix or f'list it under {move}'}")
    close = get_close_matches(name, sorted(set(names)), n=3, cutoff=0.6)
    hint = f"; did you mean {', '.join(close)}?" if close else ""
    return f"'{name}' is not {what} of Microsoft Graph{hint}"


@functools.lru_cache(maxsize=1)
def default_permission_lookup() -> tuple[PermissionLookup, list[str]]:
    """Offline Graph permission check against the packaged catalog (names or ids)."""
    from entra_bootstrap.permissions_catalog import graph_permissions

    rows = graph_permissions()
    known = {(name.lower(), kind) for name, kind, _, _ in rows} | {(pid, kind) for _, kind, pid, _ in rows}
    return (lambda name, kind: (name.lower(), kind) in known), [r[0] for r in rows]


def parse_spec(text: str, path: str = "<string>", known_permission: PermissionLookup | None = None,
               permission_names: Iterable[str] = (), sections: Iterable[Section] = (),
               allow_privileged: bool = False) -> Spec:
    """Parse and validate; raise ``SpecError`` with every problem found. ``sections``: the parts of
    the file that step kinds declare (``StepKind.file_section``), read and checked like the rest;
    ``allow_privileged``: ``up --allow-privileged``, the file key for every app of the run."""
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        m = re.search(r"line (\d+)", str(exc))
        raise SpecError([Problem(path, int(m.group(1)) if m else None, "(syntax)",
                                 f"not valid TOML: {exc}", "InvalidToml")]) from None
    r = _Reader(path, text, known_permission, permission_names, sections, allow_privileged)
    top = r.table(doc, (), {"tenant": "str", "subscription": "str", "cloud": "str",
                            "identity": "tables", "app": "tables"})
    cloud = r.rule(("cloud",), rules.check_cloud, top["cloud"]) if "cloud" in top else None
    for key in ("tenant", "subscription"):
        if key in top:
            r.rule((key,), rules.check_guid, top[key])
    identities = [i for n, raw in enumerate(top.get("identity", []))
                  if (i := r.identity(raw, ("identity", n)))]
    apps = [a for n, raw in enumerate(top.get("app", [])) if (a := r.app(raw, ("app", n)))]
    r.duplicates([i.name for i in identities], ("identity",), "name")
    r.duplicates([a.unique_name for a in apps], ("app",), "unique_name")
    _check_references(r, identities, apps)
    if not identities and not apps:
        r.problem((), "declares nothing: add [[identity]] or [[app]] entries", "NothingDeclared")
    if r.problems:
        raise SpecError(r.problems)
    return Spec(path=path, tenant=top.get("tenant"), subscription=top.get("subscription"),
                cloud=cloud, identities=tuple(identities), apps=tuple(apps))


def _check_references(r: _Reader, identities: list[IdentitySpec], apps: list[AppSpec]) -> None:
    """An identity named by bare name must be declared in the file; a resource id may exist outside."""
    declared = {i.name.lower() for i in identities}

    reported = {p.key for p in r.problems}

    def check(name: str, path: tuple, principal_ok: bool = False) -> None:
        if _key_text(path) in reported:
            return        # already refused by its rule
        if principal_ok and rules.is_guid(name):
            return        # a federation may name an identity by its principal id, as --managed-identity does
        if not name.startswith("/") and name.lower() not in declared:
            r.problem(path, f"identity '{name}' is not declared in this file: add an [[identity]] "
                      "entry with that name, or give the identity's full resource id", "UndeclaredIdentity")

    for n, app in enumerate(apps):
        for i, owner in enumerate(app.owners):
            if owner.kind == "identity":
                check(owner.value, ("app", n, "owners", i))
        for i, fed in enumerate(app.federations):
            if fed.managed_identity:
                check(fed.managed_identity, ("app", n, "federation", i, "managed_identity"), True)


def load_spec(path: str | Path, sections: Iterable[Section] = (), allow_privileged: bool = False) -> Spec:
    p = Path(path)
    try:
        text = p.read_text()
    except FileNotFoundError:
        raise SpecError([Problem(str(p), None, "(file)", "no such file: check the path given to -f",
                                 "FileNotFound")]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise SpecError([Problem(str(p), None, "(file)", f"cannot be read: {exc}", "UnreadableFile")]) from None
    known, names = default_permission_lookup()
    return parse_spec(text, str(p), known, names, sections, allow_privileged)
