"""Every size and range limit of the package, and the one family of checks that enforces them.

The limits are the fields of `Limits`, a frozen dataclass. `Limits.from_env()` reads overrides from environment
variables named PIX2NERF_LIMIT_<FIELD> (e.g. PIX2NERF_LIMIT_RESOLUTION=2048), each checked like any input; every
entry point reads `current()` (the defaults with the environment's overrides) when it is called, so raising a limit
deliberately needs no code change and no module-level switch.

The checks (`check_int`, `check_float`, `check_choice`, `check_bool`) validate type, finiteness and range before any
work, and raise ValueError with one sentence that names the field, the value (shortened by `shorten`) and what is
allowed.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import os
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from numbers import Integral, Real
from typing import Any

ENV_PREFIX = "PIX2NERF_LIMIT_"
SHORT_VALUE = 40  # characters of a refused value echoed in an error message


@dataclass(frozen=True)
class Limits:
    """Upper bounds on what one call may ask for; every field can be raised with PIX2NERF_LIMIT_<FIELD>."""

    # images
    image_bytes: int = 32 * 2**20  # an encoded image (file, bytes, data: URL), checked before reading it
    image_pixels: int = 40_000_000  # width * height, checked from the header before decoding
    # rendering and other work per call
    resolution: int = 1024  # px per side of a rendered image
    num_steps: int = 512  # samples per ray (coarse; as many fine ones when hierarchical)
    batch_size: int = 64  # latents or images per call
    train_batch_size: int = 1024  # images per training step (a stage's batch_size, --train_batch_size)
    validation_objects: int = 100_000  # held-out objects the trainer validates on (--validation_num_objects)
    workers: int = 256  # data-loading processes
    refinement_steps: int = 1000  # test-time optimisation steps of a latent
    frames: int = 720  # frames of one orbit or animation
    fps: float = 120.0  # frames per second of an animation
    angle: float = 1e6  # |yaw| in degrees (pitch is always within [-90, 90] where the camera needs it)
    psi: float = 10.0  # |psi|, the truncation weight of a latent
    # models (config.json) and checkpoints
    width: int = 4096  # z_dim and every hidden / channel width
    layers: int = 64  # SIREN, mapping, encoder and discriminator layers
    train_steps: int = 100_000_000  # any step count or schedule step in a config
    checkpoint_bytes: int = 4 * 2**30  # an official checkpoint file
    pickle_bytes: int = 64 * 2**20  # its pickle record (data.pkl)
    archive_records: int = 100_000  # records in its zip archive
    pickle_objects: int = 100_000  # objects (modules, EMA records) its pickle creates
    tensors: int = 100_000  # tensors (storage references) its pickle holds
    tensor_elements: int = 2**31  # elements of one tensor
    tensor_dim: int = 2**24  # one entry of a tensor's shape (also bounds zero-element tensors)

    def __post_init__(self) -> None:
        for spec in dataclasses.fields(self):
            value = getattr(self, spec.name)
            name = f"{ENV_PREFIX}{spec.name.upper()}"
            if spec.type == "int":
                check_int(name, value, 1)
            else:
                check_float(name, value, 0.0, open_low=True)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Limits:
        """The defaults with each PIX2NERF_LIMIT_<FIELD> of `environ` (default: os.environ) applied."""
        environ = os.environ if environ is None else environ
        overrides: dict[str, Any] = {}
        for spec in dataclasses.fields(cls):
            name = f"{ENV_PREFIX}{spec.name.upper()}"
            if name in environ:
                text = environ[name].strip().replace("_", "")
                try:
                    overrides[spec.name] = int(text) if spec.type == "int" else float(text)
                except ValueError:
                    raise ValueError(
                        f"{name} must be a {'whole' if spec.type == 'int' else ''} number, got {shorten(text)}"
                    ) from None
        return cls(**overrides)


def current() -> Limits:
    """The limits in force now: the defaults with the environment's overrides (read at each call; the Limits of
    the same overrides are built and checked once)."""
    return _limits_of(tuple(os.environ.get(name) for name in _ENV_NAMES))


_ENV_NAMES = tuple(f"{ENV_PREFIX}{spec.name.upper()}" for spec in dataclasses.fields(Limits))


@functools.lru_cache(maxsize=8)
def _limits_of(values: tuple[str | None, ...]) -> Limits:
    """The Limits of the environment values (None: not set) of _ENV_NAMES."""
    return Limits.from_env({name: value for name, value in zip(_ENV_NAMES, values) if value is not None})


def shorten(value: Any, length: int = SHORT_VALUE, *, from_end: bool = False) -> str:
    """A short text for `value` (never echo a long input back): a string as it is, anything else as its repr, cut
    to `length` characters (its last ones with `from_end`, e.g. a path's file name); huge ints are not converted."""
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 128:
        return f"an integer of {value.bit_length()} bits"
    if isinstance(value, (str, bytes, bytearray)) and len(value) > length:
        value = value[-length - 1 :] if from_end else value[: length + 1]
    return clip(value if isinstance(value, str) and from_end else repr(value), length, from_end=from_end)


def clip(text: str, length: int = SHORT_VALUE, *, from_end: bool = False) -> str:
    """`text` as it is, cut to `length` characters (its last ones with `from_end`)."""
    if len(text) <= length:
        return text
    return "..." + text[3 - length :] if from_end else text[: length - 3] + "..."


def _range(low: float | None, high: float | None, open_low: bool = False) -> str:
    if low is not None and high is not None:
        return f"in {'(' if open_low else '['}{low:g}, {high:g}]"
    if low is not None:
        return f"{'>' if open_low else '>='} {low:g}"
    return f"<= {high:g}" if high is not None else "finite"


def check_int(name: str, value: Any, low: int | None = None, high: int | None = None) -> int:
    """`value` as an int in [low, high] (None: unbounded); bools, floats and strings are refused."""
    if not isinstance(value, Integral) or isinstance(value, bool):
        raise ValueError(f"{name} must be an integer {_range(low, high)}, got {shorten(value)}")
    value = int(value)
    if (low is not None and value < low) or (high is not None and value > high):
        raise ValueError(f"{name} must be an integer {_range(low, high)}, got {shorten(value)}")
    return value


def check_float(
    name: str, value: Any, low: float | None = None, high: float | None = None, *, open_low: bool = False
) -> float:
    """`value` (an int or float, not a bool or string) as a finite float in [low, high] ((low, high] if open_low)."""
    allowed = f"a finite number {_range(low, high, open_low)}"
    if not isinstance(value, Real) or isinstance(value, bool):
        raise ValueError(f"{name} must be {allowed}, got {shorten(value)}")
    try:
        number = float(value)
    except OverflowError:
        raise ValueError(f"{name} must be {allowed}, got {shorten(value)}") from None
    below = low is not None and (number <= low if open_low else number < low)
    if not math.isfinite(number) or below or (high is not None and number > high):
        raise ValueError(f"{name} must be {allowed}, got {shorten(value)}")
    return number


def check_device(name: str, value: Any) -> Any:
    """`value` as a torch.device that this machine has (a string such as "cpu" or "cuda:0", or a torch.device)."""
    import torch

    try:
        device = torch.device(value)
    except (RuntimeError, TypeError):
        raise ValueError(f"{name} must be a torch device such as 'cpu' or 'cuda', got {shorten(value)}") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"{name} is {device}, but torch sees no CUDA device here; use 'cpu'")
    return device


def check_choice(name: str, value: Any, choices: Collection[Any]) -> Any:
    """`value` if it is one of `choices`."""
    try:
        valid = value in choices
    except TypeError:  # unhashable
        valid = False
    if not valid:
        raise ValueError(f"{name} must be one of {', '.join(map(repr, choices))}; got {shorten(value)}")
    return value


def check_bool(name: str, value: Any) -> bool:
    """`value` if it is a bool (not 0/1 or a string)."""
    if not isinstance(value, bool):
        raise ValueError(f"{name} must be True or False, got {shorten(value)}")
    return value


PITCH_BOUND = 90.0  # degrees: a request's pitch runs from straight below (-90) to straight above (90)


def check_angle(name: str, value: Any, limits: Limits | None = None) -> float:
    """Degrees (a number) within +-limits.angle."""
    bound = (limits or current()).angle
    return check_float(name, value, -bound, bound)


def check_tensor(name: str, value: Any, low: float, high: float) -> Any:
    """A non-empty real tensor (or array) whose values are finite and within [low, high]; returned unchanged."""
    import torch

    if not isinstance(value, torch.Tensor) or value.numel() == 0 or value.is_complex() or value.dtype == torch.bool:
        raise ValueError(f"{name} must be a non-empty real tensor, got {shorten(value)}")
    # one read from the device (a check of a GPU tensor waits for the GPU once); NaN and infinities show in the
    # extremes
    least, most = torch.stack(torch.aminmax(value.detach().double())).tolist()
    if not (math.isfinite(least) and math.isfinite(most)):
        raise ValueError(f"{name} must hold finite values in [{low:g}, {high:g}], got NaN or infinite values")
    if least < low or most > high:
        raise ValueError(f"{name} must hold values in [{low:g}, {high:g}], got values in [{least:.4g}, {most:.4g}]")
    return value


def check_degrees(name: str, value: Any, limits: Limits | None = None) -> Any:
    """Angles in degrees, a number, a list or a tensor of them, each within +-limits.angle; returned unchanged (a
    number as a float, a list as a tensor)."""
    bound = (limits or current()).angle
    if isinstance(value, (list, tuple)) and 0 < len(value) <= current().batch_size:
        import torch

        try:
            value = torch.tensor([float(v) for v in value])
        except (TypeError, ValueError, OverflowError):
            raise ValueError(f"{name} must be numbers of degrees, got {shorten(value)}") from None
    if hasattr(value, "shape") and hasattr(value, "dtype"):
        import torch

        return check_tensor(name, torch.as_tensor(value), -bound, bound)
    return check_float(name, value, -bound, bound)
