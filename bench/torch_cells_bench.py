"""PyTorch peers of bench_cells: the modern cells as 2-layer character models (one-hot input,
vocabulary 65, a linear head), one forward and backward pass of the mean cross-entropy per step
(no optimizer step, as bench_cells). Prints one line per model: "name chars/s".

  minGRU_loop      the cell stepped in a Python loop, as a user writes a cell
  minGRU_parallel  the paper's parallel form (Feng et al. 2024): log-space scan with cumsum and
                   logcumsumexp over all steps at once (its h~ passes through g(x) > 0, as there)
  minLSTM_loop, IndRNN_loop, QRNN_loop, LRU_loop, S6_loop   the other cells, stepped
  LSTM             torch.nn.LSTM (its fused layer)

Usage: /usr/bin/python3 bench/torch_cells_bench.py HIDDEN BATCH T STEPS THREADS [NAME...]
"""
import sys, time
import torch, torch.nn as nn, torch.nn.functional as F

V = 65


class MinGRU(nn.Module):
    def __init__(self, i, h):
        super().__init__(); self.z = nn.Linear(i, h); self.c = nn.Linear(i, h)
    def forward(self, x, h):
        z = torch.sigmoid(self.z(x)); return (1 - z) * h + z * self.c(x)


class MinLSTM(nn.Module):
    def __init__(self, i, h):
        super().__init__(); self.f = nn.Linear(i, h); self.i = nn.Linear(i, h); self.c = nn.Linear(i, h)
    def forward(self, x, h):
        f, i = torch.sigmoid(self.f(x)), torch.sigmoid(self.i(x)); return (f * h + i * self.c(x)) / (f + i)


class IndRNN(nn.Module):
    def __init__(self, i, h):
        super().__init__(); self.w = nn.Linear(i, h); self.u = nn.Parameter(torch.rand(h))
    def forward(self, x, h):
        return torch.relu(self.w(x) + self.u * h)


class QRNN(nn.Module):  # fo-pooling, window 1; state (h, c)
    def __init__(self, i, h):
        super().__init__(); self.z = nn.Linear(i, h); self.f = nn.Linear(i, h); self.o = nn.Linear(i, h)
    def forward(self, x, s):
        f = torch.sigmoid(self.f(x)); c = f * s[1] + (1 - f) * torch.tanh(self.z(x))
        return torch.sigmoid(self.o(x)) * c, c


class LRU(nn.Module):  # real diagonal
    def __init__(self, i, h):
        super().__init__(); self.b = nn.Linear(i, h); self.nu = nn.Parameter(torch.rand(h) * -4)
    def forward(self, x, h):
        lam = torch.exp(-torch.exp(self.nu)); return lam * h + torch.sqrt(1 - lam * lam) * self.b(x)


class S6(nn.Module):  # state (h [B, D, N], y [B, D])
    def __init__(self, i, d, n=16):
        super().__init__()
        self.u, self.dt, self.B, self.C = nn.Linear(i, d), nn.Linear(i, d), nn.Linear(i, n), nn.Linear(i, n)
        self.A_log = nn.Parameter(torch.rand(d, n) * 2 - 1); self.skip = nn.Parameter(torch.rand(d) * 2 - 1)
    def forward(self, x, s):
        u, dt = self.u(x), F.softplus(self.dt(x))
        h = torch.exp(dt.unsqueeze(2) * -torch.exp(self.A_log)) * s[0] + (dt * u).unsqueeze(2) * self.B(x).unsqueeze(1)
        return h, (h * self.C(x).unsqueeze(1)).sum(2) + self.skip * u


CELLS = {"minGRU": MinGRU, "minLSTM": MinLSTM, "IndRNN": IndRNN, "QRNN": QRNN, "LRU": LRU, "S6": S6}


def log_g(x):
    return torch.where(x >= 0, (F.relu(x) + 0.5).log(), -F.softplus(-x))


class ParallelMinGRU(nn.Module):
    """The paper's parallel minGRU: h_t = (1 - z_t) h_{t-1} + z_t g(h~_t) for all t at once."""
    def __init__(self, i, h):
        super().__init__(); self.z = nn.Linear(i, h); self.c = nn.Linear(i, h)
    def forward(self, x, h0):  # x [B, T, I], h0 [B, 1, H] (positive)
        k = self.z(x)
        log_coeffs, log_z = -F.softplus(k), -F.softplus(-k)
        log_values = torch.cat([h0.log(), log_z + log_g(self.c(x))], dim=1)
        a_star = F.pad(torch.cumsum(log_coeffs, dim=1), (0, 0, 1, 0))
        return torch.exp(a_star + torch.logcumsumexp(log_values - a_star, dim=1))[:, 1:]


class Model(nn.Module):
    def __init__(self, name, H):
        super().__init__()
        self.name, self.H = name, H
        kind = name.split("_")[0]
        if name == "LSTM":
            self.rnn = nn.LSTM(V, H, 2, batch_first=True)
        elif name == "minGRU_parallel":
            self.layers = nn.ModuleList([ParallelMinGRU(V, H), ParallelMinGRU(H, H)])
        else:
            self.layers = nn.ModuleList([CELLS[kind](V, H), CELLS[kind](H, H)])
        self.out = nn.Linear(H, V)

    def forward(self, e):  # e [B, T, V]
        B, T, _ = e.shape
        if self.name == "LSTM":
            y, _ = self.rnn(e)
        elif self.name == "minGRU_parallel":
            y = e
            for layer in self.layers:
                y = layer(y, torch.full((B, 1, self.H), 0.5))
        else:
            y = e
            for layer in self.layers:
                z = torch.zeros(B, self.H)
                s = (z, z) if isinstance(layer, (QRNN, S6)) else z
                if isinstance(layer, S6):
                    s = (torch.zeros(B, self.H, 16), z)
                hs = []
                for t in range(T):
                    s = layer(y[:, t], s)
                    hs.append(s[1] if isinstance(layer, S6) else s[0] if isinstance(s, tuple) else s)
                y = torch.stack(hs, 1)
        return self.out(y)


def bench(name, H, B, T, steps):
    model = Model(name, H)
    x = F.one_hot(torch.randint(0, V, (B, T)), V).float()
    y = torch.randint(0, V, (B, T))
    def step():
        model.zero_grad()
        F.cross_entropy(model(x).reshape(-1, V), y.reshape(-1)).backward()
    step()
    times = []
    for _ in range(steps):
        t0 = time.perf_counter(); step(); times.append(time.perf_counter() - t0)
    times.sort()
    return B * T / times[len(times) // 2]


if __name__ == "__main__":
    H, B, T, steps, threads = (int(a) for a in sys.argv[1:6])
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    names = sys.argv[6:] or ["minGRU_loop", "minGRU_parallel", "minLSTM_loop", "IndRNN_loop", "QRNN_loop",
                             "LRU_loop", "S6_loop", "LSTM"]
    bench(names[0], H, B, T, 1)  # the process's first steps run several times slower: not counted
    for n in names:
        print(n, round(bench(n, H, B, T, steps)), flush=True)
