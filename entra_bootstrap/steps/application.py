"""The application (app registration), upserted by its ``uniqueName`` - never by display name.

Create/update: ``upsert_application`` (Microsoft Graph: Upsert application, by uniqueName) with
the managed fields; it says whether the app was created or existed. Managed fields are
``displayName`` and, when the user gives it, ``signInAudience``; nothing else is compared (server
defaults are never diffed).
Delete: ``delete_application`` of the app found by client id, object id or unique name; an app
that does not exist is ``unchanged`` (the delete is idempotent).
"""

from __future__ import annotations

from typing import Any, Callable, Iterable

from ..clients.graph_ops import PERMISSIONS
from ..engine import BuildContext, Change, StepKind, is_planned, planned
from ..spec.rules import SIGN_IN_AUDIENCES  # noqa: F401 - the rule lives in spec/rules.py
from .lookups import find_application, forget_application, remember_application

KIND = "application"


def app_ids(app: dict) -> dict[str, str]:
    if is_planned(app):
        return {"uniqueName": app.get("uniqueName", "")}
    return {"appId": app.get("appId", ""), "objectId": app.get("id", ""),
            "uniqueName": app.get("uniqueName") or ""}


def app_name(app: dict, fallback: str = "") -> str:
    return app.get("uniqueName") or app.get("displayName") or fallback


class ApplicationStep:
    """Ensure the application with ``unique_name`` exists with these fields (or is absent)."""

    kind = KIND

    def __init__(self, unique_name: str, display_name: str | None = None,
                 sign_in_audience: str | None = None, *, present: bool = True):
        self.unique_name = unique_name
        self.display_name = display_name or unique_name
        self.sign_in_audience = sign_in_audience
        self.present = present
        self.current: dict | None = None

    def wanted(self) -> dict:
        body = {"displayName": self.display_name}
        if self.sign_in_audience:
            body["signInAudience"] = self.sign_in_audience
        return body

    async def plan(self, session) -> list[Change]:
        # No re-reads here: the upsert is safe whether or not the app is visible yet.
        self.current = await find_application(session, self.unique_name, retry=False)
        cur = self.current
        if not self.present:
            if cur is None:
                return [Change(KIND, self.unique_name, "unchanged", reason="does not exist")]
            return [Change(KIND, app_name(cur, self.unique_name), "delete", app_ids(cur),
                           reason="requested", before=cur)]
        if cur is None:
            remember_application(session, planned(uniqueName=self.unique_name,
                                                  displayName=self.display_name), self.unique_name)
            return [Change(KIND, self.unique_name, "create", {"uniqueName": self.unique_name},
                           reason="does not exist", after=self.wanted())]
        differs = tuple(k for k, v in self.wanted().items() if cur.get(k) != v)
        if not differs:
            return [Change(KIND, self.unique_name, "unchanged", app_ids(cur), reason="matches")]
        return [Change(KIND, self.unique_name, "update", app_ids(cur), fields=differs,
                       reason="; ".join(f"{k}: {cur.get(k)!r} -> {self.wanted()[k]!r}" for k in differs),
                       before={k: cur.get(k) for k in differs}, after=self.wanted())]

    async def apply(self, session, changes: list[Change]) -> list[Change]:
        change = changes[0]
        if change.action == "delete":
            await session.graph_ops.delete_application(self.current["id"], self.unique_name)
            forget_application(session, self.current)
            change.applied = True
            return [change]
        app, created = await session.graph_ops.upsert_application(self.unique_name, self.wanted())
        if not created:
            if change.action == "create":    # it existed, but was not visible when first read
                change = Change(KIND, self.unique_name, "update", reason="existed already (not yet "
                                "replicated when read); fields set", after=self.wanted())
        if self.current:
            forget_application(session, self.current)
        remember_application(session, app, self.unique_name)
        change.ids = app_ids(app)
        change.after = app
        change.applied = True
        return [change]


# --- the step kind (steps/registry.py) ----------------------------------------------------------
class _UnlessAppGone:
    """``down``: what hangs off an application that no longer exists is already gone."""

    def __init__(self, step, unique_name: str):
        self.step = step
        self.kind = step.kind
        self.unique_name = unique_name

    async def plan(self, session) -> list[Change]:
        if await find_application(session, self.unique_name, retry=False) is None:
            return [Change(self.kind, self._name(), "unchanged", reason="the application does not exist")]
        return await self.step.plan(session)

    def _name(self) -> str:
        """Named as the step names it when the app exists (app/credential, app <- owner)."""
        if getattr(self.step, "label", None) and self.kind == "owner":
            return f"{self.unique_name} <- {self.step.label}"
        if getattr(self.step, "name", None):
            return f"{self.unique_name}/{self.step.name}"
        return self.unique_name

    async def apply(self, session, changes: list[Change]) -> list[Change]:
        return await self.step.apply(session, changes)


def app_parts(spec, ctx: BuildContext, parts: Callable[[Any], Iterable], make: Callable[[Any, Any], Any],
              *, links: bool = False):
    """The steps of what belongs to each app of the file (its service principal, permissions,
    consents, owners, credentials), one per ``parts(app)`` made by ``make(app, part)``: in the app's
    chain (phase 1), or with ``links`` in its second-phase chain (owners and credentials need the
    identities). On ``down`` such a step has nothing to do once the application is gone."""
    for i, app in enumerate(spec.apps):
        for part in parts(app):
            step = make(app, part)
            if not ctx.present:
                step = _UnlessAppGone(step, app.unique_name)
            yield (2 if links else 1, i), f"app {app.unique_name}{' links' if links else ''}", step


def _steps(spec, ctx: BuildContext):
    for i, app in enumerate(spec.apps):
        yield (1, i), f"app {app.unique_name}", ApplicationStep(
            app.unique_name, app.display_name, app.sign_in_audience, present=ctx.present)


def _export(values: dict, change: Change) -> None:
    if change.ids.get("appId"):
        values["apps"][change.ids.get("uniqueName") or change.name] = {
            "appId": change.ids["appId"], "objectId": change.ids.get("objectId")}


STEP = StepKind(KIND, section="app", steps=_steps, phase=1, down_phase=2,
                labels={KIND: "app exists"}, needs=(PERMISSIONS["application"],), export=_export)
