"""Multipart `POST /build` bodies of API 1.1/1.2 repacked as the tar today's daemons read. Pure.

Docker 0.4 clients uploaded the Dockerfile and the build context as two fields
of a multipart/form-data body; daemons since 0.5 read one tar with the
Dockerfile at its root.  `MultipartToTar` passes the Context tar through
member by member as it arrives and adds the Dockerfile field as a member, so
a context of any size costs a bounded amount of memory.
"""
from __future__ import annotations

from typing import Callable

from apiproxy.translation.build.multipart import (MAX_BOUNDARY_LINE, MAX_PART_HEAD, parse_parameters, part_fields,
                                                  valid_boundary)
from apiproxy.translation.build.tar import END_OF_ARCHIVE, Chunk, ContextTar, tar_member
from apiproxy.translation.transforms import TranslationError


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
        if not valid_boundary(boundary):
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
        self._context: ContextTar | None = None

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
        fields = part_fields(raw) if raw else {}
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
            self._context = ContextTar(self._replaced, self.limit,
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
            out.append(tar_member(b"Dockerfile", bytes(self._dockerfile), self._mtime))
            self._dockerfile = None
        elif self._part == "context":
            assert self._context is not None
            self._context.finish()
        self._part = ""
