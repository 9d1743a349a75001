"""Errors and warnings raised by tiffzarr.

Every error is a :class:`TiffZarrError` and also inherits the builtin exception a
caller would naturally catch (``ValueError``, ``OSError``, ``FileNotFoundError``,
``NotImplementedError``). Messages say where the problem is: the URL, the IFD,
the tag and the byte offset, whichever apply.

>>> err = TiffFormatError("tag value runs past the end of the file",
...                       url="a.tif", ifd=2, tag=273, offset=1234)
>>> print(err)
tag value runs past the end of the file (a.tif, IFD 2, tag 273 StripOffsets, offset 1234)
>>> isinstance(err, ValueError)
True
"""

from __future__ import annotations

import re

__all__ = [
    "ChunkDecodeError",
    "ChunkEncodeError",
    "IfdCycleError",
    "LimitError",
    "NotFoundError",
    "ReadOnlyError",
    "RefsError",
    "SequenceError",
    "SequenceGapWarning",
    "SourceChangedError",
    "SourceError",
    "SourceNotFoundError",
    "TiffFormatError",
    "TiffFormatWarning",
    "TiffZarrError",
    "TiffZarrWarning",
    "UnsupportedCompressionError",
    "UnsupportedError",
    "WriteError",
]


def _tag_label(tag: int) -> str:
    from tiffzarr.format._tags import tag_name

    name = tag_name(tag)
    return f"tag {tag} {name}" if name != str(tag) else f"tag {tag}"


def _names(message: str, place: str) -> bool:
    """Whether ``message`` names ``place`` as a whole (not as part of a longer name
    or number).

    >>> _names("no such file (a.tif, offset 8)", "offset 8"), _names("at offset 80", "offset 8")
    (True, False)
    >>> _names("cannot open /d/a.tif.json", "/d/a.tif"), _names("cannot open /d/a.tif", "/d/a.tif")
    (False, True)
    """
    pattern = rf"(?<![\w/.-]){re.escape(place)}(?![\w/-]|\.\w)"
    return re.search(pattern, message) is not None


class TiffZarrError(Exception):
    """Base class of all tiffzarr errors.

    Parameters
    ----------
    message
        What went wrong.
    url, ifd, tag, offset, key
        Where it went wrong; each is optional and kept as an attribute.
    """

    def __init__(
        self,
        message: str,
        /,
        *,
        url: str | None = None,
        ifd: int | str | None = None,
        tag: int | None = None,
        offset: int | None = None,
        key: str | None = None,
    ) -> None:
        self.message = message
        self.url = url
        self.ifd = ifd
        self.tag = tag
        self.offset = offset
        self.key = key
        super().__init__(self._compose())

    def _compose(self) -> str:
        """The message and where it happened, each place once: a place the message
        already names (it wraps another error's text) is not appended again."""
        where = []
        if self.url is not None:
            where.append(self.url)
        if self.key is not None:
            where.append(f"chunk {self.key!r}")
        if self.ifd is not None:
            where.append(f"IFD {self.ifd}")
        if self.tag is not None:
            where.append(_tag_label(self.tag))
        if self.offset is not None:
            where.append(f"offset {self.offset}")
        where = [part for part in where if not _names(self.message, part)]
        return f"{self.message} ({', '.join(where)})" if where else self.message

    def located(
        self,
        *,
        url: str | None = None,
        ifd: int | str | None = None,
        tag: int | None = None,
        offset: int | None = None,
        key: str | None = None,
    ) -> TiffZarrError:
        """A copy of this error with the location fields it lacks filled in.

        >>> TiffFormatError("bad", tag=256).located(url="a.tif", ifd=0).args[0]
        'bad (a.tif, IFD 0, tag 256 ImageWidth)'
        """
        new = type(self)(
            self.message,
            url=self.url if self.url is not None else url,
            ifd=self.ifd if self.ifd is not None else ifd,
            tag=self.tag if self.tag is not None else tag,
            offset=self.offset if self.offset is not None else offset,
            key=self.key if self.key is not None else key,
        )
        new.__cause__ = self.__cause__
        return new

    def __reduce__(self) -> tuple[object, ...]:
        # Keyword-only location fields must survive pickling (dask workers).
        state = {k: getattr(self, k) for k in ("url", "ifd", "tag", "offset", "key")}
        return (_rebuild, (type(self), self.message, state))


def _rebuild(cls: type[TiffZarrError], message: str, state: dict[str, object]) -> TiffZarrError:
    return cls(message, **state)  # type: ignore[arg-type]


class TiffFormatError(TiffZarrError, ValueError):
    """The bytes are not a valid TIFF structure (header, IFD, tag, value)."""


class IfdCycleError(TiffFormatError):
    """An IFD offset was reached a second time (a loop in the IFD chain or tree)."""


class LimitError(TiffFormatError):
    """A count or size exceeds a hard cap or the size of the file."""


class SourceError(TiffZarrError, OSError):
    """Reading bytes failed or returned something other than what was asked for."""


class SourceNotFoundError(SourceError, FileNotFoundError):
    """The file or URL does not exist."""


class SourceChangedError(SourceError):
    """The file is no longer the one that was parsed (replaced, rewritten, new version).

    Raised instead of returning bytes of another version; open the file again to
    read the new one.
    """


class UnsupportedError(TiffZarrError, NotImplementedError):
    """A valid TIFF feature that tiffzarr cannot handle."""


class UnsupportedCompressionError(UnsupportedError):
    """No codec can decode (or encode) this TIFF compression."""


class ChunkDecodeError(TiffZarrError, ValueError):
    """A segment's bytes could not be decoded into the chunk they should hold."""


class NotFoundError(TiffZarrError, LookupError):
    """A page, series, level or key that the file does not have."""


class ReadOnlyError(TiffZarrError, PermissionError):
    """A write was attempted on a read-only store."""


class TiffZarrWarning(UserWarning):
    """Base class of tiffzarr warnings."""


class TiffFormatWarning(TiffZarrWarning):
    """A recoverable defect in a file: something was ignored or repaired."""


class ChunkEncodeError(TiffZarrError, ValueError):
    """A segment could not be encoded (the codec refused the data or its options)."""


class WriteError(TiffZarrError, OSError):
    """Writing a file failed (unwritable target, full disk, ...); no partial file was left.

    ``errno`` is copied from the operating system's error when there is one.
    """


class RefsError(TiffZarrError, ValueError):
    """A reference set (kerchunk JSON or parquet) is malformed, or points where it may not.

    The message names the reference key (``chunk '0.0'``) that is at fault.
    """


class SequenceError(TiffZarrError, ValueError):
    """Files that do not make a sequence: a name the pattern does not match, names that
    give other axes, or two files at the same index (the message names the files)."""


class SequenceGapWarning(TiffZarrWarning):
    """A sequence's file names leave cells of its grid without a file; they read as fill."""
