"""Network families and the name -> constructor tables that model files refer to."""

from translate.nets.mlp import MLPDiscriminator, MLPGenerator

GENERATORS = {
    "mlp": MLPGenerator,
}

DISCRIMINATORS = {
    "mlp": MLPDiscriminator,
}


def build(table: dict, name: str, **kwargs):
    """Construct `table[name](**kwargs)`; an unknown name raises KeyError listing the known ones."""
    if name not in table:
        raise KeyError(f"unknown network {name!r}; choose one of {', '.join(sorted(table))}")
    return table[name](**kwargs)
