"""Matching a client assertion against an application's federated identity credentials, with
Entra's refusals (AADSTS700211/700212/700213/7002138, and 70021 while a new credential is still
replicating).

Source: Entra ID: "Configure an app to trust an external identity provider" (issuer, subject and
audience must match a credential exactly, case-sensitive; one audience per credential).
"""

from __future__ import annotations

from ..errors import ApiError, aad_error
from ..state import World

FIC_DOC = "https://learn.microsoft.com/entra/workload-id/workload-identity-federation"


def _no_fic_match(code: int, message: str) -> ApiError:
    # NOTE: Entra answers FIC mismatches as 401 invalid_client (azure-workload-identity#1200,
    # microsoft/Agents#202 show the bodies).
    return aad_error(401, "invalid_client", code, message)


def match_federated_credential(world: World, app: dict, claims: dict) -> dict:
    """The app's FIC matching the assertion: issuer, subject, audiences[0], case-sensitive."""
    iss, sub, aud = claims.get("iss", ""), claims.get("sub", ""), claims.get("aud", "")
    if isinstance(aud, list):
        aud = aud[0] if aud else ""
    fics = world.graph["federatedIdentityCredentials"].get(app["id"], [])
    by_issuer = [f for f in fics if f.get("issuer") == iss]
    if not by_issuer:
        raise _no_fic_match(700211, f"No matching federated identity record found for presented "
                                    f"assertion issuer '{iss}'. Please check your federated identity "
                                    "credential Subject, Audience and Issuer against the presented "
                                    f"assertion. {FIC_DOC}")
    by_subject = [f for f in by_issuer if f.get("subject") == sub]
    if not by_subject:
        if any((f.get("subject") or "").lower() == sub.lower() for f in by_issuer):
            raise _no_fic_match(7002138, f"No matching federated identity record found for presented "
                                         f"assertion subject '{sub}'. The subject matches with "
                                         "case-insensitive comparison, but not with case-sensitive "
                                         "comparison. Check your federated identity credential Subject, "
                                         "Audience and Issuer against the presented assertion. See "
                                         f"documentation at: {FIC_DOC}.")
        raise _no_fic_match(700213, f"No matching federated identity record found for presented "
                                    f"assertion subject '{sub}'. Check your federated identity "
                                    "credential Subject, Audience and Issuer against the presented "
                                    f"assertion. {FIC_DOC}")
    by_audience = [f for f in by_subject if (f.get("audiences") or [None])[0] == aud]
    if not by_audience:
        raise _no_fic_match(700212, f"No matching federated identity record found for presented "
                                    f"assertion audience '{aud}'. Check your federated identity "
                                    "credential Subject, Audience and Issuer against the presented "
                                    f"assertion. {FIC_DOC}")
    fic = by_audience[0]
    if fic.get("id") and world.lagging(fic["id"]):
        # NOTE: a just-created FIC answers AADSTS70021 until it has propagated (Entra ID: "Important
        # considerations and restrictions for federated identity credentials", propagation delay).
        raise aad_error(400, "invalid_request", 70021,
                        "No matching federated identity record found for presented assertion. "
                        f"Assertion Issuer: '{iss}'. Assertion Subject: '{sub}'. Assertion Audience: "
                        f"'{aud}'. {FIC_DOC}")
    return fic

