#!/usr/bin/env bash
# One command of GPU timings on a device that returns only what lies under $OUT (issues 26 and 27), run from the
# repository root: `bash benchmarks/device_command.sh PART [LABEL]`. Each part stays under ten minutes on one H100 and
# writes its JSON and log into $OUT (named with LABEL, e.g. h100, so that they can go to benchmarks/results/ as they
# are).
#   fields_64: the training iteration of the three fields at 64 px, batch 16, eager and step-graphed, with their
#              renders at 128 px, 48 + 48 samples (train_throughput.py), then the renders' host time (render_host_time.py)
#   fields_128: the zero-cost field and the tri-plane at 128 px, batch 8, eager and step-graphed
set -uo pipefail
part="${1:?usage: bash benchmarks/device_command.sh fields_64|fields_128 [LABEL]}"
label="${2:-h100}"
out="${OUT:?OUT: the folder whose files come back}"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" HF_HUB_OFFLINE=1
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader > "$out/device_$part.txt" 2>&1
case "$part" in
  fields_64)
    python -u benchmarks/train_throughput.py --field siren zero triplane --resolution 64 --batch 16 --rounds 1 \
      --pairs 3 --step-graphs --render-kernels auto --out "$out/train_throughput_64_$label.json" \
      > "$out/train_throughput_64_$label.log" 2>&1
    echo "train_throughput exited with status $?"
    python -u benchmarks/render_host_time.py --device cuda --out "$out/render_host_time_$label.json" \
      > "$out/render_host_time_$label.log" 2>&1
    echo "render_host_time exited with status $?"
    ;;
  fields_128)
    python -u benchmarks/train_throughput.py --field zero triplane --resolution 128 --batch 8 --rounds 1 --pairs 3 \
      --step-graphs --render-kernels auto --out "$out/train_throughput_128_$label.json" \
      > "$out/train_throughput_128_$label.log" 2>&1
    echo "train_throughput exited with status $?"
    ;;
  *)
    echo "unknown part $part: fields_64 or fields_128" >&2
    exit 2
    ;;
esac
tail -n 30 "$out"/*.log
