# A Keras character model as tf2onnx writes it, for test_onnx: Embedding(7, 5) -> LSTM(6,
# return_sequences=True) -> Dense(7, softmax), batch-major, with the batch and time axes open.
# TensorFlow and tf2onnx are not in Debian 12 (nor reachable offline), so the graph is built here
# with onnx.helper in the form tf2onnx's LSTM rewriter gives a Keras LSTM: the float input cast to
# int64 for the embedding's Gather, a Transpose to time-major, zero initial states from
# Shape -> Gather -> Concat -> ConstantOfShape, one ONNX LSTM whose W, R, B are Keras' kernel,
# recurrent kernel and bias with the gates put from Keras' i f c o into ONNX's i o f c (Keras has
# one bias: Rb is zeros), Squeeze and a Transpose back, and the Dense layer as MatMul + Add +
# Softmax. Keras' computation (numpy, below) gives the expected outputs for 3 sequences of 5 ids.
#   /usr/bin/python3 tests/onnx/make_keras_style_lstm.py tests/data/keras_char_lstm.onnx tests/data/keras_char_lstm.json
import json, sys
import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

V, E, H = 7, 5, 6
rng = np.random.default_rng(0)
embedding = rng.normal(0, 0.5, (V, E)).astype(np.float32)
kernel = rng.normal(0, 0.4, (E, 4 * H)).astype(np.float32)  # Keras: columns i f c o
recurrent = rng.normal(0, 0.4, (H, 4 * H)).astype(np.float32)
bias = rng.normal(0, 0.2, (4 * H,)).astype(np.float32)
dense_w = rng.normal(0, 0.5, (H, V)).astype(np.float32)
dense_b = rng.normal(0, 0.1, (V,)).astype(np.float32)


def keras(ids):  # ids [B, T] -> softmax [B, T, V], Keras' LSTM in numpy (float64)
    sig = lambda z: 1 / (1 + np.exp(-z))
    B, T = ids.shape
    h, c = np.zeros((B, H)), np.zeros((B, H))
    ys = []
    for t in range(T):
        z = embedding[ids[:, t]].astype(np.float64) @ kernel + h @ recurrent + bias
        i, f, g, o = sig(z[:, :H]), sig(z[:, H:2 * H]), np.tanh(z[:, 2 * H:3 * H]), sig(z[:, 3 * H:])
        c = f * c + i * g
        h = o * np.tanh(c)
        ys.append(h @ dense_w + dense_b)
    logits = np.stack(ys, 1)
    e = np.exp(logits - logits.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def iofc(w):  # Keras' gate blocks (last axis) i f c o -> ONNX's i o f c
    i, f, c, o = np.split(w, 4, axis=-1)
    return np.concatenate([i, o, f, c], axis=-1)


W = iofc(kernel).T[None]  # [1, 4H, E]
R = iofc(recurrent).T[None]  # [1, 4H, H]
B = np.concatenate([iofc(bias), np.zeros(4 * H, np.float32)])[None]  # [1, 8H]
inits = [
    numpy_helper.from_array(embedding, "sequential/embedding/embedding_lookup/Read/ReadVariableOp:0"),
    numpy_helper.from_array(W, "W__12"),
    numpy_helper.from_array(R, "R__13"),
    numpy_helper.from_array(B, "B__14"),
    numpy_helper.from_array(dense_w, "sequential/dense/Tensordot/ReadVariableOp:0"),
    numpy_helper.from_array(dense_b, "sequential/dense/BiasAdd/ReadVariableOp:0"),
    numpy_helper.from_array(np.array([1], np.int64), "const_axes__1"),
    numpy_helper.from_array(np.array([1], np.int64), "const_fold_opt__20"),
    numpy_helper.from_array(np.array([H], np.int64), "const_fold_opt__21"),
]
p = "sequential/lstm/"
nodes = [
    helper.make_node("Cast", ["embedding_input"], ["Cast__5:0"], to=TensorProto.INT64),
    helper.make_node("Gather", [inits[0].name, "Cast__5:0"], ["sequential/embedding/embedding_lookup:0"], name="sequential/embedding/embedding_lookup"),
    helper.make_node("Transpose", ["sequential/embedding/embedding_lookup:0"], [p + "transpose:0"], perm=[1, 0, 2], name=p + "transpose"),
    helper.make_node("Shape", [p + "transpose:0"], [p + "Shape:0"], name=p + "Shape"),
    helper.make_node("Gather", [p + "Shape:0", "const_fold_opt__20"], [p + "strided_slice:0"], axis=0, name=p + "strided_slice"),
    helper.make_node("Concat", ["const_fold_opt__20", p + "strided_slice:0", "const_fold_opt__21"], [p + "zeros/packed:0"], axis=0, name=p + "zeros/packed"),
    helper.make_node("ConstantOfShape", [p + "zeros/packed:0"], [p + "zeros:0"], value=numpy_helper.from_array(np.array([0], np.float32)), name=p + "zeros"),
    helper.make_node("LSTM", [p + "transpose:0", "W__12", "R__13", "B__14", "", p + "zeros:0", p + "zeros:0"],
                     [p + "LSTM__17:0", "", ""], hidden_size=H, direction="forward", name=p + "LSTM__17"),
    helper.make_node("Squeeze", [p + "LSTM__17:0", "const_axes__1"], [p + "Squeeze__18:0"], name=p + "Squeeze__18"),
    helper.make_node("Transpose", [p + "Squeeze__18:0"], [p + "transpose_1:0"], perm=[1, 0, 2], name=p + "transpose_1"),
    helper.make_node("MatMul", [p + "transpose_1:0", inits[4].name], ["sequential/dense/Tensordot:0"], name="sequential/dense/Tensordot"),
    helper.make_node("Add", ["sequential/dense/Tensordot:0", inits[5].name], ["sequential/dense/BiasAdd:0"], name="sequential/dense/BiasAdd"),
    helper.make_node("Softmax", ["sequential/dense/BiasAdd:0"], ["dense"], axis=-1, name="sequential/dense/Softmax"),
]
graph = helper.make_graph(
    nodes, "tf2onnx",
    [helper.make_tensor_value_info("embedding_input", TensorProto.FLOAT, ["unk__25", "unk__26"])],
    [helper.make_tensor_value_info("dense", TensorProto.FLOAT, ["unk__27", "unk__28", V])], inits)
model = helper.make_model(graph, producer_name="tf2onnx", opset_imports=[helper.make_opsetid("", 13)])
model.ir_version = 7
onnx.checker.check_model(model, full_check=True)
onnx.save(model, sys.argv[1])
ids = np.array([[1, 4, 0, 6, 2], [2, 5, 3, 3, 1], [0, 6, 1, 4, 5]])
json.dump({"embedding_input": ids.astype(float).tolist(), "dense": keras(ids).tolist()}, open(sys.argv[2], "w"))
