"""Quality per minute, PyTorch's side: `rnnc train`'s model and recipe in PyTorch, on the same split.

A character LSTM (one-hot input, stacked layers with dropout between them and after the last, a
linear head), char-rnn's batching (the training text as B streams, chunks of T, the state carried
from chunk to chunk and cut from the graph), Adam, gradients clipped to [-clip, clip], and the
learning rate held for the first part of the run, then lowered to 0 along a cosine over the rest
of the time budget, as rnnc train does. Validation: the held-out text (the last --val-frac of the
file) as B streams of chunks of T, every --validate-every steps and at the end. The budget is
wall-clock seconds from the first step, validations included, as rnnc train counts it.

Writes CSV (step,seconds,train_loss,val_loss), rnnc train's loss.csv format, to --out.
Run with the system python3 (Debian's python3-torch): bench/quality.sh runs it beside rnnc train.
"""
import argparse, math, os, time
import torch, torch.nn as nn

p = argparse.ArgumentParser()
p.add_argument("--data", required=True)
p.add_argument("--val-frac", type=float, default=0.1)
p.add_argument("--time", type=float, required=True)
p.add_argument("--layers", type=int, required=True)
p.add_argument("--hidden", type=int, required=True)
p.add_argument("--dropout", type=float, required=True)
p.add_argument("--batch", type=int, required=True)
p.add_argument("--seq-length", type=int, required=True)
p.add_argument("--lr", type=float, required=True)
p.add_argument("--anneal", type=float, required=True, help="the last fraction of the budget, a cosine to 0")
p.add_argument("--clip", type=float, default=5)
p.add_argument("--validate-every", type=int, default=200)
p.add_argument("--threads", type=int, default=2)
p.add_argument("--out", required=True)
a = p.parse_args()
torch.manual_seed(123)
torch.set_num_threads(a.threads)

text = open(a.data, encoding="utf-8").read()
chars = sorted(set(text))
index = {c: i for i, c in enumerate(chars)}
encoded = torch.tensor([index[c] for c in text], dtype=torch.long)
n_val = int(len(text) * a.val_frac)
train_text, val_text = encoded[: len(text) - n_val], encoded[len(text) - n_val :]
V, B, T = len(chars), a.batch, a.seq_length


def streams(t, batch):
    """char-rnn's layout: `batch` contiguous streams; chunk k is columns [k T, k T + T) of each."""
    batch = max(1, min(batch, t.numel() // (T + 1)))
    per = (t.numel() - 1) // batch
    chunks = per // T
    x = t[: batch * per].view(batch, per)
    y = t[1 : batch * per + 1].view(batch, per)
    return [(x[:, k * T : (k + 1) * T].t(), y[:, k * T : (k + 1) * T].t()) for k in range(chunks)], batch


class CharLSTM(nn.Module):
    def __init__(self):
        super().__init__()
        self.rnn = nn.LSTM(V, a.hidden, a.layers, dropout=a.dropout if a.layers > 1 else 0)
        self.drop = nn.Dropout(a.dropout)
        self.head = nn.Linear(a.hidden, V)

    def forward(self, x, state):  # x [T, B] -> logits [T, B, V]
        h, state = self.rnn(nn.functional.one_hot(x, V).float(), state)
        return self.head(self.drop(h)), state


def detach(state):
    return tuple(s.detach() for s in state)


def zeros(batch):
    return tuple(torch.zeros(a.layers, batch, a.hidden) for _ in range(2))


train_chunks, _ = streams(train_text, B)
val_chunks, val_b = streams(val_text, B)
model = CharLSTM()
opt = torch.optim.Adam(model.parameters(), lr=a.lr)
loss_fn = nn.CrossEntropyLoss()


def validate():
    model.eval()
    total, state = 0.0, zeros(val_b)
    with torch.no_grad():
        for x, y in val_chunks:
            logits, state = model(x, state)
            total += loss_fn(logits.reshape(-1, V), y.reshape(-1)).item()
    model.train()
    return total / len(val_chunks)


rows = ["step,seconds,train_loss,val_loss"]
start = time.perf_counter()
state, step, best = zeros(B), 0, math.inf
while True:
    x, y = train_chunks[step % len(train_chunks)]
    if step % len(train_chunks) == 0:
        state = zeros(B)
    elapsed = time.perf_counter() - start
    hold = 1 - a.anneal
    t = 0 if a.anneal <= 0 else min(1.0, max(0.0, (min(1.0, elapsed / a.time) - hold) / a.anneal))
    lr = a.lr * 0.5 * (1 + math.cos(math.pi * t))
    for g in opt.param_groups:
        g["lr"] = lr
    logits, state = model(x, state)
    state = detach(state)
    loss = loss_fn(logits.reshape(-1, V), y.reshape(-1))
    opt.zero_grad()
    loss.backward()
    nn.utils.clip_grad_value_(model.parameters(), a.clip)
    opt.step()
    step += 1
    seconds = time.perf_counter() - start
    last = seconds >= a.time
    val = ""
    if step % a.validate_every == 0 or last:
        v = validate()
        best = min(best, v)
        val = f"{v:.6g}"
        seconds = time.perf_counter() - start
        print(f"step {step}: {seconds:.0f} s, loss {loss.item():.4f}, val_loss {v:.4f} (best {best:.4f})", flush=True)
    rows.append(f"{step},{seconds:.3f},{loss.item():.6g},{val}")
    if last:
        break
with open(a.out, "w") as f:
    f.write("\n".join(rows) + "\n")
print(f"summary: best val_loss {best:.4f} in {a.time:.0f} s, {step} steps, {step * B * T / a.time:.0f} chars/s")
