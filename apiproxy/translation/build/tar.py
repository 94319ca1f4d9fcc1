"""Tar headers (POSIX ustar, pax, GNU) and the build context passed through member by member. Pure."""
from __future__ import annotations

import posixpath
import re
from typing import Union

from apiproxy.translation.transforms import TranslationError

BLOCK = 512
END_OF_ARCHIVE = bytes(2 * BLOCK)


MAX_TAR_METADATA = 1 << 20    # pax and GNU long-name headers held until their member's header

Chunk = Union[bytes, memoryview]


_OCTAL = re.compile(rb"[0-7]+")
_PAX_RECORD = re.compile(rb"([1-9][0-9]*) ")
_EXTENDED = (b"x", b"X", b"L", b"K")  # headers that describe the member after them
_HEADER_ONLY = (b"1", b"2", b"3", b"4", b"5", b"6")  # links, devices, dirs, fifos: no data whatever the size
_COMPRESSED = ((b"\x1f\x8b", "gzip"), (b"BZh", "bzip2"), (b"\xfd7zXZ\x00", "xz"),
               (b"\x28\xb5\x2f\xfd", "zstd"))


def _number(field: bytes) -> int:
    """A numeric header field: octal text, or base-256 when the high bit is set (GNU, star)."""
    if field[0] & 0x80:
        if field[0] == 0xFF:
            raise ValueError("negative base-256 number")
        return int.from_bytes(bytes([field[0] & 0x7F]) + field[1:], "big")
    text = field.strip(b" \0")  # as Go's archive/tar: padding may be spaces or NULs either side
    if not text:
        return 0
    if not _OCTAL.fullmatch(text):
        raise ValueError(f"not an octal number: {field!r}")
    return int(text, 8)


def _checksum_ok(block: bytes) -> bool:
    try:
        stored = _number(block[148:156])
    except ValueError:
        return False
    rest = block[:148] + block[156:]
    unsigned = sum(rest) + 8 * ord(" ")  # the checksum field counts as spaces
    if stored == unsigned:
        return True
    high = len(rest) - len(rest.translate(None, bytes(range(128, 256))))
    return stored == unsigned - 256 * high  # some old tars summed signed chars


def _header_name(block: bytes) -> bytes:
    name = block[:100].split(b"\0", 1)[0]
    if block[257:263] == b"ustar\0":  # POSIX prefix; GNU tar keeps other things at that place
        prefix = block[345:500].split(b"\0", 1)[0]
        if prefix:
            name = prefix + b"/" + name
    return name


def _pax_records(data: bytes) -> dict[bytes, bytes]:
    """`length key=value\\n` records; malformed ones are refused, as the daemon would."""
    records: dict[bytes, bytes] = {}
    pos = 0
    while pos < len(data):
        match = _PAX_RECORD.match(data, pos)
        end = pos + int(match.group(1)) if match else 0
        if match is None or end > len(data) or data[end - 1:end] != b"\n" or b"=" not in data[match.end():end]:
            raise ValueError(f"malformed pax record at byte {pos}")
        key, _, value = data[match.end():end - 1].partition(b"=")
        records[key] = value
        pos = end
    return records


def _is_root_dockerfile(name: bytes) -> bool:
    # The daemon cleans member paths before extracting: `./Dockerfile` and `/Dockerfile` land there too.
    return posixpath.normpath(b"/" + name.lstrip(b"/")) == b"/Dockerfile"


def _padded(size: int) -> int:
    return -(-size // BLOCK) * BLOCK


def tar_member(name: bytes, content: bytes, mtime: int = 0, mode: int = 0o644) -> bytes:
    """A regular file as a ustar member: header, content, padding."""
    assert len(name) <= 100
    header = bytearray(BLOCK)
    header[:len(name)] = name
    header[100:108] = b"%07o\0" % mode
    header[108:124] = b"0000000\0" * 2  # uid, gid: root, as a daemon extracting a context expects
    header[124:136] = b"%011o\0" % len(content)
    header[136:148] = b"%011o\0" % min(max(mtime, 0), 8 ** 11 - 1)
    header[148:156] = b" " * 8
    header[156:157] = b"0"
    header[257:265] = b"ustar\x0000"
    header[148:156] = b"%06o\0 " % sum(header)
    return bytes(header) + content + bytes(-len(content) % BLOCK)


class ContextTar:
    """Passes a tar archive through member by member, keeping its root Dockerfile out.

    Extended headers (pax, GNU long names) are held until the header they
    describe, since they go or stay with that member.  The archive's own end
    blocks and whatever follows them are dropped: the output gets its own end.
    """

    def __init__(self, replaced: bool, limit: int, describe: str) -> None:
        self.replaced = replaced  # a Dockerfile field came first: the Context's Dockerfile is dropped
        self.limit = limit
        self.describe = describe
        self.held: bytearray | None = None  # the Context's Dockerfile, until a field may replace it
        self.ended = False
        self._block = bytearray()  # a header block being completed
        self._offset = 0           # of the current block in the archive, for messages
        self._remaining = 0        # data of the current member (padded) still to come
        self._route = "emit"       # where that data goes: emit, drop, hold, meta
        self._sparse_data = -1     # data size after old GNU sparse map blocks, -1 when none follow
        self._meta = bytearray()   # extended headers waiting for their member
        self._meta_kind = b""
        self._meta_start = self._meta_size = 0
        self._pax: dict[bytes, bytes] = {}
        self._long_name = b""

    @property
    def buffered(self) -> int:
        return len(self._block) + len(self._meta) + len(self.held or b"")

    def feed(self, data: memoryview, out: list[Chunk]) -> None:
        pos = 0
        while pos < len(data) and not self.ended:
            if self._remaining:
                take = min(self._remaining, len(data) - pos)
                self._put(data[pos:pos + take], out)
                pos += take
                self._offset += take
                self._remaining -= take
                if not self._remaining and self._route == "meta":
                    self._read_meta()
            else:
                take = min(BLOCK - len(self._block), len(data) - pos)
                self._block += data[pos:pos + take]
                pos += take
                if len(self._block) == BLOCK:
                    block = bytes(self._block)
                    self._block.clear()
                    self._on_block(block, out)
                    self._offset += BLOCK

    def finish(self) -> None:
        if self._offset == 0 and self._block:
            raise self._error(f"is not a tar archive: {len(self._block)} bytes")
        if not self.ended and (self._block or self._remaining or self._sparse_data >= 0):
            raise self._error(f"ends inside a member, at byte {self._offset + len(self._block)}")
        # No end blocks is fine (Go and Python read such archives); a dangling extended header is dropped.

    def _error(self, problem: str, status: int = 400) -> TranslationError:
        return TranslationError(f"{self.describe} {problem}", status)

    def _put(self, chunk: Chunk, out: list[Chunk]) -> None:
        if self._route == "emit":
            out.append(chunk)
        elif self._route == "hold":
            assert self.held is not None
            self.held += chunk
            if len(self.held) > self.limit + MAX_TAR_METADATA + 2 * BLOCK:  # a sparse map has no end
                raise self._error(f"has a Dockerfile larger than {self.limit} bytes", 413)
        elif self._route == "meta":
            self._meta += chunk

    def _on_block(self, block: bytes, out: list[Chunk]) -> None:
        if self._sparse_data >= 0:  # old GNU sparse map: 504 bytes of entries, then "more follow"
            self._put(block, out)
            if not block[504]:
                self._remaining, self._sparse_data = self._sparse_data, -1
            return
        if not any(block):
            self.ended = True
            self._meta.clear()
            return
        if not _checksum_ok(block):
            for magic, compression in _COMPRESSED:
                if self._offset == 0 and block.startswith(magic):
                    raise self._error(f"is {compression}-compressed; only an uncompressed tar can be repacked")
            what = "is not a tar archive" if self._offset == 0 else "has a broken tar header"
            raise self._error(f"{what} (bad checksum at byte {self._offset})")
        kind = block[156:157]
        try:
            size = _number(block[124:136])
            if kind not in _EXTENDED and b"size" in self._pax:  # pax sizes go beyond 8 GiB
                if not self._pax[b"size"].isdigit():
                    raise ValueError(self._pax[b"size"])
                size = int(self._pax[b"size"])
        except ValueError as error:
            raise self._error(f"has a broken tar header at byte {self._offset}: bad size ({error})") from None
        if kind in _EXTENDED:
            self._begin_meta(block, kind, size)
            return
        name = self._pax.get(b"path") or self._long_name or _header_name(block)
        if kind in _HEADER_ONLY or (kind == b"\0" and name.endswith(b"/")):
            size = 0  # as Go's reader, which the daemon uses
        if not _is_root_dockerfile(name):
            self._route = "emit"
            out.extend((bytes(self._meta), block) if self._meta else (block,))
        elif self.replaced:
            self._route = "drop"
        elif size > self.limit:
            raise self._error(f"has a Dockerfile larger than {self.limit} bytes", 413)
        else:
            self._route = "hold"
            self.held = bytearray(self._meta + block)  # a later duplicate wins, as when extracting
        self._meta.clear()
        self._pax, self._long_name = {}, b""
        if kind == b"S" and block[482]:  # old GNU sparse: more map blocks before the data
            self._sparse_data = _padded(size)
        else:
            self._remaining = _padded(size)

    def _begin_meta(self, block: bytes, kind: bytes, size: int) -> None:
        if len(self._meta) + BLOCK + _padded(size) > MAX_TAR_METADATA:
            raise self._error(f"has extended tar headers larger than {MAX_TAR_METADATA} bytes", 413)
        self._route = "meta"
        self._meta += block
        self._meta_kind, self._meta_start, self._meta_size = kind, len(self._meta), size
        self._remaining = _padded(size)
        if not size:
            self._read_meta()

    def _read_meta(self) -> None:
        data = bytes(self._meta[self._meta_start:self._meta_start + self._meta_size])
        if self._meta_kind in (b"x", b"X"):  # a later pax header replaces an earlier one, as in Go
            try:
                self._pax = _pax_records(data)
            except ValueError as error:
                raise self._error(f"has a broken pax header: {error}") from None
        elif self._meta_kind == b"L":
            self._long_name = data.split(b"\0", 1)[0]
