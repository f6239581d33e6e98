"""Small ONNX / QONNX models built with onnx.helper for the import tests
(no torch, no Brevitas: fast)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

QD = "qonnx.custom_op.general"


class Builder:
    """Accumulates nodes and initialisers; ``save`` writes the model."""

    def __init__(self, in_shape: list[int | str], name: str = "x") -> None:
        self.nodes: list[onnx.NodeProto] = []
        self.inits: list[onnx.TensorProto] = []
        self.inp = helper.make_tensor_value_info(name, TensorProto.FLOAT, in_shape)
        self.k = 0

    def const(self, v: np.ndarray | float, name: str | None = None) -> str:
        self.k += 1
        n = name or f"c{self.k}"
        self.inits.append(numpy_helper.from_array(np.asarray(v, dtype=np.float32), n))
        return n

    def node(self, op: str, ins: list[str], name: str | None = None, domain: str = "",
             **kw: object) -> str:
        self.k += 1
        out = f"t{self.k}"
        self.nodes.append(helper.make_node(op, ins, [out], name=name or f"n{self.k}",
                                           domain=domain, **kw))
        return out

    def bipolar(self, x: str, scale: float = 1.0, name: str | None = None) -> str:
        return self.node("BipolarQuant", [x, self.const(scale)], name=name, domain=QD)

    def quant(self, x: str, bits: int, scale: float = 0.1, name: str | None = None) -> str:
        return self.node("Quant", [x, self.const(scale), self.const(0.0), self.const(float(bits))],
                         name=name, domain=QD, signed=1, narrow=0, rounding_mode="ROUND")

    def bn(self, x: str, gamma: np.ndarray, beta: np.ndarray, mean: np.ndarray,
           var: np.ndarray, name: str | None = None) -> str:
        return self.node("BatchNormalization", [x, self.const(gamma), self.const(beta),
                                                self.const(mean), self.const(var)],
                         name=name, epsilon=1e-5)

    def model(self, out: str) -> onnx.ModelProto:
        g = helper.make_graph(self.nodes, "g", [self.inp],
                              [helper.make_tensor_value_info(out, TensorProto.FLOAT, None)],
                              self.inits)
        opsets = [helper.make_opsetid("", 17)]
        if any(n.domain == QD for n in self.nodes):
            opsets.append(helper.make_opsetid(QD, 1))
        m = helper.make_model(g, opset_imports=opsets, producer_name="test")
        m.ir_version = 8
        return m

    def save(self, out: str, path: Path) -> Path:
        onnx.save(self.model(out), str(path))
        return path


def binary_conv_net(path: Path, seed: int = 0, cin: int = 4, cout: int = 6,
                    negative: bool = True) -> tuple[Path, dict[str, np.ndarray]]:
    """x (1, cin, 6, 6) -> BipolarQuant -> binary conv 3x3 p1 (+bias) -> BN
    (some gammas < 0) -> BipolarQuant -> binary conv -> output. Returns the
    path and the float parameters."""
    rng = np.random.default_rng(seed)
    b = Builder([1, cin, 6, 6])
    w = rng.normal(size=(cout, cin, 3, 3)).astype(np.float32)
    bias = rng.normal(size=cout).astype(np.float32)
    gamma = rng.uniform(0.5, 2, cout).astype(np.float32)
    if negative:
        gamma[::2] *= -1
    beta = rng.normal(size=cout).astype(np.float32) * 3
    mean = rng.normal(size=cout).astype(np.float32) * 2
    var = rng.uniform(0.5, 3, cout).astype(np.float32)
    w2 = rng.normal(size=(3, cout, 3, 3)).astype(np.float32)
    x = b.bipolar("x", name="in_q")
    wq = b.bipolar(b.const(w, "w0"), name="w0_q")
    y = b.node("Conv", [x, wq, b.const(bias, "b0")], name="conv0", kernel_shape=[3, 3],
               pads=[1, 1, 1, 1])
    y = b.bn(y, gamma, beta, mean, var, name="bn0")
    a = b.bipolar(y, name="act0")
    w2q = b.bipolar(b.const(w2, "w1"), name="w1_q")
    out = b.node("Conv", [a, w2q], name="conv1", kernel_shape=[3, 3], pads=[1, 1, 1, 1])
    return b.save(out, path), {"w": w, "bias": bias, "gamma": gamma, "beta": beta,
                               "mean": mean, "var": var}


def float_net(path: Path, batch: int | str = 1, hw: int | str = 8) -> Path:
    """Plain float ONNX: conv -> relu -> global pool -> flatten -> gemm."""
    rng = np.random.default_rng(1)
    b = Builder([batch, 3, hw, hw])
    y = b.node("Conv", ["x", b.const(rng.normal(size=(8, 3, 3, 3)))], name="conv",
               kernel_shape=[3, 3], pads=[1, 1, 1, 1])
    y = b.node("Relu", [y], name="relu")
    y = b.node("GlobalAveragePool", [y], name="gap")
    y = b.node("Flatten", [y], name="flat", axis=1)
    out = b.node("Gemm", [y, b.const(rng.normal(size=(10, 8)))], name="fc", transB=1)
    return b.save(out, path)


def unsupported_net(path: Path) -> Path:
    b = Builder([1, 3, 8, 8])
    y = b.quant("x", 8, name="in_q")
    y = b.node("Conv", [y, b.quant(b.const(np.ones((4, 3, 3, 3))), 8)], name="conv",
               kernel_shape=[3, 3])
    out = b.node("LpNormalization", [y], name="lpnorm")
    return b.save(out, path)
