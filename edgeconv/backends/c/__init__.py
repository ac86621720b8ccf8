"""C backend: generated model.c/model.h over the kernels of ``kernels_c/``, and host builds."""

from .build import BuildInfo, build_host
from .generate import CProject, LayerInfo, generate

__all__ = ["generate", "CProject", "LayerInfo", "build_host", "BuildInfo"]
