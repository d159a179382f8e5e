from __future__ import annotations

from datetime import UTC, datetime

import pytest

from energy_core.errors import (
    AuthError,
    InvalidRequestError,
    PayloadValidationError,
    RateLimitedError,
    UnexpectedPayloadError,
)
from energy_core.plugin.interfaces import HttpResponse, RawBatch, Window
from energy_eia.codes import ROUTES
from energy_eia.normalize import EiaNormalizer
from energy_eia.parse import classify, parse_page
from tests.eia_pages import page, row

REGION = ROUTES["eia.region"]
WINDOW = Window("eia", "eia.region", datetime(2024, 3, 1, tzinfo=UTC), datetime(2024, 4, 1, tzinfo=UTC))


def body(rows, total=None, **response) -> HttpResponse:
    return HttpResponse(200, "application/json", page(rows, total, **response), "test")


def test_value_forms_strings_numbers_and_missing():
    page = parse_page(body([row("282"), row(282), row(282.5), row(None), row("NA"), row(""), row("-12")]), REGION)
    assert page.rows["value"].to_list() == [282.0, 282.0, 282.5, None, None, None, -12.0]
    assert page.warnings == ()


def test_non_finite_and_garbage_values_become_missing_with_a_count():
    page = parse_page(body([row("1e309"), row("abc"), row("5")]), REGION)
    assert page.rows["value"].to_list() == [None, None, 5.0]
    assert page.warnings == ("2 value(s) were not finite numbers and were stored as missing, e.g. '1e309'",)


def test_out_of_range_json_number_fails_the_page_naming_the_field():
    """EIA sends values as text; a numeric literal beyond float range is a malformed body, not data."""
    raw = body([row(12345), row("5")])
    with pytest.raises(PayloadValidationError, match=r"Number out of range - at `\$.response.data\[0\].value`"):
        parse_page(HttpResponse(200, "application/json", raw.body.replace(b"12345", b"1e309"), "t"), REGION)


@pytest.mark.parametrize("value", [True, {"n": 1}, [1]])
def test_value_of_a_wrong_json_type_is_a_schema_violation(value):
    with pytest.raises(PayloadValidationError, match=r"Expected `float \| str \| null`, got"):
        parse_page(body([row(value)]), REGION)


def test_missing_value_key_is_missing_not_an_error():
    rows = [row("1")]
    del rows[0]["value"]
    assert parse_page(body(rows), REGION).rows["value"].to_list() == [None]


@pytest.mark.parametrize("period", ["2024-03-10T01-08", "2024-03-10", "2024-03", "2024-03-10T25", "2024-02-30T01",
                                    "2024-3-10T07", "2024-03-10T07:00"])
def test_other_period_forms_are_rejected_not_guessed(period):
    with pytest.raises(PayloadValidationError, match=f"not in the hourly UTC form YYYY-MM-DDTHH, e.g. '{period}'"):
        parse_page(body([row("1"), row("1", period=period)]), REGION)


def test_a_period_ends_the_hour_stored_even_across_a_leap_day():
    page = parse_page(body([row("1", period="2024-03-10T00"), row("2", period="2024-02-29T23")]), REGION)
    ts = EiaNormalizer().normalize(RawBatch(WINDOW, page.rows, datetime(2024, 4, 1, tzinfo=UTC)))["ts"].to_list()
    assert ts == [datetime(2024, 3, 9, 23, tzinfo=UTC), datetime(2024, 2, 29, 22, tzinfo=UTC)]


def test_missing_required_field_names_it():
    rows = [row("1")]
    del rows[0]["respondent"]
    with pytest.raises(PayloadValidationError,
                       match=r"missing required field `respondent` - at `\$.response.data\[0\]`"):
        parse_page(body(rows), REGION)


def test_total_as_integer_and_warnings_reach_the_page():
    page = parse_page(body([row("1")], total=1, warnings=[{"warning": "incomplete return",
                                                            "description": "The API can only return 5000 rows"}]),
                      REGION)
    assert page.total == 1
    assert page.warnings == ("EIA warning: incomplete return: The API can only return 5000 rows",)


@pytest.mark.parametrize("payload", [b"<html><body>Maintenance</body></html>", b'{"response": {"total": "1", "da'])
def test_html_and_truncated_json_are_transient(payload):
    with pytest.raises(UnexpectedPayloadError) as info:
        parse_page(HttpResponse(200, "text/html", payload, "test"), REGION)
    assert info.value.transient


def test_error_envelope_in_a_200_body_is_typed():
    response = HttpResponse(200, "application/json", b'{"error":"Invalid frequency \'x\' provided.","code":400}', "t")
    with pytest.raises(InvalidRequestError, match="Invalid frequency"):
        parse_page(response, REGION)


def test_gateway_throttle_is_transient_and_missing_key_is_auth():
    throttle = classify(HttpResponse(429, "", b'{"error":{"code":"OVER_RATE_LIMIT","message":"slow down"}}', "t"))
    missing = classify(HttpResponse(403, "", b'{"error":{"code":"API_KEY_MISSING","message":"No api_key"}}', "t"))
    assert isinstance(throttle, RateLimitedError) and isinstance(missing, AuthError)
    assert classify(HttpResponse(502, "", b"<html>bad gateway</html>", "t")) is None
