#!/usr/bin/env bash
# Runs patch_libtorchsharp.py (same arguments) for TorchSharpCompat.targets, after making sure python3 is there.
# Like patchelf (see the script), python3 is installed with apt-get when it is missing and apt-get can run (as root,
# or with password-less sudo); otherwise the error says what to install. Nothing is installed where nothing is missing.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
python="${LOSSDSL_TORCHSHARP_COMPAT_PYTHON:-python3}"

if ! command -v "$python" >/dev/null 2>&1; then
  sudo_prefix=()
  if [ "$(id -u)" != 0 ]; then
    if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then sudo_prefix=(sudo -n); else sudo_prefix=(none); fi
  fi
  if [ "${sudo_prefix[0]:-}" = none ] || ! command -v apt-get >/dev/null 2>&1; then
    echo "TorchSharpCompat : error TSC000: $python not found; install python3 (needed to patch libLibTorchSharp.so for this system's libstdc++), or set LossDslTorchSharpCompat=false" >&2
    exit 1
  fi
  # Parallel builds may all get here at once: one installs, the others wait and re-check.
  exec 9>"${TMPDIR:-/tmp}/lossdsl-torchsharp-compat-apt.lock"
  flock 9
  if ! command -v "$python" >/dev/null 2>&1; then
    echo "TorchSharpCompat: python3 not found; installing python3-minimal with apt-get" >&2
    export DEBIAN_FRONTEND=noninteractive
    "${sudo_prefix[@]}" apt-get -o DPkg::Lock::Timeout=300 install -y --no-install-recommends python3-minimal >&2 \
      || { "${sudo_prefix[@]}" apt-get -o DPkg::Lock::Timeout=300 update >&2 && "${sudo_prefix[@]}" apt-get -o DPkg::Lock::Timeout=300 install -y --no-install-recommends python3-minimal >&2; } \
      || { echo "TorchSharpCompat : error TSC000: installing python3-minimal with apt-get failed; install python3, or set LossDslTorchSharpCompat=false" >&2; exit 1; }
    python=python3
  fi
  flock -u 9
fi
exec "$python" "$here/patch_libtorchsharp.py" "$@"
