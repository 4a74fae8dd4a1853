# cython: language_level=3
"""OpenMP build and thread-count queries."""

cdef extern from "fc_omp.h" nogil:
    int FC_OPENMP_ENABLED
    int omp_get_max_threads()


def openmp_enabled():
    """Return True when the extension modules were compiled with OpenMP."""
    return bool(FC_OPENMP_ENABLED)


def omp_max_threads():
    """OpenMP's current default thread count (honours OMP_NUM_THREADS and threadpoolctl)."""
    return omp_get_max_threads()
