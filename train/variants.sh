#!/usr/bin/env bash
# Short A/B runs of the tri-plane preset: several config variants trained from scratch side by side on one GPU (each
# its own process; a launch-bound iteration leaves the GPU room for several), then compared on the held-out cars by
# train/compare_variants.py. Used to choose the default model's settings (train/runs/triplane-variants).
# Usage: bash train/variants.sh OUTPUT_ROOT MINUTES NAME='JSON overrides' [NAME='JSON overrides' ...]
# Each variant resumes from its latest checkpoint: run the script again with the same arguments to train on. The data
# is train/synthetic_cars_triplane.sh's (generated once per OUTPUT_ROOT).
set -euo pipefail
usage="usage: bash train/variants.sh OUTPUT_ROOT MINUTES NAME='JSON overrides' [NAME='JSON overrides' ...]"
if [ "$#" -lt 3 ]; then
  echo "$usage" >&2
  exit 2
fi
root="$1"
minutes="$2"
shift 2
for variant in "$@"; do
  if [[ ! "$variant" =~ ^[A-Za-z0-9._-]+=.+ ]]; then
    echo "not NAME='JSON overrides' (NAME of letters, digits, '.', '_' or '-'): $variant" >&2
    echo "$usage" >&2
    exit 2
  fi
done
data="$root/data/synthetic-cars"
. "$(dirname "$0")/common.sh"
compiler_caches "$root"

synthetic_cars_data "$data" 0 20000
# the CPU's cores shared out between the processes, which validate at the same steps (metrics on the CPU)
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-$(($(nproc) / $# > 0 ? $(nproc) / $# : 1))}"
pids=()
for variant in "$@"; do
  name="${variant%%=*}"
  overrides="${variant#*=}"
  mkdir -p "$root/variants/$name"
  python train/train.py --mixed_precision fp16 --train_data_dir "$data" --preset synthetic_cars_triplane \
    --config_overrides "$overrides" --output_dir "$root/variants/$name" --resume_from_checkpoint latest_or_new \
    --max_train_minutes "$minutes" --checkpointing_steps 100000 --checkpoints_total_limit 1 --validation_steps 250 \
    --validation_num_objects 16 --logging_steps 25 --dataloader_num_workers 2 --seed 0 --step_graphs "$step_graphs" \
    >>"$root/variants/$name/train.log" 2>&1 &
  pids+=("$!")
done
status=0
for pid in "${pids[@]}"; do wait "$pid" || status=1; done
python train/compare_variants.py "$root/variants" -o "$root/variants/comparison.json"
exit "$status"
