"""The contenders: one function per library per task, each through its natural API.

Every function runs inside a worker process (:mod:`benchmarks._worker`), which
imports the library first (untimed) and then times the calls. ``*_open`` parses
the structure and returns a handle; ``*_window`` and ``*_read`` take that handle
and return the 64-segment window or the whole level-0 array as numpy (samples
last, like tifffile); ``*_local`` opens and reads a local file in one go.

- **tiffzarr**: ``tiffzarr.open_store(series=0, level=0)`` + ``zarr.open_array(mode="r")``,
  zarr slicing. **tiffzarr direct**: the same store, read whole without zarr
  (``tiffzarr.store._direct.read_direct``: the whole read planned, decoded into the output).
- **tifffile**: ``TiffFile(fsspec.open(url).open())`` (``TiffFile(path)`` for local
  files) + ``.series``; windows through tifffile's own zarr store (``aszarr``), full
  reads with ``series.asarray()``. tifffile resolves an OME-TIFF file set from local
  paths only: over fsspec its series has the set's shape, but the planes of every
  file but the first read as zeros (it logs "OME series failed to read ...
  Missing data are zeroed"), so its window and read of a remote set are n/a.
- **GDAL**: ``rasterio.open("/vsicurl/" + url)``, ``read(window=...)``; pages of a
  multi-page file (a stack, an ImageJ hyperstack, the files of an OME set) as
  ``GTIFF_DIR:n:`` datasets, found at open by listing its ``subdatasets`` (GDAL
  itself opens only the first IFD and knows neither ImageJ nor OME axes: the
  plane of each page is worked out here, from the data set's layout). Configured by
  the worker's environment (see :data:`GDAL_ENV`).
- **async-tiff**: ``TIFF.open`` on an obstore ``HTTPStore`` (``LocalStore`` for local
  files), ``fetch_tiles`` + ``Tile.decode``. It reads tiled TIFFs only.
- **tiffslide**: ``TiffSlide(url)`` (fsspec over HTTP, a path locally) and its
  properties and level sizes (its open parses lazily), ``read_region(...,
  as_array=True)``; **openslide**: ``OpenSlide(path)``, ``read_region`` (RGBA; the RGB
  planes are compared), local paths only. Both read the RGB slides (:data:`SLIDES`:
  the COG, the SVS and the NDPI) and have no full read (a slide reader reads regions).

File sequences: tiffzarr opens the whole sequence as one store
(:func:`tiffzarr.open_sequence`: it parses the first file) and slices it;
the plain peers have no sequence store, so their "open" opens the first file
and their window/read tasks read 64/all files, tifffile concurrently
(:data:`SEQ_CONCURRENCY` in flight), GDAL one file after the other. Two peers
read sequences only (:data:`SEQUENCE_READERS`):

- **tifffile sequence**: tifffile's own zarr store over a file sequence,
  ``FileSequence(imread, files, pattern="").aszarr(ioworkers=...)``
  (``TiffSequence(paths).aszarr(...)`` locally; over HTTP ``imread`` is
  ``tifffile.imread(fsspec.open(url))``, as ``TiffSequence`` opens local paths only);
  its open reads the first file (for the shape and dtype), zarr reads one file per chunk,
  :data:`SEQ_CONCURRENCY` at a time.
- **kerchunk**: ``kerchunk.tiff.tiff_to_zarr(url)`` per file (tifffile over fsspec;
  :data:`REFERENCE_CONCURRENCY` files at a time, kerchunk itself has no concurrency),
  each set nested as an array ``image``, combined with ``MultiZarrToZarr(concat_dims=["T"],
  coo_map={"T": "INDEX"})`` and opened with zarr on fsspec's reference filesystem; that is
  its open, and zarr reads the chunks through it.

OME-TIFF file sets: every contender opens the first (master) file; tiffzarr and
tifffile (local paths only) resolve the whole set from its XML, GDAL and async-tiff
open that one file.
"""

from __future__ import annotations

import asyncio
import dataclasses
import math
import urllib.parse
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy

from benchmarks._data import Dataset
from benchmarks._slides import SLIDE_DATASETS

__all__ = [
    "CONTENDERS",
    "GDAL_ENV",
    "LOCAL_CONTENDERS",
    "Contender",
    "Job",
    "NotApplicable",
    "SLIDES",
    "SLIDE_READERS",
    "applicable",
]

SEQ_CONCURRENCY = 10
"""Files tifffile reads at once (``ioworkers``; zarr's default concurrency)."""
REFERENCE_CONCURRENCY = 64
"""Files kerchunk makes references for at once (threads; as many as tiffzarr parses at once)."""

GDAL_ENV = {
    "GDAL_DISABLE_READDIR_ON_OPEN": "EMPTY_DIR",
    "CPL_VSIL_CURL_ALLOWED_EXTENSIONS": ".tif,.svs,.ndpi",
    "GDAL_NUM_THREADS": "ALL_CPUS",
    "GDAL_HTTP_TIMEOUT": "120",
    "GDAL_HTTP_MAX_RETRY": "0",
    "PROJ_NETWORK": "OFF",
}
"""GDAL's configuration in every worker: no directory listing, the data sets' extensions
only, all cores for decoding, no network beyond the file (GDAL's defaults otherwise)."""


SLIDES = ("cog", *SLIDE_DATASETS)
"""The data sets the slide readers (tiffslide, openslide) read: RGB, JPEG, pyramids."""
SLIDE_READERS = ("tiffslide", "openslide")
"""Contenders that read whole slides only (:data:`SLIDES`), regions rather than arrays."""
SEQUENCE_READERS = ("tifffile-seq", "kerchunk")
"""Contenders that read file sequences only."""
SEQUENCES_ONLY = "reads file sequences only"
OPENSLIDE_LOCAL = "openslide reads local paths only"


class NotApplicable(Exception):
    """The contender cannot do this task on this data set (reported as n/a)."""


@dataclasses.dataclass(frozen=True, slots=True)
class Job:
    """What a worker reads: a data set under ``base`` (a loopback URL or a directory)."""

    dataset: Dataset
    base: str

    @property
    def remote(self) -> bool:
        return self.base.startswith("http://")

    def location(self, relpath: str) -> str:
        """URL or local path of a file of the data set."""
        if self.remote:
            return f"{self.base}/{urllib.parse.quote(relpath)}"
        return str(Path(self.base) / relpath)

    @property
    def relpath(self) -> str:
        """The file to open (for sequences and sets, the first file)."""
        ds = self.dataset
        return ds.files[0] if ds.files else ds.path

    @property
    def target(self) -> str:
        """Location of the file to open (for sequences and sets, the first file)."""
        return self.location(self.relpath)

    def files(self, span: tuple[int, int] | None = None) -> list[str]:
        """Locations of the sequence's files ``[start, stop)`` (all when None)."""
        names = self.dataset.files
        if span is not None:
            names = names[span[0] : span[1]]
        return [self.location(name) for name in names]


Open = Callable[[Job], Any]
Read = Callable[[Any, Job], numpy.ndarray]
Local = Callable[[Job], numpy.ndarray]


@dataclasses.dataclass(frozen=True, slots=True)
class Contender:
    """A library and its functions per task (``None``: cannot)."""

    name: str
    label: str
    modules: tuple[str, ...]
    open: Open | None = None
    window: Read | None = None
    read: Read | None = None
    local: Local | None = None


def _samples_last(bands: numpy.ndarray) -> numpy.ndarray:
    """rasterio's ``(bands, y, x)`` as ``(y, x)`` or ``(y, x, bands)``."""
    return bands[0] if bands.shape[0] == 1 else numpy.moveaxis(bands, 0, -1)


# -- tiffzarr -------------------------------------------------------------------


def _lead(array: Any, ds: Dataset) -> tuple[int, ...]:
    """Zeros for leading length-1 axes the array (or array model) has beyond the data
    set's shape."""
    extra = len(array.shape) - len(ds.shape)
    if extra < 0 or any(n != 1 for n in array.shape[:extra]):
        raise ValueError(f"unexpected array shape {array.shape} for {ds.shape}")
    return (0,) * extra


def tiffzarr_open(job: Job) -> Any:
    import zarr

    import tiffzarr

    if job.dataset.kind == "sequence":
        return zarr.open_array(tiffzarr.open_sequence(job.files()), mode="r")
    return zarr.open_array(tiffzarr.open_store(job.target, series=0, level=0), mode="r")


def tiffzarr_window(array: Any, job: Job) -> numpy.ndarray:
    ds = job.dataset
    return numpy.asarray(array[_lead(array, ds) + ds.window_slices])


def tiffzarr_read(array: Any, job: Job) -> numpy.ndarray:
    ds = job.dataset
    return numpy.asarray(array[(*_lead(array, ds), Ellipsis)])


def tiffzarr_local(job: Job) -> numpy.ndarray:
    return tiffzarr_read(tiffzarr_open(job), job)


def tiffzarr_direct_open(job: Job) -> Any:
    import tiffzarr

    if job.dataset.kind == "sequence":
        return tiffzarr.open_sequence(job.files())
    return tiffzarr.open_store(job.target, series=0, level=0)


def tiffzarr_direct_window(store: Any, job: Job) -> numpy.ndarray:
    import tiffzarr

    ds = job.dataset
    lead = _lead(next(iter(store.hierarchy.arrays.values())), ds)
    rest = (slice(None),) * (len(ds.shape) - len(ds.window))
    array = tiffzarr.read_array(
        store, selection=(slice(0, 1),) * len(lead) + ds.window_slices + rest
    )
    return array[lead]


def tiffzarr_direct_read(store: Any, job: Job) -> numpy.ndarray:
    import tiffzarr

    array = tiffzarr.read_array(store)
    return array[(*_lead(array, job.dataset), Ellipsis)]


def tiffzarr_direct_local(job: Job) -> numpy.ndarray:
    return tiffzarr_direct_read(tiffzarr_direct_open(job), job)


# -- tifffile ---------------------------------------------------------------------


@dataclasses.dataclass(slots=True)
class _TifffileHandle:
    file: Any  # the fsspec file; None for a local path
    tif: Any
    series: Any

    def close(self) -> None:
        self.tif.close()
        if self.file is not None:
            self.file.close()


def _tifffile_url(url: str) -> numpy.ndarray:
    import fsspec
    import tifffile

    with fsspec.open(url, mode="rb") as f:
        return tifffile.imread(f)


def _tifffile_files(urls: list[str]) -> numpy.ndarray:
    import tifffile

    sequence = tifffile.FileSequence(_tifffile_url, urls, pattern="")
    return sequence.asarray(ioworkers=SEQ_CONCURRENCY)


TIFFFILE_REMOTE_SET = (
    "tifffile resolves OME file sets from local paths only (over fsspec it zeroes the"
    " planes of all files but the first)"
)


def tifffile_open(job: Job) -> _TifffileHandle:
    import fsspec
    import tifffile

    if not job.remote:
        tif = tifffile.TiffFile(job.target)
        file = None
    else:
        file = fsspec.open(job.target, mode="rb").open()
        tif = tifffile.TiffFile(file)
    series = tif.series[0]
    series.shape  # noqa: B018 - the series is parsed lazily
    return _TifffileHandle(file, tif, series)


def tifffile_window(handle: _TifffileHandle, job: Job) -> numpy.ndarray:
    import zarr

    ds = job.dataset
    if ds.kind == "sequence":
        return _tifffile_files(job.files(ds.window[0]))
    if ds.kind == "fileset" and job.remote:
        raise NotApplicable(TIFFFILE_REMOTE_SET)
    array = zarr.open(handle.tif.aszarr(series=0, level=0), mode="r")
    return numpy.asarray(array[ds.window_slices])


def tifffile_read(handle: _TifffileHandle, job: Job) -> numpy.ndarray:
    ds = job.dataset
    if ds.kind == "sequence":
        return _tifffile_files(job.files())
    if ds.kind == "fileset" and job.remote:
        raise NotApplicable(TIFFFILE_REMOTE_SET)
    return handle.series.levels[0].asarray()


def tifffile_local(job: Job) -> numpy.ndarray:
    import tifffile

    return tifffile.imread(job.target)


def tifffile_zarr_local(job: Job) -> numpy.ndarray:
    import tifffile
    import zarr

    return numpy.asarray(zarr.open(tifffile.imread(job.target, aszarr=True), mode="r")[...])


def _sequence_only(job: Job) -> None:
    if job.dataset.kind != "sequence":
        raise NotApplicable(SEQUENCES_ONLY)


def tifffile_seq_open(job: Job) -> Any:
    import tifffile
    import zarr

    _sequence_only(job)
    if job.remote:
        files = tifffile.FileSequence(_tifffile_url, job.files(), pattern="")
    else:
        files = tifffile.TiffSequence(job.files(), pattern="")
    return zarr.open(files.aszarr(ioworkers=SEQ_CONCURRENCY), mode="r")


def kerchunk_open(job: Job) -> Any:
    from concurrent.futures import ThreadPoolExecutor

    import fsspec
    import zarr
    from kerchunk.combine import MultiZarrToZarr
    from kerchunk.tiff import tiff_to_zarr
    from zarr.storage import FsspecStore

    _sequence_only(job)

    def nested(url: str) -> dict[str, Any]:  # MultiZarrToZarr combines arrays of groups
        refs = tiff_to_zarr(url)
        return {".zgroup": '{"zarr_format": 2}', **{f"image/{k}": v for k, v in refs.items()}}

    with ThreadPoolExecutor(REFERENCE_CONCURRENCY) as pool:
        parts = list(pool.map(nested, job.files()))
    combined = MultiZarrToZarr(
        parts,
        concat_dims=["T"],
        coo_map={"T": "INDEX"},
        remote_protocol="http" if job.remote else "file",
    ).translate()
    fs = fsspec.filesystem(
        "reference",
        fo=combined,
        remote_protocol="http" if job.remote else "file",
        remote_options={"asynchronous": True} if job.remote else None,
        asynchronous=True,
    )
    store = FsspecStore(fs, read_only=True, path="")
    return zarr.open_group(store, mode="r", zarr_format=2)["image"]


# -- GDAL (rasterio) ---------------------------------------------------------------


def _gdal_path(job: Job, location: str) -> str:
    return f"/vsicurl/{location}" if job.remote else location


def _gdal_planes(job: Job, *, window: bool) -> numpy.ndarray:
    """The planes of the window (or all), one ``GTIFF_DIR:n:`` dataset per page."""
    import rasterio

    ds = job.dataset
    planes = []
    for relpath, page in ds.planes(window=window):
        with rasterio.open(f"GTIFF_DIR:{page + 1}:{_gdal_path(job, job.location(relpath))}") as src:
            planes.append(src.read(1))
    return numpy.stack(planes).reshape(ds.window_shape if window else ds.shape)


def _gdal_files(job: Job, locations: list[str]) -> numpy.ndarray:
    import rasterio

    images = []
    for location in locations:
        with rasterio.open(_gdal_path(job, location)) as src:
            images.append(src.read(1))
    return numpy.stack(images)


def gdal_open(job: Job) -> Any:
    import rasterio

    src = rasterio.open(_gdal_path(job, job.target))
    # GDAL opens page 1 only; listing the pages (each a subdataset) finds the rest
    ds = job.dataset
    if ds.kind in ("stack", "fileset") and len(src.subdatasets) != ds.pages_per_file:
        raise ValueError(f"GDAL lists {len(src.subdatasets)} pages, not {ds.pages_per_file}")
    return src


def gdal_window(src: Any, job: Job) -> numpy.ndarray:
    from rasterio.windows import Window

    ds = job.dataset
    if ds.kind in ("stack", "fileset"):
        return _gdal_planes(job, window=True)
    if ds.kind == "sequence":
        return _gdal_files(job, job.files(ds.window[0]))
    (y0, y1), (x0, x1) = ds.window
    return _samples_last(src.read(window=Window(x0, y0, x1 - x0, y1 - y0)))


def gdal_read(src: Any, job: Job) -> numpy.ndarray:
    ds = job.dataset
    if ds.kind in ("stack", "fileset"):
        return _gdal_planes(job, window=False)
    if ds.kind == "sequence":
        return _gdal_files(job, job.files())
    return _samples_last(src.read())


def gdal_local(job: Job) -> numpy.ndarray:
    import rasterio

    with rasterio.open(job.target) as src:
        return _samples_last(src.read())


# -- async-tiff ------------------------------------------------------------------


@dataclasses.dataclass(slots=True)
class _AsyncTiffHandle:
    loop: asyncio.AbstractEventLoop
    tiff: Any

    def close(self) -> None:
        self.loop.close()


def async_tiff_open(job: Job) -> _AsyncTiffHandle:
    from async_tiff import TIFF
    from obstore.store import HTTPStore, LocalStore

    if job.dataset.kind == "sequence":
        raise NotApplicable("async-tiff reads tiled TIFFs only")
    if job.remote:
        store: Any = HTTPStore.from_url(job.base, client_options={"allow_http": True})
    else:
        store = LocalStore(job.base)

    async def open_tiff() -> Any:
        return await TIFF.open(job.relpath, store=store)

    loop = asyncio.new_event_loop()
    return _AsyncTiffHandle(loop, loop.run_until_complete(open_tiff()))


async def _async_tiff_tiles(
    tiff: Any, ds: Dataset, rows: tuple[int, int], cols: tuple[int, int]
) -> numpy.ndarray:
    ifd = tiff.ifds[0]
    if ifd.tile_count is None:
        raise NotApplicable("async-tiff reads tiled TIFFs only")
    th, tw = ifd.tile_height, ifd.tile_width
    ys = range(rows[0] // th, math.ceil(rows[1] / th))
    xs = range(cols[0] // tw, math.ceil(cols[1] / tw))
    tiles = await tiff.fetch_tiles([(x, y) for y in ys for x in xs], 0)
    places = [(tile.y * th - rows[0], tile.x * tw - cols[0]) for tile in tiles]
    decoded = await asyncio.gather(*(tile.decode() for tile in tiles))
    out = numpy.empty((rows[1] - rows[0], cols[1] - cols[0], *ds.shape[2:]), ds.dtype)
    for (y, x), data in zip(places, decoded, strict=True):
        block = numpy.asarray(data)
        block = block.reshape(block.shape[:2] + out.shape[2:])
        oy, ox = max(y, 0), max(x, 0)
        ey, ex = min(y + th, out.shape[0]), min(x + tw, out.shape[1])
        out[oy:ey, ox:ex] = block[oy - y : ey - y, ox - x : ex - x]
    return out


def async_tiff_window(handle: _AsyncTiffHandle, job: Job) -> numpy.ndarray:
    ds = job.dataset
    if ds.kind != "tiled":
        raise NotApplicable("async-tiff reads tiled TIFFs only")
    rows, cols = ds.window
    return handle.loop.run_until_complete(_async_tiff_tiles(handle.tiff, ds, rows, cols))


def async_tiff_read(handle: _AsyncTiffHandle, job: Job) -> numpy.ndarray:
    ds = job.dataset
    if ds.kind != "tiled":
        raise NotApplicable("async-tiff reads tiled TIFFs only")
    full = ((0, ds.shape[0]), (0, ds.shape[1]))
    return handle.loop.run_until_complete(_async_tiff_tiles(handle.tiff, ds, *full))


def async_tiff_local(job: Job) -> numpy.ndarray:
    handle = async_tiff_open(job)
    try:
        return async_tiff_read(handle, job)
    finally:
        handle.close()


# -- whole-slide readers ---------------------------------------------------------------


def _slide_only(name: str, ds: Dataset) -> None:
    if ds.name not in SLIDES:
        raise NotApplicable(f"{name} reads the RGB slides here ({', '.join(SLIDES)})")


def _region(ds: Dataset) -> tuple[tuple[int, int], tuple[int, int]]:
    """The window as a slide reader's ``(x, y)`` location and ``(width, height)`` size."""
    (y0, y1), (x0, x1) = ds.window
    return (x0, y0), (x1 - x0, y1 - y0)


def tiffslide_open(job: Job) -> Any:
    import tiffslide

    _slide_only("tiffslide", job.dataset)
    slide = tiffslide.TiffSlide(job.target)
    slide.properties  # noqa: B018 - parsed lazily: the vendor, its metadata, the levels
    slide.level_dimensions  # noqa: B018
    return slide


def tiffslide_window(slide: Any, job: Job) -> numpy.ndarray:
    location, size = _region(job.dataset)
    return numpy.asarray(slide.read_region(location, 0, size, as_array=True))


def openslide_open(job: Job) -> Any:
    import openslide

    _slide_only("openslide", job.dataset)
    if job.remote:
        raise NotApplicable(OPENSLIDE_LOCAL)
    return openslide.OpenSlide(job.target)


def openslide_window(slide: Any, job: Job) -> numpy.ndarray:
    location, size = _region(job.dataset)
    rgba = numpy.asarray(slide.read_region(location, 0, size))
    return rgba[..., :3]


# -- the table ----------------------------------------------------------------------

_CONTENDERS = [
    Contender(
        "tiffzarr",
        "tiffzarr (zarr)",
        ("tiffzarr", "zarr"),
        tiffzarr_open,
        tiffzarr_window,
        tiffzarr_read,
        tiffzarr_local,
    ),
    Contender(
        "tiffzarr-direct",
        "tiffzarr direct",
        ("tiffzarr",),
        tiffzarr_direct_open,
        tiffzarr_direct_window,
        tiffzarr_direct_read,
        local=tiffzarr_direct_local,
    ),
    Contender(
        "tifffile",
        "tifffile + fsspec",
        ("tifffile", "fsspec", "zarr", "aiohttp"),
        tifffile_open,
        tifffile_window,
        tifffile_read,
        tifffile_local,
    ),
    Contender(
        "tifffile-zarr",
        "tifffile aszarr",
        ("tifffile", "zarr"),
        local=tifffile_zarr_local,
    ),
    Contender(
        "tifffile-seq",
        "tifffile sequence",
        ("tifffile", "fsspec", "zarr", "aiohttp"),
        tifffile_seq_open,
        tiffzarr_window,
        tiffzarr_read,
    ),
    Contender(
        "kerchunk",
        "kerchunk",
        ("kerchunk.tiff", "kerchunk.combine", "fsspec", "zarr", "aiohttp"),
        kerchunk_open,
        tiffzarr_window,
        tiffzarr_read,
    ),
    Contender(
        "gdal",
        "GDAL (rasterio)",
        ("rasterio",),
        gdal_open,
        gdal_window,
        gdal_read,
        gdal_local,
    ),
    Contender(
        "async-tiff",
        "async-tiff + obstore",
        ("async_tiff", "obstore"),
        async_tiff_open,
        async_tiff_window,
        async_tiff_read,
        async_tiff_local,
    ),
    Contender(
        "tiffslide",
        "tiffslide",
        ("tiffslide", "fsspec", "aiohttp"),
        tiffslide_open,
        tiffslide_window,
    ),
    Contender("openslide", "openslide (local)", ("openslide",), openslide_open, openslide_window),
]
CONTENDERS = {c.name: c for c in _CONTENDERS}
"""Every contender by name."""

LOCAL_CONTENDERS = (
    "tiffzarr",
    "tiffzarr-direct",
    "tifffile",
    "tifffile-zarr",
    "gdal",
    "async-tiff",
)
REMOTE_CONTENDERS = ("tiffzarr", "tiffzarr-direct", "tifffile", "gdal", "async-tiff")


def applicable(contender: str, ds: Dataset, task: str, *, remote: bool = True) -> str | None:
    """Why ``contender`` cannot do ``task`` on ``ds`` (None when it can), known beforehand;
    ``remote``: over HTTP (else from local paths)."""
    if contender in SEQUENCE_READERS and ds.kind != "sequence":
        return f"{contender} {SEQUENCES_ONLY}"
    if contender in SLIDE_READERS:
        if ds.name not in SLIDES:
            return f"{contender} reads the RGB slides here ({', '.join(SLIDES)})"
        if contender == "openslide" and remote:
            return OPENSLIDE_LOCAL
    if getattr(CONTENDERS[contender], task) is None:
        return f"{contender} has no {task} here"
    if contender == "tifffile" and ds.kind == "fileset" and remote and task in ("window", "read"):
        return TIFFFILE_REMOTE_SET
    if contender == "async-tiff":
        if ds.kind == "sequence":
            return "async-tiff reads tiled TIFFs only"
        if task in ("window", "read", "local") and ds.kind != "tiled":
            return "async-tiff reads tiled TIFFs only"
    return None
