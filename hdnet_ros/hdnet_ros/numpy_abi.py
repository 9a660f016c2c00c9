"""A compiled module built for another numpy than the one installed, recognised and named.

ROS 2 Humble and Jazzy ship OpenCV (``python3-opencv``), cv_bridge and numba built for
numpy 1.x (Ubuntu's 1.21 and 1.26). A ``pip install`` that may choose numpy freely installs
numpy 2 into the user's site-packages (onnxruntime, onnx and rosbags all allow it), and those
modules then fail at import with errors that do not say what is wrong:
``AttributeError: _ARRAY_API not found`` or ``ImportError: numpy.core.multiarray failed to
import`` (ros-perception/vision_opencv#535: cv_bridge on Humble), or numba's own ``Numba needs
NumPy 1.21 or less`` (Ubuntu 22.04's numba 0.55 under a newer numpy). The command line and
the node turn them into one line that names the installed numpy and the fix. Nothing here
imports numpy: it may be the module that fails.
"""

from __future__ import annotations

import importlib.metadata

# What a module compiled against another numpy raises at import (the messages of numpy's
# C API loader, its 1.x -> 2.x warning, and numba's version check).
SIGNS = (
    "_ARRAY_API not found",
    "numpy.core.multiarray failed to import",
    "numpy.core._multiarray_umath failed to import",
    "compiled using NumPy 1.x",
    "Numba needs NumPy",
)
# Where pip put a numpy that the distribution's modules were not built for, this installs one
# they load with and a numba that fits it (ai-edge-litert needs numpy 1.23.2 or newer).
FIX = 'python3 -m pip install "numpy<2" numba'


def numpy_mismatch(error: BaseException) -> BaseException | None:
    """The ImportError or AttributeError behind ``error`` (itself, or what it was raised
    from or while handling; the first one raised where several say it) that says a compiled
    module does not fit the installed numpy; None for anything else."""
    seen: set[int] = set()
    found: BaseException | None = None
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, (ImportError, AttributeError)) and any(sign in str(current) for sign in SIGNS):
            found = current
        current = current.__cause__ or current.__context__
    return found


def numpy_mismatch_message(error: BaseException, program: str) -> str | None:
    """One line for ``program``'s user: the installed numpy, what failed and the fix; None
    where ``error`` is not such a failure."""
    found = numpy_mismatch(error)
    if found is None:
        return None
    first_line = str(found).strip().splitlines()[0] if str(found).strip() else type(found).__name__
    return (
        f"{program}: a compiled module does not load with the installed numpy {installed_numpy()} "
        f"({type(found).__name__}: {first_line}); ROS 2 Humble and Jazzy build OpenCV, cv_bridge and numba "
        f"for numpy 1.x: run `{FIX}`"
    )


def installed_numpy() -> str:
    """numpy's version as installed (read from its metadata: importing it may be what fails)."""
    try:
        return importlib.metadata.version("numpy")
    except importlib.metadata.PackageNotFoundError:
        return "(not installed)"
