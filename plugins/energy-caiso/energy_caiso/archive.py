"""OASIS answers with a zip: a CSV member on success, ``INVALID_REQUEST.xml`` on error or no data.

Zips come from the network, so they are opened defensively: only plain, expected member names,
a cap on members, on uncompressed bytes (read in chunks, whatever the header claims) and on the
compression ratio. The error XML is read with two anchored patterns, never an XML parser, and a
document type declaration is refused outright, so entity tricks cannot reach a parser at all.
"""

from __future__ import annotations

import io
import re
import zipfile
import zlib
from dataclasses import dataclass

from energy_caiso.api import MIN_INTERVAL_S, ErrCode
from energy_core.api import (
    InvalidRequestError,
    RateLimitedError,
    SourceError,
    TransientSourceError,
    UnexpectedPayloadError,
)

ZIP_MAGIC = b"PK\x03\x04"
MAX_MEMBERS = 4
MAX_UNCOMPRESSED = 512 * 1024 * 1024
MAX_RATIO = 200
_MEMBER_NAME = re.compile(r"^[A-Za-z0-9_.-]+\.(csv|xml)$")
_ERR_CODE = re.compile(rb"<(?:\w+:)?ERR_CODE>\s*(\d+)\s*</(?:\w+:)?ERR_CODE>")
_ERR_DESC = re.compile(rb"<(?:\w+:)?ERR_DESC>([^<]*)</(?:\w+:)?ERR_DESC>")

BUSY_PAUSE_S = MIN_INTERVAL_S
"""A busy answer is retried no sooner than OASIS asks clients to leave between requests."""
TRANSIENT_CODES = {ErrCode.TIMED_OUT, ErrCode.GROUPZIP_PROCESSING}
PARAMETER_HINTS: dict[int, str] = {
    ErrCode.BAD_DATETIME: "startdatetime/enddatetime must look like YYYYMMDDTHH:MM-0000",
    ErrCode.SPAN_TOO_LONG: "the span between startdatetime and enddatetime exceeds 31 days",
    ErrCode.BAD_VERSION: "the version parameter is missing or wrong for this report",
}


class UnsafeArchiveError(SourceError):
    """A zip or XML body that could harm the reader (path tricks, zip bombs, entity expansion)."""


class OasisError(InvalidRequestError):
    """OASIS refused the request; carries its ``ERR_CODE`` and description."""

    def __init__(self, message: str, *, code: int, description: str) -> None:
        super().__init__(message, source="caiso")
        self.code = code
        self.description = description


class OasisBusyError(TransientSourceError):
    """OASIS asked us to come back later (throttled, timed out, still processing)."""

    def __init__(self, message: str, *, code: int) -> None:
        super().__init__(message, source="caiso")
        self.code = code
        self.retry_after = BUSY_PAUSE_S


@dataclass(frozen=True)
class Member:
    name: str
    data: bytes


def read_single_member(body: bytes, request: str, *, max_bytes: int = MAX_UNCOMPRESSED,
                       max_ratio: float = MAX_RATIO) -> Member:
    """Open an OASIS zip and return its one member, refusing anything unsafe or malformed."""
    if not body.startswith(ZIP_MAGIC):
        head = body.lstrip()[:64].lower()
        kind = "an HTML page" if b"<html" in head else "XML" if head.startswith(b"<?xml") else "non-zip bytes"
        raise UnexpectedPayloadError(f"caiso: expected a zip from {request}, got {kind} starting {body[:40]!r}",
                                     source="caiso")
    try:
        archive = zipfile.ZipFile(io.BytesIO(body))
        infos = archive.infolist()
    except (zipfile.BadZipFile, EOFError, ValueError) as exc:
        raise UnexpectedPayloadError(f"caiso: corrupt or truncated zip from {request}: {exc}", source="caiso") from None
    _check_members(infos, request)
    if len(infos) != 1:
        raise UnsafeArchiveError(f"caiso: expected one member in the zip from {request}, found {len(infos)}",
                                 source="caiso")
    return Member(infos[0].filename, _read_capped(archive, infos[0], request, max_bytes, max_ratio))


def _check_members(infos: list[zipfile.ZipInfo], request: str) -> None:
    if len(infos) > MAX_MEMBERS:
        raise UnsafeArchiveError(f"caiso: zip from {request} has {len(infos)} members (at most {MAX_MEMBERS})",
                                 source="caiso")
    seen = set()
    for info in infos:
        name = info.filename
        is_link = (info.external_attr >> 16) & 0o170000 == 0o120000
        if is_link or not _MEMBER_NAME.match(name) or ".." in name or name in seen:
            raise UnsafeArchiveError(f"caiso: refused zip member {name!r} from {request} "
                                     "(only plain .csv/.xml names, no paths, links or repeats)", source="caiso")
        seen.add(name)


def _read_capped(archive: zipfile.ZipFile, info: zipfile.ZipInfo, request: str, max_bytes: int,
                 max_ratio: float) -> bytes:
    if info.compress_size and info.file_size / info.compress_size > max_ratio:
        raise _bomb(request, f"compression ratio {info.file_size / info.compress_size:.0f}")
    chunks, size = [], 0
    try:
        with archive.open(info) as member:
            while chunk := member.read(1 << 20):
                size += len(chunk)
                if size > max_bytes:
                    raise _bomb(request, f"more than {max_bytes} uncompressed bytes")
                chunks.append(chunk)
    except (zipfile.BadZipFile, EOFError, ValueError, zlib.error) as exc:  # bad CRC or data, truncation, overlap
        raise UnexpectedPayloadError(f"caiso: corrupt zip member from {request}: {exc}", source="caiso") from None
    if info.compress_size and size / info.compress_size > max_ratio:
        raise _bomb(request, f"compression ratio {size / info.compress_size:.0f}")
    return b"".join(chunks)


def _bomb(request: str, why: str) -> UnsafeArchiveError:
    return UnsafeArchiveError(f"caiso: refused the zip from {request}: possible zip bomb ({why})", source="caiso")


def oasis_error(xml: bytes, request: str) -> SourceError | None:
    """The typed error an ``INVALID_REQUEST.xml`` stands for, or None when it says "no data"."""
    if b"<!DOCTYPE" in xml or b"<!ENTITY" in xml:
        raise UnsafeArchiveError(f"caiso: refused XML with a document type declaration from {request}",
                                 source="caiso")
    code_match, desc_match = _ERR_CODE.search(xml), _ERR_DESC.search(xml)
    if code_match is None:
        raise UnexpectedPayloadError(f"caiso: error XML without ERR_CODE from {request}", source="caiso")
    code = int(code_match.group(1))
    description = desc_match.group(1).decode("utf-8", "replace").strip() if desc_match else ""
    if code == ErrCode.NO_DATA:
        return None
    message = f"caiso: OASIS ERR_CODE {code} ({description}) for {request}"
    if "too many requests" in description.lower():
        error = RateLimitedError(message, source="caiso")
        error.retry_after = BUSY_PAUSE_S
        return error
    if code in TRANSIENT_CODES:
        return OasisBusyError(message, code=code)
    hint = PARAMETER_HINTS.get(code)
    return OasisError(f"{message}; {hint}" if hint else message, code=code, description=description)
