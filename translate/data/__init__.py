"""Image decoding, tensor conversion, folder datasets and augmentation."""
