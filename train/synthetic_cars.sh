#!/usr/bin/env bash
# Reproduce the shipped model pix2nerf/models/pix2nerf-synthetic-cars on one GPU: data, training, yaw calibration,
# evaluation, packaging.
# Usage: bash train/synthetic_cars.sh [OUTPUT_ROOT] [MINUTES_PER_COMMAND]
# Training resumes from the latest checkpoint: with MINUTES_PER_COMMAND set (e.g. 9 on machines that stop a command
# after 10 minutes), run the script again until it reaches the last step; the data is generated once. The shipped
# model was trained in two such commands (22 and 20.5 minutes) on two machines, the checkpoint carried between them.
set -euo pipefail
root="${1:-outputs}"
minutes="${2:-}"
steps=8550
data="$root/data/synthetic-cars"
reference="$root/data/reference-cars"  # other posed cars (seed 1) that fix the yaw origin; never evaluated on
run="$root/synthetic-cars"
. "$(dirname "$0")/common.sh"
compiler_caches "$root"

synthetic_cars_data "$data" 0 20000
accelerate launch --num_processes 1 --num_machines 1 --mixed_precision fp16 --dynamo_backend no train/train.py \
  --train_data_dir "$data" --preset synthetic_cars --output_dir "$run" --resume_from_checkpoint latest_or_new \
  --max_train_steps "$steps" ${minutes:+--max_train_minutes "$minutes"} --checkpointing_steps 1000 \
  --checkpoints_total_limit 1 --validation_steps 1000 --validation_num_objects 16 --logging_steps 25 \
  --dataloader_num_workers 8 --seed 0 --step_graphs "$step_graphs"
if [ ! -f "$run/model/training.json" ] || ! grep -q "\"steps\": $steps," "$run/model/training.json"; then
  echo "training stopped before step $steps: run this script again to resume" >&2
  exit 3
fi
synthetic_cars_data "$reference" 1 8
python -m pix2nerf calibrate-yaw "$run/model" --data "$reference" --split test --num-objects 100
python -m pix2nerf eval "$run/model" --data "$data" --split test --num-objects 100 --resolution 64 \
  --device cuda --batch-size 64 -o "$run/model/eval_results.json" --grid "$run/model/eval_grid.png"
python hub/package_model.py "$run/model" --metrics "$run/logs/metrics.jsonl" --commands train/synthetic_cars.sh \
  --description train/synthetic_cars_card.md --model-id default \
  --datasets pix2nerf/synthetic-cars -o "$root/pix2nerf-synthetic-cars" --overwrite
