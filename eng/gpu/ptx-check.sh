#!/usr/bin/env bash
# The PTX check, with no GPU: every ILGPU kernel LossDsl generates (library, samples, test losses; float64 and float32,
# the latter for float32, bfloat16 and float16 inputs) compiled by ILGPU's PTX backend for sm_80 and sm_90, then
# assembled by NVIDIA's ptxas for the same architectures. Fails on any compile or assembly error, any call (an
# un-inlined routine), local memory, stack frame or register spill. CI runs it (.ci/run).
#
#   bash eng/gpu/ptx-check.sh [OUT]     writes OUT/ptx-check.md (summary and one row per kernel) and OUT/ptx/
#
# ptxas 11.8 comes from Debian 12's nvidia-cuda-toolkit package, in the non-free component: that one .deb is downloaded
# through apt with a source list of this script's own, and only ptxas is extracted from it, into a cache outside the
# repository ($LOSSDSL_PTXAS_CACHE, default ~/.cache/lossdsl/ptxas). Nothing is installed system-wide. ptxas 11.8 reads
# PTX ISA up to 7.8, so the kernels are compiled at ISA 7.8.
set -euo pipefail
cd "$(dirname "$0")/../.."
out=${1:-$(mktemp -d)}
cache=${LOSSDSL_PTXAS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/lossdsl/ptxas}
ptxas=$cache/ptxas

if [ ! -x "$ptxas" ]; then
  apt_dir=$cache/apt
  mkdir -p "$apt_dir/lists/partial" "$apt_dir/cache/archives/partial"
  echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian bookworm non-free" > "$apt_dir/sources.list"
  apt_opts=(-o "Dir::Etc::SourceList=$apt_dir/sources.list" -o Dir::Etc::SourceParts=/dev/null
            -o "Dir::State::Lists=$apt_dir/lists" -o "Dir::Cache=$apt_dir/cache" -o "APT::Sandbox::User=$(id -un)")
  echo "ptx-check: downloading nvidia-cuda-toolkit (one .deb, ~84 MB) for ptxas into $cache"
  apt-get "${apt_opts[@]}" -qq update
  (cd "$apt_dir" && apt-get "${apt_opts[@]}" -qq download nvidia-cuda-toolkit)
  dpkg-deb --fsys-tarfile "$apt_dir"/nvidia-cuda-toolkit_*.deb | tar -xO ./usr/bin/ptxas > "$ptxas.part"
  chmod +x "$ptxas.part"
  mv "$ptxas.part" "$ptxas"
  rm -rf "$apt_dir"
fi
"$ptxas" --version | tail -1

dotnet build eng/gpu/GpuCheck/GpuCheck.csproj -c Release -v quiet -nologo
dotnet eng/gpu/GpuCheck/bin/Release/net10.0/LossDsl.GpuCheck.dll "$out" --ptx --ptxas "$ptxas"
