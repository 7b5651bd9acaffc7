"""The desired state, as frozen dataclasses (built by spec/toml.py from a file, and by the commands)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Mapping

from .rules import GRAPH_API_NAMES


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
class Section:
    """A part of the file a step kind declares and reads (its ``StepKind.file_section``): the
    ``[[PARENT.KEY]]`` tables of each ``[[identity]]`` or ``[[app]]`` entry, with their keys and
    their kinds ("str", "strs", "bool", "strmap"). ``check(entry)`` gives the problems of one
    table as ``(key or None, RuleError)`` (through spec/rules.py). The loader checks and keeps them
    (``IdentitySpec.part(KEY)``), so a new step kind needs no change to the loader or the model."""

    parent: str                                   # "identity" | "app"
    key: str
    keys: Mapping[str, str]
    required: tuple[str, ...] = ()
    check: Callable[[dict], Iterable[tuple[str | None, Any]]] | None = None


class _Parts:
    """``part(KEY)``: the checked tables of a section a step kind declared (empty when none)."""

    parts: tuple[tuple[str, tuple[dict, ...]], ...]

    def part(self, key: str) -> tuple[dict, ...]:
        return dict(self.parts).get(key, ())


@dataclass(frozen=True)
class IdentitySpec(_Parts):
    name: str
    resource_group: str
    location: str | None = None
    assign_to: tuple[Target, ...] = ()
    tags: tuple[tuple[str, str], ...] = ()
    protect: bool = False                       # down leaves it (terraform's prevent_destroy)
    line: int | None = None
    parts: tuple[tuple[str, tuple[dict, ...]], ...] = field(default=(), compare=False)


@dataclass(frozen=True)
class PermissionSpec:
    api: str                       # "Microsoft Graph" or an appId
    roles: tuple[str, ...] = ()
    scopes: tuple[str, ...] = ()

    @property
    def is_graph(self) -> bool:
        return self.api.lower() in GRAPH_API_NAMES


# The keys the federation sources read (spec/sources.py registers them): github, branch, ...
SOURCE_KEYS: set[str] = set()


@dataclass(frozen=True, init=False)
class FederationSpec:
    """One federated identity credential: what it trusts is in the keys of its source.

    The same record serves the file and ``federation add`` (steps/federation.py); there ``name``
    may be None (a deterministic one is derived) and ``resource_group`` says where a managed
    identity given by name lives. The source's keys (``github``, ``branch``, ``kubernetes_issuer``,
    ``issuer`` ...; see spec/sources.py) are given as keyword arguments and read as attributes;
    one that is not set reads None. Adding a source adds keys, not fields.
    """

    name: str | None
    resource_group: str | None
    audience: str | None
    description: str | None
    values: tuple[tuple[str, Any], ...]        # (key, value) of the source keys that are set

    def __init__(self, name: str | None = None, resource_group: str | None = None,
                 audience: str | None = None, description: str | None = None,
                 values: tuple[tuple[str, Any], ...] = (), **keys: Any):
        unknown = sorted(k for k in keys if k not in SOURCE_KEYS)
        if unknown:
            raise TypeError(f"FederationSpec got unknown source keys: {', '.join(unknown)}")
        merged = dict(values)
        merged.update(keys)
        set_ = tuple(sorted((k, v) for k, v in merged.items() if v is not None and v is not False))
        for attr, value in (("name", name), ("resource_group", resource_group), ("audience", audience),
                            ("description", description), ("values", set_)):
            object.__setattr__(self, attr, value)

    def __getattr__(self, key: str) -> Any:
        if key.startswith("_") or key not in SOURCE_KEYS:
            raise AttributeError(key)
        return dict(object.__getattribute__(self, "values")).get(key)

    def get(self, key: str) -> Any:
        return dict(self.values).get(key)

    def given(self) -> set[str]:
        """The source keys that are set."""
        return {k for k, _ in self.values}


@dataclass(frozen=True)
class OwnerRef:
    kind: str                      # identity | principal
    value: str


@dataclass(frozen=True)
class AppSpec(_Parts):
    unique_name: str
    display_name: str
    sign_in_audience: str | None = None
    owners: tuple[OwnerRef, ...] = ()
    consent: bool = False
    allow_privileged: bool = False
    permissions: tuple[PermissionSpec, ...] = ()
    federations: tuple[FederationSpec, ...] = ()
    protect: bool = False                       # down leaves it and what belongs to it
    allow_undeclared: tuple[str, ...] = ()      # categories verify lets pass (steps/undeclared.py)
    line: int | None = None
    parts: tuple[tuple[str, tuple[dict, ...]], ...] = field(default=(), compare=False)


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
