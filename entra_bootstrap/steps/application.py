"""The application (app registration), upserted by its ``uniqueName`` - never by display name.

Create/update: ``PATCH /applications(uniqueName='u')`` with ``Prefer: create-if-missing`` and the
managed fields (Microsoft Graph: Upsert application; application resource type): 201 with the new app, or 204
when it existed. Managed fields are ``displayName`` and, when the user gives it,
``signInAudience``; nothing else is compared (server defaults are never diffed).
Delete: ``DELETE /applications/{id}`` of the app found by client id, object id or unique name;
an app that does not exist is ``unchanged`` (the delete is idempotent).
"""

from __future__ import annotations

from ..clients.graph import key_segment
from ..engine import Change, is_planned, planned
from ..spec.rules import SIGN_IN_AUDIENCES  # noqa: F401 - the rule lives in spec/rules.py
from . import (PERMISSIONS, app_label, find_application, forget_application, remember_application)

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
            await session.graph.call("DELETE", f"/applications/{self.current['id']}",
                                     obj=app_label(self.unique_name), needs=PERMISSIONS["application"],
                                     replicating=True, missing_ok=True)
            forget_application(session, self.current)
            change.applied = True
            return [change]
        path = "/applications" + key_segment("uniqueName", self.unique_name)
        response = await session.graph.call("PATCH", path, body=self.wanted(),
                                            headers={"Prefer": "create-if-missing"},
                                            obj=app_label(self.unique_name),
                                            needs=PERMISSIONS["application"])
        if response.status == 201 and response.body:
            app = response.body              # what the server holds, as it answered the create
        else:
            app = await session.graph.get(path, obj=app_label(self.unique_name), replicating=True,
                                          needs=PERMISSIONS["application"])
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
