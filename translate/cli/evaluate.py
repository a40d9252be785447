"""``evaluate-sr``: Y-channel PSNR/SSIM of a super-resolution model against bicubic on benchmark folders."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from translate.cli.common import ArgumentParser, add_device_argument, add_precision_argument, model_help, parse, run_cli
from translate.data.degrade import TEST_LEVELS
from translate.data.folders import samples_dir
from translate.errors import ConfigError
from translate.inference import Translator
from translate.nets.srresnet import SCALES

MEASURING_PRECISION = "fp32"
"""The evaluate commands' default --precision: a figure measures the model, the same on every CPU and as
its card gives it; --precision auto or bf16 measures what serving on a bf16 CPU gives."""


def resolve_set(name: str) -> str:
    """A benchmark name shipped in datasets/samples/sr (e.g. Set5), or a folder path."""
    bundled = samples_dir() / "sr" / name
    return str(bundled) if bundled.is_dir() and not Path(name).is_dir() else name


def main_sr(argv: Sequence[str] | None = None) -> int:
    parser = ArgumentParser(prog="evaluate-sr", description=__doc__ + " LR images are made by bicubic "
                            "downscaling (Pillow's antialiased bicubic, the kernel of MATLAB's imresize), or by one "
                            "of the fixed real-world levels; PSNR/SSIM on BT.601 Y with a border of `scale` pixels "
                            "cropped; sharpness is the output's mean luma gradient over the HR's (1.00: as much "
                            "fine detail as the HR; bicubic of a clean LR is about 0.6).")
    parser.add_argument("--model", nargs="+", default=[], metavar="MODEL",
                        help=model_help("super-resolution models (several give a row each; none: bicubic only), "
                                        "each") + "; e.g. sr_x4")
    parser.add_argument("--sets", nargs="+", default=["Set5"], help="benchmark names (Set5) or HR folders")
    parser.add_argument("--degradation", nargs="+", default=["clean"], choices=tuple(TEST_LEVELS),
                        help="how LR is made from each HR image: clean (bicubic, the benchmarks'), light (JPEG 90), "
                        "medium (blur sigma 1.2 + JPEG 70), heavy (blur 1.2 + noise sigma 5 + JPEG 50); fixed, "
                        "the same on every machine (default: clean)")
    parser.add_argument("--scale", type=int, help=f"one of {SCALES}; default: the models', or 4")
    add_device_argument(parser)
    add_precision_argument(parser, default=MEASURING_PRECISION)
    args = parse(parser, argv)

    def body() -> int:
        from translate.evaluation.metrics import evaluate_sr_folder
        from translate.zoo import resolve_model

        translators = {}
        for name in args.model:
            translator = Translator.from_file(resolve_model(name, task="super-resolution"), device=args.device,
                                              task="super-resolution", precision=args.precision)
            translators[Path(name).name or name] = translator
        scales = {t.spec.scale for t in translators.values()}
        if len(scales) > 1:
            raise ConfigError(f"--model: the models upscale by different factors ({sorted(scales)}); give one scale")
        model_scale = scales.pop() if scales else None
        if model_scale and args.scale and args.scale != model_scale:
            raise ConfigError(f"--scale {args.scale} does not match {args.model[0]}, a x{model_scale} model")
        scale = model_scale or args.scale or 4
        if scale not in SCALES:
            raise ConfigError(f"--scale must be one of {', '.join(map(str, SCALES))}, got {scale}")
        precisions = sorted({t.precision.name for t in translators.values()})
        print(f"x{scale}, Y channel, {scale}-pixel border; sharpness: mean luma gradient over the HR's"
              + (f"; models in {', '.join(precisions)}" if precisions else ""))
        print(f"{'set':<10} {'LR':<7} {'images':>6}  {'method':<16} {'PSNR':>6} {'SSIM':>7} {'sharpness':>9} "
              f"{'vs bicubic':>10}")
        for name in args.sets:
            for level in args.degradation:
                r = evaluate_sr_folder(resolve_set(name), scale, translators, level)
                for method in ("bicubic", *translators):
                    gain = r[f"{method}_psnr"] - r["bicubic_psnr"]
                    print(f"{Path(name).name:<10} {level:<7} {r['images']:>6}  {method[:16]:<16} "
                          f"{r[f'{method}_psnr']:>6.2f} {r[f'{method}_ssim']:>7.4f} {r[f'{method}_sharpness']:>9.2f} "
                          f"{'' if method == 'bicubic' else f'{gain:+.2f} dB':>10}")
        return 0

    return run_cli(body)


def main_gan(argv: Sequence[str] | None = None) -> int:
    parser = ArgumentParser(
        prog="evaluate-gan",
        description="Measure a digits generator in the feature space of a classifier trained here on the "
        "bundled real digits: classes covered, class-histogram entropy (max ln 10 = 2.30), mean confidence, "
        "label agreement (conditional models), classifier-feature FID and k-NN precision/recall against "
        "held-out real digits. Rows for real digits of the classifier's training split and an untrained generator "
        "give the scale. "
        "With --inception-weights, also FID, KID and IS of the samples with the standard Inception-v3 network.",
    )
    parser.add_argument("model", help=model_help("a generation model trained on digits") + "; e.g. digits")
    parser.add_argument("--n", type=int, default=1000, help="samples to draw (default 1000)")
    parser.add_argument("--seed", type=int, default=0, help="first latent seed; samples use seeds SEED, SEED+1, ... "
                        "(default: 0)")
    add_device_argument(parser, default="cpu")
    parser.add_argument("--inception-weights", metavar="FILE",
                        help="the standard Inception-v3 weights (pt_inception-2015-12-05-6726825d.pth, or its tensors "
                        "as .safetensors): also print FID, KID and IS; never downloaded (see the README)")
    parser.add_argument("--real-folder", metavar="DIR", help="real images for FID/KID (default: the held-out real "
                        "digits); resized and centre-cropped to the generator's size and channels")
    args = parse(parser, argv)

    def body() -> int:
        import torch

        from translate.checkpoint import load_model
        from translate.device import pick_device
        from translate.evaluation.digits import measure, reference
        from translate.nets import GENERATORS
        from translate.sampling import class_labels, generate, latents
        from translate.zoo import resolve_model

        device = pick_device(args.device)
        net, spec = load_model(resolve_model(args.model, task="generation"), task="generation", device=device)
        if spec.out_channels != 1:
            raise ConfigError(f"{args.model}: has {spec.out_channels} channels; the digits measures need a "
                              "grayscale digits generator")
        if args.n < 20:
            raise ConfigError(f"--n must be at least 20, got {args.n}")
        if args.real_folder and not args.inception_weights:
            raise ConfigError("--real-folder is the real set of the Inception measures; it needs --inception-weights")
        inception = folder_images = None
        if args.inception_weights:  # load and read these first: a bad file or folder fails before the slow work
            from translate.evaluation.inception import load_inception

            inception = load_inception(args.inception_weights, device)
            if args.real_folder:
                from translate.data.folders import ImageFolder

                folder = ImageFolder(args.real_folder, spec.image_size, spec.out_channels)
                folder_images = (torch.stack([folder[(i, 0)]["image"] for i in range(len(folder))]) + 1) / 2
        ref = reference()
        z = latents(spec, list(range(args.seed, args.seed + args.n)))
        labels = class_labels(spec, None, args.n)
        torch.manual_seed(args.seed)
        untrained = GENERATORS[spec.arch](**spec.arch_kwargs).eval()
        samples = generate(net, spec, z, labels)
        rows = {
            "real (training split)": measure((ref.train_images[:args.n] + 1) / 2, ref,
                                             ref.train_labels[:args.n] if labels is not None else None),
            Path(args.model).name: measure(samples, ref, labels),
            "untrained G": measure(generate(untrained, spec, z, labels), ref, labels),
        }
        print(f"digits classifier: test accuracy {ref.test_accuracy:.3f} on {len(ref.test_labels)} held-out digits")
        keys = list(rows[Path(args.model).name])
        print(f"{'':<22}" + "".join(f"{k:>17}" for k in keys))
        for name, r in rows.items():
            print(f"{name[:22]:<22}" + "".join(f"{r[k]:>17.3f}" if isinstance(r[k], float) else f"{r[k]:>17}"
                                               for k in keys))
        if inception is not None:
            from translate.evaluation.inception import inception_scores

            real = folder_images if folder_images is not None else (ref.test_images + 1) / 2
            scores = inception_scores(inception, real, samples)
            print(f"Inception-v3 ({args.inception_weights}): {len(samples)} samples against {len(real)} real images "
                  f"({args.real_folder or 'held-out digits'})")
            print(f"FID {scores.fid:.2f}   KID {scores.kid_mean:.4f} +- {scores.kid_std:.4f}   "
                  f"IS {scores.is_mean:.3f} +- {scores.is_std:.3f}")
        return 0

    return run_cli(body)


def main_translation(argv: Sequence[str] | None = None) -> int:
    parser = ArgumentParser(
        prog="evaluate-translation",
        description="Measure an unpaired translator A -> B: a small CNN trained here on random crops of the two "
        "real domains classifies crops of translated test images; prints the share called B (and the same share "
        "for the untranslated images, the floor) and the mean cycle A -> B -> A L1 (pixels in [0, 1]).",
    )
    parser.add_argument("--model", required=True, help=model_help("the A -> B model") + "; e.g. vangogh")
    parser.add_argument("--reverse", help="the B -> A model for the cycle L1 (default: the translator beside it "
                        "that goes back)")
    parser.add_argument("--domainA", required=True, help="folder of real domain A images (e.g. the training photos)")
    parser.add_argument("--domainB", required=True, help="folder of real domain B images (e.g. the paintings)")
    parser.add_argument("--test", help="folder of domain A images the model never saw")
    parser.add_argument("--hold-out", type=int, default=0, metavar="N",
                        help="the last N images of --domainA (sorted by name) are the test images and the classifier "
                        "trains on the others: the split of train-cyclegan --hold-out N")
    parser.add_argument("--max-images", type=int, default=20, help="test images to use (default 20)")
    parser.add_argument("--grid", help="also write an input | output picture grid (PNG) of the first test images")
    parser.add_argument("--grid-images", type=int, default=6, metavar="N", help="rows of the grid (default 6)")
    parser.add_argument("--compare", nargs="+", default=[], metavar="MODEL",
                        help="more A -> B models whose outputs the grid shows beside --model's, in this order (e.g. "
                        "an older model on the same photos), and rows of the gap table")
    parser.add_argument("--classifier-steps", type=int, default=400, help="training steps of the domain classifier")
    parser.add_argument("--two-sample", action="store_true",
                        help="also the gap table: for the untranslated test images, --model and each --compare model, "
                        "a classifier two-sample test against --domainB (held-out accuracy, colour and luminance, and "
                        "KID in its features) and the artefact figures; use all the held-out images (--max-images)")
    parser.add_argument("--artefacts", action="store_true",
                        help="the gap table's artefact figures only (colour outliers, border streaks), without the "
                        "two-sample test")
    parser.add_argument("--seeds", type=int, default=3, help="two-sample tests per row, seeds 0 .. N-1 (default 3)")
    parser.add_argument("--two-sample-steps", type=int, default=600, metavar="N",
                        help="training steps of each two-sample classifier (default 600)")
    parser.add_argument("--marked", metavar="DIR", help="write each output of the gap table beside its flagged "
                        "colour outliers (white) into DIR, to look at at 1:1")
    add_device_argument(parser, default="cpu")
    add_precision_argument(parser, default=MEASURING_PRECISION)
    args = parse(parser, argv)

    def body() -> int:
        from translate.data.folders import split_off_last
        from translate.data.io import list_images
        from translate.evaluation.translation import load_folder, load_images, score, train_classifier, write_pairs_grid
        from translate.zoo import resolve_model, reverse_of

        for flag, value in (("--max-images", args.max_images), ("--classifier-steps", args.classifier_steps),
                            ("--grid-images", args.grid_images), ("--seeds", args.seeds),
                            ("--two-sample-steps", args.two_sample_steps)):
            if value < 1:
                raise ConfigError(f"{flag} must be at least 1, got {value}")
        if not args.test and not args.hold_out:
            raise ConfigError("give the test images: --test FOLDER, or --hold-out N (the last N of --domainA)")
        gap = args.two_sample or args.artefacts or bool(args.marked)
        if args.compare and not (args.grid or gap):
            raise ConfigError("--compare adds columns to the picture grid or rows to the gap table; give --grid "
                              "FILE.png, --two-sample or --artefacts as well")
        forward_path = resolve_model(args.model, "AtoB", task="translation")
        forward = Translator.from_file(forward_path, device=args.device, task="translation",
                                       precision=args.precision)
        print(f"models: {forward.precision.line()}")
        compared = [Translator.from_file(resolve_model(m, "AtoB", task="translation"), device=args.device,
                                         task="translation", precision=args.precision) for m in args.compare]
        reverse_path = Path(args.reverse) if args.reverse else reverse_of(forward_path)
        backward = None
        if reverse_path is not None:
            backward = Translator.from_file(reverse_path, device=args.device, task="translation",
                                            precision=args.precision)
            there, back = forward.spec.domains, backward.spec.domains
            if there and back and tuple(back) != tuple(reversed(there)):
                raise ConfigError(f"{reverse_path}: translates {' -> '.join(back)}, not back from "
                                  f"{' -> '.join(there)} ({forward_path.name}); pass the reverse model with --reverse")
        names = tuple(forward.spec.domains or ("A", "B"))
        if names == (Path(args.domainB).name, Path(args.domainA).name):
            raise ConfigError(f"{forward_path}: translates {names[0]} -> {names[1]}, but --domainA is "
                              f"{args.domainA}; swap --domainA and --domainB, or evaluate the other direction")
        if backward is None:
            print("no reverse model beside it (pass --reverse): the cycle L1 is not measured")
        kept, held_out = split_off_last(list_images(args.domainA), args.hold_out, Path(args.domainA))
        domain_a, domain_b = load_images(kept), load_folder(args.domainB)
        test_paths = list_images(args.test)[: args.max_images] if args.test else held_out[: args.max_images]
        test = load_images(test_paths)
        if args.two_sample and (len(test) < 4 or len(domain_b) < 4):
            raise ConfigError(f"the two-sample test splits each set in halves by image: it needs at least 4 test "
                              f"images and 4 of --domainB, got {len(test)} and {len(domain_b)}")
        where = args.test or f"the last {args.hold_out} of {args.domainA}"
        classifier = train_classifier(domain_a, domain_b, steps=args.classifier_steps)
        result = score(classifier, forward, backward, test)
        print(f"{result.images} test images from {where}; classifier trained on {len(domain_a)} + "
              f"{len(domain_b)} real images")
        print(f"translated {names[0]} -> {names[1]} crops called {names[1]}: {result.translated_called_b:.3f}")
        print(f"untranslated crops called {names[1]} (floor):   {result.originals_called_b:.3f}")
        if result.cycle_l1 is not None:
            print(f"cycle {names[0]} -> {names[1]} -> {names[0]} mean L1: {result.cycle_l1:.4f}")
        if args.grid:
            write_pairs_grid([forward, *compared], test[:args.grid_images], args.grid)
            print(f"wrote {args.grid}")
        if gap:
            from translate.evaluation.gap import format_gap, measure_gap

            rows = [("untranslated", None), (Path(args.model).stem, forward),
                    *((Path(m).stem, t) for m, t in zip(args.compare, compared))]
            table = measure_gap(domain_b, test, rows, two_sample=args.two_sample, seeds=args.seeds,
                                steps=args.two_sample_steps, marked=args.marked,
                                test_names=[p.stem for p in test_paths])
            if args.two_sample:
                print(f"two-sample test against {args.domainB}: {len(domain_b)} + {len(test)} images, each split in "
                      f"halves by image; {args.seeds} seeds, {args.two_sample_steps} steps; mean +- std")
            print("\n".join(format_gap(table)))
            if args.marked:
                print(f"wrote the outputs with their new colour outliers marked to {args.marked}")
        return 0

    return run_cli(body)


def main_paired(argv: Sequence[str] | None = None) -> int:
    parser = ArgumentParser(
        prog="evaluate-paired",
        description="Measure a paired translator (pix2pix) on held-out pairs: mean L1 (pixels in [0, 1]), RGB "
        "PSNR and luminance SSIM to the real targets, and the mean gradient magnitude (sharpness) of the outputs "
        "next to that of the real targets.",
    )
    parser.add_argument("--model", required=True, help=model_help("the paired model") + "; e.g. facades")
    parser.add_argument("--pairs", required=True, help="folder of test pairs: side-by-side A|B images or A/ B/ twins")
    parser.add_argument("--direction", default="AtoB", choices=("AtoB", "BtoA"),
                        help="which half is the input (facades files hold photo|labels: BtoA)")
    parser.add_argument("--max-pairs", type=int, default=0, help="score only the first N pairs (0: all)")
    parser.add_argument("--untrained", action="store_true",
                        help="score the model's architecture with fresh weights (seed 0) instead: the floor")
    parser.add_argument("--grid", help="also write input | output | target rows of the first four pairs (PNG)")
    add_device_argument(parser, default="cpu")
    add_precision_argument(parser, default=MEASURING_PRECISION)
    args = parse(parser, argv)

    def body() -> int:
        import numpy as np
        import torch

        from translate.data.pairs import AlignedPairs
        from translate.evaluation.paired import score_pairs
        from translate.nets import GENERATORS
        from translate.zoo import resolve_model

        if args.max_pairs < 0:
            raise ConfigError(f"--max-pairs must be 0 (all) or more, got {args.max_pairs}")
        path = resolve_model(args.model, "AtoB", task="translation")
        translator = Translator.from_file(path, device=args.device, task="translation", precision=args.precision)
        print(f"model: {translator.precision.line()}")
        if args.untrained:
            torch.manual_seed(0)
            net = GENERATORS[translator.spec.arch](**translator.spec.arch_kwargs)
            translator = Translator(net, translator.spec, translator.device, precision=translator.precision)
        data = AlignedPairs(args.pairs, crop=1, load_size=1, flip=False, direction=args.direction)
        count = len(data.pairs) if not args.max_pairs else min(args.max_pairs, len(data.pairs))

        def pairs():
            for i in range(count):
                source, target = data.pair(i)
                yield np.asarray(source, np.float32) / 255.0, np.asarray(target, np.float32) / 255.0

        result = score_pairs(translator, pairs())
        what = "untrained " + translator.spec.arch if args.untrained else str(path)
        print(f"{what} on {result.pairs} pairs of {args.pairs} ({args.direction})")
        print(f"L1 {result.l1:.4f}  PSNR {result.psnr:.2f} dB  SSIM {result.ssim:.4f}  "
              f"sharpness {result.sharpness:.4f} (real {result.real_sharpness:.4f}, "
              f"ratio {result.sharpness / result.real_sharpness:.3f})")
        if args.grid:
            from PIL import Image

            from translate.checkpoint import atomic_write

            rows = []
            for source, target in list(pairs())[:4]:
                out = np.clip(translator(source), 0, 1)
                rows.append(np.concatenate([source, out, target], axis=1))
            grid = Image.fromarray(np.round(np.concatenate(rows) * 255).astype(np.uint8))
            atomic_write(args.grid, lambda tmp: grid.save(tmp, format="PNG"))
            print(f"wrote {args.grid}")
        return 0

    return run_cli(body)
