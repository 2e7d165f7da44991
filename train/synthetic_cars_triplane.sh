#!/usr/bin/env bash
# Train the tri-plane preset (synthetic_cars_triplane) from scratch on the synthetic cars on one GPU, then evaluate.
# Usage: bash train/synthetic_cars_triplane.sh [OUTPUT_ROOT] [MINUTES_PER_COMMAND] [STEPS] [TRAIN_OBJECTS]
# Training resumes from the latest checkpoint (latest_or_new): on machines that stop a command after 10 minutes, run
# it again with the same arguments until it reports the last step; the data is generated once per OUTPUT_ROOT.
set -euo pipefail
root="${1:-outputs}"
minutes="${2:-}"
steps="${3:-20000}"
objects="${4:-20000}"
data="$root/data/synthetic-cars"
run="$root/synthetic-cars-triplane"

if [ ! -f "$data/dataset_dict.json" ]; then
  python -m pix2nerf make-dataset --category cars --train-objects "$objects" --test-objects 100 --test-views 24 \
    --resolution 64 --seed 0 --device cuda --out "$data"
fi
accelerate launch --num_processes 1 --num_machines 1 --mixed_precision fp16 --dynamo_backend no train/train.py \
  --train_data_dir "$data" --preset synthetic_cars_triplane --output_dir "$run" --resume_from_checkpoint latest_or_new \
  --max_train_steps "$steps" ${minutes:+--max_train_minutes "$minutes"} --checkpointing_steps 1000 \
  --checkpoints_total_limit 1 --validation_steps 1000 --validation_num_objects 16 --logging_steps 25 \
  --dataloader_num_workers 8 --seed 0
python -m pix2nerf eval "$run/model" --data "$data" --split test --num-objects 100 --resolution 64 \
  --device cuda --batch-size 64 -o "$run/model/eval_results.json" --grid "$run/model/eval_grid.png"
