"""apiproxy.versions: version numbers and the /vX.Y/ path prefix."""
from __future__ import annotations

import pytest
from hypothesis import given, settings, strategies as st

from apiproxy.api.versions import BadVersion, PathVersion, Version, parse_version, split_version_prefix


@pytest.mark.parametrize(("text", "expected"), [
    ("1.9", Version(1, 9)),
    ("1.41", Version(1, 41)),
    ("1.000000", Version(1, 0)),  # Docker 0.3 wrote its API version with "%f"
    ("1.100000", Version(1, 1)),
    ("1.120000", Version(1, 12)),
])
def test_parse_version_reads_dotted_and_percent_f_spellings(text: str, expected: Version) -> None:
    assert parse_version(text) == expected


@pytest.mark.parametrize("text", [
    "", "1", "1.", ".9", "v1.9", "1.9.0", "1.x", "one.nine", "1,9", "-1.9", "1.-9",
    "1.123456",  # a three-digit minor that is not a "%f" fraction
    "12345.1",
    "\u0661.\u0669",  # Arabic-Indic digits: int() reads them, Docker does not
])
def test_parse_version_refuses_malformed_text(text: str) -> None:
    with pytest.raises(BadVersion):
        parse_version(text)


def test_versions_compare_numerically() -> None:
    assert parse_version("1.10") > parse_version("1.9")
    assert parse_version("1.41") > parse_version("1.24") > parse_version("1.12")
    assert parse_version("2.0") > parse_version("1.99")
    assert str(parse_version("1.000000")) == "1.0"


@settings(max_examples=50, deadline=None)
@given(st.integers(0, 9999), st.integers(0, 99))
def test_parse_version_round_trips_str(major: int, minor: int) -> None:
    assert parse_version(str(Version(major, minor))) == Version(major, minor)


@pytest.mark.parametrize(("path", "expected"), [
    ("/v1.9/containers/json", PathVersion(Version(1, 9), "/containers/json", True)),
    ("/v1.000000/info", PathVersion(Version(1, 0), "/info", True)),
    ("/v1.41/images/a/b/json", PathVersion(Version(1, 41), "/images/a/b/json", True)),
    ("/v1.9", PathVersion(Version(1, 9), "/", True)),
    ("/v1.9/", PathVersion(Version(1, 9), "/", True)),
    ("/version", PathVersion(None, "/version", False)),
    ("/vfoo/x", PathVersion(None, "/vfoo/x", False)),
    ("/v4.0.0/libpod/info", PathVersion(None, "/v4.0.0/libpod/info", False)),
    ("/v1.9x/info", PathVersion(None, "/v1.9x/info", False)),
    ("/v1.123456/info", PathVersion(None, "/v1.123456/info", False)),
    ("/x/v1.9/info", PathVersion(None, "/x/v1.9/info", False)),
])
def test_split_version_prefix(path: str, expected: PathVersion) -> None:
    assert split_version_prefix(path) == expected
