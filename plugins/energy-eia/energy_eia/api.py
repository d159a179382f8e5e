"""What EIA API v2 documents for the RTO routes, shared by the client and the simulator.

Both sides import these facts from here, so a mistake in the client is not copied into the double
that tests it. Sources: https://www.eia.gov/opendata/documentation.php and recorded responses.
"""

from __future__ import annotations

DEFAULT_URL = "https://api.eia.gov/v2"
URL_VARIABLE = "ENERGY_EIA_URL"
"""Overrides the base URL (the simulator points it at itself)."""
KEY_VARIABLE = "EIA_API_KEY"
"""The API key, sent as the ``api_key`` query parameter: EIA reads it from the URL, not from headers."""
REGISTER_URL = "https://www.eia.gov/opendata/register.php"
TABLE_VARIABLE = "ENERGY_EIA_SIMULATOR_TABLE"
"""A Parquet or CSV table of EIA-930 rows the simulator replays instead of its synthetic data."""

REGION_DATA = "electricity/rto/region-data"
FUEL_TYPE_DATA = "electricity/rto/fuel-type-data"
CODE_COLUMNS = {REGION_DATA: "type", FUEL_TYPE_DATA: "fueltype"}
"""Route -> the field (and facet) that holds a row's code. A route's data are at ``<route>/data/``."""

FREQUENCY = "hourly"
"""UTC hours (``local-hourly`` would be local time)."""
PERIOD_FORMAT = "%Y-%m-%dT%H"
"""``period`` of an hourly row, the hour *ending* the interval; ``start`` and ``end`` take the same form
and both bounds are inclusive."""
PAGE_LENGTH = 5000
"""The most rows one JSON response holds; longer answers are read page by page with ``offset``."""

REGION_TYPE_NAMES = {
    "D": "Demand", "DF": "Day-ahead demand forecast", "NG": "Net generation", "TI": "Total interchange",
}
"""region-data ``type`` codes and their ``type-name``."""
FUEL_TYPE_NAMES = {
    "BAT": "Battery storage", "COL": "Coal", "GEO": "Geothermal", "NG": "Natural Gas", "NUC": "Nuclear",
    "OES": "Other energy storage", "OIL": "Petroleum", "OTH": "Other", "PS": "Pumped storage",
    "SNB": "Solar with integrated battery storage", "SUN": "Solar", "UES": "Unknown energy storage",
    "UNK": "Unknown", "WAT": "Hydro", "WNB": "Wind with integrated battery storage", "WND": "Wind",
}
"""fuel-type-data ``fueltype`` codes and their ``type-name`` (whose casing is not stable)."""

KEY_MISSING = "API_KEY_MISSING"
KEY_INVALID = "API_KEY_INVALID"
"""Gateway error codes, sent as ``{"error": {"code": ..., "message": ...}}`` with HTTP 403; parameter errors
come as ``{"error": "<text>", "code": <int>}`` instead."""


# The EIA-930 respondents: every balancing authority that files EIA-930 data and every region EIA sums
# them into, each with the IANA time zone of where its load is (what calendar features need). These are
# the ``respondent`` facet values of the RTO routes (81 when this was written: 67 BAs, retired ones
# included because their history is still served, and 14 regions); a facet value outside them is answered
# with no rows and no error, so ``--region`` accepts only these. The Canadian and Mexican BAs of EIA's
# reference table (AESO, BCHA, CEN, HQT, IESO, MHEB, NBSO, SPC) appear only as interchange partners: they
# file no EIA-930 data, so they are no respondents. EIA's reference table gives each BA the zone it reports
# in; where that differs from where its load is, or the choice is a judgment, a comment says so.
# Sources: EIA-930 reference tables (https://www.eia.gov/electricity/930-content/EIA930_Reference_Tables.xlsx)
# and the respondent facet (https://api.eia.gov/v2/electricity/rto/region-data/facet/respondent).

_PACIFIC, _MOUNTAIN, _ARIZONA, _CENTRAL, _EASTERN = (
    "America/Los_Angeles", "America/Denver", "America/Phoenix", "America/Chicago", "America/New_York")

BALANCING_AUTHORITIES: dict[str, str] = {
    "AEC": _CENTRAL,  # PowerSouth Energy Cooperative, Alabama; retired 2021-09
    "AECI": _CENTRAL,  # Associated Electric Cooperative, Missouri
    "AVA": _PACIFIC,  # Avista, Spokane
    "AVRN": _PACIFIC,  # Avangrid Renewables, generation only (wind in Oregon and Washington)
    "AZPS": _ARIZONA,  # Arizona Public Service
    "BANC": _PACIFIC,  # Balancing Authority of Northern California
    "BPAT": _PACIFIC,  # Bonneville Power Administration
    "CHPD": _PACIFIC,  # Chelan County PUD
    "CISO": _PACIFIC,  # California ISO
    "CPLE": _EASTERN,  # Duke Energy Progress East
    "CPLW": _EASTERN,  # Duke Energy Progress West
    "DEAA": _ARIZONA,  # Arlington Valley, generation only, Arizona
    "DOPD": _PACIFIC,  # Douglas County PUD
    "DUK": _EASTERN,  # Duke Energy Carolinas
    "EEI": _CENTRAL,  # Electric Energy, Inc., Joppa, Illinois; retired 2020-02
    "EPE": _MOUNTAIN,  # El Paso Electric: El Paso and southern New Mexico keep Mountain time with DST (uncertain:
    # EIA's table may list the zone it reports in, Arizona, instead)
    "ERCO": _CENTRAL,  # ERCOT
    "FMPP": _EASTERN,  # Florida Municipal Power Pool
    "FPC": _EASTERN,  # Duke Energy Florida
    "FPL": _EASTERN,  # Florida Power & Light
    "GCPD": _PACIFIC,  # Grant County PUD
    "GLHB": _CENTRAL,  # GridLiance, Midwest region; retired 2022-09 (uncertain: location not published)
    "GRID": _PACIFIC,  # Gridforce Energy Management, generation only, Northwest region (uncertain)
    "GRIF": _ARIZONA,  # Griffith Energy, generation only, Kingman, Arizona
    "GVL": _EASTERN,  # Gainesville Regional Utilities
    "GWA": _MOUNTAIN,  # NaturEner Power Watch, generation only, Montana
    "HGMA": _ARIZONA,  # New Harquahala Generating, generation only, Arizona
    "HST": _EASTERN,  # City of Homestead, Florida
    "IID": _PACIFIC,  # Imperial Irrigation District
    "IPCO": "America/Boise",  # Idaho Power: southern Idaho keeps Mountain time (EIA's table may say Pacific)
    "ISNE": _EASTERN,  # ISO New England
    "JEA": _EASTERN,  # JEA, Jacksonville
    "LDWP": _PACIFIC,  # Los Angeles Department of Water and Power
    "LGEE": _EASTERN,  # LG&E and KU, Louisville
    "MISO": _CENTRAL,  # EIA's table lists Eastern (MISO's market clock); most of its load is on Central time
    "NEVP": _PACIFIC,  # Nevada Power, Las Vegas
    "NSB": _EASTERN,  # New Smyrna Beach, Florida; retired 2020-01
    "NWMT": _MOUNTAIN,  # NorthWestern Energy, Montana
    "NYIS": _EASTERN,  # New York ISO
    "PACE": _MOUNTAIN,  # PacifiCorp East, Utah and Wyoming
    "PACW": _PACIFIC,  # PacifiCorp West, Oregon
    "PGE": _PACIFIC,  # Portland General Electric
    "PJM": _EASTERN,  # PJM (its western part, Chicago, is on Central time)
    "PNM": _MOUNTAIN,  # Public Service Company of New Mexico (EIA's table may list Arizona, the zone it reports in)
    "PSCO": _MOUNTAIN,  # Public Service Company of Colorado
    "PSEI": _PACIFIC,  # Puget Sound Energy
    "SC": _EASTERN,  # Santee Cooper
    "SCEG": _EASTERN,  # Dominion Energy South Carolina
    "SCL": _PACIFIC,  # Seattle City Light
    "SEC": _EASTERN,  # Seminole Electric Cooperative, Florida
    "SEPA": _EASTERN,  # Southeastern Power Administration, generation only, Savannah River dams (uncertain:
    # EIA's table may list Central)
    "SIKE": _CENTRAL,  # Sikeston Board of Municipal Utilities, Missouri
    "SOCO": _CENTRAL,  # Southern Company: EIA's table lists Central, its operating clock; Georgia's load is on
    # Eastern time (uncertain which a calendar should follow)
    "SPA": _CENTRAL,  # Southwestern Power Administration, Tulsa
    "SRP": _ARIZONA,  # Salt River Project
    "SWPP": _CENTRAL,  # Southwest Power Pool
    "TAL": _EASTERN,  # City of Tallahassee
    "TEC": _EASTERN,  # Tampa Electric
    "TEPC": _ARIZONA,  # Tucson Electric Power
    "TIDC": _PACIFIC,  # Turlock Irrigation District
    "TPWR": _PACIFIC,  # Tacoma Power
    "TVA": _CENTRAL,  # Tennessee Valley Authority (Knoxville and Chattanooga are on Eastern time)
    "WACM": _MOUNTAIN,  # WAPA Rocky Mountain, Colorado
    "WALC": _ARIZONA,  # WAPA Desert Southwest, Arizona
    "WAUW": _MOUNTAIN,  # WAPA Upper Great Plains West, Montana
    "WWA": _MOUNTAIN,  # NaturEner Wind Watch, generation only, Montana
    "YAD": _EASTERN,  # Alcoa Power Generating, Yadkin Division, North Carolina
}
"""Balancing authority -> IANA time zone of its load."""

REGIONS: dict[str, str] = {
    "CAL": _PACIFIC,  # California
    "CAR": _EASTERN,  # Carolinas
    "CENT": _CENTRAL,  # Central (SWPP, SPA)
    "FLA": _EASTERN,  # Florida
    "MIDA": _EASTERN,  # Mid-Atlantic (PJM)
    "MIDW": _CENTRAL,  # Midwest (MISO, AECI, LGEE, ...)
    "NE": _EASTERN,  # New England
    "NW": _PACIFIC,  # Northwest: its Mountain-time BAs (PACE, PSCO, NWMT, ...) share it (uncertain)
    "NY": _EASTERN,  # New York
    "SE": _CENTRAL,  # Southeast (SOCO, AEC, SEPA): as SOCO (uncertain)
    "SW": _ARIZONA,  # Southwest (AZPS, SRP, TEPC, EPE, PNM, ...)
    "TEN": _CENTRAL,  # Tennessee (TVA)
    "TEX": _CENTRAL,  # Texas (ERCO)
    "US48": _EASTERN,  # the lower 48 states have no one local time: Eastern by convention (uncertain)
}
"""EIA-930 region (the sum of its BAs) -> IANA time zone its calendar features use."""

RESPONDENTS: dict[str, str] = BALANCING_AUTHORITIES | REGIONS
"""Every respondent the API serves -> its time zone."""
