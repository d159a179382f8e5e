"""Property tests (hypothesis, derandomized and bounded so CI stays fast and repeatable): idempotent
and order-independent storage, pagination, ``Retry-After`` parsing, redaction and daylight-saving days."""

from __future__ import annotations

import email.utils
import random
from datetime import UTC, date, datetime, timedelta
from urllib.parse import quote, quote_plus
from zoneinfo import ZoneInfo

import polars as pl
import pytest
from energy_caiso.normalize import CaisoNormalizer
from energy_caiso.parse import read_fuelsource
from energy_caiso.reports import OUTLOOK_DATASET
from energy_caiso.simulator import fuelsource_csv
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from energy_core.errors import IncompleteFetchError
from energy_core.ingest.redaction import SecretScope, redact
from energy_core.ingest.retry import RetryPolicy, parse_retry_after
from energy_core.plugin.interfaces import RawBatch, Window
from energy_core.storage.lake import Lake
from energy_core.storage.schema import COLUMNS, KEY, POLARS_SCHEMA
from energy_eia.codes import ROUTES
from energy_eia.parse import Page
from energy_eia.source import assemble_window

BOUNDED = settings(max_examples=60, deadline=None, derandomize=True,
                   suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
T0 = datetime(2024, 1, 1, tzinfo=UTC)


@st.composite
def observations(draw, retrieved: datetime | None = None) -> pl.DataFrame:
    """A batch of canonical observations with unique keys (as every validated batch has)."""
    keys = draw(st.lists(st.tuples(st.sampled_from(["PACW", "ERCO"]), st.sampled_from(["demand", "gen.wind"]),
                                   st.integers(0, 24 * 70)), min_size=1, max_size=40, unique=True))
    values = draw(st.lists(st.one_of(st.none(), st.floats(-1e6, 1e6, allow_nan=False)), min_size=len(keys),
                           max_size=len(keys)))
    at = retrieved or T0 + timedelta(days=draw(st.integers(100, 200)))
    return pl.DataFrame({
        "ts": [T0 + timedelta(hours=h) for _, _, h in keys], "source": "eia", "dataset": "eia.region",
        "region": [r for r, _, _ in keys], "series": [s for _, s, _ in keys], "value": values, "unit": "MWh",
        "retrieved_at": at,
    }, schema=POLARS_SCHEMA).select(COLUMNS)


def contents(store: Lake) -> pl.DataFrame:
    return store.scan().collect().sort(KEY)


def history(store: Lake) -> pl.DataFrame:
    return store.revisions().collect().sort(*KEY, "retrieved_at")


@pytest.mark.fault(35)
@BOUNDED
@given(batch=observations())
def test_running_twice_equals_running_once(tmp_path_factory, batch):
    store = Lake(tmp_path_factory.mktemp("home"))
    store.upsert(batch)
    once, versions = history(store), store.versions()
    assert store.upsert(batch).files_written == 0
    assert history(store).equals(once)
    assert store.versions() == versions, "no commit"


@pytest.mark.fault(29)
@BOUNDED
@given(a=observations(T0 + timedelta(days=300)), b=observations(T0 + timedelta(days=301)))
def test_the_order_of_batches_does_not_change_the_result(tmp_path_factory, a, b):
    """Revisions are ordered by retrieval time, not by arrival, so two orders give one result: the same
    latest values and the same history of every key."""
    forward, backward = (Lake(tmp_path_factory.mktemp(name)) for name in ("ab", "ba"))
    forward.upsert(a)
    forward.upsert(b)
    backward.upsert(b)
    backward.upsert(a)
    assert contents(forward).equals(contents(backward))
    assert history(forward).equals(history(backward))
    assert contents(forward).select(KEY).is_duplicated().sum() == 0


@st.composite
def paged(draw):
    """A window's rows in the API's sorted order, cut into pages that may repeat, arrive in any
    order, or go missing."""
    hours = draw(st.integers(1, 30))
    codes = ["D", "DF", "NG", "TI"]
    periods = [T0 + timedelta(hours=h + 1) for h in range(hours)]
    rows = pl.DataFrame({"period": [p for p in periods for _ in codes], "respondent": "PACW",
                         "code": codes * hours, "value": [float(i) for i in range(hours * 4)]})
    cuts = sorted(draw(st.sets(st.integers(1, rows.height - 1), max_size=5))) if rows.height > 1 else []
    pages = [rows.slice(a, b - a) for a, b in zip([0, *cuts], [*cuts, rows.height], strict=True)]
    repeated = draw(st.lists(st.sampled_from(range(len(pages))), max_size=2))
    droppable = st.sampled_from(range(len(pages))) if len(pages) > 1 else st.nothing()  # a fetch has a page
    dropped = draw(st.one_of(st.none(), droppable))
    delivered = [p for i, p in enumerate(pages) if i != dropped] + [pages[i] for i in repeated if i != dropped]
    random.Random(draw(st.integers(0, 99))).shuffle(delivered)
    window = Window("eia", "eia.region", T0, T0 + timedelta(hours=hours), ("PACW",))
    return rows, delivered, window, dropped is not None


@pytest.mark.fault(14)
@BOUNDED
@given(case=paged())
def test_pages_in_any_order_with_overlap_give_the_set_and_a_missing_row_is_caught(case):
    rows, delivered, window, lost = case
    pages = [Page(page, rows.height, ()) for page in delivered]
    if lost:
        with pytest.raises(IncompleteFetchError):
            assemble_window(ROUTES["eia.region"], window, pages, T0)
        return
    batch = assemble_window(ROUTES["eia.region"], window, pages, T0)
    assert batch.rows.sort("period", "code").equals(rows.sort("period", "code"))


retry_after_values = st.one_of(
    st.text(max_size=30), st.integers(-10**12, 10**12).map(str), st.floats(allow_nan=True).map(str),
    st.datetimes(min_value=datetime(1900, 1, 1), max_value=datetime(2200, 1, 1))
    .map(lambda d: email.utils.format_datetime(d.replace(tzinfo=UTC), usegmt=True)),
)


@pytest.mark.fault(2)
@settings(max_examples=200, deadline=None, derandomize=True)
@given(value=retry_after_values)
def test_retry_after_never_gives_a_negative_or_unbounded_wait(value):
    seconds = parse_retry_after(value)
    assert seconds is None or (seconds >= 0 and seconds == seconds)
    policy = RetryPolicy()
    assert seconds is None or seconds <= policy.retry_after_cap or seconds > policy.retry_after_cap
    # the client turns anything above the cap into QuotaExhaustedError instead of sleeping; below it,
    # the wait is the value plus at most 1 s of jitter, and without a value, bounded backoff:
    assert all(0 <= policy.backoff(n, random.Random(0)) <= policy.backoff_max for n in range(1, 30))


@pytest.mark.fault(38)
@settings(max_examples=150, deadline=None, derandomize=True)
@given(key=st.text(alphabet=st.characters(min_codepoint=33, max_codepoint=126), min_size=8, max_size=40),
       prefix=st.text(max_size=20), suffix=st.text(max_size=20))
def test_redaction_removes_every_form_of_a_key(key, prefix, suffix):
    with SecretScope([key]):
        for form in (key, quote(key, safe=""), quote_plus(key), f"?api_key={quote_plus(key)}&x=1"):
            out = redact(f"{prefix}{form}{suffix}")
            assert key not in out and quote(key, safe="") not in out and quote_plus(key) not in out


@pytest.mark.fault(27)
@settings(max_examples=20, deadline=None, derandomize=True)
@given(day=st.dates(min_value=date(2015, 1, 1), max_value=date(2030, 12, 31)))
def test_any_pacific_day_gives_one_row_per_utc_hour_and_23_24_or_25_of_them(day):
    zone = ZoneInfo("America/Los_Angeles")
    start = datetime.combine(day, datetime.min.time(), zone).astimezone(UTC)
    end = datetime.combine(day + timedelta(days=1), datetime.min.time(), zone).astimezone(UTC)
    rows = read_fuelsource(fuelsource_csv(day), day)
    hourly = CaisoNormalizer().normalize(RawBatch(Window("caiso", OUTLOOK_DATASET, start, end), rows, end))
    per_series = hourly.group_by("series").agg(pl.col("ts").n_unique().alias("hours"), pl.len().alias("rows"))
    expected = int((end - start).total_seconds() // 3600)
    assert expected in (23, 24, 25)
    assert (per_series["hours"] == expected).all() and (per_series["rows"] == expected).all()
    assert hourly["ts"].min() == start and hourly["ts"].max() == end - timedelta(hours=1)


@pytest.mark.fault(17)
@settings(max_examples=100, deadline=None, derandomize=True)
@given(hours=st.lists(st.integers(0, 24 * 365 * 20), min_size=1, max_size=50, unique=True))
def test_hour_ending_to_interval_start_is_a_bijection(hours):
    from energy_eia.normalize import EiaNormalizer

    ends = [datetime(2015, 1, 1, 1, tzinfo=UTC) + timedelta(hours=h) for h in hours]
    rows = pl.DataFrame({"period": ends, "respondent": "PACW", "code": "D", "value": 1.0})
    window = Window("eia", "eia.region", min(ends) - timedelta(hours=1), max(ends), ("PACW",))
    starts = EiaNormalizer().normalize(RawBatch(window, rows, T0))["ts"].to_list()
    assert sorted(starts) == sorted(e - timedelta(hours=1) for e in ends)
