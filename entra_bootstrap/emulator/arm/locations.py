"""Where ARM lets a resource be created: the public-cloud regions, and the location checks of a PUT
(``LocationRequired``, ``LocationNotAvailableForResourceType``, ``InvalidResourceLocation``).
"""

from __future__ import annotations

from ..errors import arm_error

# NOTE: public-cloud regions (az account list-locations); a PUT elsewhere is refused as ARM does.
LOCATIONS = frozenset("""
eastus eastus2 westus westus2 westus3 centralus northcentralus southcentralus westcentralus
canadacentral canadaeast brazilsouth northeurope westeurope uksouth ukwest francecentral
germanywestcentral norwayeast switzerlandnorth swedencentral polandcentral italynorth spaincentral
eastasia southeastasia japaneast japanwest australiaeast australiasoutheast centralindia
southindia koreacentral uaenorth southafricanorth qatarcentral israelcentral mexicocentral
""".split())


def check_location(body: dict, rid: str, old: dict | None, rtype: str) -> str:
    location = body.get("location")
    if not location:
        raise arm_error(400, "LocationRequired", "The location property is required for this definition.")
    norm = str(location).replace(" ", "").lower()
    if norm not in LOCATIONS:
        raise arm_error(400, "LocationNotAvailableForResourceType",
                        f"The provided location '{location}' is not available for resource type "
                        f"'{rtype}'. List of available regions for the resource type is "
                        f"'{','.join(sorted(LOCATIONS))}'.")
    if old is not None and old["location"] != norm:
        rg = rid.split("/")[4]
        raise arm_error(400, "InvalidResourceLocation",
                        f"The resource '{old['name']}' already exists in location '{old['location']}' in "
                        f"resource group '{rg}'. A resource with the same name cannot be created in "
                        f"location '{norm}'. Please select a new resource name.")
    return norm
