"""apiproxy.paths: the one canonical request-target, or 400."""
from __future__ import annotations

import pytest
from hypothesis import given, settings, strategies as st

from apiproxy.wire.http1 import ProtocolError
from apiproxy.wire.paths import normalize_target


@pytest.mark.parametrize(("target", "canonical"), [
    # Already canonical: unchanged.
    ("/", "/"),
    ("/_ping", "/_ping"),
    ("/v1.9/containers/json?all=1", "/v1.9/containers/json?all=1"),
    ("/v1.41/images/127.0.0.1:5000/team/app/json", "/v1.41/images/127.0.0.1:5000/team/app/json"),
    # Repeated slashes, "." segments, trailing slashes.
    ("//", "/"),
    ("/v1.41//containers///json", "/v1.41/containers/json"),
    ("/v1.41/./containers/./json", "/v1.41/containers/json"),
    ("/v1.41/containers/json/", "/v1.41/containers/json"),
    ("/v1.41/containers/json//?all=1", "/v1.41/containers/json?all=1"),
    ("/v1.41/", "/v1.41"),
    ("/.", "/"),
    ("/./", "/"),
    # ".." inside the path, including over the version prefix.
    ("/v1.41/containers/x/../json", "/v1.41/containers/json"),
    ("/v1.9/../v1.41/containers/json", "/v1.41/containers/json"),
    ("/v1.9/../v1.41//containers/./x/../json/?all=1", "/v1.41/containers/json?all=1"),
    ("/a/..", "/"),
    ("/a/../", "/"),
    ("/v1.9/..", "/"),
    # Percent-encoded unreserved characters are decoded, before dot segments count.
    ("/v1.41/%63ontainers/json", "/v1.41/containers/json"),
    ("/v1.41/CONTAINERS/%4a%53%4f%4e", "/v1.41/CONTAINERS/JSON"),
    ("/%76%31%2e%39/info", "/v1.9/info"),
    ("/v1.9/%2e%2e/v1.41/info", "/v1.41/info"),
    ("/v1.9/.%2E/v1.41/info", "/v1.41/info"),
    ("/v1.41/x/%2e/info", "/v1.41/x/info"),
    ("/v1.41/containers/a%2db%5fc%7ed/json", "/v1.41/containers/a-b_c~d/json"),
    # Other escapes stay escaped, hex in upper case; nothing is decoded twice.
    ("/v1.41/images/reg%3a5000%40app/json", "/v1.41/images/reg%3A5000%40app/json"),
    ("/v1.41/containers/a%20b/json", "/v1.41/containers/a%20b/json"),
    ("/v1.41/containers/a%25b/json", "/v1.41/containers/a%25b/json"),
    ("/v1.41/containers/%252F/json", "/v1.41/containers/%252F/json"),
    ("/v1.41/containers/%252e%252e/json", "/v1.41/containers/%252e%252e/json"),
    ("/v1.41/containers/json%3Fall=1", "/v1.41/containers/json%3Fall=1"),
    ("/v1.41/containers/%c3%a9/json", "/v1.41/containers/%C3%A9/json"),
    # Case is kept: the daemon's router is case-sensitive.
    ("/CONTAINERS/json", "/CONTAINERS/json"),
    ("/V1.41/containers/json", "/V1.41/containers/json"),
    # The query is kept byte for byte, tricks included.
    ("/_ping?x=/../y", "/_ping?x=/../y"),
    ("/_ping?", "/_ping?"),
    ("/a/./b?x=//./..%2F%2e%3a&y=?z", "/a/b?x=//./..%2F%2e%3a&y=?z"),
    ("/v1.41/commit?comment=one%0Atwo", "/v1.41/commit?comment=one%0Atwo"),
    ("/v1.9/containers/json?all=1&all=0", "/v1.9/containers/json?all=1&all=0"),
])
def test_normalize_target(target: str, canonical: str) -> None:
    assert normalize_target(target) == canonical


@pytest.mark.parametrize("target", [
    # Not origin-form.
    "",
    "*",
    "http://docker/v1.41/info",
    "docker/v1.41/info",
    "?x=1",
    "/v1.41/info#frag",
    "/v1.41/info?x=1#frag",
    # Encoded slash, either case.
    "/v1.9/containers/a%2Fb/json",
    "/v1.9/containers/a%2fb/json",
    "/v1.41/%2e%2e%2fv1.9/info",
    # ".." above the root: refused, not clamped.
    "/..",
    "/../_ping",
    "/v1.9/../../_ping",
    "/a/b/../../..",
    "/%2e%2e/_ping",
    "/.%2E/_ping",
    # Invalid percent-encoding.
    "/%zz",
    "/%4",
    "/a%",
    "/a%%41",
    "/%g0",
    "/%+1",
    "/%_1",
    "/% 1",
    # NUL and control characters, raw or encoded.
    "/a%00b",
    "/a%0Ab",
    "/a%0db",
    "/a%1f",
    "/a%7F",
    "/a\x00b",
    "/a\nb",
    "/a\tb",
    "/a b",
    "/a\x7fb",
    "/caf\xe9",
    "/a?b=%00",
    "/a?b=\x01",
    "/a?b c",
    # Backslash, raw or encoded.
    "/a\\b",
    "/a%5Cb",
    "/a%5cb",
    "/v1.9\\..\\v1.41/info",
])
def test_normalize_target_refuses_ambiguous_targets(target: str) -> None:
    with pytest.raises(ProtocolError) as refused:
        normalize_target(target)
    assert refused.value.status == 400


_segments = st.lists(st.sampled_from(["", ".", "..", "a", "v1.9", "%2e", "%2E%2e", "%61", "x%3a"]), max_size=8)


@settings(max_examples=300, deadline=None)
@given(_segments, st.sampled_from(["", "?q=/../%2F", "?"]))
def test_a_canonical_target_is_its_own_canonical_form(segments: list[str], query: str) -> None:
    try:
        canonical = normalize_target("/" + "/".join(segments) + query)
    except ProtocolError:
        return  # ".." above the root
    assert normalize_target(canonical) == canonical
    path = canonical.partition("?")[0]
    assert "//" not in path and "/./" not in path + "/" and "/../" not in path + "/"
    assert path == "/" or not path.endswith("/")
    assert canonical.endswith(query)
