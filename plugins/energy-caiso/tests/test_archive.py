from __future__ import annotations

import io
import stat
import zipfile

import pytest
from energy_caiso.archive import OasisBusyError, OasisError, UnsafeArchiveError, oasis_error, read_single_member

from energy_core.errors import RateLimitedError, UnexpectedPayloadError


def zip_with(members: dict[str, bytes], *, method: int = zipfile.ZIP_DEFLATED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", method) as archive:
        for name, data in members.items():
            archive.writestr(zipfile.ZipInfo(name), data, compress_type=method)
    return buffer.getvalue()


def error_xml(code: int, description: str) -> bytes:
    return (f"<m:OASISReport><m:ERROR><m:ERR_CODE>{code}</m:ERR_CODE><m:ERR_DESC>{description}</m:ERR_DESC>"
            "</m:ERROR></m:OASISReport>").encode()


def test_plain_csv_member_is_returned():
    member = read_single_member(zip_with({"20240101_20240102_SLD_FCST_DAM_x_v1.csv": b"a,b\n1,2\n"}), "r")
    assert member.data == b"a,b\n1,2\n"


@pytest.mark.parametrize("name", ["../../x.csv", "/etc/passwd.csv", "C:\\x.csv", "dir/x.csv", "x.exe", "..csv"])
def test_zip_slip_and_unexpected_names_are_refused(name):
    with pytest.raises(UnsafeArchiveError, match="refused zip member"):
        read_single_member(zip_with({name: b"a\n"}), "r")


def test_symlink_member_is_refused():
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        info = zipfile.ZipInfo("link.csv")
        info.external_attr = (stat.S_IFLNK | 0o777) << 16
        archive.writestr(info, b"/etc/passwd")
    with pytest.raises(UnsafeArchiveError, match="refused zip member 'link.csv'"):
        read_single_member(buffer.getvalue(), "r")


def test_duplicate_and_too_many_members_are_refused():
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive, pytest.warns(UserWarning, match="Duplicate name"):
        archive.writestr("x.csv", b"1")
        archive.writestr("x.csv", b"2")
    with pytest.raises(UnsafeArchiveError):
        read_single_member(buffer.getvalue(), "r")
    with pytest.raises(UnsafeArchiveError, match="has 10 members"):
        read_single_member(zip_with({f"m{i}.csv": b"1" for i in range(10)}), "r")


def test_zip_bomb_by_ratio_is_refused():
    bomb = zip_with({"zeros.csv": b"0" * 10_000_000})  # ~10 KB compressed
    with pytest.raises(UnsafeArchiveError, match="possible zip bomb \\(compression ratio"):
        read_single_member(bomb, "r")


def test_zip_bomb_by_size_is_refused_while_streaming():
    stored = zip_with({"big.csv": b"0" * 2_000_000}, method=zipfile.ZIP_STORED)  # ratio 1, but over the cap
    with pytest.raises(UnsafeArchiveError, match="more than 1000000 uncompressed bytes"):
        read_single_member(stored, "r", max_bytes=1_000_000)


@pytest.mark.parametrize("body", [
    zip_with({"x.csv": bytes(range(256)) * 40}, method=zipfile.ZIP_STORED)[:500],  # truncated
    b"PK\x03\x04" + b"\x00" * 100,  # a zip header and garbage
])
def test_corrupt_or_truncated_zip_is_transient(body):
    with pytest.raises(UnexpectedPayloadError) as info:
        read_single_member(body, "r")
    assert info.value.transient


def test_bad_crc_is_transient():
    good = bytearray(zip_with({"x.csv": b"hello world, " * 50}, method=zipfile.ZIP_STORED))
    good[good.index(b"hello") + 3] ^= 0xFF  # flip a data byte; the stored CRC no longer matches
    with pytest.raises(UnexpectedPayloadError, match="corrupt zip member"):
        read_single_member(bytes(good), "r")


@pytest.mark.parametrize(("body", "kind"), [(b"<html><body>maintenance</body></html>", "an HTML page"),
                                            (b"<?xml version='1.0'?><x/>", "XML")])
def test_non_zip_bodies_are_named(body, kind):
    with pytest.raises(UnexpectedPayloadError, match=f"expected a zip from r, got {kind}"):
        read_single_member(body, "r")


def test_error_codes_map_to_outcomes():
    assert oasis_error(error_xml(1000, "No data returned for the specified selection"), "r") is None
    assert isinstance(oasis_error(error_xml(1015, "GroupZip DownLoad is in Processing"), "r"), OasisBusyError)
    assert isinstance(oasis_error(error_xml(1003, "Timed out waiting for query response"), "r"), OasisBusyError)
    assert isinstance(oasis_error(error_xml(1010, "Too many requests"), "r"), RateLimitedError)
    too_long = oasis_error(error_xml(1004, "Data can be requested for period of 31 days only"), "r")
    assert isinstance(too_long, OasisError) and not too_long.transient
    assert "exceeds 31 days" in str(too_long) and too_long.code == 1004


@pytest.mark.parametrize("xml", [
    b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">]><m:ERR_CODE>1000</m:ERR_CODE>',
    b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY xxe SYSTEM "file:///etc/passwd">]><x>&xxe;</x>',
])
def test_entity_expansion_and_external_entities_are_refused(xml):
    with pytest.raises(UnsafeArchiveError, match="document type declaration"):
        oasis_error(xml, "r")
