"""Microsoft Graph's wire errors, with the exact texts where the public record has them. Every
Graph error the emulator answers is built here (on ``..errors.graph_error``, Graph's body shape).
"""

from __future__ import annotations

from ..errors import ApiError, graph_error


def not_found(resource_id: str) -> ApiError:
    # NOTE: the text Graph answers for any missing directory object (docs-contrib issue #6431).
    return graph_error(404, "Request_ResourceNotFound",
                       f"Resource '{resource_id}' does not exist or one of its queried "
                       "reference-property objects are not present.")


def denied() -> ApiError:
    # NOTE: Graph's 403 for a token without the needed role (docs-contrib issue #3970).
    return graph_error(403, "Authorization_RequestDenied",
                       "Insufficient privileges to complete the operation.")


def bad_request(message: str, code: str = "Request_BadRequest") -> ApiError:
    return graph_error(400, code, message)


def unreadable_body() -> ApiError:
    # NOTE: Graph's text for an unreadable body.
    return graph_error(400, "BadRequest", "Unable to read JSON request payload. Please ensure "
                       "Content-Type header is set and payload is of valid JSON format.")


def invalid_value(prop: str, resource: str) -> ApiError:
    # NOTE: Entra's generic validation text, "Invalid value specified for property 'X' of resource 'Y'."
    return bad_request(f"Invalid value specified for property '{prop}' of resource '{resource}'.")


def unknown_property(prop: str, type_name: str) -> ApiError:
    # NOTE: the OData library's text for a property the type does not define.
    return bad_request(f"The property '{prop}' does not exist on type 'microsoft.graph.{type_name}'. "
                       "Make sure to only use property names that are defined by the type or mark "
                       "the type as open type.")


def not_a_valid_reference() -> ApiError:
    # NOTE: 400 for a reference to an object this replica does not see yet (Microsoft Entra
    # Identity blog: "Designing for Eventual Consistency for Microsoft Entra"; azure-docs
    # service-fabric-cluster-creation-setup-aad troubleshooting).
    return bad_request("Not a valid reference update.")


def already_exists(message: str) -> ApiError:
    """Graph's 409 for a second object with the same key."""
    return graph_error(409, "Request_MultipleObjectsWithSameKeyValue", message)


def invalid_filter(detail: str) -> ApiError:
    return graph_error(400, "BadRequest", f"Invalid filter clause: {detail}")


def unsupported_filter_property(name: str, type_name: str) -> ApiError:
    # NOTE: Graph's text for a property it cannot filter on.
    return graph_error(400, "Request_UnsupportedQuery",
                       "Unsupported or invalid query filter clause specified for property "
                       f"'{name}' of resource '{type_name}'.")


def not_emulated(what: str) -> ApiError:
    return graph_error(501, "NotImplemented",
                       f"The emulator does not emulate {what}. See README.md, section "
                       "'The emulator', for the routes it serves.")
