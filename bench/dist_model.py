"""A model of data-parallel step time (docs/distributed.md): ring allreduce of the gradients,
  t_step(N) = t_1 / N + 2 (N - 1) / N * bytes / bandwidth + 2 (N - 1) * latency * buckets,
with t_1 the measured single-rank compute per step at the global batch (assumed to split
perfectly over ranks, which small local batches do not quite do) and no overlap of communication
with computation. Prints, per configuration and network, the step time and speed-up at N = 2..256,
and the N past which adding ranks stops paying: efficiency t_1 / (N t_step) under 50%, or fewer
than one stream per rank.
Usage: python3 dist_model.py NAME:T1_MS:MBYTES:BATCH [...]"""
import math, sys

nets = [("10 Gb/s, 30 us", 10e9 / 8, 30e-6), ("100 Gb/s, 3 us", 100e9 / 8, 3e-6)]
ranks = [2, 4, 8, 16, 32, 64, 128, 256]
for arg in sys.argv[1:]:
    name, t1_ms, mbytes, batch = arg.split(":")
    t1, size, batch = float(t1_ms) / 1e3, float(mbytes) * 1e6, int(batch)
    buckets = max(1, math.ceil(size / (25 << 20)))
    for net, bw, lat in nets:
        cells, stop = [], None
        for n in ranks:
            t = t1 / n + 2 * (n - 1) / n * size / bw + 2 * (n - 1) * lat * buckets
            eff = t1 / (n * t)
            if stop is None and (eff < 0.5 or n > batch):
                stop = n
            cells.append(f"{n}: {t * 1e3:.1f} ms ({t1 / t:.1f}x)" + ("" if n <= batch else " [B/N < 1]"))
        print(f"{name} ({mbytes} MB, B {batch}, t_1 {t1_ms} ms), {net}: " + "; ".join(cells) +
              f"; stops scaling at N = {stop if stop else '> 256'}")
