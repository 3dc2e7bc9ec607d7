#!/usr/bin/env python3
"""Counts the exps and logs per element in the generated float32 CPU kernels of the benchmark losses (the vector loops),
for the compute roofline of docs/performance.md. Run after `dotnet build LossDsl.sln` from the repository root.

A Sigmoid is one exp, a Softplus or LogSigmoid one exp and one log1p, an Exp or Log one of its kind; a Pow whose exponent
is a small whole number (focal's gamma = 2) multiplies and is not counted (check the exponent in the printed lines).
"""
import glob
import re

GENERATED = "obj/*/net10.0/generated/LossDsl.Generator/LossDsl.Generator.LossGenerator/"
FILES = {
    "Poly-1": "src/LossDsl.Losses/" + GENERATED + "LossDsl.Losses.Classification.Poly1.g.cs",
    "CE": "benchmarks/LossDsl.Benchmarks/" + GENERATED + "LossDsl.Benchmarks.BenchLosses.CrossEntropy.g.cs",
    "Tversky": "src/LossDsl.Losses/" + GENERATED + "LossDsl.Losses.Segmentation.Tversky.g.cs",
    "Sigmoid focal": "src/LossDsl.Losses/" + GENERATED + "LossDsl.Losses.Binary.SigmoidFocal.g.cs",
    "SupCon": "src/LossDsl.Losses/" + GENERATED + "LossDsl.Losses.MetricLearning.SupCon.g.cs",
    "Dice+CE": "samples/LossDsl.Samples/" + GENERATED + "LossDsl.Samples.Losses.DiceCE.g.cs",
}
COST = {"Exp": (1, 0), "Log": (0, 1), "Sigmoid": (1, 0), "Softplus": (1, 1), "LogSigmoid": (1, 1), "Pow": (0, 0), "Tanh": (0, 0)}

for name, pattern in FILES.items():
    source = open(glob.glob(pattern)[0]).read()
    parts = re.split(r"public static void (Cpu\w+F32)\(", source)
    exps = logs = 0
    for i in range(1, len(parts), 2):
        body = parts[i + 1].split("public static void")[0]
        for function, (e, l) in COST.items():
            calls = re.findall(r"LossVectorMath\." + function + r"\((.*?)\);", body)
            exps += e * len(calls)
            logs += l * len(calls)
            for c in calls:
                if function in ("Pow", "Tanh"):
                    print(f"  {name} {parts[i]}: {function}({c}) not counted")
    print(f"{name}: {exps} exp + {logs} log per element in the kernels"
          + (" (multiclass sets: plus the host's pixel softmax, 1 exp per element and 1 log per pixel)" if "Dice" in name else ""))
