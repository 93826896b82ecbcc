#!/usr/bin/python3
"""The PyTorch side of bench/sample_speed.sh (issue 18): a character LSTM (one-hot input, `layers`
stacked layers of `hidden` units, a linear head) generating text one character at a time, the
hidden state carried, each character drawn from the softmax as char-rnn's sample.lua does.
Prints one line: chars/s. Usage: torch_sample_bench.py VOCAB HIDDEN LAYERS CHARS [THREADS]"""
import sys
import time

import torch

V, H, L, n = (int(a) for a in sys.argv[1:5])
torch.set_num_threads(int(sys.argv[5]) if len(sys.argv) > 5 else 2)
torch.manual_seed(0)
lstm = torch.nn.LSTM(V, H, L)
head = torch.nn.Linear(H, V)
eye = torch.eye(V)


def generate(count):
    state = None
    x = 0
    with torch.no_grad():
        for _ in range(count):
            out, state = lstm(eye[x].view(1, 1, V), state)
            p = torch.softmax(head(out[0, 0]), 0)
            x = int(torch.multinomial(p, 1))


generate(20)  # warm up
t0 = time.perf_counter()
generate(n)
print(f"{n / (time.perf_counter() - t0):.1f}")
