"""The VirtualiZarr parser: a TIFF's URL and an object-store registry → ``ManifestStore``."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from obspec_utils.registry import ObjectStoreRegistry
from virtualizarr.manifests import ManifestStore

from tiffzarr._check import check_arguments
from tiffzarr._sync import run_sync
from tiffzarr.io._urls import absolute_url, protocol_of
from tiffzarr.refs import CodecChoice
from tiffzarr.store import open_store
from tiffzarr.virtualizarr._manifest import manifest_store

__all__ = ["TiffParser"]


@dataclass(frozen=True, slots=True, kw_only=True)
class TiffParser:
    """Parse a TIFF into a VirtualiZarr ``ManifestStore`` (a VirtualiZarr ``Parser``).

    The file is parsed by tiffzarr (its own readers for local files, HTTP and
    fsspec URLs, with ``storage_options``); the ``registry`` is what the
    ``ManifestStore`` reads chunks through. The options are those of
    :func:`tiffzarr.open_store`: without ``series`` and ``level`` the manifest is
    the whole OME-Zarr hierarchy (series groups holding level arrays), with
    ``series`` one multiscale image group, and with ``level`` one array, named
    ``image`` in the root group. An xarray Dataset is one group whose dimensions
    have one length each, so ``open_virtual_dataset`` needs ``level`` for a
    pyramid (its levels share the NGFF axis names).

    Parameters
    ----------
    series, level, squeeze, storage_options
        As for :func:`tiffzarr.open_store`.
    codecs
        ``"portable"`` (standard zarr v3 codecs wherever they are exact, tiffzarr's
        codec elsewhere) or ``"tiffzarr"``; see :func:`manifest_store`.

    Examples
    --------
    >>> import numpy, tempfile, os, tiffzarr, virtualizarr
    >>> from obspec_utils.registry import ObjectStoreRegistry
    >>> path = os.path.join(tempfile.mkdtemp(), "a.tif")
    >>> tiffzarr.write(path, numpy.zeros((64, 64), "uint16"), tile=(32, 32),
    ...                compression="zstd")
    >>> vds = virtualizarr.open_virtual_dataset(
    ...     path, registry=ObjectStoreRegistry(), parser=TiffParser(level=0))
    >>> vds["image"].data.manifest.shape_chunk_grid
    (2, 2)
    """

    series: int | None = None
    level: int | None = None
    squeeze: bool | None = None
    storage_options: Mapping[str, Any] | None = None
    codecs: CodecChoice = "portable"

    def __post_init__(self) -> None:
        check_arguments(
            series=self.series, level=self.level, squeeze=self.squeeze, codecs=self.codecs
        )

    def __call__(self, url: str, registry: ObjectStoreRegistry[Any]) -> ManifestStore:
        """The ``ManifestStore`` of the TIFF at ``url`` (keyword names as the
        ``Parser`` protocol has them: VirtualiZarr passes them by name)."""
        return run_sync(self._parse(url, registry))

    async def _parse(self, url: str, registry: ObjectStoreRegistry[Any]) -> ManifestStore:
        options = None if self.storage_options is None else dict(self.storage_options)
        if protocol_of(url) == "file":  # VirtualiZarr passes local paths percent-encoded
            url = absolute_url(url)
        store = await open_store(
            url,
            series=self.series,
            level=self.level,
            squeeze=self.squeeze,
            storage_options=options,
        )
        return await manifest_store(store, registry=registry, codecs=self.codecs)
