"""funcad: composable function transformations (grad, vmap, jit, ...) on NumPy and Numba."""

__version__ = "0.1.0"

from funcad._array import (  # noqa: E402  (first: primitives return Arrays outside transforms)
    Array,
    CpuDevice,
    default_backend,
    device_count,
    device_get,
    device_put,
    devices,
    effects_barrier,
    local_device_count,
    local_devices,
)
from funcad import primitives as _primitives  # noqa: F401  (registers all primitives)
from funcad import numpy  # noqa: F401
from funcad import tree_util  # noqa: F401
from funcad._core import (
    ConcretizationTypeError,
    FuncadError,
    ShapeMismatchError,
    UnexpectedTracerError,
    UnsupportedNumPyFunctionError,
)
from funcad._ir import ClosedJaxpr, Jaxpr
from funcad._jit import jit
from funcad.lowering import numba as _numba_backend  # noqa: F401,E402  (installs jit's backend)
from funcad.api import (
    grad,
    hessian,
    jacfwd,
    jacrev,
    jvp,
    linearize,
    make_jaxpr,
    stop_gradient,
    value_and_grad,
    vjp,
    vmap,
)
from funcad import lax  # noqa: F401,E402
from funcad._checkpoint import checkpoint, remat  # noqa: E402
from funcad._custom_derivatives import custom_jvp, custom_vjp  # noqa: E402
from funcad import nn, optim  # noqa: F401,E402
from funcad import random, scipy  # noqa: F401,E402
from funcad.lowering.numba.background import wait_compiled  # noqa: E402
from funcad import views  # noqa: E402
from funcad.views import counts, grad_graph, graph, transform_counts  # noqa: E402
from funcad import _serialize  # noqa: F401,E402  (jaxprs become picklable)
from funcad._jit import disable_jit  # noqa: E402
from funcad._config import config, debug_infs, debug_nans  # noqa: E402
from funcad._extras import ShapeDtypeStruct, eval_shape, linear_transpose  # noqa: E402
from funcad._callback import pure_callback  # noqa: E402
from funcad import ad_checkpoint, debug, errors, tree  # noqa: F401,E402
from funcad.ad_checkpoint import checkpoint_policies  # noqa: E402
from funcad._api_extra import (  # noqa: E402
    block_until_ready,
    clear_caches,
    closure_convert,
    custom_gradient,
    default_device,
    default_matmul_precision,
    enable_x64,
    ensure_compile_time_eval,
    float0,
    host_count,
    host_id,
    named_call,
    named_scope,
    numpy_dtype_promotion,
    numpy_rank_promotion,
    print_environment_info,
    process_count,
    process_index,
    typeof,
)
from funcad import dtypes  # noqa: F401,E402

jacobian = jacrev  # JAX's alias

__all__ = [
    "Array", "CpuDevice", "default_backend", "device_count", "device_get", "device_put",
    "devices", "effects_barrier", "local_device_count", "local_devices",
    "ClosedJaxpr", "ConcretizationTypeError", "FuncadError", "Jaxpr", "ShapeMismatchError",
    "UnexpectedTracerError", "UnsupportedNumPyFunctionError",
    "checkpoint", "custom_jvp", "custom_vjp", "remat",
    "grad", "hessian", "jacfwd", "jacrev", "jit", "jvp", "lax", "linearize", "make_jaxpr",
    "nn", "numpy", "optim", "random", "scipy", "stop_gradient", "tree_util", "value_and_grad",
    "vjp", "vmap", "wait_compiled", "views", "counts", "graph", "grad_graph", "transform_counts",
    "ShapeDtypeStruct", "ad_checkpoint", "checkpoint_policies", "config", "debug",
    "debug_infs", "debug_nans", "disable_jit", "eval_shape", "jacobian", "linear_transpose",
    "pure_callback", "tree",
    "block_until_ready", "clear_caches", "closure_convert", "custom_gradient",
    "default_device", "default_matmul_precision", "dtypes", "enable_x64",
    "ensure_compile_time_eval", "float0", "host_count", "host_id", "named_call",
    "named_scope", "numpy_dtype_promotion", "numpy_rank_promotion", "print_environment_info",
    "process_count", "process_index", "typeof",
]
