"""Sphinx configuration of fastconv's documentation.

Build (warnings are errors) and run every example as a doctest:

    python -m sphinx -W --keep-going -b html docs docs/_build/html
    python -m sphinx -W -b doctest docs docs/_build/doctest

or both at once: ``bash docs/build.sh``. What the build needs is in
``docs/requirements.txt``; fastconv itself must be importable (built in place with
``python setup.py build_ext --inplace``, or installed).
"""
import inspect
import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
# The source tree first when it is built in place: that documents the working copy. An
# unbuilt tree would raise ImportError (fastconv/__init__.py), so then it is taken off
# sys.path (where `python -m sphinx` run in the root puts it) and the installed copy is
# documented.
if any((ROOT / "fastconv" / "_kernels").glob("_engine.*.so")) or any(
        (ROOT / "fastconv" / "_kernels").glob("_engine.*.pyd")):
    sys.path.insert(0, str(ROOT))
else:
    sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.getcwd()) != str(ROOT)]

import fastconv  # noqa: E402

project = "fastconv"
author = "the fastconv developers"
copyright = "the fastconv developers"
release = fastconv.__version__
version = release

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "sphinx.ext.doctest",
    "sphinx.ext.mathjax",
    "numpydoc",
    "matplotlib.sphinxext.plot_directive",
]

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build", "README*", "Thumbs.db", ".DS_Store"]
templates_path = []
html_static_path = ["_static"]
html_theme = "alabaster"
html_title = f"fastconv {release}"
html_theme_options = {
    "description": "CNN kernels for NumPy: Cython + OpenMP",
    "fixed_sidebar": True,
    "page_width": "1100px",
    "sidebar_width": "230px",
}
pygments_style = "sphinx"

# -- MyST (the existing pages stay Markdown) -------------------------------------------
myst_heading_anchors = 3          # links such as api.md#dtypes
myst_enable_extensions = ["colon_fence"]

# -- autodoc + numpydoc ------------------------------------------------------------
autodoc_default_options = {"members": False}
autodoc_typehints = "none"
numpydoc_show_class_members = False
numpydoc_xref_param_type = False
numpydoc_use_plots = False
# Every public docstring must be valid numpydoc; a failed check is a warning, which -W
# turns into an error. ES01 (extended summary) and SA01 (See Also) are left optional.
numpydoc_validation_checks = {"all", "ES01", "SA01", "SS05"}
# Public docstrings must document what they raise and show an example (checked below).
REQUIRED_SECTIONS = {"Raises": ("Raises",), "Examples": ("Examples",)}
NO_RAISES = {"openmp_enabled", "get_num_threads"}   # they cannot fail

# -- doctest -----------------------------------------------------------------------
doctest_global_setup = """
import numpy as np
import fastconv
from fastconv import _seeds
np.set_printoptions(precision=8, suppress=True, legacy=False)
fastconv.set_num_threads(None)
"""
doctest_test_doctest_blocks = "default"   # plain >>> blocks (docstrings) are tested too
trim_doctest_flags = True

# -- matplotlib plot directive (figures made at build time) ------------------------
plot_include_source = True
plot_html_show_source_link = False
plot_html_show_formats = False
plot_formats = [("png", 100)]
plot_rcparams = {"figure.figsize": (7.5, 3.2), "savefig.bbox": "tight"}
plot_pre_code = "import numpy as np\nimport fastconv\n"

# Pages that other branches add: listed in the index's toctree when they exist, so the
# build neither breaks before they land nor leaves them out of the toctree after.
OPTIONAL_PAGES = ["demo", "reliability"]
OPTIONAL_MARKER = "%optional-pages%"


def _optional_pages(app, docname, source):
    if docname != root_doc:
        return
    present = [p for p in OPTIONAL_PAGES
               if any((Path(app.srcdir) / f"{p}{ext}").exists() for ext in (".md", ".rst"))]
    source[0] = source[0].replace(OPTIONAL_MARKER, "\n".join(present))


def _check_public_api(app, env):
    """Warn (an error under -W) for a public name missing from the reference, or a
    public docstring without a Raises or an Examples section."""
    from sphinx.util import logging

    log = logging.getLogger("fastconv.docs")
    documented = set(env.get_domain("py").objects)
    for name in fastconv.__all__:
        if f"fastconv.{name}" not in documented:
            log.warning(f"fastconv.{name} is in fastconv.__all__ but not in the API reference")
        obj = getattr(fastconv, name)
        if not callable(obj):
            continue
        # cleandoc: docstrings written in the source are indented, the ones generated
        # from _docs.py's templates (the 1-D/2-D/3-D functions) are not
        doc = "\n" + inspect.cleandoc(obj.__doc__ or "") + "\n"
        for section, titles in REQUIRED_SECTIONS.items():
            if section == "Raises" and name in NO_RAISES:
                continue
            if not any(f"\n{t}\n{'-' * len(t)}\n" in doc for t in titles):
                log.warning(f"the docstring of fastconv.{name} has no {section} section")


def setup(app):
    app.connect("source-read", _optional_pages)
    app.connect("env-check-consistency", _check_public_api)
