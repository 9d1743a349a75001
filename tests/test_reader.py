"""Issue #2: the reader gives one model whatever the backend, within request budgets."""

from __future__ import annotations

import asyncio
import os
import warnings

import fsspec
import numpy as np
import pytest
import tifffile
import zarr.api.asynchronous

import tiffzarr
from tests.conftest import CORPUS, manifest, require
from tiffzarr._info import describe
from tiffzarr.io import open_source
from tiffzarr.model import load_segments
from tiffzarr.reader import read_index
from tiffzarr.testing import serve

SAMPLE = [
    "files/rasterio/cogeo.tif",
    "files/slideio-tutorial/CMU-1-Small-Region.svs",
    "files/exampletiffs/4D-series.ome.tif",
    "files/libtiff/tiff_with_subifd_chain.tif",
    "files/imageio-test-images/Blackmagic.dng",
]
COGS = [r["relpath"] for r in manifest(CORPUS) if r["relpath"].startswith("files/rio-cogeo/")]


def comparable(index: tiffzarr.TiffIndex) -> dict:
    info = describe(index)
    info.pop("url")
    info["warnings"] = [w.replace(index.url, "URL") for w in info["warnings"]]
    info["arrays"] = [
        (a.shape, a.chunks, a.codec, [t.offsets if t else None for t in a.manifest.tables])
        for s in index.series
        for a in s.levels
    ]
    return info


@pytest.mark.parametrize("relpath", SAMPLE)
async def test_same_model_from_local_memory_and_http(relpath: str, corpus_server) -> None:  # type: ignore[no-untyped-def]
    path = require(CORPUS, "corpus") / relpath
    memory_url = f"memory://tiffzarr-test/{os.path.basename(relpath)}"
    fsspec.filesystem("memory").pipe(memory_url, path.read_bytes())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", tiffzarr.TiffZarrWarning)
        local = await tiffzarr.api.asynchronous.open_tiff(str(path))
        memory = await tiffzarr.api.asynchronous.open_tiff(memory_url)
        http = await tiffzarr.api.asynchronous.open_tiff(corpus_server.url_for(relpath))
    assert comparable(local) == comparable(memory) == comparable(http)


@pytest.mark.parametrize("relpath", COGS)
async def test_cog_opens_in_two_requests_over_http(relpath: str, corpus_server) -> None:  # type: ignore[no-untyped-def]
    source = open_source(corpus_server.url_for(relpath))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", tiffzarr.TiffZarrWarning)
        index = await read_index(source)
    assert index.pages
    assert source.stats.requests <= 2, source.stats.ranges


async def test_tile_offsets_are_read_only_when_asked(tmp_path) -> None:  # type: ignore[no-untyped-def]
    # a big first page pushes the second page's IFD past the first read; its 4096
    # tiles need 32 KiB of TileOffsets, more than the read-ahead at an IFD
    path = tmp_path / "many.tif"
    with tifffile.TiffWriter(path, bigtiff=True) as tw:
        tw.write(np.zeros((512, 512), "uint8"), metadata=None)
        tw.write(np.ones((1024, 1024), "uint8"), tile=(16, 16), compression="zlib", metadata=None)
    with serve({"many.tif": path.read_bytes()}) as server:
        source = open_source(server.url_for("many.tif"))
        index = await read_index(source)
        await _check_lazy_offsets(index, source)


async def _check_lazy_offsets(index: tiffzarr.TiffIndex, source) -> None:  # type: ignore[no-untyped-def]
    page = index.pages[1]
    entry = page.ifd.entries[324]
    assert entry.value_offset is not None
    start, stop = entry.value_offset, entry.value_offset + entry.nbytes
    overlap = sum(max(0, min(b, stop) - max(a, start)) for a, b in source.stats.ranges)
    assert overlap < entry.nbytes / 4, "TileOffsets was read at open"
    assert page.segments is not None and not page.segments.loaded(0, 4096)
    before = source.stats.requests
    await load_segments(source, [(page.segments, 0, 1)])
    assert page.segments.loaded(0, 4096)
    assert source.stats.requests - before == 1  # offsets and counts are neighbours


def test_corpus_is_present_or_skipped() -> None:
    require(CORPUS, "corpus")


@pytest.mark.parametrize("edited", [False, True])
def test_cog_ghost_area_is_reported(tmp_path, edited: bool) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "cog.tif"
    tiffzarr.write(path, np.zeros((512, 512), "uint8"), tile=(256, 256), pyramid=1, cog=True)
    if edited:  # what GDAL writes after an edit that breaks the layout (same length)
        raw = path.read_bytes()
        assert raw.count(b"KNOWN_INCOMPATIBLE_EDITION=NO\n ") == 1
        path.write_bytes(
            raw.replace(b"KNOWN_INCOMPATIBLE_EDITION=NO\n ", b"KNOWN_INCOMPATIBLE_EDITION=YES\n")
        )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        index = tiffzarr.open_tiff(str(path))
    assert [str(w.message).endswith("breaks its COG layout") for w in caught] == [edited] * edited
    if edited:
        assert index.flags == {"cog"}
        assert any("breaks its COG layout" in w for w in index.warnings)
    else:
        assert index.flags == {"cog", "block-leaders"}
        assert not index.warnings
    assert ("block-leaders" in describe(index)["flags"]) is not edited


async def test_local_open_needs_no_worker_thread(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """A local file is parsed and opened by zarr on the event loop: its size and header
    are read where they are asked for (a hop to a thread costs more, and the first one
    starts the thread pool)."""
    path = tmp_path / "a.tif"
    tifffile.imwrite(path, np.zeros((256, 256), "uint16"), tile=(64, 64), compression="zlib")
    loop = asyncio.get_running_loop()
    hops = []
    submit = loop.run_in_executor

    def counted(executor, func, *args):  # type: ignore[no-untyped-def]
        hops.append(func)
        return submit(executor, func, *args)

    monkeypatch.setattr(loop, "run_in_executor", counted)
    store = await tiffzarr.api.asynchronous.open_store(str(path), series=0, level=0)
    array = await zarr.api.asynchronous.open_array(store=store, mode="r")
    assert array.shape == (256, 256)
    assert hops == []
