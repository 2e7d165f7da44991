#!/usr/bin/env bash
# One command of the tri-plane campaign (issue 22) on a device that returns only what lies under $OUT: resume from the
# checkpoint carried into outputs/synthetic-cars-triplane/ (or the one a previous command left on this machine), train
# for MINUTES, then put the newest checkpoint (ckpt.tar.*), the metrics, the log's tail and the last grids into $OUT.
# Usage: [RETURN_PARTS="FIRST COUNT"] bash train/campaign_command.sh MINUTES CONFIG_OVERRIDES [DATA_RESOLUTION]
# (RETURN_PARTS: only those parts of the packed checkpoint, as train/pack_checkpoint.sh takes them)
# (the device's wheels of datasets, dill and multiprocess in .whl/; the campaign record says how to carry a checkpoint,
# its tensor files gzipped or not)
set -u
minutes="$1"
overrides="$2"
data_resolution="${3:-64}"
run=outputs/synthetic-cars-triplane
for packed in "$run"/checkpoint-*/*.safetensors.gz; do  # carried gzipped, to fit beside the working tree
  [ -f "$packed" ] && gunzip -f "$packed"
done
for folder in "$run"/checkpoint-*; do  # a checkpoint that lost a part on the way would silently start a new run
  [ -d "$folder" ] || continue
  parts=$(find "$folder" -name 'trainer-*.safetensors' | wc -l)
  [ "$parts" = 4 ] || { echo "$folder holds $parts of the 4 trainer files: not resuming" >&2; exit 9; }
done
. "$(dirname "$0")/common.sh"
device_wheels
bash train/synthetic_cars_triplane.sh outputs "$minutes" 40000 "$overrides" "$data_resolution" > /tmp/train.log 2>&1
echo "training exited with status $?"
tr '\r' '\n' < /tmp/train.log | awk '!/^training: / || (match($0, /\| [0-9]+\//) && substr($0, RSTART + 2, RLENGTH - 3) % 250 == 0)' \
  | tail -200 > "$OUT/train.log"  # progress bars: every 250th step only
last_grids "$OUT/grids.png" "$run"
bash train/pack_checkpoint.sh "$run" "$OUT" ${RETURN_PARTS:-}  # e.g. RETURN_PARTS="1 4": a checkpoint over 64 MiB
