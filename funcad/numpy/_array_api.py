"""DLPack import and the array API inspection namespace (jax.numpy's names)."""

from __future__ import annotations

from typing import Any

import numpy as np

from funcad._array import CPU, CpuDevice, wrap
from funcad._core import Tracer

_DL_CPU = 1     # DLDeviceType kDLCPU


def _check_device(device: Any, what: str) -> None:
    if device is None or isinstance(device, CpuDevice) or device == "cpu":
        return
    raise ValueError(f"{what}: funcad computes on one device, CpuDevice(id=0) (also None "
                     f"or 'cpu'); got device={device!r}")


def from_dlpack(x: Any, /, *, device: Any = None, copy: bool | None = None) -> Any:
    """An Array from an object with `__dlpack__` and `__dlpack_device__` on the CPU.

    As jax.numpy.from_dlpack: without a copy (copy=None or False) the result shares the
    producer's memory, so writing into that memory later changes the Array (DLPack cannot
    mark memory immutable); copy=True copies. `device` may be None or funcad's one device.

    >>> import numpy as np, funcad.numpy as fnp
    >>> fnp.from_dlpack(np.arange(3.0))
    Array([0., 1., 2.], dtype=float64)
    """
    _check_device(device, "from_dlpack")
    if isinstance(x, Tracer):
        raise TypeError("from_dlpack takes a concrete array from another library, not a "
                        "traced value; use funcad.numpy.asarray inside transforms")
    if not (hasattr(x, "__dlpack__") and hasattr(x, "__dlpack_device__")):
        raise TypeError("The array passed to from_dlpack must have __dlpack__ and "
                        f"__dlpack_device__ methods; got {type(x).__name__}")
    dev_type, _ = x.__dlpack_device__()
    if int(dev_type) != _DL_CPU:
        raise TypeError(f"from_dlpack: the array is on DLPack device type {int(dev_type)}; "
                        f"funcad takes CPU arrays only (type {_DL_CPU})")
    if copy is not None and not isinstance(copy, (bool, np.bool_)):
        raise TypeError(f"from_dlpack: copy must be True, False or None, got {copy!r}")
    arr = np.from_dlpack(x, copy=None if copy is None else bool(copy))
    return wrap(arr)


_KINDS = {
    "bool": ("bool",),
    "signed integer": ("int8", "int16", "int32", "int64"),
    "unsigned integer": ("uint8", "uint16", "uint32", "uint64"),
    "real floating": ("float32", "float64"),
    "complex floating": ("complex64", "complex128"),
}
_KINDS["integral"] = _KINDS["signed integer"] + _KINDS["unsigned integer"]
_KINDS["numeric"] = (_KINDS["integral"] + _KINDS["real floating"]
                     + _KINDS["complex floating"])


class ArrayNamespaceInfo:
    """The array API inspection namespace of funcad.numpy (as jax.numpy's, with 64-bit
    types on, which funcad always has)."""

    _capabilities = {
        "boolean indexing": False,       # (on concrete values only, as in JAX)
        "data-dependent shapes": False,  # (not inside transforms)
        "max dimensions": 64,
    }

    def capabilities(self) -> dict:
        """What the library supports: boolean indexing, data-dependent shapes, ranks."""
        return dict(self._capabilities)

    def default_device(self) -> None:
        """None, as JAX: arrays are not committed to a device."""
        return None

    def devices(self) -> list:
        """None (uncommitted) and the one device, `CpuDevice(id=0)`, as JAX lists them."""
        return [None, CPU]

    def default_dtypes(self, *, device: Any = None) -> dict:
        """The dtypes of new arrays: float64, complex128, int64 (funcad is always x64)."""
        _check_device(device, "default_dtypes")
        i = np.dtype(np.int64)
        return {"real floating": np.dtype(np.float64),
                "complex floating": np.dtype(np.complex128), "integral": i, "indexing": i}

    def dtypes(self, *, device: Any = None, kind: str | tuple[str, ...] | None = None
               ) -> dict:
        """The array API dtypes by name, all or of a kind (or tuple of kinds)."""
        _check_device(device, "dtypes")
        kinds = ("numeric", "bool") if kind is None else (
            kind if isinstance(kind, tuple) else (kind,))
        out = {}
        for k in kinds:
            if k not in _KINDS:
                raise ValueError(f"dtypes: unknown kind {k!r}; the kinds are "
                                 f"{', '.join(map(repr, _KINDS))}")
            out.update((name, np.dtype(name)) for name in _KINDS[k])
        return out


def __array_namespace_info__() -> ArrayNamespaceInfo:
    """The array API inspection namespace (capabilities, devices, dtypes)."""
    return ArrayNamespaceInfo()
