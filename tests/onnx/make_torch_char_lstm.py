# The PyTorch model tests/data/torch_char_lstm.onnx was made from (with PyTorch 1.13, Debian's
# python3-torch): Embedding -> 2-layer LSTM -> Linear -> log_softmax, exported by torch.onnx.export for
# T=4, B=2 with h0 and c0 as inputs; its inputs and PyTorch's outputs go to torch_char_lstm.json, which
# test_onnx compares rnnc's import against.
#   /usr/bin/python3 tests/onnx/make_torch_char_lstm.py tests/data/torch_char_lstm.onnx tests/data/torch_char_lstm.json
# With --dynamic, exported with the time and batch axes open (dynamic_axes), and the inputs and
# outputs in the JSON at other sizes (T=6, B=3) than the ones it was traced at:
#   /usr/bin/python3 tests/onnx/make_torch_char_lstm.py tests/data/torch_char_lstm_dynamic.onnx tests/data/torch_char_lstm_dynamic.json --dynamic
import json, sys, torch
torch.manual_seed(0)
class CharLSTM(torch.nn.Module):
    def __init__(self, vocab=7, embed=5, hidden=6):
        super().__init__()
        self.embed = torch.nn.Embedding(vocab, embed)
        self.lstm = torch.nn.LSTM(embed, hidden, num_layers=2)
        self.head = torch.nn.Linear(hidden, vocab)
    def forward(self, ids, h0, c0):
        y, (h, c) = self.lstm(self.embed(ids), (h0, c0))
        return torch.log_softmax(self.head(y), dim=-1), h, c
m = CharLSTM().eval()
ids = torch.tensor([[1, 4], [2, 5], [0, 3], [6, 1]], dtype=torch.int64)
h0 = torch.randn(2, 2, 6) * 0.5
c0 = torch.randn(2, 2, 6) * 0.5
dynamic = "--dynamic" in sys.argv
axes = {"ids": {0: "time", 1: "batch"}, "h0": {1: "batch"}, "c0": {1: "batch"}, "logp": {0: "time", 1: "batch"}, "h": {1: "batch"}, "c": {1: "batch"}}
torch.onnx.export(m, (ids, h0, c0), sys.argv[1], input_names=["ids", "h0", "c0"], output_names=["logp", "h", "c"], opset_version=13, dynamic_axes=axes if dynamic else None)
if dynamic:
    ids = torch.tensor([[1, 4, 0], [2, 5, 6], [0, 3, 3], [6, 1, 2], [5, 5, 1], [3, 0, 4]], dtype=torch.int64)
    h0 = torch.randn(2, 3, 6) * 0.5
    c0 = torch.randn(2, 3, 6) * 0.5
out = m(ids, h0, c0)
json.dump({"ids": ids.tolist(), "h0": h0.tolist(), "c0": c0.tolist(), "logp": out[0].tolist(), "h": out[1].tolist(), "c": out[2].tolist()}, open(sys.argv[2], "w"))
