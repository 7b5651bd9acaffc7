"""The one Intune read the demo needs: ``GET /deviceManagement/deviceConfigurations`` (always an
empty list; it proves a DeviceManagementConfiguration permission reached the token).
Source: Microsoft Graph: "List deviceConfigurations".
"""

from __future__ import annotations

from aiohttp import web

from ..http import json_response
from .context import Ctx
from .query import check_unsupported_options


async def list_device_configurations(ctx: Ctx) -> web.Response:
    check_unsupported_options(ctx.request.query)
    return json_response({"@odata.context": f"{ctx.base}/$metadata#deviceManagement/deviceConfigurations",
                          "value": []})
