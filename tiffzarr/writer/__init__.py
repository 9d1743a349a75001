"""Writing TIFF files."""

from tiffzarr.writer._pyramid import downsample, write_pyramid

__all__ = ["downsample", "write_pyramid"]
