"""Stream steps: the transforms of a hijacked stream and of a streamed request body. Pure."""
from __future__ import annotations

from apiproxy.translation.build.context import MultipartToTar
from apiproxy.translation.build.multipart import boundary_of
from apiproxy.translation.document import Context
from apiproxy.translation.registry import hijack_step, stream_step
from apiproxy.translation.transforms import FRAME_HEADER, Transform, TranslationError
from apiproxy.wire.http1 import Headers, header


class Demultiplex:
    """Merges stdout and stderr frames into one raw stream (attach before API 1.6).

    A container with a TTY sends a raw stream already; its first bytes tell:
    a frame header is a stream type 0-2 followed by three zero bytes. Payloads go
    on as they come, a frame need not be whole first.

    Two ways to drive it: `feed` (the bytes pass through Python), or, once `framed`,
    `take_framing` and `payload_moved`: only the 8-byte headers are read here, the
    payloads move elsewhere (splice(2), shell/splicing.py), as with a ChunkedDecoder.
    """

    done = False  # a raw stream ends with its connection, never by its framing

    def __init__(self) -> None:
        self.framed: bool | None = None  # None until the first 8 bytes have told
        self.header = bytearray()  # a frame header begun, or the first bytes while undecided
        self.payload_left = 0  # payload bytes of the current frame still to come

    def _take_header(self, data: bytes, start: int) -> int:
        """Header bytes from data[start:]; the index after those it took."""
        taken = data[start:start + FRAME_HEADER.size - len(self.header)]
        self.header += taken
        if len(self.header) == FRAME_HEADER.size:
            if self.framed is None:
                self.framed = self.header[0] in (0, 1, 2) and self.header[1:4] == b"\0\0\0"
            if self.framed:
                _, self.payload_left = FRAME_HEADER.unpack(self.header)
                self.header.clear()
        return start + len(taken)

    def feed(self, data: bytes) -> bytes:
        if self.framed is False:
            return data
        out: list[bytes] = []
        index = 0
        while index < len(data):
            if self.payload_left:
                take = min(self.payload_left, len(data) - index)
                out.append(data[index:index + take])
                self.payload_left -= take
                index += take
                continue
            index = self._take_header(data, index)
            if self.framed is False:  # a TTY's raw stream: its first bytes, then all as it comes
                out += [bytes(self.header), data[index:]]
                self.header.clear()
                break
        return b"".join(out)

    def close(self) -> bytes:
        """A frame cut by the end is passed on as far as it came; undecided bytes are the stream's."""
        held = bytes(self.header) if self.framed is None else b""
        self.header.clear()
        return held

    # Framing only (a framed stream): the payloads are moved by someone else.

    def take_framing(self, data: bytes) -> int:
        """Take the frame headers at the start of `data` up to the next payload; how many bytes that was."""
        assert self.framed, "a raw stream has no framing to take"
        index = 0
        while index < len(data) and not self.payload_left:
            index = self._take_header(data, index)
        return index

    def payload_moved(self, count: int) -> None:
        self.payload_left -= count


@hijack_step
def demultiplex_stream(context: Context) -> Transform:
    return Demultiplex()


@stream_step
def multipart_to_tar(context: Context, headers: Headers) -> Transform:
    """A 0.4 client's multipart build body, repacked into the tar today's build takes."""
    boundary = boundary_of(header(headers, b"content-type") or b"")
    if boundary is None:
        raise TranslationError("Multipart upload for build needs a multipart/form-data Content-Type with a boundary")
    context.extra_headers.append((b"Content-Type", b"application/x-tar"))
    return MultipartToTar(boundary)
