"""The model zoo: small reference ConvNets, the digits data they train on, training and export.

``MODELS`` maps a name to its ``nn.Module`` class; ``trained(name)`` returns the model trained on
the bundled MNIST subset (cached per user); ``digits_dataset()`` gives the fixed train/val split;
``export(name, path)`` writes a ``.pt2``, ``.pt`` or ``.onnx`` of it; ``save_npz`` a data file;
``compressed(name, precision)`` the model quantized and fine-tuned as a user ships it (cached).
"""

from .compressed_models import compressed
from .export import export, export_module, save_npz
from .models import INPUT_SHAPE, MODELS, NUM_CLASSES
from .training import accuracy, digits_dataset, train, trained

__all__ = [
    "MODELS", "INPUT_SHAPE", "NUM_CLASSES", "digits_dataset", "train", "trained", "accuracy",
    "export", "export_module", "save_npz", "compressed",
]
