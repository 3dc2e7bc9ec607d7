#!/usr/bin/env bash
# The package route, as a new user takes it: pack LossDsl to a local folder, then build and run a fresh console project
# outside this repository that uses only PackageReferences (LossDsl and LossDsl.Losses from that folder, TorchSharp-cpu
# from the registry). Its loss and training loop are the README's "Quick start" code blocks, copied verbatim; one more
# file checks a loss of LossDsl.Losses. Then a build with -p:LossDslVerdicts=true must print the loss's calibration verdict.
# NuGet's global cache is only read: the consumer restores into a private package folder under the work folder.
# Called by .ci/run.
# Usage: eng/package-check/run.sh [work-dir]   (default: a new temporary folder)
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
work="${1:-$(mktemp -d "${TMPDIR:-/tmp}/lossdsl-package-check.XXXXXX")}"
feed="$work/feed"
app="$work/app"
mkdir -p "$feed" "$app"

echo "== packing to $feed"
for project in src/LossDsl.Attributes src/LossDsl.Runtime src/LossDsl.Losses; do
  [ -d "$repo/$project" ] || continue
  dotnet pack "$repo/$project" -c Release -o "$feed" -nologo -v quiet
done
version="$(sed -n 's:.*<Version>\(.*\)</Version>.*:\1:p' "$repo/Directory.Build.props" | head -n 1)"
ls "$feed"

# The consumer restores into a private package folder, so that the packages just packed are taken from the feed (a
# package of the same id and version in NuGet's global cache, from an earlier run, would be taken instead) and the
# user's global cache is left as it is. Every other package is linked from the global cache: nothing is downloaded or
# extracted again (TorchSharp-cpu's libtorch is large).
global="$(dotnet nuget locals global-packages --list | sed 's/^global-packages: //')"
global="${global%/}"
private="$work/packages"
rm -rf "$private"
mkdir -p "$private"
for dir in "$global"/*/*/; do
  [ -d "$dir" ] || continue
  dir="${dir%/}"
  id="$(basename "$(dirname "$dir")")"
  case "$id" in lossdsl|lossdsl.*) continue ;; esac
  mkdir -p "$private/$id"
  ln -s "$dir" "$private/$id/$(basename "$dir")"
done

echo "== consumer project in $app"
cat > "$app/nuget.config" <<XML
<?xml version="1.0" encoding="utf-8"?>
<configuration>
  <packageSources>
    <add key="lossdsl-local" value="$feed" />
  </packageSources>
</configuration>
XML
# What `dotnet new console` writes, and the two packages the README's Install section adds.
cat > "$app/App.csproj" <<XML
<Project Sdk="Microsoft.NET.Sdk">
  <PropertyGroup>
    <OutputType>Exe</OutputType>
    <TargetFramework>net10.0</TargetFramework>
    <ImplicitUsings>enable</ImplicitUsings>
    <Nullable>enable</Nullable>
  </PropertyGroup>
  <ItemGroup>
    <PackageReference Include="LossDsl" Version="$version" />
    <PackageReference Include="LossDsl.Losses" Version="$version" />
    <PackageReference Include="TorchSharp-cpu" Version="0.107.0" />
  </ItemGroup>
</Project>
XML
# The README's code blocks that follow <!-- quick-start:FILE --> markers, verbatim.
awk -v dir="$app" '
  /<!-- quick-start:[A-Za-z.]+ -->/ { match($0, /quick-start:[A-Za-z.]+/); file = substr($0, RSTART + 12, RLENGTH - 12); next }
  file != "" && /^```csharp/ { out = dir "/" file; printf "" > out; copying = 1; next }
  copying && /^```/ { copying = 0; file = ""; close(out); next }
  copying { print >> out }
' "$repo/README.md"
for f in Losses.cs Program.cs; do
  [ -s "$app/$f" ] || { echo "package check: README.md has no quick-start block for $f" >&2; exit 1; }
done

# One loss of the LossDsl.Losses package too, checked against cross-entropy at γ = 0 before the quick start runs.
cat > "$app/LibraryCheck.cs" <<'CS'
using System.Runtime.CompilerServices;
using LossDsl.Losses;
using TorchSharp;

static class LibraryCheck
{
    [ModuleInitializer]
    internal static void Run()
    {
        var logits = torch.randn(8, 5, dtype: torch.ScalarType.Float64).requires_grad_(true);
        var target = torch.randint(0, 5, 8);
        var focal = Classification.Focal(logits, target, gamma: 0.0);
        var ce = torch.nn.functional.cross_entropy(logits, target);
        focal.backward();
        if (Math.Abs(focal.item<double>() - ce.item<double>()) > 1e-9 || logits.grad is null)
            throw new InvalidOperationException($"LossDsl.Losses: focal at gamma 0 is {focal.item<double>()}, cross-entropy {ce.item<double>()}");
        Console.WriteLine("LossDsl.Losses: focal at gamma 0 equals cross-entropy");
    }
}
CS

echo "== dotnet run"
output="$(cd "$app" && NUGET_PACKAGES="$private" dotnet run -c Release 2>&1)" || { echo "$output"; echo "package check: the consumer failed" >&2; exit 1; }
echo "$output" | tail -n 5
echo "$output" | grep -q "LossDsl.Losses: focal at gamma 0 equals cross-entropy" || { echo "package check: the LossDsl.Losses check did not run" >&2; exit 1; }
# The quick start prints "loss A -> B": training must have lowered the loss (backward() reached the model).
echo "$output" | awk '/^loss [0-9.]+ -> [0-9.]+/ { found = 1; if ($4 + 0 < $2 + 0) ok = 1 } END { exit !(found && ok) }' \
  || { echo "package check: the loss did not decrease" >&2; exit 1; }

# README, "Compile-time diagnostics": -p:LossDslVerdicts=true shows each loss's calibration verdict as a warning, one line
# per loss, and a TreatWarningsAsErrors build still passes. (No restore: NuGet's own warnings are not what is checked.)
echo "== dotnet build -p:LossDslVerdicts=true -p:TreatWarningsAsErrors=true"
output="$(cd "$app" && NUGET_PACKAGES="$private" dotnet build -c Release --no-restore --no-incremental -p:LossDslVerdicts=true -p:TreatWarningsAsErrors=true 2>&1)" \
  || { echo "$output"; echo "package check: the build with LossDslVerdicts and TreatWarningsAsErrors failed" >&2; exit 1; }
verdicts="$(echo "$output" | grep -E "Losses\.cs\([0-9]+,[0-9]+\): warning LOSS02[0-9]+: Loss 'Poly1' " | sort -u)"
echo "$verdicts"
[ "$(echo "$verdicts" | grep -c .)" = 1 ] || { echo "$output"; echo "package check: expected one verdict line for Poly1" >&2; exit 1; }
echo "package check: OK"
