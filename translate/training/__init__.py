"""The shared training loop, its configuration, and the recipes that run on it."""
