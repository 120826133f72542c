"""Export torchvision's CNN image classifiers to ONNX with onnxruntime's reference outputs.

The files are those tests/onnx/export.py writes: <out>/<name>.onnx (random weights, seed 0
before the model is built, eval mode, batch 1 and a fixed input size: the model's documented
one) and <out>/<name>/: input.f32 (a seeded N(0,1) input, [1, 3, H, W]), one <k>.f32 per
float node output with onnxruntime's value of it on that input, and manifest.json:
{"input": [1, 3, H, W], "outputs": [{"name", "shape", "file"}, ...] (the graph's output
first), "ops": the sorted distinct op types of the graph, "exporter", "opset"}. Values are
raw little-endian float32.

    python tests/onnx/zoo.py OUT_DIR [NAME ...] [--exporter torchscript|dynamo] [--opset N]

NAME defaults to every model below. The file name is the model's, with ".dynamo" after it
for the dynamo exporter and ".op<N>" for an opset other than 17 (resnet50, resnet50.dynamo,
resnet50.op13, resnet50.dynamo.op18). A model that fails to export is reported and skipped;
the exit status is then 1. With torch 2.15 the torchscript exporter takes opsets up to 23.
The dynamo exporter (torch.onnx.export(..., dynamo=True)) needs the onnxscript package and
writes opset 18 at the least: asked for less (or for more than onnx knows) it keeps 18, and
the manifest's "opset" is the one the file has.

Needs torch, torchvision, onnx, onnxruntime, numpy (and onnxscript for --exporter dynamo).
"""
import argparse
import json
import sys
import time
import traceback
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import torch
import torchvision

M = torchvision.models

# name -> (constructor, documented input size)
MODELS = {
    "alexnet": (lambda: M.alexnet(weights=None), 224),
    "vgg11": (lambda: M.vgg11(weights=None), 224),
    "resnet18": (lambda: M.resnet18(weights=None), 224),
    "resnet50": (lambda: M.resnet50(weights=None), 224),
    "resnext50_32x4d": (lambda: M.resnext50_32x4d(weights=None), 224),
    "wide_resnet50_2": (lambda: M.wide_resnet50_2(weights=None), 224),
    "squeezenet1_0": (lambda: M.squeezenet1_0(weights=None), 224),
    "squeezenet1_1": (lambda: M.squeezenet1_1(weights=None), 224),
    "densenet121": (lambda: M.densenet121(weights=None), 224),
    # transform_input is True by default only with pretrained weights: asked for here so
    # that the input transform (Gather/Slice per channel, then Concat) is in the graph.
    "googlenet": (lambda: M.googlenet(weights=None, aux_logits=False, init_weights=True, transform_input=True), 224),
    "inception_v3": (lambda: M.inception_v3(weights=None, aux_logits=False, init_weights=True, transform_input=True), 299),
    "shufflenet_v2_x1_0": (lambda: M.shufflenet_v2_x1_0(weights=None), 224),
    "mobilenet_v2": (lambda: M.mobilenet_v2(weights=None), 224),
    "mobilenet_v3_small": (lambda: M.mobilenet_v3_small(weights=None), 224),
    "mobilenet_v3_large": (lambda: M.mobilenet_v3_large(weights=None), 224),
    "mnasnet1_0": (lambda: M.mnasnet1_0(weights=None), 224),
    "efficientnet_b0": (lambda: M.efficientnet_b0(weights=None), 224),
    "efficientnet_v2_s": (lambda: M.efficientnet_v2_s(weights=None), 384),
    "regnet_y_400mf": (lambda: M.regnet_y_400mf(weights=None), 224),
    "convnext_tiny": (lambda: M.convnext_tiny(weights=None), 224),
}

DEFAULT_EXPORTER = "torchscript"
DEFAULT_OPSET = 17


def file_name(name, exporter, opset):
    s = name
    if exporter != DEFAULT_EXPORTER:
        s += f".{exporter}"
    if opset != DEFAULT_OPSET:
        s += f".op{opset}"
    return s


def op_types(graph):
    """The distinct op types of a graph and its subgraphs ("domain::Op" outside ONNX's own)."""
    ops = set()
    for node in graph.node:
        ops.add(f"{node.domain}::{node.op_type}" if node.domain not in ("", "ai.onnx") else node.op_type)
        for a in node.attribute:
            if a.type == onnx.AttributeProto.GRAPH:
                ops |= op_types(a.g)
            elif a.type == onnx.AttributeProto.GRAPHS:
                for g in a.graphs:
                    ops |= op_types(g)
    return ops


def export(name, model, size, out, exporter=DEFAULT_EXPORTER, opset=DEFAULT_OPSET):
    """export.py's export, for either exporter and any opset; returns a dict of what it did."""
    torch.manual_seed(0)
    model.eval()
    x = torch.randn(1, 3, size, size, generator=torch.Generator().manual_seed(1))
    path = out / f"{name}.onnx"
    t0 = time.monotonic()
    if exporter == "torchscript":
        torch.onnx.export(model, (x,), str(path), dynamo=False, opset_version=opset, input_names=["input"], output_names=["logits"])
    else:
        # external_data=False: one self-contained file, as the torchscript exporter writes.
        torch.onnx.export(model, (x,), str(path), dynamo=True, opset_version=opset, input_names=["input"], output_names=["logits"], external_data=False, verbose=False)
    export_s = time.monotonic() - t0
    m = onnx.load(str(path))
    nodes = len(m.graph.node)
    ops = sorted(op_types(m.graph))
    actual_opset = next((o.version for o in m.opset_import if o.domain in ("", "ai.onnx")), None)
    inferred = onnx.shape_inference.infer_shapes(m)
    known = {o.name for o in m.graph.output}
    # Node outputs only: the dynamo exporter also gives the initializers value_info.
    produced = {o for node in m.graph.node for o in node.output if o}
    for vi in inferred.graph.value_info:
        if vi.name in produced and vi.name not in known:
            m.graph.output.append(vi)
            known.add(vi.name)
    sess = ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"])
    names = [o.name for o in sess.get_outputs()]
    values = sess.run(names, {sess.get_inputs()[0].name: x.numpy()})
    d = out / name
    d.mkdir(exist_ok=True)
    for f in d.glob("*.f32"):  # a rerun with fewer outputs leaves no stale files
        f.unlink()
    x.numpy().astype("<f4").tofile(d / "input.f32")
    manifest = []
    for k, (n, v) in enumerate(zip(names, values)):
        if v.dtype != np.float32:
            continue
        v.astype("<f4").tofile(d / f"{k}.f32")
        manifest.append({"name": n, "shape": list(v.shape), "file": f"{k}.f32"})
    (d / "manifest.json").write_text(json.dumps({
        "input": list(x.shape), "outputs": manifest, "ops": ops, "exporter": exporter, "opset": actual_opset,
    }))
    with torch.no_grad():
        gap = float(np.abs(model(x).numpy() - values[0]).max())
    scale = float(np.abs(values[0]).max())  # random weights: logits from 1e-14 to 1e12
    note = "" if actual_opset == opset else f" (asked for opset {opset}, got {actual_opset})"
    print(f"{name}: {nodes} nodes, {len(manifest)} outputs recorded, {len(ops)} op types, "
          f"exported in {export_s:.1f}s, torch vs onnxruntime {gap:.2e} (max |logit| {scale:.2e}){note}", flush=True)
    return {"name": name, "nodes": nodes, "ops": ops, "opset": actual_opset, "export_s": export_s, "gap": gap, "scale": scale}


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("out", metavar="OUT_DIR", type=Path)
    p.add_argument("names", metavar="NAME", nargs="*", help=f"models (default all): {', '.join(MODELS)}")
    p.add_argument("--exporter", choices=["torchscript", "dynamo"], default=DEFAULT_EXPORTER)
    p.add_argument("--opset", type=int, default=DEFAULT_OPSET)
    a = p.parse_intermixed_args()
    unknown = [n for n in a.names if n not in MODELS]
    if unknown:
        p.error(f"unknown model(s) {', '.join(unknown)}; known: {', '.join(MODELS)}")
    a.out.mkdir(parents=True, exist_ok=True)
    failed = []
    for n in a.names or list(MODELS):
        make, size = MODELS[n]
        name = file_name(n, a.exporter, a.opset)
        try:
            torch.manual_seed(0)
            model = make()
            export(name, model, size, a.out, a.exporter, a.opset)
        except Exception as e:  # report and go on to the next model
            lines = [line for line in str(e).strip().splitlines() if line.strip()]
            print(f"{name}: FAILED ({type(e).__name__}: {lines[0] if lines else ''})", flush=True)
            traceback.print_exc(file=sys.stderr)
            failed.append(name)
    if failed:
        print(f"{len(failed)} failed: {' '.join(failed)}")
        sys.exit(1)


if __name__ == "__main__":
    main()
