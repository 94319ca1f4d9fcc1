"""Stream steps: the transforms of a hijacked stream and of a streamed request body. Pure."""
from __future__ import annotations

from apiproxy.translation.build.context import MultipartToTar
from apiproxy.translation.build.multipart import boundary_of
from apiproxy.translation.document import Context
from apiproxy.translation.registry import hijack_step, stream_step
from apiproxy.translation.transforms import FRAME_HEADER, FrameStream, Transform, TranslationError
from apiproxy.wire.http1 import Headers, header


class _Demultiplex:
    """Merges stdout and stderr frames into one raw stream (attach before API 1.6).

    A container with a TTY sends a raw stream already; its first bytes tell:
    a frame header is a stream type 0–2 followed by three zero bytes.
    """

    def __init__(self) -> None:
        self.decided: Transform | None = None
        self.head = b""

    def feed(self, data: bytes) -> bytes:
        if self.decided is None:
            self.head += data
            if len(self.head) < FRAME_HEADER.size:
                return b""
            framed = self.head[0] in (0, 1, 2) and self.head[1:4] == b"\0\0\0"
            self.decided = FrameStream(lambda kind, payload: payload) if framed else _Identity()
            data, self.head = self.head, b""
        return self.decided.feed(data)

    def close(self) -> bytes:
        if self.decided is None:
            return self.head
        return self.decided.close()


class _Identity:
    def feed(self, data: bytes) -> bytes:
        return data

    def close(self) -> bytes:
        return b""


@hijack_step
def demultiplex_stream(context: Context) -> Transform:
    return _Demultiplex()


@stream_step
def multipart_to_tar(context: Context, headers: Headers) -> Transform:
    """A 0.4 client's multipart build body, repacked into the tar today's build takes."""
    boundary = boundary_of(header(headers, b"content-type") or b"")
    if boundary is None:
        raise TranslationError("Multipart upload for build needs a multipart/form-data Content-Type with a boundary")
    context.extra_headers.append((b"Content-Type", b"application/x-tar"))
    return MultipartToTar(boundary)
