"""The native page decoder (``_pages.c``)."""

def decode(
    body: bytes, code_field: bytes, /
) -> tuple[int, int, int, bytes, bytes, bytes, bytes, bytes, bytes, bytes] | None:
    """(total, rows, nulls, int64 period microseconds, then the offsets and bytes of respondent and the code
    column, float64 values, validity bitmap), or None when the page is not in the plain shape (decode it the
    general way)."""
