"""The parts of pix2nerf.training that train/train.py calls: the VGG16 perceptual stack, the initial model, the
mixed precision choice, the hub repo, lazy R1, the inversion cycle and the model export (CPU, tiny preset)."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest
import torch
import torch.nn.functional as F
from safetensors.torch import save_file

from pix2nerf.networks import Discriminator


def vgg_file(path, **changes):
    """Randomly initialised VGG16 relu3_3 weights with torchvision's names, plus a later layer, as safetensors."""
    from pix2nerf.training.vgg import VGG16Features

    torch.manual_seed(0)
    tensors = {**VGG16Features().state_dict(), "features.17.weight": torch.zeros(512, 256, 3, 3)}
    for key, value in changes.items():
        if value is None:
            tensors.pop(key)
        else:
            tensors[key] = value
    save_file(tensors, str(path))
    return path


def trainer_for(model, **options):
    from pix2nerf.training import Pix2NeRFTrainer

    config = model.config
    return Pix2NeRFTrainer(model, Discriminator(config.discriminator_channels, config.discriminator_type), **options)


def test_vgg_stack_loads_from_safetensors_and_trains_one_step_of_the_tiny_preset(tmp_path, tiny_model):
    from pix2nerf.training.vgg import load_vgg16_features

    vgg = load_vgg16_features(vgg_file(tmp_path / "vgg16.safetensors"))
    assert not vgg.training and not any(p.requires_grad for p in vgg.parameters())
    assert vgg(torch.zeros(2, 3, 16, 16)).shape == (2, 256, 4, 4)
    trainer = trainer_for(tiny_model, vgg=vgg)
    before = [p.detach().clone() for p in tiny_model.field.parameters()]
    torch.manual_seed(1)
    logs = trainer.train_step(torch.rand(2, 3, 8, 8) * 2 - 1, 1)  # an odd step: the reconstruction terms
    assert torch.isfinite(logs["recon_vgg"]) and logs["recon_vgg"] > 0
    assert torch.isfinite(logs["e_latent_explained"]) and logs["e_latent_explained"] <= 1  # z's variance E reads
    assert any(not torch.equal(a, b) for a, b in zip(before, tiny_model.field.parameters()))


def test_vgg_weights_name_the_missing_and_mis_shaped_keys(tmp_path):
    from pix2nerf.training.vgg import load_vgg16_features

    path = vgg_file(tmp_path / "bad.safetensors", **{"features.5.bias": None, "features.7.weight": torch.zeros(3)})
    with pytest.raises(ValueError, match=r"missing features\.5\.bias; mis-shaped features\.7\.weight \(3,\)"):
        load_vgg16_features(path)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_vgg16_features(tmp_path / "nothing.safetensors")
    (tmp_path / "text.safetensors").write_text("not safetensors")
    with pytest.raises(ValueError, match="not a readable safetensors file"):
        load_vgg16_features(tmp_path / "text.safetensors")


def test_vgg_hub_ids_read_the_cache_offline(tmp_path, monkeypatch):
    import huggingface_hub

    from pix2nerf.training.vgg import load_vgg16_features

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(FileNotFoundError, match="from the local hub cache"):
        load_vgg16_features("nobody/no-such-vgg16")
    calls = []
    path = vgg_file(tmp_path / "model.safetensors")
    monkeypatch.setattr(huggingface_hub, "hf_hub_download", lambda repo, name: calls.append((repo, name)) or path)
    assert load_vgg16_features("timm/vgg16.tv_in1k") is not None and calls == [
        ("timm/vgg16.tv_in1k", "model.safetensors")
    ]


def test_initial_model_fine_tunes_a_folder_or_the_default_model(tmp_path, tiny_model):
    from pix2nerf.training.initial_model import initial_model, parse_overrides

    tiny_model.save_pretrained(tmp_path / "tiny")
    model = initial_model(None, {}, str(tmp_path / "tiny"))
    assert model.config == tiny_model.config and model.training
    assert all(torch.equal(a, b) for a, b in zip(model.parameters(), tiny_model.parameters()))
    tuned = initial_model(None, parse_overrides('{"r1_interval": 4, "max_train_steps": 2}'), str(tmp_path / "tiny"))
    assert tuned.config.r1_interval == 4 and torch.equal(
        tuned.field.state_dict()[k := next(iter(tuned.field.state_dict()))], tiny_model.field.state_dict()[k]
    )
    with pytest.raises(ValueError, match=r"--config_overrides \['hidden_dim'\] cannot apply.*mis-shaped"):
        initial_model(None, {"hidden_dim": 8}, str(tmp_path / "tiny"))
    with pytest.raises(ValueError, match="either --preset or --pretrained_model_name_or_path"):
        initial_model("tiny", {}, str(tmp_path / "tiny"))
    default = initial_model(None, {}, "default")
    assert default.config.preset == "synthetic_cars_triplane" and next(default.parameters()).dtype == torch.float32
    with pytest.raises(ValueError, match="must be a JSON object"):
        parse_overrides("[1]")


def test_mixed_precision_takes_the_flag_else_the_launcher_and_warns_when_they_differ():
    from pix2nerf.training.precision import choose_mixed_precision

    launcher = {"ACCELERATE_MIXED_PRECISION": "bf16"}
    assert choose_mixed_precision(None, "cuda", {}) == ("fp16", None)
    assert choose_mixed_precision(None, "cpu", {}) == ("no", None)
    assert choose_mixed_precision(None, "cuda", launcher) == ("bf16", None)
    assert choose_mixed_precision("bf16", "cuda", launcher) == ("bf16", None)
    precision, warning = choose_mixed_precision("no", "cuda", launcher)
    assert precision == "no" and "--mixed_precision no overrides the launcher's mixed precision bf16" in warning
    with pytest.raises(ValueError, match="ACCELERATE_MIXED_PRECISION='fp8' is not one of no, fp16, bf16"):
        choose_mixed_precision(None, "cuda", {"ACCELERATE_MIXED_PRECISION": "fp8"})


def test_the_hub_repo_is_created_first_and_its_namespaced_id_takes_every_upload(tmp_path, monkeypatch):
    from pix2nerf.training import hub_repo

    calls = []

    def create_repo(name, **options):
        calls.append(("create", name, options))
        return SimpleNamespace(repo_id=f"someone/{name.split('/')[-1]}")

    def upload_folder(**options):
        calls.append(("upload", options["repo_id"], options["folder_path"]))
        return SimpleNamespace(commit_url="https://huggingface.co/someone/cars/commit/1")

    monkeypatch.setattr(hub_repo, "create_repo", create_repo)
    monkeypatch.setattr(hub_repo, "upload_folder", upload_folder)
    repo_id = hub_repo.create_model_repo(None, tmp_path / "cars", token="t")
    assert repo_id == "someone/cars"
    assert calls == [("create", "cars", {"repo_type": "model", "exist_ok": True, "token": "t"})]
    hub_repo.push_model(repo_id, tmp_path / "cars" / "model", 6, token="t")
    assert calls[-1] == ("upload", "someone/cars", str(tmp_path / "cars" / "model"))


def test_lazy_r1_penalises_every_kth_d_step_with_gamma_times_k(tiny_model):
    from pix2nerf import Pix2NeRF, Pix2NeRFConfig

    real = torch.rand(2, 3, 8, 8) * 2 - 1
    r1 = {}
    for interval in (1, 4):
        torch.manual_seed(0)
        model = Pix2NeRF(Pix2NeRFConfig.from_preset("tiny", r1_interval=interval))
        trainer = trainer_for(model)
        r1[interval] = [trainer.train_step(real, step).get("r1") for step in range(5)]
    assert all(v is not None for v in r1[1])
    assert [v is not None for v in r1[4]] == [True, False, False, False, True]
    torch.testing.assert_close(r1[4][0], 4 * r1[1][0])  # the same first D step, gamma scaled by 4
    with pytest.raises(ValueError, match=r"config.r1_interval must be an integer in \[1, "):
        Pix2NeRFConfig.from_preset("tiny", r1_interval=0)


@pytest.mark.parametrize("preset", ["tiny", "tiny_triplane"])
def test_the_inversion_cycle_trains_the_encoder_alone(preset):
    from pix2nerf import Pix2NeRF, Pix2NeRFConfig

    real = torch.rand(2, 3, 8, 8) * 2 - 1
    encoder_gradients = {}
    for weight in (0.0, 1.0):
        torch.manual_seed(0)
        model = Pix2NeRF(Pix2NeRFConfig.from_preset(preset, inversion_cycle_weight=weight))
        trainer = trainer_for(model)
        field_gradients = []

        def apply(scaler_name, loss, modules, original=trainer._apply):
            if scaler_name == "e":  # E's backward: the cycle's gradient reaches no field parameter
                loss.backward(retain_graph=True)
                field_gradients.extend(p.grad for p in model.field.parameters())
                encoder_gradients[weight] = [p.grad.clone() for p in model.encoder.parameters() if p.grad is not None]
            original(scaler_name, loss, modules)

        trainer._apply = apply
        logs = trainer.train_step(real, 0)
        assert ("e_cycle" in logs) == (weight > 0)
        assert field_gradients and all(g is None for g in field_gradients)
    assert torch.isfinite(logs["e_cycle"]) and logs["e_cycle"] > 0
    assert all(p.requires_grad for p in model.field.parameters())  # unfrozen after the cycle
    # the same fakes and E up to its step (the cycle draws its random numbers after): the cycle adds to E's gradient
    assert any(not torch.equal(a, b) for a, b in zip(encoder_gradients[0.0], encoder_gradients[1.0]))


def test_export_writes_the_model_card_grids_and_training_record(tmp_path, tiny_model):
    from PIL import Image

    from pix2nerf import Pix2NeRF
    from pix2nerf.training.export import export_model

    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "stale.txt").write_text("old")
    grid = Image.new("RGB", (8, 8))
    export_model(
        tiny_model,
        tmp_path / "model",
        grids={"samples": grid, "reconstructions": grid},
        training={"steps": 3},
        evaluation=None,
        model_id="someone/cars",
        title="cars",
        datasets=[],
    )
    names = sorted(p.name for p in (tmp_path / "model").iterdir())
    assert names == ["README.md", "config.json", "images", "model.safetensors", "training.json"]
    assert [p.name for p in (tmp_path / "model" / "images").iterdir()] == ["samples.png"]
    assert "someone/cars" in (tmp_path / "model" / "README.md").read_text()
    assert json.loads((tmp_path / "model" / "training.json").read_text()) == {"steps": 3}
    Pix2NeRF.from_pretrained(tmp_path / "model")


def test_the_fade_in_restarts_only_where_the_resolution_changes():
    from pix2nerf import Pix2NeRF, Pix2NeRFConfig

    stage = {"batch_size": 2, "num_steps": 6, "lr_g": 1e-4, "lr_d": 1e-4, "lr_e": 1e-4}
    stages = [
        {**stage, "start_step": 0, "resolution": 16},
        {**stage, "start_step": 100, "resolution": 32},
        {**stage, "start_step": 300, "resolution": 32, "lr_g": 5e-5},  # learning rates only: the fade goes on
        {**stage, "start_step": 400, "resolution": 64},
    ]
    config = Pix2NeRFConfig.from_preset("tiny", training_stages=stages, fade_steps=400)
    trainer = trainer_for(Pix2NeRF(config))
    assert [trainer.alpha(step) for step in (0, 50, 100, 200, 300, 350, 400, 500)] == [
        0.0,
        0.125,
        0.0,
        0.25,
        0.5,
        0.625,
        0.0,
        0.25,
    ]


def test_step_graphs_need_one_cuda_process(tiny_model):
    with pytest.raises(ValueError, match="step_graphs: they need one CUDA process; this trainer runs on cpu"):
        trainer_for(tiny_model, step_graphs=True)
    assert trainer_for(tiny_model).step_graphs is None  # off by default
    assert trainer_for(tiny_model, step_graphs="auto").step_graphs is None  # auto: off where they cannot run
    with pytest.raises(ValueError, match="step_graphs must be True, False or 'auto', got 'on'"):
        trainer_for(tiny_model, step_graphs="on")
    trainer = trainer_for(tiny_model)  # what auto reads on a CUDA machine, stood in for on the CPU
    trainer.device = torch.device("cuda")
    assert trainer._why_no_step_graphs() is None
    with pytest.raises(ValueError, match="step_graphs must be True, False or 'auto', got '1'"):
        trainer_for(tiny_model, step_graphs=1)


def test_a_replayed_iteration_bumps_the_weights_versions(tiny_model):
    """A CUDA graph's replay updates the weights without autograd seeing it (stood in for by a step that returns
    without running): the trainer bumps their versions, which the SIREN's packed weights and render graphs key on."""
    trainer = trainer_for(tiny_model)
    trainer.step_graphs = lambda key, step, *inputs: {"loss": torch.zeros(())}
    weights = [p for network in (tiny_model, trainer.discriminator) for p in network.parameters()]
    versions = [p._version for p in weights]
    settled = dict(alpha=1.0, settings=SimpleNamespace(noise_std=0.0))
    trainer._run(lambda *inputs, **switches: {}, (torch.zeros(1),), **settled)
    assert all(p._version == version + 1 for p, version in zip(weights, versions))


def test_step_graphs_get_whole_iterations_once_the_schedule_settles_keyed_by_what_a_replay_cannot_change():
    """A recorder stands in for the CUDA graphs (pix2nerf.training.step_graphs) on the CPU: the trainer hands it each
    whole iteration only once the fade-in and the density noise are done, under keys that change with the kind of
    iteration, the R1 switch, E's warm-up, top-k and the learning rates, and the training it runs is the trainer's own
    (the EMAs included)."""
    from pix2nerf import Pix2NeRF, Pix2NeRFConfig

    class Recorder:
        def __init__(self):
            self.keys = []

        def __call__(self, key, step, *inputs):
            self.keys.append(key)
            return step(*inputs)

    real = torch.rand(16, 3, 8, 8) * 2 - 1
    stages = [
        {"start_step": 0, "resolution": 8, "batch_size": 16, "num_steps": 6, "lr_g": 1e-4, "lr_d": 1e-4, "lr_e": 1e-4},
        {"start_step": 5, "resolution": 8, "batch_size": 16, "num_steps": 6, "lr_g": 1e-4, "lr_d": 5e-5, "lr_e": 1e-4},
    ]
    options = dict(r1_interval=2, fade_steps=2, density_noise_steps=3, warmup_steps=4, training_stages=stages)
    logs, emas = {}, {}
    for name in ("launched", "recorded"):
        torch.manual_seed(0)
        model = Pix2NeRF(Pix2NeRFConfig.from_preset("tiny", topk_floor=0.5, topk_interval=1, **options))
        trainer = trainer_for(model)
        recorder = trainer.step_graphs = Recorder() if name == "recorded" else None
        logs[name] = []
        for step in range(8):
            torch.manual_seed(100 + step)
            logs[name].append(trainer.train_step(real, step))
        emas[name] = trainer.state_dict()["ema_encoder"]
    switches = [dict(key[1]) for key in recorder.keys]
    assert len(switches) == 5  # steps 3-7: alpha reaches 1 at step 2, the density noise 0 at step 3
    assert all(s["alpha"] == 1.0 and s["settings"].noise_std == 0 for s in switches)
    assert [s["with_r1"] for s in switches] == [False, True, False, True, False]
    assert [s["conditional"] for s in switches] == [True, False, True, False, True]
    assert [s["train_encoder"] for s in switches] == [False, True, True, True, True]
    assert [s["keep"] for s in switches] == [16, 16, 16, 16, 15]  # ceil(0.99^step of the batch of 16)
    assert recorder.keys[1][2] != recorder.keys[2][2]  # D's learning rate halved from step 5
    assert recorder.keys[0][0] == ((((16, 3, 8, 8)), torch.float32),)
    assert emas["recorded"]["num_updates"] == emas["launched"]["num_updates"] == 8 + 2  # E's second update: 5 and 7
    for name, shadow in emas["launched"]["shadow"].items():
        torch.testing.assert_close(emas["recorded"]["shadow"][name], shadow)
    for launched, recorded in zip(logs["launched"], logs["recorded"]):
        assert launched.keys() == recorded.keys()
        for key in launched:
            torch.testing.assert_close(recorded[key], launched[key])


def test_step_graphs_check_their_warm_up_and_a_failed_capture_says_how_to_go_on(monkeypatch):
    """CUDA's graph capture replaced by stand-ins: the step runs launched for its warm-up, then a capture that the
    step breaks (as a host-to-device copy does) stops the run with what to do next."""
    import contextlib

    from pix2nerf.training.step_graphs import StepGraphs

    with pytest.raises(ValueError, match="warmup must be an integer of at least 1"):
        StepGraphs(warmup=0)
    graphs = StepGraphs(warmup=1)
    monkeypatch.setattr(graphs, "_on_side_stream", lambda step, inputs: step(*inputs))
    monkeypatch.setattr(graphs, "_side_stream", lambda: SimpleNamespace(wait_stream=lambda stream: None))
    monkeypatch.setattr(torch.cuda, "current_stream", lambda: None)
    monkeypatch.setattr(torch.cuda, "CUDAGraph", lambda: None)
    monkeypatch.setattr(torch.cuda, "graph_pool_handle", lambda: (0, 1))
    monkeypatch.setattr(torch.cuda, "graph", lambda graph, **options: contextlib.nullcontext())
    calls = []

    def step(x):
        calls.append(x)
        if len(calls) > 1:
            raise RuntimeError("Cannot copy between CPU and CUDA tensors during CUDA graph capture")
        return {"y": x * 2}

    assert graphs(("d",), step, torch.ones(2))["y"].tolist() == [2.0, 2.0]
    with pytest.raises(RuntimeError, match=r"Cannot copy between CPU and CUDA.*--step_graphs off"):
        graphs(("d",), step, torch.ones(2))
    assert len(graphs) == 0


def r1_gradients(discriminator, images: torch.Tensor) -> list[torch.Tensor]:
    """D's summed logit on `images` (requiring grad) plus R1's penalty, backpropagated: [logit, the images' gradient,
    every weight gradient]."""
    images.grad = None
    discriminator.zero_grad(set_to_none=True)
    logits = discriminator(images)[0].sum()
    (grad,) = torch.autograd.grad(logits, images, create_graph=True)
    (logits + grad.pow(2).sum()).backward()
    return [logits.detach(), images.grad] + [p.grad for p in discriminator.parameters() if p.grad is not None]


@pytest.mark.parametrize("stride, padding, size", [(1, 1, 9), (2, 1, 9), (2, 1, 8), (1, 0, 7)])
def test_coordconv_is_the_convolution_of_the_input_concatenated_with_its_coordinates(stride, padding, size):
    """The split CoordConv (input channels, plus the coordinates' share with the bias) gives the values, first and
    second derivatives of one convolution of the concatenated input (float64); groups, other padding modes and inputs
    of another width are refused."""
    from pix2nerf.networks.blocks import CoordConv, coordinate_channels

    torch.manual_seed(0)
    layer = CoordConv(3, 4, kernel_size=3, stride=stride, padding=padding).double()
    x = torch.randn(2, 3, size, size, dtype=torch.float64, requires_grad=True)
    conv = layer.conv

    def concatenated(x, weight, bias):
        return F.conv2d(torch.cat([x, coordinate_channels(x)], 1), weight, bias, stride, padding)

    def split(x, weight, bias):
        return torch.func.functional_call(layer, {"conv.weight": weight, "conv.bias": bias}, (x,))

    inputs = (x, conv.weight, conv.bias)
    torch.testing.assert_close(split(*inputs), concatenated(*inputs))
    expected = torch.autograd.grad(concatenated(*inputs).square().sum(), inputs)
    for got, want in zip(torch.autograd.grad(split(*inputs).square().sum(), inputs), expected):
        torch.testing.assert_close(got, want)
    assert torch.autograd.gradgradcheck(split, inputs)
    with pytest.raises(ValueError, match="groups 1 and zero padding only"):
        CoordConv(4, 4, kernel_size=3, groups=2)
    with pytest.raises(ValueError, match="groups 1 and zero padding only"):
        CoordConv(4, 4, kernel_size=3, padding=1, padding_mode="reflect")
    with pytest.raises(ValueError, match=r"CoordConv expects \(B, 3, H, W\) inputs, got \(2, 5, 9, 9\)"):
        layer(torch.zeros(2, 5, 9, 9, dtype=torch.float64))


@pytest.mark.parametrize("channels_last", [False, True])
@pytest.mark.parametrize("stride, size", [(1, 8), (2, 8), (2, 7)])
def test_pointwise_conv_and_pooling_are_conv2d_and_avg_pool2d(channels_last, stride, size):
    """The 1x1 convolution as a matrix product and the 2x2 mean give F.conv2d's and F.avg_pool2d's values and first
    and second derivatives (float64), in the input's memory layout."""
    from pix2nerf.networks.blocks import average_pool2x2, pointwise_conv2d

    torch.manual_seed(0)
    layout = torch.channels_last if channels_last else torch.contiguous_format
    x = torch.randn(2, 5, size, size, dtype=torch.float64).contiguous(memory_format=layout).requires_grad_(True)
    weight = torch.randn(4, 5, 1, 1, dtype=torch.float64, requires_grad=True)
    bias = torch.randn(4, dtype=torch.float64, requires_grad=True)
    inputs = (x, weight, bias)
    got = pointwise_conv2d(*inputs, stride=stride)
    torch.testing.assert_close(got, F.conv2d(*inputs, stride=stride))
    assert got.is_contiguous(memory_format=layout)
    assert torch.autograd.gradgradcheck(lambda *a: pointwise_conv2d(*a, stride=stride), inputs)
    assert torch.autograd.gradgradcheck(lambda x, w: pointwise_conv2d(x, w, None, stride=stride), inputs[:2])
    with torch.autocast("cpu", dtype=torch.bfloat16):  # the dtype autocast gives F.conv2d, in either layout
        assert pointwise_conv2d(x.float(), weight.float(), bias.float(), stride=stride).dtype == torch.bfloat16
    if size % 2 == 0:
        pooled = average_pool2x2(x)
        torch.testing.assert_close(pooled, F.avg_pool2d(x, 2))
        assert pooled.is_contiguous(memory_format=layout)
        assert torch.autograd.gradgradcheck(average_pool2x2, (x,))


@pytest.mark.parametrize("kind", ["progressive", "ccs"])
def test_transposed_input_grad_leaves_d_and_r1s_double_backward_as_they_were(kind):
    """CoordConvs whose input gradient is a transposed convolution give the same logits, R1 gradient and weight
    gradients of R1's double backward as `F.conv2d` (pooled and strided blocks, float64)."""
    from pix2nerf.networks import Discriminator
    from pix2nerf.networks.blocks import use_transposed_input_grad

    torch.manual_seed(0)
    discriminator = Discriminator([8, 16, 16, 16], kind).double()
    images = torch.rand(2, 3, 16, 16, dtype=torch.float64, requires_grad=True)

    plain = r1_gradients(discriminator, images)
    use_transposed_input_grad(discriminator, True)
    transposed = r1_gradients(discriminator, images)
    assert len(plain) == len(transposed) > 10
    for a, b in zip(plain, transposed):
        torch.testing.assert_close(b, a)


@pytest.mark.parametrize("stride, padding, size", [(1, 1, 9), (2, 1, 9), (2, 1, 8), (1, 0, 7), (2, 0, 8)])
def test_transposed_grad_conv2d_matches_conv2d_to_the_second_derivative(stride, padding, size):
    """Values, first derivatives and second derivatives (gradcheck, gradgradcheck) of `F.conv2d`."""
    from pix2nerf.networks.transposed_grad_conv import transposed_grad_conv2d

    torch.manual_seed(0)
    x = torch.randn(2, 3, size, size, dtype=torch.float64, requires_grad=True)
    weight = torch.randn(4, 3, 3, 3, dtype=torch.float64, requires_grad=True)
    bias = torch.randn(4, dtype=torch.float64, requires_grad=True)
    torch.testing.assert_close(
        transposed_grad_conv2d(x, weight, bias, stride, padding), F.conv2d(x, weight, bias, stride, padding)
    )
    assert torch.autograd.gradcheck(lambda *a: transposed_grad_conv2d(*a, stride, padding), (x, weight, bias))
    assert torch.autograd.gradgradcheck(lambda *a: transposed_grad_conv2d(*a, stride, padding), (x, weight, bias))


def test_transposed_grad_conv2d_can_leave_out_parameter_gradients_of_a_backward_that_builds_a_graph():
    """input_only_when_creating_graph: R1's first backward (create_graph) gets the input's gradient alone, a plain
    backward every gradient; CoordConvs that cannot take the function are refused."""
    from pix2nerf.networks.blocks import CoordConv, use_transposed_input_grad
    from pix2nerf.networks.transposed_grad_conv import transposed_grad_conv2d

    torch.manual_seed(0)
    x = torch.randn(1, 2, 6, 6, requires_grad=True)
    weight = torch.randn(3, 2, 3, 3, requires_grad=True)
    bias = torch.randn(3, requires_grad=True)
    out = transposed_grad_conv2d(x, weight, bias, 1, 1, input_only_when_creating_graph=True)
    grads = torch.autograd.grad(out.square().sum(), (x, weight, bias), create_graph=True, allow_unused=True)
    assert grads[0] is not None and grads[1] is None and grads[2] is None
    expected = torch.autograd.grad(F.conv2d(x, weight, bias, 1, 1).square().sum(), (x, weight, bias))
    for got, want in zip(torch.autograd.grad(out.square().sum(), (x, weight, bias)), expected):
        torch.testing.assert_close(got, want)
    dilated = CoordConv(2, 3, kernel_size=3, padding=2, dilation=2)
    with pytest.raises(ValueError, match="dilation 1"):
        use_transposed_input_grad(dilated, True)
    use_transposed_input_grad(dilated, False)  # turning it off is always possible


def test_transposed_grad_conv2d_under_autocast_computes_in_its_dtype_and_returns_weight_gradients_in_theirs():
    """Under autocast (bf16 on a CPU) the convolution and both backward passes run in the autocast dtype, like
    `F.conv2d`; R1's double backward reaches the float32 weight with a float32 gradient."""
    from pix2nerf.networks.transposed_grad_conv import transposed_grad_conv2d

    torch.manual_seed(0)
    x = torch.randn(2, 3, 8, 8, requires_grad=True)
    weight = torch.randn(4, 3, 3, 3, requires_grad=True)
    bias = torch.randn(4, requires_grad=True)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = transposed_grad_conv2d(x, weight, bias, 1, 1)
        expected = F.conv2d(x, weight, bias, 1, 1)
    assert out.dtype == expected.dtype == torch.bfloat16
    torch.testing.assert_close(out, expected)
    (grad_x,) = torch.autograd.grad(out.float().square().sum(), x, create_graph=True)
    grad_x.square().sum().backward()
    assert grad_x.dtype == torch.float32 and weight.grad.dtype == torch.float32
    assert torch.isfinite(weight.grad).all() and weight.grad.abs().sum() > 0


def trained_from_one_start(steps: tuple[int, ...], *runs: dict) -> tuple[dict, list]:
    """One tiny model and D, trained `steps` by a trainer per options in `runs` (the same data and random numbers):
    the model's initial state dict and, per run, (trainer, its state dict after the steps)."""
    import copy

    from pix2nerf import Pix2NeRF, Pix2NeRFConfig

    torch.manual_seed(0)
    model = Pix2NeRF(Pix2NeRFConfig.from_preset("tiny"))
    config = model.config
    initial_d = Discriminator(config.discriminator_channels, config.discriminator_type).state_dict()
    torch.manual_seed(1)
    real = torch.rand(2, 3, 16, 16) * 2 - 1
    trained = []
    for options in runs:
        trainer = trainer_for(copy.deepcopy(model), **options)
        trainer.discriminator.load_state_dict(initial_d)
        torch.manual_seed(2)
        for step in steps:
            trainer.train_step(real, step)
        trained.append((trainer, trainer.state_dict()))
    return {"model": model.state_dict(), "discriminator": initial_d}, trained


def test_trainer_takes_transposed_input_grad_on_cuda_only_and_trains_d_the_same_with_it():
    """`transposed_input_grad` defaults to off on a CPU; set, D's CoordConvs take it and an iteration with R1 moves D's
    weights as PyTorch's own double backward does."""
    from pix2nerf.networks.blocks import CoordConv

    initial, trained = trained_from_one_start((2,), {"transposed_input_grad": None}, {"transposed_input_grad": True})
    for (trainer, _), transposed in zip(trained, (False, True)):
        layers = [m for m in trainer.discriminator.modules() if isinstance(m, CoordConv)]
        assert layers and all(m.transposed_input_grad is transposed for m in layers)
        assert trainer.transposed_input_grad is transposed
    (_, plain), (_, transposed) = trained
    moved = max((plain["discriminator"][name] - value).abs().max() for name, value in initial["discriminator"].items())
    assert moved > 1e-4
    for name, value in plain["discriminator"].items():
        torch.testing.assert_close(transposed["discriminator"][name], value, rtol=1e-4, atol=1e-6)


def test_topk_keeps_a_shrinking_share_of_the_fakes_down_to_its_floor(tiny_model):
    import dataclasses

    trainer = trainer_for(tiny_model)
    assert trainer.topk_keep(1000, 16) is None  # the tiny preset: top-k off
    trainer.config = dataclasses.replace(trainer.config, topk_floor=0.6, topk_interval=2000)
    assert [trainer.topk_keep(step, 16) for step in (0, 2000, 20000, 200000)] == [16, 16, 15, 10]


def test_ema_follows_torch_emas_warm_up_and_reloads_into_the_same_count_tensor():
    """shadow <- shadow + (1 - d) (live - shadow), d = min(decay, (1 + n) / (10 + n)) after n updates; loading a state
    writes the count in place (a captured update keeps reading the same tensor)."""
    from pix2nerf.training.ema import EMA

    live = torch.nn.Linear(3, 2)
    ema = EMA(live, decay=0.9)
    expected = [p.detach().clone() for p in live.parameters()]
    for n in range(1, 6):
        with torch.no_grad():
            for p in live.parameters():
                p.add_(torch.randn_like(p))
        ema.update(live)
        decay = min(0.9, (1 + n) / (10 + n))
        expected = [e + (1 - decay) * (p.detach() - e) for e, p in zip(expected, live.parameters())]
    for shadow, value in zip(ema.shadow.parameters(), expected):
        torch.testing.assert_close(shadow, value)
    count = ema._updates
    state = ema.state_dict()
    assert state["num_updates"] == 5
    ema.load_state_dict({**state, "num_updates": 2})
    assert ema._updates is count and ema.num_updates == 2


@pytest.mark.parametrize("preset", ["tiny", "tiny_triplane"])
def test_an_iteration_reads_nothing_back_to_the_host(preset):
    """What a CUDA graph cannot replay, traced on the CPU: no tensor's value is read on the host (`.item()`,
    `float(t)`, `nonzero`) in either kind of iteration with R1, top-k and the inversion cycle, outside the optimisers'
    CPU code (fused Adam on CUDA keeps its step on the device)."""
    import traceback

    from torch.utils._python_dispatch import TorchDispatchMode

    from pix2nerf import Pix2NeRF, Pix2NeRFConfig

    host_reads = {torch.ops.aten._local_scalar_dense.default, torch.ops.aten.nonzero.default}

    class HostReads(TorchDispatchMode):
        def __init__(self):
            super().__init__()
            self.sites = []

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            if func in host_reads:
                stack = traceback.extract_stack()
                if not any("/torch/optim/" in frame.filename for frame in stack):
                    self.sites.append([f"{f.filename}:{f.lineno}" for f in stack if "pix2nerf" in f.filename][-2:])
            return func(*args, **(kwargs or {}))

    options = dict(fade_steps=1, density_noise_steps=1, warmup_steps=0, topk_floor=0.5, inversion_cycle_weight=1.0)
    torch.manual_seed(0)
    trainer = trainer_for(Pix2NeRF(Pix2NeRFConfig.from_preset(preset, **options)))
    real = torch.rand(2, 3, 16, 16) * 2 - 1
    trainer.train_step(real, 1)  # the optimisers' state, made at their first step
    with HostReads() as reads:
        trainer.train_step(real, 2)
        trainer.train_step(real, 3)
        assert not reads.sites, reads.sites[:5]
        float(torch.ones(()))  # the probe sees a host read
    assert len(reads.sites) == 1


def test_trainer_with_channels_last_images_trains_d_e_and_g_the_same():
    """`channels_last` (D's and E's images in that layout) changes no update: both kinds of iteration (a pi-GAN and a
    Pix2NeRF one) move every network's weights as the default layout does, D and E read their images in that layout,
    and the weights keep their own layout."""
    from pix2nerf.networks.encoder import CCSEncoder

    layouts = []  # (the trainer's choice, whether D's or E's input is channels last), per call

    def record(module, inputs):
        if isinstance(module, (Discriminator, CCSEncoder)):
            layouts.append(inputs[0].is_contiguous(memory_format=torch.channels_last))

    with torch.nn.modules.module.register_module_forward_pre_hook(record):
        initial, trained = trained_from_one_start((2, 3), {"channels_last": False}, {"channels_last": True})
    half = len(layouts) // 2
    assert half and not any(layouts[:half]) and all(layouts[half:]), layouts
    (_, plain), (trainer, channels_last) = trained
    assert all(p.is_contiguous() for p in trainer.discriminator.parameters())
    assert max((plain["model"][name] - value).abs().max() for name, value in initial["model"].items()) > 1e-4
    for part in ("model", "discriminator"):
        for name, value in plain[part].items():
            torch.testing.assert_close(channels_last[part][name], value, rtol=1e-4, atol=1e-5)
