#!/usr/bin/env bash
# After train/campaign_command.sh on the same machine: export the EMA model of the campaign's newest checkpoint, fix
# its yaw origin and evaluate it on the GPU (calibrate_and_evaluate in train/common.sh), and put the model folder into
# DEST/model.tar (about 13 MiB: the float32 weights, evaluations and grids), to be packaged where it comes back.
# Usage: bash train/campaign_evaluate.sh DEST CONFIG_OVERRIDES [DATA]
# (DATA: the dataset folder whose 100 held-out cars are evaluated; outputs/data/synthetic-cars, the campaign's own 64 px
# data, unless given)
set -euo pipefail
dest="$1"
overrides="$2"
run=outputs/synthetic-cars-triplane
. "$(dirname "$0")/common.sh"
data="${3:-$(synthetic_cars_folder outputs 64)}"
if [ ! -f "$data/dataset_dict.json" ]; then
  echo "no dataset in $data (give the folder of the held-out cars)" >&2
  exit 2
fi
device_wheels
checkpoint="$(newest_checkpoint "$run")"
model="outputs/campaign-${checkpoint##*-}"
python train/export_checkpoint.py "$checkpoint" --preset synthetic_cars_triplane --config_overrides "$overrides" -o "$model"
synthetic_cars_data outputs/data/reference-cars 1 8
calibrate_and_evaluate "$model" "$data" outputs/data/reference-cars
tar cf "$dest/model.tar" -C outputs "$(basename "$model")"
