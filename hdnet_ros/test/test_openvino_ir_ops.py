"""The OpenVINO IR converter op by op, and its errors.

Small IRs written by OpenVINO itself (its Python API and ``save_model``: real IR v11 files,
fp16-compressed weights where OpenVINO compresses them) cover every op the converter maps,
with the attributes whose meaning differs between the formats (StridedSlice's masks,
Interpolate's ``simple`` nearest mode, group convolution weights); each conversion must
agree with OpenVINO's execution of the same file, at batch 1 and, converted with a dynamic
batch, at batch 2. Those tests skip without OpenVINO (a test-only dependency). The error
tests use a hand-written IR and need nothing but numpy and onnx.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import onnxruntime as ort
import pytest
from hdnet_ros.nets.openvino_ir.convert import ir_to_onnx
from hdnet_ros.nets.openvino_ir.graph import IrConversionError

# Float32 ops computed in another order by the two runtimes (values of order 1).
TOLERANCE = 1e-5
GENERATOR_SEED = 7


@pytest.fixture(scope="module")
def ov() -> SimpleNamespace:
    """OpenVINO's API: the runtime, opset 8 and opset 4 (Range-4, and Interpolate-4 through the node factory)."""
    openvino = pytest.importorskip("openvino")
    from openvino import opset4, opset8
    from openvino.utils.node_factory import NodeFactory

    return SimpleNamespace(runtime=openvino, o=opset8, o4=opset4, factory=NodeFactory("opset4"))


def weights(*shape: int) -> np.ndarray:
    """Random weights scaled by the fan-in, so activations stay of order 1 layer after layer."""
    values = np.random.default_rng(sum(shape)).normal(size=shape) / np.sqrt(np.prod(shape[1:]))
    return values.astype(np.float32)


def convolutions(ov: SimpleNamespace) -> tuple[Any, bool]:
    o = ov.o
    x = o.parameter([1, 4, 9, 9], np.float32, name="x")
    conv = o.convolution(x, weights(8, 4, 3, 3), [2, 2], [1, 1], [1, 1], [1, 1])
    biased = o.relu(o.add(conv, weights(1, 8, 1, 1)))
    grouped = o.group_convolution(biased, weights(8, 1, 1, 3, 3), [1, 1], [2, 2], [2, 2], [2, 2])
    same = o.convolution(grouped, weights(4, 8, 3, 3), [2, 2], [0, 0], [0, 0], [1, 1], "same_upper")
    valid = o.convolution(same, weights(2, 4, 1, 1), [1, 1], [0, 0], [0, 0], [1, 1], "valid", name="y")
    return ov.runtime.Model([valid], [x]), True  # compressed: fp16 weights behind Convert


def activations(ov: SimpleNamespace) -> tuple[Any, bool]:
    o = ov.o
    x = o.parameter([1, 2, 3, 5], np.float32, name="x")
    parts = [
        o.sigmoid(x),
        o.sqrt(o.abs(x)),
        o.exp(o.multiply(x, np.float32(0.5))),
        o.tanh(x),
        o.hswish(o.multiply(x, np.float32(4))),
        o.hard_sigmoid(x, np.float32(0.2), np.float32(0.5)),
        o.clamp(x, -0.5, 0.7),
        o.relu(x),
    ]
    return ov.runtime.Model([o.concat(parts, axis=1, name="y")], [x]), False


def arithmetic(ov: SimpleNamespace) -> tuple[Any, bool]:
    o = ov.o
    x = o.parameter([1, 3, 2, 4], np.float32, name="x")
    channel, column = weights(1, 3, 1, 1), np.abs(weights(1, 1, 1, 4)) + 0.5
    y = o.divide(o.subtract(o.multiply(o.add(x, channel), column), channel), column)
    y = o.minimum(o.maximum(y, np.float32(-1)), np.float32(1.5), name="y")
    return ov.runtime.Model([y], [x]), False


def shapes(ov: SimpleNamespace) -> tuple[Any, bool]:
    """Reshape (special_zero), Transpose, Split, Concat (negative axis), Squeeze, Unsqueeze,
    StridedSlice with masks, Gather and Broadcast on values that depend on the input."""
    o = ov.o
    x = o.parameter([1, 6, 4, 4], np.float32, name="x")
    shuffled = o.reshape(
        o.transpose(o.reshape(x, np.array([0, 2, 3, 16]), True), np.array([0, 2, 1, 3])), np.array([1, 6, 4, 4]), False
    )
    first, second = o.split(shuffled, np.int64(1), 2).outputs()
    joined = o.concat([second, first], axis=-3)
    sliced = o.strided_slice(
        joined, np.array([9, 1, 9, 1]), np.array([9, 6, 9, 4]), np.array([1, 2, 1, 1]), [1, 0, 1, 0], [1, 0, 1, 1]
    )
    gathered = o.gather(sliced, np.array([2, 0]), np.int64(1))
    squeezed = o.unsqueeze(o.squeeze(o.reduce_mean(gathered, np.array([3]), True), np.array([3])), np.array([3]))
    spread = o.add(o.broadcast(squeezed, np.array([1, 2, 4, 3])), gathered, name="y")
    return ov.runtime.Model([spread], [x]), False


def folded_shapes(ov: SimpleNamespace) -> tuple[Any, bool]:
    """A shape sub-graph (ShapeOf -> Gather -> Concat -> Reshape target) and a grid computed in
    the graph (Range -> Unsqueeze -> Broadcast), both folded to constants."""
    o = ov.o
    x = o.parameter([1, 2, 4, 3], np.float32, name="x")
    spatial = o.gather(o.shape_of(x), np.array([2, 3]), np.int64(0))
    target = o.concat([o.constant(np.array([1, -1])), o.multiply(spatial, np.int64(1))], axis=0)
    grid = o.broadcast(
        o.unsqueeze(ov.o4.range(np.float32(0), np.float32(3), np.float32(1), "f32"), np.array([0])), np.array([4, 3])
    )
    y = o.add(o.reshape(x, target, False), grid, name="y")
    return ov.runtime.Model([y], [x]), False


def _interpolate(ov: SimpleNamespace, data: Any, sizes: list[int], scales: list[float], **attributes: Any) -> Any:
    settings = {"antialias": False, "pads_begin": [0] * 4, "pads_end": [0] * 4, "cube_coeff": -0.75, **attributes}
    inputs = [
        data.output(0),
        ov.o.constant(np.array(sizes, np.int64)).output(0),
        ov.o.constant(np.array(scales, np.float32)).output(0),
    ]
    node = ov.factory.create("Interpolate", inputs, settings)
    node.validate_and_infer_types()
    return node


def interpolations(ov: SimpleNamespace) -> tuple[Any, bool]:
    """Interpolate-4 as the IRs use it, and the modes whose ONNX mapping is not one to one."""
    x = ov.o.parameter([1, 2, 4, 6], np.float32, name="x")
    nearest = {"mode": "nearest", "coordinate_transformation_mode": "asymmetric"}
    cases = [
        _interpolate(
            ov, x, [1, 2, 8, 12], [1, 1, 2, 2], shape_calculation_mode="scales", nearest_mode="simple", **nearest
        ),
        _interpolate(
            ov, x, [1, 2, 2, 3], [1, 1, 0.5, 0.5], shape_calculation_mode="scales", nearest_mode="simple", **nearest
        ),
        _interpolate(
            ov, x, [1, 2, 8, 12], [1, 1, 2, 2], shape_calculation_mode="scales", nearest_mode="floor", **nearest
        ),
        _interpolate(
            ov,
            x,
            [1, 2, 7, 9],
            [1, 1, 1, 1],
            shape_calculation_mode="sizes",
            mode="linear_onnx",
            coordinate_transformation_mode="align_corners",
            nearest_mode="simple",
        ),
        _interpolate(
            ov,
            x,
            [1, 2, 6, 9],
            [1, 1, 1.5, 1.5],
            shape_calculation_mode="scales",
            mode="cubic",
            coordinate_transformation_mode="half_pixel",
            nearest_mode="round_prefer_floor",
        ),
        _interpolate(
            ov,
            x,
            [1, 2, 7, 9],
            [1, 1, 1, 1],
            shape_calculation_mode="sizes",
            mode="nearest",
            coordinate_transformation_mode="half_pixel",
            nearest_mode="round_prefer_ceil",
        ),
    ]
    for index, node in enumerate(cases):
        node.set_friendly_name(f"y{index}")
    return ov.runtime.Model([c.output(0) for c in cases], [x]), False


def heads(ov: SimpleNamespace) -> tuple[Any, bool]:
    """ReduceMean, SoftMax-8 (negative axis), MatMul with a transposed operand, TopK with i32 indices."""
    o = ov.o
    x = o.parameter([1, 4, 6], np.float32, name="x")
    pooled = o.reduce_mean(x, np.array([2]), True, name="pooled")
    probabilities = o.softmax(x, -1, name="probabilities")
    projected = o.matmul(x, weights(5, 6), False, True, name="projected")
    top = o.topk(x, np.int64(3), -1, "max", "value", "i32", name="top")
    outputs = [pooled.output(0), probabilities.output(0), projected.output(0), *top.outputs()]
    return ov.runtime.Model(outputs, [x]), False


CASES: dict[str, Callable[[SimpleNamespace], tuple[Any, bool]]] = {
    f.__name__: f for f in (convolutions, activations, arithmetic, shapes, folded_shapes, interpolations, heads)
}


def save_ir(ov: SimpleNamespace, model: Any, compress: bool, path: Path) -> Path:
    model.validate_nodes_and_infer_types()
    ov.runtime.save_model(model, str(path), compress_to_fp16=compress)
    return path


def openvino_outputs(ov: SimpleNamespace, xml: Path, batch: np.ndarray) -> list[list[np.ndarray]]:
    compiled = ov.runtime.Core().compile_model(str(xml), "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
    return [[np.array(compiled(row[None])[output]) for output in compiled.outputs] for row in batch]


@pytest.mark.parametrize("case", list(CASES))
def test_op_agrees_with_openvino(ov: SimpleNamespace, case: str, tmp_path: Path) -> None:
    model, compress = CASES[case](ov)
    xml = save_ir(ov, model, compress, tmp_path / f"{case}.xml")
    if compress:
        assert 'element_type="f16"' in xml.read_text(), "the weights are fp16-compressed in the IR"
    shape = [int(d) for d in re.findall(r"<dim>(\d+)</dim>", xml.read_text().split("</layer>")[0])]
    batch = np.random.default_rng(GENERATOR_SEED).normal(size=(2, *shape[1:])).astype(np.float32)
    expected = openvino_outputs(ov, xml, batch)
    for dynamic, rows in ((False, batch[:1]), (True, batch)):
        onnx_model = ir_to_onnx(xml, dynamic_batch=dynamic)
        options = ort.SessionOptions()
        options.log_severity_level = 3
        session = ort.InferenceSession(onnx_model.SerializeToString(), options, providers=["CPUExecutionProvider"])
        got = session.run(None, {"x": rows})
        assert len(got) == len(expected[0])
        for index, value in enumerate(got):
            want = np.concatenate([outputs[index] for outputs in expected[: len(rows)]])
            assert value.shape == want.shape and value.dtype == want.dtype, (case, index)
            if value.dtype.kind == "f":
                np.testing.assert_allclose(
                    value, want, rtol=TOLERANCE, atol=TOLERANCE, err_msg=f"{case} output {index}"
                )
            else:
                np.testing.assert_array_equal(value, want, err_msg=f"{case} output {index}")


def test_a_batch_folded_into_another_axis_cannot_be_made_dynamic(ov: SimpleNamespace, tmp_path: Path) -> None:
    o = ov.o
    x = o.parameter([1, 3, 2], np.float32, name="x")
    flat = o.reshape(o.relu(x), np.array([6]), False)
    flat.output(0).get_tensor().set_names({"flat"})
    xml = save_ir(ov, ov.runtime.Model([flat], [x]), False, tmp_path / "flat.xml")
    assert ir_to_onnx(xml).graph.output[0].name == "flat"
    with pytest.raises(IrConversionError, match=r"output flat \[6\] has no batch axis"):
        ir_to_onnx(xml, dynamic_batch=True)
    split = o.split(x, np.int64(0), 1)
    xml = save_ir(ov, ov.runtime.Model(split.outputs(), [x]), False, tmp_path / "split.xml")
    with pytest.raises(IrConversionError, match="splits along the batch axis"):
        ir_to_onnx(xml, dynamic_batch=True)


def test_unsupported_attribute_or_op_version_names_the_layer(ov: SimpleNamespace, tmp_path: Path) -> None:
    x = ov.o.parameter([1, 2, 4, 6], np.float32, name="x")
    node = _interpolate(
        ov,
        x,
        [1, 2, 8, 12],
        [1, 1, 2, 2],
        mode="linear",
        shape_calculation_mode="scales",
        coordinate_transformation_mode="half_pixel",
        nearest_mode="floor",
    )
    node.set_friendly_name("upsample")
    xml = save_ir(ov, ov.runtime.Model([node.output(0)], [x]), False, tmp_path / "linear.xml")
    with pytest.raises(IrConversionError, match=r"'upsample' \(Interpolate, opset4\): unsupported mode='linear'"):
        ir_to_onnx(xml)
    from openvino import opset11

    resized = opset11.interpolate(
        x, np.array([8, 12], np.int64), "nearest", "sizes", axes=np.array([2, 3], np.int64), name="resize11"
    )
    xml = save_ir(ov, ov.runtime.Model([resized], [x]), False, tmp_path / "interpolate11.xml")
    with pytest.raises(
        IrConversionError, match=r"'resize11' \(Interpolate, opset11\): Interpolate of opset11 is not supported"
    ):
        ir_to_onnx(xml)


# A hand-written IR: y = x + w (w a constant from the .bin), for the format's errors.
MINIMAL_IR = """<?xml version="1.0"?>
<net name="minimal" version="11">
<layers>
<layer id="0" name="x" type="Parameter" version="opset1"><data shape="1,2" element_type="f32"/>
<output><port id="0" precision="FP32" names="x"><dim>1</dim><dim>2</dim></port></output></layer>
<layer id="1" name="w" type="Const" version="opset1"><data element_type="f32" shape="1,2" offset="0" size="8"/>
<output><port id="0" precision="FP32"><dim>1</dim><dim>2</dim></port></output></layer>
<layer id="2" name="sum" type="Add" version="opset1"><data auto_broadcast="numpy"/>
<input><port id="0" precision="FP32"><dim>1</dim><dim>2</dim></port>
<port id="1" precision="FP32"><dim>1</dim><dim>2</dim></port></input>
<output><port id="2" precision="FP32" names="y"><dim>1</dim><dim>2</dim></port></output></layer>
<layer id="3" name="y/sink_port_0" type="Result" version="opset1">
<input><port id="0" precision="FP32"><dim>1</dim><dim>2</dim></port></input></layer>
</layers>
<edges>
<edge from-layer="0" from-port="0" to-layer="2" to-port="0"/>
<edge from-layer="1" from-port="0" to-layer="2" to-port="1"/>
<edge from-layer="2" from-port="2" to-layer="3" to-port="0"/>
</edges>
</net>
"""
MINIMAL_WEIGHTS = np.array([[1.5, -2.0]], dtype=np.float32)


def write_ir(tmp_path: Path, xml: str = MINIMAL_IR, weights: bytes = MINIMAL_WEIGHTS.tobytes()) -> Path:
    path = tmp_path / "model.xml"
    path.write_text(xml)
    path.with_suffix(".bin").write_bytes(weights)
    return path


def test_minimal_ir_converts_and_runs(tmp_path: Path) -> None:
    model = ir_to_onnx(write_ir(tmp_path))
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    x = np.array([[0.25, 1.0]], dtype=np.float32)
    np.testing.assert_array_equal(session.run(["y"], {"x": x})[0], x + MINIMAL_WEIGHTS)


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ('type="Add"', 'type="Erf"', r"layer 2 'sum' \(Erf, opset1\): op type Erf is not supported"),
        (
            'auto_broadcast="numpy"',
            'auto_broadcast="pdpd"',
            r"'sum' \(Add, opset1\): unsupported auto_broadcast='pdpd'",
        ),
        (
            'auto_broadcast="numpy"',
            'auto_broadcast="numpy" axis="1"',
            r"'sum' \(Add, opset1\): unsupported attribute axis='1'",
        ),
        ('type="Add" version="opset1"', 'type="Add" version="opset99"', r"Add of opset99 is not supported"),
        ('version="11"', 'version="7"', r"not an OpenVINO IR of version 11"),
        ('names="x"><dim>1</dim>', 'names="x"><dim>-1</dim>', r"'x': port 0 has the dynamic dimension '-1'"),
        ('size="8"', 'size="16"', r"'w' \(Const, opset1\): 16 bytes at offset 0 do not hold \[1, 2\] f32"),
        ('element_type="f32" shape="1,2"', 'element_type="u1" shape="1,2"', r"constants of element type 'u1'"),
        (
            '<edge from-layer="1" from-port="0" to-layer="2" to-port="1"/>',
            "",
            r"'sum' \(Add, opset1\): input port 1 is not connected",
        ),
        (
            'from-layer="1" from-port="0"',
            'from-layer="9" from-port="0"',
            r"edge \(9, 0\) -> \(2, 1\) names a layer or port that does not exist",
        ),
        (
            '<edge from-layer="0" from-port="0" to-layer="2" to-port="0"/>',
            '<edge from-layer="2" from-port="2" to-layer="2" to-port="0"/>',
            "the graph has a cycle",
        ),
        (
            '<?xml version="1.0"?>',
            '<?xml version="1.0"?><!DOCTYPE net [<!ENTITY a "aaaa">]>',
            "declares a document type or entities",
        ),
        ("</edges>\n</net>", "</edges>", "not well-formed XML"),
    ],
)
def test_malformed_or_unsupported_ir_is_a_clear_error(tmp_path: Path, old: str, new: str, message: str) -> None:
    assert old in MINIMAL_IR
    with pytest.raises(IrConversionError, match=message) as raised:
        ir_to_onnx(write_ir(tmp_path, MINIMAL_IR.replace(old, new)))
    assert str(tmp_path / "model.xml") in str(raised.value), "the error names the file"


def test_missing_weights_and_bad_output_names_are_errors(tmp_path: Path) -> None:
    xml = write_ir(tmp_path)
    with pytest.raises(IrConversionError, match=r"no output named \['z'\] to drop \(outputs: \['sum', 'y'\]\)"):
        ir_to_onnx(xml, drop_outputs=["z"])
    with pytest.raises(IrConversionError, match="every output would be dropped"):
        ir_to_onnx(xml, drop_outputs=["y"])
    xml.with_suffix(".bin").unlink()
    with pytest.raises(IrConversionError, match=r"model\.bin does not exist"):
        ir_to_onnx(xml)
