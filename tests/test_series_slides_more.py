"""Whole-slide dialects besides SVS and NDPI: Leica SCN, PerkinElmer QPTIFF, Ventana
BIF, Philips TIFF, Argos AVS, and the generic pyramids of ZIF and libvips.

The fixtures are small files laid out as the scanners lay them out (tifffile and
pyvips as writers). Their series (names, kinds, shapes, axes, every level's pixels)
must equal tifffile's; their slide properties and pixel sizes OpenSlide's, where
OpenSlide opens the file.
"""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path
from typing import Any

import numpy as np
import openslide
import pytest
import pyvips
import tifffile
import zarr

import tiffzarr
from tiffzarr.errors import TiffFormatWarning
from tiffzarr.model import AxisScale, Channel

RNG = np.random.default_rng(20260312)
SCN_NS = "http://www.leica-microsystems.com/scn/2010/10/01"


def rgb(height: int, width: int) -> np.ndarray:
    return RNG.integers(0, 255, (height, width, 3), dtype="uint8")


def sha256(data: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(data).tobytes()).hexdigest()


def level_sha256(index: tiffzarr.TiffIndex, series: int, level: int) -> str:
    store = tiffzarr.open_store(index, series=series, level=level)
    return sha256(zarr.open_array(store, mode="r")[...])


def assert_like_tifffile(path: Path, index: tiffzarr.TiffIndex | None = None) -> None:
    """Every series: kind, name, shapes and axes (squeezed and full), and every level's
    shape and pixels (sha256) equal tifffile's."""
    index = index if index is not None else tiffzarr.open_tiff(str(path))
    with tifffile.TiffFile(path) as tif:
        want = [
            (s.kind, s.name, s.shape, s.axes, s.get_shape(False), s.get_axes(False))
            for s in tif.series
        ]
        levels = [[(lv.shape, sha256(lv.asarray())) for lv in s.levels] for s in tif.series]
    got = [
        (s.kind, s.name, s.shape, s.axes, s.get_shape(False), s.get_axes(False))
        for s in index.series
    ]
    assert got == want
    assert [
        [(a.shape, level_sha256(index, i, j)) for j, a in enumerate(s.arrays())]
        for i, s in enumerate(index.series)
    ] == levels


def assert_like_openslide(path: Path, series: tiffzarr.Series, vendor: str) -> None:
    """The vendor's properties, objective power, barcode and pixel size equal OpenSlide's."""
    with openslide.OpenSlide(str(path)) as slide:
        theirs = dict(slide.properties)
    ours = series.attrs["openslide"]
    assert theirs["openslide.vendor"] == ours["openslide.vendor"] == vendor
    mine = {k: v for k, v in ours.items() if k.startswith(f"{vendor}.")}
    assert mine == {k: v for k, v in theirs.items() if k.startswith(f"{vendor}.")} != {}
    for key in ("openslide.objective-power", "openslide.barcode"):
        assert ours.get(key) == theirs.get(key)
    for axis in "xy":
        mpp = float(theirs[f"openslide.mpp-{axis}"])
        assert float(ours[f"openslide.mpp-{axis}"]) == pytest.approx(mpp)
        assert series.scales[axis.upper()] == AxisScale(pytest.approx(mpp), "micrometer")


# -- Leica SCN ------------------------------------------------------------------


def scn_image(
    name: str, dims: list[tuple[int, int, int, int, int]], view: tuple[int, ...], **settings: str
) -> str:
    """An SCN ``image``: ``dims`` are ``(sizeX, sizeY, r, c or z..., ifd)`` as
    ``(width, height, r, plane, ifd)`` with the plane ``c*10 + z``."""
    dimensions = "".join(
        f'<dimension sizeX="{w}" sizeY="{h}" r="{r}" c="{p // 10}" z="{p % 10}" ifd="{ifd}"/>'
        for w, h, r, p, ifd in dims
    )
    source = settings.get("source", "brightfield")
    return (
        f'<image name="{name}" uuid="urn:uuid:{name}">'
        "<creationDate>2012-06-01T10:00:00.00Z</creationDate>"
        '<device model="Leica SCN400;Leica SCN" version="1.5.1.10804 2012/05/10 13:29:07"/>'
        f'<pixels sizeX="{dims[0][0]}" sizeY="{dims[0][1]}">{dimensions}</pixels>'
        f'<view sizeX="{view[0]}" sizeY="{view[1]}" offsetX="{view[2]}" offsetY="{view[3]}"'
        f' spacingZ="{settings.get("spacing", "NaN")}"/>'
        "<scanSettings><objectiveSettings>"
        f"<objective>{settings.get('objective', '20')}</objective></objectiveSettings>"
        f"<illuminationSettings><numericalAperture>{settings.get('na', '0.4')}"
        f"</numericalAperture><illuminationSource>{source}</illuminationSource>"
        "</illuminationSettings></scanSettings></image>"
    )


def scn_file(path: Path, images: list[str], pages: list[np.ndarray], mpp: list[float]) -> None:
    xml = (
        f'<?xml version="1.0" encoding="utf-8"?>\n<scn xmlns="{SCN_NS}">'
        '<collection name="slide" uuid="urn:uuid:c" sizeX="48000" sizeY="32000">'
        f"<barcode>{base64.b64encode(b'SLIDE-1').decode()}</barcode>"
        + "".join(images)
        + "</collection></scn>"
    )
    with tifffile.TiffWriter(path, bigtiff=True) as tw:
        for k, (data, size) in enumerate(zip(pages, mpp, strict=True)):
            tw.write(
                data,
                tile=(16, 16),
                compression="zlib",
                description=xml if k == 0 else None,
                metadata=None,
                software="Leica SCN",
                resolution=(1e4 / size, 1e4 / size),
                resolutionunit="CENTIMETER",
                photometric="rgb" if data.ndim == 3 else "minisblack",
            )


def brightfield_scn(path: Path) -> None:
    """A macro and a main image of three levels each (4-fold reductions)."""
    macro = [(96, 64), (24, 16), (6, 4)]
    main = [(128, 96), (32, 24), (8, 6)]
    images = [
        scn_image(
            "macro",
            [(w, h, r, 0, r) for r, (w, h) in enumerate(macro)],
            (48000, 32000, 0, 0),
            objective="0.3",
            na="0.02",
        ),
        scn_image(
            "main",
            [(w, h, r, 0, 3 + r) for r, (w, h) in enumerate(main)],
            (16000, 12000, 8000, 6000),
        ),
    ]
    pages = [rgb(h, w) for w, h in macro + main]
    mpp = [0.5 * 4**r for r in range(3)] + [0.125 * 4**r for r in range(3)]
    scn_file(path, images, pages, mpp)


def test_scn_images_and_levels_match_tifffile_and_openslide(tmp_path: Path) -> None:
    path = tmp_path / "slide.scn"
    brightfield_scn(path)
    assert_like_tifffile(path)
    index = tiffzarr.open_tiff(str(path))
    macro, main = index.series
    assert (macro.name, main.name, len(main.levels)) == ("macro", "main", 3)
    assert macro.scales["X"] == AxisScale(0.5, "micrometer")  # 48000 nm over 96 pixels
    assert macro.attrs["leica"]["macro"] and not main.attrs["leica"]["macro"]
    assert main.attrs["leica"]["collection"]["sizeX"] == "48000"
    assert main.attrs["leica"]["image"]["view"]["offsetX"] == "8000"
    assert_like_openslide(path, main, "leica")


def test_scn_fluorescence_channels_and_planes(tmp_path: Path) -> None:
    """Two channels by two focal planes, a plane left out (fill); tifffile refuses
    Z stacks, so the pixels are compared with tifffile's pages."""
    path = tmp_path / "fluo.scn"
    planes = [(0, 0), (1, 0), (10, 0), (0, 1), (1, 1), (11, 1)]  # (c*10 + z, r): no c=1 z=1 r=0
    dims = [(64 // 2**r, 32 // 2**r, r, p, k) for k, (p, r) in enumerate(planes)]
    image = scn_image("fluo", dims, (32000, 16000, 100, 100), source="fluorescence", spacing="500")
    pages = [RNG.integers(0, 4000, (32 // 2**r, 64 // 2**r), dtype="uint16") for _, r in planes]
    scn_file(path, [image], pages, [0.5 * 2**r for _, r in planes])
    (s,) = tiffzarr.open_tiff(str(path)).series
    assert (s.kind, s.shape, s.axes) == ("scn", (2, 2, 32, 64), "CZYX")
    assert s.scales["Z"] == AxisScale(0.5, "micrometer")
    store = tiffzarr.open_store(str(path), series=0, level=0)
    base = np.asarray(zarr.open_array(store, mode="r")[...])
    np.testing.assert_array_equal(base[0, 0], pages[0])
    np.testing.assert_array_equal(base[1, 0], pages[2])
    np.testing.assert_array_equal(base[1, 1], 0)  # no dimension names this plane
    store = tiffzarr.open_store(str(path), series=0, level=1)
    np.testing.assert_array_equal(zarr.open_array(store, mode="r")[1, 1], pages[5])


def test_scn_dimension_past_the_pages_ends_the_levels(tmp_path: Path) -> None:
    path = tmp_path / "short.scn"
    dims = [(64, 32, 0, 0, 0), (16, 8, 1, 0, 1), (4, 2, 2, 0, 7)]
    scn_file(
        path, [scn_image("a", dims, (32000, 16000, 0, 0))], [rgb(32, 64), rgb(8, 16)], [0.5, 2]
    )
    with pytest.warns(TiffFormatWarning, match="IFD 7 is past the 2 pages"):
        (s,) = tiffzarr.open_tiff(str(path)).series
    assert [a.shape for a in s.arrays()] == [(32, 64, 3), (8, 16, 3)]


def test_scn_hostile_channel_numbers_are_not_allocated(tmp_path: Path) -> None:
    path = tmp_path / "hostile.scn"
    dims = [(64, 32, 0, 0, 0), (64, 32, 0, 10**9 * 10, 1)]  # c = 10**9
    scn_file(path, [scn_image("a", dims, (32000, 16000, 0, 0))], [rgb(32, 64)] * 2, [0.5] * 2)
    with pytest.warns(TiffFormatWarning, match="1000000001 channels by 1 planes; not read"):
        index = tiffzarr.open_tiff(str(path))
    assert [s.kind for s in index.series] == ["generic"]


def test_scn_broken_xml_gives_the_generic_series(tmp_path: Path) -> None:
    path = tmp_path / "broken.scn"
    tifffile.imwrite(path, rgb(32, 32), tile=(16, 16), description="<scn><image></scn>")
    with pytest.warns(TiffFormatWarning, match="SCN ImageDescription is not valid XML"):
        index = tiffzarr.open_tiff(str(path))
    assert [s.kind for s in index.series] == ["generic"]


# -- PerkinElmer QPTIFF ---------------------------------------------------------


def qpi_description(kind: str, name: str | None = None, color: str | None = None) -> str:
    channel = f"<Name>{name}</Name><Color>{color}</Color>" if name else ""
    return (
        '<?xml version="1.0" encoding="utf-16"?><PerkinElmer-QPI-ImageDescription>'
        "<DescriptionVersion>2</DescriptionVersion><AcquisitionSoftware>Vectra"
        f"</AcquisitionSoftware><ImageType>{kind}</ImageType>{channel}"
        "<Objective>20x</Objective><ExposureTime>100</ExposureTime>"
        "</PerkinElmer-QPI-ImageDescription>"
    )


CHANNELS = [("DAPI", "0,0,255"), ("FITC", "0,255,0"), ("Cy5", "255,0,0")]


def qptiff_file(path: Path, *, last_level: int = 3) -> None:
    """Three channels at full and half size, a thumbnail between them, a macro and
    a label; ``last_level`` channels of the half-size level are written."""
    options: dict[str, Any] = {
        "metadata": None,
        "software": "PerkinElmer-QPI",
        "resolution": (20000, 20000),
        "resolutionunit": "CENTIMETER",
        "tile": (32, 32),
    }
    strips = {k: v for k, v in options.items() if k != "tile"}
    with tifffile.TiffWriter(path) as tw:
        for name, color in CHANNELS:
            data = RNG.integers(0, 4000, (64, 96), dtype="uint16")
            tw.write(data, description=qpi_description("FullResolution", name, color), **options)
        tw.write(rgb(16, 24), description=qpi_description("Thumbnail"), **strips)
        for name, color in CHANNELS[:last_level]:
            data = RNG.integers(0, 4000, (32, 48), dtype="uint16")
            description = qpi_description("ReducedResolution", name, color)
            tw.write(data, subfiletype=1, description=description, **options)
        tw.write(rgb(20, 50), description=qpi_description("Overview"), **strips)
        tw.write(rgb(20, 20), description=qpi_description("Label"), **strips)


def test_qptiff_channels_levels_and_associated_images(tmp_path: Path) -> None:
    path = tmp_path / "slide.qptiff"
    qptiff_file(path)
    assert_like_tifffile(path)
    index = tiffzarr.open_tiff(str(path))
    assert [s.name for s in index.series] == ["Baseline", "Thumbnail", "Macro", "Label"]
    base = index.series[0]
    assert base.channels == (
        Channel("DAPI", "0000FF"),
        Channel("FITC", "00FF00"),
        Channel("Cy5", "FF0000"),
    )
    assert base.scales == {"X": AxisScale(0.5, "micrometer"), "Y": AxisScale(0.5, "micrometer")}
    descriptions = base.attrs["qpi"]["descriptions"]
    assert [d["ImageType"] for d in descriptions] == ["FullResolution"] * 3
    assert index.series[2].attrs["qpi"]["descriptions"][0]["ImageType"] == "Overview"


def test_qptiff_incomplete_level_ends_the_pyramid_as_in_tifffile(tmp_path: Path) -> None:
    """A half-size level with two of the three channels: no level, and no macro or
    label (the Baseline has no levels); the pages left out are reported."""
    path = tmp_path / "short.qptiff"
    qptiff_file(path, last_level=2)
    with pytest.warns(TiffFormatWarning, match="is not part of any series"):
        index = tiffzarr.open_tiff(str(path))
    assert_like_tifffile(path, index)
    assert [s.name for s in index.series] == ["Baseline", "Thumbnail"]


def test_qptiff_brightfield_is_one_rgb_channel(tmp_path: Path) -> None:
    path = tmp_path / "brightfield.qptiff"
    options: dict[str, Any] = {"metadata": None, "software": "PerkinElmer-QPI"}
    with tifffile.TiffWriter(path) as tw:
        tw.write(
            rgb(64, 64), tile=(32, 32), description=qpi_description("FullResolution"), **options
        )
        tw.write(rgb(16, 16), description=qpi_description("Thumbnail"), **options)
        tw.write(rgb(32, 32), tile=(32, 32), subfiletype=1, **options)
    assert_like_tifffile(path)
    base = tiffzarr.open_tiff(str(path)).series[0]
    assert (base.axes, base.get_axes(False), base.channels, base.scales) == ("YXS", "CYXS", (), {})


# -- Ventana BIF ----------------------------------------------------------------

ISCAN = (
    '<?xml version="1.0" encoding="utf-8"?><Metadata><iScan Magnification="40" '
    'ScanRes="0.2325" UnitNumber="BI10N0294" Barcode1D="" ScannerModel="VENTANA DP 200"/>'
    "</Metadata>"
)
ENCODE_INFO = (
    '<?xml version="1.0" encoding="utf-8"?><EncodeInfo Ver="2"><SlideStitchInfo>'
    '<ImageInfo AOIScanned="1" AOIIndex="0" Width="16" Height="16" NumRows="4" NumCols="6" '
    'Pos-X="0" Pos-Y="0">'
    '<TileJointInfo FlagJoined="1" Direction="RIGHT" Tile1="1" Tile2="2" OverlapX="2" '
    'OverlapY="0" Confidence="50"/>'
    '<TileJointInfo FlagJoined="1" Direction="UP" Tile1="1" Tile2="12" OverlapX="0" '
    'OverlapY="2" Confidence="50"/>'
    '</ImageInfo></SlideStitchInfo><AoiOrigin><AOI0 OriginX="0" OriginY="0"/></AoiOrigin>'
    "</EncodeInfo>"
)


def bif_file(path: Path, *, extra: tuple[str, ...] = ()) -> None:
    """Label (with the iScan XMP), thumbnail, three JPEG levels with ImageDepth 1 (the
    first with the EncodeInfo XMP), and pages described by ``extra``."""
    options: dict[str, Any] = {
        "metadata": None,
        "software": "ScanOutputManager 1.1.0.15854",
        "photometric": "rgb",
    }
    xmp = [(700, "B", len(ISCAN), ISCAN.encode(), True)]
    with tifffile.TiffWriter(path, bigtiff=True) as tw:
        tw.write(rgb(30, 20), description="Label_Image", extratags=xmp, **options)
        tw.write(rgb(16, 24), description="Thumbnail", **options)
        for level, (h, w) in enumerate([(64, 96), (32, 48), (16, 24)]):
            encode = [(700, "B", len(ENCODE_INFO), ENCODE_INFO.encode(), True)]
            tw.write(
                rgb(h, w)[None],
                tile=(1, 16, 16),
                volumetric=True,
                compression="jpeg",
                description=f"level={level} mag={40 >> level} quality=95",
                extratags=encode if level == 0 else [],
                **options,
            )
        for description in extra:
            tw.write(rgb(10, 12), description=description, **options)


def test_bif_series_match_tifffile_and_openslide(tmp_path: Path) -> None:
    path = tmp_path / "slide.bif"
    bif_file(path, extra=("Probability_Image", "other"))
    with tifffile.TiffFile(path) as tif:
        assert tif.pages[2].imagedepth == 1 and 32997 in tif.pages[2].tags
    assert_like_tifffile(path)
    index = tiffzarr.open_tiff(str(path))
    names = [s.name for s in index.series]
    assert names == ["Baseline", "Label", "Thumbnail", "Thumbnail", "Unknown"]
    base = index.series[0]
    meta = base.attrs["ventana"]
    assert meta["iScan"]["ScannerModel"] == "VENTANA DP 200"
    assert [lv["mag"] for lv in meta["levels"]] == ["40", "20", "10"]
    info = meta["EncodeInfo"]["SlideStitchInfo"]["ImageInfo"]
    assert (info["NumCols"], info["TileJointInfo"]) == ("6", "2")  # joints counted, not kept
    assert_like_openslide(path, base, "ventana")


# -- Philips TIFF ---------------------------------------------------------------


def philips_attribute(name: str, value: str, vr: str = "IString") -> str:
    return f'<Attribute Name="{name}" PMSVR="{vr}">{value}</Attribute>'


def philips_xml(spacings: list[float]) -> str:
    def spacing(mm: float) -> str:
        return philips_attribute("DICOM_PIXEL_SPACING", f"&quot;{mm}&quot; &quot;{mm}&quot;")

    levels = "".join(
        '<DataObject ObjectType="PixelDataRepresentation">'
        + spacing(mm)
        + philips_attribute("PIIM_DP_PIXEL_DATA_REPRESENTATION_NUMBER", str(k), "IUInt16")
        + "</DataObject>"
        for k, mm in enumerate(spacings)
    )
    derivation = "tiff-useBigTIFF=1-levels=20,10002,10000-q80-sourceFilename=&quot;x-y&quot;"
    return (
        '<?xml version="1.0" encoding="UTF-8" ?>\n<DataObject ObjectType="DPUfsImport">'
        + philips_attribute("DICOM_MANUFACTURER", "PHILIPS")
        + philips_attribute("PIM_DP_UFS_BARCODE", base64.b64encode(b"PH-1").decode())
        + '<Attribute Name="PIM_DP_SCANNED_IMAGES" PMSVR="IDataObjectArray"><Array>'
        + '<DataObject ObjectType="DPScannedImage">'
        + philips_attribute("DICOM_DERIVATION_DESCRIPTION", derivation)
        + spacing(spacings[0])
        + philips_attribute("PIM_DP_IMAGE_TYPE", "WSI")
        + '<Attribute Name="PIIM_PIXEL_DATA_REPRESENTATION_SEQUENCE" PMSVR="IDataObjectArray">'
        + f"<Array>{levels}</Array></Attribute></DataObject>"
        + '<DataObject ObjectType="DPScannedImage">'
        + philips_attribute("PIM_DP_IMAGE_TYPE", "LABELIMAGE")
        + "</DataObject></Array></Attribute></DataObject>\n"
    )


def philips_file(path: Path, spacings: list[float], padded: tuple[int, int] = (64, 96)) -> None:
    """Three levels whose pages are padded to whole 32-pixel tiles (80x48 stored as
    ``padded``, 40x24 as 32x64), a macro, a label and another stripped page."""
    options: dict[str, Any] = {
        "metadata": None,
        "software": "Philips DP v1.0",
        "photometric": "rgb",
    }
    tiles: dict[str, Any] = {"tile": (32, 32), "compression": "jpeg", **options}
    with tifffile.TiffWriter(path, bigtiff=True) as tw:
        tw.write(rgb(96, 160), description=philips_xml(spacings), **tiles)
        for (h, w), (stored_h, stored_w) in [((48, 80), padded), ((24, 40), (32, 64))]:
            padded = np.full((stored_h, stored_w, 3), 255, "uint8")
            padded[:h, :w] = rgb(h, w)
            tw.write(padded, subfiletype=1, **tiles)
        tw.write(rgb(20, 30), description="Macro", **options)
        tw.write(rgb(20, 20), description="Label", **options)
        tw.write(rgb(12, 14), description="something else", **options)


def test_philips_level_sizes_fixed_from_the_xml(tmp_path: Path) -> None:
    path = tmp_path / "slide.tiff"
    philips_file(path, [0.00025, 0.0005, 0.001])
    assert_like_tifffile(path)
    index = tiffzarr.open_tiff(str(path))
    base = index.series[0]
    assert [a.shape for a in base.arrays()] == [(96, 160, 3), (48, 80, 3), (24, 40, 3)]
    assert [s.name for s in index.series] == ["Baseline", "Other", "Macro", "Label"]
    assert base.attrs["philips"]["PIM_DP_IMAGE_TYPE"] == "WSI"
    assert_like_openslide(path, base, "philips")


def test_philips_level_padded_by_more_than_a_tile_loses_one(tmp_path: Path) -> None:
    """80x48 stored as 128x96: more than a tile too large, tifffile takes off a tile
    but one pixel (97x65), and warns."""
    path = tmp_path / "padded.tiff"
    philips_file(path, [0.00025, 0.0005, 0.001], padded=(96, 128))
    with pytest.warns(TiffFormatWarning, match="more than a tile") as caught:
        index = tiffzarr.open_tiff(str(path))
    assert len(caught) == 2
    assert_like_tifffile(path, index)
    assert index.series[0].level(1).shape == (65, 97, 3)


def test_philips_spacings_that_miss_levels_give_the_generic_series(tmp_path: Path) -> None:
    path = tmp_path / "wrong.tiff"
    philips_file(path, [0.00025, 0.0005])  # two spacings for three levels
    with pytest.warns(TiffFormatWarning, match="3 tiled pages for 2 level spacings"):
        index = tiffzarr.open_tiff(str(path))
    assert_like_tifffile(path, index)
    assert index.series[0].kind == "generic"


# -- Argos AVS ------------------------------------------------------------------

ARGOS = (
    "<Argos.Scan.Metadata><ScanArea><X1>0.15</X1></ScanArea>"
    "<ObjectiveMagnification>20</ObjectiveMagnification><Barcode>AV-1</Barcode>"
    '<MinZ>0</MinZ><MaxZ>0</MaxZ><FocusPoints><Position Z="1">x</Position></FocusPoints>'
    "</Argos.Scan.Metadata>"
)


def avs_file(path: Path, metadata: str = ARGOS, planes: int = 1) -> None:
    """A tiled pyramid of ``planes`` focal planes (the XML in tag 65000 of its first
    page), a map and a macro."""
    options: dict[str, Any] = {
        "metadata": None,
        "photometric": "rgb",
        "resolution": (40000, 40000),
        "resolutionunit": "CENTIMETER",
    }
    with tifffile.TiffWriter(path) as tw:
        for k, (h, w) in enumerate([(64, 96), (32, 48), (16, 24)] * planes):
            tags = [(65000, "s", 0, metadata, True)] if k == 0 else []
            level = {"tile": (16, 16), "compression": "jpeg", "subfiletype": 1 if k else 0}
            tw.write(rgb(h, w), extratags=tags, **level, **options)
        tw.write(rgb(10, 30), **options)
        tw.write(rgb(20, 50), **options)


def test_avs_series_match_tifffile_and_openslide(tmp_path: Path) -> None:
    path = tmp_path / "slide.avs"
    avs_file(path)
    assert_like_tifffile(path)
    index = tiffzarr.open_tiff(str(path))
    assert [(s.name, s.kind) for s in index.series] == [
        ("Baseline", "avs"),
        ("Map", "avs"),
        ("Macro", "avs"),
    ]
    assert index.series[0].attrs["argos"]["ScanArea.X1"] == "0.15"
    assert_like_openslide(path, index.series[0], "argos")


def test_avs_focal_planes_along_z(tmp_path: Path) -> None:
    path = tmp_path / "stacked.avs"
    avs_file(path, ARGOS.replace("<MaxZ>0", "<MaxZ>1"), planes=2)
    assert_like_tifffile(path)
    base = tiffzarr.open_tiff(str(path)).series[0]
    assert (base.axes, base.get_axes(False), [a.axes for a in base.levels]) == (
        "ZYXS",
        "ZYXS",
        ["ZYXS"] * 3,
    )


def test_tag_65000_that_is_not_argos_is_no_avs(tmp_path: Path) -> None:
    path = tmp_path / "other.tif"
    avs_file(path, metadata="Field '65001' is something else")
    assert_like_tifffile(path)
    assert {s.kind for s in tiffzarr.open_tiff(str(path)).series} == {"generic"}


# -- generic pyramids: libvips and ZIF ------------------------------------------


@pytest.mark.parametrize(
    ("subifd", "compression", "bands"),
    [(True, "jpeg", 3), (False, "deflate", 3), (True, "lzw", 1), (False, "webp", 4)],
)
def test_libvips_pyramids_match_tifffile_and_openslide(
    tmp_path: Path, subifd: bool, compression: str, bands: int
) -> None:
    """Pyramids in SubIFDs or in the main chain; OpenSlide (as generic-tiff) reads
    all but WebP ones."""
    path = tmp_path / "vips.tif"
    data = RNG.integers(0, 255, (150, 230, bands), dtype="uint8")
    image = pyvips.Image.new_from_array(data)
    image = image.copy(interpretation="b-w" if bands == 1 else "srgb")
    image.tiffsave(
        str(path),
        tile=True,
        tile_width=32,
        tile_height=32,
        pyramid=True,
        subifd=subifd,
        compression=compression,
        xres=4.0,  # pixels per millimetre
        yres=4.0,
        resunit="cm",
    )
    assert_like_tifffile(path)
    (s,) = tiffzarr.open_tiff(str(path)).series
    assert len(s.levels) == 4
    if compression == "webp":
        return
    with openslide.OpenSlide(str(path)) as slide:
        assert slide.properties["openslide.vendor"] == "generic-tiff"
        mpp = float(slide.properties["openslide.mpp-x"])
    assert s.scales["X"].unit == "centimeter"
    assert s.scales["X"].size * 1e4 == pytest.approx(mpp)


def test_zif_pyramid_matches_tifffile(tmp_path: Path) -> None:
    """ZIF: a little-endian BigTIFF of JPEG-tiled RGB pages, each half the previous
    (rounded up), no SubIFDs, no subfile types."""
    path = tmp_path / "image.zif"
    level = rgb(150, 230)
    with tifffile.TiffWriter(path, bigtiff=True) as tw:
        while True:
            tw.write(level, tile=(64, 64), photometric="rgb", compression="jpeg", metadata=None)
            if max(level.shape[:2]) <= 64:
                break
            level = np.ascontiguousarray(level[::2, ::2])
    assert_like_tifffile(path)
    (s,) = tiffzarr.open_tiff(str(path)).series
    assert [a.shape for a in s.arrays()] == [(150, 230, 3), (75, 115, 3), (38, 58, 3)]
