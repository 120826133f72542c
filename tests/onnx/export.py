"""Export torchvision CNNs to ONNX and record onnxruntime's outputs for convscope's tests.

For each model: <out>/<name>.onnx (random weights, seed 0, eval mode, opset 17, a fixed
input size) and <out>/<name>/: input.f32 (a seeded N(0,1) input, [1, 3, H, W]), one
<k>.f32 per node output with onnxruntime's value of it on that input, and manifest.json
listing {"name", "shape", "file"} for each (the graph's output first). Values are raw
little-endian float32.

    python tests/onnx/export.py OUT_DIR

Needs torch, torchvision, onnx, onnxruntime, numpy.
"""
import sys
from pathlib import Path

import torch
import torchvision

from zoo import export  # the one writer of exports and references


class Small(torch.nn.Module):
    """A small CNN with the ops torchvision's models leave out: pads, dilation, groups,
    leaky ReLU, hard sigmoid/swish, tanh, ceil-mode and average pooling, a batch norm that
    does not follow a conv, concatenation, squeeze-excitation by a mean, constants."""

    def __init__(self):
        super().__init__()
        self.a = torch.nn.Conv2d(3, 8, 3, stride=2, padding=1)
        self.b = torch.nn.Conv2d(8, 8, 3, padding=2, dilation=2, groups=4)
        self.bn = torch.nn.BatchNorm2d(16)
        self.c = torch.nn.Conv2d(16, 16, 1)
        self.se1 = torch.nn.Conv2d(16, 4, 1)
        self.se2 = torch.nn.Conv2d(4, 16, 1)
        self.fc = torch.nn.Linear(16 * 4 * 4, 10)
        with torch.no_grad():
            self.bn.running_mean.uniform_(-0.5, 0.5)
            self.bn.running_var.uniform_(0.5, 2.0)

    def forward(self, x):
        x = (x - 0.5) / 0.25
        x = torch.nn.functional.leaky_relu(self.a(x), 0.1)
        y = torch.tanh(self.b(x))
        x = torch.cat([x, y], 1)
        x = self.bn(torch.nn.functional.hardswish(x))
        x = torch.nn.functional.pad(x, (1, 1, 1, 1))
        x = torch.nn.functional.max_pool2d(self.c(x), 3, 2, ceil_mode=True)
        s = x.mean((2, 3), keepdim=True)
        s = torch.nn.functional.hardsigmoid(self.se2(torch.relu(self.se1(s))))
        x = x * s
        x = torch.nn.functional.avg_pool2d(x, 2)
        return self.fc(torch.flatten(x, 1))


def main():
    out = Path(sys.argv[1])
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)
    export("resnet18", torchvision.models.resnet18(weights=None), 224, out)
    torch.manual_seed(0)
    export("mobilenet_v2", torchvision.models.mobilenet_v2(weights=None), 224, out)
    torch.manual_seed(0)
    export("small", Small(), 32, out)


if __name__ == "__main__":
    main()
