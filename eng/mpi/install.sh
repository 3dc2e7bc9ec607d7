#!/usr/bin/env bash
# Installs the MPI the multi-rank tests and samples/DistributedContrastive use: Debian's MPICH (libmpich.so.12,
# mpiexec.mpich). Idempotent: does nothing when both are present. MPICH, not Open MPI: MPI.NET 1.4.0 binds MS-MPI's
# ABI, which is MPICH's (integer handles); with Open MPI's pointer handles the same calls crash (docs/distributed.md).
# Needs root (or sudo) and the Debian apt mirror; single-device users need none of this.
set -euo pipefail
if command -v mpiexec.mpich >/dev/null 2>&1 && ldconfig -p 2>/dev/null | grep -q 'libmpich\.so\.12'; then
  echo "eng/mpi/install.sh: MPICH is installed ($(command -v mpiexec.mpich))"
  exit 0
fi
sudo=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null 2>&1 || { echo "eng/mpi/install.sh: run as root (or install sudo) to apt-get install mpich" >&2; exit 1; }
  sudo="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends mpich libmpich-dev >/dev/null
command -v mpiexec.mpich >/dev/null && ldconfig -p | grep -q 'libmpich\.so\.12' \
  || { echo "eng/mpi/install.sh: mpich installed but mpiexec.mpich or libmpich.so.12 is missing" >&2; exit 1; }
echo "eng/mpi/install.sh: installed $(dpkg-query -W -f='mpich ${Version}' mpich)"
