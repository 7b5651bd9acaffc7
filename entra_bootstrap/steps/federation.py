"""Federated identity credentials of the application, upserted by name.

What a credential trusts, its checks, its issuer/subject and its default name come from its
source (spec/sources.py: managed identity, GitHub, Kubernetes, Azure DevOps, any issuer); only
the managed identity's issuer and subject are resolved here, from Azure: issuer
{login}/{tenant}/v2.0 of the cloud, subject = the identity's principal id (Microsoft Graph:
federatedIdentityCredential resource type).

The audience is the cloud's token-exchange audience unless ``--audience`` says otherwise.
Upsert: ``upsert_fic`` (Microsoft Graph: Create federatedIdentityCredential, upserted by name).
Before writing, the credentials are read once: a credential with the same issuer and subject under
another name is reported (adopted when the name was derived, an error when the user chose the name
- Graph would refuse the pair), the 20-per-app limit is checked, and a derived name already used
for another issuer/subject is an error (it would overwrite someone else's credential). A
system-assigned identity is refused before any write (``check_managed_identity_ref``, then
steps/lookups.py).
"""

from __future__ import annotations

from dataclasses import replace

from ..spec import FederationSpec
from ..spec.rules import MAX_FEDERATED_CREDENTIALS, RuleError, check_credential_count
from ..spec.sources import GITHUB_ISSUER, default_name, static_issuer_subject, validate  # noqa: F401

from ..clients.graph_ops import PERMISSIONS
from ..engine import BuildContext, Change, StepKind, is_planned
from ..errors import api_error
from . import check_managed_identity_ref, is_guid
from .common import app_label
from .lookups import require_application, resolve_managed_identity
from .application import app_name, app_parts

KIND = "federatedIdentityCredential"
MAX_PER_APP = MAX_FEDERATED_CREDENTIALS

# What the credential trusts (its source's keys): the bootstrap file's record, also built from
# the flags of `federation add`.
FederationSource = FederationSpec


def fic_ids(fic: dict, app: dict) -> dict[str, str]:
    out = {"appId": app.get("appId", "")} if not is_planned(app) else {}
    if fic.get("id"):
        out["id"] = fic["id"]
    out.update({"issuer": fic.get("issuer", ""), "subject": fic.get("subject", "")})
    return out


class FederationStep:
    """Ensure the federated identity credential exists as described (or, ``present=False``, not)."""

    kind = KIND

    def __init__(self, app_ref: str, source: FederationSource, *, present: bool = True,
                 explicit_removal: bool = False):
        self.app_ref = app_ref
        self.src = source
        self.name_given = source.name is not None
        self.name = source.name or default_name(source)
        self.present = present
        self.explicit_removal = explicit_removal        # `federation remove`: a missing name is said
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
            try:
                check_credential_count(len(fics) + 1)
            except RuleError as err:
                raise api_error(f"application '{app_name(self.app, self.app_ref)}' already has "
                                f"{len(fics)} federated identity credentials, the most an application "
                                "can hold", code=err.code,
                                object=app_label(app_name(self.app, self.app_ref)), status=None,
                                fix=err.fix) from None
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
                       reason="existing credential with this issuer and subject; "
                              + "; ".join(f"{k}: {twin.get(k)!r} -> {self.body[k]!r}" for k in differs),
                       after=self.body)]

    async def _plan_remove(self, session, label: str) -> list[Change]:
        if is_planned(self.app):
            return [Change(KIND, label, "unchanged", reason="the application does not exist")]
        fics = await self._list(session)
        self.current = next((f for f in fics if (f.get("name") or "").lower() == self.name.lower()), None)
        if self.current is None:
            return [Change(KIND, label, "unchanged", {"appId": self.app["appId"]}, reason="does not exist",
                           notes=(f"nothing to remove: the application has no federated credential named "
                                  f"'{self.name}' (entra-bootstrap federation list shows what it has)",)
                           if self.explicit_removal else ())]
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
