"""The digits demo (``python -m fastconv demo``, fastconv.examples.digits).

The network's gradient is checked on random data and needs only NumPy; the tests that
load the digits need scikit-learn and are skipped without it.
"""
import os
import re
import subprocess
import sys

import numpy as np
import pytest

import fastconv
from fastconv.__main__ import main
from fastconv.examples import digits


def _loss(net, x, y):
    return digits.softmax_cross_entropy(net.forward(x), y)[0]


def test_network_gradient_matches_central_differences():
    """Every parameter's gradient and the input's, in float64, against (L(+h) - L(-h)) / 2h."""
    rng = np.random.default_rng(7)
    net = digits.DigitsCNN(channels=(4, 6), seed=3, dtype=np.float64)   # the demo's layers,
    # narrower so that every entry can be checked quickly
    x = rng.standard_normal((2, 1, 8, 8))
    y = np.array([3, 8])
    _, grad_logits = digits.softmax_cross_entropy(net.forward(x), y)
    grad_x = net.backward(grad_logits)
    checks = [("input", x, grad_x)] + [(name, p, g.copy()) for name, p, g in net.parameters()]
    assert len(checks) == 1 + 6          # the input, 2 convs and the dense layer (W, b)
    h = 1e-6
    for name, array, analytic in checks:
        assert analytic.shape == array.shape, name
        numeric = np.empty_like(array)
        for i in np.ndindex(array.shape):
            keep = array[i]
            array[i] = keep + h
            up = _loss(net, x, y)
            array[i] = keep - h
            down = _loss(net, x, y)
            array[i] = keep
            numeric[i] = (up - down) / (2 * h)
        scale = np.abs(numeric).max()
        assert scale > 1e-6, f"{name}: no gradient at all, the check would be empty"
        np.testing.assert_allclose(analytic, numeric, rtol=1e-5, atol=1e-7 * scale,
                                   err_msg=f"gradient of {name}")


def test_adam_moves_against_the_gradient():
    p = np.array([1.0, -2.0, 0.5])
    g = np.array([0.3, -0.1, 0.0])
    opt = digits.Adam(lr=0.1)
    opt.step([("p", p, g)])
    # first Adam step: -lr * sign(g) (up to eps), nothing where the gradient is 0
    np.testing.assert_allclose(p, [0.9, -1.9, 0.5], atol=1e-6)


def test_random_shift_moves_each_image_by_at_most_one_pixel():
    rng = np.random.default_rng(0)
    x = np.zeros((64, 1, 8, 8), np.float32)
    x[:, 0, 3, 4] = 1.0                                  # one lit pixel, away from the border
    out = digits.random_shift(x, rng)
    assert out.shape == x.shape and out.dtype == x.dtype
    pos = np.array([np.argwhere(img[0])[0] for img in out])
    assert (out.reshape(64, -1).sum(axis=1) == 1).all()  # nothing lost, nothing added
    assert np.abs(pos - [3, 4]).max() == 1
    assert len({tuple(p) for p in pos}) == 9             # all nine offsets occur


def test_split_is_stratified_and_fixed():
    pytest.importorskip("sklearn")
    x_train, x_test, y_train, y_test = digits.load_data()
    assert x_train.shape == (1437, 1, 8, 8) and x_test.shape == (360, 1, 8, 8)
    assert x_train.dtype == np.float32 and 0 <= x_train.min() and x_train.max() <= 1
    per_class = np.bincount(np.concatenate([y_train, y_test]))
    assert np.abs(np.bincount(y_test) - digits.TEST_SIZE * per_class).max() <= 1
    again = digits.load_data()
    assert np.array_equal(again[1], x_test) and np.array_equal(again[3], y_test)


def test_short_training_lowers_the_loss():
    pytest.importorskip("sklearn")
    x_train, x_test, y_train, y_test = digits.load_data(subset=300)
    net = digits.DigitsCNN(seed=0)
    before = _loss(net, x_train, y_train)
    history = digits.train(net, x_train, y_train, epochs=5, batch_size=32,
                           optimizer=digits.Adam(0.01), seed=0)
    after = _loss(net, x_train, y_train)
    assert len(history["epoch_loss"]) == 5 and len(history["batch_loss"]) == 5 * 8
    assert history["epoch_loss"][-1] < 0.7 * history["epoch_loss"][0], history["epoch_loss"]
    assert after < 0.6 * before, (before, after)
    assert (net.predict(x_test) == y_test).mean() > 0.4   # chance is 0.1


def test_demo_command_end_to_end(tmp_path):
    pytest.importorskip("sklearn")
    pytest.importorskip("matplotlib")
    pytest.importorskip("tqdm")
    pkg_parent = os.path.dirname(os.path.dirname(os.path.abspath(fastconv.__file__)))
    env = dict(os.environ)
    env["PYTHONPATH"] = pkg_parent + os.pathsep + env.get("PYTHONPATH", "")
    proc = subprocess.run([sys.executable, "-m", "fastconv", "demo", "--epochs", "5",
                           "--subset", "300"], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert re.fullmatch(r"test accuracy: [01]\.\d{3}", lines[-1]), lines[-1]
    assert float(lines[-1].split()[-1]) > 0.25   # chance is 0.1
    assert "epoch  5/5  loss" in proc.stdout
    figure = tmp_path / "fastconv-demo.png"
    assert str(figure) in proc.stdout
    assert figure.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("hidden, options, named", [
    (["sklearn"], ["--no-plot", "--quiet"], ["scikit-learn"]),
    (["matplotlib", "tqdm"], [], ["matplotlib", "tqdm"]),
])
def test_missing_dependency_gives_a_hint_and_exit_code_2(monkeypatch, capsys, hidden,
                                                         options, named):
    for module in hidden:
        monkeypatch.setitem(sys.modules, module, None)   # makes `import module` fail
    assert main(["demo", *options]) == 2
    out, err = capsys.readouterr()
    assert "pip install 'fastconv[demo]'" in err and "pip install '.[demo]'" in err
    for name in named:
        assert name in err
    assert "Traceback" not in out + err and "test accuracy" not in out


def test_options_skip_the_packages_they_do_not_need(monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    monkeypatch.setitem(sys.modules, "tqdm", None)
    assert "matplotlib" not in digits.missing_packages(plot=False, progress=False)
    assert "tqdm" not in digits.missing_packages(plot=False, progress=False)
    assert digits.missing_packages(plot=True, progress=True)[-2:] == ["matplotlib", "tqdm"]


def test_missing_output_folder_is_reported_before_training(tmp_path, capsys):
    pytest.importorskip("sklearn")
    pytest.importorskip("matplotlib")
    pytest.importorskip("tqdm")
    assert main(["demo", "--output", str(tmp_path / "no" / "such.png")]) == 2
    out, err = capsys.readouterr()
    assert "does not exist" in err and "epoch" not in out
