"""The OME-Zarr hierarchy every file gets: bioformats2raw root, NGFF image groups with
typed axes, physical scales and units, omero channels, the OME-XML beside them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import tifffile
import zarr
from ome_zarr_models.v04.image import Image as ImageV04
from ome_zarr_models.v05.bioformats2raw import BioFormats2Raw
from ome_zarr_models.v05.image import Image as ImageV05

import tiffzarr
from tiffzarr.store import OME_XML_KEY, ngff_axes


def ngff(group: Any, zarr_format: int) -> Any:
    attrs = group.attrs.asdict()
    return attrs["ome"] if zarr_format == 3 else attrs


@pytest.mark.parametrize(
    ("axes", "order", "names"),
    [
        ("YX", (0, 1), ("y", "x")),
        ("YXS", (2, 0, 1), ("s", "y", "x")),
        ("TZCYX", (0, 2, 1, 3, 4), ("t", "c", "z", "y", "x")),
        ("CYXS", None, None),  # C and S: S is custom, after the channel
        ("ZTYX", (1, 0, 2, 3), ("t", "z", "y", "x")),
        ("IYX", (0, 1, 2), ("i", "y", "x")),
        ("QSYX", (0, 1, 2, 3), ("q", "s", "y", "x")),
    ],
)
def test_axes_in_ngff_order(axes: str, order: tuple[int, ...] | None, names: Any) -> None:
    found = ngff_axes(axes)
    assert not isinstance(found, str)
    if order is not None:
        assert found.order == order and found.names == names
    types = found.types
    space = [i for i, t in enumerate(types) if t == "space"]
    assert space == list(range(len(types) - len(space), len(types)))  # space axes last
    assert types.count("time") <= 1 and ("time" not in types or types[0] == "time")


@pytest.mark.parametrize(
    ("axes", "why"),
    [
        ("X", "2 to 5 axes"),
        ("TZCYXS", "2 to 5 axes"),
        ("IQYX", "at most one axis"),
        ("ZYXT", None),
        ("TY", "2 or 3 space axes"),
    ],
)
def test_axes_ngff_cannot_describe(axes: str, why: str | None) -> None:
    found = ngff_axes(axes)
    if why is None:
        assert not isinstance(found, str)
    else:
        assert isinstance(found, str) and why in found and axes in found


@pytest.mark.parametrize("zarr_format", [3, 2])
def test_plain_tiff_scales_from_resolution_tags(tmp_path: Path, zarr_format: int) -> None:
    path = tmp_path / "a.tif"
    base = np.arange(64 * 48, dtype="uint16").reshape(64, 48)
    with tifffile.TiffWriter(path) as tw:
        options = {"resolution": (1e4, 2e4), "resolutionunit": "CENTIMETER", "metadata": None}
        tw.write(base, subifds=1, tile=(16, 16), **options)
        tw.write(base[::2, ::2], subfiletype=1, tile=(16, 16), **options)
    group = zarr.open_group(tiffzarr.open_store(str(path), zarr_format=zarr_format), mode="r")
    multiscale = ngff(group["0"], zarr_format)["multiscales"][0]
    assert [a["unit"] for a in multiscale["axes"]] == ["centimeter", "centimeter"]
    scales = [d["coordinateTransformations"][0]["scale"] for d in multiscale["datasets"]]
    assert scales == [[5e-5, 1e-4], [1e-4, 2e-4]]  # y then x; level 1 is 2x coarser
    (ImageV05 if zarr_format == 3 else ImageV04).from_zarr(group["0"])


def test_resolution_unit_none_gives_no_unit(tmp_path: Path) -> None:
    path = tmp_path / "a.tif"
    tifffile.imwrite(path, np.zeros((8, 8), "uint8"), resolution=(3, 3), resolutionunit="NONE")
    group = zarr.open_group(tiffzarr.open_store(str(path)), mode="r")
    multiscale = ngff(group["0"], 3)["multiscales"][0]
    assert all("unit" not in a for a in multiscale["axes"])
    assert multiscale["datasets"][0]["coordinateTransformations"][0]["scale"] == [1.0, 1.0]


@pytest.mark.parametrize("zarr_format", [3, 2])
def test_rgb_samples_are_the_channel_axis(tmp_path: Path, zarr_format: int) -> None:
    path = tmp_path / "rgb.tif"
    data = np.random.default_rng(1).integers(0, 255, (40, 30, 3), dtype="uint8")
    tifffile.imwrite(path, data, photometric="rgb", tile=(16, 16), compression="zlib")
    group = zarr.open_group(tiffzarr.open_store(str(path), zarr_format=zarr_format), mode="r")
    image = group["0"]
    attrs = ngff(image, zarr_format)
    assert [a["name"] for a in attrs["multiscales"][0]["axes"]] == ["s", "y", "x"]
    assert [c["color"] for c in attrs["omero"]["channels"]] == ["FF0000", "00FF00", "0000FF"]
    assert np.array_equal(image["0"][...], np.moveaxis(data, -1, 0))
    assert image.attrs["tiffzarr"]["axes"] == "YXS"  # tifffile's order, before NGFF's
    (ImageV05 if zarr_format == 3 else ImageV04).from_zarr(image)


def test_root_is_bioformats2raw_with_the_ome_xml(tmp_path: Path) -> None:
    path = tmp_path / "a.ome.tif"
    data = np.arange(2 * 3 * 16 * 16, dtype="uint16").reshape(2, 3, 16, 16)
    metadata = {"axes": "TCYX", "PhysicalSizeX": 0.5, "PhysicalSizeY": 0.5}
    tifffile.imwrite(path, data, ome=True, metadata=metadata)
    store = tiffzarr.open_store(str(path))
    root = zarr.open_group(store, mode="r")
    assert root.attrs["ome"] == {"version": "0.5", "bioformats2raw.layout": 3}
    assert root["OME"].attrs["ome"]["series"] == ["0"]
    xml = zarr.core.sync.sync(store.get(OME_XML_KEY))
    assert xml is not None and xml.to_bytes().decode() == store.index.ome_xml
    assert b"<OME" in xml.to_bytes()
    BioFormats2Raw.from_zarr(root)
    multiscale = root["0"].attrs["ome"]["multiscales"][0]
    assert [a["name"] for a in multiscale["axes"]] == ["t", "c", "y", "x"]
    assert multiscale["axes"][2]["unit"] == "micrometer"
    assert multiscale["datasets"][0]["coordinateTransformations"][0]["scale"] == [1, 1, 0.5, 0.5]
    assert OME_XML_KEY in zarr.core.sync.sync(_keys(store))


async def _keys(store: tiffzarr.TiffStore) -> list[str]:
    return [key async for key in store.list()]


def test_a_series_ngff_cannot_describe_keeps_its_order_and_says_why(tmp_path: Path) -> None:
    path = tmp_path / "six.ome.tif"
    data = np.zeros((2, 2, 2, 8, 8, 3), "uint8")
    tifffile.imwrite(path, data, imagej=True, metadata={"axes": "TZCYXS"})
    store = tiffzarr.open_store(str(path))
    group = zarr.open_group(store, mode="r")["0"]
    assert "ome" not in group.attrs and "multiscales" not in group.attrs
    assert "2 to 5 axes" in group.attrs["tiffzarr"]["ngff"]
    assert group["0"].shape == tiffzarr.open_tiff(str(path)).series[0].shape
