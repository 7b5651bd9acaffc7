"""The application's service principal, upserted by ``appId``.

``upsert_service_principal`` (Microsoft Graph: Upsert servicePrincipal, by appId). Right after
the app is created this fails with Entra ID's replication-delay errors ("Objects may take time to
replicate": 400 "does not reference a valid application object", 403 "backing application … must
in the local tenant", 409 Error_MsaAppDoesNotExist); clients/retry.py retries them.
"""

from __future__ import annotations

from ..clients.graph_ops import PERMISSIONS
from ..engine import BuildContext, Change, StepKind, is_planned, planned
from .lookups import find_service_principal, remember_service_principal, require_application
from .application import app_name, app_parts

KIND = "servicePrincipal"


def sp_ids(sp: dict) -> dict[str, str]:
    return {"objectId": sp.get("id", ""), "appId": sp.get("appId", "")}


class ServicePrincipalStep:
    """Ensure the service principal of the application ``app_ref`` exists (or is absent)."""

    kind = KIND

    def __init__(self, app_ref: str, *, present: bool = True):
        self.app_ref = app_ref
        self.present = present
        self.app: dict | None = None
        self.current: dict | None = None

    async def plan(self, session) -> list[Change]:
        self.app = await require_application(session, self.app_ref)
        name = app_name(self.app, self.app_ref)
        if is_planned(self.app):
            action = "create" if self.present else "unchanged"
            return [Change(KIND, name, action, reason="after the application is created"
                           if self.present else "the application does not exist")]
        self.current = await find_service_principal(session, self.app["appId"])
        if self.present and self.current is None:
            remember_service_principal(session, self.app["appId"], planned(appId=self.app["appId"]))
            return [Change(KIND, name, "create", {"appId": self.app["appId"]}, reason="does not exist")]
        if self.present:
            return [Change(KIND, name, "unchanged", sp_ids(self.current), reason="exists")]
        if self.current is None:
            return [Change(KIND, name, "unchanged", {"appId": self.app["appId"]}, reason="does not exist")]
        return [Change(KIND, name, "delete", sp_ids(self.current), reason="requested")]

    async def apply(self, session, changes: list[Change]) -> list[Change]:
        change = changes[0]
        app_id = self.app["appId"]
        name = app_name(self.app, self.app_ref)
        if change.action == "delete":
            await session.graph_ops.delete_service_principal(self.current["id"], name)
            remember_service_principal(session, app_id, None)
            change.applied = True
            return [change]
        sp = await session.graph_ops.upsert_service_principal(app_id, name)
        remember_service_principal(session, app_id, sp)
        change.ids = sp_ids(sp)
        change.after = sp
        change.applied = True
        return [change]


# --- the step kind (steps/registry.py) ----------------------------------------------------------
def _steps(spec, ctx: BuildContext):
    return app_parts(spec, ctx, lambda app: [app],
                     lambda app, _: ServicePrincipalStep(app.unique_name, present=ctx.present))


def _export(values: dict, change: Change) -> None:
    if change.ids.get("objectId"):
        for app in values["apps"].values():
            if app["appId"] == change.ids.get("appId"):
                app["servicePrincipalId"] = change.ids["objectId"]


STEP = StepKind(KIND, section="app", steps=_steps, phase=1, down_phase=2,
                labels={KIND: "service principal exists"}, needs=(PERMISSIONS["servicePrincipal"],),
                export=_export)
