"""Convert official Pix2NeRF and pi-GAN checkpoints into pix2nerf models, without executing their pickles.

`convert_official_checkpoint(path, preset, ema_path=None)` reads either release format through
`pix2nerf.official.safe_load` (torch.load(weights_only=True) with stand-ins; nothing in the file runs; size limits
checked first) and returns a float32 CPU model in eval mode:

- Pix2NeRF (primecai/Pix2NeRF) `checkpoint_train.pth`, or a folder holding it: a dict of pickled generator, encoder
  and discriminator modules with torch_ema state dicts (`ema.pth`, `ema_encoder.pth`). The EMA shadow weights are
  applied to the generator and the encoder, as the official inference does.
- pi-GAN (marcoamonteiro/pi-GAN) `generator.pth`, or a folder holding it: a pickled ImplicitGenerator3d. Its EMA is
  the pickled torch_ema ExponentialMovingAverage in `ema_path`, by default the `ema.pth` beside the generator
  (as pi-GAN's own scripts find it). The model has no encoder (`config.has_encoder` is False): it can `generate`,
  not `encode`.

The architecture is read from the file: SIREN variant (TALLSIREN or SPATIALSIRENBASELINE), z_dim, hidden width,
SIREN and mapping layers, encoder widths. Cameras, ray range, pose prior and background come from the preset. A
preset made for the other SIREN variant is refused (the variant fixes the input scale and the official settings);
z_dim is taken from the file, since the official releases differ (pi-GAN CelebA has z 256, Pix2NeRF CelebA 512).
`save_converted` writes a hub-ready folder: config.json, model.safetensors and a model card (README.md).

Official state-dict names -> pix2nerf names:
  siren.network.{i}.layer.*            -> field.film_layers.{i}.linear.*
  siren.final_layer.*                  -> field.density_head.*
  siren.color_layer_sine.layer.*       -> field.color_film.linear.*   (input columns 0..2: view direction)
  siren.color_layer_linear.0.*         -> field.color_head.*
  siren.mapping_network.network.{j}.*  -> field.mapping.layers.{j}.*
  layers.{i}.network.{0,2}.conv.*      -> encoder.pyramid.blocks.{i}.conv{1,2}.conv.*
  layers.{i}.proj.*                    -> encoder.pyramid.blocks.{i}.skip.*
  fromRGB.{i}.model.0.*                -> encoder.pyramid.from_rgb.{i}.conv.*
  final_layer.*                        -> encoder.pyramid.head.*
"""

from __future__ import annotations

import hashlib
import math
import re
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from pix2nerf.config import PRESETS, SPATIAL_INPUT_SCALE, Pix2NeRFConfig
from pix2nerf.hub.model_card import CITATION, card_metadata
from pix2nerf.model import CONFIG_NAME, PAPER_URL, WEIGHTS_NAME, Pix2NeRF
from pix2nerf.official.safe_load import InertModule, safe_load

# Where the official files' classes live; they load as inert stand-ins. torch_ema's class is pickled whole in pi-GAN's
# ema.pth. Spectral-norm hooks appear in discriminators trained with --sn 1.
OFFICIAL_MODULE_PREFIXES = ("torch.nn.modules", "torch.nn.utils.spectral_norm", "generators", "siren", "discriminators")
OFFICIAL_CLASSES = ("torch_ema.ema.ExponentialMovingAverage",)
CONVERTIBLE_PRESETS = ("carla", "srn_chairs", "celeba")
SIREN_CLASSES = {"tallsiren": "TALLSIREN", "spatial": "SPATIALSIRENBASELINE"}  # config.siren_variant -> class
PIX2NERF_CHECKPOINT = "checkpoint_train.pth"
PIGAN_GENERATOR, PIGAN_EMA = "generator.pth", "ema.pth"
RELEASES = {
    "Pix2NeRF": "https://github.com/primecai/Pix2NeRF",
    "pi-GAN": "https://github.com/marcoamonteiro/pi-GAN",
}
PIGAN_PAPER_URL = "https://arxiv.org/abs/2012.00926"

_GENERATOR_RULES = [
    (r"^siren\.network\.(\d+)\.layer\.", r"field.film_layers.\1.linear."),
    (r"^siren\.final_layer\.", "field.density_head."),
    (r"^siren\.color_layer_sine\.layer\.", "field.color_film.linear."),
    (r"^siren\.color_layer_linear\.0\.", "field.color_head."),
    (r"^siren\.mapping_network\.network\.(\d+)\.", r"field.mapping.layers.\1."),
]
_ENCODER_RULES = [
    (r"^layers\.(\d+)\.network\.0\.conv\.", r"encoder.pyramid.blocks.\1.conv1.conv."),
    (r"^layers\.(\d+)\.network\.2\.conv\.", r"encoder.pyramid.blocks.\1.conv2.conv."),
    (r"^layers\.(\d+)\.proj\.", r"encoder.pyramid.blocks.\1.skip."),
    (r"^fromRGB\.(\d+)\.model\.0\.", r"encoder.pyramid.from_rgb.\1.conv."),
    (r"^final_layer\.", "encoder.pyramid.head."),
]


@dataclass
class OfficialCheckpoint:
    """The parts of an official release file that a pix2nerf model needs (inert stand-ins, CPU tensors)."""

    files: list[Path]  # the files read, checkpoint first
    generator: InertModule
    generator_ema: Any  # torch_ema state dict, pickled ExponentialMovingAverage stand-in, or None
    encoder: InertModule | None = None
    encoder_ema: Any = None


def _rename(state: dict[str, torch.Tensor], rules: list[tuple[str, str]], what: str) -> dict[str, torch.Tensor]:
    renamed = {}
    for key, value in state.items():
        for pattern, replacement in rules:
            if re.match(pattern, key):
                renamed[re.sub(pattern, replacement, key)] = value  # converted when loaded into the model
                break
        else:
            raise ValueError(f"the official {what} has a weight {key!r} that pix2nerf does not know")
    return renamed


def _shadow_params(ema: Any) -> list[torch.Tensor]:
    state = ema.__dict__ if isinstance(ema, InertModule) else ema
    shadows = state.get("shadow_params") if isinstance(state, dict) else None
    if not isinstance(shadows, list) or not all(isinstance(s, torch.Tensor) for s in shadows):
        raise ValueError(f"the EMA record ({type(ema).__name__}) holds no shadow_params list of tensors")
    return shadows


def with_ema_weights(module: InertModule, ema: Any) -> dict[str, torch.Tensor]:
    """The module's state dict with torch_ema shadow parameters applied (zipped in parameters() order).

    ema: a torch_ema state dict, a pickled ExponentialMovingAverage stand-in, or None (raw weights).
    """
    state = module.state_dict()
    if ema is None:
        return state
    names = [name for name, _ in module.named_parameters()]
    shadows = _shadow_params(ema)
    if len(shadows) != len(names):
        raise ValueError(
            f"the EMA record holds {len(shadows)} shadow parameters for a module with {len(names)} parameters"
        )
    for name, shadow in zip(names, shadows):
        if tuple(shadow.shape) != tuple(state[name].shape):
            raise ValueError(
                f"EMA shadow for {name} has shape {tuple(shadow.shape)}, expected {tuple(state[name].shape)}"
            )
        state[name] = shadow.detach()
    return state


def generator_state_dict(generator: InertModule, ema: Any) -> dict[str, torch.Tensor]:
    """pix2nerf `field.*` weights from an official ImplicitGenerator3d (EMA applied when given)."""
    return _rename(with_ema_weights(generator, ema), _GENERATOR_RULES, "generator")


def encoder_state_dict(encoder: InertModule, ema: Any) -> dict[str, torch.Tensor]:
    """pix2nerf `encoder.*` weights from an official CCSEncoder (EMA applied when given)."""
    return _rename(with_ema_weights(encoder, ema), _ENCODER_RULES, "encoder")


# ------------------------------------------------------------------------------------------------------------------
# reading the release formats
def _load(path: Path) -> Any:
    return safe_load(path, OFFICIAL_MODULE_PREFIXES, OFFICIAL_CLASSES)


def _is_ema_object(obj: Any) -> bool:
    return isinstance(obj, InertModule) and obj._qualified_name in OFFICIAL_CLASSES


def checkpoint_file(path: str | Path) -> Path:
    """The checkpoint that `path` stands for: the file itself, or the checkpoint_train.pth (Pix2NeRF) or
    generator.pth (pi-GAN) in a release folder."""
    path = Path(path)
    if path.is_dir():
        for name in (PIX2NERF_CHECKPOINT, PIGAN_GENERATOR):
            if (path / name).is_file():
                return path / name
        raise FileNotFoundError(
            f"{path} holds neither {PIX2NERF_CHECKPOINT} (Pix2NeRF) nor {PIGAN_GENERATOR} (pi-GAN); "
            "give the checkpoint file or its folder"
        )
    if not path.is_file():
        raise FileNotFoundError(f"no official checkpoint at {path}")
    return path


def pigan_ema_file(generator_file: Path, ema_path: str | Path | None = None) -> Path | None:
    """The EMA file for a pi-GAN generator: `ema_path` if given, else the ema.pth beside it, else None."""
    if ema_path is not None:
        if not Path(ema_path).is_file():
            raise FileNotFoundError(f"no EMA file at {ema_path}")
        return Path(ema_path)
    sibling = generator_file.parent / PIGAN_EMA
    return sibling if sibling.is_file() and sibling != generator_file else None


def read_official_checkpoint(path: str | Path, ema_path: str | Path | None = None) -> OfficialCheckpoint:
    """Read a Pix2NeRF training checkpoint or a pi-GAN generator (+ EMA) safely; see the module docstring."""
    path = checkpoint_file(path)
    loaded = _load(path)
    if isinstance(loaded, dict) and "generator.pth" in loaded:
        for key in ("generator.pth", "encoder.pth"):
            if not isinstance(loaded.get(key), InertModule):
                raise ValueError(
                    f"{path} looks like a Pix2NeRF training checkpoint but its {key!r} is not a pickled module"
                )
        if ema_path is not None:
            raise ValueError(f"{path} is a Pix2NeRF training checkpoint, which carries its own EMA; give no EMA file")
        if "ema.pth" not in loaded or "ema_encoder.pth" not in loaded:
            warnings.warn(f"{path} has no EMA records (trained with --ema 0): converting the raw weights", stacklevel=2)
        return OfficialCheckpoint(
            [path],
            loaded["generator.pth"],
            loaded.get("ema.pth"),
            loaded["encoder.pth"],
            loaded.get("ema_encoder.pth"),
        )
    if _is_ema_object(loaded):
        raise ValueError(f"{path} is a pi-GAN EMA record; give the {PIGAN_GENERATOR} beside it (or its folder) instead")
    if isinstance(loaded, InertModule):
        ema_file = pigan_ema_file(path, ema_path)
        if ema_file is None:
            warnings.warn(f"no {PIGAN_EMA} beside {path}: converting the raw (non-EMA) generator weights", stacklevel=2)
            return OfficialCheckpoint([path], loaded, None)
        ema = _load(ema_file)
        if not (_is_ema_object(ema) or isinstance(ema, dict)):
            raise ValueError(f"{ema_file} holds a {_kind(ema)}, not a torch_ema ExponentialMovingAverage")
        return OfficialCheckpoint([path, ema_file], loaded, ema)
    raise ValueError(
        f"{path} holds a {_kind(loaded)}, not an official checkpoint: expected a Pix2NeRF {PIX2NERF_CHECKPOINT} "
        f"(a dict with generator.pth, encoder.pth, ema.pth, ...) or a pi-GAN {PIGAN_GENERATOR} (a pickled generator)"
    )


def _kind(obj: Any) -> str:
    return obj._qualified_name if isinstance(obj, InertModule) else type(obj).__name__


# ------------------------------------------------------------------------------------------------------------------
# architecture
def _indexed(state: dict[str, torch.Tensor], pattern: str) -> list[torch.Tensor]:
    """Tensors whose keys match `pattern` (one integer group), ordered by that integer."""
    found = {int(m.group(1)): value for key, value in state.items() if (m := re.fullmatch(pattern, key))}
    return [found[i] for i in sorted(found)]


def official_architecture(checkpoint: OfficialCheckpoint) -> dict[str, Any]:
    """The Pix2NeRFConfig fields that the file determines: siren_variant, z_dim, hidden_dim, num_siren_layers,
    mapping_hidden_dim, mapping_num_layers, and encoder_channels (or has_encoder False)."""
    generator = checkpoint.generator
    siren = generator.child("siren")
    if siren is None:
        raise ValueError(
            f"the generator is a {generator._qualified_name} without a `siren`; "
            "expected an official ImplicitGenerator3d"
        )
    variants = {name: variant for variant, name in SIREN_CLASSES.items()}
    if siren.class_name not in variants:
        raise ValueError(f"the generator's SIREN is {siren.class_name}; pix2nerf converts {' and '.join(variants)}")
    variant = variants[siren.class_name]
    warp = siren.child("gridwarper")
    scale = warp.attribute("scale_factor") if warp is not None else None
    if variant == "spatial" and scale is not None and not math.isclose(float(scale), SPATIAL_INPUT_SCALE, rel_tol=1e-6):
        raise ValueError(f"the SPATIALSIRENBASELINE scales points by {scale}; pix2nerf supports 2/0.24 only")

    state = generator.state_dict()
    film = _indexed(state, r"siren\.network\.(\d+)\.layer\.weight")
    mapping = _indexed(state, r"siren\.mapping_network\.network\.(\d+)\.weight")
    if not film or len(mapping) < 2:
        raise ValueError(
            "the generator has no siren.network / siren.mapping_network weights; not an official pi-GAN SIREN"
        )
    hidden, z_dim = film[0].shape[0], mapping[0].shape[1]
    if film[0].shape[1] != 3:
        raise ValueError(f"the generator's first SIREN layer takes {film[0].shape[1]} inputs; expected 3 (xyz)")
    codes = 2 * (len(film) + 1) * hidden
    if mapping[-1].shape[0] != codes:
        raise ValueError(
            f"the mapping network gives {mapping[-1].shape[0]} codes; {len(film)} SIREN layers of {hidden} need {codes}"
        )
    fields: dict[str, Any] = {
        "siren_variant": variant,
        "z_dim": z_dim,
        "hidden_dim": hidden,
        "num_siren_layers": len(film),
        "mapping_hidden_dim": mapping[0].shape[0],
        "mapping_num_layers": len(mapping) - 1,
    }
    encoder = checkpoint.encoder
    if encoder is None:
        fields["has_encoder"] = False
        fields["latent_distribution"] = "gaussian"  # pi-GAN trains with z ~ N(0, I)
        return fields
    if encoder.class_name != "CCSEncoder":
        raise ValueError(
            f"the encoder is a {encoder._qualified_name}; pix2nerf converts the CCSEncoder (--encoder_type CCS)"
        )
    encoder_state = encoder.state_dict()
    widths = [w.shape[0] for w in _indexed(encoder_state, r"fromRGB\.(\d+)\.model\.0\.weight")]
    head = encoder_state.get("final_layer.weight")
    if not widths or head is None:
        raise ValueError("the encoder has no fromRGB / final_layer weights; not an official CCSEncoder")
    if head.shape[0] != z_dim + 2:
        raise ValueError(f"the encoder predicts {head.shape[0] - 2} latent dimensions, the generator takes z {z_dim}")
    fields["encoder_channels"] = widths
    return fields


def _check_preset(preset: str, fields: dict[str, Any], source: Path) -> None:
    expected = Pix2NeRFConfig.from_preset(preset)
    if fields["siren_variant"] != expected.siren_variant:
        fitting = [
            p for p in CONVERTIBLE_PRESETS if Pix2NeRFConfig.from_preset(p).siren_variant == fields["siren_variant"]
        ]
        raise ValueError(
            f"preset {preset!r} is for {SIREN_CLASSES[expected.siren_variant]} generators (z {expected.z_dim}), but "
            f"{source} holds a {SIREN_CLASSES[fields['siren_variant']]} generator with z {fields['z_dim']}; "
            f"use preset {' or '.join(repr(p) for p in fitting)}"
        )


def _check_model_size(config: Pix2NeRFConfig, files: list[Path]) -> None:
    """Refuse an architecture whose float32 weights outweigh the files that hold them (shared storages can
    describe a model far larger than the file), measured on the meta device before anything is allocated."""
    with torch.device("meta"):
        parameters = sum(t.numel() for t in Pix2NeRF(config).state_dict().values())
    available = sum(f.stat().st_size for f in files)
    if 4 * parameters > 2 * available:
        raise ValueError(
            f"{files[0]} describes a model of {4 * parameters:,} bytes of weights but holds {available:,} bytes; "
            "its tensors share storage, which official checkpoints do not"
        )


def convert_official_checkpoint(path: str | Path, preset: str, ema_path: str | Path | None = None) -> Pix2NeRF:
    """An official Pix2NeRF training checkpoint or pi-GAN generator as a pix2nerf model (float32, CPU, eval mode).

    path: checkpoint_train.pth, generator.pth, or a folder holding one. preset: carla, srn_chairs or celeba (cameras,
    pose prior, background). ema_path: pi-GAN only, the ema.pth to apply (default: the one beside generator.pth).
    Raises FileNotFoundError, ValueError (not a checkpoint, a preset that contradicts the file, truncated), and
    safe_load.UnsafePickleError (a ValueError) for a file that names anything outside the allow-list.
    """
    if preset in PRESETS and Pix2NeRFConfig.from_preset(preset).field_type != "siren":
        raise ValueError(
            f"preset {preset!r} has a {Pix2NeRFConfig.from_preset(preset).field_type} field (config.field_type), but "
            f"official checkpoints hold pi-GAN's SIREN field; choose one of {', '.join(CONVERTIBLE_PRESETS)}"
        )
    if preset not in CONVERTIBLE_PRESETS:
        raise ValueError(
            f"unknown preset {preset!r} for an official checkpoint; choose one of {', '.join(CONVERTIBLE_PRESETS)}"
        )
    checkpoint = read_official_checkpoint(path, ema_path)
    fields = official_architecture(checkpoint)
    _check_preset(preset, fields, checkpoint.files[0])
    config = Pix2NeRFConfig.from_preset(preset, **fields)
    _check_model_size(config, checkpoint.files)
    model = Pix2NeRF(config)
    state = generator_state_dict(checkpoint.generator, checkpoint.generator_ema)
    if checkpoint.encoder is not None:
        state.update(encoder_state_dict(checkpoint.encoder, checkpoint.encoder_ema))
    model.load_state_dict_strict(state, source=str(checkpoint.files[0]))
    return model.float().eval()


# ------------------------------------------------------------------------------------------------------------------
# hub folder
def check_output_folder(out_dir: str | Path, overwrite: bool = False) -> Path:
    """The output folder, refused when it already holds a model and `overwrite` is False."""
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise ValueError(f"{out} exists and is not a folder")
    existing = [name for name in (CONFIG_NAME, WEIGHTS_NAME) if (out / name).exists()]
    if existing and not overwrite:
        raise ValueError(
            f"{out} already holds {' and '.join(existing)}; choose another folder or overwrite it (--overwrite)"
        )
    return out


def save_converted(
    model: Pix2NeRF,
    out_dir: str | Path,
    source_path: str | Path,
    preset: str,
    *,
    ema_path: str | Path | None = None,
    overwrite: bool = False,
) -> Path:
    """Write a hub-ready model folder: config.json, model.safetensors and a model card (README.md) naming the
    source files (with SHA-256), the paper and the official release whose licence covers the weights."""
    if preset != model.config.preset:
        raise ValueError(f"the model was converted with preset {model.config.preset!r}, not {preset!r}")
    out = check_output_folder(out_dir, overwrite)
    sources = [checkpoint_file(source_path)]
    if not model.config.has_encoder:
        sources += [p for p in [pigan_ema_file(sources[0], ema_path)] if p is not None]
    model.save_pretrained(out)
    (out / "README.md").write_text(converted_model_card(model.config, sources))
    return out


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def converted_model_card(config: Pix2NeRFConfig, sources: list[Path]) -> str:
    """The README.md of a converted model: hub metadata (licence: the official release's), provenance, usage."""
    from pix2nerf import __version__

    release = "Pix2NeRF" if config.has_encoder else "pi-GAN"
    release_url = RELEASES[release]
    metadata = card_metadata(config)
    metadata.license, metadata.license_name, metadata.license_link = (
        "other",
        f"{release.lower()}-official-release",
        release_url,
    )
    metadata.tags = sorted({*metadata.tags, "converted", "official-weights"})
    if not config.has_encoder:
        metadata.pipeline_tag = "unconditional-image-generation"
    if config.has_encoder:
        method = f"[Pix2NeRF]({PAPER_URL}) (Cai et al., CVPR 2022)"
        usage = (
            "from PIL import Image\nfrom pix2nerf import Pix2NeRF\n\n"
            'model = Pix2NeRF.from_pretrained("REPO_ID")   # this repo\'s id on the hub, or the local folder\n'
            'latent = model.encode(Image.open("input.png"))        # z and the camera pose (degrees)\n'
            "out = model.render(latent, yaw=30.0, pitch=10.0, resolution=128)   # rgb (1, 3, 128, 128) in [0, 1]"
        )
    else:
        method = (
            f"a [pi-GAN]({PIGAN_PAPER_URL}) generator (Chan et al., CVPR 2021), the generator that "
            f"[Pix2NeRF]({PAPER_URL}) (Cai et al., CVPR 2022) builds on"
        )
        usage = (
            "import torch\nfrom pix2nerf import Pix2NeRF\n\n"
            'model = Pix2NeRF.from_pretrained("REPO_ID")   # this repo\'s id on the hub, or the local folder\n'
            "out = model.generate(0, yaw=30.0, pitch=10.0, resolution=128)   # a seed or z (B, z_dim); z ~ N(0, I)\n"
            "# no encode(): pi-GAN has no encoder"
        )
    files = "\n".join(f"| `{p.name}` | `{_sha256(p)}` |" for p in sources)
    encoder = f"CCS encoder widths {config.encoder_channels}" if config.has_encoder else "no encoder"
    return f"""---
{metadata.to_yaml()}
---

# {release} `{config.preset}` (official weights, converted)

The official {release} weights for the `{config.preset}` preset, converted to safetensors for the
[pix2nerf](https://github.com/pix2nerf/pix2nerf) package. The model is {method}.

## Source and licence

The weights come from the official release, [{release_url.removeprefix("https://github.com/")}]({release_url}),
and are distributed under that release's licence and terms; see {release_url}. The conversion changes no values:
it reads the release file without executing it (allow-listed unpickling), takes the EMA weights as the official
inference does, and stores them as float32.

| source file | SHA-256 |
| --- | --- |
{files}

Converted with `pix2nerf convert-official --preset {config.preset}` (pix2nerf {__version__}).
Read from the file: {SIREN_CLASSES[config.siren_variant]}, z {config.z_dim}, hidden width {config.hidden_dim},
{config.num_siren_layers} SIREN layers, {encoder}. From the preset: fov {config.fov:g} degrees, rays
{config.ray_start:g} to {config.ray_end:g}, background `{config.background}`, {config.num_steps} samples per ray.

## Usage

```python
{usage}
```

Angles are degrees: yaw 0 / pitch 0 is the front view, positive pitch looks from above.

## Citation

```bibtex
{CITATION}
```
"""
