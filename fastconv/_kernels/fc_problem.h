/* fastconv: the problem descriptor every kernel takes, by pointer.
 *
 * One struct describes one op in one direction, for rank 1 to 3.  The Python
 * normaliser (fastconv/_problem.py) builds the problem; fastconv._kernels._engine.Desc
 * lifts it to three spatial dimensions (D, H, W: a 2-D problem has D = 1, a 1-D
 * problem D = H = 1) and fills this struct once per plan.  Workspace sizes, task
 * counts and the layout of each thread's scratch are computed from this same
 * struct by the C functions of _engine.pyx (fc_workspace, fc_tasks), and only
 * there: Python asks them, it never recomputes them.
 *
 * Sizes and indices are Py_ssize_t (this header is included after Python.h).
 */
#ifndef FC_PROBLEM_H
#define FC_PROBLEM_H

enum fc_op {
    FC_OP_CONV = 0,      /* convolution (a transposed convolution is its grad_input) */
    FC_OP_MAX_POOL = 1,
    FC_OP_AVG_POOL = 2,
    FC_OP_UNFOLD = 3,    /* im2col forward, col2im as its grad_input */
    FC_OP_ADAPTIVE_MAX_POOL = 4,
    FC_OP_ADAPTIVE_AVG_POOL = 5
};

enum fc_direction {
    FC_FORWARD = 0,
    FC_GRAD_INPUT = 1,
    FC_GRAD_WEIGHT = 2,
    FC_GRAD_BIAS = 3
};

enum fc_padding_mode {   /* only zeros is implemented; the field exists for the others */
    FC_PAD_ZEROS = 0,
    FC_PAD_REFLECT = 1,
    FC_PAD_REPLICATE = 2,
    FC_PAD_CIRCULAR = 3
};

enum fc_layout {
    FC_CHANNELS_FIRST = 0,   /* x (N, C, D, H, W), y (N, O, ...); weight (O, C/groups, kD, kH, kW) */
    FC_CHANNELS_LAST = 1     /* x (N, D, H, W, C), y (N, ..., O); weight (kD, kH, kW, C/groups, O) */
};

typedef struct fc_problem {
    int op, direction;         /* enum fc_op, enum fc_direction */
    int rank;                  /* spatial dimensions as the user called: 1, 2 or 3 */
    int itemsize;              /* 4 (float32) or 8 (float64) */
    int padding_mode;          /* enum fc_padding_mode */
    int algo;                  /* the kernel, chosen once by the plan: a value of the
                                  fc_algo enum at the top of problem.pxi */
    int layout;                /* enum fc_layout: where the channel axis of x and y is */
    Py_ssize_t N, C, O, groups, Cg, Og;
    /* spatial, lifted to (D, H, W) */
    Py_ssize_t in[3], out[3], k[3], s[3], d[3];
    Py_ssize_t pb[3], pa[3];   /* padding before / after */
    /* element strides of each array, indexed (N, C, D, H, W) for x and y and
       (O, C/groups, kD, kH, kW) for w whatever the layout (channels-last: the C
       stride of x and y and the O stride of w are 1) */
    Py_ssize_t x_stride[5], y_stride[5], w_stride[5];
    /* pooling */
    int count_include_pad, want_indices;
    Py_ssize_t divisor;        /* avg pooling divisor_override, 0: none */
    /* derived (Desc fills them) */
    Py_ssize_t taps;           /* kD*kH*kW */
    Py_ssize_t Kg;             /* im2col rows per group: Cg*taps */
    Py_ssize_t in_vol;         /* D*H*W */
    Py_ssize_t out_plane;      /* OH*OW */
    Py_ssize_t L;              /* OD*OH*OW: im2col columns */
    /* the algorithm's parameters, chosen by the plan */
    Py_ssize_t lt;             /* columns per tile */
    Py_ssize_t blk;            /* channel block (grad_input) or im2col row block (grad_weight) */
    Py_ssize_t chunks;         /* sample chunks (chunked / strip grad_weight) */
} fc_problem;

/* The layout of one thread's scratch (in elements of the compute dtype). */
typedef struct fc_workspace_layout {
    Py_ssize_t ints;           /* Py_ssize_t indices at the start (rounded to 16 elements) */
    Py_ssize_t got;            /* then a transposed grad_output tile */
    Py_ssize_t main;           /* then the im2col tile, strip or row of tap numbers */
    Py_ssize_t per_thread;     /* ints + got + main, rounded to 16 (threads 64 bytes apart) */
    Py_ssize_t shared;         /* one array for all threads (grad_weight partials) */
} fc_workspace_layout;

#endif /* FC_PROBLEM_H */
