from __future__ import annotations

import logging
import sys
from contextlib import contextmanager
from urllib.parse import quote, quote_plus

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from energy_core.errors import SourceError
from energy_core.ingest import redaction
from energy_core.ingest.redaction import (
    REDACTED,
    RedactingFilter,
    SecretScope,
    redact,
    redact_bytes,
    redacted_errors,
)

_KEY_CHARS = st.characters(codec="ascii", exclude_categories=("Cc",))


@settings(max_examples=150, deadline=None, derandomize=True)
@given(key=st.text(alphabet=_KEY_CHARS, min_size=8, max_size=40), prefix=st.text(max_size=20))
def test_every_form_of_a_registered_key_is_removed(key, prefix):
    assume(key not in prefix and "*" not in key)
    with SecretScope([key]):
        for form in (key, quote(key, safe=""), quote_plus(key), f"?api_key={quote_plus(key)}&x=1"):
            cleaned = redact(prefix + form + prefix)
            assert key not in cleaned and quote(key, safe="") not in cleaned and quote_plus(key) not in cleaned


SEARCHES = ["memmem", "bytes.find"]
"""How bodies are searched: the C library's memmem where it has one, else Python's own search."""


@contextmanager
def searching_with(search: str):
    with pytest.MonkeyPatch.context() as patch:
        if search == "bytes.find":
            patch.setattr(redaction, "_MEMMEM", None)
        yield


def test_bodies_are_searched_by_the_c_library_on_linux():
    assert sys.platform != "linux" or redaction._MEMMEM is not None


@pytest.mark.parametrize("search", SEARCHES)
@pytest.mark.parametrize("size", [0, 1 << 20])
def test_bytes_are_redacted_in_every_form_wherever_they_are(size, search):
    key = "CANARY bytes/123456"
    padding = b"x" * size
    body = b"".join([key.encode(), padding, quote(key, safe="").encode(), padding, b'{"api_key":"',
                     quote_plus(key).encode(), b'"}', key.encode()])
    with SecretScope([key]), searching_with(search):
        redacted = redact_bytes(body)
    assert redacted == b"".join([b"***", padding, b"***", padding, b'{"api_key":"***"}***'])


@pytest.mark.parametrize("search", SEARCHES)
@settings(max_examples=300, deadline=None, derandomize=True)
@given(key=st.text(alphabet="ab", min_size=4, max_size=6), body=st.text(alphabet="ab*", max_size=60),
       spliced=st.lists(st.integers(0, 60), max_size=4))
def test_bytes_are_redacted_as_bytes_replace_would(search, key, body, spliced):
    """Keys spliced anywhere (overlapping, adjacent, at both ends) come out as ``bytes.replace`` leaves
    them: one search and one copy must not change what is removed."""
    data = body.encode()
    for at in sorted(spliced, reverse=True):
        data = data[:at] + key.encode() + data[at:]
    with SecretScope([key]), searching_with(search):
        assert redact_bytes(data) == data.replace(key.encode(), REDACTED.encode())


def test_logging_filter_redacts_messages_and_tracebacks(caplog):
    logger = logging.getLogger("test.secrets")
    logger.addFilter(RedactingFilter())
    try:
        with SecretScope(["CANARY-log-987654"]), caplog.at_level(logging.DEBUG, logger="test.secrets"):
            logger.debug("GET %s", "https://x/?api_key=CANARY-log-987654")
            try:
                raise ValueError("bad CANARY-log-987654")
            except ValueError:
                logger.exception("failed")
    finally:
        logger.filters.clear()
    assert "CANARY-log-987654" not in caplog.text and "api_key=***" in caplog.text


def test_a_scope_redacts_while_active_and_forgets_after(caplog):
    """Secrets belong to the run (or command) that learned them: nothing outlives its scope, and the
    HTTP stack's loggers carry the redacting filter only while a scope is active."""
    httpx_logger = logging.getLogger("httpx")
    with SecretScope() as secrets:
        secrets.add("CANARY-scope-24680")
        assert redact("key=CANARY-scope-24680") == f"key={REDACTED}"
        with SecretScope(["CANARY-inner-13579"]):  # a command's scope around a run's: both apply
            assert redact("CANARY-scope-24680 CANARY-inner-13579") == f"{REDACTED} {REDACTED}"
        assert redact("CANARY-inner-13579") == "CANARY-inner-13579", "the inner scope's secrets are forgotten"
        with caplog.at_level(logging.INFO, logger="httpx"):
            httpx_logger.info("HTTP Request: GET https://x/?api_key=CANARY-scope-24680")
        assert "CANARY-scope-24680" not in caplog.text
    assert redact("key=CANARY-scope-24680") == "key=CANARY-scope-24680"
    assert not [f for f in httpx_logger.filters if isinstance(f, RedactingFilter)], "no filter left behind"


def test_an_error_leaving_a_run_carries_no_secret_once_the_scope_has_closed():
    """The CLI prints a run's error after the run's scope closed: the text must be clean by then."""
    with pytest.raises(SourceError) as caught, SecretScope(["CANARY-run-246810"]), redacted_errors():
        raise SourceError("refused key CANARY-run-246810", source="eia", status=403)
    assert "CANARY-run-246810" not in str(caught.value) and REDACTED in str(caught.value)
    assert (caught.value.source, caught.value.status) == ("eia", 403)
