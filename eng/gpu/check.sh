#!/usr/bin/env bash
# The LossDsl device check (issue: fused ILGPU kernels built for a GPU).
#
#   bash eng/gpu/check.sh bundle            builds artifacts/gpu-bundle.tar.xz here: the framework-dependent console
#                                           LossDsl.GpuCheck (without libtorch's native libraries) and the .NET runtime
#                                           of this machine's SDK; at most 64 MiB, to carry to a GPU machine
#   bash eng/gpu/check.sh run OUT           on the GPU machine (no .NET there): unpacks the bundle, times the PyTorch side
#                                           (bench_torch.py: eager, torch.compile, built-in), then runs LossDsl.GpuCheck:
#                                           truth of every loss on CUDA against the CPU path, speed; writes OUT/gpu-check.md
#   bash eng/gpu/check.sh --dry-run [OUT]   both, here, on ILGPU's CPU accelerator at small sizes (CI runs this)
#
# On the device machine: run(command="bash eng/gpu/check.sh run $OUT", carry=["artifacts/gpu-bundle.tar.xz"]).
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
BUNDLE=$ROOT/artifacts/gpu-bundle.tar.xz
LIMIT=$((64 * 1024 * 1024))

bundle() {
  local stage
  stage=$(mktemp -d)
  dotnet publish eng/gpu/GpuCheck/GpuCheck.csproj -c Release -o "$stage/app" -p:UseAppHost=false -v quiet -nologo >/dev/null
  # Never loaded by the check; deleting them proves it.
  rm -rf "$stage/app/runtimes"
  find "$stage/app" -maxdepth 1 \( -name 'lib*.so*' -o -name '*.dylib' -o -name 'LibTorchSharp*' \) -delete
  local dotnet_root fx
  dotnet_root=$(dirname "$(readlink -f "$(command -v dotnet)")")
  fx=$(sed -n 's/.*"version": *"\([0-9][0-9.]*\)".*/\1/p' "$stage/app/LossDsl.GpuCheck.runtimeconfig.json" | head -1)
  fx=$(ls "$dotnet_root/shared/Microsoft.NETCore.App" | grep "^${fx%.*}\." | sort -V | tail -1)
  mkdir -p "$stage/dotnet/shared/Microsoft.NETCore.App" "$stage/dotnet/host"
  cp "$dotnet_root/dotnet" "$stage/dotnet/"
  cp -r "$dotnet_root/host/fxr" "$stage/dotnet/host/"
  cp -r "$dotnet_root/shared/Microsoft.NETCore.App/$fx" "$stage/dotnet/shared/Microsoft.NETCore.App/"
  cp eng/gpu/bench_torch.py "$stage/"
  mkdir -p "$(dirname "$BUNDLE")"
  XZ_OPT=-T0 tar -C "$stage" -cJf "$BUNDLE" .
  rm -rf "$stage"
  local size
  size=$(stat -c %s "$BUNDLE")
  echo "bundle: $BUNDLE, $((size / 1024 / 1024)) MiB (runtime $fx)"
  if [ "$size" -gt "$LIMIT" ]; then echo "bundle is over 64 MiB" >&2; exit 1; fi
}

run() {
  local out=$1; shift
  mkdir -p "$out"
  local b
  b=$(mktemp -d)
  tar -C "$b" -xJf "$BUNDLE"
  local torch_args=()
  if python3 -c 'import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)' 2>/dev/null; then
    python3 "$b/bench_torch.py" "$out/torch.jsonl" "$@" | tee "$out/torch.log"
    torch_args=(--torch "$out/torch.jsonl")
  else
    echo "PyTorch with CUDA not found: the table has no PyTorch columns" | tee "$out/torch.log"
  fi
  DOTNET_ROOT="$b/dotnet" "$b/dotnet/dotnet" "$b/app/LossDsl.GpuCheck.dll" "$out" "$@" "${torch_args[@]}"
  rm -rf "$b"
}

case "${1:-}" in
  bundle) bundle ;;
  run) shift; run "${1:?usage: check.sh run OUT}" ;;
  --dry-run)
    out=${2:-$(mktemp -d)}
    bundle
    LOSSDSL_ACCELERATOR=cpu run "$out" --dry-run
    echo "device check dry run: OK ($out/gpu-check.md)"
    ;;
  *) sed -n '2,13p' "$0"; exit 2 ;;
esac
