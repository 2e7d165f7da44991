"""Read PyTorch pickles (torch.save zip files) without executing them.

Official Pix2NeRF and pi-GAN checkpoints pickle whole modules. `safe_load` unpickles them with an allow-list:

- globals: tensor and storage rebuilding, `collections.OrderedDict`, `set`, `torch.device`, and classes under the
  given module prefixes (or named exactly), which become `InertModule` stand-ins that only hold their attributes.
  Any other global (os.system, builtins.eval, functools.partial, torch.load, ...) is refused when the pickle names
  it, before anything from the file runs, with an error that names it.
- opcodes: calls (REDUCE) only reach the allowed functions, with their arguments type-checked; objects are created
  (NEWOBJ) only from stand-in classes and get their state (BUILD) as plain attributes, without calling any method;
  list, dict and set items go only into real lists, dicts and sets; INST, OBJ and the extension registry are refused.
- tensors: built from the file's storage records after checking offsets, sizes and strides against the record, and
  always on the CPU (the location a storage was saved from, such as 'cuda:0', is ignored).
"""

from __future__ import annotations

import collections
import io
import math
import pickle
import re
import zipfile
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import torch

STORAGE_DTYPES = {
    "FloatStorage": torch.float32,
    "DoubleStorage": torch.float64,
    "HalfStorage": torch.float16,
    "BFloat16Storage": torch.bfloat16,
    "LongStorage": torch.int64,
    "IntStorage": torch.int32,
    "ShortStorage": torch.int16,
    "CharStorage": torch.int8,
    "ByteStorage": torch.uint8,
    "BoolStorage": torch.bool,
    "UntypedStorage": torch.uint8,
}
_MAX_TENSOR_DIMS = 64


class UnsafePickleError(ValueError):
    """The pickle names a global or uses an opcode outside the allow-list; nothing from it was run."""


class InertModule:
    """Stand-in for a pickled nn.Module (or another allowed class): holds its attributes, runs no code of its own."""

    _qualified_name = "InertModule"

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


class _StorageType:
    """What the pickle's `torch.FloatStorage` (etc.) resolves to: only a dtype for `persistent_load`."""

    __slots__ = ("dtype",)

    def __init__(self, dtype: torch.dtype) -> None:
        self.dtype = dtype


class _Storage:
    """One storage record of the archive as a flat CPU tensor."""

    __slots__ = ("flat",)

    def __init__(self, flat: torch.Tensor) -> None:
        self.flat = flat


def _int(value: Any, what: str) -> int:
    if type(value) is not int or value < 0:
        raise ValueError(f"malformed tensor record: {what} is {value!r}, expected a non-negative integer")
    return value


def _ints(values: Any, what: str) -> tuple[int, ...]:
    if not isinstance(values, (tuple, list, torch.Size)) or len(values) > _MAX_TENSOR_DIMS:
        raise ValueError(f"malformed tensor record: {what} is {values!r}, expected a tuple of integers")
    return tuple(_int(v, what) for v in values)


def _no_hooks(hooks: Any) -> None:
    if hooks is not None and not (isinstance(hooks, dict) and not hooks):
        raise UnsafePickleError("refusing to load: a tensor in the pickle carries backward hooks")


def _rebuild_tensor(
    storage: Any,
    storage_offset: Any,
    size: Any,
    stride: Any,
    requires_grad: Any = False,
    backward_hooks: Any = None,
    metadata: Any = None,
) -> torch.Tensor:
    """torch._utils._rebuild_tensor_v2, checked: the view must lie inside its storage record; no hooks, no metadata."""
    if not isinstance(storage, _Storage):
        raise ValueError(f"malformed tensor record: its storage is a {type(storage).__name__}")
    offset, size, stride = _int(storage_offset, "storage offset"), _ints(size, "size"), _ints(stride, "stride")
    if len(size) != len(stride):
        raise ValueError(f"malformed tensor record: size {size} and stride {stride} differ in length")
    _no_hooks(backward_hooks)
    if metadata:
        raise UnsafePickleError("refusing to load: a tensor in the pickle carries metadata")
    available, numel = storage.flat.numel(), math.prod(size)
    if numel == 0:
        return storage.flat.new_empty(size)
    last = offset + sum((n - 1) * s for n, s in zip(size, stride))
    if last >= available:
        raise ValueError(
            f"malformed tensor record: a view of size {size}, stride {stride} at offset {offset} reaches element "
            f"{last}, beyond its storage of {available} elements"
        )
    if numel > available:  # overlapping (e.g. zero) strides: refused, so that no copy can outgrow the file
        raise ValueError(f"malformed tensor record: a view of {numel} elements over a storage of {available}")
    return storage.flat.as_strided(size, stride, offset)


def _rebuild_parameter(data: Any, requires_grad: Any = False, backward_hooks: Any = None) -> torch.nn.Parameter:
    """torch._utils._rebuild_parameter, checked: a tensor, no hooks; gradients off."""
    if not isinstance(data, torch.Tensor):
        raise ValueError(f"malformed parameter record: its data is a {type(data).__name__}")
    _no_hooks(backward_hooks)
    return torch.nn.Parameter(data, requires_grad=False)


def _ordered_dict(*args: Any) -> collections.OrderedDict:
    if args and (len(args) > 1 or not isinstance(args[0], (list, tuple, dict))):
        raise ValueError("malformed pickle: OrderedDict called with unexpected arguments")
    return collections.OrderedDict(*args)


def _set(*args: Any) -> set:
    if args and (len(args) > 1 or not isinstance(args[0], (list, tuple, set, frozenset))):
        raise ValueError("malformed pickle: set called with unexpected arguments")
    return set(*args)


def _device(*args: Any) -> torch.device:
    if not (1 <= len(args) <= 2 and isinstance(args[0], str) and all(type(a) is int for a in args[1:])):
        raise ValueError("malformed pickle: torch.device called with unexpected arguments")
    return torch.device(*args)


# Everything a pickle may call (REDUCE), by the global it names.
SAFE_CALLABLES: dict[tuple[str, str], Callable[..., Any]] = {
    ("collections", "OrderedDict"): _ordered_dict,
    ("builtins", "set"): _set,
    ("__builtin__", "set"): _set,
    ("torch", "device"): _device,
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor,
    ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
}
_SAFE_FUNCTIONS = frozenset(SAFE_CALLABLES.values())


def _refuse_opcode(name: str) -> Callable[[_AllowListUnpickler], None]:
    def refuse(self: _AllowListUnpickler) -> None:
        raise UnsafePickleError(f"refusing to load: the pickle uses the {name} opcode, which is not allowed")

    return refuse


class _AllowListUnpickler(pickle._Unpickler):
    """The pure-Python unpickler with every opcode that can call code replaced by a checked version."""

    dispatch = dict(pickle._Unpickler.dispatch)

    def __init__(
        self,
        file: io.BytesIO,
        archive: zipfile.ZipFile,
        prefix: str,
        module_prefixes: tuple[str, ...],
        classes: frozenset[str],
    ) -> None:
        super().__init__(file)
        self._archive = archive
        self._prefix = prefix
        self._module_prefixes = module_prefixes
        self._classes = classes
        self._stand_ins: dict[str, type] = {}
        self._storages: dict[str, torch.Tensor] = {}

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in SAFE_CALLABLES:
            return SAFE_CALLABLES[(module, name)]
        if module == "torch" and name in STORAGE_DTYPES:
            return _StorageType(STORAGE_DTYPES[name])
        qualified = f"{module}.{name}"
        under_prefix = any(module == p or module.startswith(p + ".") for p in self._module_prefixes)
        if qualified in self._classes or (under_prefix and name.isidentifier() and name.lstrip("_")[:1].isupper()):
            if qualified not in self._stand_ins:
                self._stand_ins[qualified] = type(name, (InertModule,), {"_qualified_name": qualified})
            return self._stand_ins[qualified]
        raise UnsafePickleError(f"refusing to load: the pickle names the global {qualified}, which is not allowed")

    def persistent_load(self, saved_id: Any) -> _Storage:
        if not (isinstance(saved_id, tuple) and len(saved_id) == 5 and saved_id[0] == "storage"):
            raise UnsafePickleError(f"refusing to load: unexpected persistent id {saved_id!r}")
        _, storage_type, key, _location, _numel = saved_id  # every storage loads onto the CPU
        if not isinstance(storage_type, _StorageType):
            raise UnsafePickleError(f"refusing to load: unexpected storage type {storage_type!r}")
        if not isinstance(key, str) or not re.fullmatch(r"[A-Za-z0-9_]+", key):
            raise ValueError(f"malformed storage key {key!r}")
        if key not in self._storages:
            data = bytearray(_read_record(self._archive, f"{self._prefix}data/{key}"))
            self._storages[key] = (
                torch.frombuffer(data, dtype=torch.uint8) if data else torch.empty(0, dtype=torch.uint8)
            )
        raw = self._storages[key]
        itemsize = torch.empty((), dtype=storage_type.dtype).element_size()
        if raw.numel() % itemsize:
            raise ValueError(
                f"storage record {key} holds {raw.numel()} bytes, not a whole number of {storage_type.dtype}"
            )
        return _Storage(raw.view(storage_type.dtype))

    def _reduce(self) -> None:
        args = self.stack.pop()
        func = self.stack[-1]
        if not any(func is safe for safe in _SAFE_FUNCTIONS) or not isinstance(args, tuple):
            raise UnsafePickleError(f"refusing to load: the pickle calls {_describe(func)}, which is not allowed")
        self.stack[-1] = func(*args)

    def _new_object(self) -> None:
        args = self.stack.pop()
        cls = self.stack.pop()
        self._check_stand_in(cls, args)
        self.append(cls.__new__(cls))

    def _new_object_ex(self) -> None:
        kwargs = self.stack.pop()
        args = self.stack.pop()
        cls = self.stack.pop()
        self._check_stand_in(cls, args or kwargs)
        self.append(cls.__new__(cls))

    @staticmethod
    def _check_stand_in(cls: Any, args: Any) -> None:
        if not (isinstance(cls, type) and issubclass(cls, InertModule)):
            raise UnsafePickleError(f"refusing to load: the pickle instantiates {_describe(cls)}, which is not allowed")
        if args:
            raise UnsafePickleError(
                f"refusing to load: the pickle passes constructor arguments to {cls._qualified_name}"
            )

    def _build(self) -> None:
        state = self.stack.pop()
        inst = self.stack[-1]
        if not isinstance(inst, InertModule):
            raise UnsafePickleError(
                f"refusing to load: the pickle sets the state of {_describe(inst)}, which is not allowed"
            )
        if isinstance(state, tuple) and len(state) == 2 and state[1] is None:
            state = state[0]
        if not isinstance(state, dict):
            raise ValueError(f"malformed pickle: the state of {inst._qualified_name} is a {type(state).__name__}")
        for key, value in state.items():
            if not isinstance(key, str) or hasattr(type(inst), key):
                raise UnsafePickleError(
                    f"refusing to load: the pickle sets the attribute {key!r} of {inst._qualified_name}"
                )
            inst.__dict__[key] = value

    def _container(self, kind: type, what: str) -> Any:
        target = self.stack[-1]
        if type(target) is not kind and not (kind is dict and type(target) is collections.OrderedDict):
            raise UnsafePickleError(f"refusing to load: the pickle {what} a {type(target).__name__}")
        return target

    def _append(self) -> None:
        value = self.stack.pop()
        self._container(list, "appends to").append(value)

    def _appends(self) -> None:
        items = self.pop_mark()
        self._container(list, "appends to").extend(items)

    def _setitem(self) -> None:
        value = self.stack.pop()
        key = self.stack.pop()
        self._container(dict, "sets items of")[key] = value

    def _setitems(self) -> None:
        items = self.pop_mark()
        target = self._container(dict, "sets items of")
        for i in range(0, len(items), 2):
            target[items[i]] = items[i + 1]

    def _additems(self) -> None:
        items = self.pop_mark()
        self._container(set, "adds items to").update(items)

    dispatch[pickle.REDUCE[0]] = _reduce
    dispatch[pickle.NEWOBJ[0]] = _new_object
    dispatch[pickle.NEWOBJ_EX[0]] = _new_object_ex
    dispatch[pickle.BUILD[0]] = _build
    dispatch[pickle.APPEND[0]] = _append
    dispatch[pickle.APPENDS[0]] = _appends
    dispatch[pickle.SETITEM[0]] = _setitem
    dispatch[pickle.SETITEMS[0]] = _setitems
    dispatch[pickle.ADDITEMS[0]] = _additems
    for _opcode in ("INST", "OBJ", "EXT1", "EXT2", "EXT4"):
        dispatch[getattr(pickle, _opcode)[0]] = _refuse_opcode(_opcode)
    del _opcode


def _read_record(archive: zipfile.ZipFile, name: str) -> bytes:
    """One record of the archive; compressed ones (which torch.save never writes, and which could expand without
    bound) are refused."""
    try:
        info = archive.getinfo(name)
    except KeyError:
        raise ValueError(f"the archive has no record {name}") from None
    if info.compress_type != zipfile.ZIP_STORED:
        raise ValueError(f"record {name} is compressed; torch.save writes records uncompressed")
    return archive.read(name)


def _describe(obj: Any) -> str:
    if isinstance(obj, InertModule) or (isinstance(obj, type) and issubclass(obj, InertModule)):
        return obj._qualified_name
    return f"a {type(obj).__name__}"


def safe_load(
    path: str | Path, module_prefixes: Iterable[str] = ("torch.nn.modules",), classes: Iterable[str] = ()
) -> Any:
    """Unpickle a torch.save zip file; classes under `module_prefixes`, or named exactly in `classes`
    ("module.Class"), become InertModule stand-ins. Tensors are float/int CPU tensors, parameters without gradients.

    Raises FileNotFoundError; ValueError for a file that is not a torch zip checkpoint, or is truncated or
    corrupt; UnsafePickleError (a ValueError) for a disallowed global or opcode.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {path}")
    try:
        archive = zipfile.ZipFile(path)
        pickles = [n for n in archive.namelist() if n.endswith("data.pkl")]
    except (zipfile.BadZipFile, OSError) as error:
        with path.open("rb") as file:
            legacy = file.read(2) in (b"\x80\x02", b"\x80\x03", b"\x80\x04")
        what = (
            "a legacy (before torch 1.6) torch.save file, which pix2nerf does not read"
            if legacy
            else ("not a PyTorch checkpoint (a torch.save zip file, torch 1.6 or later), or it is truncated")
        )
        raise ValueError(f"{path} is {what} ({error})") from None
    with archive:
        if len(pickles) != 1:
            raise ValueError(f"{path} holds {len(pickles)} data.pkl records; a torch.save zip file holds one")
        prefix = pickles[0][: -len("data.pkl")]
        if prefix + "byteorder" in archive.namelist() and archive.read(prefix + "byteorder") != b"little":
            raise ValueError(f"{path} was saved on a big-endian machine; pix2nerf reads little-endian checkpoints")
        try:
            data = _read_record(archive, pickles[0])
            unpickler = _AllowListUnpickler(
                io.BytesIO(data), archive, prefix, tuple(module_prefixes), frozenset(classes)
            )
            return unpickler.load()
        except UnsafePickleError:
            raise
        except Exception as error:  # anything else a malformed file raises while being read
            raise ValueError(f"{path} is corrupt or truncated ({type(error).__name__}: {error})") from None
