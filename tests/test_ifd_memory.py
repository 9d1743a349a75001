"""Files of very many IFDs open in bounded memory; caps judge bytes, not structure.

A stack of alike pages is kept as one run (the first page and a few numbers per
page), whether its IFDs were predicted or read one by one. Counts that a file
states (tags in an IFD, samples per pixel) are refused only when the bytes they
imply cannot be in the file. Memory is the tracemalloc peak of the open and
what the parsed model keeps.
"""

from __future__ import annotations

import struct
import tracemalloc
import warnings
from pathlib import Path

import numpy as np
import pytest
import tifffile
import zarr

import tiffzarr
from tests._handmade_tiff import Image, Tag, build
from tiffzarr.errors import LimitError, TiffZarrError

ENTRY = np.dtype([("code", "<u2"), ("type", "<u2"), ("count", "<u4"), ("value", "<u4")])
SHORT, LONG = 3, 4
MINIMAL_TAGS = [(256, SHORT, 1, 1), (257, SHORT, 1, 1), (258, SHORT, 1, 8), (273, LONG, 1, 0),
                (278, SHORT, 1, 1), (279, LONG, 1, 1)]  # fmt: skip
PAGE = 2 + 12 * len(MINIMAL_TAGS) + 4 + 2
"""Bytes of one page: its IFD, then its one pixel and a pad byte."""


def minimal_ifds(path: Path, n: int, *, gaps: bool = False) -> np.ndarray:
    """Write ``n`` pages of one uint8 pixel (page k holds ``k % 251``) and return their
    IFD offsets. Each IFD is followed by its pixel; with ``gaps`` 0, 2 or 4 bytes
    lie between pages, never as many twice in a row (no two strides alike)."""
    extra = np.zeros(n, np.int64)
    if gaps:
        extra = (np.cumsum(np.random.default_rng(7).integers(1, 3, n)) % 3) * 2
    starts = 8 + np.concatenate([[0], np.cumsum(PAGE + extra)[:-1]])
    record = np.zeros(
        n,
        [
            ("count", "<u2"),
            ("entries", ENTRY, len(MINIMAL_TAGS)),
            ("next", "<u4"),
            ("pixel", "u1", 2),
        ],
    )
    record["count"] = len(MINIMAL_TAGS)
    for i, values in enumerate(MINIMAL_TAGS):
        for name, value in zip(("code", "type", "count", "value"), values, strict=True):
            record["entries"][name][:, i] = value
    record["entries"]["value"][:, 3] = starts + PAGE - 2
    record["next"][:-1] = starts[1:]
    record["pixel"][:, 0] = np.arange(n) % 251
    out = np.zeros(int(starts[-1]) + PAGE, np.uint8)
    out[starts[:, None] + np.arange(PAGE)] = record.view(np.uint8).reshape(n, PAGE)
    out[:8] = np.frombuffer(b"II*\x00" + struct.pack("<I", int(starts[0])), np.uint8)
    path.write_bytes(out.tobytes())
    return starts


def open_measured(path: Path, **options: bool) -> tuple[tiffzarr.TiffIndex, int, int]:
    """The parsed file, the peak bytes of the open, and the bytes the model keeps."""
    with tiffzarr.set_config(metadata_cache_files=0), warnings.catch_warnings():
        warnings.simplefilter("ignore", tiffzarr.TiffZarrWarning)
        tracemalloc.start()
        try:
            index = tiffzarr.open_tiff(str(path), **options)
            kept, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    return index, peak, kept


def check_pixels(index: tiffzarr.TiffIndex, pages: list[int]) -> None:
    """Page ``k`` of the one series holds ``k % 251``."""
    array = zarr.open_array(tiffzarr.open_store(index, series=0, level=0), mode="r")
    assert array.shape[0] == len(index.pages)
    for k in pages:
        assert int(np.asarray(array[k]).reshape(-1)[0]) == k % 251


def test_600k_minimal_ifds_open_within_300_mb(tmp_path: Path) -> None:
    path = tmp_path / "600k.tif"
    n = 600_000
    offsets = minimal_ifds(path, n)
    assert path.stat().st_size < 48 * 2**20
    index, peak, kept = open_measured(path)
    assert len(index.pages) == n
    assert peak < 300 * 2**20, f"the open allocated {peak / 2**20:.0f} MiB"
    assert kept < 400 * n, f"the model keeps {kept / n:.0f} bytes per IFD"
    assert [index.pages[k].ifd.offset for k in (0, 1, 299_999, -1)] == [
        int(offsets[k]) for k in (0, 1, 299_999, -1)
    ]
    check_pixels(index, [0, 1, 250, 251, 424_242, n - 1])


@pytest.mark.parametrize(
    ("gaps", "predict"), [(True, True), (False, False)], ids=["unpredictable", "predict=False"]
)
def test_ifds_read_one_by_one_keep_a_compact_model(
    tmp_path: Path, gaps: bool, predict: bool
) -> None:
    path = tmp_path / "stack.tif"
    n = 8000
    offsets = minimal_ifds(path, n, gaps=gaps)
    index, peak, kept = open_measured(path, predict=predict)
    assert [p.ifd.offset for p in index.pages] == offsets.tolist()
    assert kept < 400 * n, f"the model keeps {kept / n:.0f} bytes per IFD"
    assert peak < 1000 * n, f"the open allocated {peak / n:.0f} bytes per IFD"
    check_pixels(index, [0, 1, 4321, n - 1])


def test_max_ifds_caps_the_chain_and_names_itself(tmp_path: Path) -> None:
    path = tmp_path / "stack.tif"
    minimal_ifds(path, 3000)
    with tiffzarr.set_config(max_ifds=2000, metadata_cache_files=0):
        with pytest.raises(LimitError, match="max_ifds"):
            tiffzarr.open_tiff(str(path))
        with pytest.raises(LimitError, match="max_ifds"):
            tiffzarr.open_tiff(str(path), predict=False)
    with tiffzarr.set_config(max_ifds=3000, metadata_cache_files=0):
        assert len(tiffzarr.open_tiff(str(path)).pages) == 3000


def test_runs_of_pages_read_as_tifffile_reads_them(tmp_path: Path) -> None:
    """Runs break where pages differ: a page of another shape, one with a different
    description, one with SubIFDs; every page keeps its own tags and pixels."""
    path = tmp_path / "mixed.tif"
    rng = np.random.default_rng(3)
    data = rng.integers(0, 2**16, (40, 16, 24), dtype="uint16")
    with tifffile.TiffWriter(path) as tw:
        for k in range(40):
            options = {}
            if k == 11:
                options["description"] = "odd one"
            if k == 25:
                options["subifds"] = 1
            plane = data[k, :8] if k == 17 else data[k]
            tw.write(plane, photometric="minisblack", metadata=None, contiguous=False, **options)
            if k == 25:
                tw.write(plane[::2, ::2], photometric="minisblack", subfiletype=1, metadata=None)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", tiffzarr.TiffZarrWarning)
        index = tiffzarr.open_tiff(str(path))
    with tifffile.TiffFile(path) as tf:
        assert len(index.pages) == len(tf.pages) == 40
        for page, theirs in zip(index.pages, tf.pages, strict=True):
            assert isinstance(theirs, tifffile.TiffPage)
            assert page.ifd.offset == theirs.offset
            assert page.layout is not None and page.layout.shape == theirs.shape
            assert page.segments is not None
            assert page.segments.offsets.values().tolist() == list(theirs.dataoffsets)
            assert page.segments.bytecounts.values().tolist() == list(theirs.databytecounts)
            assert sorted(page.ifd.entries) == sorted(theirs.tags.keys())
            assert page.ifd.get(270) == theirs.tags.valueof(270)
        assert len(index.pages[25].subifds) == 1
    assert not [w for w in index.warnings if "not part of any series" in w]
    assert repr(index.pages).startswith("Pages(40 pages")


def test_predicted_pages_that_differ_beside_their_ifd_keep_their_own_values(
    tmp_path: Path,
) -> None:
    """A run predicted from two pages whose private value (stored next to the IFD)
    counts the pages is walked page by page: each keeps its own value and pixels."""
    n = 600
    images = [
        Image(np.full((4, 6), k % 251, np.uint8), [Tag(60001, LONG, 2, [k, 7])]) for k in range(n)
    ]
    written = build(images, order=("ifd", "values", "data"))
    path = tmp_path / "counted.tif"
    path.write_bytes(written.data)
    with tiffzarr.set_config(metadata_cache_files=0), warnings.catch_warnings():
        warnings.simplefilter("ignore", tiffzarr.TiffZarrWarning)
        index = tiffzarr.open_tiff(str(path))
    assert [p.ifd.offset for p in index.pages] == written.ifds
    assert [index.pages[k].ifd.get(60001).tolist() for k in (0, 1, 299, n - 1)] == [
        [0, 7],
        [1, 7],
        [299, 7],
        [n - 1, 7],
    ]
    check_pixels(index, [0, 1, 299, n - 1])


def test_an_ifd_with_5000_tags_opens(tmp_path: Path) -> None:
    codes = range(60000, 65000)  # private tags no reader interprets
    tags = [*MINIMAL_TAGS, *((code, SHORT, 1, code - 60000) for code in codes)]
    count = len(tags)
    pixel = 8 + 2 + 12 * count + 4
    entries = np.array(tags, ENTRY)
    entries["value"][3] = pixel
    data = b"II*\x00" + struct.pack("<IH", 8, count) + entries.tobytes() + bytes(4) + bytes([77])
    path = tmp_path / "tags.tif"
    path.write_bytes(data)
    with tiffzarr.set_config(metadata_cache_files=0):
        index = tiffzarr.open_tiff(str(path))
        assert len(index.pages[0].ifd.entries) == count
        assert int(tiffzarr.imread(str(path)).reshape(-1)[0]) == 77


def test_samples_per_pixel_beyond_the_file_are_refused_quickly(tmp_path: Path) -> None:
    tags = [(256, SHORT, 1, 1), (257, SHORT, 1, 1), (258, SHORT, 1, 8), (262, SHORT, 1, 1),
            (273, LONG, 1, 0), (277, SHORT, 1, 60000), (278, SHORT, 1, 1),
            (279, LONG, 1, 1)]  # fmt: skip
    entries = np.array(tags, ENTRY)
    entries["value"][4] = 8 + 2 + 12 * len(tags) + 4
    path = tmp_path / "samples.tif"
    path.write_bytes(b"II*\x00" + struct.pack("<IH", 8, len(tags)) + entries.tobytes() + bytes(5))
    expected = pytest.raises(TiffZarrError, match=r"needs 60000 bytes.*IFD 0, tag 277")
    tracemalloc.start()
    try:
        with tiffzarr.set_config(metadata_cache_files=0), expected:
            tiffzarr.open_tiff(str(path))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 20 * 2**20
