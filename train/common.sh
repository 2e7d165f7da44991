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
