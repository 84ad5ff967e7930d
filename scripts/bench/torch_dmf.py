#!/usr/bin/python3
"""PyTorch baseline for the deep matrix factorization row of scripts/bench/engine-step.ts:
W = W_L ... W_1 (100 x 100, hidden width 100), completion MSE over |Omega| entries gathered from
the full product (the fastest formulation here), GroupRMSprop as in deep_cp_tc.py. Prints one
line `RESULT {json}` with the median ms per step (first 10 steps excluded), like deep_cp_tc.py."""
import argparse, json, statistics, time
import torch

p = argparse.ArgumentParser()
p.add_argument("--dim", type=int, default=100)
p.add_argument("--depth", type=int, default=3)
p.add_argument("--n_obs", type=int, default=2000)
p.add_argument("--steps", type=int, default=300)
p.add_argument("--dtype", default="float32")
p.add_argument("--seed", type=int, default=0)
a = p.parse_args()
dtype = getattr(torch, a.dtype)
torch.manual_seed(a.seed)
d = a.dim
u, v = torch.randn(d, 5), torch.randn(5, d)
target = (u @ v); target = (target / target.norm() * d).to(dtype)
idx = torch.multinomial(torch.ones(d * d), a.n_obs, replacement=False)
y = target.reshape(-1)[idx]
ws = [torch.nn.Parameter((torch.randn(d, d) * 1e-3).to(dtype)) for _ in range(a.depth)]
sq, alpha, eps, lr, t = torch.tensor(0.0, dtype=dtype), 0.99, 1e-4, 1e-3, 0
times = []
for step in range(a.steps):
    t0 = time.perf_counter()
    for w in ws:
        w.grad = None
    W = ws[0]
    for w in ws[1:]:
        W = w @ W
    loss = (W.reshape(-1)[idx] - y).pow(2).mean()
    loss.backward()
    with torch.no_grad():
        t += 1
        sq.mul_(alpha)
        for w in ws:
            sq.add_((1 - alpha) * w.grad.pow(2).sum())
        rate = lr / (sq.div(1 - alpha ** t).sqrt() + eps)
        for w in ws:
            w.add_(-rate * w.grad)
    loss.item()
    times.append(time.perf_counter() - t0)
warm = times[10:]
print("RESULT " + json.dumps({"impl": "torch_dmf.py", "median_step_ms": 1e3 * statistics.median(warm),
                              "threads": torch.get_num_threads(), "torch": torch.__version__}))
