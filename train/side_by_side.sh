#!/usr/bin/env bash
# Two tri-plane campaign variants trained side by side on one GPU for one command of a device that returns only what
# lies under $OUT: A in outputs/, B in outputs-b/ (sharing the data and the compile caches), each for the seconds left
# of SECONDS_BUDGET (counted from this script's start). Then $OUT gets each run's metrics (metrics_{a,b}.jsonl), the
# logs' tails and nvidia-smi samples (logs.txt), the runs' last sample and reconstruction grids (grids.png, A above B)
# and one run's newest checkpoint (ckpt.tar.*; PACK: a, b, or auto: A unless its last eval/colour_saturation is above
# 0.5 and B's is lower). Called again on the same warm machine, both runs resume.
# Usage: bash train/side_by_side.sh SECONDS_BUDGET PACK OVERRIDES_A OVERRIDES_B
# (the device's wheels of datasets, dill and multiprocess in .whl/, as the campaign record says)
set -u
budget="$1"
pack="$2"
. "$(dirname "$0")/common.sh"
device_wheels
compiler_caches outputs
synthetic_cars_data outputs/data/synthetic-cars 0 20000
mkdir -p outputs-b && ln -sfn ../outputs/data outputs-b/data
minutes=$(python3 -c "print(round(($budget - $SECONDS) / 60, 2))")
echo "training minutes per run: $minutes"
nvidia-smi --query-gpu=name,utilization.gpu,memory.used --format=csv -l 20 > /tmp/smi.csv &
smi=$!
bash train/synthetic_cars_triplane.sh outputs "$minutes" 40000 "$3" > /tmp/a.log 2>&1 &
run_a=$!
bash train/synthetic_cars_triplane.sh outputs-b "$minutes" 40000 "$4" > /tmp/b.log 2>&1 &
run_b=$!
wait $run_a $run_b
kill $smi
cp outputs/synthetic-cars-triplane/logs/metrics.jsonl "$OUT/metrics_a.jsonl"
cp outputs-b/synthetic-cars-triplane/logs/metrics.jsonl "$OUT/metrics_b.jsonl"
{ for v in a b; do echo "== $v"; grep -v "it/s\]$" /tmp/$v.log | tail -60; done; cat /tmp/smi.csv; } > "$OUT/logs.txt"
last_grids "$OUT/grids.png" outputs/synthetic-cars-triplane outputs-b/synthetic-cars-triplane
if [ "$pack" = auto ]; then
  pack=$(python3 -c "
import json
last = {}
for v in 'ab':
    rows = [json.loads(line) for line in open('$OUT/metrics_' + v + '.jsonl')]
    last[v] = [r['eval/colour_saturation'] for r in rows if 'eval/colour_saturation' in r][-1]
print('b' if last['a'] > 0.5 and last['b'] < last['a'] else 'a')
") || pack=a
fi
echo "packing $pack"
case "$pack" in
  a) bash train/pack_checkpoint.sh outputs/synthetic-cars-triplane "$OUT" ;;
  b) bash train/pack_checkpoint.sh outputs-b/synthetic-cars-triplane "$OUT" ;;
esac
rm -f "$OUT/metrics.jsonl"
