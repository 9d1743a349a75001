"""OME-TIFF series: shapes, axes, pixels and levels as tifffile reads them; physical
sizes and channels; multi-file sets (local, HTTP, S3), missing and refused members,
BinaryOnly files, unsafe XML; request budgets; tiffzarr's own OME files."""

from __future__ import annotations

import dataclasses
import re
import uuid
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import tifffile
import zarr

import tiffzarr
from tests.conftest import HOSTILE, manifest, require
from tiffzarr.errors import SourceNotFoundError, TiffFormatError, TiffFormatWarning
from tiffzarr.model import AxisScale
from tiffzarr.testing import moto_server, serve

RNG = np.random.default_rng(20260311)
SCHEMA = "http://www.openmicroscopy.org/Schemas/OME/2016-06"


def random(shape: tuple[int, ...], dtype: str = "uint16") -> np.ndarray:
    return RNG.integers(0, 200, shape).astype(dtype)


def open_quiet(url: str, **options: Any) -> tiffzarr.TiffIndex:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", tiffzarr.TiffZarrWarning)
        return tiffzarr.open_tiff(url, **options)


def level(index: tiffzarr.TiffIndex, series: int, number: int = 0, **options: Any) -> np.ndarray:
    store = tiffzarr.open_store(index, series=series, level=number, **options)
    return np.asarray(zarr.open_array(store, mode="r")[...])


def assert_like_tifffile(path: Path, index: tiffzarr.TiffIndex | None = None) -> None:
    """Every series and level: kind, name, shapes, axes and pixels equal tifffile's."""
    index = index if index is not None else open_quiet(str(path))
    with tifffile.TiffFile(path) as tif:
        assert len(index.series) == len(tif.series)
        for i, (ours, theirs) in enumerate(zip(index.series, tif.series, strict=True)):
            assert (ours.kind, ours.name) == (theirs.kind, theirs.name)
            assert (ours.shape, ours.axes) == (theirs.shape, theirs.axes)
            assert ours.get_shape(False) == theirs.get_shape(False)
            assert ours.get_axes(False) == theirs.get_axes(False)
            assert len(ours.levels) == len(theirs.levels)
            for j, theirs_level in enumerate(theirs.levels):
                assert np.array_equal(level(index, i, j), theirs_level.asarray()), (i, j)


# -- single files written by tifffile -----------------------------------------


@pytest.mark.parametrize(
    ("shape", "axes", "options"),
    [
        ((2, 3, 4, 16, 24), "TCZYX", {}),
        ((5, 16, 24), "ZYX", {"compression": "zlib", "tile": (16, 16)}),
        ((3, 16, 24), "CYX", {}),
        ((16, 24, 3), "YXS", {"photometric": "rgb"}),
        ((2, 3, 16, 24), "TSYX", {"photometric": "rgb", "planarconfig": "separate"}),
        ((16, 24), "YX", {"dtype": "float32"}),
    ],
)
def test_tifffile_ome_files_read_as_tifffile_reads_them(
    tmp_path: Path, shape: tuple[int, ...], axes: str, options: dict[str, Any]
) -> None:
    path = tmp_path / "a.ome.tif"
    dtype = options.pop("dtype", "uint8")
    tifffile.imwrite(path, random(shape, dtype), metadata={"axes": axes}, **options)
    index = open_quiet(str(path))
    assert [s.kind for s in index.series] == ["ome"]
    assert index.ome_xml is not None and index.ome_xml.rstrip().endswith("OME>")
    assert_like_tifffile(path, index)


def test_physical_sizes_units_and_channels_become_scales_and_channels(tmp_path: Path) -> None:
    path = tmp_path / "a.ome.tif"
    metadata = {
        "axes": "TCZYX",
        "PhysicalSizeX": 0.25,
        "PhysicalSizeY": 0.5,
        "PhysicalSizeZ": 2.0,
        "PhysicalSizeZUnit": "nm",
        "TimeIncrement": 1.5,
        "TimeIncrementUnit": "ms",
        "Channel": {"Name": ["DAPI", "GFP"], "Color": [-16776961, 16711935]},
    }
    tifffile.imwrite(path, random((2, 2, 3, 8, 8)), metadata=metadata)
    s = open_quiet(str(path)).series[0]
    assert s.scales == {
        "X": AxisScale(0.25, "micrometer"),
        "Y": AxisScale(0.5, "micrometer"),
        "Z": AxisScale(2.0, "nanometer"),
        "T": AxisScale(1.5, "millisecond"),
    }
    assert [(c.name, c.color) for c in s.channels] == [("DAPI", "FF0000"), ("GFP", "00FF00")]
    summary = s.attrs["ome"]
    assert summary["dimension_order"] == "XYZCT" and summary["pixel_type"] == "uint16"
    assert summary["physical_sizes"]["Z"] == {"size": 2.0, "unit": "nm"}


def test_several_images_are_series_in_order_with_their_names(tmp_path: Path) -> None:
    path = tmp_path / "a.ome.tif"
    with tifffile.TiffWriter(path) as tw:
        tw.write(random((3, 16, 24)), metadata={"axes": "ZYX", "Name": "main"})
        tw.write(random((8, 12, 3), "uint8"), photometric="rgb", metadata={"Name": "label"})
        tw.write(random((2, 10, 10)), metadata={"axes": "CYX", "Name": "macro"})
    index = open_quiet(str(path))
    assert [s.name for s in index.series] == ["main", "label", "macro"]
    assert_like_tifffile(path, index)


def test_subifd_pyramid_levels_and_baseline_name(tmp_path: Path) -> None:
    path = tmp_path / "a.ome.tif"
    base = random((2, 256, 192), "uint8")
    with tifffile.TiffWriter(path) as tw:
        tw.write(base, subifds=2, tile=(64, 64), metadata={"axes": "CYX"})
        for k in (1, 2):
            tw.write(base[:, :: 2**k, :: 2**k], subfiletype=1, tile=(64, 64))
    index = open_quiet(str(path))
    assert [a.shape for a in index.series[0].arrays()] == [(2, 256, 192), (2, 128, 96), (2, 64, 48)]
    assert_like_tifffile(path, index)


def test_pyramid_without_image_name_is_called_baseline(tmp_path: Path) -> None:
    path = tmp_path / "a.ome.tif"
    write_one_file_set(path, random((1, 64, 64)), name=None, subifd=True)
    assert open_quiet(str(path)).series[0].name == "Baseline"
    assert_like_tifffile(path)


# -- hand-written OME-XML -----------------------------------------------------


def pixels_xml(sizes: dict[str, int], tiffdata: str, order: str = "XYCZT", **extra: Any) -> str:
    attrs = " ".join(f'Size{a}="{n}"' for a, n in sizes.items())
    more = " ".join(f'{k}="{v}"' for k, v in extra.items())
    return (
        f'<Pixels ID="Pixels:0" DimensionOrder="{order}" Type="uint16" {attrs} {more}>'
        f"{tiffdata}</Pixels>"
    )


def ome_document(images: str, *, root_uuid: str | None = None, tail: str = "") -> str:
    root = f' UUID="{root_uuid}"' if root_uuid else ""
    return f'<?xml version="1.0" encoding="UTF-8"?><OME xmlns="{SCHEMA}"{root}>{images}{tail}</OME>'


def write_described(path: Path, planes: np.ndarray, xml: str, **options: Any) -> None:
    tifffile.imwrite(
        path, planes, description=xml, metadata=None, ome=False, photometric="minisblack", **options
    )


def write_one_file_set(
    path: Path, planes: np.ndarray, *, name: str | None, subifd: bool = False
) -> None:
    """One image of ``planes`` (C, Y, X) described by hand-written XML."""
    c, y, x = planes.shape
    xml = ome_document(
        f'<Image ID="Image:0"{f" Name={name!r}" if name else ""}>'
        + pixels_xml(
            {"X": x, "Y": y, "C": c, "Z": 1, "T": 1}, f'<TiffData IFD="0" PlaneCount="{c}"/>'
        )
        + "</Image>"
    )
    if not subifd:
        write_described(path, planes, xml)
        return
    with tifffile.TiffWriter(path) as tw:
        for k, plane in enumerate(planes):
            options = {"description": xml} if k == 0 else {}
            tw.write(plane, subifds=1, metadata=None, photometric="minisblack", **options)
            tw.write(plane[::2, ::2], subfiletype=1, metadata=None, photometric="minisblack")


MODULO = (
    '<StructuredAnnotations><XMLAnnotation ID="Annotation:Modulo:0" '
    'Namespace="openmicroscopy.org/omero/dimension/modulo"><Value>'
    '<Modulo namespace="http://www.openmicroscopy.org/Schemas/Additions/2011-09">'
    "{along}</Modulo></Value></XMLAnnotation></StructuredAnnotations>"
)


@pytest.mark.parametrize(
    "along",
    [
        '<ModuloAlongT Type="lifetime" Start="0" Step="1" End="2"/>',  # split T (6) into T, H
        '<ModuloAlongC Type="lambda"><Label>a</Label><Label>b</Label></ModuloAlongC>',  # rename
    ],
)
def test_modulo_annotations_split_or_rename_axes_as_tifffile_does(
    tmp_path: Path, along: str
) -> None:
    path = tmp_path / "a.ome.tif"
    sizes = {"X": 8, "Y": 6, "C": 2, "Z": 1, "T": 6}
    image = (
        '<Image ID="Image:0" Name="m"><AnnotationRef ID="Annotation:Modulo:0"/>'
        + pixels_xml(sizes, '<TiffData IFD="0" PlaneCount="12"/>')
        + "</Image>"
    )
    write_described(path, random((12, 6, 8)), ome_document(image, tail=MODULO.format(along=along)))
    index = open_quiet(str(path))
    assert index.series[0].axes in ("THCYX", "TEYX")
    assert_like_tifffile(path, index)


@pytest.mark.parametrize(
    ("sizes", "tiffdata", "order", "pages"),
    [
        ({"C": 2, "Z": 3, "T": 1}, "<TiffData/>", "XYCZT", 6),  # all pages of the file
        ({"C": 2, "Z": 1, "T": 1}, '<TiffData IFD="1"/><TiffData IFD="0" FirstC="1"/>', "XYCZT", 2),
        (
            {"C": 2, "Z": 1, "T": 1},
            '<TiffData FirstC="5"/><TiffData IFD="1" FirstC="1"/>',
            "XYCZT",
            2,
        ),
        ({"C": 3, "Z": 1, "T": 1}, '<TiffData IFD="1" PlaneCount="3"/>', "XYCZT", 3),  # too few
        ({"C": 2, "Z": 3, "T": 2}, '<TiffData PlaneCount="12"/>', "XYZTC", 12),
        (
            {"C": 2, "Z": 1, "T": 1},
            '<TiffData PlaneCount="2"><UUID FileName="a.ome.tif">urn:uuid:1</UUID></TiffData>',
            "XYCZT",
            2,
        ),  # no root UUID: the UUID with this file's name is this file
    ],
)
def test_tiffdata_variants_place_planes_as_tifffile_does(
    tmp_path: Path, sizes: dict[str, int], tiffdata: str, order: str, pages: int
) -> None:
    path = tmp_path / "a.ome.tif"
    image = pixels_xml({"X": 8, "Y": 6, **sizes}, tiffdata, order=order)
    write_described(
        path, random((pages, 6, 8)), ome_document(f'<Image ID="Image:0">{image}</Image>')
    )
    assert_like_tifffile(path)


@pytest.mark.parametrize("planar", ["contig", "separate"])
def test_samples_per_pixel_make_an_s_axis_as_tifffile_does(tmp_path: Path, planar: str) -> None:
    path = tmp_path / "a.ome.tif"
    channels = '<Channel SamplesPerPixel="3"/><Channel SamplesPerPixel="3"/>'
    image = pixels_xml(
        {"X": 8, "Y": 6, "C": 6, "Z": 1, "T": 2},
        channels + '<TiffData PlaneCount="4"/>',
        Interleaved=str(planar == "contig").lower(),
    )
    shape = (4, 6, 8, 3) if planar == "contig" else (4, 3, 6, 8)
    tifffile.imwrite(
        path,
        random(shape, "uint8"),
        description=ome_document(f'<Image ID="Image:0">{image}</Image>'),
        metadata=None,
        ome=False,
        photometric="rgb",
        planarconfig=planar,
    )
    index = open_quiet(str(path))
    assert index.series[0].axes == ("TCYXS" if planar == "contig" else "TCSYX")
    assert_like_tifffile(path, index)


@pytest.mark.parametrize(("pages", "told"), [(5, 6), (7, 6)])
def test_more_or_fewer_pages_than_the_xml_says_warn_and_fill_or_trim(
    tmp_path: Path, pages: int, told: int
) -> None:
    path = tmp_path / "a.ome.tif"
    xml = ome_document(
        '<Image ID="Image:0">'
        + pixels_xml(
            {"X": 8, "Y": 6, "C": 1, "Z": told, "T": 1}, f'<TiffData PlaneCount="{pages}"/>'
        )
        + "</Image>"
    )
    write_described(path, random((pages, 6, 8)), xml)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        index = tiffzarr.open_tiff(str(path))
    assert any("planes" in str(w.message) for w in caught)
    assert index.series[0].shape == (told, 6, 8)
    assert_like_tifffile(path, index)


def test_pages_that_do_not_hold_the_last_dimensions_are_left_out(tmp_path: Path) -> None:
    path = tmp_path / "a.ome.tif"  # XML: TCX of (20, 2, 30) stored as 2 pages of (20, 30)
    xml = ome_document(
        '<Image ID="Image:0">'
        + pixels_xml({"X": 30, "Y": 1, "C": 2, "Z": 1, "T": 20}, '<TiffData PlaneCount="2"/>')
        + "</Image>"
    )
    write_described(path, random((2, 20, 30)), xml)
    with pytest.warns(TiffFormatWarning, match="discontiguous"):
        index = tiffzarr.open_tiff(str(path))
    assert [s.kind for s in index.series] == ["generic"]
    assert_like_tifffile(path, index)


def test_dtd_and_entities_are_refused_and_never_fetched(tmp_path: Path) -> None:
    (tmp_path / "secret.xml").write_text("<Image/>")
    with serve(tmp_path) as server:
        xml = (
            '<?xml version="1.0"?>'
            f'<!DOCTYPE OME [<!ENTITY x SYSTEM "{server.url_for("secret.xml")}">]>'
            f'<OME xmlns="{SCHEMA}">&x;</OME>'
        )
        write_described(tmp_path / "a.ome.tif", random((2, 8, 8)), xml)
        tiffzarr.clear_cache()
        with pytest.warns(TiffFormatWarning, match="OME-XML"):
            index = tiffzarr.open_tiff(server.url_for("a.ome.tif"))
        assert server.stats.path("secret.xml").requests == 0
    assert [s.kind for s in index.series] == ["generic"] and index.ome_xml is None
    with tifffile.TiffFile(tmp_path / "a.ome.tif") as tif:  # tifffile refuses it too
        assert [s.kind for s in tif.series] == ["generic"]


def test_ome_that_yields_nothing_in_an_imagej_file_gives_the_imagej_series(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tiffzarr.series import _generic, _imagej, _protocol

    async def fake_imagej(context: _protocol.SeriesContext) -> _protocol.Interpretation:
        found = _generic.generic_series(context.index)
        return _protocol.Interpretation(tuple(dataclasses.replace(s, kind="x") for s in found))

    monkeypatch.setattr(_imagej, "detect", lambda index: True)
    monkeypatch.setattr(_imagej, "series", fake_imagej)
    path = tmp_path / "a.ome.tif"
    write_described(path, random((2, 8, 8)), f'<OME xmlns="{SCHEMA}"><Image ID="a"/></OME>')
    assert [s.kind for s in open_quiet(str(path)).series] == ["x"]


# -- multi-file sets ----------------------------------------------------------


def write_set(
    folder: Path, count: int = 5, *, binary_only: str | None = None
) -> tuple[list[str], np.ndarray]:
    """``count`` files holding T = 0 .. count-1 of a TCYX (count, 2, 16, 24) image.

    The first file has the XML naming every file by UUID and FileName; the others
    their own full copy, or BinaryOnly pointing to ``binary_only`` (a file name;
    ``"companion"``: a ``set.companion.ome`` text file).
    """
    folder.mkdir(parents=True, exist_ok=True)
    names = [f"set_T{t}.ome.tif" for t in range(count)]
    uuids = [f"urn:uuid:{uuid.UUID(int=RNG.integers(2**63)).hex}" for _ in names]
    data = random((count, 2, 16, 24))
    tiffdata = "".join(
        f'<TiffData FirstT="{t}" FirstC="0" IFD="0" PlaneCount="2">'
        f'<UUID FileName="{name}">{u}</UUID></TiffData>'
        for t, (name, u) in enumerate(zip(names, uuids, strict=True))
    )
    image = (
        '<Image ID="Image:0" Name="set">'
        + pixels_xml(
            {"X": 24, "Y": 16, "C": 2, "Z": 1, "T": count},
            tiffdata,
            PhysicalSizeX="0.5",
            PhysicalSizeY="0.5",
        )
        + "</Image>"
    )
    companion_uuid = "urn:uuid:00000000-0000-0000-0000-000000000001"
    if binary_only == "companion":
        (folder / "set.companion.ome").write_text(ome_document(image, root_uuid=companion_uuid))
    for t, (name, u) in enumerate(zip(names, uuids, strict=True)):
        if binary_only is None or (t == 0 and binary_only != "companion"):
            xml = ome_document(image, root_uuid=u)
        else:
            target = "set.companion.ome" if binary_only == "companion" else binary_only
            xml = ome_document(
                f'<BinaryOnly MetadataFile="{target}" UUID="{uuids[0]}"/>', root_uuid=u
            )
        write_described(folder / name, data[t], xml)
    return names, data


def test_multi_file_set_reads_every_member_as_tifffile_does(tmp_path: Path) -> None:
    names, data = write_set(tmp_path)
    with warnings.catch_warnings():
        warnings.simplefilter("error", tiffzarr.TiffZarrWarning)
        index = tiffzarr.open_tiff(str(tmp_path / names[0]))
    s = index.series[0]
    assert (s.name, s.shape, s.axes) == ("set", (5, 2, 16, 24), "TCYX")
    assert np.array_equal(level(index, 0), data)
    assert sorted(Path(m.url).name for m in index.members) == sorted(names[1:])
    assert_like_tifffile(tmp_path / names[0], index)
    other = open_quiet(str(tmp_path / names[3]))  # every member has the full XML
    assert np.array_equal(level(other, 0), data)


def test_multi_file_set_over_http_and_s3_equals_the_local_read(tmp_path: Path) -> None:
    names, data = write_set(tmp_path)
    local = level(open_quiet(str(tmp_path / names[0])), 0)
    with serve(tmp_path) as server:
        tiffzarr.clear_cache()
        remote = open_quiet(server.url_for(names[0]))
        assert {m.url for m in remote.members} == {server.url_for(n) for n in names[1:]}
        assert np.array_equal(level(remote, 0), local)
    with moto_server() as s3:
        urls = [s3.put("omeset", name, (tmp_path / name).read_bytes()) for name in names]
        index = open_quiet(urls[0], storage_options=s3.storage_options)
        assert np.array_equal(level(index, 0, storage_options=s3.storage_options), local)
    assert np.array_equal(local, data)


def test_missing_member_raises_an_error_naming_it_or_is_fill(tmp_path: Path) -> None:
    names, data = write_set(tmp_path)
    (tmp_path / names[2]).unlink()
    with pytest.raises(SourceNotFoundError, match=re.escape(names[2])):
        open_quiet(str(tmp_path / names[0]))
    tiffzarr.clear_cache()
    with pytest.warns(TiffFormatWarning, match=re.escape(names[2])):
        index = tiffzarr.open_tiff(str(tmp_path / names[0]), missing="fill")
    got = level(index, 0)
    assert not got[2].any()
    assert np.array_equal(np.delete(got, 2, axis=0), np.delete(data, 2, axis=0))


def test_member_pages_of_another_layout_are_fill(tmp_path: Path) -> None:
    names, data = write_set(tmp_path, 3)
    with tifffile.TiffFile(tmp_path / names[1]) as tif:
        xml = tif.pages[0].description
    write_described(tmp_path / names[1], data[1].astype("uint8"), xml)
    with pytest.warns(TiffFormatWarning, match="differ from its first page"):
        index = tiffzarr.open_tiff(str(tmp_path / names[0]))
    got = level(index, 0)
    assert not got[1].any() and np.array_equal(got[::2], data[::2])


@pytest.mark.parametrize("name", ["../outside.ome.tif", "/abs/outside.ome.tif"])
def test_file_names_outside_the_folder_are_refused_and_not_read(tmp_path: Path, name: str) -> None:
    folder = tmp_path / "set"
    names, data = write_set(folder, 2)
    (tmp_path / "outside.ome.tif").write_bytes((folder / names[1]).read_bytes())
    master = folder / names[0]
    with tifffile.TiffFile(master) as tif:
        xml = tif.pages[0].description.replace(f'FileName="{names[1]}"', f'FileName="{name}"')
    write_described(master, data[0], xml)
    with pytest.raises(TiffFormatError, match="not a file name"):
        open_quiet(str(master))
    tiffzarr.clear_cache()
    with pytest.warns(TiffFormatWarning, match="not a file name"):
        index = tiffzarr.open_tiff(str(master), missing="fill")
    assert not level(index, 0)[1].any()


TRAVERSALS = [
    r["name"] for r in manifest(HOSTILE) if r["class"] == "path_traversal" and "_ome_" in r["name"]
]


@pytest.mark.parametrize("name", TRAVERSALS)
def test_hostile_member_names_fetch_nothing_outside_the_folder(name: str) -> None:
    path = str(require(HOSTILE, "hostile") / "files" / name)
    with pytest.raises(TiffFormatError, match="not a file name"):
        open_quiet(path)
    tiffzarr.clear_cache()
    with pytest.warns(TiffFormatWarning, match="not a file name"):
        index = tiffzarr.open_tiff(path, missing="fill")
    got = level(index, 0)
    assert got.shape == (2, 8, 8) and not got[1].any()


@pytest.mark.parametrize("target", ["companion", "set_T0.ome.tif"])
def test_binary_only_members_read_the_whole_set_from_their_metadata_file(
    tmp_path: Path, target: str
) -> None:
    names, data = write_set(tmp_path, 4, binary_only=target)
    for name in names:
        with warnings.catch_warnings():
            warnings.simplefilter("error", tiffzarr.TiffZarrWarning)  # every page is held
            index = tiffzarr.open_tiff(str(tmp_path / name))
        s = index.series[0]
        assert (s.kind, s.name, s.shape, s.axes) == ("ome", "set", (4, 2, 16, 24), "TCYX")
        assert np.array_equal(level(index, 0), data)
        assert index.ome_xml is not None and "<Image" in index.ome_xml
    with tifffile.TiffFile(tmp_path / names[1]) as tif:  # tifffile: generic series
        assert [s.kind for s in tif.series] == ["generic"]


def test_binary_only_with_a_missing_metadata_file(tmp_path: Path) -> None:
    names, _ = write_set(tmp_path, 2, binary_only="companion")
    (tmp_path / "set.companion.ome").unlink()
    with pytest.raises(SourceNotFoundError, match=re.escape("set.companion.ome")):
        open_quiet(str(tmp_path / names[1]))
    tiffzarr.clear_cache()
    with pytest.warns(TiffFormatWarning, match=re.escape("set.companion.ome")):
        index = tiffzarr.open_tiff(str(tmp_path / names[1]), missing="fill")
    assert [s.kind for s in index.series] == ["generic"]


# -- request budgets ----------------------------------------------------------


def test_tifffile_pyramid_with_xml_at_the_end_opens_in_four_requests(tmp_path: Path) -> None:
    base = random((2, 1024, 1024), "uint8")
    with tifffile.TiffWriter(tmp_path / "p.ome.tif") as tw:
        tw.write(base, subifds=3, tile=(128, 128), metadata={"axes": "CYX"})
        for k in (1, 2, 3):
            tw.write(base[:, :: 2**k, :: 2**k], subfiletype=1, tile=(128, 128))
    with tifffile.TiffFile(tmp_path / "p.ome.tif") as tif:
        assert tif.pages[0].tags["ImageDescription"].valueoffset > tif.filehandle.size - 2048
    with serve(tmp_path) as server:
        tiffzarr.clear_cache()
        index = open_quiet(server.url_for("p.ome.tif"))
        assert server.stats.requests <= 4
    assert len(index.series[0].levels) == 4


def test_five_file_set_opens_in_one_request_per_file_plus_one(tmp_path: Path) -> None:
    names, _ = write_set(tmp_path, 5)
    with serve(tmp_path) as server:
        tiffzarr.clear_cache()
        index = open_quiet(server.url_for(names[0]))
        assert server.stats.requests <= len(names) + 1
        assert all(server.stats.path(n).requests == 1 for n in names)
    assert index.series[0].shape == (5, 2, 16, 24)


# -- tiffzarr's own OME files -------------------------------------------------


def test_tiffzarr_ome_pyramid_reads_back_with_its_axes_and_sizes(tmp_path: Path) -> None:
    path = tmp_path / "w.ome.tif"
    data = random((3, 2, 256, 192))
    metadata = {
        "axes": "TCYX",
        "PhysicalSizeX": 0.5,
        "PhysicalSizeY": 0.75,
        "TimeIncrement": 2.5,
        "TimeIncrementUnit": "ms",
        "Channel": {"Name": ["a", "b"]},
    }
    tiffzarr.imwrite(
        path, data, ome=True, metadata=metadata, tile=(64, 64), pyramid=2, photometric="minisblack"
    )
    index = open_quiet(str(path))
    s = index.series[0]
    assert (s.kind, s.axes, s.shape) == ("ome", "TCYX", (3, 2, 256, 192))
    assert [a.shape for a in s.arrays()] == [(3, 2, 256, 192), (3, 2, 128, 96), (3, 2, 64, 48)]
    assert s.scales["X"] == AxisScale(0.5, "micrometer")
    assert s.scales["Y"] == AxisScale(0.75, "micrometer")
    assert s.scales["T"] == AxisScale(2.5, "millisecond")
    assert [c.name for c in s.channels] == ["a", "b"]
    assert np.array_equal(tiffzarr.imread(str(path)), data)
    assert_like_tifffile(path, index)


@pytest.mark.parametrize("zarr_format", [2, 3])
def test_references_of_a_set_name_each_file_relative_and_read_with_plain_fsspec(
    tmp_path: Path, zarr_format: int
) -> None:
    from fsspec.implementations.reference import ReferenceFileSystem
    from zarr.storage import FsspecStore

    names, data = write_set(tmp_path)
    target = tmp_path / "set.json"
    refs = tiffzarr.write_references(
        str(tmp_path / names[0]),
        str(target),
        series=0,
        level=0,
        zarr_format=zarr_format,
        target_url=str(target),
    )
    assert sorted(refs["templates"].values()) == sorted(names)  # one template per file
    # plain fsspec does not resolve relative targets: the documented template overrides
    overrides = {k: str(tmp_path / v) for k, v in refs["templates"].items()}
    fs = ReferenceFileSystem(
        str(target), remote_protocol="file", asynchronous=True, template_overrides=overrides
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # numcodecs.* codecs in v3 metadata warn
        got = zarr.open_array(FsspecStore(fs, read_only=True, path=""), mode="r")[...]
        again = zarr.open_array(tiffzarr.open_references(str(target)), mode="r")[...]
    assert np.array_equal(got, data) and np.array_equal(again, data)
    hierarchy = tiffzarr.references(str(tmp_path / names[0]), target_url=str(target))
    assert "OME/METADATA.ome.xml" in hierarchy["refs"]  # the OME-XML travels with the set
