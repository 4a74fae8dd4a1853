/* fastconv: OpenMP shim.  A build without OpenMP still compiles and runs the
 * same kernels serially (Cython's prange turns into a plain loop). */
#ifndef FC_OMP_H
#define FC_OMP_H
#ifdef _OPENMP
#include <omp.h>
#define FC_OPENMP_ENABLED 1
#else
#define FC_OPENMP_ENABLED 0
static inline int omp_get_max_threads(void) { return 1; }
static inline int omp_get_thread_num(void) { return 0; }
#endif
#endif
