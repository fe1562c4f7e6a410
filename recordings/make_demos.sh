#!/bin/sh
# Regenerate the demo recordings in recordings/ (see recordings/README.md).
#
# Deterministic: the same samples, labels and metadata every run, except the timestamps that
# say when the files were written (start_utc / end_utc / imported_utc and the writer's timing
# statistics in session.json). Each recording must stay within 2 MB (2,000,000 bytes, the sum
# of its file sizes); the script fails otherwise.
set -eu
cd "$(dirname "$0")/.."

# 485 s of the mixed-workout scenario (warm-up walk, squats, glute-bridge reps and both
# fatiguing bridge holds, which carry the two `risk` labels; the script's 13 minutes do not fit
# in 2 MB, see README.md). 1 kHz EMG; ground truth at 5 Hz rounded to 2^-8.
sensor-pipeline simulate mixed-workout --seed 7 --duration 485 --emg-fs-hz 1000 \
    --truth-fs-hz 5 --truth-lsb 0.00390625 --out recordings/mixed-workout --overwrite

# One trial of the UCI "EMG dataset in Lower Limb" (CC BY 4.0): subject 3, no knee pathology,
# standing knee flexion.
sensor-pipeline import uci-lower-limb tests/data/uci_emg_lower_limb/N_TXT/3Npie.txt \
    --out recordings/uci-3Npie --overwrite

status=0
for rec in recordings/mixed-workout recordings/uci-3Npie; do
    bytes=$(find "$rec" -type f -printf '%s\n' | awk '{s += $1} END {print s}')
    echo "$rec: $bytes bytes in files (du -sb: $(du -sb "$rec" | cut -f1))"
    if [ "$bytes" -gt 2000000 ]; then
        echo "error: $rec is larger than 2 MB" >&2
        status=1
    fi
done
exit $status
