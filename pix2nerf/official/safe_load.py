"""Read PyTorch pickles (torch.save zip files) of the official releases without executing them, within limits.

`safe_load` reads a file in three steps, each refusing what it cannot vouch for, before anything large is allocated:

1. the archive (zipfile's central directory, nothing decompressed): the file size, the number of records, every
   record stored uncompressed with sizes inside the file, one data.pkl within the pickle limit, a little-endian
   byte-order record;
2. the pickle's opcodes (pickletools, nothing run): every global it names is a tensor/storage rebuild function, a
   plain container, or a class under the given module prefixes (which loads as an `InertModule` stand-in); any
   other global (os.system, builtins.eval, functools.partial, torch.load, ...) is refused with an error naming it;
   INST, OBJ and the extension registry are refused; objects and storage references are counted;
3. `torch.load(weights_only=True)` with the stand-ins allowed through `torch.serialization.safe_globals`, on the CPU;
   storages are read once each however often they are referenced; then every tensor's shape is checked (zero-element
   tensors included).

The limits are pix2nerf.limits' checkpoint_bytes, archive_records, pickle_bytes, pickle_objects, tensors,
tensor_elements and tensor_dim.
"""

from __future__ import annotations

import math
import pickle
import pickletools
import zipfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import torch

from pix2nerf.limits import Limits, clip, shorten
from pix2nerf.limits import current as current_limits

# The globals torch.save writes for tensors, parameters and plain containers; torch.load's weights_only unpickler
# rebuilds them itself.
TORCH_GLOBALS = frozenset(
    {
        "torch._utils._rebuild_tensor_v2",
        "torch._utils._rebuild_parameter",
        "collections.OrderedDict",
        "torch.device",
        "builtins.set",
        "__builtin__.set",
    }
    | {
        f"torch.{name}"
        for name in (
            "FloatStorage",
            "DoubleStorage",
            "HalfStorage",
            "BFloat16Storage",
            "LongStorage",
            "IntStorage",
            "ShortStorage",
            "CharStorage",
            "ByteStorage",
            "BoolStorage",
            "UntypedStorage",
        )
    }
)
REFUSED_OPCODES = frozenset({"INST", "OBJ", "EXT1", "EXT2", "EXT4", "PERSID"})
OBJECT_OPCODES = frozenset({"NEWOBJ", "NEWOBJ_EX", "REDUCE", "BUILD"})
STRING_OPCODES = frozenset({"SHORT_BINUNICODE", "BINUNICODE", "BINUNICODE8", "UNICODE", "SHORT_BINSTRING", "BINSTRING"})
MAX_TENSOR_DIMS = 16
MAX_BYTEORDER_BYTES = 16


class UnsafePickleError(ValueError):
    """The pickle names a global or uses an opcode outside the allow-list; nothing from it was run."""


class InertModule:
    """Stand-in for a pickled nn.Module (or another allowed class): holds its attributes, runs no code of its own.

    Creating one with arguments, calling the class (REDUCE) and state that would shadow a method are refused."""

    _qualified_name = "InertModule"

    def __new__(cls, *args: Any, **kwargs: Any) -> InertModule:
        if args or kwargs:
            raise UnsafePickleError(
                f"refusing to load: the pickle passes constructor arguments to {cls._qualified_name}"
            )
        return object.__new__(cls)

    def __init__(self, *args: Any, **kwargs: Any) -> None:  # only a REDUCE on the class calls it
        raise UnsafePickleError(f"refusing to load: the pickle calls {self._qualified_name}, which is not allowed")

    def __setstate__(self, state: Any) -> None:
        if isinstance(state, tuple) and len(state) == 2 and state[1] is None:
            state = state[0]
        if not isinstance(state, dict):
            raise ValueError(f"malformed pickle: the state of {self._qualified_name} is a {type(state).__name__}")
        for key in state:
            if not isinstance(key, str) or hasattr(type(self), key):
                raise UnsafePickleError(
                    f"refusing to load: the pickle sets the attribute {shorten(key)} of {self._qualified_name}"
                )
        self.__dict__.update(state)

    def __repr__(self) -> str:
        return f"<inert {self._qualified_name}>"

    @property
    def class_name(self) -> str:
        """The pickled class's own name, e.g. 'TALLSIREN'."""
        return self._qualified_name.rsplit(".", 1)[-1]

    def attribute(self, name: str, default: Any = None) -> Any:
        """A pickled attribute (e.g. 'z_dim'), or `default`."""
        return self.__dict__.get(name, default)

    def child(self, name: str) -> InertModule | None:
        """The submodule registered under `name`, or None."""
        module = self._registry("_modules").get(name)
        return module if isinstance(module, InertModule) else None

    def named_parameters(self) -> Iterator[tuple[str, torch.Tensor]]:
        """Parameters in nn.Module.parameters() order (own first, then children depth-first), shared ones once."""
        seen: set[int] = set()
        for prefix, module in self._named_modules():
            for name, value in module._registry("_parameters").items():
                if value is None or id(value) in seen:
                    continue
                seen.add(id(value))
                yield prefix + name, _tensor(value, f"{module._qualified_name} parameter {name}")

    def state_dict(self) -> dict[str, torch.Tensor]:
        """Parameters and persistent buffers by their dotted names, like nn.Module.state_dict()."""
        state = {name: value.detach() for name, value in self.named_parameters()}
        for prefix, module in self._named_modules():
            skipped = module.__dict__.get("_non_persistent_buffers_set") or set()
            for name, value in module._registry("_buffers").items():
                if value is not None and name not in skipped:
                    state[prefix + name] = _tensor(value, f"{module._qualified_name} buffer {name}").detach()
        return state

    def _named_modules(self) -> Iterator[tuple[str, InertModule]]:
        seen: set[int] = set()
        pending: list[tuple[str, InertModule]] = [("", self)]
        while pending:
            prefix, module = pending.pop()
            if id(module) in seen:
                continue
            seen.add(id(module))
            yield prefix, module
            children = [
                (f"{prefix}{name}.", child)
                for name, child in module._registry("_modules").items()
                if isinstance(child, InertModule)
            ]
            pending.extend(reversed(children))

    def _registry(self, name: str) -> dict:
        registry = self.__dict__.get(name, {})
        if not isinstance(registry, dict):
            raise ValueError(
                f"malformed module {self._qualified_name}: {name} is a {type(registry).__name__}, not a dict"
            )
        return registry


def _tensor(value: Any, what: str) -> torch.Tensor:
    if not isinstance(value, torch.Tensor):
        raise ValueError(f"malformed module: {what} is a {type(value).__name__}, not a tensor")
    return value


# ------------------------------------------------------------------------------------------------------------------
# 1. the archive
def _read_pickle_record(path: Path, limits: Limits) -> bytes:
    """The data.pkl record of a torch.save zip file, after checking every record of its central directory."""
    size = path.stat().st_size
    if size > limits.checkpoint_bytes:
        raise ValueError(
            f"{path} is {size:,} bytes; at most {limits.checkpoint_bytes:,} are read "
            "(raise PIX2NERF_LIMIT_CHECKPOINT_BYTES)"
        )
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as error:
        with path.open("rb") as file:
            legacy = file.read(2) in (b"\x80\x02", b"\x80\x03", b"\x80\x04")
        what = (
            "a legacy (before torch 1.6) torch.save file, which pix2nerf does not read"
            if legacy
            else "not a PyTorch checkpoint (a torch.save zip file, torch 1.6 or later), or it is truncated"
        )
        raise ValueError(f"{path} is {what} ({clip(str(error), 80)})") from None
    try:
        with archive:
            records = archive.infolist()
            if len(records) > limits.archive_records:
                raise ValueError(f"{path} holds {len(records):,} records; at most {limits.archive_records:,} are read")
            for info in records:
                name = shorten(info.filename, 80)
                if info.compress_type != zipfile.ZIP_STORED:
                    raise ValueError(f"record {name} is compressed; torch.save writes records uncompressed")
                if info.file_size != info.compress_size or info.header_offset + info.file_size > size:
                    raise ValueError(
                        f"{path} is corrupt: record {name} declares {info.file_size:,} bytes beyond the file"
                    )
            if sum(info.file_size for info in records) > size:
                raise ValueError(f"{path} is corrupt: its records declare more bytes than the file holds")
            pickles = [info for info in records if info.filename.endswith("data.pkl")]
            if len(pickles) != 1:
                raise ValueError(f"{path} holds {len(pickles)} data.pkl records; a torch.save zip file holds one")
            prefix = pickles[0].filename[: -len("data.pkl")]
            names = {info.filename: info for info in records}
            byteorder = names.get(prefix + "byteorder")
            if byteorder is not None and (
                byteorder.file_size > MAX_BYTEORDER_BYTES or archive.read(byteorder) != b"little"
            ):
                raise ValueError(f"{path} was not saved little-endian; pix2nerf reads little-endian checkpoints")
            if prefix + "version" not in names:
                raise ValueError(f"{path} has no {prefix}version record; not a torch.save zip file")
            if pickles[0].file_size > limits.pickle_bytes:
                raise ValueError(
                    f"{path}'s pickle is {pickles[0].file_size:,} bytes; at most {limits.pickle_bytes:,} are read "
                    "(raise PIX2NERF_LIMIT_PICKLE_BYTES)"
                )
            return archive.read(pickles[0])
    except (zipfile.BadZipFile, OSError, EOFError, NotImplementedError, RuntimeError) as error:
        raise ValueError(f"{path} is corrupt or truncated ({clip(str(error), 80)})") from None


# ------------------------------------------------------------------------------------------------------------------
# 2. the pickle's opcodes
def _scan_pickle(data: bytes, path: Path, limits: Limits) -> set[str]:
    """The globals (module.name) that `data` names, after checking its opcodes and counts; runs nothing."""
    names: set[str] = set()
    memo: dict[int, Any] = {}
    recent: list[Any] = []  # the last two values pushed, for STACK_GLOBAL (strings, else None)
    objects = storages = 0
    try:
        for opcode, arg, _ in pickletools.genops(data):
            name = opcode.name
            if name in REFUSED_OPCODES:
                raise UnsafePickleError(f"refusing to load: the pickle uses the {name} opcode, which is not allowed")
            if name == "GLOBAL":
                names.add(arg.replace(" ", "."))
            elif name == "STACK_GLOBAL":
                if not all(isinstance(value, str) for value in recent):
                    raise UnsafePickleError("refusing to load: the pickle builds a global's name, which is not allowed")
                names.add(".".join(recent))
            elif name in OBJECT_OPCODES:
                objects += 1
            elif name == "BINPERSID":
                storages += 1
            pushed = arg if name in STRING_OPCODES else None
            if name in ("BINPUT", "LONG_BINPUT", "PUT"):
                memo[int(arg)] = recent[-1] if recent else None
            elif name == "MEMOIZE":
                memo[len(memo)] = recent[-1] if recent else None
            elif name in ("BINGET", "LONG_BINGET", "GET"):
                pushed = memo.get(int(arg))
            if name not in ("BINPUT", "LONG_BINPUT", "PUT", "MEMOIZE"):
                recent = (recent + [pushed])[-2:]
    except UnsafePickleError:
        raise
    except Exception as error:  # pickletools' ValueError on truncated or malformed opcodes
        raise ValueError(f"{path} is corrupt or truncated ({clip(str(error), 80)})") from None
    if objects > limits.pickle_objects:
        raise ValueError(f"{path} creates {objects:,} objects; at most {limits.pickle_objects:,} are read")
    if storages > limits.tensors:
        raise ValueError(f"{path} references {storages:,} tensors; at most {limits.tensors:,} are read")
    return names


def _stand_ins(names: set[str], module_prefixes: tuple[str, ...], classes: frozenset[str]) -> list[tuple[type, str]]:
    """(stand-in class, qualified name) for every global allowed as a stand-in; UnsafePickleError for the others."""
    stand_ins = []
    for qualified in sorted(names):
        if qualified in TORCH_GLOBALS:
            continue
        module, _, name = qualified.rpartition(".")
        under_prefix = any(module == p or module.startswith(p + ".") for p in module_prefixes)
        if qualified in classes or (under_prefix and name.isidentifier() and name.lstrip("_")[:1].isupper()):
            stand_ins.append((type(name, (InertModule,), {"_qualified_name": qualified}), qualified))
        else:
            raise UnsafePickleError(
                f"refusing to load: the pickle names the global {clip(qualified, 120)}, which is not allowed"
            )
    return stand_ins


# ------------------------------------------------------------------------------------------------------------------
# 3. torch.load and the tensors' shapes
def _tensors(obj: Any, limit: int) -> Iterator[torch.Tensor]:
    """Every tensor reachable through containers and stand-ins' attributes (each object visited once)."""
    seen: set[int] = set()
    pending = [obj]
    while pending:
        item = pending.pop()
        if id(item) in seen:
            continue
        seen.add(id(item))
        if len(seen) > limit:
            raise ValueError(f"the pickle holds more than {limit:,} objects")
        if isinstance(item, torch.Tensor):
            yield item
        elif isinstance(item, dict):
            pending.extend(item.values())
        elif isinstance(item, (list, tuple, set, frozenset)):
            pending.extend(item)
        elif isinstance(item, InertModule):
            pending.extend(item.__dict__.values())


def _check_tensor(tensor: torch.Tensor, limits: Limits) -> None:
    shape, stride = tuple(tensor.shape), tuple(tensor.stride())
    if len(shape) > MAX_TENSOR_DIMS or any(n > limits.tensor_dim for n in shape):
        raise ValueError(
            f"malformed tensor record: shape {shorten(shape, 120)} (at most {MAX_TENSOR_DIMS} dimensions of at most "
            f"{limits.tensor_dim:,})"
        )
    if any(s < 0 or s > limits.tensor_elements for s in stride):
        raise ValueError(f"malformed tensor record: stride {shorten(stride, 120)}")
    if math.prod(shape) > limits.tensor_elements:
        raise ValueError(
            f"malformed tensor record: {math.prod(shape):,} elements; at most {limits.tensor_elements:,} are read"
        )


def safe_load(
    path: str | Path,
    module_prefixes: Iterable[str] = ("torch.nn.modules",),
    classes: Iterable[str] = (),
    limits: Limits | None = None,
) -> Any:
    """Unpickle a torch.save zip file; classes under `module_prefixes`, or named exactly in `classes`
    ("module.Class"), become InertModule stand-ins. Tensors are CPU tensors; parameters are nn.Parameters.

    Raises FileNotFoundError; ValueError for a file that is not a torch zip checkpoint, is truncated or corrupt, or
    is over a limit; UnsafePickleError (a ValueError) for a disallowed global or opcode.
    """
    path = Path(path)
    limits = limits or current_limits()
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {path}")
    data = _read_pickle_record(path, limits)
    stand_ins = _stand_ins(_scan_pickle(data, path, limits), tuple(module_prefixes), frozenset(classes))
    try:
        with torch.serialization.safe_globals([*stand_ins, (set, "__builtin__.set")]):
            loaded = torch.load(path, map_location="cpu", weights_only=True)
    except UnsafePickleError:
        raise
    except pickle.UnpicklingError as error:
        parts = [part.strip() for part in str(error).split("\n\n")]  # torch's text: preamble, reason, advice
        raise UnsafePickleError(
            f"refusing to load {path}: {clip(parts[1] if len(parts) > 2 else parts[0], 200)}"
        ) from None
    except RuntimeError as error:  # torch's checks of storage records and tensor views
        raise ValueError(f"{path} is corrupt: malformed tensor record ({clip(str(error), 160)})") from None
    except Exception as error:  # anything else a malformed file raises while being read
        raise ValueError(f"{path} is corrupt or truncated ({type(error).__name__}: {clip(str(error), 160)})") from None
    for tensor in _tensors(loaded, 4 * limits.pickle_objects + limits.tensors):
        _check_tensor(tensor, limits)
    return loaded
