#!/usr/bin/env bash
# Every sample's quick mode, in Release, with the README's own command (dotnet run --project samples/X -c Release -- …
# --quick). A sample fails the check when it exits non-zero (each one exits 1 on a NaN or infinite loss) or when its
# output shows a NaN or an infinity anyway. Called by .ci/run; 4 minutes on 2 cores under other builds, most of it the
# Release build.
# Usage: eng/samples-check.sh [out-dir]   (default: a new temporary folder, for the samples that write pictures)
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
out="${1:-$(mktemp -d "${TMPDIR:-/tmp}/lossdsl-samples-check.XXXXXX")}"
cd "$repo"

# name, then the arguments after --
samples=(
  "MlpTraining --quick"
  "CharLM --quick"
  "CalibrationStudy $out/calibration-study --quick"
  "Segmentation $out/segmentation --quick"
  # Two MPI ranks against one process where MPICH is installed (eng/mpi/install.sh; .ci/run installs it); else one process.
  "DistributedContrastive $out/distributed-contrastive --quick"
)
failed=0
for entry in "${samples[@]}"; do
  read -r name args <<<"$entry"
  echo "== dotnet run --project samples/$name -c Release -- $args"
  log="$out/$name.log"
  # shellcheck disable=SC2086 # the arguments are words
  if dotnet run --project "samples/$name" -c Release -- $args 2>&1 | tee "$log"; [ "${PIPESTATUS[0]}" -ne 0 ]; then
    echo "FAILED: samples/$name exited non-zero"
    failed=1
  elif grep -Eq '(^|[^A-Za-z])NaN([^A-Za-z]|$)|∞|Infinity' "$log"; then
    echo "FAILED: samples/$name printed a NaN or an infinity:"
    grep -En '(^|[^A-Za-z])NaN([^A-Za-z]|$)|∞|Infinity' "$log" | head -n 5
    failed=1
  fi
done
[ "$failed" -eq 0 ] && echo "== every sample's quick mode ran in Release with finite losses"
exit "$failed"
