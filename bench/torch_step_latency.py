#!/usr/bin/python3
"""The PyTorch side of bench/stream_latency.sh (issue 30): one step of a character LSTM (one-hot
input, `layers` stacked layers of `hidden` units, a linear head) at batch 1, the state carried,
each step timed alone, as bench_stream times rnnc's. Prints one line: p50 p99 p99.9 mean (us).
Usage: torch_step_latency.py VOCAB HIDDEN LAYERS STEPS [THREADS]"""
import sys
import time

import torch

V, H, L, n = (int(a) for a in sys.argv[1:5])
torch.set_num_threads(int(sys.argv[5]) if len(sys.argv) > 5 else 2)
torch.manual_seed(0)
lstm = torch.nn.LSTM(V, H, L)
head = torch.nn.Linear(H, V)
eye = torch.eye(V)
us = []
with torch.no_grad():
    state = None
    for t in range(n + 200):
        x = eye[(t * 7) % V].view(1, 1, V)
        t0 = time.perf_counter()
        out, state = lstm(x, state)
        logits = head(out[0, 0])
        if t >= 200:  # warm
            us.append((time.perf_counter() - t0) * 1e6)
us.sort()
at = lambda q: us[min(len(us) - 1, int(q * len(us)))]
print(f"{at(0.5):.2f} {at(0.99):.2f} {at(0.999):.2f} {sum(us) / len(us):.2f}")
