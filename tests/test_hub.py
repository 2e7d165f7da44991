"""Hub I/O without the network: the project's card from save_pretrained and push_to_hub, the publishing modules
(pix2nerf.hub: model, Space and dataset pushes, their dry runs), and the Space's CPU-only torch requirement."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest
from huggingface_hub import HfApi, ModelCard

from pix2nerf import Pix2NeRF
from pix2nerf.hub import push_space
from pix2nerf.hub import upload as hub_upload

REPO_ROOT = Path(__file__).resolve().parents[1]


def test_save_pretrained_writes_the_project_card(tiny_model, tmp_path):
    tiny_model.save_pretrained(tmp_path / "tiny")
    card = ModelCard.load(tmp_path / "tiny" / "README.md")
    assert card.data.library_name == "pix2nerf" and card.data.pipeline_tag == "image-to-3d"
    assert "model_hub_mixin" not in card.data.tags and "tiny" in card.data.tags
    assert f'Pix2NeRF.from_pretrained("{tmp_path / "tiny"}")' in card.text and "## Citation" in card.text
    assert Pix2NeRF.from_pretrained(tmp_path / "tiny").config == tiny_model.config


def test_push_to_hub_uploads_the_project_card_with_the_namespaced_id(tiny_model, tmp_path, monkeypatch):
    uploaded = {}

    def create_repo(self, repo_id, **options):
        return SimpleNamespace(repo_id=repo_id if "/" in repo_id else f"someone/{repo_id}")

    def upload_folder(self, *, repo_id, folder_path, **options):
        folder = Path(folder_path)
        uploaded.update(repo_id=repo_id, files={p.name: p.read_bytes() for p in folder.iterdir()})
        return "https://huggingface.co/someone/tiny/commit/0"

    monkeypatch.setattr(HfApi, "create_repo", create_repo)
    monkeypatch.setattr(HfApi, "upload_folder", upload_folder)
    assert tiny_model.push_to_hub("tiny") == "https://huggingface.co/someone/tiny/commit/0"
    assert uploaded["repo_id"] == "someone/tiny"
    assert sorted(uploaded["files"]) == ["README.md", "config.json", "model.safetensors"]
    card = uploaded["files"]["README.md"].decode()
    assert 'Pix2NeRF.from_pretrained("someone/tiny")' in card and "library_name: pix2nerf" in card
    assert "pix2nerf orbit input.png --model someone/tiny" in card

    uploaded.clear()  # save_pretrained(push_to_hub=True): the local card loads the folder, the pushed one the hub id
    tiny_model.save_pretrained(tmp_path / "tiny", push_to_hub=True, repo_id="tiny")
    assert f'from_pretrained("{tmp_path / "tiny"}")' in (tmp_path / "tiny" / "README.md").read_text()
    assert 'from_pretrained("someone/tiny")' in uploaded["files"]["README.md"].decode()


def test_the_space_installs_the_cpu_build_of_torch():
    requirements = (REPO_ROOT / "requirements.txt").read_text()
    space = push_space.space_requirements(requirements)
    lines = space.splitlines()
    assert lines[0] == f"--extra-index-url {push_space.TORCH_CPU_INDEX}"
    torch_pins = [line for line in lines if line.startswith("torch")]
    assert len(torch_pins) == 1 and torch_pins[0].endswith("+cpu")
    root_pin = next(line for line in requirements.splitlines() if line.startswith("torch=="))
    assert torch_pins[0] == f"{root_pin}+cpu" and "--extra-index-url" not in requirements  # installs here too
    assert [line for line in lines[1:] if not line.startswith("torch")] == [
        line for line in requirements.splitlines() if not line.startswith("torch")
    ]
    with pytest.raises(ValueError, match="must pin torch once as torch==VERSION, found 0 pins"):
        push_space.space_requirements("torch>=2.3\nnumpy\n")


def test_push_space_dry_run_assembles_the_bundle_offline(tiny_model, tmp_path, capsys, monkeypatch):
    tiny_model.save_pretrained(tmp_path / "model")
    monkeypatch.setattr(hub_upload, "upload", lambda *a, **k: pytest.fail("the dry run must not upload"))
    bundle = tmp_path / "bundle"
    assert push_space.main(["--dry-run", "--model-dir", str(tmp_path / "model"), "--output", str(bundle)]) == 0
    printed = capsys.readouterr().out
    for name in (
        "app.py",
        "requirements.txt",
        "README.md",
        "pix2nerf/model.py",
        "pix2nerf/serving/service.py",
        "pix2nerf/models/pix2nerf-synthetic-cars/config.json",
        "pix2nerf/models/pix2nerf-synthetic-cars/model.safetensors",
    ):
        assert (bundle / name).is_file(), name
        assert name in printed
    assert not list(bundle.rglob("__pycache__")) and not (bundle / "tests").exists()
    requirements = (REPO_ROOT / "requirements.txt").read_text()
    assert (bundle / "requirements.txt").read_text() == push_space.space_requirements(requirements)
    front_matter = (bundle / "README.md").read_text().split("---")[1]
    gradio_pin = next(line for line in requirements.splitlines() if line.startswith("gradio=="))
    for line in ("sdk: gradio", f"sdk_version: {gradio_pin.split('==')[1]}", "app_file: app.py", "models:"):
        assert line in front_matter, line
    assert push_space.main(["--dry-run", "--model-dir", str(tmp_path / "model"), "--output", str(bundle)]) == 2
    assert "is not empty" in capsys.readouterr().err
    assert push_space.main(["--dry-run", "--root", str(tmp_path), "--model-dir", str(tmp_path / "model")]) == 2
    assert "is not a pix2nerf checkout" in capsys.readouterr().err


def test_the_shipped_card_loads_the_default_and_indexes_its_evaluation():
    import json

    from pix2nerf.model import DEFAULT_MODEL_DIR

    card = ModelCard.load(DEFAULT_MODEL_DIR / "README.md")
    assert 'Pix2NeRF.from_pretrained("default")' in card.text and "--model default" in card.text
    assert 'from_pretrained("pix2nerf/models' not in card.text
    evaluation = json.loads((DEFAULT_MODEL_DIR / "eval_results.json").read_text())
    indexed = {r.metric_name: r.metric_value for r in card.data.eval_results}
    for protocol, values in evaluation["protocols"].items():
        for metric in ("psnr", "ssim"):
            name = f"{metric.upper()} ({protocol.replace('_', ' ')})"
            assert indexed[name] == pytest.approx(values[metric]["mean"], abs=1e-4)
