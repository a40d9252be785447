"""gan-translate: train and serve GAN image translators."""

__version__ = "0.1.0"
