"""fastconv and torch in one process: each brings its own OpenMP runtime (skipped without torch).

The release wheel vendors a renamed libgomp (``fastconv.libs/libgomp-<hash>.so``), and
torch's wheel vendors another (``torch/lib/libgomp-<hash>.so``); a build from source links the
system's.  Two GNU OpenMP runtimes in one process must not interfere: each library's
multi-threaded convolution must give the right result and run on more than one thread,
whichever library is imported first.  Each order runs in a fresh interpreter, because which
runtime is loaded first is decided once per process.

"Parallel" is observed, not just configured: each runtime creates its worker threads at its
first parallel region, so the process's thread count (``/proc/self/task``) must grow when
fastconv's convolution runs, and again when torch's does.  The two run in import order, so
each growth belongs to the library that just ran.
"""
import json
import os
import re
import subprocess
import sys
import textwrap

import pytest

from conftest import HAVE_TORCH

pytestmark = [pytest.mark.torch,
              pytest.mark.skipif(not HAVE_TORCH, reason="PyTorch is not installed"),
              pytest.mark.skipif(not sys.platform.startswith("linux"),
                                 reason="reads /proc/self (Linux)")]

CHILD = textwrap.dedent("""
    import json, os, sys
    first = sys.argv[1]
    if first == "torch":
        import torch
        import fastconv
    else:
        import fastconv
        import torch
    import numpy as np

    def n_threads():
        return len(os.listdir("/proc/self/task"))

    def cpu_ns():
        # {thread id: nanoseconds it has run}
        got = {}
        for tid in os.listdir("/proc/self/task"):
            try:
                with open(f"/proc/self/task/{tid}/schedstat") as f:
                    got[tid] = int(f.read().split()[0])
            except OSError:          # the thread ended meanwhile
                pass
        return got

    def busy_threads(run, repeat=5):
        # threads that did a real share of the work while `run` ran (OMP_WAIT_POLICY=passive:
        # an idle OpenMP worker sleeps, so it is not counted for spinning)
        before = cpu_ns()
        for _ in range(repeat):
            y = run()
        after = cpu_ns()
        delta = {t: after[t] - before.get(t, 0) for t in after}
        main = delta[str(os.getpid())]
        return y, sum(1 for d in delta.values() if d > 0.25 * main)

    def omp_runtimes():
        paths = {line.split(None, 5)[5].strip() for line in open("/proc/self/maps")
                 if len(line.split(None, 5)) == 6}
        return sorted(p for p in paths
                      if os.path.basename(p).startswith(("libgomp", "libomp", "libiomp")))

    rng = np.random.default_rng(7)
    x = rng.standard_normal((4, 16, 40, 40)).astype(np.float32)   # 4*32*40*40*16*9 MACs
    w = rng.standard_normal((32, 16, 3, 3)).astype(np.float32)
    b = rng.standard_normal(32).astype(np.float32)
    fastconv.set_num_threads(2)
    torch.set_num_threads(2)

    def run_fastconv():
        return fastconv.conv2d(x, w, b, padding=1)

    def run_torch():
        with torch.no_grad():
            return torch.nn.functional.conv2d(torch.from_numpy(x), torch.from_numpy(w),
                                              torch.from_numpy(b), padding=1).numpy()

    runs = {"fastconv": run_fastconv, "torch": run_torch}
    order = [first, "torch" if first == "fastconv" else "fastconv"]
    out = {"order": order, "baseline_threads": n_threads(), "grew": {}, "busy": {},
           "results": {}}
    for name in order + order:               # each twice, the second time after the other ran
        before = n_threads()
        y, busy = busy_threads(runs[name])
        for _ in range(3):   # (a loaded machine can stall a worker for a whole measure)
            if busy >= 2:
                break
            y, busy = busy_threads(runs[name])
        out["grew"].setdefault(name, n_threads() - before)
        out["busy"].setdefault(name, []).append(busy)
        out["results"].setdefault(name, []).append(y)
    serial = fastconv.conv2d(x, w, b, padding=1, num_threads=1)
    f1, f2 = out["results"]["fastconv"]
    t1, t2 = out["results"]["torch"]
    scale = float(np.abs(t1).max())
    out["results"] = {
        "fastconv_bitwise_serial": bool(np.array_equal(f1, serial) and np.array_equal(f2, serial)),
        "torch_repeatable": bool(np.allclose(t1, t2, rtol=0, atol=1e-5 * scale)),
        "agree": bool(np.allclose(f1, t1, rtol=0, atol=2e-5 * scale)),
        "max_abs_diff": float(np.abs(f1 - t1).max()),
        "scale": scale,
    }
    out["threads"] = {"fastconv": fastconv.get_num_threads(), "torch": torch.get_num_threads()}
    out["openmp"] = {"fastconv": fastconv.openmp_enabled(),
                     "torch_backend": "ATen parallel backend: OpenMP" in
                                      torch.__config__.parallel_info()}
    out["runtimes"] = omp_runtimes()
    out["torch_dir"] = os.path.dirname(torch.__file__)
    out["fastconv_dir"] = os.path.dirname(fastconv.__file__)
    print(json.dumps(out))
    """)


def _gomp_parallel_bindings(log_dir):
    """{"fastconv" / "torch": runtimes their GOMP_parallel calls were bound to} (LD_DEBUG)."""
    bound = {"fastconv": set(), "torch": set()}
    pattern = re.compile(r"binding file (\S+) \[\d+\] to (\S+) \[\d+\]: "
                         r"normal symbol `GOMP_parallel'")
    for name in os.listdir(log_dir):
        with open(os.path.join(log_dir, name), errors="replace") as f:
            for line in f:
                if "GOMP_parallel" not in line:
                    continue
                m = pattern.search(line)
                if m is None:
                    continue
                caller, runtime = m.groups()
                if "/fastconv/_kernels/" in caller:
                    bound["fastconv"].add(os.path.realpath(runtime))
                elif "/torch/lib/" in caller:
                    bound["torch"].add(os.path.realpath(runtime))
    return bound


@pytest.mark.parametrize("first", ["torch", "fastconv"])
def test_both_parallel_and_right_whichever_is_imported_first(first, tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", "MKL_NUM_THREADS")}
    # the child must import the fastconv this session tests, not a source tree in its cwd
    import fastconv
    env["PYTHONPATH"] = os.pathsep.join(
        [os.path.dirname(os.path.dirname(os.path.abspath(fastconv.__file__)))]
        + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p])
    logs = tmp_path / "ld"
    logs.mkdir()
    env.update(OMP_WAIT_POLICY="passive", LD_DEBUG="bindings", LD_DEBUG_OUTPUT=str(logs / "ld"))
    proc = subprocess.run([sys.executable, "-c", CHILD, first], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, f"the child died ({proc.returncode}):\n{proc.stderr}"
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    if not out["openmp"]["fastconv"]:
        pytest.skip("serial build of fastconv: nothing runs in parallel")
    res = out["results"]
    assert res["fastconv_bitwise_serial"], out   # 2 threads give the 1-thread result
    assert res["torch_repeatable"], out
    assert res["agree"], out                     # fastconv == torch
    assert out["threads"] == {"fastconv": 2, "torch": 2}, out
    assert out["openmp"]["torch_backend"], out
    # both parallel, every time: two threads did a real share of each library's convolution
    assert all(b >= 2 for b in out["busy"]["fastconv"] + out["busy"]["torch"]), out
    # each library runs on one OpenMP runtime, and it is one of those mapped
    bound = _gomp_parallel_bindings(logs)
    runtimes = {os.path.realpath(p) for p in out["runtimes"]}
    assert len(bound["fastconv"]) == 1 and len(bound["torch"]) == 1, (bound, out["runtimes"])
    assert bound["fastconv"] | bound["torch"] <= runtimes, (bound, out["runtimes"])
    if os.environ.get("FASTCONV_EXPECT_WHEEL") == "1":
        libs = os.path.realpath(os.path.join(os.path.dirname(out["fastconv_dir"]),
                                             "fastconv.libs"))
        (fc_rt,), (torch_rt,) = bound["fastconv"], bound["torch"]
        assert os.path.dirname(torch_rt) == os.path.realpath(os.path.join(out["torch_dir"], "lib"))
        if first == "fastconv":
            # two runtimes side by side: fastconv on its vendored copy, torch on its own
            assert os.path.dirname(fc_rt) == libs, bound
        else:
            # torch loads its libgomp into the global symbol scope (RTLD_GLOBAL), which the
            # dynamic linker searches before an extension's own dependencies: fastconv's
            # calls go to torch's runtime, and the two share its one thread pool
            assert fc_rt == torch_rt, bound
