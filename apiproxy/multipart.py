"""Multipart `POST /build` bodies of API 1.1/1.2 repacked as the tar today's daemons read. Pure.

Docker 0.4 clients uploaded the Dockerfile and the build context as two fields
of a multipart/form-data body; daemons since 0.5 read one tar with the
Dockerfile at its root.  `MultipartToTar` passes the Context tar through
member by member as it arrives and adds the Dockerfile field as a member, so
a context of any size costs a bounded amount of memory.
"""
from __future__ import annotations

import posixpath
import re
from typing import Callable, Union

from .translate import TranslationError

BLOCK = 512
END_OF_ARCHIVE = bytes(2 * BLOCK)
MAX_PART_HEAD = 16 << 10      # the header fields of one part; Go's client wrote ~150 bytes
MAX_BOUNDARY_LINE = 1 << 10   # transport padding after a boundary
MAX_TAR_METADATA = 1 << 20    # pax and GNU long-name headers held until their member's header

Chunk = Union[bytes, memoryview]

# Multipart framing (RFC 2046 §5.1, RFC 7578) ---------------------------------

_TOKEN = r"[!#$%&'*+\-.^_`{|}~0-9A-Za-z]+"
_TYPE = re.compile(rf"\s*({_TOKEN}(?:/{_TOKEN})?)\s*")
_PARAMETER = re.compile(rf'\s*;\s*({_TOKEN})\s*=\s*(?:"((?:[^"\\]|\\.)*)"|({_TOKEN}))\s*', re.S)
_HEADER_NAME = re.compile(_TOKEN)


def parse_parameters(value: str) -> tuple[str, dict[str, str]] | None:
    """`type; name=value; ...` (RFC 2045, 2183): the lowercased type and its parameters.

    Parameter names are lowercased, quoted values unescaped; None if malformed.
    """
    match = _TYPE.match(value)
    if match is None:
        return None
    kind, pos, parameters = match.group(1).lower(), match.end(), {}
    while pos < len(value):
        match = _PARAMETER.match(value, pos)
        if match is None:
            if value[pos:].strip() == ";":  # a trailing separator is harmless
                break
            return None
        name, quoted, token = match.group(1).lower(), match.group(2), match.group(3)
        if name in parameters:  # which one the sender meant is anyone's guess (Go refuses too)
            return None
        parameters[name] = re.sub(r"\\(.)", r"\1", quoted, flags=re.S) if quoted is not None else token
        pos = match.end()
    return kind, parameters


def _valid_boundary(boundary: bytes) -> bool:
    # RFC 2046: 1 to 70 characters, no trailing space; a line break could never be matched.
    return (0 < len(boundary) <= 70 and not boundary.endswith(b" ")
            and b"\r" not in boundary and b"\n" not in boundary)


def boundary_of(content_type: bytes) -> bytes | None:
    """The boundary of a `multipart/form-data` Content-Type, None for anything else."""
    parsed = parse_parameters(content_type.decode("latin-1"))  # latin-1 round-trips every byte
    if parsed is None or parsed[0] != "multipart/form-data":
        return None
    boundary = parsed[1].get("boundary", "").encode("latin-1")
    return boundary if _valid_boundary(boundary) else None


def _part_fields(raw: bytes) -> dict[str, str]:
    """The header fields of a part, by lowercased name."""
    fields: dict[str, str] = {}
    last = ""
    # RFC 7578 §5.1 lets field names and filenames be raw UTF-8.
    for line in raw.decode("utf-8", "replace").split("\r\n"):
        if line[:1] in (" ", "\t") and last:  # a folded line continues the field before it
            fields[last] += " " + line.strip()
            continue
        name, colon, value = line.partition(":")
        if not colon or not _HEADER_NAME.fullmatch(name):
            raise TranslationError(f"malformed header line in a multipart part: {line[:80]!r}")
        last = name.lower()
        fields[last] = value.strip()
    return fields


# Tar headers (POSIX ustar, pax, GNU) ----------------------------------------

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


def _tar_member(name: bytes, content: bytes, mtime: int = 0, mode: int = 0o644) -> bytes:
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


class _ContextTar:
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
            for magic, kind in _COMPRESSED:
                if self._offset == 0 and block.startswith(magic):
                    raise self._error(f"is {kind}-compressed; only an uncompressed tar can be repacked")
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


# The transform ---------------------------------------------------------------

class MultipartToTar:
    """A multipart/form-data build body (API 1.1, 1.2) as one tar stream.

    The `Context` field's members pass through as they arrive, but a root
    Dockerfile when a `Dockerfile` field is given; the field becomes a
    `Dockerfile` member (mode 0644, mtime 0 or `clock()` when it arrives).
    Other fields, and repeated Dockerfile or Context fields, are ignored, as
    0.4 daemons (Go's FormFile) did.
    """

    streaming = True  # the proxy sends what feed() returns as it comes

    def __init__(self, boundary: bytes, limit_dockerfile: int = 1 << 20, *,
                 clock: Callable[[], float] | None = None) -> None:
        if not _valid_boundary(boundary):
            raise TranslationError(f"invalid multipart boundary {boundary!r}")
        self.limit = limit_dockerfile
        self._boundary = boundary
        self._clock = clock
        self._delimiter = b"\r\n--" + boundary
        self._pending = b"\r\n"  # the first boundary may open the body, with no line break before it
        self._state = "preamble"  # preamble, delimiter, head, body, epilogue
        self._part = ""  # the part being read: dockerfile, context, or "" when ignored
        self._dockerfile: bytearray | None = None
        self._mtime = 0
        self._replaced = False  # a Dockerfile field has begun: it wins over the Context's
        self._context: _ContextTar | None = None

    @property
    def buffered(self) -> int:
        """Bytes held back now: a partial boundary or header, the Dockerfile, extended tar headers."""
        context = self._context.buffered if self._context else 0
        return len(self._pending) + len(self._dockerfile or b"") + context

    def feed(self, data: bytes) -> bytes:
        buf = self._pending + bytes(data)
        view = memoryview(buf)  # parts of the Context leave as slices of it, uncopied
        out: list[Chunk] = []
        pos = 0
        while True:
            if self._state in ("preamble", "body"):
                end, found = self._scan(buf, pos)
                if self._state == "body" and end > pos:
                    self._part_data(view[pos:end], out)
                pos = end
                if not found:
                    break
                if self._state == "body":
                    self._part_end(out)
                pos += len(self._delimiter)
                self._state = "delimiter"
            elif self._state == "delimiter":
                if len(buf) - pos < 2:
                    break
                if buf.startswith(b"--", pos):
                    self._state = "epilogue"
                    continue
                eol = buf.find(b"\r\n", pos)
                if eol < 0:
                    if len(buf) - pos > MAX_BOUNDARY_LINE:
                        raise TranslationError("malformed multipart body: a boundary line never ends")
                    break
                if buf[pos:eol].strip(b" \t"):
                    raise TranslationError("malformed multipart body: text after a boundary")
                pos = eol + 2
                self._state = "head"
            elif self._state == "head":
                if buf.startswith(b"\r\n", pos):  # a part without header fields
                    end, skip = pos, 2
                else:
                    end, skip = buf.find(b"\r\n\r\n", pos), 4
                if (end if end >= 0 else len(buf)) - pos > MAX_PART_HEAD:
                    raise TranslationError(f"multipart part headers longer than {MAX_PART_HEAD} bytes")
                if end < 0:
                    break
                self._part_begin(buf[pos:end])
                pos = end + skip
                self._state = "body"
            else:  # epilogue: ignored, like the preamble
                pos = len(buf)
                break
        self._pending = buf[pos:]
        return b"".join(out)

    def close(self) -> bytes:
        if self._state != "epilogue":
            raise TranslationError(
                f"multipart body ends before its closing boundary --{self._boundary.decode('latin-1')}--")
        if self._replaced:
            return END_OF_ARCHIVE
        held = self._context.held if self._context else None
        if held is None:
            raise TranslationError("no Dockerfile: the build body has no Dockerfile field "
                                   "and no Dockerfile at the root of its Context")
        return bytes(held) + END_OF_ARCHIVE

    def _scan(self, buf: bytes, start: int) -> tuple[int, bool]:
        """(end of the part data that is sure, whether a delimiter starts there)."""
        delimiter = self._delimiter
        while True:
            at = buf.find(delimiter, start)
            if at < 0:
                break
            after = buf[at + len(delimiter):at + len(delimiter) + 2]
            if len(after) < 2:
                return at, False  # cannot tell yet whether it closes, pads or is content
            # Only `--`, padding or a line break make it a delimiter (as Go's reader decides).
            if after == b"--" or after[:1] in (b" ", b"\t", b"\r"):
                return at, True
            start = at + 1
        # Keep a tail that may be the start of a delimiter cut by the chunk's end.
        tail = buf.find(b"\r", max(start, len(buf) - len(delimiter) + 1))
        while tail >= 0 and not delimiter.startswith(buf[tail:]):
            tail = buf.find(b"\r", tail + 1)
        return (len(buf) if tail < 0 else tail), False

    def _part_begin(self, raw: bytes) -> None:
        fields = _part_fields(raw) if raw else {}
        disposition = parse_parameters(fields.get("content-disposition", ""))
        if disposition is None and "content-disposition" in fields:
            raise TranslationError(f"malformed Content-Disposition {fields['content-disposition']!r}")
        # Parts that are not form-data fields are skipped, as by Go's ReadForm.
        name = disposition[1].get("name") if disposition and disposition[0] == "form-data" else None
        if name == "Dockerfile" and not self._replaced:
            self._part, self._replaced, self._dockerfile = "dockerfile", True, bytearray()
            self._mtime = int(self._clock()) if self._clock else 0
            if self._context:
                self._context.held = None  # the field wins over the Context's own Dockerfile
        elif name == "Context" and self._context is None:
            self._part = "context"
            filename = disposition[1].get("filename", "") if disposition else ""
            kind = (parse_parameters(fields.get("content-type", "")) or ("application/octet-stream",))[0]
            self._context = _ContextTar(self._replaced, self.limit,
                                        f"the Context field ({filename or 'no filename'}, {kind})")
        else:
            self._part = ""
            return
        encoding = fields.get("content-transfer-encoding", "binary").lower()
        if encoding not in ("binary", "8bit", "7bit"):  # RFC 7578 §4.7: senders must not use one
            raise TranslationError(f"the {name} field has Content-Transfer-Encoding {encoding}; "
                                   "only binary is supported")

    def _part_data(self, chunk: memoryview, out: list[Chunk]) -> None:
        if self._part == "dockerfile":
            assert self._dockerfile is not None
            if len(self._dockerfile) + len(chunk) > self.limit:
                raise TranslationError(f"the Dockerfile field is larger than {self.limit} bytes", 413)
            self._dockerfile += chunk
        elif self._part == "context":
            assert self._context is not None
            self._context.feed(chunk, out)

    def _part_end(self, out: list[Chunk]) -> None:
        if self._part == "dockerfile":
            assert self._dockerfile is not None
            out.append(_tar_member(b"Dockerfile", bytes(self._dockerfile), self._mtime))
            self._dockerfile = None
        elif self._part == "context":
            assert self._context is not None
            self._context.finish()
        self._part = ""
