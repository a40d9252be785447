"""The one training loop every recipe runs on.

It owns: device choice, seeding, mixed precision (torch.autocast, GradScaler for fp16),
channels-last, torch.compile, DistributedDataParallel under torchrun, EMA of generators,
the learning-rate schedule (constant, then linear decay to 0), progress bar, JSON-lines log,
TensorBoard, sample grids, model files, checkpoints (every N steps, at the end, on SIGINT/SIGTERM)
and exact resume.

Run folder layout::

    OUT/config.json               resolved configuration (what --resume reads back)
    OUT/checkpoint.safetensors    training state (nets, optimisers, EMA, RNG states, step)
    OUT/models/NAME.safetensors   self-describing generator files for inference and export
    OUT/samples/step_NNNNNNN.png  sample grids
    OUT/log.jsonl                 one JSON object per logged step
    OUT/tb/                       TensorBoard events
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import os
import random
import signal
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from torch import nn
from torch.utils.data import DataLoader

from translate.checkpoint import atomic_write, load_state, remove_interrupted_writes, save_model, save_state
from translate.data.io import write_image
from translate.device import allow_tf32, check_processes_fit, pick_amp_dtype, pick_device
from translate.errors import ConfigError, UserError
from translate.precision import cpu_bf16
from translate.printable import printable
from translate.training.config import (
    CONFIG_FILE,
    GRAPH_COMPILE_MODES,
    LoopConfig,
    read_run_config,
    to_dict,
    with_recipe_defaults,
)
from translate.training.ema import EMA
from translate.training.recipe import Recipe, TrainContext
from translate.training.sampler import SeededSampler

STATE_FILE = "checkpoint.safetensors"


class TrainingDiverged(UserError):
    """A loss became NaN or infinite."""


def train(recipe_cls: type[Recipe], recipe_config: Any, loop: LoopConfig, resume: bool = False) -> Recipe:
    """Run (or, with `resume`, continue) training; returns the recipe with its trained nets.

    Works the same in a single process and under ``torchrun`` (one process per device; with --device cpu, or
    without CUDA, the processes share the CPU through gloo). What `loop` leaves to the recipe (the second-half
    decay of CycleGAN, pix2pix and CUT) is filled in here, as the ``train-*`` commands do; to continue a run with
    its saved settings, get the configs from :func:`translate.training.config.run_configs`.
    """
    loop = with_recipe_defaults(loop, recipe_cls)
    rank, world_size, local_rank = _ranks()
    device = pick_device(loop.device, local_rank)
    if world_size > 1:
        check_processes_fit(device)
        _init_process_group(device, local_rank)
    try:
        return _Run(recipe_cls, recipe_config, loop, resume, rank, world_size, device).run()
    finally:
        if world_size > 1 and dist.is_initialized():
            dist.destroy_process_group()


def _ranks() -> tuple[int, int, int]:
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size <= 1:
        return 0, 1, 0
    return int(os.environ["RANK"]), world_size, int(os.environ.get("LOCAL_RANK", "0"))


def _init_process_group(device: torch.device, local_rank: int) -> None:
    """NCCL between GPUs, gloo between CPU processes: the backend follows the device training runs on, not
    merely whether CUDA exists (a --device cpu run on a GPU machine must not ask NCCL for CPU tensors)."""
    if dist.is_initialized():
        return
    if device.type == "cuda":
        torch.cuda.set_device(local_rank)
        dist.init_process_group("nccl")
    else:
        dist.init_process_group("gloo")


def lr_factor(step: int, total: int, decay_start: int | None) -> float:
    """1 until `decay_start`, then falling linearly to 0 at `total`."""
    if decay_start is None or step < decay_start:
        return 1.0
    return max(0.0, 1.0 - (step - decay_start) / max(1, total - decay_start))


def rng_state() -> dict[str, Any]:
    name, keys, pos, has_gauss, cached = np.random.get_state()
    state = {
        "python": random.getstate(),
        "numpy": (name, torch.from_numpy(keys.astype(np.int64)), pos, has_gauss, cached),
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: Mapping[str, Any]) -> None:
    random.setstate(state["python"])
    name, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((name, keys.numpy().astype(np.uint32), pos, has_gauss, cached))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def to_device(batch: Any, device: torch.device, channels_last: bool) -> Any:
    if isinstance(batch, torch.Tensor):
        batch = batch.to(device, non_blocking=True)
        return batch.contiguous(memory_format=torch.channels_last) if channels_last and batch.ndim == 4 else batch
    if isinstance(batch, Mapping):
        return {k: to_device(v, device, channels_last) for k, v in batch.items()}
    if isinstance(batch, list | tuple):
        return type(batch)(to_device(v, device, channels_last) for v in batch)
    return batch


@contextmanager
def stop_requests(say: Callable[[str], None] = lambda message: None) -> Iterator[dict[str, bool]]:
    """Turn the first SIGINT/SIGTERM into a flag the loop checks after each step (a second one
    interrupts at once); `say` acknowledges the first at once, since a step can take a minute."""
    flag = {"stop": False}
    previous = {}
    owner = os.getpid()

    def handler(signum: int, frame: Any) -> None:
        if os.getpid() != owner:  # a data-loading worker forked from this process: Ctrl-C reaches it too
            return
        if flag["stop"]:
            signal.signal(signum, previous.get(signum, signal.SIG_DFL))
            raise KeyboardInterrupt
        flag["stop"] = True
        say(f"{signal.Signals(signum).name}: stopping after this step and saving a checkpoint "
            "(send it again to quit at once, losing the steps since the last checkpoint)")

    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(ValueError):  # not the main thread: leave signals alone
            previous[sig] = signal.signal(sig, handler)
    try:
        yield flag
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


class _Run:
    def __init__(self, recipe_cls: type[Recipe], recipe_config: Any, loop: LoopConfig, resume: bool,
                 rank: int, world_size: int, device: torch.device) -> None:
        self.recipe_cls, self.recipe_config, self.loop, self.resume = recipe_cls, recipe_config, loop, resume
        self.rank, self.world_size = rank, world_size
        self.out = Path(loop.out)
        self.device = device
        self.is_main = rank == 0
        self.writer = None

    def log(self, message: str) -> None:
        if self.is_main:
            print(printable(message), file=sys.stderr, flush=True)

    def _check_run_folder(self) -> None:
        state = self.out / STATE_FILE
        if self.resume:
            read_run_config(self.out, self.recipe_cls.name)
            if not state.is_file():  # stopped before (or while) writing its first checkpoint: nothing to resume
                self.log(f"--resume {self.out}: no {STATE_FILE} yet (the run was stopped before its first one "
                         "was written); starting it again from step 0 with its saved settings")
                self.resume = False
        elif state.exists():
            raise ConfigError(
                f"{self.out} already holds a run; continue it with --resume {self.out} or pick another --out"
            )
        if self.is_main:
            for folder in (self.out, self.out / "models", self.out / "samples"):
                for leftover in remove_interrupted_writes(folder):
                    self.log(f"removed {leftover}, left by an interrupted write")
            if not self.resume:
                self._trim_log(0)  # a run stopped before its first checkpoint logged steps this one logs again

    def run(self) -> Recipe:
        loop = self.loop
        self._check_run_folder()
        graphs = loop.compile and loop.compile_mode in GRAPH_COMPILE_MODES
        if graphs and self.device.type != "cuda":
            raise ConfigError(f"--compile-mode {loop.compile_mode} records CUDA graphs: it needs a CUDA device "
                              "(use --compile-mode default on the CPU)")
        if loop.tf32:
            allow_tf32(self.device)
        amp_dtype = pick_amp_dtype(loop.amp, self.device)
        ctx = TrainContext(self.device, amp_dtype, self.rank, self.world_size, loop.channels_last, loop.steps,
                           resume_dir=self.out if self.resume else None)

        seed_everything(loop.seed)  # identical initial weights on every process
        recipe = self.recipe_cls(self.recipe_config, ctx)
        ctx.bind(recipe)
        for opt in recipe.optimizers.values():
            for group in opt.param_groups:
                group.setdefault("base_lr", group["lr"])
        if loop.channels_last:
            for net in recipe.nets.values():
                net.to(memory_format=torch.channels_last)
        emas = {name: EMA(recipe.nets[name], loop.ema) for name in recipe.ema_nets} if loop.ema > 0 else {}
        recipe.ema = {name: e.average for name, e in emas.items()}

        dataset = recipe.dataset()
        try:
            sampler = SeededSampler(len(dataset), loop.batch_size, loop.seed, self.rank, self.world_size)
        except ValueError as err:
            raise ConfigError(f"batch_size {loop.batch_size}: {err}") from None

        step = 0
        if self.resume:
            step = self._load(recipe, ctx, emas)
            if self.is_main:
                self._trim_log(step)
        else:
            seed_everything(loop.seed + self.rank)
        first_step = step
        recipe.train_nets = {name: self._wrap(net) for name, net in recipe.nets.items()}

        if self.is_main:
            self._write_config()
            self.log(f"[{recipe.name}] {self.out}: step {step} -> {loop.steps} on {self._describe(amp_dtype)}")
        if step >= loop.steps:
            self.log(f"already at step {step} of {loop.steps}; raise --steps to train longer")
            return recipe

        loader = DataLoader(
            dataset, batch_size=loop.batch_size, sampler=sampler, num_workers=loop.workers,
            pin_memory=self.device.type == "cuda", drop_last=True, persistent_workers=loop.workers > 0,
            generator=torch.Generator(),  # keeps the loader from drawing on the global RNG that resume restores
        )
        bar = self._progress(step)
        started, last_losses = time.time(), {}
        clock = _Clock(self)
        with stop_requests(self.log) as flag:
            while step < loop.steps:
                sampler.set_position(*divmod(step, sampler.batches_per_epoch))
                for batch in loader:
                    factor = lr_factor(step, loop.steps, loop.lr_decay_start)
                    for opt in recipe.optimizers.values():
                        for group in opt.param_groups:
                            group["lr"] = group["base_lr"] * factor
                    for net in recipe.nets.values():
                        net.train()
                    if graphs:  # the previous step's graph outputs may now be overwritten
                        torch.compiler.cudagraph_mark_step_begin()
                    losses = recipe.step(to_device(batch, self.device, loop.channels_last), step)
                    for name, ema in emas.items():
                        done = recipe.update_count(name, step)
                        if recipe.update_count(name, step + 1) > done:  # not on critic-only steps
                            ema.update(recipe.nets[name], done)
                    step += 1
                    if step % loop.log_every == 0 or step == loop.steps:
                        last_losses = self._log_step(step, losses, factor, started, bar)
                    if bar is not None:
                        bar.update(1)
                    # processes agree on stopping at log steps only: the agreement is a collective that the
                    # host waits for, so doing it every step would stall each step's queued GPU work
                    stop = (self._agree(flag["stop"]) if step % loop.log_every == 0 or self.world_size == 1
                            else False)
                    clock.after_step(step)
                    if step % loop.sample_every == 0 or clock.first_sample_due():
                        self._sample(recipe, step)
                        clock.sampled = True
                    # a time-based checkpoint is decided at log steps, where every process takes part
                    due = step % loop.log_every == 0 and self._agree(clock.checkpoint_due())
                    if step % loop.checkpoint_every == 0 or step == loop.steps or stop or due:
                        clock.saved()
                        self._finite(step, losses)
                        self._save(recipe, ctx, emas, step)
                    if stop:
                        if bar is not None:
                            bar.close()
                        self.log(f"stopped at step {step}; continue with --resume {self.out}")
                        return recipe
                    if step >= loop.steps:
                        break
        if bar is not None:
            bar.close()
        if loop.steps % loop.sample_every:
            self._sample(recipe, step)
        if self.writer is not None:
            self.writer.close()
        summary = " ".join(f"{k} {v:.4g}" for k, v in last_losses.items())
        ran = f"{step} steps" if not first_step else f"step {step} ({step - first_step} steps from {first_step})"
        self.log(f"done: {ran} in {time.time() - started:.0f}s; {summary}; models in {self.out / 'models'}")
        return recipe

    def _describe(self, amp_dtype: torch.dtype | None) -> str:
        where = str(self.device)
        if self.world_size > 1:
            where += f" x {self.world_size} processes"
        if amp_dtype:
            return where + f", autocast {str(amp_dtype).removeprefix('torch.')}"
        native = cpu_bf16() if self.device.type == "cpu" and self.loop.amp == "auto" else None
        return where + (f", fp32 (auto; this CPU has {native}: --precision bf16 trains in bf16 autocast)"
                        if native else ", fp32")

    def _wrap(self, net: nn.Module) -> nn.Module:
        if self.world_size > 1 and any(p.requires_grad for p in net.parameters()):
            ids = [self.device.index] if self.device.type == "cuda" else None
            net = nn.parallel.DistributedDataParallel(net, device_ids=ids)
        if self.loop.compile:
            net = torch.compile(net, mode=self.loop.compile_mode)
        return net

    def _agree(self, local: bool) -> bool:
        """Every process stops at the same step if any of them was asked to."""
        if self.world_size == 1:
            return local
        flag = torch.tensor([1.0 if local else 0.0], device=self.device)
        dist.all_reduce(flag, op=dist.ReduceOp.MAX)
        return bool(flag.item())

    def _progress(self, step: int) -> Any:
        if not (self.is_main and self.loop.progress and sys.stderr.isatty()):
            return None
        from tqdm import tqdm

        return tqdm(total=self.loop.steps, initial=step, unit="step", dynamic_ncols=True)

    def _tensorboard(self) -> Any:
        if self.writer is None and self.loop.tensorboard and self.is_main:
            try:
                from torch.utils.tensorboard import SummaryWriter
            except ImportError as err:
                self.log(f"TensorBoard disabled ({err}); scalars still go to {self.out / 'log.jsonl'}")
                self.loop = dataclasses.replace(self.loop, tensorboard=False)
                return None
            self.writer = SummaryWriter(str(self.out / "tb"))
        return self.writer

    def _finite(self, step: int, losses: Mapping[str, Any]) -> dict[str, float]:
        """The losses as floats; TrainingDiverged if any is NaN or infinite (checked before every log line and
        every checkpoint, so a diverged state is never saved over the last good one)."""
        values = {k: float(v.detach()) if isinstance(v, torch.Tensor) else float(v) for k, v in losses.items()}
        bad = [k for k, v in values.items() if not math.isfinite(v)]
        # every process stops together: one left waiting in the next collective would hang the run
        if self._agree(bool(bad)):
            what = f"{', '.join(bad)} became {values[bad[0]]}" if bad else "another process's losses became NaN or inf"
            raise TrainingDiverged(
                f"{what} at step {step}; the last good checkpoint is in {self.out}; "
                "try a lower learning rate or --amp off"
            )
        return values

    def _trim_log(self, step: int) -> None:
        """Drop log lines past `step`, the resumed checkpoint: a run stopped between checkpoints logged steps
        that the resumed run logs again."""
        log = self.out / "log.jsonl"
        if not log.is_file():
            return
        def logged_by_now(line: str) -> bool:
            try:
                return json.loads(line)["step"] <= step
            except (ValueError, KeyError, TypeError):  # a line cut short by a kill
                return False

        lines = log.read_text().splitlines(keepends=True)
        kept = [line for line in lines if logged_by_now(line)]
        if len(kept) < len(lines):
            atomic_write(log, lambda tmp: tmp.write_text("".join(kept)))

    def _log_step(self, step: int, losses: Mapping[str, Any], factor: float, started: float, bar: Any) -> dict:
        values = self._finite(step, losses)
        if not self.is_main:
            return values
        record = {"step": step, **values, "lr_factor": factor, "seconds": round(time.time() - started, 2)}
        with open(self.out / "log.jsonl", "a") as f:
            f.write(json.dumps(record) + "\n")
        writer = self._tensorboard()
        if writer is not None:
            for k, v in values.items():
                writer.add_scalar(f"loss/{k}", v, step)
        if bar is not None:
            bar.set_postfix({k: f"{v:.3g}" for k, v in values.items()}, refresh=False)
        elif not sys.stderr.isatty() and self.loop.progress:
            self.log(f"step {step}/{self.loop.steps} " + " ".join(f"{k} {v:.4g}" for k, v in values.items()))
        return values

    def _sample(self, recipe: Recipe, step: int) -> None:
        if not self.is_main:
            return
        from torchvision.utils import make_grid

        from translate.training.grid_labels import label_grid

        # Sampling must not disturb the training RNG streams, or a resumed run would diverge.
        devices = [self.device.index or 0] if self.device.type == "cuda" else []
        with torch.random.fork_rng(devices=devices), torch.no_grad():
            grid = recipe.sample_grid().float().cpu()
        columns = recipe.sample_columns or max(1, int(math.sqrt(grid.shape[0]) + 0.5))
        image = make_grid(grid, nrow=columns, padding=2, pad_value=1.0)
        labelled = label_grid(image.permute(1, 2, 0).numpy(), tuple(grid.shape[-2:]), columns,
                              recipe.sample_column_labels, recipe.sample_row_labels())
        write_image(self.out / "samples" / f"step_{step:07d}.png", labelled)
        writer = self._tensorboard()
        if writer is not None:
            writer.add_image("samples", image, step)

    def _write_config(self) -> None:
        config = {"recipe": self.recipe_cls.name, "loop": to_dict(self.loop),
                  self.recipe_cls.name: to_dict(self.recipe_config)}
        text = json.dumps(config, indent=2) + "\n"
        atomic_write(self.out / CONFIG_FILE, lambda tmp: tmp.write_text(text))

    def _save(self, recipe: Recipe, ctx: TrainContext, emas: dict[str, EMA], step: int) -> None:
        rng = rng_state()
        if self.world_size > 1:
            gathered: list[Any] = [None] * self.world_size
            dist.all_gather_object(gathered, rng)
        else:
            gathered = [rng]
        if not self.is_main:
            return
        state = {
            "recipe": recipe.name,
            "step": step,
            "world_size": self.world_size,
            "nets": {name: net.state_dict() for name, net in recipe.nets.items()},
            "ema": {name: e.average.state_dict() for name, e in emas.items()},
            "optimizers": {name: opt.state_dict() for name, opt in recipe.optimizers.items()},
            "scalers": {name: s.state_dict() for name, s in ctx.scalers.items()},
            "recipe_state": recipe.state_dict(),
            "rng": gathered,
        }
        # the state first: a kill between the two writes then leaves models/ behind the checkpoint, never ahead
        save_state(self.out / STATE_FILE, state)
        for stem, (net, spec) in recipe.model_files().items():
            save_model(self.out / "models" / f"{stem}.safetensors", net,
                       dataclasses.replace(spec, recipe=recipe.name, step=step))

    def _load(self, recipe: Recipe, ctx: TrainContext, emas: dict[str, EMA]) -> int:
        try:
            return self._load_state(recipe, ctx, emas)
        except (KeyError, RuntimeError, ValueError) as err:
            problem = str(err).strip().splitlines()[0][:160] if str(err).strip() else type(err).__name__
            raise ConfigError(f"--resume {self.out}: the checkpoint does not fit the current settings ({problem}); "
                              "was a network, loss or optimiser flag changed?") from None

    def _load_state(self, recipe: Recipe, ctx: TrainContext, emas: dict[str, EMA]) -> int:
        state = load_state(self.out / STATE_FILE)
        for name, net in recipe.nets.items():
            net.load_state_dict(state["nets"][name])
        for name, ema in emas.items():
            if name in state["ema"]:
                ema.average.load_state_dict(state["ema"][name])
            else:
                self.log(f"no EMA of {name} in the checkpoint; starting it from the current weights")
                ema.average.load_state_dict(recipe.nets[name].state_dict())
        for name, opt in recipe.optimizers.items():
            configured = [group["base_lr"] for group in opt.param_groups]
            opt.load_state_dict(state["optimizers"][name])
            for group, lr in zip(opt.param_groups, configured):  # a resumed run may be given a new --lr
                group["base_lr"] = lr
        for name, scaler in ctx.scalers.items():
            scaler.load_state_dict(state["scalers"][name])
        recipe.load_state_dict(state["recipe_state"])
        rngs = state["rng"]
        if len(rngs) != self.world_size:
            self.log(f"resuming with {self.world_size} processes after {len(rngs)}: random streams restart")
        if self.rank < len(rngs):
            set_rng_state(rngs[self.rank])
        else:
            seed_everything(self.loop.seed + self.rank + 7919 * state["step"])
        return int(state["step"])


FIRST_SAMPLE_MINUTES = 5.0
"""A run that has written no sample grid this long after starting writes one at the next step."""


class _Clock:
    """What the loop does by wall time: one line estimating the run's length once a few steps are timed, a first
    sample grid within minutes (the first scheduled one can be hours away on a CPU), and checkpoints every
    ``checkpoint_minutes``. None of it touches the training state, so runs stay exactly resumable."""

    def __init__(self, run: _Run) -> None:
        self.run = run
        self.started = self.last_save = time.time()
        self.timed_from: tuple[int, float] | None = None  # the first step is slow (allocation, warm-up): not timed
        self.estimated = self.sampled = False

    def after_step(self, step: int) -> None:
        now = time.time()
        if self.timed_from is None:
            self.timed_from = (step, now)
            return
        done, since = step - self.timed_from[0], now - self.timed_from[1]
        if self.estimated or not (done >= 3 or since >= 60):
            return
        self.estimated = True
        loop, per_step, out = self.run.loop, since / done, self.run.out
        first = "" if self.sampled else f"a first one within {FIRST_SAMPLE_MINUTES:.0f} min, then "
        every = f"every {loop.checkpoint_every} steps" + (
            f" and {loop.checkpoint_minutes:g} min" if loop.checkpoint_minutes else "")
        left = _duration(per_step * (loop.steps - step))
        self.run.log(f"about {per_step:.2g} s a step: step {loop.steps} in {left}; "
                     f"sample grids in {out / 'samples'} ({first}every {loop.sample_every} steps = "
                     f"{_duration(per_step * loop.sample_every)}); model files in {out / 'models'} with each "
                     f"checkpoint ({every})")

    def first_sample_due(self) -> bool:
        return not self.sampled and time.time() - self.started >= FIRST_SAMPLE_MINUTES * 60

    def checkpoint_due(self) -> bool:
        minutes = self.run.loop.checkpoint_minutes
        return minutes > 0 and time.time() - self.last_save >= minutes * 60

    def saved(self) -> None:
        self.last_save = time.time()


def _duration(seconds: float) -> str:
    """'45 s', '12 min', '3 h 20 min'."""
    if seconds < 90:
        return f"{seconds:.0f} s"
    minutes = round(seconds / 60)
    return f"{minutes} min" if minutes < 60 else f"{minutes // 60} h {minutes % 60:02d} min"
