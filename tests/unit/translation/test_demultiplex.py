"""The legacy attach's demultiplexer driven both ways: fed through Python, and header by header
with the payloads moved elsewhere (splice(2)); the same stream either way, however the bytes are cut."""
from __future__ import annotations

import random
import struct

from apiproxy.translation.steps.streams import Demultiplex


def frame(kind: int, payload: bytes) -> bytes:
    return struct.pack(">BxxxL", kind, len(payload)) + payload


STREAM = frame(1, b"out") + frame(2, b"") + frame(0, b"") + frame(2, b"error\n") + frame(1, bytes(range(256)) * 40)
MERGED = b"outerror\n" + bytes(range(256)) * 40


def by_framing(data: bytes, cuts: list[int]) -> bytes:
    """As the splice drives it: the first bytes fed (until framed), then headers taken from what a peek
    shows (at most `cuts`-sized looks), payloads counted off as they move."""
    demux, out, index = Demultiplex(), bytearray(), 0
    step = iter(cuts * len(data))
    while demux.framed is None and index < len(data):
        size = next(step)
        out += demux.feed(data[index:index + size])
        index += size
    while index < len(data):
        if demux.payload_left:
            moved = min(demux.payload_left, next(step), len(data) - index)
            out += data[index:index + moved]
            demux.payload_moved(moved)
            index += moved
        else:
            used = demux.take_framing(data[index:index + next(step)])
            assert used > 0
            index += used
    return bytes(out + demux.close())


def test_fed_in_any_pieces_gives_the_merged_stream() -> None:
    for size in (1, 3, 7, 8, 9, 64, len(STREAM)):
        demux = Demultiplex()
        got = b"".join(demux.feed(STREAM[i:i + size]) for i in range(0, len(STREAM), size)) + demux.close()
        assert got == MERGED, size


def test_headers_taken_apart_from_their_payloads_give_the_same_stream() -> None:
    rng = random.Random(15)
    for cuts in ([1], [3], [8], [64], [5, 1, 200, 2, 9]) + tuple([rng.randint(1, 70) for _ in range(9)]
                                                                  for _ in range(20)):
        assert by_framing(STREAM, cuts) == MERGED, cuts


def test_a_header_split_across_reads_is_held_until_whole() -> None:
    demux = Demultiplex()
    assert demux.feed(STREAM[:3]) == b"" and demux.framed is None
    assert demux.feed(STREAM[3:8]) == b"" and demux.framed and demux.payload_left == 3
    assert demux.feed(STREAM[8:11]) == b"out"
    assert demux.take_framing(STREAM[11:14]) == 3 and demux.payload_left == 0  # half a header, kept
    assert demux.take_framing(STREAM[14:40]) == 5 + 8 + 8  # its rest, two empty frames, the next header
    assert demux.payload_left == 6


def test_a_tty_stream_passes_as_it_is() -> None:
    raw = b"$ ls\r\nbin  etc\r\n"
    demux = Demultiplex()
    assert demux.feed(raw[:5]) == b""
    assert demux.feed(raw[5:]) == raw and demux.framed is False
    assert demux.feed(b"more") == b"more" and demux.close() == b""
    short = Demultiplex()
    assert short.feed(b"hi") == b"" and short.close() == b"hi"  # ended before it could tell


def test_a_frame_cut_by_the_end_goes_on_as_far_as_it_came() -> None:
    demux = Demultiplex()
    assert demux.feed(frame(1, b"whole") + frame(1, b"partial")[:-3]) + demux.close() == b"wholepart"
