"""Read PyTorch pickles (torch.save zip files) without executing them.

Official Pix2NeRF and pi-GAN checkpoints pickle whole modules. This unpickler resolves only an allow-list of
globals: tensor and storage rebuilding, plain containers, and module classes, which become `InertModule`
stand-ins that merely hold their attributes. Any other global (os.system, builtins.eval, ...) is refused
before anything runs, with an error naming it.
"""

from __future__ import annotations

import collections
import io
import pickle
import zipfile
from pathlib import Path
from typing import Any, Iterable, Iterator

import torch

STORAGE_DTYPES = {
    "FloatStorage": torch.float32, "DoubleStorage": torch.float64, "HalfStorage": torch.float16,
    "BFloat16Storage": torch.bfloat16, "LongStorage": torch.int64, "IntStorage": torch.int32,
    "ShortStorage": torch.int16, "CharStorage": torch.int8, "ByteStorage": torch.uint8, "BoolStorage": torch.bool,
    "UntypedStorage": torch.uint8,
}
SAFE_CALLABLES = {
    ("collections", "OrderedDict"): collections.OrderedDict,
    ("builtins", "set"): set,
    ("__builtin__", "set"): set,
    ("torch", "device"): torch.device,
    ("torch._utils", "_rebuild_tensor_v2"): torch._utils._rebuild_tensor_v2,
    ("torch._utils", "_rebuild_parameter"): torch._utils._rebuild_parameter,
}


class UnsafePickleError(ValueError):
    """The pickle names a global outside the allow-list; nothing from it was run."""


class InertModule:
    """Stand-in for a pickled nn.Module (or other allowed object): holds its state, runs no code of its own."""

    _qualified_name = "InertModule"

    def __setstate__(self, state: Any) -> None:
        if isinstance(state, dict):
            self.__dict__.update(state)
        else:
            self.__dict__["_state"] = state

    def __repr__(self) -> str:
        return f"<inert {self._qualified_name}>"

    def named_parameters(self, prefix: str = "") -> Iterator[tuple[str, torch.Tensor]]:
        """Parameters in the order nn.Module.parameters() gives them: own first, then children depth-first."""
        for name, value in self.__dict__.get("_parameters", {}).items():
            if value is not None:
                yield prefix + name, value
        for name, child in self.__dict__.get("_modules", {}).items():
            if isinstance(child, InertModule):
                yield from child.named_parameters(f"{prefix}{name}.")

    def state_dict(self) -> dict[str, torch.Tensor]:
        """Parameters and persistent buffers by their dotted names, like nn.Module.state_dict()."""
        state = {name: value.detach() for name, value in self.named_parameters()}
        state.update(self._named_buffers())
        return state

    def _named_buffers(self, prefix: str = "") -> dict[str, torch.Tensor]:
        buffers = {prefix + n: b for n, b in self.__dict__.get("_buffers", {}).items() if b is not None}
        for name, child in self.__dict__.get("_modules", {}).items():
            if isinstance(child, InertModule):
                buffers.update(child._named_buffers(f"{prefix}{name}."))
        return buffers


class _StorageType:
    def __init__(self, dtype: torch.dtype) -> None:
        self.dtype = dtype


class _AllowListUnpickler(pickle.Unpickler):
    def __init__(self, file: io.BytesIO, archive: zipfile.ZipFile, prefix: str, module_prefixes: tuple[str, ...]) -> None:
        super().__init__(file)
        self._archive = archive
        self._prefix = prefix
        self._module_prefixes = module_prefixes
        self._stand_ins: dict[str, type] = {}

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in SAFE_CALLABLES:
            return SAFE_CALLABLES[(module, name)]
        if module == "torch" and name in STORAGE_DTYPES:
            return _StorageType(STORAGE_DTYPES[name])
        if any(module == p or module.startswith(p + ".") for p in self._module_prefixes) and name.isidentifier() and name[0].isupper():
            key = f"{module}.{name}"
            if key not in self._stand_ins:
                self._stand_ins[key] = type(name, (InertModule,), {"_qualified_name": key})
            return self._stand_ins[key]
        raise UnsafePickleError(f"refusing to load: the pickle names the global {module}.{name}, which is not allowed")

    def persistent_load(self, saved_id: Any) -> Any:
        if not (isinstance(saved_id, tuple) and saved_id and saved_id[0] == "storage"):
            raise UnsafePickleError(f"refusing to load: unexpected persistent id {saved_id!r}")
        storage_type, key = saved_id[1], saved_id[2]
        dtype = storage_type.dtype if isinstance(storage_type, _StorageType) else None
        if dtype is None:
            raise UnsafePickleError(f"refusing to load: unexpected storage type {storage_type!r}")
        data = bytearray(self._archive.read(f"{self._prefix}data/{key}"))
        untyped = torch.UntypedStorage.from_buffer(data, dtype=torch.uint8) if data else torch.UntypedStorage(0)
        return torch.storage.TypedStorage(wrap_storage=untyped, dtype=dtype, _internal=True)


def safe_load(path: str | Path, module_prefixes: Iterable[str] = ("torch.nn.modules",)) -> Any:
    """Unpickle a torch.save zip file, allowing module classes only under `module_prefixes`.

    Raises FileNotFoundError, ValueError for a file that is not a torch zip checkpoint or is truncated,
    and UnsafePickleError (a ValueError) for a disallowed global.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {path}")
    try:
        archive = zipfile.ZipFile(path)
        pickles = [n for n in archive.namelist() if n.endswith("data.pkl")]
    except (zipfile.BadZipFile, OSError) as error:
        raise ValueError(
            f"{path} is not a PyTorch zip checkpoint (torch.save since torch 1.6) or is truncated ({error})"
        ) from None
    if len(pickles) != 1:
        raise ValueError(f"{path} holds {len(pickles)} data.pkl records; expected one (a torch.save file)")
    prefix = pickles[0][: -len("data.pkl")]
    try:
        with archive:
            unpickler = _AllowListUnpickler(io.BytesIO(archive.read(pickles[0])), archive, prefix, tuple(module_prefixes))
            return unpickler.load()
    except UnsafePickleError:
        raise
    except (pickle.UnpicklingError, EOFError, KeyError, zipfile.BadZipFile, OSError, RuntimeError) as error:
        raise ValueError(f"{path} is corrupt or truncated: {type(error).__name__}: {error}") from None
