"""edgeconv: quantized ConvNets from PyTorch to ARM boards, checked bit for bit."""

__version__ = "0.1.0"
