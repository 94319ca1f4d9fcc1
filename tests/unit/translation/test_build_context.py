"""apiproxy.multipart: 0.4-era multipart build bodies repacked as one tar, streamed."""
from __future__ import annotations

import io
import random
import re
import tarfile
from typing import Iterable, Union

import pytest
from hypothesis import given, settings, strategies as st

from apiproxy.translation.build.context import MultipartToTar
from apiproxy.translation.build.multipart import boundary_of
from apiproxy.translation.transforms import TranslationError

BOUNDARY = b"5d0e5c2b3e3a4f8e9c1d2b7a6f5e4d3c2b1a0f9e8d7c6b5a4f3e2d1c0b9a"  # as Go's multipart.Writer
DOCKERFILE = b"FROM busybox\nADD . /src\nCMD [\"cat\", \"/src/hello\"]\n"
Entry = tuple[Union[str, tarfile.TarInfo], Union[bytes, str, None]]


# Building bodies -------------------------------------------------------------

def tar_of(*entries: Entry, fmt: int = tarfile.PAX_FORMAT, end: str = "record") -> bytes:
    """A tar of files (bytes), directories (None) and symlinks ("-> target").

    `end`: "record" as tarfile writes it (end blocks, padded to 10 KiB),
    "blocks" (just the two end blocks) or "none".
    """
    stream = io.BytesIO()
    with tarfile.open(fileobj=stream, mode="w", format=fmt) as tar:
        for name, content in entries:
            info = name if isinstance(name, tarfile.TarInfo) else tarfile.TarInfo(name)
            if content is None:
                info.type, info.mode = tarfile.DIRTYPE, 0o755
                tar.addfile(info)
            elif isinstance(content, str):
                info.type, info.linkname = tarfile.SYMTYPE, content.removeprefix("-> ")
                tar.addfile(info)
            else:
                info.size = len(content)
                tar.addfile(info, io.BytesIO(content))
        members_end = tar.offset
    data = stream.getvalue()
    return {"record": data, "blocks": data[:members_end + 1024], "none": data[:members_end]}[end]


def field(name: str, content: bytes, filename: str | None = None, extra: bytes = b"") -> bytes:
    """One part as Go's CreateFormFile wrote it (or a plain field without a filename)."""
    disposition = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename else "")
    head = b"Content-Disposition: " + disposition.encode()
    if filename:
        head += b"\r\nContent-Type: application/octet-stream"
    return head + extra + b"\r\n\r\n" + content


def dockerfile(text: bytes = DOCKERFILE) -> bytes:
    return field("Dockerfile", text, "Dockerfile")


def context(tar: bytes) -> bytes:
    return field("Context", tar, "src.tar")


def multipart(*parts: bytes, boundary: bytes = BOUNDARY, preamble: bytes = b"",
              epilogue: bytes = b"") -> bytes:
    body = b"".join(b"--" + boundary + b"\r\n" + part + b"\r\n" for part in parts)
    return preamble + body + b"--" + boundary + b"--\r\n" + epilogue


def run(body: bytes, chunks: Iterable[int] | None = None, **options: object) -> bytes:
    """The transform's whole output for `body` fed in pieces of the given sizes (default: whole)."""
    transform = MultipartToTar(BOUNDARY, **options)  # type: ignore[arg-type]
    out, pos = [], 0
    for size in chunks if chunks is not None else [len(body)]:
        out.append(transform.feed(body[pos:pos + size]))
        pos += size
    out.append(transform.feed(body[pos:]))
    return b"".join(out) + transform.close()


def members(tar: bytes) -> list[tuple[str, Union[bytes, str, None]]]:
    """(name, content) of each member, as `tar_of` takes them; checks the archive's end."""
    assert len(tar) % 512 == 0 and tar.endswith(bytes(1024))
    result: list[tuple[str, Union[bytes, str, None]]] = []
    with tarfile.open(fileobj=io.BytesIO(tar), mode="r:") as archive:
        infos = archive.getmembers()
        for info in infos:
            if info.isdir():
                result.append((info.name, None))
            elif info.issym():
                result.append((info.name, "-> " + info.linkname))
            else:
                extracted = archive.extractfile(info)
                assert extracted is not None
                result.append((info.name, extracted.read()))
    # tarfile stops at the first zero block: the last member must end right before the final two.
    last = infos[-1]
    assert last.offset_data + (-(-last.size // 512) * 512 if last.isreg() else 0) == len(tar) - 1024
    return result


SOURCES: list[Entry] = [("src", None), ("src/hello", b"hello\n"), ("src/link", "-> hello")]


# boundary_of -------------------------------------------------------------------

@pytest.mark.parametrize("content_type, boundary", [
    (b"multipart/form-data; boundary=" + BOUNDARY, BOUNDARY),
    (b'Multipart/Form-Data;charset=utf-8; BOUNDARY="a b:c"', b"a b:c"),
    (b'multipart/form-data; boundary="q\\"uote"', b'q"uote'),
    (b"multipart/form-data ; boundary = x ;", b"x"),
    (b"multipart/form-data", None),
    (b"multipart/mixed; boundary=x", None),
    (b"application/x-tar", None),
    (b"multipart/form-data; boundary=", None),
    (b'multipart/form-data; boundary=""', None),
    (b"multipart/form-data; boundary=" + b"x" * 71, None),
    (b'multipart/form-data; boundary="ends in space "', None),
    (b"multipart/form-data; boundary=a; boundary=b", None),
    (b"multipart/form-data; boundary=a b", None),
    (b"", None),
])
def test_boundary_of(content_type: bytes, boundary: bytes | None) -> None:
    assert boundary_of(content_type) == boundary


def test_an_invalid_boundary_is_refused() -> None:
    with pytest.raises(TranslationError) as error:
        MultipartToTar(b"")
    assert error.value.status == 400


# Repacking ---------------------------------------------------------------------

@pytest.mark.parametrize("dockerfile_first", [True, False])
def test_the_context_members_and_the_dockerfile_field_make_one_tar(dockerfile_first: bool) -> None:
    parts = [dockerfile(), context(tar_of(*SOURCES))]
    out = run(multipart(*(parts if dockerfile_first else parts[::-1])))
    expected = [*SOURCES, ("Dockerfile", DOCKERFILE)]
    assert members(out) == (expected[-1:] + expected[:-1] if dockerfile_first else expected)


def test_the_dockerfile_member_is_a_plain_0644_file() -> None:
    with tarfile.open(fileobj=io.BytesIO(run(multipart(dockerfile())))) as archive:
        [info] = archive.getmembers()
    assert (info.name, info.type, info.mode, info.mtime, info.uid, info.gid, info.size) == \
        ("Dockerfile", tarfile.REGTYPE, 0o644, 0, 0, 0, len(DOCKERFILE))


def test_the_dockerfile_mtime_is_its_arrival_with_a_clock() -> None:
    out = run(multipart(dockerfile()), clock=lambda: 1371081600.7)
    with tarfile.open(fileobj=io.BytesIO(out)) as archive:
        assert archive.getmember("Dockerfile").mtime == 1371081600


def test_only_a_dockerfile_field_makes_a_tar_of_one_member() -> None:
    assert members(run(multipart(dockerfile()))) == [("Dockerfile", DOCKERFILE)]


@pytest.mark.parametrize("dockerfile_first", [True, False])
@pytest.mark.parametrize("name", ["Dockerfile", "./Dockerfile"])
def test_the_dockerfile_field_replaces_the_contexts_own(dockerfile_first: bool, name: str) -> None:
    tar = tar_of(("hello", b"hi\n"), (name, b"FROM scratch\n"), ("sub/Dockerfile", b"FROM nested\n"))
    parts = [dockerfile(), context(tar)]
    out = members(run(multipart(*(parts if dockerfile_first else parts[::-1]))))
    assert sorted(out) == [("Dockerfile", DOCKERFILE), ("hello", b"hi\n"), ("sub/Dockerfile", b"FROM nested\n")]


def test_without_a_field_the_contexts_dockerfile_is_kept() -> None:
    tar = tar_of(("Dockerfile", b"FROM scratch\n"), ("hello", b"hi\n"))
    assert members(run(multipart(context(tar)))) == [("hello", b"hi\n"), ("Dockerfile", b"FROM scratch\n")]


@pytest.mark.parametrize("fmt", [tarfile.GNU_FORMAT, tarfile.PAX_FORMAT])
@pytest.mark.parametrize("dockerfile_first", [True, False])
def test_long_names_and_directories_pass_through(fmt: int, dockerfile_first: bool) -> None:
    long_dir = "d" * 90 + "/" + "e" * 90
    entries: list[Entry] = [(long_dir, None), (long_dir + "/" + "f" * 120, b"long\n"),
                            (long_dir + "/Dockerfile", b"FROM deep\n"), ("Dockerfile", b"FROM old\n"),
                            ("after", b"after\n")]
    parts = [dockerfile(), context(tar_of(*entries, fmt=fmt))]
    out = members(run(multipart(*(parts if dockerfile_first else parts[::-1]))))
    assert sorted(out) == sorted([*entries[:3], entries[4], ("Dockerfile", DOCKERFILE)])


def test_a_pax_header_goes_with_the_dockerfile_it_describes() -> None:
    described = tarfile.TarInfo("Dockerfile")
    described.pax_headers = {"comment": "dropped with its member"}
    renamed = tarfile.TarInfo("decoy")  # ustar name "decoy", pax path Dockerfile: pax wins
    renamed.pax_headers = {"path": "Dockerfile"}
    tar = tar_of((described, b"FROM a\n"), ("hello", b"hi\n"), (renamed, b"FROM b\n"), ("bye", b"bye\n"))
    out = run(multipart(context(tar), dockerfile()))
    assert members(out) == [("hello", b"hi\n"), ("bye", b"bye\n"), ("Dockerfile", DOCKERFILE)]
    with tarfile.open(fileobj=io.BytesIO(out)) as archive:
        assert all(info.pax_headers == {} for info in archive.getmembers())


def test_a_base_256_size_is_read() -> None:
    header = bytearray(tarfile.TarInfo("big").tobuf(tarfile.GNU_FORMAT))
    header[124:136] = b"\x80" + (700).to_bytes(11, "big")  # GNU's encoding for sizes of 8 GiB and more
    header[148:156] = b"%06o\0 " % (sum(header[:148]) + 256 + sum(header[156:]))
    tar = bytes(header) + b"x" * 700 + bytes(324) + tar_of(("after", b"after\n"))
    assert members(run(multipart(context(tar), dockerfile()))) == \
        [("big", b"x" * 700), ("after", b"after\n"), ("Dockerfile", DOCKERFILE)]


def test_an_old_gnu_sparse_member_keeps_its_extension_blocks() -> None:
    header = bytearray(tarfile.TarInfo("sparse").tobuf(tarfile.GNU_FORMAT))
    header[156:157] = b"S"
    header[124:136] = b"%011o\0" % 8  # stored bytes
    header[386:410] = b"%011o\0%011o\0" % (0, 4)  # first map entry in the header
    header[482] = 1  # more entries in an extension block
    header[483:495] = b"%011o\0" % 12  # real size
    header[148:156] = b"%06o\0 " % (sum(header[:148]) + 256 + sum(header[156:]))
    extension = bytearray(512)
    extension[0:24] = b"%011o\0%011o\0" % (8, 4)
    tar = bytes(header) + bytes(extension) + b"abcdWXYZ" + bytes(504) + tar_of(("after", b"after\n"))
    assert members(run(multipart(context(tar), dockerfile()))) == \
        [("sparse", b"abcd\0\0\0\0WXYZ"), ("after", b"after\n"), ("Dockerfile", DOCKERFILE)]


@pytest.mark.parametrize("end", ["record", "blocks", "none"])
def test_whatever_ends_the_context_the_output_has_one_end(end: str) -> None:
    out = run(multipart(context(tar_of(("hello", b"hi\n"), end=end)), dockerfile()))
    assert members(out) == [("hello", b"hi\n"), ("Dockerfile", DOCKERFILE)]


def test_an_empty_context_is_an_empty_tar() -> None:
    assert members(run(multipart(dockerfile(), context(b"")))) == [("Dockerfile", DOCKERFILE)]


def test_other_fields_preamble_epilogue_and_padding_are_ignored() -> None:
    body = multipart(field("t", b"me/app"), dockerfile(), field("Context", b"not a tar" * 100), context(b"x"),
                     field("Dockerfile", b"FROM second\n", "Dockerfile"), b"\r\nno disposition",
                     field("Dockerfile", b"FROM attachment\n").replace(b"form-data", b"attachment"),
                     preamble=b"This is a multipart body.\r\n", epilogue=b"\r\n--" + BOUNDARY + b"\r\nlate")
    body = body.replace(b"--" + BOUNDARY + b"\r\nContent-Disposition: form-data; name=\"t\"",
                        b"--" + BOUNDARY + b" \t\r\nContent-Disposition: form-data; name=\"t\"")
    assert b" \t\r\n" in body
    # The first Context field is the one used, as Go's FormFile did; "not a tar" is it.
    with pytest.raises(TranslationError, match="not a tar"):
        run(body)
    body = body.replace(b"not a tar" * 100, tar_of(("hello", b"hi\n")))
    assert members(run(body)) == [("Dockerfile", DOCKERFILE), ("hello", b"hi\n")]


def test_part_headers_are_read_per_rfc_7578() -> None:
    part = (b'content-disposition:  Form-Data ;\r\n filename="a \\"b\\".tar"; NAME=Dockerfile\r\n'
            b"Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\nFROM x\n")
    assert members(run(multipart(part))) == [("Dockerfile", b"FROM x\n")]


def test_part_content_that_looks_like_a_boundary_is_content() -> None:
    text = b"FROM x\r\n--" + BOUNDARY + b"x\r\n--" + BOUNDARY + b"-\r\n"
    assert members(run(multipart(dockerfile(text)))) == [("Dockerfile", text)]


# Streaming ---------------------------------------------------------------------

SMALL = multipart(field("t", b"me/app"), context(tar_of(("hello", b"hi\n"), ("Dockerfile", b"FROM old\n"),
                                                        end="blocks")),
                  dockerfile(), preamble=b"preamble\r\n")
SMALL_MEMBERS = [("hello", b"hi\n"), ("Dockerfile", DOCKERFILE)]


def test_one_byte_at_a_time() -> None:
    assert members(run(SMALL, [1] * len(SMALL))) == SMALL_MEMBERS


def test_every_split_point() -> None:
    whole = run(SMALL)
    assert members(whole) == SMALL_MEMBERS
    for cut in range(len(SMALL) + 1):
        assert run(SMALL, [cut]) == whole, cut


@settings(max_examples=100, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=700), max_size=40))
def test_random_chunks(sizes: list[int]) -> None:
    assert run(SMALL, sizes) == run(SMALL)


@pytest.mark.parametrize("dockerfile_first", [True, False])
def test_a_big_context_streams_through_in_bounded_memory(dockerfile_first: bool) -> None:
    rng = random.Random(4)
    files = [(f"blob{index}", rng.randbytes(1 << 20)) for index in range(8)]
    parts = [dockerfile(), context(tar_of(*files, ("Dockerfile", b"FROM old\n")))]
    body = multipart(*(parts if dockerfile_first else parts[::-1]))
    transform = MultipartToTar(BOUNDARY)
    out, fed = [], 0
    for start in range(0, len(body), 64 << 10):
        chunk = body[start:start + (64 << 10)]
        out.append(transform.feed(chunk))
        fed += len(chunk)
        assert transform.buffered <= 1 << 20
        # What came in has gone out, but for what is held and what framing was dropped.
        assert fed - sum(map(len, out)) <= transform.buffered + (16 << 10)
    out.append(transform.close())
    expected = files + [("Dockerfile", DOCKERFILE)]
    assert members(b"".join(out)) == (expected[-1:] + expected[:-1] if dockerfile_first else expected)


# Errors ------------------------------------------------------------------------

def error_of(body: bytes, **options: object) -> TranslationError:
    with pytest.raises(TranslationError) as error:
        run(body, **options)  # type: ignore[arg-type]
    return error.value


def broken(tar: bytes, at: int, value: bytes) -> bytes:
    return tar[:at] + value + tar[at + len(value):]


@pytest.mark.parametrize("body, status, message", [
    (multipart(context(tar_of(("hello", b"hi\n")))), 400, "no Dockerfile"),
    (multipart(field("t", b"me/app")), 400, "no Dockerfile"),
    (multipart(), 400, "no Dockerfile"),
    (b"", 400, "closing boundary"),
    (multipart(dockerfile())[:-4], 400, "closing boundary"),
    (multipart(dockerfile(), boundary=b"other"), 400, "closing boundary"),
    (multipart(dockerfile(b"x" * 101)), 413, "Dockerfile field is larger than 100"),
    (multipart(context(tar_of(("Dockerfile", b"x" * 101))), dockerfile()), 413, "Dockerfile larger than 100"),
    (multipart(dockerfile(), context(b"\x1f\x8b\x08" + bytes(600))), 400, "gzip-compressed"),
    (multipart(dockerfile(), context(b"hello" * 200)), 400, "not a tar archive"),
    (multipart(dockerfile(), context(broken(tar_of(("a", b"a"), ("b", b"b")), 1024, b"X"))), 400,
     "broken tar header .bad checksum at byte 1024"),
    (multipart(dockerfile(), context(tar_of(("hello", b"hi\n"), end="none")[:600])), 400,
     "ends inside a member, at byte 600"),
    (multipart(dockerfile(), context(tar_of(("hello", b"hi\n"), end="none")[:100])), 400,
     "not a tar archive: 100 bytes"),
    (multipart(dockerfile(), context(tar_of(("hello", b"hi\n"), end="none")[:700])), 400,
     "ends inside a member, at byte 700"),
    (multipart(field("Dockerfile", b"RlJPTQ==", "Dockerfile", b"\r\nContent-Transfer-Encoding: base64")), 400,
     "Content-Transfer-Encoding base64"),
    (multipart(b"Content-Disposition: form-data; name=Dockerfile; name=Context\r\n\r\n"), 400,
     "malformed Content-Disposition"),
    (multipart(b"Content-Disposition form-data\r\n\r\n"), 400, "malformed header line"),
    (multipart(b"X-Long: " + b"x" * (16 << 10) + b"\r\n\r\n"), 400, "part headers longer"),
    (multipart(dockerfile()).replace(BOUNDARY + b"\r\n", BOUNDARY + b" junk\r\n", 1), 400,
     "text after a boundary"),
], ids=lambda value: value[:40] if isinstance(value, str) else None)
def test_malformed_bodies_are_refused(body: bytes, status: int, message: str) -> None:
    error = error_of(body, limit_dockerfile=100)
    assert error.status == status
    assert re.search(message, str(error)), str(error)


def test_a_broken_size_field_is_refused() -> None:
    tar = tar_of(("hello", b"hi\n"), fmt=tarfile.USTAR_FORMAT)
    header = bytearray(tar[:512])
    header[124:136] = b"00000000009\0"
    header[148:156] = b"%06o\0 " % (sum(header[:148]) + 256 + sum(header[156:]))
    error = error_of(multipart(dockerfile(), context(bytes(header) + tar[512:])))
    assert error.status == 400 and "bad size" in str(error), str(error)


def test_a_broken_pax_header_is_refused() -> None:
    info = tarfile.TarInfo("hello")
    info.pax_headers = {"comment": "x"}
    tar = tar_of((info, b"hi\n"))
    at = tar.index(b"comment=x")
    error = error_of(multipart(dockerfile(), context(broken(tar, at - 3, b"99"))))
    assert error.status == 400 and "broken pax header" in str(error)
