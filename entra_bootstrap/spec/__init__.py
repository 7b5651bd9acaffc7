"""The bootstrap file and the input rules: desired state, validated before the first request.

    spec/rules.py    every naming, length, pattern, enumeration and limit rule (flags and file)
    spec/sources.py  the federation sources (managed identity, GitHub, Kubernetes, ...), a registry
    spec/model.py    the desired state as frozen dataclasses
    spec/toml.py     reading a file: ``load_spec`` / ``parse_spec``, ``Problem`` (file:line:key, code)

A TOML file declares ``[[identity]]`` and ``[[app]]`` entries (with ``[[app.permission]]`` and
``[[app.federation]]``) plus optional top-level ``tenant``, ``subscription`` and ``cloud``.
"""

from __future__ import annotations

from .model import (AppSpec, FederationSpec, IdentitySpec, OwnerRef, PermissionSpec, Section, Spec,
                    Target)
from .rules import RuleError
from .sources import SOURCES
from .toml import Problem, SpecError, default_permission_lookup, load_spec, parse_spec

__all__ = ["Spec", "Section", "AppSpec", "IdentitySpec", "PermissionSpec", "FederationSpec", "OwnerRef", "Target",
           "Problem", "SpecError", "RuleError", "SOURCES", "parse_spec", "load_spec",
           "default_permission_lookup"]
