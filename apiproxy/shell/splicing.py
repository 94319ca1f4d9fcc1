"""Moving bytes apiproxy passes on unchanged with splice(2): socket -> pipe -> socket, never through Python.

A `Splice` moves one direction of one connection pair: a hijacked stream until its end of file,
or a body of known length, or a chunked body whose chunk-size lines Python reads (the payloads
stay in the kernel), or a legacy client's demultiplexed stream whose 8-byte frame headers Python
reads, or an answer read until its connection closes (re-chunked when the client's is chunked).
It works on duplicates of the two transports' descriptors, registered with the reactor under
their own numbers, so each transport keeps its own registration (Twisted may still read the sink
socket for the other direction) and is handed back when a body ends.

Back-pressure is the pipe's: the source is read only while the pipe has room, the sink is
watched only while the pipe holds bytes. Whatever the sink's transport still holds (an answer's
head partly sent to a slow reader) leaves before the first spliced byte.
"""
from __future__ import annotations

import fcntl
import os
import select
import socket
import sys
import termios
from collections.abc import Callable
from typing import Any

from twisted.internet.interfaces import IReactorFDSet
from twisted.logger import Logger
from twisted.python.failure import Failure

from apiproxy.shell.sending import send_held
from apiproxy.shell.splice_parts import (PayloadFraming, SinkError, SinkWatcher, SourceWatcher, WhenWritten,
                                         describe_error, holds_bytes, new_pipe)
from apiproxy.wire.http1 import LAST_CHUNK, ChunkedDecoder, ProtocolError

log = Logger(namespace="apiproxy.splicing")

PEEK = 64  # bytes looked at for a chunk-size line; longer lines take several looks
LOOK_FRAMES = 8192  # bytes looked at for a demultiplexed stream's frame header, and the small frames after it
ENDED_EARLY = "the connection ended in the middle of the body"
MALFORMED = "malformed chunked body"
_FLAGS = getattr(os, "SPLICE_F_MOVE", 1) | getattr(os, "SPLICE_F_NONBLOCK", 2)


class Splice:
    """One direction: `source`'s bytes to `sink` through a pipe, until the end of the body or the stream.

    `length`: a body of that many bytes; `decoder`: a framed body from where the decoder stands
    (its chunk-size lines or frame headers are read in Python; chunks re-encoded to the sink when
    `chunked_out`); neither: a raw stream until the source's end of file, sent as chunks of what
    the socket holds when `chunked_out`. `until_eof`: the source's end of file ends it, whatever
    its framing (a demultiplexed stream). `look`: bytes peeked at for framing; above PEEK, the
    payloads it holds whole are written to the pipe from Python rather than spliced. `moved(n)`
    reports payload bytes taken from the source; `ended()` the end passed on whole;
    `failed(reason, at_source)` anything else (`at_source`: the source ended early, failed or sent
    bad framing; else the sink failed).
    """

    def __init__(self, reactor: IReactorFDSet, source: Any, sink: Any, *, moved: Callable[[int], None],
                 ended: Callable[[], None], failed: Callable[[str, bool], None], length: int | None = None,
                 decoder: PayloadFraming | None = None, chunked_out: bool = False, until_eof: bool = False,
                 look: int = PEEK) -> None:
        self.reactor, self.source, self.sink = reactor, source, sink
        self.moved, self.ended, self.failed = moved, ended, failed
        self.decoder, self.chunked_out, self.look = decoder, chunked_out, look
        self.until_eof = until_eof or (length is None and decoder is None)
        self.rechunk = length is None and decoder is None and chunked_out  # chunks of what the socket holds
        # Chunked in and out: the daemon's (or client's) own chunk lines pass as they are, spliced with
        # the payload after them once Python has checked them, rather than read and written again.
        self.verbatim = chunked_out and isinstance(decoder, ChunkedDecoder)
        self.through = 0  # checked framing bytes at the head of the source, spliced before the payload
        self.crlf_owed = False  # the sink's last payload still lacks its CRLF (it comes with the next line)
        # Part of the current chunk's framing was taken already (by Python before the splice, or a
        # line not whole in one look): that chunk's framing is written anew, not passed.
        self.line_taken = isinstance(decoder, ChunkedDecoder) and not (decoder.payload_left or decoder.between_chunks)
        self.payload = 0 if self.rechunk else length  # bytes the source owes before the next framing (None: unbounded)
        self.framing_out = b""  # chunk framing for the sink, written into the pipe in order
        self.in_pipe = 0
        self.source_done = False  # end of file, or the whole body taken
        self.cut = ""  # why the source ended before its body did
        self.pipe_full = False  # the last splice in found no room: wait until some bytes leave
        self.running = False
        self.stopped = False
        self._reading = self._writing = False
        source.pauseProducing()  # nothing Twisted reads of the source from now on; resumed by the caller
        self.source_socket = socket.socket(fileno=os.dup(source.fileno()))
        self.sink_fd = os.dup(sink.fileno())
        self.pipe_out, self.pipe_in, self.capacity = new_pipe()
        self._source = SourceWatcher(self, self.source_socket.fileno())
        self._sink = SinkWatcher(self, self.sink_fd)
        if decoder is not None:
            self.payload = decoder.payload_left
            if self.payload:
                self._chunk_header(self.payload)

    def start(self) -> None:
        """Begin once the sink's transport has sent all it holds."""
        send_held(self.sink)
        if holds_bytes(self.sink):
            self.sink.registerProducer(WhenWritten(self), False)
        else:
            self.begin()

    def begin(self) -> None:
        if self.stopped or self.running:
            return
        self.running = True
        self._pump()

    # Readiness ----------------------------------------------------------------

    def source_ready(self) -> None:
        self._pump()

    def sink_ready(self) -> None:
        self._pump()

    def source_lost(self, reason: Failure) -> None:
        """The reactor saw the source hang up: read what is left, then it is an end or a failure;
        or the socket says it was not its own hang-up, and the splice goes on."""
        self._reading = False  # the reactor stopped watching it; _pump watches it again if it goes on
        self._pump()
        if self.stopped or self.source_done:
            return
        try:
            seen = self.source_socket.recv(1, socket.MSG_PEEK)
        except BlockingIOError:
            return  # nothing wrong with it
        except OSError:
            self.lost(reason)
            return
        if not seen:  # its end, while the pipe is full: passed on (or told, for a body) once it drains
            self._source_ended()
            self._pump()

    def sink_lost(self, reason: Failure) -> None:
        """The reactor saw the sink hang up: a failure if the socket says so, else the splice goes on."""
        self._writing = False  # the reactor stopped watching it; _pump watches it again if it goes on
        poller = select.poll()
        poller.register(self.sink_fd, select.POLLOUT)
        if any(events & (select.POLLHUP | select.POLLERR) for _, events in poller.poll(0)):
            self.lost(reason, at_source=False)
        else:
            self._pump()

    def lost(self, reason: Failure, at_source: bool = True) -> None:
        self._fail(f"the connection was lost: {reason.getErrorMessage()}", at_source)

    @property
    def at_boundary(self) -> bool:
        """What the sink got ends where a piece of its framing ends (between two chunks)."""
        return not self.payload and not self.in_pipe and not self.framing_out and not self.crlf_owed

    @property
    def sink_slow(self) -> bool:
        """Bytes wait in the pipe for the sink: the source is not read meanwhile."""
        return self._writing

    def _pump(self) -> None:
        """Move what can move now: out of the pipe first, then into it; then watch what waits."""
        if self.stopped:
            return
        try:
            self._drain()
        except SinkError as error:
            self._fail(describe_error(error.error), at_source=False)
            return
        try:
            for _ in range(8):  # a few steps per event, so that other connections get their turn
                if self.stopped or self.source_done or self.pipe_full or not self._fill():
                    break
                self._drain()
        except ProtocolError as error:
            self._cut_short(f"{MALFORMED} ({error})")
        except SinkError as error:
            self._fail(describe_error(error.error), at_source=False)
            return
        except OSError as error:
            self._cut_short(describe_error(error))
        if self.stopped:
            return
        if self.cut and self.in_pipe:  # what came before the cut goes on first, while the sink takes it
            try:
                self._drain()
            except SinkError:
                self.in_pipe = 0
        if self.source_done and not self.in_pipe and not self.framing_out:
            if self.cut:
                self._fail(self.cut, at_source=True)
                return
            self.stop()
            self.ended()
            return
        self._watch(reading=not self.source_done and not self.pipe_full, writing=self.in_pipe > 0)

    def _drain(self) -> None:
        while self.in_pipe:
            try:
                sent = os.splice(self.pipe_out, self.sink_fd, self.in_pipe, flags=_FLAGS)
            except BlockingIOError:
                return
            except OSError as error:
                raise SinkError(error) from error
            self.in_pipe -= sent
            self.pipe_full = False
            if self.framing_out:
                self._write_framing()

    def _fill(self) -> bool:
        """One splice into the pipe, or one chunk-size line read; False when nothing could move."""
        if self.framing_out and not self._write_framing():
            return False
        if self.payload == 0:  # a chunked body between two payloads
            return self._read_framing()
        room = self.capacity - self.in_pipe
        want = room if self.payload is None else min(room, self.through + self.payload)
        if want <= 0:
            self.pipe_full = True
            return False
        try:
            got = os.splice(self.source_socket.fileno(), self.pipe_in, want, flags=_FLAGS)
        except BlockingIOError:
            self.pipe_full = self.in_pipe > 0  # an empty socket, or no room left in the pipe's pages
            return False
        if got == 0:
            self._source_ended()
            return False
        self.in_pipe += got
        if self.through:
            framing = min(got, self.through)
            self.through -= framing
            got -= framing
            want -= framing
        self.moved(got)
        if self.payload is not None:
            self.payload -= got
            if self.decoder is not None or self.rechunk:
                if self.decoder is not None:
                    self.decoder.payload_moved(got)
                if self.payload == 0 and self.verbatim:
                    self.crlf_owed = True
                elif self.payload == 0 and self.chunked_out:
                    self._add_framing(b"\r\n")
            elif self.payload == 0:
                self.source_done = True
        # A short read emptied the socket, most likely: the next readiness event says when there is
        # more, rather than a splice that fails with EAGAIN now (a syscall and an exception per event).
        return got == want or self.payload == 0

    def _read_framing(self) -> bool:
        if self.decoder is None:
            return self._next_chunk()
        try:
            seen = self.source_socket.recv(self.look, socket.MSG_PEEK)
        except BlockingIOError:
            return False
        if not seen:
            self._source_ended()
            return False
        if self.verbatim:  # a chunked body passed on chunked (looks of PEEK bytes: no payload inline)
            return self._pass_framing(seen[:self.decoder.take_framing(seen)])
        used, inline = self.decoder.take_framing(seen), []
        # Payloads the look holds whole go on with the framing, through Python: for frames of a few
        # bytes (a line of output each) one look and one write beat four system calls a frame.
        while self.look > PEEK and not self.decoder.done and 0 < self.decoder.payload_left <= len(seen) - used:
            size = self.decoder.payload_left
            inline.append(b"%x\r\n%s\r\n" % (size, seen[used:used + size]) if self.chunked_out
                          else seen[used:used + size])
            self.decoder.payload_moved(size)
            self.moved(size)
            used += size
            used += self.decoder.take_framing(seen[used:])
        self.source_socket.recv(used)  # what was peeked is there: this takes it without blocking
        if inline:
            self._add_framing(b"".join(inline))
        if self.decoder.done:
            self.source_done = True
            if self.chunked_out:
                self._add_framing(LAST_CHUNK)
        elif self.decoder.payload_left:
            self.payload = self.decoder.payload_left
            self._chunk_header(self.payload)
        return True

    def _pass_framing(self, framing: bytes) -> bool:
        """Chunk lines the decoder checked, to the sink as the source wrote them, spliced with the
        payload they announce. The body's end (its trailers are dropped) and a chunk whose lines
        came in several looks are taken, and their framing written anew."""
        assert self.decoder is not None
        left = self.decoder.payload_left
        if left and not self.line_taken:
            self.through, self.payload, self.crlf_owed = len(framing), left, False
            return True
        self.source_socket.recv(len(framing))  # what was peeked is there: this takes it without blocking
        end = b"\r\n" if self.crlf_owed else b""
        if self.decoder.done:
            self.source_done = True
            self._add_framing(end + LAST_CHUNK)
        elif left:
            self.payload = left
            self._add_framing(end + b"%x\r\n" % left)
        else:
            self.line_taken = True
            return True
        self.crlf_owed = self.line_taken = False
        return True

    def _next_chunk(self) -> bool:
        """An answer read until close, to a chunked sink: the next chunk is what the socket holds now."""
        try:
            seen = self.source_socket.recv(1, socket.MSG_PEEK)
        except BlockingIOError:
            return False
        if not seen:
            self.source_done = True
            self._add_framing(LAST_CHUNK)
            return False
        held = int.from_bytes(fcntl.ioctl(self.source_socket.fileno(), termios.FIONREAD, b"\0\0\0\0"),
                              sys.byteorder, signed=True)
        self.payload = max(1, min(held, self.capacity))
        self._chunk_header(self.payload)
        return True

    def _chunk_header(self, size: int) -> None:
        if self.chunked_out:
            self._add_framing(b"%x\r\n" % size)

    def _add_framing(self, data: bytes) -> None:
        self.framing_out += data
        self._write_framing()

    def _write_framing(self) -> bool:
        """Framing goes into the pipe behind the payload before it; True when none waits."""
        try:
            written = os.write(self.pipe_in, self.framing_out)
        except BlockingIOError:
            self.pipe_full = True
            return False
        self.framing_out = self.framing_out[written:]
        self.in_pipe += written
        return not self.framing_out

    def _source_ended(self) -> None:
        if self.until_eof and not self.rechunk:
            self.source_done = True  # a raw stream's end: passed on once the pipe is empty
            return
        if self.rechunk and self.payload == 0:  # between two chunks: the answer's end
            self.source_done = True
            self._add_framing(LAST_CHUNK)
            return
        self._cut_short(ENDED_EARLY)

    def _cut_short(self, reason: str) -> None:
        """The source failed: what came before goes on first, then the failure is told."""
        self.source_done = True
        self.cut = reason

    # Registration and the end ---------------------------------------------------

    def _watch(self, reading: bool, writing: bool) -> None:
        if reading != self._reading:
            self._reading = reading
            (self.reactor.addReader if reading else self.reactor.removeReader)(self._source)
        if writing != self._writing:
            self._writing = writing
            (self.reactor.addWriter if writing else self.reactor.removeWriter)(self._sink)

    def _fail(self, reason: str, at_source: bool) -> None:
        if not self.stopped:
            self.stop()
            self.failed(reason, at_source)

    def stop(self) -> None:
        """Unwatch and close the duplicates and the pipe; the transports stay as they are."""
        if self.stopped:
            return
        self.stopped = True
        self._watch(reading=False, writing=False)
        if isinstance(getattr(self.sink, "producer", None), WhenWritten):
            self.sink.unregisterProducer()
        self.source_socket.close()
        for fd in (self.sink_fd, self.pipe_out, self.pipe_in):
            os.close(fd)
