# Shared by the training scripts (sourced, not run).

# device_wheels: on a GPU machine without datasets, install the wheels carried in .whl/ into /tmp/site and put it,
# and this checkout, on the Python path (offline hub)
device_wheels() {
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
  export PYTHONPATH=/tmp/site:$PWD HF_HUB_OFFLINE=1
}

# STEP_GRAPHS: train/train.py's --step_graphs for every training script here (auto unless set to on or off)
step_graphs="${STEP_GRAPHS:-auto}"

# compiler_caches ROOT: torch.compile's and Triton's caches under ROOT/.cache, kept across the commands of one machine
compiler_caches() {
  local root
  root="$(realpath -m "$1")"
  export TORCHINDUCTOR_CACHE_DIR="${TORCHINDUCTOR_CACHE_DIR:-$root/.cache/inductor}"
  export TRITON_CACHE_DIR="${TRITON_CACHE_DIR:-$root/.cache/triton}"
}

# synthetic_cars_data FOLDER SEED TRAIN_OBJECTS [RESOLUTION]: the synthetic cars at RESOLUTION px, 64 unless given
# (TRAIN_OBJECTS unposed training views, 100 held-out cars of 24 posed views), rendered on the GPU unless FOLDER
# already holds them
synthetic_cars_data() {
  [ -f "$1/dataset_dict.json" ] || python -m pix2nerf make-dataset --category cars --train-objects "$3" \
    --test-objects 100 --test-views 24 --resolution "${4:-64}" --seed "$2" --device cuda --out "$1"
}

# synthetic_cars_folder ROOT RESOLUTION: where the training scripts keep the synthetic cars of that resolution
# (ROOT/data/synthetic-cars at 64 px, as every run so far; ROOT/data/synthetic-cars-<RESOLUTION>px otherwise)
synthetic_cars_folder() {
  if [ "$2" = 64 ]; then echo "$1/data/synthetic-cars"; else echo "$1/data/synthetic-cars-${2}px"; fi
}

# last_grids DEST RUN_DIR...: the runs' last generated samples and novel views (as their last export drew them), one
# run below the other, in one PNG
last_grids() {
  python3 - "$@" <<'PY'
import sys
from pathlib import Path
from PIL import Image
paths = [Path(run, "model/images", name) for run in sys.argv[2:] for name in ("samples.png", "novel_views.png")]
tiles = [Image.open(p).convert("RGB") for p in paths if p.exists()]
if tiles:
    sheet = Image.new("RGB", (max(t.width for t in tiles), sum(t.height for t in tiles)), "gray")
    for index, tile in enumerate(tiles):
        sheet.paste(tile, (0, sum(t.height for t in tiles[:index])))
    sheet.save(sys.argv[1])
PY
}

# newest_checkpoint RUN_DIR: the path of the run's newest complete checkpoint-<step> folder (status 1 if none)
newest_checkpoint() {
  local newest="" folder
  for folder in "$1"/checkpoint-*; do
    [ -f "$folder/checkpoint_complete.json" ] || continue
    case "${folder##*-}" in '' | *[!0-9]*) continue ;; esac  # checkpoint-<step>.tmp and the like
    if [ -z "$newest" ] || [ "${folder##*-}" -gt "${newest##*-}" ]; then newest="$folder"; fi
  done
  [ -n "$newest" ] || { echo "no complete checkpoint in $1" >&2; return 1; }
  echo "$newest"
}

# calibrate_and_evaluate MODEL DATA REFERENCE: fix the model's yaw origin on the reference cars, then evaluate it on
# DATA's 100 held-out cars at 64 and 128 px with 40 refinement steps on the GPU (MODEL/eval_results_{64,128}px.json,
# MODEL/eval_grid_{64,128}px.png; the 64 px ones also as eval_results.json and eval_grid.png)
calibrate_and_evaluate() {
  python -m pix2nerf calibrate-yaw "$1" --data "$3" --split test --num-objects 100
  local resolution
  for resolution in 64 128; do
    python -m pix2nerf eval "$1" --data "$2" --split test --num-objects 100 --resolution "$resolution" \
      --refine-steps 40 --device cuda --batch-size 64 --no-progress -o "$1/eval_results_${resolution}px.json" \
      --grid "$1/eval_grid_${resolution}px.png"
  done
  cp "$1/eval_results_64px.json" "$1/eval_results.json"
  cp "$1/eval_grid_64px.png" "$1/eval_grid.png"
}
