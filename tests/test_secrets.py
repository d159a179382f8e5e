from __future__ import annotations

import logging
from urllib.parse import quote, quote_plus

from hypothesis import assume, given, settings
from hypothesis import strategies as st

from energy_core.ingest.redaction import RedactingFilter, redact, redact_bytes, register_secret

_KEY_CHARS = st.characters(codec="ascii", exclude_categories=("Cc",))


@settings(max_examples=150, deadline=None, derandomize=True)
@given(key=st.text(alphabet=_KEY_CHARS, min_size=8, max_size=40), prefix=st.text(max_size=20))
def test_every_form_of_a_registered_key_is_removed(key, prefix):
    assume(key not in prefix and "*" not in key)
    register_secret(key)
    for form in (key, quote(key, safe=""), quote_plus(key), f"?api_key={quote_plus(key)}&x=1"):
        cleaned = redact(prefix + form + prefix)
        assert key not in cleaned and quote(key, safe="") not in cleaned and quote_plus(key) not in cleaned


def test_bytes_are_redacted():
    register_secret("CANARY-bytes-123456")
    assert redact_bytes(b'{"api_key":"CANARY-bytes-123456"}') == b'{"api_key":"***"}'


def test_logging_filter_redacts_messages_and_tracebacks(caplog):
    register_secret("CANARY-log-987654")
    logger = logging.getLogger("test.secrets")
    logger.addFilter(RedactingFilter())
    try:
        with caplog.at_level(logging.DEBUG, logger="test.secrets"):
            logger.debug("GET %s", "https://x/?api_key=CANARY-log-987654")
            try:
                raise ValueError("bad CANARY-log-987654")
            except ValueError:
                logger.exception("failed")
    finally:
        logger.filters.clear()
    assert "CANARY-log-987654" not in caplog.text and "api_key=***" in caplog.text
