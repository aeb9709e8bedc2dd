"""ONNX models: a model file read with the `onnx` package (its operators, shapes and
initializer types, weights left on disk), and the benchmark script the grader runs in the
student's own container (assets/onnx_bench.py). Pure: graders/labkit/models.py fetches and
runs them through the Lab handle."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from graders.errors import Failure

# Operators that only a quantized graph contains (ONNX Runtime's and the ONNX standard's).
QUANTIZED_OPS = frozenset(
    {
        "QuantizeLinear",
        "DequantizeLinear",
        "DynamicQuantizeLinear",
        "QLinearConv",
        "QLinearMatMul",
        "ConvInteger",
        "MatMulInteger",
        "MatMulIntegerToFloat",
        "QGemm",
        "QLinearAdd",
        "QLinearMul",
        "QLinearGlobalAveragePool",
        "QLinearAveragePool",
        "QLinearConcat",
        "QLinearSigmoid",
        "QLinearLeakyRelu",
        "QLinearSoftmax",
        "QAttention",
        "DynamicQuantizeMatMul",
        "DynamicQuantizeLSTM",
    }
)
BENCH = Path(__file__).with_name("assets") / "onnx_bench.py"
REMOTE_BENCH = ".labgrader/onnx_bench.py"


@dataclass
class ModelInfo:
    size: int
    ops: Counter[str]
    inputs: list[tuple[str, list[int | str]]]
    outputs: list[tuple[str, list[int | str]]]
    int8_weights: int
    float_weights: int

    @property
    def quantized_ops(self) -> list[str]:
        return sorted(op for op in self.ops if op in QUANTIZED_OPS)

    @property
    def is_quantized(self) -> bool:
        return bool(self.quantized_ops)


def inspect_model(path: str | Path) -> ModelInfo:
    """Read a model's graph (weights stay on disk); a file that is not ONNX is a Failure."""
    import onnx
    from onnx import TensorProto

    try:
        model = onnx.load(str(path), load_external_data=False)
    except Exception as exc:  # noqa: BLE001 - protobuf raises several kinds on garbage
        raise Failure(
            f"not a readable ONNX model ({type(exc).__name__}: {str(exc)[:120]})"
        ) from None
    ops: Counter[str] = Counter(n.op_type for n in model.graph.node)
    for fn in model.functions:
        ops.update(n.op_type for n in fn.node)
    ints = {TensorProto.INT8, TensorProto.UINT8}
    floats = {TensorProto.FLOAT, TensorProto.FLOAT16, TensorProto.DOUBLE}
    inits = model.graph.initializer

    def shape(v: object) -> list[int | str]:
        dims = v.type.tensor_type.shape.dim  # type: ignore[attr-defined]
        return [d.dim_value if d.HasField("dim_value") else (d.dim_param or "?") for d in dims]

    return ModelInfo(
        size=Path(path).stat().st_size,
        ops=ops,
        inputs=[
            (i.name, shape(i)) for i in model.graph.input if i.name not in {x.name for x in inits}
        ],
        outputs=[(o.name, shape(o)) for o in model.graph.output],
        int8_weights=sum(1 for t in inits if t.data_type in ints),
        float_weights=sum(1 for t in inits if t.data_type in floats),
    )
