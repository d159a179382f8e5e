"""A loopback imitation of CAISO OASIS ``SingleZip`` and Today's Outlook history files.

OASIS: the real parameters, zips holding CSV members in the real column layouts (rows unsorted, as
OASIS sends them), ``INVALID_REQUEST.xml`` error zips with the real error codes, and HTTP 429 with
the real HTML page for callers faster than its limit. Today's Outlook: 5-minute ``fuelsource.csv``
per Pacific day, blank rows for the spring-forward hour and the repeated fall-back hour collapsed.
"""

from __future__ import annotations

import io
import re
import threading
import time
import zipfile
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import polars as pl

from energy_caiso import synthetic
from energy_caiso.api import (
    CSV_RESULT,
    ERR_DESC,
    ERROR_MEMBER,
    FUELSOURCE,
    HISTORY_DAY_FORMAT,
    HUB_NODES,
    INTERVAL_END,
    INTERVAL_START,
    MAX_SPAN,
    OASIS_URL_VARIABLE,
    OUTLOOK_URL_VARIABLE,
    PACIFIC,
    REPORT_VERSIONS,
    SINGLE_ZIP,
    STAMP_FORMAT,
    THROTTLE_PAGE,
    ErrCode,
)
from energy_core.api import RateBudget, SimRequest, SimResponse, Simulator, Throttle

_STAMP = re.compile(r"^\d{8}T\d{2}:\d{2}-0000$")
_FUELSOURCE = re.compile(rf"^/outlook/history/(\d{{8}})/{re.escape(FUELSOURCE)}$")
_ZIP_TIME = (2025, 1, 1, 0, 0, 0)
_MARKETS = {"SLD_FCST": {"ACTUAL", "DAM", "2DA", "7DA"}, "SLD_REN_FCST": {"DAM", "ACTUAL"}, "PRC_LMP": {"DAM"},
            "ENE_SLRS": {"DAM"}}
_LOAD_ITEMS = {"ACTUAL": "SYS_FCST_ACT_MW", "DAM": "SYS_FCST_DA_MW", "2DA": "SYS_FCST_2DA_MW",
               "7DA": "SYS_FCST_7DA_MW"}


class OasisRefusal(Exception):
    def __init__(self, code: ErrCode) -> None:
        super().__init__(ERR_DESC[code])
        self.code, self.description = code, ERR_DESC[code]


class CaisoSimulator(Simulator):
    budget = RateBudget(40, per=1.0, burst=1, concurrency=1)
    """This simulator's own limit: the real one (1 per 5 s) would make every simulated run crawl. One
    request at a time, as OASIS asks."""

    def __init__(self, *, min_interval_s: float = 0.02, history_start: date | None = None,
                 throttle: Throttle | None = None) -> None:
        super().__init__(throttle=throttle)
        self.min_interval_s = 0.0 if self.throttle.rate else min_interval_s
        """OASIS requests closer together than this are answered with the 429 page (unless a throttle
        with a rate sets the limit instead)."""
        self.history_start = history_start
        """Before this day OASIS answers ERR_CODE 1000 (no data), as for data older than its retention."""
        self._last = float("-inf")
        self._lock = threading.Lock()

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> CaisoSimulator:
        return cls(throttle=Throttle.from_env(environ))

    def env(self) -> dict[str, str]:
        return {OASIS_URL_VARIABLE: f"{self.url}/oasisapi", OUTLOOK_URL_VARIABLE: f"{self.url}/outlook"}

    def throttled(self) -> SimResponse:
        """OASIS's acceptable-use page, which asks for a 5 s pause in its text, not in a Retry-After."""
        return SimResponse(429, THROTTLE_PAGE, {"Content-Type": "text/html"})

    def handle(self, request: SimRequest) -> SimResponse:
        if request.path == f"/oasisapi/{SINGLE_ZIP}":
            if not self._admit():
                return self.throttled()
            try:
                name, csv = self._report(request)
            except OasisRefusal as refusal:
                return _zip_response(ERROR_MEMBER, _error_xml(refusal.code, refusal.description))
            return _zip_response(name, csv)
        match = _FUELSOURCE.match(request.path)
        if match:
            day = datetime.strptime(match.group(1), HISTORY_DAY_FORMAT).date()
            return SimResponse(200, fuelsource_csv(day), {"Content-Type": "text/csv"})
        return SimResponse(404, b"<html><body>Not Found</body></html>", {"Content-Type": "text/html"})

    def _admit(self) -> bool:
        with self._lock:
            now = time.monotonic()
            if now - self._last < self.min_interval_s:
                return False
            self._last = now
            return True

    def _report(self, request: SimRequest) -> tuple[str, bytes]:
        query = request.first("queryname")
        if not query or not request.first("startdatetime") or not request.first("enddatetime"):
            raise OasisRefusal(ErrCode.EMPTY_QUERY)
        if query not in REPORT_VERSIONS:
            raise OasisRefusal(ErrCode.UNKNOWN_REPORT)
        if request.first("version") != str(REPORT_VERSIONS[query]):
            raise OasisRefusal(ErrCode.BAD_VERSION)
        market = request.first("market_run_id", "")
        if market not in _MARKETS[query] or request.first("resultformat") != CSV_RESULT:
            raise OasisRefusal(ErrCode.INVALID_PARAMETERS)
        start, end = _stamp(request.first("startdatetime")), _stamp(request.first("enddatetime"))
        if end - start > MAX_SPAN:
            raise OasisRefusal(ErrCode.SPAN_TOO_LONG)
        if self.history_start and end.date() <= self.history_start:
            raise OasisRefusal(ErrCode.NO_DATA)
        hours = pl.datetime_range(start, end, "1h", closed="left", time_zone="UTC", eager=True)
        frame = _REPORTS[query](market, hours, request)
        frame = frame.sample(fraction=1.0, shuffle=True, seed=len(hours))  # OASIS rows come unsorted
        name = f"{start:%Y%m%d}_{end:%Y%m%d}_{query}_{market}_20250101_00_00_00_v{REPORT_VERSIONS[query]}.csv"
        return name, frame.write_csv().encode()


def _stamp(text: str | None) -> datetime:
    if not text or not _STAMP.match(text):
        raise OasisRefusal(ErrCode.BAD_DATETIME)
    return datetime.strptime(text, STAMP_FORMAT).replace(tzinfo=UTC)


def _calendar(hours: pl.Series) -> pl.DataFrame:
    """GMT interval columns plus the Pacific operating day and hour ending (1..23/24/25)."""
    local = hours.dt.convert_time_zone(PACIFIC)
    midnight = local.dt.truncate("1d").dt.convert_time_zone("UTC")
    return pl.DataFrame({
        INTERVAL_START: hours.dt.strftime("%Y-%m-%dT%H:%M:%S-00:00"),
        INTERVAL_END: (hours + timedelta(hours=1)).dt.strftime("%Y-%m-%dT%H:%M:%S-00:00"),
        "OPR_DT": local.dt.strftime("%Y-%m-%d"),
        "OPR_HR": ((hours - midnight).dt.total_hours() + 1).cast(pl.Int32),
        "OPR_INTERVAL": pl.Series([0] * len(hours), dtype=pl.Int32),
    })


def _rows(hours: pl.Series, parts: Sequence[tuple[Mapping[str, object], np.ndarray]]) -> pl.DataFrame:
    calendar = _calendar(hours)
    return pl.concat([calendar.with_columns(*[pl.lit(v).alias(k) for k, v in fields.items()],
                                            MW=pl.Series(values)) for fields, values in parts])


def _epoch_hours(hours: pl.Series) -> np.ndarray:
    return hours.dt.epoch("s").to_numpy() / 3600


def _sld_fcst(market: str, hours: pl.Series, request: SimRequest) -> pl.DataFrame:
    t = _epoch_hours(hours)
    areas = ["CA ISO-TAC", *synthetic.TAC_LOAD, *synthetic.EIM_LOAD]
    values = (lambda a: synthetic.load(a, t)) if market == "ACTUAL" else (
        lambda a: synthetic.load_forecast(a, market, t))
    item = _LOAD_ITEMS[market]
    parts = [({"LOAD_TYPE": 0, "MARKET_RUN_ID": market, "TAC_AREA_NAME": area, "LABEL": "Demand Forecast",
               "XML_DATA_ITEM": item, "POS": 3.5}, values(area)) for area in areas]
    return _rows(hours, parts).with_columns(EXECUTION_TYPE=pl.lit(market), GROUP=pl.lit(1)).select(
        INTERVAL_START, INTERVAL_END, "LOAD_TYPE", "OPR_DT", "OPR_HR", "OPR_INTERVAL",
        "MARKET_RUN_ID", "TAC_AREA_NAME", "LABEL", "XML_DATA_ITEM", "POS", "MW", "EXECUTION_TYPE", "GROUP")


def _sld_ren_fcst(market: str, hours: pl.Series, request: SimRequest) -> pl.DataFrame:
    t = _epoch_hours(hours)
    parts = [({"TRADING_HUB": hub, "RENEWABLE_TYPE": kind, "LABEL": "Renewable Forecast Day Ahead",
               "XML_DATA_ITEM": "RENEW_FCST_DA_MW", "MARKET_RUN_ID": market}, synthetic.renewables(hub, kind, t))
             for hub in synthetic.HUBS for kind in ("Solar", "Wind")]
    return _rows(hours, parts).with_columns(GROUP=pl.lit(1))


def _prc_lmp(market: str, hours: pl.Series, request: SimRequest) -> pl.DataFrame:
    t = _epoch_hours(hours)
    nodes = [n for n in (request.first("node") or ",".join(HUB_NODES)).split(",") if n in HUB_NODES]
    items = {"LMP": "LMP_PRC", "MCE": "LMP_ENE_PRC", "MCC": "LMP_CONG_PRC", "MCL": "LMP_LOSS_PRC",
             "MGHG": "LMP_GHG_PRC"}
    parts = [({"NODE_ID_XML": node, "NODE_ID": node, "NODE": node, "MARKET_RUN_ID": market, "LMP_TYPE": kind,
               "XML_DATA_ITEM": item, "PNODE_RESMRID": node, "GRP_TYPE": "ALL", "POS": 1},
              synthetic.lmp(node, kind, t)) for node in nodes for kind, item in items.items()]
    return _rows(hours, parts).with_columns(GROUP=pl.lit(1))


def _ene_slrs(market: str, hours: pl.Series, request: SimRequest) -> pl.DataFrame:
    t = _epoch_hours(hours)
    parts = [({"SLRS_TYPE": "ALL", "MARKET_RUN_ID": market, "TAC_ZONE_NAME": "Caiso_Totals", "SCHEDULE": kind,
               "XML_DATA_ITEM": f"ISO_TOT_{kind[:3].upper()}_MW", "POS": 1},
              synthetic.schedule("Caiso_Totals", kind, t)) for kind in ("Export", "Generation", "Import")]
    kinds = {"Export": "ETIE", "Generation": "GEN", "Import": "ITIE"}
    parts += [({"SLRS_TYPE": kinds[kind], "MARKET_RUN_ID": market, "TAC_ZONE_NAME": zone, "SCHEDULE": kind,
                "XML_DATA_ITEM": f"TOT_{kind[:3].upper()}_MW", "POS": 1}, synthetic.schedule(zone, kind, t))
              for zone in synthetic.ZONES for kind in kinds]
    return _rows(hours, parts).with_columns(GROUP=pl.lit(1)).select(
        INTERVAL_START, INTERVAL_END, "SLRS_TYPE", "OPR_DT", "OPR_HR", "OPR_INTERVAL",
        "MARKET_RUN_ID", "TAC_ZONE_NAME", "SCHEDULE", "XML_DATA_ITEM", "POS", "MW", "GROUP")


_REPORTS = {"SLD_FCST": _sld_fcst, "SLD_REN_FCST": _sld_ren_fcst, "PRC_LMP": _prc_lmp, "ENE_SLRS": _ene_slrs}


def fuelsource_csv(day: date) -> bytes:
    """One Pacific day of 5-minute generation by fuel, with Today's Outlook's daylight-saving quirks."""
    zone = ZoneInfo(PACIFIC)
    names = list(synthetic.FUELS)
    if day.toordinal() % 2:  # the real files drift in casing from day to day
        names = [n.replace("Natural Gas", "Natural gas").replace("Small hydro", "Small Hydro") for n in names]
    lines, seen = [",".join(["Time", *names])], set()
    for step in range(289):  # 00:00 .. 23:55, then the next day's 00:00
        wall = datetime.combine(day, datetime.min.time()) + timedelta(minutes=5 * step)
        label = f"{wall:%H:%M}"
        local = wall.replace(tzinfo=zone)
        exists = local.astimezone(UTC).astimezone(zone).replace(tzinfo=None) == wall
        if (wall.date(), label) in seen:
            continue  # the repeated fall-back hour appears once
        seen.add((wall.date(), label))
        if not exists:
            lines.append(",".join([label] + [""] * len(names)))
            continue
        minute = np.array([local.astimezone(UTC).timestamp() / 60])
        lines.append(",".join([label] + [f"{synthetic.fuel_mix(f, minute)[0]:.0f}" for f in synthetic.FUELS]))
    return ("\n".join(lines) + "\n").encode()


def _error_xml(code: int, description: str) -> bytes:
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n<m:OASISReport xmlns:m="http://www.caiso.com/soa/OASISReport_v1.xsd">'
        f"<m:MessageHeader><m:TimeDate>{datetime.now(UTC):%Y-%m-%dT%H:%M:%S}.000Z</m:TimeDate><m:Source>OASIS"
        "</m:Source><m:Version>v20131201</m:Version></m:MessageHeader><m:MessagePayload><m:RTO><m:name>CAISO"
        f"</m:name><m:ERROR><m:ERR_CODE>{code}</m:ERR_CODE><m:ERR_DESC>{description}</m:ERR_DESC></m:ERROR>"
        "</m:RTO></m:MessagePayload></m:OASISReport>"
    ).encode()


def _zip_response(member: str, data: bytes) -> SimResponse:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(zipfile.ZipInfo(member, _ZIP_TIME), data, compress_type=zipfile.ZIP_DEFLATED)
    return SimResponse(200, buffer.getvalue(), {"Content-Type": "application/x-zip-compressed",
                                                "Content-Disposition": f"inline; filename={member}.zip;"})
