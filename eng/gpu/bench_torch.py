#!/usr/bin/env python3
"""PyTorch side of the LossDsl device check: the benchmark cases of LossDsl.GpuCheck, forward + backward per call,
as PyTorch eager (the formula composed from torch ops, differentiated by autograd), torch.compile of the same function,
and the built-in loss where PyTorch has one (F.cross_entropy, F.binary_cross_entropy_with_logits).

Writes one JSON object per line: {"case", "dtype", "variant", "ms"}. Half-precision inputs are computed as PyTorch's
autocast does for losses: upcast to float32 inside the loss, gradient in the input's dtype.
Usage: bench_torch.py OUT.jsonl [--dry-run]
"""
import json
import sys
import time

import torch
import torch.nn.functional as F


def poly1(logits, target, epsilon=1.0):
    logp = F.log_softmax(logits.float(), dim=1).gather(1, target.unsqueeze(1)).squeeze(1)
    return (-logp + epsilon * (1 - logp.exp())).mean()


def ce(logits, target):
    logp = F.log_softmax(logits.float(), dim=1).gather(1, target.unsqueeze(1)).squeeze(1)
    return (-logp).mean()


def ce_builtin(logits, target):
    return F.cross_entropy(logits.float(), target)


def tversky(logits, targets, alpha=0.5, beta=0.5, smooth=0.0, eps=1e-7):
    p = torch.sigmoid(logits.float())
    y = targets.float()
    dims = (0, 2, 3)
    tp = (p * y).sum(dims)
    fp = (p * (1 - y)).sum(dims)
    fn = ((1 - p) * y).sum(dims)
    loss = 1 - (tp + smooth) / torch.clamp(tp + alpha * fp + beta * fn + smooth, min=eps)
    return loss.mean()


def focal(logit, target, alpha=0.25, gamma=2.0):
    x = logit.float()
    y = target.float()
    p = torch.sigmoid(x)
    ce_ = F.softplus(x) - x * y
    pt = p * y + (1 - p) * (1 - y)
    at = alpha * y + (1 - alpha) * (1 - y)
    return (at * ce_ * (1 - pt) ** gamma).mean()


def bce_builtin(logit, target):
    return F.binary_cross_entropy_with_logits(logit.float(), target.float())


def cases(dry):
    rows = [((8192, 32000), (64, 1000)), ((8192, 128256), (16, 4000))]
    for full, small in rows:
        n, c = small if dry else full
        name = f"[{full[0]}, {full[1]}]"
        for dtype in (torch.float32, torch.bfloat16):
            make = lambda n=n, c=c, dtype=dtype: (torch.randn(n, c, device="cuda", dtype=dtype), torch.randint(0, c, (n,), device="cuda"))
            yield f"Poly-1 {name}", dtype, make, {"eager": poly1}
            yield f"CE {name}", dtype, make, {"eager": ce, "builtin": ce_builtin}
    shape = (2, 4, 32, 32) if dry else (16, 4, 256, 256)
    yield "Tversky [16, 4, 256, 256]", torch.float32, lambda: (torch.randn(*shape, device="cuda"), (torch.rand(*shape, device="cuda") > 0.5).float()), {"eager": tversky}
    count = (1 << 16) if dry else (64 << 20)
    yield "sigmoid focal [64M]", torch.float32, lambda: (torch.randn(count, device="cuda"), (torch.rand(count, device="cuda") > 0.7).float()), {"eager": focal, "builtin": bce_builtin}


def timed(fn, x, t, reps):
    x = x.detach().requires_grad_(True)
    for _ in range(3):
        fn(x, t).backward()
        x.grad = None
    torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(reps):
        fn(x, t).backward()
        x.grad = None
    torch.cuda.synchronize()
    return (time.perf_counter() - start) / reps * 1e3


def main():
    if len(sys.argv) < 2:
        print(__doc__)
        return 2
    out, dry = sys.argv[1], "--dry-run" in sys.argv
    reps = 2 if dry else 20
    with open(out, "w") as f:
        for name, dtype, make, variants in cases(dry):
            x, t = make()
            runs = dict(variants)
            runs["compile"] = torch.compile(variants["eager"])
            for variant, fn in runs.items():
                try:
                    ms = timed(fn, x, t, reps)
                except Exception as e:  # report and go on: one failing variant must not lose the others
                    print(f"{name} {dtype} {variant}: {type(e).__name__}: {e}", file=sys.stderr)
                    continue
                row = {"case": name, "dtype": str(dtype).replace("torch.", ""), "variant": variant, "ms": ms}
                print(json.dumps(row), flush=True)
                f.write(json.dumps(row) + "\n")
            del x, t
            torch.cuda.empty_cache()
    return 0


if __name__ == "__main__":
    sys.exit(main())
