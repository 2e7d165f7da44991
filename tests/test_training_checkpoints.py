"""Checkpoint folders (pix2nerf.training.checkpoint_folders): names, atomic publishing, crash recovery, the choice of
the checkpoint to resume, and a process killed while it saves."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from pix2nerf.training import checkpoint
from pix2nerf.training.checkpoint import load_training_state, save_rng_state, save_training_state
from pix2nerf.training.checkpoint_folders import (
    checkpoint_step,
    list_checkpoints,
    prune,
    publish,
    recover,
    resolve_resume,
    resume_rng_state,
    staging_folder,
)

REPO_ROOT = Path(__file__).resolve().parents[1]


def save(output: Path, step: int, *, complete: bool = True, processes: int = 1) -> Path:
    """A checkpoint of `step` as the training script writes it; published unless `complete` is False."""
    staging = staging_folder(output, step)
    save_training_state(staging, {"w": torch.full((3,), float(step))}, {"step": step})
    for index in range(processes):
        save_rng_state(staging, index)
    return publish(staging, {"step": step, "num_processes": processes}) if complete else staging


def test_checkpoint_names_must_be_a_step():
    assert checkpoint_step("runs/checkpoint-0") == 0 and checkpoint_step("checkpoint-1200") == 1200
    for name in ("checkpoint--3", "checkpoint-abc", "checkpoint-007", "checkpoint-3.tmp", "ckpt-3"):
        with pytest.raises(ValueError, match="expected checkpoint-<step>"):
            checkpoint_step(name)


def test_a_malformed_folder_name_in_the_output_dir_is_an_error(tmp_path):
    save(tmp_path, 2)
    (tmp_path / "checkpoint--3").mkdir()
    with pytest.raises(ValueError, match="'checkpoint--3' is not a checkpoint name.*rename or remove"):
        resolve_resume("latest", tmp_path)
    with pytest.raises(ValueError, match="'checkpoint-abc' is not a checkpoint name"):
        resolve_resume(str(tmp_path / "checkpoint-abc"), tmp_path)


def test_latest_without_a_checkpoint_is_an_error_unless_a_new_run_is_asked_for(tmp_path):
    assert resolve_resume(None, tmp_path) is None
    with pytest.raises(FileNotFoundError, match="holds no checkpoint-<step> folder; give 'latest_or_new'"):
        resolve_resume("latest", tmp_path / "missing")
    assert resolve_resume("latest_or_new", tmp_path) is None
    (tmp_path / "checkpoint-4").mkdir()  # there is one, but it is not usable: never a silent new run
    for spec in ("latest", "latest_or_new"):
        with pytest.raises(ValueError, match="no usable checkpoint.*checkpoint-4: .*trainer.json is missing"):
            resolve_resume(spec, tmp_path)


def test_falling_back_to_an_older_checkpoint_warns_naming_both(tmp_path):
    save(tmp_path, 2)
    save(tmp_path, 4)
    (tmp_path / "checkpoint-4" / "trainer.json").write_text('{"state": {}, "progress": {"step": "four"}}')
    warnings = []
    assert resolve_resume("latest", tmp_path, warn=warnings.append) == tmp_path / "checkpoint-2"
    assert len(warnings) == 1 and "checkpoint-4" in warnings[0] and "older checkpoint-2" in warnings[0]
    assert "progress.step must be" in warnings[0]


@pytest.mark.parametrize(
    "text, match",
    [
        ("{not json", "trainer.json is unreadable"),
        ("[1, 2]", "expected a JSON object with a 'state' entry"),
        ('{"state": {}}', "'progress' must be a JSON object"),
        ('{"state": {}, "progress": {"step": -1}}', "progress.step must be a number >= 0"),
        ('{"state": {}, "progress": {"step": 2.5}}', "progress.step must be an integer"),
        ('{"state": {}, "progress": {"step": 3}}', "says step 3, but the folder is named for step 2"),
    ],
)
def test_a_malformed_trainer_json_is_a_clear_error(tmp_path, text, match):
    folder = save(tmp_path, 2)
    (folder / "trainer.json").write_text(text)
    with pytest.raises(ValueError, match=match):
        resolve_resume(str(folder), tmp_path)


def test_a_trainer_json_that_does_not_match_its_tensors_is_a_clear_error(tmp_path):
    folder = save(tmp_path, 2)
    document = json.loads((folder / "trainer.json").read_text())
    document["state"]["w"] = {"__tensor__": "nowhere"}
    (folder / "trainer.json").write_text(json.dumps(document))
    with pytest.raises(ValueError, match="does not match trainer.safetensors"):
        load_training_state(folder)


def test_a_large_state_is_written_in_shards_and_read_back_exactly(tmp_path, monkeypatch):
    monkeypatch.setattr(checkpoint, "SHARD_BYTES", 1000)
    generator = torch.Generator().manual_seed(0)
    state = {"a": torch.randn(200, generator=generator), "b": [torch.randn(300, generator=generator), 3], "c": 0.5}
    save_training_state(tmp_path, state, {"step": 7})
    files = json.loads((tmp_path / "trainer.json").read_text())["files"]
    assert files == ["trainer-00001-of-00002.safetensors", "trainer-00002-of-00002.safetensors"]
    assert all((tmp_path / name).stat().st_size < 1000 + 2 * 300 * 4 for name in files)
    loaded, progress = load_training_state(tmp_path)
    assert progress == {"step": 7} and loaded["c"] == 0.5 and loaded["b"][1] == 3
    assert torch.equal(loaded["a"], state["a"]) and torch.equal(loaded["b"][0], state["b"][0])
    (tmp_path / files[1]).unlink()
    with pytest.raises(FileNotFoundError, match="trainer-00002-of-00002.safetensors is missing"):
        load_training_state(tmp_path)


def test_publishing_replaces_a_step_and_prunes(tmp_path):
    for step in (1, 2, 2, 3):
        save(tmp_path, step)
    assert [p.name for p in list_checkpoints(tmp_path)] == ["checkpoint-1", "checkpoint-2", "checkpoint-3"]
    assert [p.name for p in prune(tmp_path, 1)] == ["checkpoint-1", "checkpoint-2"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoint-3"]


def test_recovery_completes_a_finished_tmp_and_removes_an_unfinished_one(tmp_path):
    save(tmp_path, 2)
    finished = save(tmp_path, 4, complete=False)
    (finished / "checkpoint_complete.json").write_text('{"step": 4, "num_processes": 1}')  # crashed before rename
    save(tmp_path, 6, complete=False)  # crashed while writing
    assert resolve_resume("latest", tmp_path) == tmp_path / "checkpoint-2"  # what a run without recovery would take
    messages = recover(tmp_path)
    assert any("completed checkpoint-4" in m for m in messages) and any(
        "removed checkpoint-6.tmp" in m for m in messages
    )
    assert resolve_resume("latest", tmp_path) == tmp_path / "checkpoint-4"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoint-2", "checkpoint-4"]


def test_recovery_puts_back_a_replaced_copy_whose_successor_was_not_renamed_in(tmp_path):
    save(tmp_path, 4)
    os.replace(tmp_path / "checkpoint-4", tmp_path / "checkpoint-4.old")  # crashed between the two renames
    save(tmp_path, 4, complete=False)  # ...with an unfinished successor
    recover(tmp_path)
    assert resolve_resume("latest", tmp_path) == tmp_path / "checkpoint-4"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoint-4"]


def test_the_rng_state_always_resumes(tmp_path):
    folder = save(tmp_path, 2, processes=2)
    torch.manual_seed(5)
    expected = torch.rand(3)
    torch.manual_seed(6)
    save_rng_state(folder, 0)
    torch.manual_seed(5)
    assert resume_rng_state(folder, 0) and not torch.equal(torch.rand(3), expected)  # the saved stream, not seed 5
    assert not resume_rng_state(folder, 2)  # written by two processes: a third one reseeds
    (folder / "rng_state_1.json").unlink()
    with pytest.raises(ValueError, match="has no rng_state_1.json although 2 process"):
        resume_rng_state(folder, 1)


SAVER = """
import shutil, sys
from pathlib import Path
import torch
from pix2nerf.training.checkpoint import save_rng_state, save_training_state
from pix2nerf.training.checkpoint_folders import prune, publish, staging_folder
output, state = Path(sys.argv[1]), {"w": torch.randn(1_000_000)}
for i in range(10**6):
    step = 1 + i // 2  # every step is saved twice: a new step, then the same one again (a finished run re-saving)
    staging = staging_folder(output, step)
    shutil.rmtree(staging, ignore_errors=True)
    save_training_state(staging, state, {"step": step})
    save_rng_state(staging, 0)
    publish(staging, {"step": step, "num_processes": 1})
    prune(output, 1)
    print(step, flush=True)
"""


def test_a_process_killed_while_it_saves_never_loses_a_checkpoint(tmp_path):
    """20 savers, 4 at a time, each SIGKILLed at a random moment of its save loop; then the next start recovers
    and resumes the newest published step (or the one after it), with its trainer and RNG state."""
    environment = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "OMP_NUM_THREADS": "1"}
    rng = random.Random(0)
    for round_index in range(5):
        savers = []
        for k in range(4):
            output = tmp_path / f"run{round_index}-{k}"
            process = subprocess.Popen(
                [sys.executable, "-c", SAVER, str(output)], stdout=subprocess.PIPE, text=True, env=environment
            )
            savers.append((output, process))
        for output, process in savers:
            process.stdout.readline()  # the first checkpoint is published: the loop is running
            time.sleep(rng.uniform(0.0, 0.3))
            process.send_signal(signal.SIGKILL)
            process.wait()
            published = [int(line) for line in process.stdout.read().split()] or [1]
            recover(output)
            resumed = resolve_resume("latest", output)
            step = checkpoint_step(resumed)
            assert published[-1] <= step <= published[-1] + 1, (output, published[-1], step)
            state, progress = load_training_state(resumed)
            assert progress["step"] == step and state["w"].shape == (1_000_000,)
            assert resume_rng_state(resumed, 0)
            names = sorted(p.name for p in output.iterdir())  # an older step may remain until the next prune
            assert not any(n.endswith((".tmp", ".old")) for n in names)
            assert resumed.name == max(names, key=checkpoint_step)
