"""Federation sources: what a federated identity credential trusts, one class per source.

A source declares its keys (the file's key and the flag of ``federation add`` for each), its
validation (through spec/rules.py), its issuer and subject, and the name a credential gets when
none is given. ``SOURCES`` is the registry: the file loader takes its keys from it, and
``problems`` / ``validate`` run the same checks for the flags and the file (only the naming of the
keys in the messages differs). Adding a source is adding one class here (and its flags in
cli/federation.py).

    managed identity   issuer {login}/{tenant}/v2.0, subject = its principal id (resolved in Azure
                       by steps/federation.py: ``issuer_subject`` is None)
    github O/R         issuer https://token.actions.githubusercontent.com, subject
                       repo:O/R:ref:refs/heads/B | :environment:E | :ref:refs/tags/T | :pull_request
    gitlab G/P         issuer https://gitlab.com (or gitlab_url, no trailing slash), subject
                       project_path:G/P:ref_type:branch:ref:B | ...:ref_type:tag:ref:T
    kubernetes         issuer = the cluster's OIDC issuer URL (as given: the trailing slash counts),
                       subject system:serviceaccount:NS:SA
    azure devops / issuer + subject   as given (an Azure DevOps subject is opaque)

(Microsoft Graph: federatedIdentityCredential resource type; GitHub: OpenID Connect reference;
GitLab: OpenID Connect (OIDC) authentication using ID tokens - token payload; Kubernetes: service
account token issuer discovery.)
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Callable, Iterable, Optional

from . import rules
from .model import SOURCE_KEYS, FederationSpec
from .rules import RuleError

Found = tuple[Optional[str], RuleError]        # (the key concerned or None for the entry, the verdict)


@dataclass(frozen=True)
class Key:
    """One input of a source: its key in the file and its flag in ``federation add``."""

    name: str
    flag: str
    type: str = "str"        # str | bool

    def shown(self, flags: bool) -> str:
        if flags:
            return self.flag
        return f"{self.name} = true" if self.type == "bool" else self.name


# Keys of every credential, whatever its source.
COMMON_KEYS = (Key("name", "--name"), Key("audience", "--audience"), Key("description", "--description"))
KEYS: dict[str, Key] = {k.name: k for k in COMMON_KEYS}


class Names:
    """How messages name keys: as the flags of ``federation add`` or as the file's keys."""

    def __init__(self, flags: bool):
        self.flags = flags

    def key(self, key: str) -> str:
        return KEYS[key].flag if self.flags else key

    def set(self, key: str) -> str:
        return KEYS[key].shown(self.flags)

    def option(self, key: str) -> str | None:
        """The flag, prefixed to a rule's message; in a file the Problem names the key."""
        return KEYS[key].flag if self.flags else None

    def one_of(self, keys: Iterable[str]) -> str:
        shown = [self.set(k) for k in keys]
        return shown[0] if len(shown) == 1 else ", ".join(shown[:-1]) + " or " + shown[-1]

    def source(self, src: "Source") -> str:
        return (src.flag or "") if self.flags else self.set(src.trigger or "")

    def credential(self, src: "Source") -> str:
        """Who needs something: "--github" / "a github credential"."""
        if self.flags and src.flag:
            return src.flag
        if not src.kind:
            return "a credential"
        return f"{'an' if src.kind[0] in 'aeiou' else 'a'} {src.kind} credential"


def attempt(key: str | None, rule: Callable[..., object], *args, **kw) -> list[Found]:
    """Run one rule; its verdict as a list of at most one (key, RuleError)."""
    try:
        rule(*args, **kw)
    except RuleError as err:
        return [(key, err)]
    return []


def bad(key: str | None, message: str, fix: str | None = None, code: str = "BadFederation") -> Found:
    return key, RuleError(code, message, fix)


def exactly_one(fed, names, which: tuple[str, ...], what: str, flags_example: str,
                file_example: str) -> list[Found]:
    """A CI source's ref: exactly one of ``which`` (branch, tag, ...) is set."""
    picks = [k for k in which if fed.get(k) is not None]
    if len(picks) == 1:
        return []
    got = f" (got {', '.join(names.set(k) for k in picks)})" if picks else ""
    return [bad(None, f"a {what} credential needs exactly one of {names.one_of(which)}" + got,
                "e.g. " + (flags_example if names.flags else file_example))]


def slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]+", "-", text).strip("-_")


def fit(name: str, seed: str) -> str:
    """A valid credential name from ``name``: 3-120 characters, a hash of ``seed`` when cut."""
    name = slug(name)
    if len(name) < 3:
        name = (name + "-fic").lstrip("-")
    if len(name) > 120:
        digest = hashlib.sha256(seed.encode()).hexdigest()[:10]
        name = name[:109].rstrip("-_") + "-" + digest
    if not name[0].isalnum():
        name = "f" + name
    return name


class Source:
    """A kind of workload a credential trusts. Subclasses set the class attributes and override
    ``check``, ``issuer_subject`` and ``default_name``."""

    kind = ""                       # as messages say it: "github", "kubernetes"
    trigger: str | None = None      # the key that selects it; None: the generic issuer + subject
    flag: str | None = None         # the flag that selects it in ``federation add``
    keys: tuple[Key, ...] = ()      # every key it reads, the trigger first
    resolved_in_azure = False       # issuer/subject known only after reading Azure

    @property
    def key_names(self) -> tuple[str, ...]:
        return tuple(k.name for k in self.keys)

    def selected(self, fed: FederationSpec) -> bool:
        return self.trigger is not None and fed.get(self.trigger) is not None

    def check(self, fed: FederationSpec, names: Names) -> list[Found]:
        return []

    def issuer_subject(self, fed: FederationSpec) -> tuple[str, str] | None:
        raise NotImplementedError

    def default_name(self, fed: FederationSpec) -> str:
        raise NotImplementedError

    def usage(self, names: Names) -> str:
        """How to choose it, for "says nothing to trust"."""
        return names.source(self)


SOURCES: list[Source] = []


def register(cls: type[Source]) -> type[Source]:
    """Add a source to the registry (in the order messages list them) and its keys to the model."""
    src = cls()
    for key in src.keys:
        known = KEYS.setdefault(key.name, key)
        assert known == key, f"key {key.name} declared twice differently"
        SOURCE_KEYS.add(key.name)
    SOURCES.append(src)
    return cls


def _both(fed: FederationSpec, names: Names, src: Source, why: str = "") -> list[Found]:
    """issuer + subject, as given (Azure DevOps and any other issuer)."""
    if not fed.issuer or not fed.subject:
        return [bad(None, f"{names.credential(src)} needs {names.key('issuer')} and {names.key('subject')}"
                          + why, "or use one of the other sources")]
    return (attempt("issuer", rules.check_https_url, fed.issuer, names.option("issuer")) +
            attempt("subject", rules.check_subject, fed.subject, names.option("subject")))


# --- the sources ------------------------------------------------------------------------------
@register
class ManagedIdentity(Source):
    kind = "managed identity"
    trigger = "managed_identity"
    flag = "--managed-identity"
    keys = (Key("managed_identity", "--managed-identity"),)
    resolved_in_azure = True

    def check(self, fed, names):
        ref = fed.managed_identity.strip()
        found = attempt("managed_identity", rules.check_managed_identity_ref, ref,
                        names.option("managed_identity"))
        if found or not names.flags or ref.startswith("/") or rules.is_guid(ref):
            return found      # in a file, a name is an [[identity]] of the file (spec/toml.py)
        if not fed.resource_group:
            return [bad(None, f"the user-assigned identity '{ref}' is named without its resource group",
                        "pass -g RESOURCE_GROUP, or the identity's resource id or principal id",
                        code="MissingResourceGroup")]
        return attempt(None, rules.check_resource_group, fed.resource_group, "--resource-group")

    def issuer_subject(self, fed):
        return None

    def default_name(self, fed):
        ident = fed.managed_identity.rstrip("/").rsplit("/", 1)[-1]
        return fit(ident if not rules.is_guid(ident) else f"mi-{ident}", ident)


GITHUB_ISSUER = "https://token.actions.githubusercontent.com"


@register
class GitHub(Source):
    kind = "github"
    trigger = "github"
    flag = "--github"
    keys = (Key("github", "--github"), Key("branch", "--branch"), Key("environment", "--environment"),
            Key("tag", "--tag"), Key("pull_request", "--pull-request", "bool"))
    WHICH = ("branch", "environment", "tag", "pull_request")

    def check(self, fed, names):
        found = attempt("github", rules.check_github_repo, fed.github, names.option("github"))
        return found + exactly_one(fed, names, self.WHICH, "github", "--github contoso/infra --branch main",
                                   'github = "contoso/infra" and branch = "main"')

    def usage(self, names):
        return f"{names.source(self)} (with one of {names.one_of(self.WHICH)})"

    def issuer_subject(self, fed):
        base = f"repo:{fed.github}"
        subject = (f"{base}:ref:refs/heads/{fed.branch}" if fed.branch else
                   f"{base}:environment:{fed.environment}" if fed.environment else
                   f"{base}:ref:refs/tags/{fed.tag}" if fed.tag else f"{base}:pull_request")
        return GITHUB_ISSUER, subject

    def default_name(self, fed):
        owner_repo = fed.github.replace("/", "-")
        which = (f"branch-{fed.branch}" if fed.branch else f"env-{fed.environment}" if fed.environment
                 else f"tag-{fed.tag}" if fed.tag else "pull-request")
        return fit(f"github-{owner_repo}-{which}", f"{fed.github}:{which}")


GITLAB_URL = "https://gitlab.com"
# GitLab: reserved project and group names / path rules: letters, digits, '_', '-' and '.', not
# starting with '-' or '.', not ending with '.', '.git' or '.atom'; groups may be nested.
_GITLAB_SEGMENT = r"(?![^/]*\.(?:git|atom)(?:/|$))[A-Za-z0-9_](?:[A-Za-z0-9_.-]*[A-Za-z0-9_-])?"
GITLAB_PROJECT_RE = re.compile(rf"^{_GITLAB_SEGMENT}(?:/{_GITLAB_SEGMENT})+$")
check_gitlab_project = rules.pattern(
    "BadFederation", GITLAB_PROJECT_RE, "GROUP/PROJECT", "groups (nested ones too) and a project of "
    "letters, digits, '_', '-' and '.', not starting with '-' or '.', not ending with '.', '.git' or "
    "'.atom'", "e.g. mygroup/myproject or mygroup/subgroup/myproject", max_length=rules.FIC_FIELD_MAX)


@register
class GitLab(Source):
    kind = "gitlab"
    trigger = "gitlab"
    flag = "--gitlab"
    keys = (Key("gitlab", "--gitlab"), Key("branch", "--branch"), Key("tag", "--tag"),
            Key("gitlab_url", "--gitlab-url"))
    WHICH = ("branch", "tag")

    def check(self, fed, names):
        found = attempt("gitlab", check_gitlab_project, fed.gitlab, names.option("gitlab"))
        if fed.gitlab_url is not None:
            found += attempt("gitlab_url", rules.check_https_url, fed.gitlab_url, names.option("gitlab_url"),
                             "GitLab instance's URL")
        return found + exactly_one(fed, names, self.WHICH, "gitlab", "--gitlab mygroup/myproject --branch main",
                                   'gitlab = "mygroup/myproject" and branch = "main"')

    def usage(self, names):
        return f"{names.source(self)} (with {names.one_of(self.WHICH)})"

    def _url(self, fed) -> str:
        return (fed.gitlab_url or GITLAB_URL).rstrip("/")

    def issuer_subject(self, fed):
        ref_type, ref = ("branch", fed.branch) if fed.branch else ("tag", fed.tag)
        return self._url(fed), f"project_path:{fed.gitlab}:ref_type:{ref_type}:ref:{ref}"

    def default_name(self, fed):
        which = f"branch-{fed.branch}" if fed.branch else f"tag-{fed.tag}"
        url = self._url(fed)
        host = "" if url == GITLAB_URL else "-" + hashlib.sha256(url.encode()).hexdigest()[:8]
        return fit(f"gitlab-{fed.gitlab.replace('/', '-')}-{which}{host}", f"{url}|{fed.gitlab}:{which}")


@register
class Kubernetes(Source):
    kind = "kubernetes"
    trigger = "kubernetes_issuer"
    flag = "--kubernetes"
    keys = (Key("kubernetes_issuer", "--issuer"), Key("namespace", "--namespace"),
            Key("service_account", "--service-account"))

    def check(self, fed, names):
        if not fed.kubernetes_issuer:
            found = [bad(None, f"{names.credential(self)} needs {names.key('kubernetes_issuer')} (the "
                               "cluster's OIDC issuer URL)",
                         "e.g. --issuer https://oidc.example/CLUSTER/ --namespace NS --service-account SA")]
        else:
            found = attempt("kubernetes_issuer", rules.check_https_url, fed.kubernetes_issuer,
                            names.option("kubernetes_issuer"), "cluster's OIDC issuer")
        if not fed.namespace or not fed.service_account:
            return found + [bad(None, f"{names.credential(self)} needs {names.key('namespace')} and "
                                      f"{names.key('service_account')}", "name the service account and "
                                                                         "its namespace")]
        return (found + attempt("namespace", rules.check_k8s_namespace, fed.namespace, names.option("namespace"))
                + attempt("service_account", rules.check_k8s_service_account, fed.service_account,
                          names.option("service_account")))

    def usage(self, names):
        inner = [names.key(k) for k in self.key_names if k != self.trigger]
        if names.flags:
            inner.insert(0, names.key(self.trigger))
        return f"{names.source(self)} (with {', '.join(inner[:-1])} and {inner[-1]})"

    def issuer_subject(self, fed):
        return fed.kubernetes_issuer, f"system:serviceaccount:{fed.namespace}:{fed.service_account}"

    def default_name(self, fed):
        digest = hashlib.sha256(fed.kubernetes_issuer.encode()).hexdigest()[:8]
        return fit(f"k8s-{fed.namespace}-{fed.service_account}-{digest}",
                   f"{fed.kubernetes_issuer}|{fed.namespace}|{fed.service_account}")


ISSUER, SUBJECT = Key("issuer", "--issuer"), Key("subject", "--subject")


@register
class AzureDevOps(Source):
    kind = "azure_devops"
    trigger = "azure_devops"
    flag = "--azure-devops"
    keys = (Key("azure_devops", "--azure-devops", "bool"), ISSUER, SUBJECT)

    def check(self, fed, names):
        return _both(fed, names, self, " (from the service connection)")

    def usage(self, names):
        return f"{names.source(self)} (with {names.key('issuer')} and {names.key('subject')})"

    def issuer_subject(self, fed):
        return (fed.issuer, fed.subject) if fed.issuer and fed.subject else None

    def default_name(self, fed):
        return "ado-" + hashlib.sha256(f"{fed.issuer}\n{fed.subject}".encode()).hexdigest()[:16]


@register
class Generic(Source):
    """Any other issuer: issuer + subject as given. Chosen when no other source is."""

    kind = ""
    keys = (ISSUER, SUBJECT)

    def check(self, fed, names):
        return _both(fed, names, self)

    def usage(self, names):
        return f"{names.key('issuer')} and {names.key('subject')}"

    def issuer_subject(self, fed):
        return (fed.issuer, fed.subject) if fed.issuer and fed.subject else None

    def default_name(self, fed):
        return "fic-" + hashlib.sha256(f"{fed.issuer}\n{fed.subject}".encode()).hexdigest()[:16]


# --- what the file loader, the commands and the step use --------------------------------------
def chosen(fed: FederationSpec) -> list[Source]:
    return [s for s in SOURCES if s.selected(fed)]


def source_of(fed: FederationSpec) -> Source:
    """The source of a credential (the generic issuer + subject when no other is chosen)."""
    picked = chosen(fed)
    return picked[0] if picked else next(s for s in SOURCES if s.trigger is None)


def file_keys() -> dict[str, str]:
    """Every key of an ``[[app.federation]]`` entry and its type."""
    return {k.name: k.type for k in KEYS.values()}


def problems(fed: FederationSpec, *, flags: bool) -> list[Found]:
    """Every offline problem of one credential, as (key or None, RuleError), in the order found."""
    names = Names(flags)
    found: list[Found] = []
    if fed.name is not None:
        found += attempt("name", rules.check_fic_name, fed.name, names.option("name"))
    if fed.audience is not None:
        found += attempt("audience", rules.check_audience, fed.audience, names.option("audience"))
    if fed.description is not None:
        found += attempt("description", rules.check_description, fed.description, names.option("description"))
    picked = chosen(fed)
    if len(picked) > 1:
        return found + [bad(None, f"sets {' and '.join(names.source(s) for s in picked)}: choose one",
                            "give one source per credential")]
    given = fed.given()
    src = source_of(fed)
    if not picked and not given & set(src.key_names):
        options = [s.usage(names) for s in SOURCES]
        return found + [bad(None, f"{'the credential ' if flags else ''}says nothing to trust: "
                                  f"{'give' if flags else 'set'} {', '.join(options[:-1])}, or {options[-1]}",
                            "choose one source")]
    stray = [k for k in KEYS if k in given and k not in src.key_names]
    for key in stray:
        if src.trigger:
            message = f"{names.set(key)} does not go with {names.source(src)}"
        else:
            owners = [names.source(s) for s in SOURCES if s.trigger and key in s.key_names]
            message = f"{names.set(key)} goes with {' or '.join(owners)}"
        found.append(bad(key, message, f"drop {names.set(key)}, or choose the source it belongs to"))
    if stray:
        return found
    own = src.check(fed, names)
    found += own
    pair = None if own else src.issuer_subject(fed)
    if pair is not None and len(pair[1]) > rules.FIC_FIELD_MAX:
        found.append(bad(None, f"the subject '{pair[1][:60]}...' is longer than {rules.FIC_FIELD_MAX} "
                               "characters", "use shorter names"))
    return found


def validate(fed: FederationSpec) -> None:
    """The checks of ``federation add``, before any request: raise the first problem (exit 2)."""
    found = problems(fed, flags=True)
    if found:
        raise found[0][1]


def default_name(fed: FederationSpec) -> str:
    """The deterministic name used when --name is not given (documented in README)."""
    return source_of(fed).default_name(fed)


def static_issuer_subject(fed: FederationSpec) -> tuple[str, str] | None:
    """Issuer and subject of every source but the managed identity (which needs Azure)."""
    return source_of(fed).issuer_subject(fed)
