"""The spool between a chunk's COPY thread and the response: order, bounded memory, errors."""

import threading

import pytest

from pghistory_admin.export.spool import Spool, Stopped


def _read_all(spool):
    out = []
    while (block := spool.read()) is not None:
        out.append(block)
    return b"".join(out)


def test_what_fits_stays_in_memory():
    spool = Spool(memory=10)
    spool.write(b"abc")
    spool.write(b"defg")
    spool.finish()
    assert _read_all(spool) == b"abcdefg"
    assert not spool.spilled


def test_the_rest_goes_to_a_file_in_order():
    spool = Spool(memory=10)
    pieces = [bytes([65 + i]) * 4 for i in range(20)]
    for piece in pieces[:10]:
        spool.write(piece)
    assert spool.spilled
    assert spool.read() == pieces[0]  # memory first
    for piece in pieces[10:]:
        spool.write(piece)
    spool.finish()
    assert pieces[0] + _read_all(spool) == b"".join(pieces)


def test_a_reader_that_caught_up_gets_memory_again():
    spool = Spool(memory=8)
    spool.write(b"12345678")
    spool.write(b"9")  # to the file
    assert _read_chunks(spool, 2) == b"123456789"
    spool.write(b"ab")  # the file was read to its end: memory again
    spool.write(b"cd")
    spool.finish()
    assert _read_all(spool) == b"abcd"


def _read_chunks(spool, count):
    return b"".join(spool.read() for _ in range(count))


def test_the_writers_error_comes_after_what_it_wrote():
    spool = Spool(memory=4)
    spool.write(b"ok")
    spool.write(b"more")
    spool.finish(ValueError("boom"))
    assert spool.read() == b"ok"
    assert spool.read() == b"more"
    with pytest.raises(ValueError, match="boom"):
        spool.read()


def test_a_closed_spool_stops_its_writer_and_wakes_its_reader():
    spool = Spool()
    got = []
    reader = threading.Thread(target=lambda: got.append(spool.read()))
    reader.start()
    spool.close()
    reader.join(5)
    assert got == [None]
    with pytest.raises(Stopped):
        spool.write(b"late")


def test_a_reader_waits_for_a_writer_in_another_thread():
    spool = Spool(memory=64)
    pieces = [str(i).encode() * 10 for i in range(500)]

    def write():
        for piece in pieces:
            spool.write(piece)
        spool.finish()

    writer = threading.Thread(target=write)
    writer.start()
    assert _read_all(spool) == b"".join(pieces)
    writer.join(5)
