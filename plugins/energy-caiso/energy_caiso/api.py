"""What CAISO documents (or demonstrably does) for OASIS ``SingleZip`` and Today's Outlook, shared by the
client and the simulator.

Both sides import these facts from here, so a mistake in the client is not copied into the double that
tests it. Sources: the OASIS Interface Specification, recorded OASIS answers, and maintained clients.
"""

from __future__ import annotations

import enum
from datetime import timedelta

DEFAULT_OASIS_URL = "https://oasis.caiso.com/oasisapi"
"""Call https directly: ``http://`` answers 302 to the https address."""
DEFAULT_OUTLOOK_URL = "https://www.caiso.com/outlook"
OASIS_URL_VARIABLE = "ENERGY_CAISO_URL"
OUTLOOK_URL_VARIABLE = "ENERGY_CAISO_OUTLOOK_URL"
"""Override the base URLs (the simulator points them at itself)."""

SINGLE_ZIP = "SingleZip"
"""The OASIS path that answers one report as a zip."""
STAMP_FORMAT = "%Y%m%dT%H:%M-0000"
"""``startdatetime``/``enddatetime`` in GMT; ISO dashes are refused with ERR_CODE 1002."""
MAX_SPAN = timedelta(days=31)
"""The longest span one request may cover (ERR_CODE 1004 beyond it)."""
CSV_RESULT = "6"
"""``resultformat=6`` puts a CSV member in the zip (without it, XML)."""
REPORT_VERSIONS = {"SLD_FCST": 1, "SLD_REN_FCST": 1, "PRC_LMP": 12, "ENE_SLRS": 1}
"""The mandatory ``version`` parameter of each report this project reads."""
INTERVAL_START, INTERVAL_END = "INTERVALSTARTTIME_GMT", "INTERVALENDTIME_GMT"
"""The CSV columns holding each interval's instants (ISO with a ``-00:00`` offset): the authoritative times."""
HUB_NODES = {"TH_NP15_GEN-APND": "NP15", "TH_SP15_GEN-APND": "SP15", "TH_ZP26_GEN-APND": "ZP26"}
"""Trading-hub price nodes and the hubs' names (``TRADING_HUB`` in the renewables report)."""
TAC_AREAS = ("PGE-TAC", "SCE-TAC", "SDGE-TAC", "VEA-TAC", "MWD-TAC")
"""CAISO's own transmission access charge areas (``TAC_AREA_NAME`` of SLD_FCST, whose system total is
``CA ISO-TAC``; MWD-TAC joined later than the others). The report's other areas are members of the
Western Energy Imbalance Market, a roster that grows."""
PACIFIC = "America/Los_Angeles"
"""Operating days (``OPR_DT``) and Today's Outlook's wall times are Pacific."""

ERROR_MEMBER = "INVALID_REQUEST.xml"
"""The zip member OASIS sends, with HTTP 200, for an error or for "no data"."""


class ErrCode(enum.IntEnum):
    """The ``ERR_CODE`` s of ``INVALID_REQUEST.xml`` this project meets."""

    NO_DATA = 1000
    INVALID_PARAMETERS = 1001
    BAD_DATETIME = 1002
    TIMED_OUT = 1003
    SPAN_TOO_LONG = 1004
    UNKNOWN_REPORT = 1005
    EMPTY_QUERY = 1011
    GROUPZIP_PROCESSING = 1015
    BAD_VERSION = 1020


ERR_DESC = {
    ErrCode.NO_DATA: "No data returned for the specified selection",
    ErrCode.INVALID_PARAMETERS: "Invalid Parameters of the given report name",
    ErrCode.BAD_DATETIME: "Invalid datetime format, please use valid datetime format",
    ErrCode.TIMED_OUT: "Timed out waiting for query response",
    ErrCode.SPAN_TOO_LONG: "Data can be requested for period of 31 days only",
    ErrCode.UNKNOWN_REPORT: "Report name does not exist, please use valid report name",
    ErrCode.EMPTY_QUERY: "Empty Query; Please Enter Report Name, Startdate, EndDate and Other Parameters",
    ErrCode.GROUPZIP_PROCESSING: "GroupZip DownLoad is in Processing, Please Submit request after Sometime",
    ErrCode.BAD_VERSION: "Version parameter is missing or is invalid",
}
"""Each code's ``ERR_DESC`` as OASIS words it."""

MIN_INTERVAL_S = 5.0
"""OASIS allows about one request per 5 seconds and answers faster callers with HTTP 429 and this page."""
THROTTLE_PAGE = (b"<html><body><p>CAISO Acceptable Use Policy Violation. Please retry your request after 5 "
                 b"seconds.</p></body></html>")

FUELSOURCE = "fuelsource.csv"
"""Today's Outlook's 5-minute generation by fuel for one Pacific day, at ``history/YYYYMMDD/fuelsource.csv``."""
HISTORY_DAY_FORMAT = "%Y%m%d"
