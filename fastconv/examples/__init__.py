"""Worked examples that use fastconv the way a user's own NumPy code would.

* :mod:`fastconv.examples.digits`: a small CNN trained on scikit-learn's handwritten
  digits, forward and backward through fastconv's kernels; ``python -m fastconv demo``
  runs it.

The examples need the optional dependencies of the ``demo`` extra
(``pip install 'fastconv[demo]'``) only to load the data, show progress and plot;
the network code itself needs nothing but NumPy and fastconv.
"""
