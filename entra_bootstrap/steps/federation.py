"""Federated identity credentials of the application, upserted by name.

Sources and what they become (Microsoft Graph: federatedIdentityCredential resource type;
Microsoft Entra: "Workload identity federation"):

    managed identity   issuer {login}/{tenant}/v2.0, subject = its principal id, audience per cloud
    --github O/R       issuer https://token.actions.githubusercontent.com, subject
                       repo:O/R:ref:refs/heads/B | :environment:E | :ref:refs/tags/T | :pull_request
    --kubernetes       issuer = the cluster's OIDC issuer URL (as given: the trailing slash counts),
                       subject system:serviceaccount:NS:SA
    --azure-devops / --issuer + --subject   as given (an Azure DevOps subject is opaque)

The audience is the cloud's token-exchange audience unless ``--audience`` says otherwise.
Upsert: ``upsert_fic`` (Microsoft Graph: Create federatedIdentityCredential, upserted by name).
Before writing, the credentials are read once: a
credential with the same issuer and subject under another name is reported (adopted when the
name was derived, an error when the user chose the name - Graph would refuse the pair), the
20-per-app limit is checked, and a derived name already used for another issuer/subject is an
error (it would overwrite someone else's credential). A system-assigned identity is refused
before any write (``check_managed_identity_ref``, then steps/lookups.py).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import replace

from ..spec import FederationSpec

from ..clients.graph_ops import PERMISSIONS
from ..engine import BuildContext, Change, StepKind, is_planned
from ..errors import api_error, usage_error
from . import check_managed_identity_ref, is_guid
from .common import app_label, identity_label
from .lookups import require_application, resolve_managed_identity
from .application import app_name, app_parts

KIND = "federatedIdentityCredential"
MAX_PER_APP = 20
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{2,119}$")
GITHUB_ISSUER = "https://token.actions.githubusercontent.com"
GITHUB_REPO_RE = re.compile(r"^[A-Za-z0-9-]+/[A-Za-z0-9._-]+$")
K8S_NAME_RE = re.compile(r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")


# What the credential trusts (exactly one kind is set): the bootstrap file's record, also built
# from the flags of `federation add`.
FederationSource = FederationSpec


def _bad(message: str, fix: str, code: str = "BadFederation"):
    return usage_error(message, code=code, fix=fix)


def check_name(name: str) -> None:
    if not NAME_RE.match(name or ""):
        raise _bad(f"--name '{name}' breaks the federated credential naming rules", code="InvalidName",
                   fix="use 3-120 characters: letters, digits, '-' and '_', starting with a letter or digit")


def _https(value: str, what: str) -> None:
    if not value.startswith("https://") or len(value) > 600 or " " in value:
        raise _bad(f"{what} '{value}' is not an https:// URL of at most 600 characters",
                   fix=f"give the {what} as https://...")


def validate(src: FederationSource) -> None:
    """Every offline check, before any request (exit 2)."""
    kinds = [k for k, on in (("--managed-identity", src.managed_identity), ("--github", src.github),
                             ("--kubernetes", src.kubernetes_issuer), ("--azure-devops", src.azure_devops))
             if on]
    if len(kinds) > 1:
        raise _bad(f"{' and '.join(kinds)} cannot be combined", fix="give one source per credential")
    if src.name is not None:
        check_name(src.name)
    if src.audience is not None and (not src.audience.strip() or len(src.audience) > 600):
        raise _bad("--audience is empty or longer than 600 characters", fix="give one audience value")
    if src.description is not None and len(src.description) > 600:
        raise _bad("--description is longer than 600 characters", fix="shorten it")
    if src.managed_identity:
        if src.issuer or src.subject:
            raise _bad("--managed-identity sets the issuer and subject itself",
                       fix="drop --issuer/--subject")
        check_managed_identity_ref(src.managed_identity)
        ref = src.managed_identity.strip()
        if not ref.startswith("/") and not is_guid(ref) and not src.resource_group:
            raise _bad(f"the user-assigned identity '{ref}' is named without its resource group",
                       code="MissingResourceGroup", fix="pass -g RESOURCE_GROUP, or the identity's "
                                                        "resource id or principal id")
        return
    if src.github:
        if not GITHUB_REPO_RE.match(src.github):
            raise _bad(f"--github '{src.github}' is not OWNER/REPO", fix="e.g. --github contoso/infra")
        picks = [k for k, on in (("--branch", src.branch), ("--environment", src.environment),
                                 ("--tag", src.tag), ("--pull-request", src.pull_request)) if on]
        if len(picks) != 1:
            raise _bad("--github needs exactly one of --branch, --environment, --tag, --pull-request"
                       + (f" (got {', '.join(picks)})" if picks else ""),
                       fix="e.g. --github contoso/infra --branch main")
        return
    if src.kubernetes_issuer:
        _https(src.kubernetes_issuer, "--issuer")
        for value, opt in ((src.namespace, "--namespace"), (src.service_account, "--service-account")):
            if not value or not K8S_NAME_RE.match(value) or len(value) > 253:
                raise _bad(f"{opt} '{value or ''}' is not a Kubernetes name",
                           fix=f"give {opt} as lower-case letters, digits, '-' and '.'")
        return
    if not src.issuer or not src.subject:
        what = "--azure-devops" if src.azure_devops else "a credential"
        raise _bad(f"{what} needs --issuer and --subject",
                   fix="or use --managed-identity, --github or --kubernetes")
    _https(src.issuer, "--issuer")
    if len(src.subject) > 600 or not src.subject.strip():
        raise _bad("--subject is empty or longer than 600 characters", fix="give the exact subject")


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]+", "-", text).strip("-_")


def _fit(name: str, seed: str) -> str:
    name = _slug(name)
    if len(name) < 3:
        name = (name + "-fic").lstrip("-")
    if len(name) > 120:
        digest = hashlib.sha256(seed.encode()).hexdigest()[:10]
        name = name[:109].rstrip("-_") + "-" + digest
    if not name[0].isalnum():
        name = "f" + name
    return name


def default_name(src: FederationSource) -> str:
    """The deterministic name used when --name is not given (documented in README)."""
    if src.managed_identity:
        ident = identity_label(src.managed_identity)
        return _fit(ident if not is_guid(ident) else f"mi-{ident}", ident)
    if src.github:
        owner_repo = src.github.replace("/", "-")
        which = (f"branch-{src.branch}" if src.branch else f"env-{src.environment}" if src.environment
                 else f"tag-{src.tag}" if src.tag else "pull-request")
        return _fit(f"github-{owner_repo}-{which}", f"{src.github}:{which}")
    if src.kubernetes_issuer:
        digest = hashlib.sha256(src.kubernetes_issuer.encode()).hexdigest()[:8]
        return _fit(f"k8s-{src.namespace}-{src.service_account}-{digest}",
                    f"{src.kubernetes_issuer}|{src.namespace}|{src.service_account}")
    digest = hashlib.sha256(f"{src.issuer}\n{src.subject}".encode()).hexdigest()[:16]
    return f"{'ado' if src.azure_devops else 'fic'}-{digest}"


def static_issuer_subject(src: FederationSource) -> tuple[str, str] | None:
    """Issuer and subject of every kind but managed identity (which needs Azure)."""
    if src.github:
        base = f"repo:{src.github}"
        subject = (f"{base}:ref:refs/heads/{src.branch}" if src.branch else
                   f"{base}:environment:{src.environment}" if src.environment else
                   f"{base}:ref:refs/tags/{src.tag}" if src.tag else f"{base}:pull_request")
        return GITHUB_ISSUER, subject
    if src.kubernetes_issuer:
        return src.kubernetes_issuer, f"system:serviceaccount:{src.namespace}:{src.service_account}"
    if src.issuer and src.subject:
        return src.issuer, src.subject
    return None


def fic_ids(fic: dict, app: dict) -> dict[str, str]:
    out = {"appId": app.get("appId", "")} if not is_planned(app) else {}
    if fic.get("id"):
        out["id"] = fic["id"]
    out.update({"issuer": fic.get("issuer", ""), "subject": fic.get("subject", "")})
    return out


class FederationStep:
    """Ensure the federated identity credential exists as described (or, ``present=False``, not)."""

    kind = KIND

    def __init__(self, app_ref: str, source: FederationSource, *, present: bool = True):
        self.app_ref = app_ref
        self.src = source
        self.name_given = source.name is not None
        self.name = source.name or default_name(source)
        self.present = present
        self.app: dict | None = None
        self.body: dict = {}
        self.current: dict | None = None

    async def _wanted(self, session) -> dict | None:
        """The credential's issuer/subject/audiences, or None when its identity is only planned."""
        pair = static_issuer_subject(self.src)
        if pair is None:
            check_managed_identity_ref(self.src.managed_identity)
            identity = await resolve_managed_identity(session, self.src.managed_identity,
                                                      self.src.resource_group)
            if is_planned(identity):
                return None
            pair = (session.cloud.issuer(await session.tenant_id()), identity["principalId"])
        body = {"name": self.name, "issuer": pair[0], "subject": pair[1],
                "audiences": [self.src.audience or session.cloud.token_exchange_audience]}
        if self.src.description is not None:
            body["description"] = self.src.description
        return body

    async def plan(self, session) -> list[Change]:
        self.app = await require_application(session, self.app_ref)
        label = f"{app_name(self.app, self.app_ref)}/{self.name}"
        if not self.present:
            return await self._plan_remove(session, label)
        wanted = await self._wanted(session)
        if wanted is None or is_planned(self.app):
            why = "the identity" if wanted is None else "the application"
            return [Change(KIND, label, "create", reason=f"after {why} is created")]
        self.body = wanted
        fics = await self._list(session)
        mine = next((f for f in fics if (f.get("name") or "").lower() == self.name.lower()), None)
        twin = next((f for f in fics if f is not mine and f.get("issuer") == wanted["issuer"]
                     and f.get("subject") == wanted["subject"]), None)
        if twin is not None:
            return self._twin(label, twin, mine)
        if mine is None:
            if len(fics) >= MAX_PER_APP:
                raise api_error(f"application '{app_name(self.app, self.app_ref)}' already has "
                                f"{len(fics)} federated identity credentials, the most an application "
                                "can hold", code="TooManyFederatedIdentityCredentials",
                                object=app_label(app_name(self.app, self.app_ref)), status=None,
                                fix="remove one you no longer need (entra-bootstrap federation list / "
                                    "remove), or use another application")
            return [Change(KIND, label, "create", fic_ids(wanted, self.app), reason="does not exist",
                           after=wanted)]
        self.current = mine
        if not self.name_given and (mine.get("issuer"), mine.get("subject")) != \
                (wanted["issuer"], wanted["subject"]):
            raise api_error(f"a federated credential named '{self.name}' already exists for another "
                            f"issuer/subject ({mine.get('issuer')} {mine.get('subject')})",
                            code="FederatedCredentialNameTaken", object=f"federated credential {label}",
                            fix="pass --name to choose another name, or --name "
                                f"{self.name} to replace that credential")
        differs = tuple(k for k in ("issuer", "subject", "audiences", "description")
                        if k in wanted and mine.get(k) != wanted[k])
        ids = fic_ids(mine, self.app)
        if not differs:
            return [Change(KIND, label, "unchanged", ids, reason="matches")]
        return [Change(KIND, label, "update", ids, fields=differs,
                       reason="; ".join(f"{k}: {mine.get(k)!r} -> {wanted[k]!r}" for k in differs),
                       before={k: mine.get(k) for k in differs}, after=wanted)]

    def _twin(self, label: str, twin: dict, mine: dict | None) -> list[Change]:
        if self.name_given or mine is not None:
            # NOTE: Microsoft Graph: Create federatedIdentityCredential - the issuer and subject
            # pair must be unique per application (400 InvalidFederatedIdentityCredentialValue);
            # say so before trying.
            raise api_error(f"the credential '{twin.get('name')}' of this application already has issuer "
                            f"{twin.get('issuer')} and subject {twin.get('subject')}; the pair must be "
                            "unique for the application", code="InvalidFederatedIdentityCredentialValue",
                            object=f"federated credential {label}",
                            fix=f"manage it as --name {twin.get('name')}, or remove it first "
                                f"(entra-bootstrap federation remove --app {self.app_ref} "
                                f"--name {twin.get('name')})")
        twin_label = f"{app_name(self.app, self.app_ref)}/{twin.get('name')}"
        differs = tuple(k for k in ("audiences", "description")
                        if k in self.body and twin.get(k) != self.body[k])
        self.name, self.current = twin["name"], twin
        if not differs:
            return [Change(KIND, twin_label, "unchanged", fic_ids(twin, self.app),
                           reason=f"the same issuer and subject exist under the name '{twin['name']}'")]
        self.body["name"] = twin["name"]
        return [Change(KIND, twin_label, "update", fic_ids(twin, self.app), fields=differs,
                       reason=f"existing credential with this issuer and subject; "
                              + "; ".join(f"{k}: {twin.get(k)!r} -> {self.body[k]!r}" for k in differs),
                       after=self.body)]

    async def _plan_remove(self, session, label: str) -> list[Change]:
        if is_planned(self.app):
            return [Change(KIND, label, "unchanged", reason="the application does not exist")]
        fics = await self._list(session)
        self.current = next((f for f in fics if (f.get("name") or "").lower() == self.name.lower()), None)
        if self.current is None:
            return [Change(KIND, label, "unchanged", {"appId": self.app["appId"]}, reason="does not exist")]
        return [Change(KIND, label, "delete", fic_ids(self.current, self.app), reason="removal requested")]

    async def _list(self, session) -> list[dict]:
        return await session.graph_ops.list_fics(self.app["id"], app_name(self.app, self.app_ref),
                                                 replicating=True)

    async def apply(self, session, changes: list[Change]) -> list[Change]:
        change = changes[0]
        ops = session.graph_ops
        if change.action == "delete":
            await ops.delete_fic(self.app["id"], self.current["id"], label=change.name)
            change.applied = True
            return [change]
        body = dict(self.body)
        if change.action == "update":
            body.pop("name", None)          # immutable; the key names it
        fic = await ops.upsert_fic(self.app["id"], self.name, body, label=change.name)
        change.ids = fic_ids(fic, self.app)
        change.after = fic
        change.applied = True
        return [change]


def federation_step(spec, app_ref: str, fed, *, present: bool = True) -> FederationStep:
    """The step for one ``[[app.federation]]`` entry of a bootstrap file (spec.FederationSpec)."""
    rg = None
    if getattr(fed, "managed_identity", None) and not fed.managed_identity.startswith("/") \
            and not is_guid(fed.managed_identity):
        declared = spec.identity(fed.managed_identity) if hasattr(spec, "identity") else None
        rg = declared.resource_group if declared else None
    return FederationStep(app_ref, replace(fed, resource_group=rg), present=present)


# --- the step kind (steps/registry.py) ----------------------------------------------------------
def _steps(spec, ctx: BuildContext):
    return app_parts(spec, ctx, lambda app: app.federations,
                     lambda app, f: federation_step(spec, app.unique_name, f, present=ctx.present), links=True)


async def _check(spec, session) -> None:
    """A managed identity the file names by resource id (not declared in it) exists."""
    from .lookups import resolve_user_assigned_identity

    for app in spec.apps:
        for fed in app.federations:
            if fed.managed_identity and fed.managed_identity.startswith("/"):
                await resolve_user_assigned_identity(session, fed.managed_identity)


STEP = StepKind(KIND, section="app.federation", steps=_steps, phase=2, down_phase=1, check=_check,
                labels={KIND: "federated credential"}, needs=(PERMISSIONS["federatedIdentityCredential"],))
