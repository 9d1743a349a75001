"""tifffile's shaped series: several per file, truncated, SubIFD pyramids, as tifffile."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import tifffile

import tiffzarr
from tiffzarr.errors import TiffFormatWarning
from tiffzarr.format._shaped import is_shaped_description, shaped_description_items

RNG = np.random.default_rng(5)


def assert_like_tifffile(path: Path) -> tiffzarr.TiffIndex:
    """Every series and level equals tifffile's: kind, name, shapes, axes and pixels."""
    index = tiffzarr.open_tiff(str(path))
    with tifffile.TiffFile(path) as tf:
        assert len(index.series) == len(tf.series)
        for i, (got, want) in enumerate(zip(index.series, tf.series, strict=True)):
            assert (got.kind, got.name) == (want.kind, want.name)
            assert (got.shape, got.axes, got.get_shape(False)) == (
                want.shape,
                want.axes,
                want.get_shape(False),
            )
            assert [a.shape for a in got.arrays()] == [level.shape for level in want.levels]
            for level in range(len(want.levels)):
                np.testing.assert_array_equal(
                    tiffzarr.imread(str(path), series=i, level=level), want.asarray(level=level)
                )
    return index


def held_tables(index: tiffzarr.TiffIndex) -> set[tuple[int, int]]:
    return {t.key for s in index.series for a in s.levels for t in a.manifest.tables if t}


def test_several_series_in_one_file(tmp_path: Path) -> None:
    path = tmp_path / "multi.tif"
    with tifffile.TiffWriter(path) as tw:
        tw.write(RNG.integers(0, 255, (2, 3, 16, 16), dtype="uint8"), photometric="minisblack")
        tw.write(
            RNG.integers(0, 255, (5, 8, 8), dtype="uint16"),
            metadata={"name": "second", "axes": "ZYX"},
        )
        tw.write(RNG.random((2, 1, 8, 8)).astype("float32"), compression="zlib")
        tw.write(RNG.integers(0, 255, (12, 10, 3), dtype="uint8"), photometric="rgb")
    index = assert_like_tifffile(path)
    assert [s.name for s in index.series] == ["", "second", "", ""]
    assert index.series[2].shape == (2, 1, 8, 8)  # shaped series are not squeezed
    assert held_tables(index) == {p.segments.key for p in index.pages if p.segments}  # own pages


def test_truncated_series_is_virtual(tmp_path: Path) -> None:
    path = tmp_path / "t.tif"
    data = RNG.integers(0, 60000, (10, 4, 32, 32), dtype="uint16")
    tifffile.imwrite(path, data, truncate=True, metadata={"axes": "TZYX"}, photometric="minisblack")
    index = assert_like_tifffile(path)
    assert len(index.pages) == 1 and index.series[0].axes == "TZYX"
    assert index.series[0].attrs["shaped"]["truncated"] is True


def test_subifd_pyramid_levels(tmp_path: Path) -> None:
    path = tmp_path / "pyramid.tif"
    data = RNG.integers(0, 255, (128, 96, 3), dtype="uint8")
    options = {"tile": (32, 32), "compression": "zlib", "photometric": "rgb"}
    with tifffile.TiffWriter(path) as tw:
        tw.write(data, subifds=2, metadata={"name": "slide"}, **options)
        tw.write(data[::2, ::2], subfiletype=1, **options)
        tw.write(data[::4, ::4], subfiletype=1, **options)
        tw.write(data[::8, ::8], metadata={"name": "thumbnail"}, photometric="rgb")
    index = assert_like_tifffile(path)
    assert [s.name for s in index.series] == ["slide", "thumbnail"]
    assert [a.shape for a in index.series[0].levels] == [(128, 96, 3), (64, 48, 3), (32, 24, 3)]


def test_subifds_that_are_not_reduced_are_series_of_their_own(tmp_path: Path) -> None:
    path = tmp_path / "children.tif"
    data = RNG.integers(0, 255, (64, 64), dtype="uint8")
    with tifffile.TiffWriter(path) as tw:
        tw.write(data, subifds=1)
        tw.write(data[::2, ::2])
    index = assert_like_tifffile(path)
    assert [s.shape for s in index.series] == [(64, 64), (32, 32)]


def test_old_style_shape_description(tmp_path: Path) -> None:
    path = tmp_path / "old.tif"
    data = RNG.integers(0, 255, (2, 3, 16, 16), dtype="uint8")
    tifffile.imwrite(path, data.reshape(6, 16, 16), description="shape=(2,3,16,16)", metadata=None)
    index = assert_like_tifffile(path)
    assert index.series[0].axes == "QQYX"


def test_description_without_axes_keeps_the_page_axes(tmp_path: Path) -> None:
    path = tmp_path / "q.tif"
    data = RNG.integers(0, 255, (4, 2, 16, 16, 3), dtype="uint8")
    tifffile.imwrite(path, data, photometric="rgb", compression="zlib")
    assert assert_like_tifffile(path).series[0].axes == "QQYXS"


def test_more_images_than_pages_falls_back_to_generic(tmp_path: Path) -> None:
    path = tmp_path / "short.tif"
    data = RNG.integers(0, 255, (2, 16, 16), dtype="uint8")
    description = '{"shape": [7, 16, 16], "axes": "ZYX"}'
    tifffile.imwrite(path, data, description=description, metadata=None, compression="zlib")
    with pytest.warns(TiffFormatWarning, match="shaped series"):
        index = tiffzarr.open_tiff(str(path))
    assert [s.kind for s in index.series] == ["generic"]


@pytest.mark.parametrize(
    "description",
    [
        '{"shape": [1000000000000, 16, 16], "truncated": true}',
        '{"shape": [1000000000000, 16, 16]}',
        '{"shape": "abc"}',
        '{"shape": [-2, 16, 16]}',
        '{"shape": [3, 16, 16], "axes": "ZYX"',
        '{"shape": [50, 16, 16]}',
        "shape=(x, 16)",
    ],
)
def test_hostile_descriptions_fall_back_to_generic(tmp_path: Path, description: str) -> None:
    path = tmp_path / "h.tif"
    data = RNG.integers(0, 255, (3, 16, 16), dtype="uint8")
    tifffile.imwrite(path, data, description=description, metadata=None, photometric="minisblack")
    with pytest.warns(TiffFormatWarning, match="shaped series"):
        index = tiffzarr.open_tiff(str(path))
    assert [s.kind for s in index.series] == ["generic"]
    np.testing.assert_array_equal(tiffzarr.imread(str(path)), data)


def test_description_parser() -> None:
    assert shaped_description_items('{"shape": [2, 3], "name": "x"}') == {
        "shape": (2, 3),
        "name": "x",
    }
    assert shaped_description_items("shape=(4, 5)")["shape"] == (4, 5)
    assert is_shaped_description('{"shape": [1]}') and not is_shaped_description("ImageJ=1")
    assert not is_shaped_description('{"shape": [1], "mibi.x": 1}')
    with pytest.raises(ValueError, match="dimensions"):
        shaped_description_items('{"shape": [' + ", ".join(["1"] * 40) + "]}")
