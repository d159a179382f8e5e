"""The native page decoder (energy_eia/_pages.c) reads a page exactly as the general one does, gives every
page it does not fully understand to the general one, and lets other threads run while it reads."""

from __future__ import annotations

import json
import threading
import time
from datetime import datetime
from functools import cache
from itertools import pairwise
from unittest.mock import patch

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from energy_core.errors import EnergyError
from energy_core.plugin.interfaces import HttpResponse
from energy_eia import parse
from energy_eia.codes import ROUTES
from tests.eia_pages import page, row
from tests.recorded import recorded

pytestmark = pytest.mark.skipif(not parse.native_decoder(),
                                reason="energy-eia was installed without a C compiler: no native decoder to test")

REGION, FUEL = ROUTES["eia.region"], ROUTES["eia.fuel"]


def outcome(body: bytes, route=REGION):
    """What ``parse_page`` makes of ``body``: its rows, total and warnings, or its error."""
    try:
        page = parse.parse_page(HttpResponse(200, "application/json", body, "t"), route)
    except EnergyError as exc:
        return type(exc), str(exc)
    return page.rows.schema, page.rows.to_dicts(), page.total, page.warnings


def general_outcome(body: bytes, route=REGION):
    with patch.object(parse, "_pages", None):
        return outcome(body, route)


def natively_read(body: bytes, route=REGION) -> bool:
    return parse._pages.decode(body, route.code_column.encode()) is not None


@pytest.mark.parametrize(("name", "route"), [("region-data_PACW_D_2023-01-01_2023-01-08_total169.json", REGION),
                                             ("fuel-type-data_PACW_2024-01-01_2024-01-07_total725.json", FUEL)])
def test_a_page_as_eia_sends_it_is_read_natively_and_alike(name, route):
    body = recorded(f"eia/{name}").read_bytes()
    assert natively_read(body, route)
    assert outcome(body, route) == general_outcome(body, route)


def test_numbers_numeric_text_and_nulls_are_read_natively():
    values = ["282", 282, 282.5, None, "-12", "0.1", 1e-7, "1E+5", -0.0, 12345678901234567890]
    body = page([row(v) for v in values])
    assert natively_read(body)
    _, rows, total, warnings = outcome(body)
    assert [r["value"] for r in rows] == [282.0, 282.0, 282.5, None, -12.0, 0.1, 1e-7, 1e5, 0.0, 1.2345678901234567e19]
    assert (total, warnings) == (len(values), ())


def test_a_row_without_a_value_reads_as_missing():
    body = page([{k: v for k, v in row().items() if k != "value"}])
    assert natively_read(body)
    assert outcome(body)[1][0]["value"] is None


PLAIN = page([row()])


@pytest.mark.parametrize("body", [
    page([row(respondent="P\\u00e9")]),                          # an escape in a kept field
    page([row(respondent="Pé")]),                                # text outside ASCII
    page([row(period="2023-02-29T01")]), page([row(period="2024-03-10")]),  # no such hour; not hourly
    page([row("NA")]), page([row("")]), page([row(" 12")]),      # values only the general decoder reads
    page([row("1e309")]), page([row(True)]), page([row([1])]),
    page([row()], warnings=[{"warning": "incomplete return", "description": "only 5000 rows"}]),
    page([row()], total="-1"), page([row()], total="12a"), page([row()], total="01"), page([row()], total="1e0"),
    page([{k: v for k, v in row().items() if k != "respondent"}]),  # a missing field
    PLAIN.replace(b'"type":"D"', b'"type":"D","type":"DF"'),         # a repeated one
    PLAIN.replace(b'"value":"2455"', b'"value":1e309'),              # beyond the range of a float
    PLAIN.replace(b'"value":"2455"', b'"value":01'),                 # not JSON
    PLAIN.replace(b'"2.1.8"', b'"\\ud800"'),                          # a lone surrogate, in a field not kept
    PLAIN + b" x", PLAIN[:-1], b'{"apiVersion": "2.1.8"}', b"[]",
])
def test_a_page_off_the_plain_shape_is_left_to_the_general_decoder(body):
    assert natively_read(PLAIN)
    assert not natively_read(body)
    assert outcome(body) == general_outcome(body)


ASCII = st.characters(min_codepoint=32, max_codepoint=126, exclude_characters='"\\')
PLAIN_TEXT = st.one_of(st.sampled_from(["PACW", "ERCO", "D", "DF", "2024-03-10T07", ""]), st.text(ASCII, max_size=6))
TEXT = st.one_of(PLAIN_TEXT, st.sampled_from(['a"b', "a\\b", "Pé", "NA", " 12", "1e309", "+1", ".5"]),
                 st.text(max_size=6))
PERIOD = st.one_of(st.datetimes(datetime(1000, 1, 1), datetime(9999, 12, 31)).map(lambda t: f"{t:%Y-%m-%dT%H}"),
                   st.sampled_from(["2024-02-29T23", "2023-02-29T01", "2024-13-01T00", "2024-03-10T24", "2024-3-10T07",
                                    "2024-03-10T07:00", "2024-03-10"]), PLAIN_TEXT)
NUMBER = st.one_of(st.integers(-(10**20), 10**20), st.floats(allow_nan=False, allow_infinity=False))
NUMERIC = st.one_of(st.none(), NUMBER, NUMBER.map(str))
PLAIN_ROW = st.fixed_dictionaries({"period": PERIOD, "respondent": PLAIN_TEXT, "type": PLAIN_TEXT,
                                   "fueltype": PLAIN_TEXT},
                                  optional={"value": NUMERIC, "type-name": TEXT, "extra": st.just({"a": [1, None]})})
ANY_ROW = st.fixed_dictionaries({}, optional={"period": st.one_of(PERIOD, TEXT), "respondent": TEXT, "type": TEXT,
                                              "fueltype": TEXT,
                                              "value": st.one_of(NUMERIC, TEXT, st.booleans(), st.just([1]))})
ROWS = st.one_of(st.lists(PLAIN_ROW, max_size=6), st.lists(st.one_of(PLAIN_ROW, ANY_ROW), max_size=6))
TOTAL = st.one_of(st.integers(0, 10), st.integers(0, 10).map(str), st.sampled_from(["01", "1e1", "-1"]))


@settings(max_examples=300, derandomize=True, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows=ROWS, total=TOTAL, indent=st.booleans(), ascii_only=st.booleans(), route=st.sampled_from([REGION, FUEL]))
def test_any_page_is_read_as_the_general_decoder_reads_it(rows, total, indent, ascii_only, route):
    body = json.dumps({"response": {"total": total, "data": rows}}, indent=1 if indent else None,
                      ensure_ascii=ascii_only).encode()
    assert outcome(body, route) == general_outcome(body, route)


def test_other_threads_run_while_a_page_is_decoded():
    """Holding the GIL, the decoder would leave a gap in the other thread's ticks as long as the decode."""
    body = page([row(str(i)) for i in range(400_000)])
    seen: list[float] = []
    stop = threading.Event()

    def tick() -> None:
        while not stop.is_set():
            seen.append(time.perf_counter())

    ticker = threading.Thread(target=tick)
    ticker.start()
    try:
        time.sleep(0.01)
        started = time.perf_counter()
        assert natively_read(body)
        ended = time.perf_counter()
    finally:
        stop.set()
        ticker.join()
    ticks = [started, *(moment for moment in seen if started < moment < ended), ended]
    longest_gap = max(later - earlier for earlier, later in pairwise(ticks))
    assert longest_gap < (ended - started) / 2


@cache
def small_recorded_page() -> bytes:
    """The recorded PACW demand page cut to three rows: every byte of it is worth changing."""
    body = orjson.loads(recorded("eia/region-data_PACW_D_2023-01-01_2023-01-08_total169.json").read_bytes())
    body["response"]["data"], body["response"]["total"] = body["response"]["data"][:3], "3"
    return orjson.dumps(body)


EDIT = st.tuples(st.integers(0, 10_000), st.sampled_from(["delete", "insert", "replace"]),
                 st.sampled_from(list(b'{}[]":,\\ 0123456789.eE-+tfnu\x00\x7f\xc3')))


@settings(max_examples=300, derandomize=True, deadline=None)
@given(edits=st.lists(EDIT, min_size=1, max_size=3))
def test_a_recorded_page_with_a_few_bytes_changed_is_read_as_the_general_decoder_reads_it(edits):
    body = bytearray(small_recorded_page())
    for position, edit, byte in edits:
        position %= len(body)
        if edit == "delete":
            del body[position]
        elif edit == "insert":
            body.insert(position, byte)
        else:
            body[position] = byte
    assert outcome(bytes(body)) == general_outcome(bytes(body))
