"""The client's vocabulary stays within what the API documents."""

from __future__ import annotations

from energy_eia import api
from energy_eia.codes import FUEL_TYPES, REGION_TYPES, ROUTES


def test_every_code_the_client_names_is_a_documented_one():
    assert REGION_TYPES.keys() == api.REGION_TYPE_NAMES.keys()
    assert FUEL_TYPES.keys() <= api.FUEL_TYPE_NAMES.keys()
    assert {route.path: route.code_column for route in ROUTES.values()} == api.CODE_COLUMNS
