"""``generate``: sample grids, latent interpolation strips and latent arithmetic from a generation model."""

from __future__ import annotations

import sys
from collections.abc import Sequence

from translate.cli.common import ArgumentParser, add_device_argument, model_help, parse, run_cli, tell


def main(argv: Sequence[str] | None = None) -> int:
    parser = ArgumentParser(prog="generate", description=__doc__)
    parser.add_argument("model", help=model_help("the generation model") + "; e.g. digits")
    parser.add_argument("--out", required=True, help="output PNG")
    parser.add_argument("--n", type=int, default=64, help="grid: number of samples (default 64)")
    parser.add_argument("--seed", type=int, default=0, help="grid: sample i uses seed SEED + i")
    parser.add_argument("--label", help="conditional models: class name for every sample (default: cycle classes; "
                        "strips: one row per class)")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--interpolate", nargs=2, type=int, metavar=("SEED_A", "SEED_B"),
                      help="a strip walking the latent space from SEED_A's vector to SEED_B's")
    mode.add_argument("--arithmetic", metavar="EXPR",
                      help="latent arithmetic on seed groups, e.g. '1,2,3 - 4,5,6 + 7,8,9'")
    parser.add_argument("--steps", type=int, default=10, help="interpolate: images in the strip")
    parser.add_argument("--spherical", action="store_true", help="interpolate: slerp instead of a straight line")
    parser.add_argument("--zoom", type=int, help="enlarge pixels (default: cells of at least 64 pixels)")
    add_device_argument(parser, default="cpu")
    args = parse(parser, argv)

    def body() -> int:
        from torchvision.utils import make_grid

        from translate.checkpoint import load_model
        from translate.data.io import write_image
        from translate.device import pick_device
        from translate.errors import ConfigError
        from translate.output_check import check_values
        from translate.sampling import arithmetic, class_labels, generate, interpolation, latents, strip_latents
        from translate.zoo import resolve_model

        net, spec = load_model(resolve_model(args.model, task="generation"), task="generation",
                               device=pick_device(args.device))
        if args.interpolate:
            z = interpolation(spec, *args.interpolate, args.steps, args.spherical)
            nrow = len(z)
        elif args.arithmetic:
            z = arithmetic(spec, args.arithmetic)
            nrow = len(z)
        else:
            if args.n < 1:
                raise ConfigError(f"--n must be at least 1, got {args.n}")
            z = latents(spec, list(range(args.seed, args.seed + args.n)))
            nrow = len(spec.labels) if spec.labels and args.label is None else max(1, round(args.n**0.5))
        if args.interpolate or args.arithmetic:
            z, labels = strip_latents(spec, z, args.label)
        else:
            labels = class_labels(spec, args.label, len(z))
        images = generate(net, spec, z, labels)
        check_values(args.model, images)
        if args.zoom is not None and args.zoom < 1:
            raise ConfigError(f"--zoom must be at least 1, got {args.zoom}")
        zoom = args.zoom or max(1, 64 // images.shape[-1])
        if zoom > 1:
            images = images.repeat_interleave(zoom, dim=2).repeat_interleave(zoom, dim=3)
        grid = make_grid(images, nrow=nrow, padding=2 * zoom, pad_value=1.0)
        path = write_image(args.out, grid.permute(1, 2, 0).numpy())
        tell(f"wrote {path} ({len(z)} images)", sys.stdout)
        return 0

    return run_cli(body)
