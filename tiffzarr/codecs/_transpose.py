"""A numcodecs filter that transposes chunks, for zarr v2 arrays served in another
axis order than their segments are stored in (zarr v3 has its own ``transpose``
codec).

>>> import numpy as np
>>> f = TransposeFilter(shape=(2, 3), order=(1, 0))
>>> f.decode(np.arange(6, dtype="u1")).tolist()
[[0, 3], [1, 4], [2, 5]]
>>> f.decode(f.encode(np.arange(6, dtype="u1").reshape(3, 2))).tolist()
[[0, 1], [2, 3], [4, 5]]
>>> TransposeFilter.from_config(f.get_config()) == f
True
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from numcodecs.abc import Codec
from numcodecs.compat import ensure_ndarray, ndarray_copy

__all__ = ["TransposeFilter"]


class TransposeFilter(Codec):
    """Decode: the stored chunk of ``shape``, transposed so that dimension ``i`` of the
    result is dimension ``order[i]`` of the stored chunk. Encode: the inverse.

    Parameters
    ----------
    shape
        The chunk shape in stored order.
    order
        The served order of the stored dimensions.
    """

    codec_id = "tiffzarr.transpose"

    def __init__(self, shape: Sequence[int], order: Sequence[int]) -> None:
        self.shape = tuple(int(n) for n in shape)
        self.order = tuple(int(i) for i in order)
        if sorted(self.order) != list(range(len(self.shape))):
            raise ValueError(f"{self.order} is not an order of {len(self.shape)} dimensions")

    def get_config(self) -> dict[str, Any]:
        return {"id": self.codec_id, "shape": list(self.shape), "order": list(self.order)}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> TransposeFilter:
        return cls(shape=config["shape"], order=config["order"])

    def decode(self, buf: Any, out: Any = None) -> Any:
        array = ensure_ndarray(buf).reshape(self.shape).transpose(self.order)
        result = np.ascontiguousarray(array)
        return result if out is None else ndarray_copy(result, out)

    def encode(self, buf: Any) -> Any:
        served = tuple(self.shape[d] for d in self.order)
        inverse = np.argsort(self.order)
        return np.ascontiguousarray(np.asarray(buf).reshape(served).transpose(inverse))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, TransposeFilter) and other.get_config() == self.get_config()

    def __hash__(self) -> int:
        return hash((self.shape, self.order))

    def __repr__(self) -> str:
        return f"{type(self).__name__}(shape={self.shape}, order={self.order})"
