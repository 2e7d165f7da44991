#!/usr/bin/env bash
# The equal-budget comparison of the fields: train PRESET from scratch on the synthetic cars until its training steps
# (summed over resumes) have taken BUDGET_MINUTES, then evaluate it with `pix2nerf eval` on the 100 held-out cars.
# Usage: bash train/equal_budget.sh PRESET [OUTPUT_ROOT] [BUDGET_MINUTES] [MINUTES_PER_COMMAND] [OVERRIDES NAME]
# OVERRIDES NAME: a JSON object of config fields over the preset (as train/train.py's --config_overrides) and the
# run's folder name under OUTPUT_ROOT/equal-budget/ (the preset's name unless given), e.g. '{"r1_interval": 16}'
# lazy-r1 for lazy R1 against the preset's R1 every step.
# Run it for synthetic_cars (SIREN) and synthetic_cars_triplane with the same OUTPUT_ROOT: they share the data. With
# MINUTES_PER_COMMAND (machines that stop a command after 10 minutes), run it again until it evaluates; it exits with
# status 3 while the budget is not spent. Step graphs as STEP_GRAPHS says (train/common.sh; auto: the tri-plane
# with them, the SIREN without); the committed runs say which they had (train/runs/fields-equal-budget/README.md).
set -euo pipefail
preset="$1"
root="${2:-outputs}"
budget="${3:-10}"
minutes="${4:-}"
overrides="${5:-"{}"}"
data="$root/data/synthetic-cars"
run="$root/equal-budget/${6:-$preset}"
. "$(dirname "$0")/common.sh"
compiler_caches "$root"

synthetic_cars_data "$data" 0 20000
accelerate launch --num_processes 1 --num_machines 1 --mixed_precision fp16 --dynamo_backend no train/train.py \
  --train_data_dir "$data" --preset "$preset" --config_overrides "$overrides" --output_dir "$run" \
  --resume_from_checkpoint latest_or_new \
  --max_train_steps 1000000 --train_budget_minutes "$budget" ${minutes:+--max_train_minutes "$minutes"} \
  --checkpointing_steps 1000 --checkpoints_total_limit 1 --validation_steps 500 --validation_num_objects 16 \
  --logging_steps 25 --dataloader_num_workers 8 --seed 0 --step_graphs "$step_graphs"
if ! python -c 'import json, sys; sys.exit(json.load(open(sys.argv[1]))["training_minutes"] < float(sys.argv[2]))' \
  "$run/model/training.json" "$budget"; then
  echo "$preset: the $budget-minute budget is not spent yet: run this script again to resume" >&2
  exit 3
fi
python -m pix2nerf eval "$run/model" --data "$data" --split test --num-objects 100 --resolution 64 \
  --device cuda --batch-size 64 -o "$run/eval_results.json" --grid "$run/eval_grid.png" --no-progress
