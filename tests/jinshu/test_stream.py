"""Reading a CSV file as a stream of chunks gives exactly what reading it whole gives."""

from __future__ import annotations

import random

import pandas as pd
import pytest

from jinshu.catalog import Limits
from jinshu.collect.read import UnreadableFile, decode, read_csv
from jinshu.collect.stream import CsvStream


def whole(data: bytes, score=None) -> tuple[pd.DataFrame, list, str]:
    text, encoding = decode(data)
    frame, bad, _ = read_csv(text, Limits(), score)
    return frame, bad, encoding


def streamed(data: bytes, rows: int, block: int, limits: Limits | None = None, score=None):
    limits = limits or Limits()
    stream = CsvStream((data[i:i + block] for i in range(0, len(data), block)), limits, score, rows,
                       reopen=lambda: [data])
    chunks = list(stream.chunks())
    frames = []
    for chunk in chunks:
        frame = chunk.table.to_pandas()
        frame.columns = [*stream.header, "_row"]
        frames.append(frame)
    return (pd.concat(frames, ignore_index=True), [b for c in chunks for b in c.bad],
            stream, chunks)


def messy_csv(n: int = 600) -> str:
    """Quoted line breaks and commas, rows with too few and too many fields, Chinese text."""
    rng = random.Random(1)
    lines = ["编号,名称,地址"]
    for i in range(n):
        r = rng.random()
        if r < 0.05:
            lines.append(f"{i},少")
        elif r < 0.1:
            lines.append(f'{i},"两行\n的值, 带逗号",x')
        elif r < 0.13:
            lines.append(f"{i},多,一,列")
        else:
            lines.append(f"{i},名{i},山西省太原市{i}号")
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "gb18030"])
@pytest.mark.parametrize(("rows", "block"), [(1, 3), (7, 64), (100, 1000), (10_000, 1 << 20)])
def test_chunks_of_a_stream_are_the_file_read_whole(encoding, rows, block):
    data = messy_csv().encode(encoding)
    frame, bad, found = whole(data)
    got, got_bad, stream, chunks = streamed(data, rows, block)
    assert stream.encoding == found == encoding
    pd.testing.assert_frame_equal(got, frame.reset_index(drop=True))
    assert sorted((b.row, b.raw, b.detail) for b in got_bad) == [(b.row, b.raw, b.detail) for b in bad]
    assert stream.rows_in == len(frame) + len(bad) == sum(c.rows_in for c in chunks)
    assert all(c.table.num_rows == rows for c in chunks[:-1])  # cut every ``rows`` records


def test_the_header_below_title_rows_is_found_and_rows_keep_their_numbers():
    score = lambda cells: sum(c in {"编号", "名称", "地址"} for c in cells)  # noqa: E731
    data = ("山西省某单位报表\n\n" + messy_csv(50)).encode()
    frame, bad, _ = whole(data, score)
    got, got_bad, stream, _ = streamed(data, 9, 17, score=score)
    assert stream.header_row == 3 and got["_row"].iloc[0] == 4
    pd.testing.assert_frame_equal(got, frame.reset_index(drop=True))
    assert sorted(b.row for b in got_bad) == [b.row for b in bad]


@pytest.mark.parametrize(("data", "limits", "rule", "words"), [
    (b"", Limits(), "empty", "the file is empty"),
    (b"  \n\n", Limits(), "empty", "the file is empty"),
    ("编号,名称\n1,2\n".encode() + b"\xff\xfe\xfa,1\n", Limits(), "encoding",
     "bytes at offset 18 are neither UTF-8 nor GB18030"),
    (b"a,b\n" + b"1," + b"9" * 5000 + b"\n", Limits(max_line_kb=4), "line_too_long",
     "line 2 is longer than the cap of 4 KB"),
    (b"a,b\n" + b"1,2\n" * 30, Limits(max_rows=20), "too_many_rows", "more than 20 records"),
    (b"a,b\n1,2\n3," + b"x" * 300 + b"\n", Limits(max_cell_chars=100), "cell_too_long",
     "row 3, column b holds 300 characters"),
], ids=["empty", "blank", "not-utf8-nor-gb18030", "long-line", "too-many-rows", "long-cell"])
def test_a_file_over_a_cap_or_unreadable_is_refused_as_it_streams(data, limits, rule, words):
    with pytest.raises(UnreadableFile) as refused:
        streamed(data, 7, 5, limits)
    assert refused.value.rule == rule and words in str(refused.value)
    assert "Fix:" in str(refused.value)
