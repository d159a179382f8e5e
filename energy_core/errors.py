"""One exception root for the whole toolkit.

Every error says what went wrong and what to do. ``transient`` tells retry logic whether trying
again can help: a throttled or unavailable service can recover, a rejected key cannot.
"""

from __future__ import annotations


class EnergyError(Exception):
    """Root of every error this toolkit raises on purpose."""

    transient: bool = False


class ConfigError(EnergyError):
    """The user's configuration, flags or environment are invalid."""


class MissingExtraError(ConfigError):
    """A command needs an optional library that is not installed; the message names the extra that brings it."""


class PluginError(EnergyError):
    """A plugin broke the contract (bad hook, bad component)."""


class DuplicateComponentError(PluginError):
    """Two plugins registered a component under the same name."""


class UnknownComponentError(PluginError, LookupError):
    """A source, normalizer or sink name that no loaded plugin provides."""


class SchemaError(EnergyError):
    """A table does not match the canonical observation schema."""


class StorageError(EnergyError):
    """Writing to or reading from the local store failed."""


class RunInterruptedError(EnergyError):
    """A run stopped early on a signal; what it stored is kept and the rest is pending."""

    def __init__(self, message: str, *, signal_number: int) -> None:
        super().__init__(message)
        self.exit_code = 128 + signal_number


class WouldFetchError(EnergyError):
    """A dry run (``energy run --plan``) reached a request the raw cache cannot answer."""


class CacheMissError(EnergyError):
    """``--offline`` asked for a response that the raw cache does not hold."""


class SourceError(EnergyError):
    """A data source could not deliver what was asked."""

    def __init__(self, message: str, *, source: str = "", status: int | None = None) -> None:
        super().__init__(message)
        self.source = source
        self.status = status


class TransientSourceError(SourceError):
    """Worth retrying: throttling, 5xx, timeouts, dropped connections, odd payloads."""

    transient = True
    retry_after: float | None = None
    """Seconds the service asked us to wait, when it said."""


class RateLimitedError(TransientSourceError):
    """The service throttled us (HTTP 429 or its equivalent)."""


class QuotaExhaustedError(SourceError):
    """The service asked us to wait longer than we are willing to; try again later."""


class SourceUnavailableError(SourceError):
    """Retries were exhausted; the last transient failure is in the message."""


class IncompleteFetchError(TransientSourceError):
    """Fewer (or more) rows arrived than the service said it had."""


class UnexpectedPayloadError(TransientSourceError):
    """A 2xx response whose body is not what the API sends (an HTML error page, say)."""


class ResponseTooLargeError(SourceError):
    """A response body exceeded the configured byte cap."""


class AuthError(SourceError):
    """The service rejected the credentials; retrying cannot help."""


class InvalidRequestError(SourceError):
    """The service rejected the request itself (bad parameter, unknown route)."""


class PayloadValidationError(SourceError):
    """A response does not match the API's documented shape (a schema contract violation)."""
