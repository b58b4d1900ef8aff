"""Availability zones of subnets. There is no EC2 API here to say which zone a subnet is in, so a cluster's
subnets are taken to be spread over the region's zones in the order they were given (the first in REGIONa,
the second in REGIONb, ...), as a VPC laid out one subnet per zone is; a subnet listed twice counts once."""

from __future__ import annotations

import string

ZONES = 6  # us-east-1 has the most: a to f


def subnet_zones(subnets: list[str], region: str) -> dict[str, str]:
    ordered = list(dict.fromkeys(subnets))
    return {subnet: f"{region}{string.ascii_lowercase[i % ZONES]}" for i, subnet in enumerate(ordered)}
