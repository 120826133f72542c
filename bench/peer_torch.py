"""PyTorch beside `convscope bench` on the same machine and device: EfficientNet-Lite0 at 224 px,
batch 1 (forward; forward and backward to the input; Grad-CAM at the last conv), and a
patterns step in Lucent's setting (16 images of 128 px: Fourier parameters with 1/f scaling,
colour decorrelation, sigmoid, a random pad/jitter/scale/rotate as one resampling, resized to
224, the mean of one channel each at blocks.5, backward to the parameters, Adam). Random
weights: the figures are times only. The batch norms are folded into the convolutions, as
convscope folds them at load, and TF32 is off: both sides compute in float32.

On the CPU it also times onnxruntime's forward pass on the same network (exported with
PyTorch's TorchScript exporter, opset 17), with as many threads as PyTorch: the machine's cores,
or THREADS; with ONNX_OUT it keeps that export there (the page benchmark's ONNX Runtime Web
runs it).

    python3 bench/peer_torch.py [cuda|cpu] [runs]   -> one JSON object on stdout
"""

import json
import os
import shutil
import sys
import tempfile
import time

import torch
from torch import nn

device = sys.argv[1] if len(sys.argv) > 1 else ("cuda" if torch.cuda.is_available() else "cpu")
runs = int(sys.argv[2]) if len(sys.argv) > 2 else 50


threads = int(os.environ.get("THREADS", os.cpu_count() or 1))
torch.set_num_threads(threads)
torch.backends.cudnn.allow_tf32 = False
torch.backends.cuda.matmul.allow_tf32 = False


def conv_bn(cin, cout, k, stride=1, groups=1, act=True):
    """A convolution with its batch norm folded in (a bias), and ReLU6."""
    conv = nn.Conv2d(cin, cout, k, stride, k // 2, groups=groups, bias=True)
    return nn.Sequential(conv, nn.ReLU6()) if act else conv


class Block(nn.Module):
    """Inverted residual without squeeze-excitation (EfficientNet-Lite)."""

    def __init__(self, cin, cout, k, stride, expand):
        super().__init__()
        mid = cin * expand
        self.body = nn.Sequential(
            *([conv_bn(cin, mid, 1)] if expand != 1 else []),
            conv_bn(mid, mid, k, stride, groups=mid),
            conv_bn(mid, cout, 1, act=False),
        )
        self.skip = stride == 1 and cin == cout

    def forward(self, x):
        y = self.body(x)
        return x + y if self.skip else y


class Lite0(nn.Module):
    # (expand, channels, repeats, kernel, stride) of EfficientNet-Lite0.
    STAGES = [(1, 16, 1, 3, 1), (6, 24, 2, 3, 2), (6, 40, 2, 5, 2), (6, 80, 3, 3, 2), (6, 112, 3, 5, 1), (6, 192, 4, 5, 2), (6, 320, 1, 3, 1)]

    def __init__(self):
        super().__init__()
        self.stem = conv_bn(3, 32, 3, 2)
        blocks, cin = [], 32
        for expand, cout, repeats, k, stride in self.STAGES:
            for r in range(repeats):
                blocks.append(Block(cin, cout, k, stride if r == 0 else 1, expand))
                cin = cout
        self.blocks = nn.ModuleList(blocks)
        self.head = conv_bn(320, 1280, 1)
        self.fc = nn.Linear(1280, 1000)

    def features(self, x, upto=None):
        x = self.stem(x)
        for i, b in enumerate(self.blocks):
            x = b(x)
            if i == upto:
                return x
        return self.head(x)

    def forward(self, x):
        return self.fc(self.features(x).mean((2, 3)))


def timed(f, n):
    f()
    f()
    times = []
    for _ in range(n):
        if device == "cuda":
            torch.cuda.synchronize()
        t = time.perf_counter()
        f()
        if device == "cuda":
            torch.cuda.synchronize()
        times.append((time.perf_counter() - t) * 1e3)
    times.sort()
    return times[len(times) // 2]


torch.manual_seed(0)
model = Lite0().to(device).eval()
for p in model.parameters():
    p.requires_grad_(False)
params = sum(p.numel() for p in model.parameters())
x = torch.rand(1, 3, 224, 224, device=device)


def forward():
    with torch.no_grad():
        model(x).cpu()


def forward_backward():
    xi = x.clone().requires_grad_(True)
    model(xi)[0, 1].backward()
    xi.grad.cpu()


def grad_cam():
    xi = x.clone()
    feats = model.features(xi).detach().requires_grad_(True)
    model.fc(feats.mean((2, 3)))[0, 1].backward()
    w = feats.grad.mean((2, 3), keepdim=True)
    torch.relu((w * feats).sum(1)).cpu()


SIZE = 128
fy = torch.fft.fftfreq(SIZE)[:, None]
fx = torch.fft.rfftfreq(SIZE)[None, :]
spectrum_scale = (1.0 / torch.sqrt(fx * fx + fy * fy).clamp(min=1.0 / SIZE)).to(device)
spectrum = (0.01 * torch.randn(16, 3, SIZE, SIZE // 2 + 1, 2, device=device)).requires_grad_(True)
# Lucid's ImageNet colour correlation (its square root), normalised by its largest column norm.
colour = torch.tensor([[0.26, 0.09, 0.02], [0.27, 0.00, -0.05], [0.27, -0.09, 0.03]])
colour = (colour / colour.norm(dim=0).max()).to(device)
adam = torch.optim.Adam([spectrum], lr=0.05)


def pattern_step():
    adam.zero_grad()
    planes = torch.fft.irfft2(torch.view_as_complex(spectrum) * spectrum_scale, s=(SIZE, SIZE), norm="ortho")
    img = torch.sigmoid(torch.einsum("bchw,dc->bdhw", planes, colour))
    # Pad 12, jitter, scale 0.9-1.1, rotate +-10 degrees: one affine resampling per image.
    img = nn.functional.pad(img, (12, 12, 12, 12), value=0.5)
    angle = (torch.rand(16, device=device) - 0.5) * (20 * 3.14159 / 180)
    scale = 0.9 + 0.2 * torch.rand(16, device=device)
    shift = (torch.rand(16, 2, device=device) - 0.5) * (16 / img.shape[-1])
    theta = torch.stack([torch.stack([scale * torch.cos(angle), -scale * torch.sin(angle), shift[:, 0]], 1),
                         torch.stack([scale * torch.sin(angle), scale * torch.cos(angle), shift[:, 1]], 1)], 1)
    img = nn.functional.grid_sample(img, nn.functional.affine_grid(theta, list(img.shape), align_corners=False), align_corners=False)
    img = nn.functional.interpolate(img, size=224, mode="bilinear", align_corners=False)
    act = model.features(img, upto=5)
    loss = -act[torch.arange(16), torch.arange(16)].mean()
    loss.backward()
    adam.step()
    spectrum.detach()[0, 0, 0, 0, 0].item()


def onnxruntime_forward_ms():
    """onnxruntime's forward pass of the same network, `threads` threads, on the CPU."""
    import onnxruntime as ort

    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "lite0.onnx")
        torch.onnx.export(model, x, path, opset_version=17, dynamo=False)
        if os.environ.get("ONNX_OUT"):
            shutil.copyfile(path, os.environ["ONNX_OUT"])
        so = ort.SessionOptions()
        so.intra_op_num_threads = threads
        so.inter_op_num_threads = 1
        session = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
        feed = {session.get_inputs()[0].name: x.cpu().numpy()}
        return timed(lambda: session.run(None, feed), runs), ort.__version__


out = {
    "peer": f"PyTorch {torch.__version__} on {torch.cuda.get_device_name() if device == 'cuda' else 'the CPU'}",
    "device": device,
    "params": params,
    "forward_ms": timed(forward, runs),
    "forward_backward_ms": timed(forward_backward, runs),
    "gradcam_ms": timed(grad_cam, runs),
    "patterns_step_16_ms": timed(pattern_step, max(5, runs // 5)),
}
if device == "cpu":
    out["threads"] = threads
    out["onnxruntime_forward_ms"], out["onnxruntime"] = onnxruntime_forward_ms()
print(json.dumps(out))
