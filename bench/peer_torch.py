"""PyTorch beside `convscope bench` on the same machine and device: EfficientNet-Lite0 at 224 px,
batch 1 (forward; forward and backward to the input; Grad-CAM at the last conv), and a
patterns step as Lucent takes it (16 images of 128 px resized to 224, the mean of one channel
each at blocks.5, backward to the pixels, Adam). Random weights: the figures are times only.

    python3 bench/peer_torch.py [cuda|cpu] [runs]   -> one JSON object on stdout
"""

import json
import sys
import time

import torch
from torch import nn

device = sys.argv[1] if len(sys.argv) > 1 else ("cuda" if torch.cuda.is_available() else "cpu")
runs = int(sys.argv[2]) if len(sys.argv) > 2 else 50


def conv_bn(cin, cout, k, stride=1, groups=1, act=True):
    layers = [nn.Conv2d(cin, cout, k, stride, k // 2, groups=groups, bias=False), nn.BatchNorm2d(cout)]
    return nn.Sequential(*layers, nn.ReLU6()) if act else nn.Sequential(*layers)


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


pixels = torch.rand(16, 3, 128, 128, device=device, requires_grad=True)
adam = torch.optim.Adam([pixels], lr=0.05)


def pattern_step():
    adam.zero_grad()
    img = nn.functional.interpolate(torch.sigmoid(pixels), size=224, mode="bilinear", align_corners=False)
    act = model.features(img, upto=5)
    loss = -act[torch.arange(16), torch.arange(16)].mean()
    loss.backward()
    adam.step()
    pixels.detach()[0, 0, 0, 0].item()


out = {
    "peer": f"PyTorch {torch.__version__} on {torch.cuda.get_device_name() if device == 'cuda' else 'the CPU'}",
    "device": device,
    "params": params,
    "forward_ms": timed(forward, runs),
    "forward_backward_ms": timed(forward_backward, runs),
    "gradcam_ms": timed(grad_cam, runs),
    "patterns_step_16_ms": timed(pattern_step, max(5, runs // 5)),
}
print(json.dumps(out))
