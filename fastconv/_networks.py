"""The real-network suite of ``python -m fastconv bench``: the conv and pooling layers
of well-known architectures, as shapes and arguments.

Each network is transcribed here from its definition (the papers, with the layer
choices of the common reference implementations where the paper leaves them open:
torchvision's ResNet "v1.5" puts the stride in the 3x3 of a bottleneck, and its
DeepLabV3 dilates layers 3 and 4).  Only convolutions and poolings are listed: batch
norm, activations, additions, concatenations, upsampling and fully connected layers
are not fastconv's business.  Shapes follow the network from its input, so the
tables cannot drift from one another: every layer's input is the output of the one
before it (or of the branch it hangs on).

A :class:`Layer` is one call: the op (``conv1d``, ``conv2d``, ``conv_transpose2d``,
``max_pool2d``, ``avg_pool2d``; a global average pool is ``avg_pool2d`` over the whole
plane), the input shape, the weight shape, whether there is a bias, the keyword
arguments and a count.  :func:`distinct` merges identical layers (same op, shapes and
arguments) into one with the summed count, so the bench times each of them once.

Batch sizes and inputs (chosen so the whole suite runs in a few minutes on 2 cores):

==============  ======  ===============================================================
network         batch   input
==============  ======  ===============================================================
ResNet-18       4       224 x 224 RGB
ResNet-50       4       224 x 224 RGB
ResNeXt-50      4       224 x 224 RGB (32x4d: grouped 3x3, groups 32)
MobileNetV2     4       224 x 224 RGB (depthwise 3x3 with groups = channels)
VGG-16          2       224 x 224 RGB (batch 2: its convs alone are 31 GFLOP per image)
DeepLabV3       2       224 x 224 RGB, ResNet-50 backbone at output stride 8 (28 x 28)
U-Net           1       256 x 256, one channel, 64..1024 channels, padded 3x3 convs
WaveNet         2       16000 samples, 3 stacks of dilations 1..512, causal kernel 2
DiffWave        2       64 mel frames (16384 samples), 30 layers, dilation cycle 10
wav2vec2        4       16000 samples (1 s at 16 kHz), the 7-layer feature encoder
tiny            2       small layers of every kind (for the tests)
==============  ======  ===============================================================
"""
from dataclasses import dataclass
import math


@dataclass(frozen=True)
class Layer:
    """One conv or pooling call of a network (``count`` times in it)."""

    name: str
    op: str
    x: tuple
    w: tuple = None       # conv: (O, C / groups, *k); conv_transpose: (C, O / groups, *k)
    bias: bool = False
    args: tuple = ()      # keyword arguments as (name, value) pairs
    count: int = 1

    @property
    def kwargs(self):
        return dict(self.args)

    @property
    def key(self):
        """What makes two layers the same call (the name and count do not)."""
        return (self.op, self.x, self.w, self.bias, self.args)

    @property
    def nd(self):
        return len(self.x) - 2

    @property
    def is_conv(self):
        return self.op.startswith("conv")

    @property
    def has_backward(self):
        """Every layer's backward is timed (the transposed convolution's since
        conv_transpose2d_backward)."""
        return True


def _tup(v, nd):
    return tuple(v) if isinstance(v, (tuple, list)) else (int(v),) * nd


def out_shape(layer):
    """The output shape of ``layer`` (PyTorch's rules, floor mode)."""
    nd = layer.nd
    kw = layer.kwargs
    N, C, *sp = layer.x
    s = _tup(kw.get("stride", 1), nd)
    p = _tup(kw.get("padding", 0), nd)
    d = _tup(kw.get("dilation", 1), nd)
    if layer.op == "conv_transpose2d":
        op = _tup(kw.get("output_padding", 0), nd)
        k = layer.w[2:]
        out = [(n - 1) * si - 2 * pi + di * (ki - 1) + opi + 1
               for n, si, pi, di, ki, opi in zip(sp, s, p, d, k, op)]
        return (N, layer.w[1] * kw.get("groups", 1), *out)
    if layer.is_conv:
        k, O = layer.w[2:], layer.w[0]
    else:
        k, O = _tup(kw["kernel_size"], nd), C
        s = _tup(kw.get("stride", kw["kernel_size"]), nd)
    out = [(n + 2 * pi - di * (ki - 1) - 1) // si + 1 for n, si, pi, di, ki in zip(sp, s, p, d, k)]
    return (N, O, *out)


def flops(layer):
    """Floating-point operations of the layer's forward pass (2 per multiply-add; 0 for a
    pooling).  Each of grad_input and grad_weight does as many."""
    if layer.op == "conv_transpose2d":
        C, Og, *k = layer.w
        return 2 * math.prod(layer.x) * Og * math.prod(k)
    if layer.is_conv:
        O, Cg, *k = layer.w
        return 2 * math.prod(out_shape(layer)) * Cg * math.prod(k)
    return 0


def kind(layer):
    """A short class of the layer (for the per-kind summary): kernel, and what makes it
    special -- depthwise, grouped, dilated, strided, 1-D, transposed, global."""
    kw = layer.kwargs
    if not layer.is_conv:
        k = _tup(kw["kernel_size"], layer.nd)
        what = "max pool" if layer.op.startswith("max") else "avg pool"
        if tuple(k) == tuple(layer.x[2:]):
            return "global " + what
        return f"{what} {'x'.join(map(str, k))}"
    k = "x".join(map(str, layer.w[2:]))
    g = kw.get("groups", 1)
    if layer.op == "conv_transpose2d":
        return f"transposed {k}"
    parts = ["conv1d", f"k{k}"] if layer.nd == 1 else ["conv", k]
    if g > 1:
        parts.append("depthwise" if g == layer.x[1] and layer.w[1] == 1 else "grouped")
    if max(_tup(kw.get("dilation", 1), layer.nd)) > 1:
        parts.append("dilated")
    if max(_tup(kw.get("stride", 1), layer.nd)) > 1:
        parts.append("strided")
    return " ".join(parts)


def describe(layer):
    """``x (4, 64, 56, 56) w (64, 64, 3, 3) stride=1 padding=1``: the call, in brief."""
    text = f"x {layer.x}" + (f" w {layer.w}" if layer.w else "") + (" +b" if layer.bias else "")
    return text + "".join(f" {k}={v}" for k, v in layer.args)


def distinct(layers):
    """Merge identical layers (same :attr:`Layer.key`), keeping the first one's name and
    summing the counts; order of first appearance."""
    merged = {}
    for layer in layers:
        if layer.key in merged:
            first = merged[layer.key]
            merged[layer.key] = Layer(first.name, first.op, first.x, first.w, first.bias,
                                      first.args, first.count + layer.count)
        else:
            merged[layer.key] = layer
    return list(merged.values())


# ------------------------------------------------------------------ builders


class _Net:
    """Collects the layers of one network; every method returns the output shape."""

    def __init__(self):
        self.layers = []

    def _add(self, layer):
        self.layers.append(layer)
        return out_shape(layer)

    def conv(self, name, x, out, k, stride=1, padding=0, dilation=1, groups=1, bias=False):
        nd = len(x) - 2
        w = (out, x[1] // groups, *_tup(k, nd))
        args = (("stride", stride), ("padding", padding), ("dilation", dilation),
                ("groups", groups))
        op = "conv1d" if nd == 1 else "conv2d"
        return self._add(Layer(name, op, tuple(x), w, bias, args))

    def conv_transpose(self, name, x, out, k, stride=1, padding=0, bias=False):
        w = (x[1], out, *_tup(k, 2))
        args = (("stride", stride), ("padding", padding))
        return self._add(Layer(name, "conv_transpose2d", tuple(x), w, bias, args))

    def max_pool(self, name, x, k, stride=None, padding=0):
        args = (("kernel_size", k), ("stride", k if stride is None else stride),
                ("padding", padding))
        return self._add(Layer(name, "max_pool2d", tuple(x), None, False, args))

    def avg_pool(self, name, x, k, stride=None, padding=0):
        args = (("kernel_size", k), ("stride", k if stride is None else stride),
                ("padding", padding))
        return self._add(Layer(name, "avg_pool2d", tuple(x), None, False, args))

    def global_avg_pool(self, name, x):
        H, W = x[2:]
        return self.avg_pool(name, x, (H, W) if H != W else H)


def _resnet_body(net, x, blocks, bottleneck, groups=1, width_per_group=64,
                 dilate=(False, False, False)):
    """ResNet's stem and four stages (torchvision's layout: stride on the 3x3 of a
    bottleneck; ``dilate[i]`` turns the stride of stage i + 2 into a dilation)."""
    x = net.conv("conv1 7x7/2", x, 64, 7, stride=2, padding=3)
    x = net.max_pool("maxpool 3x3/2", x, 3, stride=2, padding=1)
    inplanes, dilation, expansion = 64, 1, 4 if bottleneck else 1
    for i, (planes, n) in enumerate(zip((64, 128, 256, 512), blocks)):
        stride = 1 if i == 0 else 2
        previous = dilation
        if i > 0 and dilate[i - 1]:
            dilation *= stride
            stride = 1
        for b in range(n):
            s = stride if b == 0 else 1
            d = previous if b == 0 else dilation
            tag = f"layer{i + 1}.{b}"
            if bottleneck:
                width = int(planes * width_per_group / 64) * groups
                y = net.conv(f"{tag}.conv1 1x1", x, width, 1)
                y = net.conv(f"{tag}.conv2 3x3" + (f"/{s}" if s > 1 else "")
                             + (f" d{d}" if d > 1 else ""), y, width, 3, stride=s, padding=d,
                             dilation=d, groups=groups)
                y = net.conv(f"{tag}.conv3 1x1", y, planes * expansion, 1)
            else:
                y = net.conv(f"{tag}.conv1 3x3" + (f"/{s}" if s > 1 else ""), x, planes, 3,
                             stride=s, padding=1)
                y = net.conv(f"{tag}.conv2 3x3", y, planes, 3, padding=1)
            if b == 0 and (s != 1 or inplanes != planes * expansion):
                net.conv(f"{tag}.downsample 1x1" + (f"/{s}" if s > 1 else ""), x,
                         planes * expansion, 1, stride=s)
            x = y
            inplanes = planes * expansion
    return x


def resnet18(batch=4, size=224):
    net = _Net()
    x = _resnet_body(net, (batch, 3, size, size), (2, 2, 2, 2), bottleneck=False)
    net.global_avg_pool("avgpool (global)", x)
    return net.layers


def resnet50(batch=4, size=224):
    net = _Net()
    x = _resnet_body(net, (batch, 3, size, size), (3, 4, 6, 3), bottleneck=True)
    net.global_avg_pool("avgpool (global)", x)
    return net.layers


def resnext50_32x4d(batch=4, size=224):
    net = _Net()
    x = _resnet_body(net, (batch, 3, size, size), (3, 4, 6, 3), bottleneck=True, groups=32,
                     width_per_group=4)
    net.global_avg_pool("avgpool (global)", x)
    return net.layers


def deeplabv3(batch=2, size=224, classes=21):
    """ResNet-50 at output stride 8 (layers 3 and 4 dilated 2 and 4) and the ASPP head:
    1x1, three 3x3 with dilation 12 / 24 / 36, image pooling (global average pool and
    1x1), the 1x1 projection of the five branches, then a 3x3 and the 1x1 classifier."""
    net = _Net()
    x = _resnet_body(net, (batch, 3, size, size), (3, 4, 6, 3), bottleneck=True,
                     dilate=(False, True, True))
    net.conv("aspp.0 1x1", x, 256, 1)
    for rate in (12, 24, 36):
        net.conv(f"aspp 3x3 d{rate}", x, 256, 3, padding=rate, dilation=rate)
    pooled = net.global_avg_pool("aspp.pool avgpool (global)", x)
    net.conv("aspp.pool 1x1", pooled, 256, 1)
    y = net.conv("aspp.project 1x1", (x[0], 5 * 256, *x[2:]), 256, 1)
    y = net.conv("head 3x3", y, 256, 3, padding=1)
    net.conv("classifier 1x1", y, classes, 1, bias=True)
    return net.layers


def mobilenet_v2(batch=4, size=224):
    net = _Net()
    x = net.conv("stem 3x3/2", (batch, 3, size, size), 32, 3, stride=2, padding=1)
    cfg = [(1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1),
           (6, 160, 3, 2), (6, 320, 1, 1)]
    block = 0
    for t, c, n, s in cfg:
        for i in range(n):
            stride = s if i == 0 else 1
            hidden = x[1] * t
            tag = f"block{block}"
            y = x
            if t != 1:
                y = net.conv(f"{tag}.expand 1x1", y, hidden, 1)
            y = net.conv(f"{tag}.dw 3x3" + (f"/{stride}" if stride > 1 else ""), y, hidden, 3,
                         stride=stride, padding=1, groups=hidden)
            x = net.conv(f"{tag}.project 1x1", y, c, 1)
            block += 1
    x = net.conv("last 1x1", x, 1280, 1)
    net.global_avg_pool("avgpool (global)", x)
    return net.layers


def vgg16(batch=2, size=224):
    net = _Net()
    x = (batch, 3, size, size)
    cfg = [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M",
           512, 512, 512, "M"]
    stage, i = 1, 1
    for v in cfg:
        if v == "M":
            x = net.max_pool(f"pool{stage} 2x2/2", x, 2)
            stage, i = stage + 1, 1
        else:
            x = net.conv(f"conv{stage}_{i} 3x3", x, v, 3, padding=1, bias=True)
            i += 1
    return net.layers


def unet(batch=1, size=256, in_channels=1, classes=2):
    """Ronneberger et al.'s U-Net with padded 3x3 convs (so skip shapes match without
    cropping): 64..1024 channels, 2x2/2 max pools down, 2x2/2 transposed convs up."""
    net = _Net()
    x = (batch, in_channels, size, size)
    skips = []
    widths = (64, 128, 256, 512, 1024)
    for level, c in enumerate(widths):
        if level:
            x = net.max_pool(f"down{level} pool 2x2/2", x, 2)
        x = net.conv(f"enc{level}.conv1 3x3", x, c, 3, padding=1, bias=True)
        x = net.conv(f"enc{level}.conv2 3x3", x, c, 3, padding=1, bias=True)
        skips.append(x)
    for level in range(len(widths) - 2, -1, -1):
        c = widths[level]
        x = net.conv_transpose(f"up{level} 2x2/2", x, c, 2, stride=2, bias=True)
        x = (x[0], 2 * c, *x[2:])   # concatenated with the skip
        x = net.conv(f"dec{level}.conv1 3x3", x, c, 3, padding=1, bias=True)
        x = net.conv(f"dec{level}.conv2 3x3", x, c, 3, padding=1, bias=True)
    net.conv("out 1x1", x, classes, 1, bias=True)
    return net.layers


def wavenet(batch=2, length=16000, stacks=3, layers_per_stack=10, residual=64, skip=256,
            classes=256):
    """van den Oord et al.'s WaveNet: a causal input conv, then per layer a dilated causal
    conv (kernel 2, dilation 2**i, filter and gate as one conv of 2 x residual outputs)
    and the 1x1 residual and skip convs; two 1x1 convs at the end.  A causal conv sees
    its input padded on the left by (k - 1) * dilation: that padded length is its input
    here, with padding 0."""
    net = _Net()
    x = net.conv("causal input k2", (batch, classes, length + 1), residual, 2, bias=True)
    for s in range(stacks):
        for i in range(layers_per_stack):
            d = 2 ** i
            g = net.conv(f"dilated k2 d{d}", (batch, residual, length + d), 2 * residual, 2,
                         dilation=d, bias=True)
            gated = (g[0], residual, g[2])
            net.conv("residual 1x1", gated, residual, 1, bias=True)
            net.conv("skip 1x1", gated, skip, 1, bias=True)
    y = net.conv("post1 1x1", (batch, skip, length), skip, 1, bias=True)
    net.conv("post2 1x1", y, classes, 1, bias=True)
    return net.layers


def diffwave(batch=2, frames=64, residual=64, layers=30, cycle=10, mels=80):
    """Kong et al.'s DiffWave (the base model): the spectrogram upsampler (two transposed
    2-D convs, 16x each in time), the input projection, then per layer a dilated conv
    (kernel 3, dilation 2**(i % cycle), 2 x residual outputs), the conditioner's and the
    output's 1x1 projections; the skip and output projections at the end."""
    net = _Net()
    m = (batch, 1, mels, frames)
    for i in range(2):
        m = net.conv_transpose(f"upsampler.{i} 3x32/(1,16)", m, 1, (3, 32), stride=(1, 16),
                               padding=(1, 8), bias=True)
    length = m[3]
    x = net.conv("input projection 1x1", (batch, 1, length), residual, 1, bias=True)
    for i in range(layers):
        d = 2 ** (i % cycle)
        net.conv(f"dilated k3 d{d}", x, 2 * residual, 3, padding=d, dilation=d, bias=True)
        net.conv("conditioner 1x1", (batch, mels, length), 2 * residual, 1, bias=True)
        net.conv("output 1x1", x, 2 * residual, 1, bias=True)
    y = net.conv("skip projection 1x1", x, residual, 1, bias=True)
    net.conv("output projection 1x1", y, 1, 1, bias=True)
    return net.layers


def wav2vec2(batch=4, samples=16000):
    """wav2vec 2.0's feature encoder: seven strided 1-D convs of 512 channels, kernels
    10, 3, 3, 3, 3, 2, 2 and strides 5, 2, 2, 2, 2, 2, 2, no bias."""
    net = _Net()
    x = (batch, 1, samples)
    for i, (k, s) in enumerate(zip((10, 3, 3, 3, 3, 2, 2), (5, 2, 2, 2, 2, 2, 2))):
        x = net.conv(f"conv{i} k{k}/{s}", x, 512, k, stride=s)
    return net.layers


def tiny(batch=2):
    """Small layers of every op and kind in the suite (quick enough for the tests)."""
    net = _Net()
    x = net.conv("conv 3x3", (batch, 3, 16, 16), 8, 3, padding=1, bias=True)
    x = net.conv("grouped 3x3", x, 8, 3, padding=1, groups=4)
    x = net.conv("depthwise 3x3/2", x, 8, 3, stride=2, padding=1, groups=8)
    x = net.conv("dilated 3x3 d2", x, 8, 3, padding=2, dilation=2)
    net.conv("dilated 3x3 d2", x, 8, 3, padding=2, dilation=2)   # the same call again
    p = net.max_pool("max 2x2/2", x, 2)
    net.global_avg_pool("avgpool (global)", p)
    net.avg_pool("avg 3x3/1", x, 3, stride=1, padding=1)
    net.conv_transpose("up 2x2/2", p, 4, 2, stride=2, bias=True)
    y = net.conv("conv1d k2 d4", (batch, 4, 68), 8, 2, dilation=4, bias=True)
    net.conv("conv1d k3/2", y, 8, 3, stride=2)
    return net.layers


NETWORKS = {
    "ResNet-18": resnet18,
    "ResNet-50": resnet50,
    "ResNeXt-50": resnext50_32x4d,
    "MobileNetV2": mobilenet_v2,
    "VGG-16": vgg16,
    "DeepLabV3": deeplabv3,
    "U-Net": unet,
    "WaveNet": wavenet,
    "DiffWave": diffwave,
    "wav2vec2": wav2vec2,
}
EXTRA = {"tiny": tiny}            # not in "all": for the tests
QUICK = ("ResNet-18", "wav2vec2")


def _norm(name):
    return "".join(ch for ch in name.lower() if ch.isalnum())


def select(spec):
    """Network names from ``--networks``: ``all``, ``quick``, ``none`` or a comma-separated
    list of names (case, dashes and spaces ignored: ``resnet50`` is ``ResNet-50``)."""
    known = {**NETWORKS, **EXTRA}
    by_norm = {_norm(n): n for n in known}
    names = []
    for part in (p.strip() for p in spec.split(",")):
        if not part:
            continue
        low = part.lower()
        if low == "all":
            names += list(NETWORKS)
        elif low == "quick":
            names += list(QUICK)
        elif low == "none":
            continue
        elif _norm(part) in by_norm:
            names.append(by_norm[_norm(part)])
        else:
            raise ValueError(f"unknown network {part!r}: choose from all, quick, none, "
                             + ", ".join(known))
    return list(dict.fromkeys(names))


def layers(name):
    """The layers of network ``name`` (one entry per call, in network order)."""
    return {**NETWORKS, **EXTRA}[name]()
