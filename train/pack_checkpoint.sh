#!/usr/bin/env bash
# Pack a run's newest complete checkpoint for a machine that returns at most 8 files of 16 MiB: a tar split into
# 15 MiB parts (DEST/ckpt.tar.aa, .ab, ...), beside a copy of the run's logs/metrics.jsonl.
# Usage: bash train/pack_checkpoint.sh RUN_DIR DEST
# Restore on the next machine: mkdir -p RUN_DIR && cat DEST/ckpt.tar.* | tar xf - -C RUN_DIR
set -euo pipefail
run="$1"
dest="$2"
. "$(dirname "$0")/common.sh"
newest="$(newest_checkpoint "$run")"
mkdir -p "$dest"
tar cf - -C "$run" "$(basename "$newest")" | split -b 15M - "$dest/ckpt.tar."
[ ! -f "$run/logs/metrics.jsonl" ] || cp "$run/logs/metrics.jsonl" "$dest/"
echo "packed $newest into $dest"
