"""Run test cases in child interpreters, so that a crash or a hang fails only its own case.

The parent passes a test file, the name of a dict of zero-argument callables in it, and
the case ids; the child imports the file, runs each case and prints one JSON line when a
case begins and one when it ends.  A case that began and never ended is the culprit.
"""
import json
import os
import subprocess
import sys


def run_cases(table, case_ids):
    """Child side."""
    for cid in case_ids:
        print(json.dumps({"begin": cid}), flush=True)
        try:
            res = {"id": cid, "exc": None, "detail": table[cid]()}
        except BaseException as e:  # noqa: BLE001
            res = {"id": cid, "exc": type(e).__qualname__, "module": type(e).__module__,
                   "msg": str(e)[:500],
                   # the built-in classes it derives from (numpy's _ArrayMemoryError is a
                   # MemoryError)
                   "builtin_bases": [c.__qualname__ for c in type(e).__mro__
                                     if c.__module__ == "builtins"]}
        print(json.dumps(res), flush=True)


_CHILD = """
import faulthandler, importlib.util, json, sys
faulthandler.enable()
path, table = sys.argv[1], sys.argv[2]
ids, extra_path = json.loads(sys.argv[3]), json.loads(sys.argv[4])
sys.path[:0] = extra_path
import isolated
spec = importlib.util.spec_from_file_location("_fastconv_isolated_cases", path)
mod = importlib.util.module_from_spec(spec)
spec.loader.exec_module(mod)
isolated.run_cases(getattr(mod, table), ids)
"""


def run_isolated(test_file, table, case_ids, timeout=60):
    """Parent side: ``{case_id: result}``; a crash or hang is charged to its case."""
    results, todo = {}, list(case_ids)
    paths = [p for p in sys.path if p and os.path.isdir(p)]
    paths.insert(0, os.path.dirname(os.path.abspath(__file__)))
    while todo:
        cmd = [sys.executable, "-c", _CHILD, os.path.abspath(test_file), table,
               json.dumps(todo), json.dumps(paths)]
        try:
            # (cwd: not the repository root, whose unbuilt source tree `python -c` would
            # import before the installed package)
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout,
                                  cwd=os.path.dirname(os.path.abspath(__file__)))
            out, err, rc = proc.stdout, proc.stderr, proc.returncode
        except subprocess.TimeoutExpired as e:
            out = e.stdout.decode() if isinstance(e.stdout, bytes) else (e.stdout or "")
            err = e.stderr.decode() if isinstance(e.stderr, bytes) else (e.stderr or "")
            rc = f"killed after {timeout} s"
        running, started = None, False
        for line in out.splitlines():
            try:
                rec = json.loads(line)
            except ValueError:
                continue
            if "begin" in rec:
                running, started = rec["begin"], True
            else:
                results[rec["id"]] = rec
                running = None
        # a case that began without ending is the culprit; a child that never began any case
        # (or ended early for no visible reason) is charged to every remaining case
        culprits = [running] if running is not None else [c for c in todo if c not in results]
        if not started:
            culprits = todo
        for cid in culprits:
            results.setdefault(cid, {"id": cid, "crash": rc, "stderr": err[-3000:]})
        todo = [c for c in todo if c not in results]
    return results
