"""The official-checkpoint converter: the fixture's reference outputs through a saved hub folder, the CelebA
(SPATIALSIRENBASELINE, z 512) and pi-GAN layouts built here with stand-ins of the official classes, and the
allow-list unpickler's refusals (foreign globals, code-running opcodes, bad tensor records, truncated files)."""

from __future__ import annotations

import argparse
import collections
import io
import math
import os
import pickle
import random
import re
import sys
import types
import zipfile
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from pix2nerf import Pix2NeRF
from pix2nerf.cli.convert_official import add_arguments, main
from pix2nerf.hub import push_model
from pix2nerf.hub import upload as hub_upload
from pix2nerf.official.convert import convert_official_checkpoint, save_converted
from pix2nerf.official.safe_load import UnsafePickleError, safe_load

REPO_ROOT = Path(__file__).resolve().parents[1]
CARLA_CHECKPOINT = "carla_checkpoint_train.pth"


def run_cli(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="pix2nerf convert-official")
    add_arguments(parser)
    return main(parser.parse_args([str(a) for a in argv]))


def assert_close(actual: torch.Tensor, expected: torch.Tensor, tol: float) -> None:
    torch.testing.assert_close(actual.double(), expected.double(), atol=tol, rtol=0)


# ----------------------------------------------------------------------------------------------------------------
# the fixture checkpoint, through the CLI and a saved hub folder
@pytest.fixture(scope="module")
def saved_carla(official_dir, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("converted") / "pix2nerf-carla-official"
    assert run_cli(official_dir / CARLA_CHECKPOINT, "--preset", "carla", "-o", out) == 0
    return out


@pytest.fixture(scope="module")
def reloaded_carla(saved_carla) -> Pix2NeRF:
    return Pix2NeRF.from_pretrained(saved_carla)


def test_saved_folder_reproduces_official_encoder(reloaded_carla, reference):
    latent = reloaded_carla.encode(reference["encoder.images64"])
    assert_close(latent.z, reference["encoder.latent64"], 1e-4)
    phi, theta = reference["encoder.pose64_pitch_yaw"].unbind(-1)  # official radians: polar angle, azimuth
    assert_close(latent.yaw, torch.rad2deg(theta - math.pi / 2), 1e-3)
    assert_close(latent.pitch, torch.rad2deg(math.pi / 2 - phi), 1e-3)


def test_saved_folder_reproduces_official_renders(reloaded_carla, reference):
    for view in (0, 1):
        theta, phi = reference[f"render.view{view}.yaw_pitch"].tolist()
        out = reloaded_carla.render(
            reference["render.z"],
            math.degrees(theta - math.pi / 2),
            math.degrees(math.pi / 2 - phi),
            resolution=24,
            num_steps=12,
            deterministic=True,
            lock_view_dependence=True,
            skip_empty=False,
        )
        # 5e-4: float32 sums of 12 samples differ by up to ~2e-4 between CPUs (an 8-bit level is 3.9e-3)
        assert_close(out.rgb[0], (reference[f"render.view{view}.image"] + 1) / 2, 5e-4)


def test_saved_folder_is_a_hub_model(saved_carla, reloaded_carla, carla_model):
    assert sorted(p.name for p in saved_carla.iterdir()) == ["README.md", "config.json", "model.safetensors"]
    card = (saved_carla / "README.md").read_text()
    front_matter = card.split("---\n")[1]
    for line in ("library_name: pix2nerf", "pipeline_tag: image-to-3d", "license: other", "- pix2nerf", "- carla"):
        assert line in front_matter.splitlines()
    for text in (
        CARLA_CHECKPOINT,
        "https://arxiv.org/abs/2202.13162",
        "primecai/Pix2NeRF",
        "licence",
        "Pix2NeRF.from_pretrained(",
        "TALLSIREN, z 256",
    ):
        assert text in card
    assert reloaded_carla.config == carla_model.config
    loaded = reloaded_carla.state_dict()
    for name, value in carla_model.state_dict().items():  # the same weights as the in-memory conversion
        assert torch.equal(loaded[name], value), name


def test_cli_refuses_to_overwrite_unless_asked(official_dir, tmp_path, capsys):
    assert run_cli(official_dir / CARLA_CHECKPOINT, "--preset", "carla", "-o", tmp_path) == 0
    assert "wrote" in capsys.readouterr().out
    with pytest.raises(ValueError, match="already holds config.json and model.safetensors"):
        run_cli(official_dir / CARLA_CHECKPOINT, "--preset", "srn_chairs", "-o", tmp_path)
    assert run_cli(official_dir / CARLA_CHECKPOINT, "--preset", "srn_chairs", "-o", tmp_path, "--overwrite") == 0
    assert Pix2NeRF.from_pretrained(tmp_path).config.fov == 52.0


def test_preset_that_contradicts_the_file_is_refused(official_dir):
    with pytest.raises(
        ValueError, match=r"preset 'celeba' is for SPATIALSIRENBASELINE .* holds a TALLSIREN generator with z 256"
    ):
        convert_official_checkpoint(official_dir / CARLA_CHECKPOINT, "celeba")
    with pytest.raises(ValueError, match="unknown preset 'tiny'.*carla, srn_chairs, celeba"):
        convert_official_checkpoint(official_dir / CARLA_CHECKPOINT, "tiny")


# ----------------------------------------------------------------------------------------------------------------
# stand-ins of the official classes, registered under the official module names so that torch.save pickles them
def official_classes(
    monkeypatch, siren_module: str, generators_module: str, encoder_module: str = "discriminators.sgdiscriminators_con"
) -> types.SimpleNamespace:
    """Small copies of the official pi-GAN / Pix2NeRF modules (same attribute names and forward passes)."""
    modules: dict[str, types.ModuleType] = {}
    for dotted in (siren_module, generators_module, encoder_module, "torch_ema.ema"):
        parts = dotted.split(".")
        for depth in range(1, len(parts) + 1):
            name = ".".join(parts[:depth])
            if name not in modules:
                modules[name] = types.ModuleType(name)
                monkeypatch.setitem(sys.modules, name, modules[name])

    class FiLMLayer(nn.Module):
        __module__, __qualname__ = siren_module, "FiLMLayer"

        def __init__(self, input_dim, hidden_dim):
            super().__init__()
            self.layer = nn.Linear(input_dim, hidden_dim)

        def forward(self, x, freq, phase_shift):
            return torch.sin(freq.unsqueeze(1) * self.layer(x) + phase_shift.unsqueeze(1))

    class CustomMappingNetwork(nn.Module):
        __module__, __qualname__ = siren_module, "CustomMappingNetwork"

        def __init__(self, z_dim, map_hidden_dim, map_output_dim):
            super().__init__()
            self.network = nn.Sequential(
                nn.Linear(z_dim, map_hidden_dim),
                nn.LeakyReLU(0.2, inplace=True),
                nn.Linear(map_hidden_dim, map_hidden_dim),
                nn.LeakyReLU(0.2, inplace=True),
                nn.Linear(map_hidden_dim, map_hidden_dim),
                nn.LeakyReLU(0.2, inplace=True),
                nn.Linear(map_hidden_dim, map_output_dim),
            )

        def forward(self, z):
            out = self.network(z)
            return out[..., : out.shape[-1] // 2], out[..., out.shape[-1] // 2 :]

    class UniformBoxWarp(nn.Module):
        __module__, __qualname__ = siren_module, "UniformBoxWarp"

        def __init__(self, sidelength):
            super().__init__()
            self.scale_factor = 2 / sidelength

    class Siren(nn.Module):
        """TALLSIREN / SPATIALSIRENBASELINE with `num_layers` FiLM layers; forward -> (rgb, sigma)."""

        def __init__(self, z_dim, hidden_dim, num_layers, map_hidden_dim, spatial):
            super().__init__()
            self.device, self.input_dim, self.z_dim, self.hidden_dim, self.output_dim = None, 3, z_dim, hidden_dim, 4
            self.network = nn.ModuleList(
                [FiLMLayer(3, hidden_dim)] + [FiLMLayer(hidden_dim, hidden_dim) for _ in range(num_layers - 1)]
            )
            self.final_layer = nn.Linear(hidden_dim, 1)
            self.color_layer_sine = FiLMLayer(hidden_dim + 3, hidden_dim)
            self.color_layer_linear = nn.Sequential(nn.Linear(hidden_dim, 3), *([] if spatial else [nn.Sigmoid()]))
            self.mapping_network = CustomMappingNetwork(z_dim, map_hidden_dim, (num_layers + 1) * hidden_dim * 2)
            if spatial:
                self.gridwarper = UniformBoxWarp(0.24)

        def forward(self, points, z, ray_directions):
            frequencies, phase_shifts = self.mapping_network(z)
            frequencies = frequencies * 15 + 30
            x = points * self.gridwarper.scale_factor if hasattr(self, "gridwarper") else points
            h = self.hidden_dim
            for i, layer in enumerate(self.network):
                x = layer(x, frequencies[..., i * h : (i + 1) * h], phase_shifts[..., i * h : (i + 1) * h])
            sigma = self.final_layer(x)
            features = self.color_layer_sine(
                torch.cat([ray_directions, x], -1), frequencies[..., -h:], phase_shifts[..., -h:]
            )
            rgb = self.color_layer_linear(features)
            if hasattr(self, "gridwarper"):  # SPATIALSIRENBASELINE's colour head has no Sigmoid module
                rgb = torch.sigmoid(rgb)
            return rgb, sigma[..., 0]

    class TALLSIREN(Siren):
        __module__, __qualname__ = siren_module, "TALLSIREN"

        def __init__(self, **kwargs):
            super().__init__(spatial=False, **kwargs)

    class SPATIALSIRENBASELINE(Siren):
        __module__, __qualname__ = siren_module, "SPATIALSIRENBASELINE"

        def __init__(self, **kwargs):
            super().__init__(spatial=True, **kwargs)

    class ImplicitGenerator3d(nn.Module):
        __module__, __qualname__ = generators_module, "ImplicitGenerator3d"

        def __init__(self, siren, z_dim, **siren_kwargs):
            super().__init__()
            self.z_dim, self.epoch, self.step, self.device = z_dim, 0, 0, torch.device("cpu")
            self.siren = siren(z_dim=z_dim, **siren_kwargs)

    class AddCoords(nn.Module):
        __module__, __qualname__ = encoder_module, "AddCoords"

        def __init__(self, with_r=False):
            super().__init__()
            self.with_r = with_r

    class CoordConv(nn.Module):
        __module__, __qualname__ = encoder_module, "CoordConv"

        def __init__(self, in_channels, out_channels, **kwargs):
            super().__init__()
            self.addcoords = AddCoords()
            self.conv = nn.Conv2d(in_channels + 2, out_channels, **kwargs)

    class ResidualCCBlock(nn.Module):
        __module__, __qualname__ = encoder_module, "ResidualCCBlock"

        def __init__(self, inplanes, planes):
            super().__init__()
            self.network = nn.Sequential(
                CoordConv(inplanes, planes, kernel_size=3, padding=1),
                nn.LeakyReLU(0.2, inplace=True),
                CoordConv(planes, planes, kernel_size=3, stride=2, padding=1),
                nn.LeakyReLU(0.2, inplace=True),
            )
            self.proj = nn.Conv2d(inplanes, planes, 1, stride=2)

    class AdapterBlock(nn.Module):
        __module__, __qualname__ = encoder_module, "AdapterBlock"

        def __init__(self, output_channels):
            super().__init__()
            self.model = nn.Sequential(nn.Conv2d(3, output_channels, 1, padding=0), nn.LeakyReLU(0.2))

    class CCSEncoder(nn.Module):
        __module__, __qualname__ = encoder_module, "CCSEncoder"

        def __init__(self, z_dim, widths):
            super().__init__()
            self.z_dim = z_dim
            self.layers = nn.ModuleList([ResidualCCBlock(a, b) for a, b in zip(widths[:-1], widths[1:])])
            self.fromRGB = nn.ModuleList([AdapterBlock(w) for w in widths])
            self.final_layer = nn.Conv2d(widths[-1], z_dim + 2, 2)
            self.img_size_to_layer = {2 ** (len(widths) - i): i for i in range(len(widths))}
            self.tanh = nn.Tanh()

    class CCSEncoderDiscriminator(nn.Module):  # real ones also pool, and use spectral norm with --sn 1
        __module__, __qualname__ = encoder_module, "CCSEncoderDiscriminator"

        def __init__(self):
            super().__init__()
            self.fromRGB = nn.ModuleList([AdapterBlock(4)])
            self.pool = nn.AvgPool2d(2)
            self.final_layer = nn.utils.spectral_norm(nn.Conv2d(4, 3, 2))

    class ExponentialMovingAverage:
        __module__, __qualname__ = "torch_ema.ema", "ExponentialMovingAverage"

        def __init__(self, parameters, decay):
            self.decay, self.num_updates, self.collected_params = decay, 10, []
            self.shadow_params = [p.clone().detach() for p in parameters]

    namespace = dict(locals())
    for cls in namespace.values():
        if isinstance(cls, type) and cls.__module__ in modules:
            setattr(modules[cls.__module__], cls.__qualname__, cls)
    return types.SimpleNamespace(**{k: v for k, v in namespace.items() if isinstance(v, type)})


def perturbed_shadows(module: nn.Module, seed: int) -> list[torch.Tensor]:
    """EMA shadows that differ from the raw weights, so that a converter ignoring them fails."""
    generator = torch.Generator().manual_seed(seed)
    return [p.detach() + 0.05 * torch.randn(p.shape, generator=generator) for p in module.parameters()]


def load_shadows(module: nn.Module, shadows: list[torch.Tensor]) -> None:
    with torch.no_grad():
        for parameter, shadow in zip(module.parameters(), shadows):
            parameter.copy_(shadow)


def assert_field_matches(model: Pix2NeRF, siren: nn.Module) -> None:
    generator = torch.Generator().manual_seed(0)
    z = torch.rand(2, model.config.z_dim, generator=generator) * 2 - 1
    points = (torch.rand(2, 64, 3, generator=generator) * 2 - 1) * 0.3
    directions = F.normalize(torch.randn(2, 64, 3, generator=generator), dim=-1)
    with torch.no_grad():
        rgb_expected, sigma_expected = siren(points, z, directions)
        rgb, sigma = model.field(points, directions, *model.field.latent_codes(z))
    torch.testing.assert_close(rgb, rgb_expected, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(sigma, sigma_expected, atol=1e-5, rtol=1e-5)


# ----------------------------------------------------------------------------------------------------------------
# CelebA layout: SPATIALSIRENBASELINE, z 512, in the Pix2NeRF training format
def test_celeba_layout(monkeypatch, tmp_path):
    torch.manual_seed(0)
    official = official_classes(monkeypatch, "siren.siren_con", "generators.generators_con")
    generator = official.ImplicitGenerator3d(
        official.SPATIALSIRENBASELINE, 512, hidden_dim=16, num_layers=3, map_hidden_dim=32
    )
    encoder = official.CCSEncoder(512, [8, 8, 8, 16, 16, 16])
    shadows, encoder_shadows = perturbed_shadows(generator, 1), perturbed_shadows(encoder, 2)
    optimizer = torch.optim.Adam(generator.parameters(), lr=1e-4, betas=(0.0, 0.9))
    checkpoint = {
        "ema.pth": {"decay": 0.999, "num_updates": 10, "shadow_params": shadows, "collected_params": None},
        "ema_encoder.pth": {
            "decay": 0.999,
            "num_updates": 10,
            "shadow_params": encoder_shadows,
            "collected_params": None,
        },
        "generator.pth": generator,
        "discriminator.pth": official.CCSEncoderDiscriminator(),
        "encoder.pth": encoder,
        "optimizer_G.pth": optimizer.state_dict(),
        "scaler.pth": {"scale": 1024.0, "_growth_tracker": 3},
        "generator.losses": [0.5],
        "discriminator.losses": [0.7],
        "encoder.losses": [0.1],
    }
    torch.save(checkpoint, tmp_path / "checkpoint_train.pth")

    model = convert_official_checkpoint(tmp_path, "celeba")  # the folder holding checkpoint_train.pth
    config = model.config
    assert (config.siren_variant, config.z_dim, config.hidden_dim, config.num_siren_layers) == ("spatial", 512, 16, 3)
    assert (config.mapping_hidden_dim, config.mapping_num_layers, config.encoder_channels) == (
        32,
        3,
        [8, 8, 8, 16, 16, 16],
    )
    assert (config.background, config.fov, config.has_encoder) == ("last_sample", 12.0, True)
    load_shadows(generator, shadows)
    assert_field_matches(model, generator.siren)  # the 2/0.24 input scale and the EMA weights included
    latent = model.encode(torch.zeros(1, 3, 64, 64))
    out = model.render(latent, resolution=8, num_steps=4)
    assert out.rgb.shape == (1, 3, 8, 8) and torch.isfinite(out.rgb).all()

    with pytest.raises(
        ValueError,
        match=r"preset 'carla' is for TALLSIREN generators \(z 256\), but .*"
        r" holds a SPATIALSIRENBASELINE generator with z 512; use preset 'celeba'",
    ):
        convert_official_checkpoint(tmp_path / "checkpoint_train.pth", "carla")


# ----------------------------------------------------------------------------------------------------------------
# pi-GAN release: a pickled generator module, and ema.pth holding a pickled ExponentialMovingAverage object
@pytest.fixture
def pigan_release(monkeypatch, tmp_path):
    torch.manual_seed(0)
    official = official_classes(monkeypatch, "siren.siren", "generators.generators", "discriminators.discriminators")
    generator = official.ImplicitGenerator3d(official.TALLSIREN, 8, hidden_dim=16, num_layers=3, map_hidden_dim=16)
    ema = official.ExponentialMovingAverage(generator.parameters(), decay=0.999)
    ema.shadow_params = perturbed_shadows(generator, 3)
    torch.save(generator, tmp_path / "generator.pth")
    torch.save(ema, tmp_path / "ema.pth")
    return tmp_path, generator, ema.shadow_params


def test_pigan_release(pigan_release, tmp_path_factory):
    folder, generator, shadows = pigan_release
    model = convert_official_checkpoint(folder, "carla")
    assert not model.config.has_encoder and model.encoder is None and model.config.z_dim == 8
    raw = [p.detach().clone() for p in generator.parameters()]
    load_shadows(generator, shadows)
    assert_field_matches(model, generator.siren)
    with pytest.raises(ValueError, match="converted without an encoder"):
        model.encode(torch.zeros(1, 3, 64, 64))
    assert model.generate(0, yaw=30.0, pitch=10.0, resolution=8, num_steps=4).rgb.shape == (1, 3, 8, 8)

    out = save_converted(model, tmp_path_factory.mktemp("pigan") / "model", folder / "generator.pth", "carla")
    card = (out / "README.md").read_text()
    assert "pipeline_tag: unconditional-image-generation" in card and "marcoamonteiro/pi-GAN" in card
    assert "`generator.pth`" in card and "`ema.pth`" in card
    assert not Pix2NeRF.from_pretrained(out).config.has_encoder

    explicit = convert_official_checkpoint(folder / "generator.pth", "carla", ema_path=folder / "ema.pth")
    assert torch.equal(explicit.field.density_head.weight, model.field.density_head.weight)
    with pytest.raises(ValueError, match="is a pi-GAN EMA record; give the generator.pth"):
        convert_official_checkpoint(folder / "ema.pth", "carla")
    (folder / "ema.pth").unlink()
    with pytest.warns(UserWarning, match="raw"):
        raw_model = convert_official_checkpoint(folder / "generator.pth", "carla")
    load_shadows(generator, raw)
    assert_field_matches(raw_model, generator.siren)


# ----------------------------------------------------------------------------------------------------------------
# hand-made pickles
class Call:
    """Pickles as a call of `function` (a REDUCE)."""

    def __init__(self, function, *args):
        self.function, self.args = function, args

    def __reduce__(self):
        return self.function, self.args


class StorageRef:
    """Pickles as torch.save's persistent id of a storage record."""

    def __init__(self, key: str, location: str = "cpu", numel: int = 0, storage_type=torch.FloatStorage):
        self.key, self.location, self.numel, self.storage_type = key, location, numel, storage_type


class _CraftPickler(pickle.Pickler):
    def persistent_id(self, obj):
        if isinstance(obj, StorageRef):
            return ("storage", obj.storage_type, obj.key, obj.location, obj.numel)
        return None


def craft(obj) -> bytes:
    buffer = io.BytesIO()
    _CraftPickler(buffer, protocol=2).dump(obj)
    return buffer.getvalue()


def raw_call(module: str, name: str, *args) -> bytes:
    """A protocol-2 pickle that calls module.name(*args), naming the global exactly."""
    return b"\x80\x02c" + f"{module}\n{name}\n".encode() + pickle.dumps(args, protocol=2)[2:-1] + b"R."


def tensor_record(storage, offset, size, stride, hooks=None) -> Call:
    return Call(
        torch._utils._rebuild_tensor_v2, storage, offset, size, stride, False, hooks or collections.OrderedDict()
    )


def write_torch_zip(path: Path, payload: bytes, records: dict[str, bytes] | None = None) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as archive:
        archive.writestr("archive/data.pkl", payload)
        archive.writestr("archive/byteorder", "little")
        archive.writestr("archive/version", "3\n")
        for key, data in (records or {}).items():
            archive.writestr(f"archive/data/{key}", data)
    return path


def test_storages_saved_on_cuda_load_on_the_cpu(tmp_path):
    values = torch.arange(6, dtype=torch.float32)
    payload = craft(
        {
            "weight": tensor_record(StorageRef("0", "cuda:0", 6), 1, (2, 2), (2, 1)),
            "bias": Call(
                torch._utils._rebuild_parameter,
                tensor_record(StorageRef("0", "cuda:0", 6), 0, (3,), (2,)),
                True,
                collections.OrderedDict(),
            ),
            "device": Call(torch.device, "cuda", 0),
        }
    )
    loaded = safe_load(write_torch_zip(tmp_path / "cuda.pth", payload, {"0": values.numpy().tobytes()}))
    assert loaded["weight"].device.type == "cpu" and torch.equal(
        loaded["weight"], torch.tensor([[1.0, 2.0], [3.0, 4.0]])
    )
    assert loaded["bias"].device.type == "cpu" and torch.equal(loaded["bias"], torch.tensor([0.0, 2.0, 4.0]))
    assert loaded["device"] == torch.device("cuda", 0)


# (module, name, arguments that would create `marker` if the call ran)
FOREIGN_CALLS = [
    ("os", "system", lambda marker: (f"touch {marker}",)),
    ("posix", "system", lambda marker: (f"touch {marker}",)),
    ("subprocess", "Popen", lambda marker: (["touch", marker],)),
    ("builtins", "eval", lambda marker: (f"open({marker!r}, 'w')",)),
    ("__builtin__", "exec", lambda marker: (f"open({marker!r}, 'w')",)),
    ("builtins", "open", lambda marker: (marker, "w")),
    ("io", "open", lambda marker: (marker, "w")),
    ("builtins", "getattr", lambda marker: ("os", "system")),
    ("functools", "partial", lambda marker: ("print",)),
    ("torch", "load", lambda marker: (marker,)),
]


@pytest.mark.parametrize("module,name,make_args", FOREIGN_CALLS)
def test_foreign_globals_are_refused_before_anything_runs(tmp_path, module, name, make_args):
    marker = tmp_path / "marker"
    path = write_torch_zip(tmp_path / "evil.pth", raw_call(module, name, *make_args(str(marker))))
    with pytest.raises(UnsafePickleError, match=f"names the global {module}.{name}, which is not allowed"):
        safe_load(path)
    with pytest.raises(UnsafePickleError, match=f"{module}.{name}"):
        convert_official_checkpoint(path, "carla")
    assert not marker.exists()


def test_the_refused_payload_is_live(tmp_path):
    """Control: the same kind of bytes through plain pickle do run (so the refusals above are not vacuous)."""
    marker = tmp_path / "marker"
    pickle.loads(raw_call("builtins", "open", str(marker), "w")).close()
    assert marker.exists()


def test_foreign_global_inside_a_checkpoint_dict(tmp_path):
    marker = tmp_path / "marker"
    payload = craft({"generator.pth": Call(os.system, f"touch {marker}"), "encoder.pth": None})
    with pytest.raises(UnsafePickleError, match=r"names the global posix\.system"):
        convert_official_checkpoint(write_torch_zip(tmp_path / "checkpoint_train.pth", payload), "carla")
    assert not marker.exists()


STAND_IN = b"csiren.siren_con\nTALLSIREN\n"
ORDERED_DICT = b"ccollections\nOrderedDict\n"


@pytest.mark.parametrize(
    "payload,message",
    [
        (STAND_IN + b")R.", "calls siren.siren_con.TALLSIREN"),  # REDUCE on an allowed class
        (STAND_IN + b"X\x01\x00\x00\x00a\x85\x81.", "constructor arguments"),  # NEWOBJ with arguments
        (STAND_IN + b")\x81}X\x0a\x00\x00\x00state_dictK\x01sb.", "attribute 'state_dict'"),  # BUILD shadowing a method
        (ORDERED_DICT + b")R(K\x01e.", "Can only extend lists"),  # APPENDS on a non-list
        (STAND_IN + b")\x81(K\x01K\x02u.", "Can only SETITEMS for dict.*TALLSIREN"),  # SETITEMS on a stand-in
        (b"(isiren.siren_con\nTALLSIREN\n.", "INST opcode"),
        (b"\x82\x01.", "EXT1 opcode"),
    ],
)
def test_code_running_opcodes_are_refused(tmp_path, payload, message):
    if not payload.startswith(b"("):
        payload = b"\x80\x02" + payload
    path = write_torch_zip(tmp_path / "opcodes.pth", payload)
    with pytest.raises(UnsafePickleError, match=message):
        safe_load(path, ("siren",))


def test_plain_containers_stay_plain(tmp_path):
    """NEWOBJ and BUILD on an OrderedDict only build an OrderedDict (torch's unpickler allows it; nothing runs)."""
    for payload in (ORDERED_DICT + b")\x81.", ORDERED_DICT + b")R}b."):
        path = write_torch_zip(tmp_path / "plain.pth", b"\x80\x02" + payload)
        assert safe_load(path) == collections.OrderedDict()


@pytest.mark.parametrize(
    "record,message",
    [
        (
            tensor_record(StorageRef("0", numel=4), 0, (10,), (1,)),
            "malformed tensor record .*storage",
        ),
        (tensor_record(StorageRef("0", numel=4), 4, (1,), (1,)), "malformed tensor record .*storage"),
        (tensor_record(StorageRef("0", numel=4), 0, (2**62,), (1,)), "malformed tensor record .*overflowed"),
        (tensor_record(StorageRef("0", numel=4), 0, (2, 2), (2, 1, 1)), "unequal size length"),
        (tensor_record(StorageRef("0", numel=4), 0, (2,), (-1,)), "malformed tensor record"),
        (tensor_record(StorageRef("0", numel=4), -1, (2,), (1,)), "invalid storage offset -1"),
        (tensor_record("not a storage", 0, (1,), (1,)), "corrupt or truncated .*'str'"),
        (tensor_record(StorageRef("0", numel=4), 0, (2**31,), (0,)), r"shape \(2147483648,\)"),
        (tensor_record(StorageRef("0", numel=4), 0, (0, 2**40), (2**40, 2**40)), r"shape \(0, 1099511627776\)"),
        (tensor_record(StorageRef("9"), 0, (1,), (1,)), "data/9: file not found"),
        (tensor_record(StorageRef("../data.pkl"), 0, (1,), (1,)), "data/../data.pkl: file not found"),
        (
            tensor_record(StorageRef("1", numel=1, storage_type=torch.DoubleStorage), 0, (1,), (1,)),
            r"record size \(6 bytes\) does not match",
        ),
        (tensor_record(StorageRef("0", numel=10**12), 0, (1,), (1,)), r"record size \(16 bytes\) does not match"),
    ],
)
def test_bad_tensor_records_give_clean_errors(tmp_path, record, message):
    path = write_torch_zip(tmp_path / "tensor.pth", craft(record), {"0": bytes(16), "1": bytes(6)})
    with pytest.raises(ValueError, match=message):
        safe_load(path)


def checkpoint_prefix(tmp_path: Path, fraction: float) -> bytes:
    """The first `fraction` of a small torch.save checkpoint in the official layout (a generator state dict)."""
    state = {"generator.pth": {"layer.weight": torch.randn(256, 256), "layer.bias": torch.randn(256)}}
    torch.save(state, tmp_path / "whole.pth")
    data = (tmp_path / "whole.pth").read_bytes()
    return data[: int(len(data) * fraction)]


@pytest.mark.parametrize(
    "make,message",
    [
        (lambda d: checkpoint_prefix(d, 0.5), "not a PyTorch checkpoint .* or it is truncated"),
        (lambda d: checkpoint_prefix(d, 0.9999), "not a PyTorch checkpoint .* or it is truncated"),
        (lambda d: random.Random(0).randbytes(4096), "not a PyTorch checkpoint"),
        (lambda d: b"generator.pth: weights\n" * 20, "not a PyTorch checkpoint"),
        (lambda d: b"", "not a PyTorch checkpoint"),
        (lambda d: pickle.dumps({"generator.pth": 1}, protocol=2), "legacy"),
    ],
)
def test_truncated_and_non_checkpoint_files(tmp_path, make, message):
    path = tmp_path / "checkpoint_train.pth"
    path.write_bytes(make(tmp_path))
    with pytest.raises(ValueError, match=message):
        convert_official_checkpoint(path, "carla")


def test_truncated_pickle_inside_the_archive(tmp_path):
    payload = craft({"generator.pth": [1.0, 2.0, "x" * 50], "encoder.pth": None})
    path = write_torch_zip(tmp_path / "cut.pth", payload[: len(payload) // 2])
    with pytest.raises(ValueError, match="corrupt or truncated"):
        safe_load(path)


def test_compressed_records_are_refused(tmp_path):
    """torch.save never compresses; a compressed record could expand without bound (a zip bomb)."""
    path = tmp_path / "deflated.pth"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("archive/data.pkl", craft({"a": 1}))
    with pytest.raises(ValueError, match="record 'archive/data.pkl' is compressed"):
        safe_load(path)


def test_other_content_and_missing_files(tmp_path):
    path = write_torch_zip(tmp_path / "list.pth", craft([1, 2, 3]))
    with pytest.raises(ValueError, match="holds a list, not an official checkpoint"):
        convert_official_checkpoint(path, "carla")
    with pytest.raises(FileNotFoundError, match="no official checkpoint"):
        convert_official_checkpoint(tmp_path / "missing.pth", "carla")
    with pytest.raises(FileNotFoundError, match="holds neither checkpoint_train.pth"):
        convert_official_checkpoint(tmp_path, "carla")


# ----------------------------------------------------------------------------------------------------------------
# pix2nerf.hub.push_model (hub/push_model.py): argument parsing and the dry run only (no network in tests)
def test_push_model_dry_run(tiny_model, tmp_path, capsys, monkeypatch):
    folder = tmp_path / "pix2nerf-tiny"
    tiny_model.save_pretrained(folder)
    args = push_model.build_parser().parse_args([str(folder), "--repo-id", "someone/pix2nerf-tiny", "--private"])
    assert (args.folder, args.repo_id, args.private, args.dry_run) == (folder, "someone/pix2nerf-tiny", True, False)

    monkeypatch.setattr(hub_upload, "upload", lambda *a, **k: pytest.fail("the dry run must not upload"))
    assert push_model.main([str(folder), "--repo-id", "someone/pix2nerf-tiny", "--dry-run"]) == 0
    printed = capsys.readouterr().out
    for name in ("README.md", "config.json", "model.safetensors", "dry run: nothing uploaded"):
        assert name in printed
    assert push_model.main([str(folder), "--repo-id", "not a valid//id", "--dry-run"]) == 2
    assert push_model.main([str(folder / "missing"), "--repo-id", "a/b", "--dry-run"]) == 2
    assert "no model folder" in capsys.readouterr().err


# ----------------------------------------------------------------------------------------------------------------
# resource bombs: each small file is refused in a subprocess whose address space is capped, measuring its peak
BOMB_MEMORY_LIMIT = 1536 * 2**20  # bytes of address space for the refusing process (torch alone maps ~0.6 GB)
BOMB_PEAK_RSS = 400 * 2**20  # the refusing process's peak resident memory beyond its imports


def shared_storage_bomb(path: Path) -> Path:
    """One 4 MB storage referenced 5,000 times as generator weights (a 20 GB model if copied per reference)."""
    weight = tensor_record(StorageRef("0", numel=2**20), 0, (1024, 1024), (1024, 1))
    state = {f"siren.network.{i}.layer.weight": weight for i in range(5000)}
    return write_torch_zip(path, craft(state), {"0": bytes(4 * 2**20)})


def layer_bomb(path: Path) -> Path:
    """20,000 stand-in layers, each with its own parameters dict."""
    stand_in = b"csiren.siren_con\nFiLMLayer\n)\x81}X\x0b\x00\x00\x00_parametersccollections\nOrderedDict\n)Rsb"
    return write_torch_zip(path, b"\x80\x02](" + stand_in * 20000 + b"e.")


def empty_tensor_bomb(path: Path) -> Path:
    """A zero-element tensor whose shape claims 2**40 columns (160 GB once any code sizes a buffer by it)."""
    return write_torch_zip(path, craft(tensor_record(StorageRef("0", numel=0), 0, (0, 2**40), (1, 1))), {"0": b""})


def byteorder_bomb(path: Path) -> Path:
    """A byte-order record that is not 'little' and is 50 MB long (read in full by a loader that trusts it)."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as archive:
        archive.writestr("archive/data.pkl", craft({"a": 1}))
        archive.writestr("archive/byteorder", bytes(50 * 2**20))
        archive.writestr("archive/version", "3\n")
    return path


def deflated_bomb(path: Path) -> Path:
    """A 200 MB record of zeros compressed to a few hundred kB."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("archive/data.pkl", craft({"a": 1}))
        archive.writestr("archive/data/0", bytes(200 * 2**20))
        archive.writestr("archive/version", "3\n")
    return path


REFUSE_IN_SUBPROCESS = """
import resource, sys
resource.setrlimit(resource.RLIMIT_AS, ({limit}, {limit}))
from pix2nerf.official.convert import convert_official_checkpoint
print("imported", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)
try:
    convert_official_checkpoint(sys.argv[1], "carla")
except ValueError as error:
    print("refused:", str(error)[:300].replace(chr(10), " "))
print("peak", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)
"""


@pytest.mark.parametrize(
    "make,message",
    [
        (shared_storage_bomb, "holds a dict, not an official checkpoint"),  # read, its storage once
        (layer_bomb, "holds a list, not an official checkpoint"),
        (empty_tensor_bomb, r"shape \(0, 1099511627776\)"),
        (byteorder_bomb, "not saved little-endian"),
        (deflated_bomb, "is compressed"),
    ],
)
def test_resource_bombs_are_refused_in_bounded_memory(tmp_path, make, message):
    import subprocess

    path = make(tmp_path / "checkpoint_train.pth")
    assert path.stat().st_size < 64 * 2**20
    script = REFUSE_IN_SUBPROCESS.format(limit=BOMB_MEMORY_LIMIT)
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    done = subprocess.run([sys.executable, "-c", script, str(path)], capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stderr[-2000:]
    imported, refused, peak = done.stdout.strip().splitlines()[-3:]
    assert refused.startswith("refused:") and re.search(message, refused), refused
    growth = int(peak.split()[1]) - int(imported.split()[1])  # what the refusal took beyond torch and the package
    assert growth < BOMB_PEAK_RSS, (imported, peak)


def test_limits_can_be_raised_for_a_large_pickle(tmp_path, monkeypatch):
    path = write_torch_zip(tmp_path / "big.pth", craft({"a": "x" * 2048}))
    monkeypatch.setenv("PIX2NERF_LIMIT_PICKLE_BYTES", "1024")
    with pytest.raises(ValueError, match="at most 1,024 are read"):
        safe_load(path)
    monkeypatch.setenv("PIX2NERF_LIMIT_PICKLE_BYTES", "4096")
    assert safe_load(path) == {"a": "x" * 2048}
