"""``tiffzarr validate``: COG layout (agreeing with rio-cogeo, i.e. GDAL's rules) and
OME-TIFF consistency, parser warnings and pages no series holds."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
import rasterio
import tifffile
from affine import Affine
from rio_cogeo.cogeo import cog_validate

import tiffzarr
from tiffzarr.cli import main

IMAGE = np.random.default_rng(11).integers(0, 255, (1024, 1024), dtype="uint8")


def _gdal_cog(path: Path) -> None:
    profile = {"driver": "COG", "width": 1024, "height": 1024, "count": 1, "dtype": "uint8"}
    profile.update(crs="EPSG:32633", transform=Affine(10, 0, 500000, 0, -10, 4e6))
    with rasterio.open(path, "w", blocksize=256, compress="deflate", **profile) as ds:
        ds.write(IMAGE, 1)


def _striped(path: Path) -> None:
    tifffile.imwrite(path, IMAGE)


def _ifd_after_data(path: Path) -> None:
    """tifffile writes each IFD before its own data: the overview's IFD follows the
    main image's tiles."""
    with tifffile.TiffWriter(path) as tw:
        tw.write(IMAGE, tile=(256, 256))
        tw.write(IMAGE[::2, ::2], tile=(256, 256), subfiletype=1)


def _overviews_last(path: Path) -> None:
    """A pyramid whose overviews' data come after the main image's."""
    tiffzarr.write(path, IMAGE, tile=(256, 256), pyramid=2)


def _tiffzarr_cog(path: Path) -> None:
    tiffzarr.write(path, IMAGE, cog=True, tile=(256, 256), compression="zstd")


WRITERS = {
    "gdal-cog": _gdal_cog,
    "tiffzarr-cog": _tiffzarr_cog,
    "striped": _striped,
    "ifd-after-data": _ifd_after_data,
    "overviews-last": _overviews_last,
}


@pytest.mark.parametrize("name", sorted(WRITERS))
def test_cog_verdict_agrees_with_rio_cogeo(tmp_path: Path, name: str, capsys) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / f"{name}.tif"
    WRITERS[name](path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        valid, errors, _ = cog_validate(str(path), quiet=True)
    status = main(["validate", "--cog", str(path)])
    out = capsys.readouterr().out
    assert status == (0 if valid else 1), (errors, out)
    assert (out.count("error: cog:") == 0) == valid
    assert out.splitlines()[-1].endswith("valid COG") if valid else "not a valid COG" in out


def test_cog_findings_name_the_rule(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    striped, late = tmp_path / "s.tif", tmp_path / "l.tif"
    _striped(striped)
    _ifd_after_data(late)
    assert main(["validate", "--cog", str(striped)]) == 1
    out = capsys.readouterr().out
    assert "not tiled" in out and "has no overviews" in out
    assert main(["validate", "--cog", str(late)]) == 1
    assert "every IFD must precede the image data" in capsys.readouterr().out


def test_without_flags_checks_what_the_file_claims(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "gdal.tif"
    _gdal_cog(path)
    assert main(["validate", str(path)]) == 0
    assert capsys.readouterr().out.strip().endswith("valid COG")


def _ome_xml(pixels: str, tiffdata: str) -> str:
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<OME xmlns="http://www.openmicroscopy.org/Schemas/OME/2016-06" UUID="urn:uuid:1">'
        f'<Image ID="Image:0"><Pixels ID="Pixels:0" DimensionOrder="XYCZT" {pixels}>'
        f"{tiffdata}</Pixels></Image></OME>"
    )


def _hand_ome(path: Path, xml: str, pages: int = 2, dtype: str = "uint8") -> None:
    with tifffile.TiffWriter(path) as tw:
        for i in range(pages):
            tw.write(
                np.full((16, 32), i, dtype),
                description=xml if i == 0 else None,
                metadata=None,
                contiguous=False,
            )


SIZES = 'SizeX="32" SizeY="16" SizeZ="1" SizeT="1"'


def test_good_ome_tiff(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "good.ome.tif"
    data = np.zeros((2, 3, 32, 32), "uint16")
    tifffile.imwrite(path, data, ome=True, metadata={"axes": "ZCYX"}, tile=(16, 16))
    assert main(["validate", "--ome", str(path)]) == 0
    assert capsys.readouterr().out.strip().endswith("valid OME-TIFF")
    hand = tmp_path / "hand.ome.tif"
    _hand_ome(
        hand, _ome_xml(f'Type="uint8" SizeC="2" {SIZES}', '<TiffData IFD="0" PlaneCount="2"/>')
    )
    assert main(["validate", str(hand)]) == 0


@pytest.mark.parametrize(
    ("pixels", "tiffdata", "message"),
    [
        (
            f'Type="uint16" SizeC="2" {SIZES}',
            '<TiffData IFD="0" PlaneCount="2"/>',
            "Type is 'uint16'",
        ),
        (
            f'Type="uint8" SizeC="3" {SIZES}',
            '<TiffData IFD="0" PlaneCount="3"/>',
            "refers to IFD 2",
        ),
        (f'Type="uint8" SizeC="3" {SIZES}', '<TiffData IFD="0" PlaneCount="2"/>', "cover 2 planes"),
        (
            f'Type="uint8" SizeC="2" {SIZES}',
            '<TiffData IFD="0" PlaneCount="1"/><TiffData IFD="0" PlaneCount="1" FirstC="1">'
            '<UUID FileName="other.ome.tif">urn:uuid:2</UUID></TiffData>',
            "names file 'other.ome.tif', which cannot be read",
        ),
        (
            'Type="uint8" SizeC="2" SizeX="32" SizeY="99" SizeZ="1" SizeT="1"',
            '<TiffData IFD="0" PlaneCount="2"/>',
            "SizeY x SizeX is 99 x 32",
        ),
    ],
)
def test_broken_ome_tiff(tmp_path: Path, pixels: str, tiffdata: str, message: str, capsys) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "broken.ome.tif"
    _hand_ome(path, _ome_xml(pixels, tiffdata))
    assert main(["validate", "--ome", str(path)]) == 1
    out = capsys.readouterr().out
    assert message in out, out
    assert "not a valid OME-TIFF" in out


def test_ome_xml_that_does_not_parse(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "bad.ome.tif"
    _hand_ome(path, '<?xml version="1.0"?><OME><Image></OME>')
    assert main(["validate", "--ome", str(path)]) == 1
    assert "does not parse" in capsys.readouterr().out


def test_not_ome_at_all(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "plain.tif"
    _striped(path)
    assert main(["validate", "--ome", str(path)]) == 1
    assert "holds no OME-XML" in capsys.readouterr().out


def test_pages_no_series_holds_are_reported(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "extra.ome.tif"
    _hand_ome(
        path, _ome_xml(f'Type="uint8" SizeC="1" {SIZES}', '<TiffData IFD="0" PlaneCount="1"/>')
    )
    assert main(["validate", str(path)]) == 0  # valid, but the reader leaves page 1 out
    out = capsys.readouterr().out
    assert "warning: pages: page 1" in out and "not part of any series" in out


def test_missing_file(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    assert main(["validate", str(tmp_path / "nope.tif")]) == 4
    assert capsys.readouterr().err.startswith("tiffzarr: error: ")
