"""``tiffzarr convert``: TIFF to Zarr (the whole OME-Zarr hierarchy), TIFF or Zarr to TIFF."""

from __future__ import annotations

import argparse
import math
import os
from collections.abc import Callable
from typing import Any

from tiffzarr.cli._options import UsageError, add_storage_option
from tiffzarr.cli._progress import progress
from tiffzarr.cli._totiff import Counted, Image, tiff_image, zarr_image

__all__ = ["add_convert", "parse_tile"]


_TIFF_SUFFIXES = (".tif", ".tiff", ".btf", ".tf8", ".gtiff")
_COMPRESSIONS = ("zstd", "deflate", "lzw", "jpeg", "webp", "none")


def parse_tile(text: str, /) -> tuple[int, int]:
    """``512`` → ``(512, 512)``; ``512x256`` → 512 rows by 256 columns.

    >>> parse_tile("512"), parse_tile("256x128")
    ((512, 512), (256, 128))
    """
    parts = text.lower().split("x")
    try:
        sizes = [int(p) for p in parts]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected N or ROWSxCOLUMNS, not {text!r}") from None
    if len(sizes) == 1:
        sizes *= 2
    if len(sizes) != 2 or min(sizes) < 16 or any(n % 16 for n in sizes):
        raise argparse.ArgumentTypeError(f"tile sizes are multiples of 16, not {text!r}")
    return sizes[0], sizes[1]


def _target_kind(args: argparse.Namespace) -> str:
    if args.to is not None:
        return str(args.to)
    name = args.dst.rstrip("/").lower()
    if name.endswith(".zarr"):
        return "zarr"
    if name.endswith(_TIFF_SUFFIXES):
        return "tiff"
    raise UsageError(f"cannot tell the format of {args.dst!r} from its name; give --to zarr|tiff")


def _is_zarr(url: str, options: dict[str, Any] | None) -> bool:
    """A source is zarr when its name ends in ``.zarr`` or it is a folder."""
    if url.rstrip("/").lower().endswith(".zarr"):
        return True
    if "://" not in url:
        return os.path.isdir(url)
    import fsspec

    fs, path = fsspec.core.url_to_fs(url, **(options or {}))
    return bool(fs.isdir(path))


def _to_zarr(args: argparse.Namespace, options: dict[str, Any] | None) -> None:
    from tiffzarr import open_store
    from tiffzarr.cli._tozarr import copy_to_zarr

    if args.shard is not None and args.zarr_format != 3:
        raise UsageError("--shard needs --zarr-format 3")
    if args.compression not in ("zstd", "deflate", "none", None):
        raise UsageError(
            f"a Zarr target takes --compression zstd, deflate or none, not {args.compression}"
        )
    if _is_zarr(args.src, options):
        raise UsageError("convert writes Zarr from a TIFF source only")
    store = open_store(
        args.src,
        series=args.series,
        level=args.level,
        storage_options=options,
        zarr_format=args.zarr_format,
    )
    copy_to_zarr(
        store,
        args.dst,
        zarr_format=args.zarr_format,
        shard=args.shard,
        compression=args.compression or "zstd",
        target_options=dict(args.target_option),
        overwrite=args.overwrite,
        quiet=args.quiet,
    )


def _write_options(args: argparse.Namespace, image: Image, drop: int) -> dict[str, Any]:
    axes = image.axes[drop:] if image.axes else None
    rgb = axes is not None and axes.endswith("S") and image.array.shape[-1] in (3, 4)
    options: dict[str, Any] = {
        "photometric": "rgb" if rgb else "minisblack",
        "compression": args.compression or "zstd",
        "predictor": True if args.predictor else None,
        "cog": args.cog,
    }
    if args.tile is not None:
        options["tile"] = args.tile
    elif not args.cog:
        options["tile"] = (512, 512)
    # as many levels as the source has, unless given (a COG goes down to one tile)
    pyramid = args.pyramid if args.pyramid is not None or args.cog else image.levels - 1
    if pyramid:
        options["pyramid"] = pyramid
    if args.ome:
        meta = {k: v for k, v in image.metadata.items() if k != "axes"}
        if axes is None:
            raise UsageError("--ome needs the source's axes, and this source names none")
        options["metadata"] = {**meta, "axes": axes.replace("I", "Z").replace("Q", "Z")}
    elif axes is not None:
        options["metadata"] = {"axes": axes}
    if image.geotiff is not None:
        options["geotiff"] = image.geotiff
    return options


def _to_tiff(args: argparse.Namespace, options: dict[str, Any] | None) -> None:
    from tiffzarr import write

    if args.shard is not None:
        raise UsageError("--shard applies to a Zarr target only")
    if _is_zarr(args.src, options):
        image = zarr_image(args.src, options=options)
    else:
        image = tiff_image(
            args.src, series=args.series or 0, level=args.level or 0, options=options
        )
    shape = image.array.shape
    drop = 0
    if args.cog:  # one image per file: leave out the leading dimensions of length 1
        while drop < len(shape) - 2 and shape[drop] == 1:
            drop += 1
    kwargs = _write_options(args, image, drop)
    total = math.prod(shape) * image.array.dtype.itemsize
    with progress(total, desc="convert", quiet=args.quiet) as bar:
        write(
            args.dst,
            Counted(image.array, bar, drop=drop),
            mode="w" if args.overwrite else "x",
            bigtiff=True if args.bigtiff else None,
            ome=True if args.ome else None,
            storage_options=dict(args.target_option) or None,
            **kwargs,
        )


def _convert(args: argparse.Namespace) -> int:
    options = dict(args.storage_option) or None
    if _target_kind(args) == "zarr":
        _to_zarr(args, options)
    else:
        _to_tiff(args, options)
    return 0


def add_convert(
    commands: argparse._SubParsersAction[argparse.ArgumentParser],
    common: Callable[[argparse.ArgumentParser], None],
) -> None:
    convert = commands.add_parser(
        "convert",
        help="TIFF to Zarr, or TIFF / Zarr to tiled TIFF, COG or OME-TIFF",
        description=(
            "TIFF to Zarr (DST ending in .zarr): the whole OME-Zarr hierarchy tiffzarr serves, "
            "or one series (--series) or level (--level). TIFF or Zarr to TIFF (DST ending in "
            ".tif/.tiff): one image (a TIFF's series level, a zarr array, or level 0 of an "
            "OME-Zarr group's first multiscale image) written tiled, with a pyramid, as a COG "
            "or as OME-TIFF."
        ),
    )
    convert.add_argument("src", help="source TIFF or Zarr (path or fsspec URL)")
    convert.add_argument("dst", help="target: a .zarr folder or a .tif file (path or fsspec URL)")
    convert.add_argument("--to", choices=("zarr", "tiff"), default=None, help="target format")
    convert.add_argument("--series", type=int, default=None, metavar="N", help="only series N")
    convert.add_argument("--level", type=int, default=None, metavar="N", help="only level N")
    convert.add_argument("--overwrite", action="store_true", help="replace an existing target")
    zarr_group = convert.add_argument_group("Zarr target")
    zarr_group.add_argument("--zarr-format", type=int, choices=(2, 3), default=3)
    zarr_group.add_argument(
        "--shard", type=int, default=None, metavar="N", help="N x N chunks per shard (zarr v3)"
    )
    tiff_group = convert.add_argument_group("TIFF target")
    tiff_group.add_argument(
        "--tile", type=parse_tile, default=None, metavar="N|ROWSxCOLS", help="tile size (512)"
    )
    tiff_group.add_argument(
        "--compression", choices=_COMPRESSIONS, default=None, help="compression (zstd)"
    )
    tiff_group.add_argument("--predictor", action="store_true", help="horizontal/float predictor")
    tiff_group.add_argument(
        "--pyramid", type=int, default=None, metavar="N", help="N reduced levels (as the source)"
    )
    tiff_group.add_argument("--cog", action="store_true", help="Cloud Optimized GeoTIFF layout")
    tiff_group.add_argument("--bigtiff", action="store_true", help="write BigTIFF")
    tiff_group.add_argument("--ome", action="store_true", help="write OME-TIFF")
    add_storage_option(convert, "--storage-option")
    add_storage_option(convert, "--target-option", dest="target_option", what="the target")
    common(convert)
    convert.set_defaults(run=_convert)
