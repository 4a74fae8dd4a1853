#!/usr/bin/env bash
# Build fastconv's documentation and run every example in it as a doctest.
#
#   bash docs/build.sh            # from anywhere; exits non-zero on any failure
#
# (The script adds -q, so only warnings and failures are printed, and -E, so nothing is
# reused from an earlier build.)
# 1. HTML with warnings as errors (-W; --keep-going reports them all before failing):
#      python -m sphinx -W --keep-going -b html docs docs/_build/html
#    numpydoc validates every public docstring; conf.py also fails the build when a name
#    in fastconv.__all__ is missing from the reference or its docstring has no Raises or
#    Examples section.
# 2. The doctests: the >>> examples of the pages and of the API docstrings (through
#    autodoc), and the testcode/testoutput blocks; a printed value that differs fails:
#      python -m sphinx -W -b doctest docs docs/_build/doctest
#
# Needs: pip install -r docs/requirements.txt, and fastconv importable: an in-place build
# (python setup.py build_ext --inplace), documented first, or else an installed copy.
# Set PYTHON to choose the interpreter (default: python3).
set -euo pipefail

DOCS="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(dirname "$DOCS")"
PYTHON="${PYTHON:-python3}"
OUT="$DOCS/_build"
cd "$ROOT"

missing=$("$PYTHON" - <<'PY'
import importlib.util
need = {"sphinx": "sphinx", "numpydoc": "numpydoc", "myst_parser": "myst-parser",
        "matplotlib": "matplotlib", "numpy": "numpy"}
print(" ".join(pkg for mod, pkg in need.items() if importlib.util.find_spec(mod) is None))
PY
)
if [ -n "$missing" ]; then
    echo "docs/build.sh: missing packages: $missing (pip install -r docs/requirements.txt)" >&2
    exit 2
fi
# conf.py puts the source tree first on sys.path when it is built in place, else it
# documents the installed copy: check the same one here
if ls "$ROOT"/fastconv/_kernels/_engine.*.so > /dev/null 2>&1; then
    check_path="$ROOT${PYTHONPATH:+:$PYTHONPATH}"
else
    check_path="${PYTHONPATH:-}"
fi
if ! (cd "$DOCS" && PYTHONPATH="$check_path" "$PYTHON" -c "import fastconv; fastconv.conv2d" 2>/dev/null); then
    echo "docs/build.sh: fastconv cannot be imported: build it in place" \
         "(python setup.py build_ext --inplace) or install it" >&2
    exit 2
fi

start=$(date +%s)
echo "== html (warnings are errors): $OUT/html"
"$PYTHON" -m sphinx -q -E -W --keep-going -b html "$DOCS" "$OUT/html"

echo "== doctest: $OUT/doctest"
"$PYTHON" -m sphinx -q -E -W -b doctest "$DOCS" "$OUT/doctest"
grep -E "^ +[0-9]+ (tests|failures in tests)$" "$OUT/doctest/output.txt" | sed 's/^ */   /'

echo "== docs built and every doctest passed in $(( $(date +%s) - start )) s"
