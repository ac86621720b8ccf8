"""The C kernels as the rest of edgeconv sees them, without the C backend or the selector.

``registry`` holds one entry per kernel of ``kernels_c/`` (name, op, fit test, scratch size,
weight packer, cost); ``geometry`` the shape facts its fit tests and costs read; ``packing`` the
weight layouts the kernels expect; ``isa`` which kernel set (portable, x86, arm) a target builds.
The selector (``select/``) and the C backend (``backends/c/``) both read these modules, and
neither imports the other.
"""
