"""``row_reader`` reads a record's bytes into exactly the numbers ``.item()`` gives, or declines.

``StreamCache`` reads each window's last bar through it on every decision; a reader that
differed in one bit from ``.item()`` would change a feature, so equality here is bitwise.
"""

from __future__ import annotations

import struct

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from models.streaming import row_reader
from serving.mt5.types import RATES_DTYPE

PADDED = np.dtype(
    [("flag", "?"), ("time", "<i8"), ("close", "<f4"), ("spread", "<i2"), ("volume", "<u8")],
    align=True,
)  # gaps between the fields and after the last one


def bits(row: tuple[object, ...]) -> tuple[object, ...]:
    """Floats as their bytes (NaN payloads included), everything else as is."""
    return tuple(struct.pack("<d", v) if isinstance(v, float) else (type(v), v) for v in row)


@settings(max_examples=60, deadline=None)
@given(data=st.data(), dtype=st.sampled_from([RATES_DTYPE, PADDED]))
def test_every_record_reads_as_item_reads_it(data: st.DataObject, dtype: np.dtype) -> None:
    records = data.draw(hnp.arrays(dtype, st.integers(1, 8)))
    raw = records.tobytes()
    reader = row_reader(dtype)
    assert reader is not None
    for i in range(len(records)):
        assert bits(reader(raw, i * dtype.itemsize)) == bits(records[i].item())


def test_dtypes_it_cannot_read_plainly_are_left_to_item() -> None:
    assert row_reader(RATES_DTYPE.newbyteorder(">")) is None  # another byte order
    assert row_reader(np.dtype([("time", "<i8"), ("symbol", "S6")])) is None
    assert row_reader(np.dtype([("time", "<i8"), ("ohlc", "<f8", (4,))])) is None
    assert row_reader(np.dtype("<f8")) is None  # not a record
    out_of_order = np.dtype({"names": ["b", "a"], "formats": ["<i4", "<i4"], "offsets": [4, 0]})
    assert row_reader(out_of_order) is None
