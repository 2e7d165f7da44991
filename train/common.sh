# Shared by the training scripts (sourced, not run).

# compiler_caches ROOT: torch.compile's and Triton's caches under ROOT/.cache, kept across the commands of one machine
compiler_caches() {
  local root
  root="$(realpath -m "$1")"
  export TORCHINDUCTOR_CACHE_DIR="${TORCHINDUCTOR_CACHE_DIR:-$root/.cache/inductor}"
  export TRITON_CACHE_DIR="${TRITON_CACHE_DIR:-$root/.cache/triton}"
}

# synthetic_cars_data FOLDER SEED TRAIN_OBJECTS: the synthetic cars at 64 px (TRAIN_OBJECTS unposed training views,
# 100 held-out cars of 24 posed views), rendered on the GPU unless FOLDER already holds them
synthetic_cars_data() {
  [ -f "$1/dataset_dict.json" ] || python -m pix2nerf make-dataset --category cars --train-objects "$3" \
    --test-objects 100 --test-views 24 --resolution 64 --seed "$2" --device cuda --out "$1"
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
