# The PyTorch model tests/data/torch_char_lstm.onnx was made from (with PyTorch 1.13, Debian's
# python3-torch): Embedding -> 2-layer LSTM -> Linear -> log_softmax, exported by torch.onnx.export for
# T=4, B=2 with h0 and c0 as inputs; its inputs and PyTorch's outputs go to torch_char_lstm.json, which
# test_onnx compares rnnc's import against.
#   /usr/bin/python3 tests/onnx/make_torch_char_lstm.py tests/data/torch_char_lstm.onnx tests/data/torch_char_lstm.json
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
out = m(ids, h0, c0)
torch.onnx.export(m, (ids, h0, c0), sys.argv[1], input_names=["ids", "h0", "c0"], output_names=["logp", "h", "c"], opset_version=13)
json.dump({"ids": ids.tolist(), "h0": h0.tolist(), "c0": c0.tolist(), "logp": out[0].tolist(), "h": out[1].tolist(), "c": out[2].tolist()}, open(sys.argv[2], "w"))
