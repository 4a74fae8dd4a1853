"""A small CNN trained on scikit-learn's handwritten digits, with fastconv and NumPy only.

This is the code behind ``python -m fastconv demo``.  It is written the way a user who
embeds fastconv in their own NumPy code would write it: fastconv does the convolutions
and the pooling, forward and backward; NumPy does the ReLU, the dense layer, the loss
and the optimiser.  There is no autograd: every layer keeps what its forward pass needs
and its ``backward`` turns the gradient of its output into the gradient of its input.

The network (for 8x8 grey-level images, 10 classes)::

    input                                         (N, 1, 8, 8)
    conv 5x5, 1 -> 16, padding 'same'  -> ReLU -> (N, 16, 8, 8)
    max pool 2x2                               -> (N, 16, 4, 4)
    conv 3x3, 16 -> 32, padding 'same' -> ReLU -> (N, 32, 4, 4)
    max pool 2x2                               -> (N, 32, 2, 2)
    flatten -> dense 128 -> 10                 -> (N, 10) logits
    softmax cross-entropy

Training uses Adam on mini-batches of 32 with a cosine learning-rate schedule, and moves
every training image by up to one pixel in each direction (data augmentation).  A seed fixes
the initial weights, the order of the batches and the shifts; fastconv's results do not
depend on the thread count, so a run is repeatable.

The network code needs only NumPy and fastconv.  Loading the data (scikit-learn), the
progress bar (tqdm) and the figure (matplotlib) are the optional ``demo`` extra:
``pip install 'fastconv[demo]'``.
"""

import importlib
import math
import os
import time

import numpy as np

import fastconv

#: Defaults of :func:`run` (and of ``python -m fastconv demo``).
DEFAULTS = {
    "epochs": 30,
    "batch_size": 32,
    "lr": 0.01,
    "seed": 0,
    "threads": 1,
    "output": "fastconv-demo.png",
}

#: The held-out split: the fraction of the images kept for testing, and the split's seed.
#: The split is the same whatever ``seed`` is, so runs with different seeds are compared
#: on the same test images.
TEST_SIZE = 0.2
SPLIT_SEED = 0

INSTALL_HINT = "pip install 'fastconv[demo]'  (from a source checkout: pip install '.[demo]')"


# --------------------------------------------------------------------------------------------
# layers: forward(x) keeps what backward needs; backward(grad_out) returns grad_in and
# stores the parameters' gradients in self.grads (same keys as self.params)
# --------------------------------------------------------------------------------------------

class Conv2d:
    """2-D convolution (cross-correlation), weight (O, C, k, k), He-initialised."""

    def __init__(self, in_channels, out_channels, kernel_size, padding="same", *, rng,
                 dtype=np.float32, num_threads=None):
        fan_in = in_channels * kernel_size * kernel_size
        w = rng.standard_normal((out_channels, in_channels, kernel_size, kernel_size))
        self.params = {"weight": (w * math.sqrt(2.0 / fan_in)).astype(dtype),
                       "bias": np.zeros(out_channels, dtype)}
        self.grads = {}
        self.padding = padding
        self.num_threads = num_threads

    def forward(self, x):
        self.x = x
        return fastconv.conv2d(x, self.params["weight"], self.params["bias"],
                               padding=self.padding, num_threads=self.num_threads)

    def backward(self, grad_out):
        grad_in, self.grads["weight"], self.grads["bias"] = fastconv.conv2d_backward(
            grad_out, self.x, self.params["weight"], padding=self.padding,
            num_threads=self.num_threads)
        return grad_in


class ReLU:
    def forward(self, x):
        self.mask = x > 0
        return np.maximum(x, 0)

    def backward(self, grad_out):
        return grad_out * self.mask


class MaxPool2d:
    """Max pooling; the argmax indices from the forward pass route the gradient back."""

    def __init__(self, kernel_size, num_threads=None):
        self.kernel_size = kernel_size
        self.num_threads = num_threads

    def forward(self, x):
        out, self.indices = fastconv.max_pool2d(x, self.kernel_size, return_indices=True,
                                                num_threads=self.num_threads)
        self.input_shape = x.shape
        return out

    def backward(self, grad_out):
        return fastconv.max_pool2d_backward(grad_out, self.indices, self.input_shape,
                                            num_threads=self.num_threads)


class Flatten:
    def forward(self, x):
        self.input_shape = x.shape
        return x.reshape(len(x), -1)

    def backward(self, grad_out):
        return grad_out.reshape(self.input_shape)


class Linear:
    """Dense layer ``x @ weight.T + bias``, weight (out, in) as in torch.nn.Linear."""

    def __init__(self, in_features, out_features, *, rng, dtype=np.float32):
        w = rng.standard_normal((out_features, in_features)) * math.sqrt(1.0 / in_features)
        self.params = {"weight": w.astype(dtype), "bias": np.zeros(out_features, dtype)}
        self.grads = {}

    def forward(self, x):
        self.x = x
        return x @ self.params["weight"].T + self.params["bias"]

    def backward(self, grad_out):
        self.grads["weight"] = grad_out.T @ self.x
        self.grads["bias"] = grad_out.sum(axis=0)
        return grad_out @ self.params["weight"]


def softmax_cross_entropy(logits, labels):
    """Mean cross-entropy of ``softmax(logits)`` against integer labels, and its gradient."""
    n = len(labels)
    shifted = logits - logits.max(axis=1, keepdims=True)
    log_prob = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    loss = -log_prob[np.arange(n), labels].mean()
    grad = np.exp(log_prob)
    grad[np.arange(n), labels] -= 1
    return float(loss), grad / n


# --------------------------------------------------------------------------------------------
# the network and the optimiser
# --------------------------------------------------------------------------------------------

class DigitsCNN:
    """conv5x5 -> ReLU -> pool -> conv3x3 -> ReLU -> pool -> dense, for (N, 1, 8, 8) input.

    ``num_threads`` is passed to every fastconv call (None: fastconv's default).
    """

    def __init__(self, channels=(16, 32), n_classes=10, *, seed=0, dtype=np.float32,
                 num_threads=None):
        rng = np.random.default_rng(seed)
        self.channels = c1, c2 = channels
        t = num_threads
        self.layers = [
            Conv2d(1, c1, 5, rng=rng, dtype=dtype, num_threads=t), ReLU(),
            MaxPool2d(2, num_threads=t),                                   # -> (N, c1, 4, 4)
            Conv2d(c1, c2, 3, rng=rng, dtype=dtype, num_threads=t), ReLU(),
            MaxPool2d(2, num_threads=t),                                   # -> (N, c2, 2, 2)
            Flatten(), Linear(c2 * 2 * 2, n_classes, rng=rng, dtype=dtype),
        ]

    def forward(self, x):
        for layer in self.layers:
            x = layer.forward(x)
        return x

    def backward(self, grad_logits):
        """Fill every layer's ``grads``; returns the gradient with respect to the input."""
        grad = grad_logits
        for layer in reversed(self.layers):
            grad = layer.backward(grad)
        return grad

    def parameters(self):
        """``(name, array, gradient)`` for every parameter; the gradient of the last backward."""
        return [(f"{i}.{key}", layer.params[key], layer.grads.get(key))
                for i, layer in enumerate(self.layers) if hasattr(layer, "params")
                for key in layer.params]

    def n_parameters(self):
        return sum(p.size for _, p, _ in self.parameters())

    def first_layer_filters(self):
        """The first convolution's weight, (c1, 1, 5, 5)."""
        return self.layers[0].params["weight"]

    def predict(self, x, batch_size=256):
        return np.concatenate([self.forward(x[i:i + batch_size]).argmax(axis=1)
                               for i in range(0, len(x), batch_size)])


class Adam:
    """Adam (Kingma & Ba, 2015); updates the parameters in place.  Set ``lr`` between
    steps for a schedule."""

    def __init__(self, lr=1e-3, betas=(0.9, 0.999), eps=1e-8):
        self.lr, self.betas, self.eps = lr, betas, eps
        self.t = 0
        self.moments = {}

    def step(self, parameters):
        self.t += 1
        b1, b2 = self.betas
        step = self.lr * math.sqrt(1 - b2 ** self.t) / (1 - b1 ** self.t)
        for name, param, grad in parameters:
            m, v = self.moments.setdefault(name, (np.zeros_like(param), np.zeros_like(param)))
            m *= b1
            m += (1 - b1) * grad
            v *= b2
            v += (1 - b2) * grad * grad
            param -= step * m / (np.sqrt(v) + self.eps)


# --------------------------------------------------------------------------------------------
# data, training, figure
# --------------------------------------------------------------------------------------------

def missing_packages(plot=True, progress=True):
    """pip names of the optional packages that cannot be imported (for these options)."""
    needed = [("sklearn", "scikit-learn")]
    if plot:
        needed.append(("matplotlib", "matplotlib"))
    if progress:
        needed.append(("tqdm", "tqdm"))
    missing = []
    for module, pip_name in needed:
        try:
            importlib.import_module(module)
        except ImportError:
            missing.append(pip_name)
    return missing


def load_data(subset=None, dtype=np.float32):
    """scikit-learn's digits as ``(x_train, x_test, y_train, y_test)``, x in [0, 1].

    A stratified split keeps TEST_SIZE of the images for testing.  ``subset`` keeps only a
    stratified sample of that many images first (for quick runs).
    """
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()   # 1797 images, 8x8, grey levels 0..16; shipped with sklearn
    x = (digits.images[:, None] / 16.0).astype(dtype)
    y = digits.target
    if subset is not None and subset < len(y):
        x, _, y, _ = train_test_split(x, y, train_size=subset, stratify=y,
                                      random_state=SPLIT_SEED)
    return train_test_split(x, y, test_size=TEST_SIZE, stratify=y, random_state=SPLIT_SEED)


def random_shift(x, rng, max_shift=1):
    """Each image moved by up to ``max_shift`` pixels along each axis, zeros shifted in."""
    n, _, h, w = x.shape
    p = max_shift
    padded = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)))
    dy, dx = rng.integers(0, 2 * p + 1, size=(2, n))
    return np.stack([padded[i, :, dy[i]:dy[i] + h, dx[i]:dx[i] + w] for i in range(n)])


def train(net, x, y, *, epochs, batch_size, optimizer, seed=0, augment=True, progress=False,
          log=None):
    """Mini-batch training; returns the history (losses per batch and per epoch, times).

    The learning rate follows a cosine from ``optimizer.lr`` down to 0 over all steps.
    ``augment`` shifts every image of a batch by up to one pixel (:func:`random_shift`).
    ``seed`` fixes the batch order and the shifts.  ``progress`` shows a tqdm bar per
    epoch; ``log(text)`` (e.g. print) gets one line per epoch.
    """
    rng = np.random.default_rng(seed)
    if progress:
        from tqdm import tqdm
        log = tqdm.write if log is not None else None
    n_batches = math.ceil(len(x) / batch_size)
    total_steps, step = epochs * n_batches, 0
    base_lr = optimizer.lr
    history = {"batch_loss": [], "epoch_loss": [], "epoch_time": [], "train_accuracy": [],
               "batches_per_epoch": n_batches}
    for epoch in range(1, epochs + 1):
        start = time.perf_counter()
        order = rng.permutation(len(x))
        batches = range(n_batches)
        bar = None
        if progress:
            bar = batches = tqdm(batches, desc=f"epoch {epoch:>2}/{epochs}", unit="batch",
                                 leave=False, dynamic_ncols=True)
        losses, correct = [], 0
        for b in batches:
            idx = order[b * batch_size:(b + 1) * batch_size]
            xb = random_shift(x[idx], rng) if augment else x[idx]
            logits = net.forward(xb)
            loss, grad = softmax_cross_entropy(logits, y[idx])
            net.backward(grad)
            optimizer.lr = base_lr * 0.5 * (1 + math.cos(math.pi * step / total_steps))
            optimizer.step(net.parameters())
            step += 1
            losses.append(loss)
            correct += int((logits.argmax(axis=1) == y[idx]).sum())
            if bar is not None:
                bar.set_postfix(loss=f"{loss:.4f}", refresh=False)
        if bar is not None:
            bar.close()
        seconds = time.perf_counter() - start
        # the epoch's loss: mean over its samples (the last batch may be smaller)
        sizes = [min(batch_size, len(x) - b * batch_size) for b in range(n_batches)]
        epoch_loss = float(np.dot(losses, sizes) / len(x))
        history["batch_loss"] += losses
        history["epoch_loss"].append(epoch_loss)
        history["epoch_time"].append(seconds)
        history["train_accuracy"].append(correct / len(x))
        if log is not None:
            log(f"epoch {epoch:>2}/{epochs}  loss {epoch_loss:.4f}  "
                f"train accuracy {correct / len(x):.3f}  {seconds:.2f} s")
    optimizer.lr = base_lr   # the schedule is this call's; leave the optimiser as it came
    return history


def save_figure(path, history, net, accuracy):
    """Loss curve (left) and the learned first-layer filters (right) as a PNG."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(11, 4.8), layout="constrained")
    FigureCanvasAgg(fig)   # Agg, without touching pyplot's global backend
    fig.suptitle(f"fastconv demo: CNN on scikit-learn's digits, "
                 f"test accuracy {accuracy:.3f}")
    left, right = fig.subfigures(1, 2, width_ratios=(1.15, 1))

    ax = left.subplots()
    per_epoch = history["batches_per_epoch"]
    steps = (np.arange(len(history["batch_loss"])) + 1) / per_epoch
    ax.plot(steps, history["batch_loss"], color="tab:blue", alpha=0.3, lw=0.8,
            label="mini-batch")
    mid_epoch = np.arange(len(history["epoch_loss"])) + 0.5
    ax.plot(mid_epoch, history["epoch_loss"], "o-", color="tab:blue", ms=4, label="epoch mean")
    ax.set_yscale("log")
    ax.set_xlabel("epoch")
    ax.set_ylabel("cross-entropy loss (log scale)")
    ax.set_title("training loss")
    ax.grid(True, which="major", alpha=0.4)
    ax.grid(True, which="minor", axis="y", alpha=0.12)
    ax.legend()

    w = net.first_layer_filters()[:, 0]
    cols = math.ceil(math.sqrt(len(w)))
    rows = math.ceil(len(w) / cols)
    axes = np.atleast_1d(right.subplots(rows, cols)).ravel()
    vmax = float(np.abs(w).max())
    for i, a in enumerate(axes):
        a.set_xticks([])
        a.set_yticks([])
        if i >= len(w):
            a.set_axis_off()
            continue
        image = a.imshow(w[i], cmap="RdBu_r", vmin=-vmax, vmax=vmax)
        a.set_title(f"filter {i}", fontsize=8)
    right.colorbar(image, ax=axes.tolist(), shrink=0.7)
    k = w.shape[-1]
    right.suptitle(f"learned first-layer filters ({k}x{k} weights; red positive, "
                   f"blue negative)", fontsize=10)
    fig.savefig(path, dpi=110, format="png")


def run(epochs=DEFAULTS["epochs"], batch_size=DEFAULTS["batch_size"], lr=DEFAULTS["lr"],
        seed=DEFAULTS["seed"], threads=DEFAULTS["threads"], output=DEFAULTS["output"],
        subset=None, plot=True, quiet=False):
    """Load the digits, train, evaluate on the held-out split and save the figure.

    ``threads`` is the ``num_threads`` of every fastconv call (None: fastconv's default).
    The default is 1: a batch of 32 8x8 images is too small to gain much from more threads
    on an idle machine, and a busy machine makes threads that wait for each other at every
    call many times slower.

    Prints as it goes; the last line is ``test accuracy: 0.xxx``.  Returns a dict with
    the test accuracy, the history and the figure's path (None without a plot).
    """
    say = (lambda text: None) if quiet else print
    x_train, x_test, y_train, y_test = load_data(subset)
    # one seed, two independent streams: the initial weights and the batch order
    init_seed, order_seed = np.random.SeedSequence(seed).spawn(2)
    net = DigitsCNN(seed=init_seed, num_threads=threads)
    c1, c2 = net.channels
    say(f"fastconv {fastconv.__version__} demo: a small CNN on scikit-learn's handwritten "
        f"digits (8x8)")
    say(f"  data     : {len(x_train)} training / {len(x_test)} held-out test images "
        f"(stratified {1 - TEST_SIZE:.0%}/{TEST_SIZE:.0%} split)")
    say(f"  network  : conv5x5 1->{c1}, ReLU, pool | conv3x3 {c1}->{c2}, ReLU, pool | "
        f"dense {4 * c2}->10 ({net.n_parameters():,} parameters)")
    n_threads = fastconv.get_num_threads() if threads is None else threads
    say(f"  training : {epochs} epochs of batches of {batch_size}, Adam lr {lr:g} with cosine "
        f"decay, seed {seed}")
    say(f"             images shifted by up to 1 pixel, float32, {n_threads} fastconv thread"
        f"{'s' if n_threads != 1 else ''}")
    start = time.perf_counter()
    history = train(net, x_train, y_train, epochs=epochs, batch_size=batch_size,
                    optimizer=Adam(lr), seed=order_seed, progress=not quiet,
                    log=None if quiet else print)
    say(f"training took {time.perf_counter() - start:.1f} s")
    accuracy = float((net.predict(x_test) == y_test).mean())
    path = None
    if plot:
        path = os.path.abspath(output)
        save_figure(path, history, net, accuracy)
        print(f"saved the loss curve and the first-layer filters to {path}")
    print(f"test accuracy: {accuracy:.3f}")
    return {"accuracy": accuracy, "history": history, "figure": path, "net": net}
