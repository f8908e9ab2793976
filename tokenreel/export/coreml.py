"""Core ML export of one artifact: an `mlprogram` package for iOS 17+, fp16 or fp32 compute precision;
int8 weights, or the transformer's Linear weights palettized (pal6, pal4: quantization/palettize.py).

The transformer is converted in its Neural Engine layout (`models/transformer_ane.py`, the choices of
apple/ml-stable-diffusion); the tokenizer steps are convolutions and convert as they are. coremltools
cannot run predictions on Linux, so here the package is checked structurally: op set, names, shapes and
precision (`check`); the prediction test runs on macOS.
"""
import contextlib
import io
import warnings
from pathlib import Path

import torch

from ..errors import UserError
from ..precisions import DEFAULT, TABLE
from ..quantization import schemes
from .files import output


def _module_and_inputs(artifact):
    if artifact.role == "transformer":
        from ..models.transformer_ane import MaskedTransformerANE
        # Core ML has no int64 tensors: sub-tokens go in as int32
        return MaskedTransformerANE(artifact.module.transformer).eval(), (artifact.inputs[0].int(),)
    return artifact.module, artifact.inputs


def convert(artifact, precision=DEFAULT):
    """int8: fp16 activations with int8 linear (symmetric, per-channel) weights, the Neural Engine's path.
    pal6 / pal4 (the transformer): fp16 activations with its Linear weights palettized."""
    import coremltools as ct
    p = TABLE[precision]
    module, inputs = _module_and_inputs(artifact)
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()), \
            contextlib.redirect_stderr(io.StringIO()):
        warnings.simplefilter("ignore")
        program = torch.export.export(module, inputs, strict=False).run_decompositions({})
        model = ct.convert(program, convert_to="mlprogram", minimum_deployment_target=ct.target.iOS17,
                           compute_precision=ct.precision.FLOAT32 if p.compute == "float32" else ct.precision.FLOAT16,
                           compute_units=ct.ComputeUnit.ALL, skip_model_load=True)
    spec = model.get_spec()
    # torch.export does not keep argument names; give the package the manifest's names
    for old, new in zip([f.name for f in spec.description.input], artifact.input_names):
        ct.utils.rename_feature(spec, old, new, rename_outputs=False)
    for old, new in zip([f.name for f in spec.description.output], artifact.output_names):
        ct.utils.rename_feature(spec, old, new, rename_inputs=False)
    model = ct.models.MLModel(spec, weights_dir=model.weights_dir, skip_model_load=True)
    if p.int8:
        from coremltools.optimize.coreml import OpLinearQuantizerConfig, OptimizationConfig, linear_quantize_weights
        config = OptimizationConfig(global_config=OpLinearQuantizerConfig(mode="linear_symmetric", dtype="int8"))
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            model = linear_quantize_weights(model, config)
    if p.scheme:
        from ..quantization.palettize import palettize
        model = palettize(model, artifact.module, precision)
    return model


def describe(model):
    """What a saved package holds: op types, dtypes of its computations, inputs and outputs."""
    from coremltools.proto import FeatureTypes_pb2 as ft
    names = {v: k for k, v in ft.ArrayFeatureType.ArrayDataType.items()}

    def io_spec(features):
        return [{"name": f.name, "shape": list(f.type.multiArrayType.shape),
                 "dtype": names[f.type.multiArrayType.dataType].lower()} for f in features]
    spec = model.get_spec()
    ops, dtypes = set(), set()
    for fn in spec.mlProgram.functions.values():
        for block in fn.block_specializations.values():
            for op in block.operations:
                ops.add(op.type)
                for out in op.outputs:
                    dtypes.add(out.type.tensorType.dataType)
    from coremltools.proto import MIL_pb2
    return {"ops": sorted(ops), "dtypes": sorted(MIL_pb2.DataType.Name(d).lower() for d in dtypes),
            "inputs": io_spec(spec.description.input), "outputs": io_spec(spec.description.output),
            "spec_version": spec.specificationVersion}


def check(model, artifact, precision):
    """Structural check of a converted package against the artifact; raises UserError naming the problem."""
    d = describe(model)
    p = TABLE[precision]
    float32 = p.compute == "float32"    # Core ML computes in fp16 at every other precision (int8: None)
    problems = []
    if any("conv3d" in op.lower() for op in d["ops"]):
        problems.append("a 3-D convolution")
    if [i["name"] for i in d["inputs"]] != artifact.input_names:
        problems.append(f"inputs {[i['name'] for i in d['inputs']]}")
    for i, t in zip(d["inputs"], artifact.inputs):
        if i["shape"] != list(t.shape):
            problems.append(f"input {i['name']} shape {i['shape']} != {list(t.shape)}")
    if not float32 and "float16" not in d["dtypes"]:
        problems.append("no fp16 computation")
    if p.int8 and not any(op.startswith("constexpr_") for op in d["ops"]):
        problems.append("no int8 weights (constexpr dequantize ops)")
    if float32 and "float16" in d["dtypes"]:
        problems.append("fp16 computations in an fp32 package")
    if p.scheme and "constexpr_lut_to_dense" not in d["ops"]:
        problems.append(f"no palettized weights (constexpr_lut_to_dense) at {precision}")
    if problems:
        raise UserError(f"Core ML export of {artifact.name} fails its check: {'; '.join(problems)}")
    return d


def export(artifact, path: Path, precision=DEFAULT, calibration=None):
    """Write artifact as PATH (an .mlpackage folder; temp folder, then rename). Returns its description."""
    model = convert(artifact, precision)
    d = check(model, artifact, precision)
    with output(path, folder=True) as tmp:      # ends in .mlpackage, as coremltools insists
        model.save(str(tmp))
    info = {"ops": d["ops"], "inputs": d["inputs"], "outputs": d["outputs"], "compute_dtypes": d["dtypes"]}
    if TABLE[precision].scheme:
        info["quantization"] = schemes.describe(precision, artifact.module)
    return info
