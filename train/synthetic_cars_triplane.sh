#!/usr/bin/env bash
# Train the tri-plane preset (synthetic_cars_triplane) on the synthetic cars on one GPU: data, training, yaw
# calibration, evaluation, packaging (the campaign of the second-generation default model, issue 22).
# Usage: bash train/synthetic_cars_triplane.sh [OUTPUT_ROOT] [MINUTES_PER_COMMAND] [STEPS] [CONFIG_OVERRIDES]
#        [DATA_RESOLUTION]
# CONFIG_OVERRIDES: a JSON object of config fields over the preset, as train/variants.sh takes them; with the same
# overrides, a variant's checkpoint copied into OUTPUT_ROOT/synthetic-cars-triplane/ trains on here.
# DATA_RESOLUTION (64 unless given): the cars are rendered at this size for training and evaluation (128 for a
# training stage at 128 px: the 64 px images would only be upsampled; the evaluation then reads held-out cars rendered
# at 128 px, not the 64 px protocol of the shipped model's card). STEP_GRAPHS in the environment: see train/common.sh.
# Training resumes from the latest checkpoint (latest_or_new): on machines that stop a command after 10 minutes, run it
# again with the same arguments until it reports the last step (exit status 3 until then); the data is generated once
# per OUTPUT_ROOT. A checkpoint is about 47 MiB in four files under 16 MiB, so it travels between machines: copy
# OUTPUT_ROOT/synthetic-cars-triplane/checkpoint-<step> to the next machine and run the script there.
set -euo pipefail
root="${1:-outputs}"
minutes="${2:-}"
steps="${3:-40000}"
overrides="${4:-"{}"}"
data_resolution="${5:-64}"
reference="$root/data/reference-cars"  # other posed cars (seed 1) that fix the yaw origin; never evaluated on
run="$root/synthetic-cars-triplane"
. "$(dirname "$0")/common.sh"
compiler_caches "$root"
data="$(synthetic_cars_folder "$root" "$data_resolution")"

synthetic_cars_data "$data" 0 20000 "$data_resolution"
accelerate launch --num_processes 1 --num_machines 1 --mixed_precision fp16 --dynamo_backend no train/train.py \
  --train_data_dir "$data" --preset synthetic_cars_triplane --config_overrides "$overrides" --output_dir "$run" \
  --resume_from_checkpoint latest_or_new \
  --max_train_steps "$steps" ${minutes:+--max_train_minutes "$minutes"} --checkpointing_steps 1000 \
  --checkpoints_total_limit 1 --validation_steps 1000 --validation_num_objects 16 --logging_steps 25 \
  --dataloader_num_workers 8 --seed 0 --step_graphs "$step_graphs"
if [ ! -f "$run/model/training.json" ] || ! grep -q "\"steps\": $steps," "$run/model/training.json"; then
  echo "training stopped before step $steps: run this script again to resume" >&2
  exit 3
fi
synthetic_cars_data "$reference" 1 8
calibrate_and_evaluate "$run/model" "$data" "$reference"
python hub/package_model.py "$run/model" --metrics "$run/logs/metrics.jsonl" --commands train/synthetic_cars_triplane.sh \
  --description train/synthetic_cars_triplane_card.md --model-id default \
  --datasets pix2nerf/synthetic-cars -o "$root/pix2nerf-synthetic-cars" --overwrite
