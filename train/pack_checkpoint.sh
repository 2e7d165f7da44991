#!/usr/bin/env bash
# Pack a run's newest complete checkpoint for a machine that returns at most 8 files of 16 MiB: a tar split into
# 15 MiB parts (DEST/ckpt.tar.aa, .ab, ...), beside a copy of the run's logs/metrics.jsonl.
# Usage: bash train/pack_checkpoint.sh RUN_DIR DEST [FIRST COUNT]
# FIRST COUNT: put only parts FIRST to FIRST + COUNT - 1 (from 1) into DEST, for a checkpoint larger than one command
# may return (64 MiB: four parts); the parts stay in RUN_DIR/packed-<step>/, so a later command on the same machine
# returns the others with the next FIRST. The last line says which parts went and how many there are.
# Restore on the next machine: mkdir -p RUN_DIR && cat DEST/ckpt.tar.* | tar xf - -C RUN_DIR
set -euo pipefail
run="$1"
dest="$2"
first="${3:-1}"
count="${4:-}"
case "$first:${count:-0}" in
  *[!0-9:]* | 0:* | :*) echo "FIRST must be a whole number from 1 and COUNT one from 0, got '$first' '$count'" >&2; exit 2 ;;
esac
. "$(dirname "$0")/common.sh"
newest="$(newest_checkpoint "$run")"
packed="$run/packed-${newest##*-}"
stamp="$(cksum < "$newest/checkpoint_complete.json")"  # a checkpoint saved again at the same step packs anew
if [ ! -f "$packed/complete" ] || [ "$(cat "$packed/complete")" != "$stamp" ]; then
  rm -rf "$run"/packed-*  # one packed checkpoint at a time: the newest
  mkdir -p "$packed"
  tar cf - -C "$run" "$(basename "$newest")" | split -b 15M - "$packed/ckpt.tar."
  echo "$stamp" > "$packed/complete"
fi
parts=("$packed"/ckpt.tar.*)
count="${count:-${#parts[@]}}"
mkdir -p "$dest"
for part in "${parts[@]:first-1:count}"; do cp "$part" "$dest/"; done
[ ! -f "$run/logs/metrics.jsonl" ] || cp "$run/logs/metrics.jsonl" "$dest/"
last=$((first + count - 1 < ${#parts[@]} ? first + count - 1 : ${#parts[@]}))
if [ "$last" -ge "$first" ]; then
  echo "packed $newest into $dest: parts $first-$last of ${#parts[@]}"
else
  echo "packed $newest (${#parts[@]} parts): none into $dest"
fi
