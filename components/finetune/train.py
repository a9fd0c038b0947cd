"""The training loop: plain PyTorch, one process per worker, DDP when there are several.

`train_worker(job)` is what every worker runs, whether called in-process (one worker) or by
`python -m torch.distributed.run` (several; see `components.finetune.worker`). Worker rank 0
logs progress, evaluates into the shared history, writes checkpoints and saves the final model.

Reproducibility and resuming: the head's initial weights come from `seed`; each epoch's batch
order comes from (seed, epoch); dropout is reseeded from (seed, step, rank) before every step.
A checkpoint therefore only needs the weights, optimizer, scheduler and the position in the
epoch for a resumed run to continue exactly where the interrupted one was.
"""

import contextlib
import json
import math
import os
import signal
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from transformers import AutoModelForSequenceClassification, AutoTokenizer
from transformers.optimization import get_linear_schedule_with_warmup

from components.common.errors import KfpNlpError
from components.common.inference import autocast_dtype
from components.common.metrics import macro_f1
from components.common.splits import read_split
from components.finetune.checkpoint import CheckpointStore
from components.finetune.config import FinetuneConfig
from components.finetune.data import (
    Encoded,
    encode,
    epoch_batches,
    eval_batches,
    targets,
)

SIGTERM_EXIT = 128 + signal.SIGTERM
_EVAL_BATCH = 128


@dataclass
class Job:
    """Everything a worker needs, as plain values (it travels to workers as JSON)."""

    config: dict[str, Any]
    base_model_dir: str
    train_path: str
    validation_path: str
    labels: list[str]
    multi_label: bool
    fingerprint: dict[str, Any]
    output_dir: str
    result_path: str

    def write(self, path: Path) -> None:
        path.write_text(json.dumps(asdict(self)))

    @classmethod
    def read(cls, path: Path) -> "Job":
        return cls(**json.loads(path.read_text()))


@dataclass
class Progress:
    """Where training stands; saved in every checkpoint."""

    step: int = 0
    epoch: int = 0
    batch_pos: int = 0
    best_metric: float | None = None
    best_step: int = 0
    bad_evals: int = 0
    done: bool = False
    stopped_early: bool = False
    loss_sum: float = 0.0
    loss_count: int = 0
    train_seconds: float = 0.0
    train_samples: int = 0
    train_tokens: int = 0
    history: list | None = None


class _Stop:
    """Set by SIGTERM; checked between optimizer steps."""

    requested = False

    @classmethod
    def handler(cls, signum: int, frame: object) -> None:
        cls.requested = True


def _log(rank: int, message: str) -> None:
    if rank == 0:
        print(f"[finetune] {message}", flush=True)


def _precision(config: FinetuneConfig, device: torch.device) -> torch.dtype | None:
    if device.type == "cuda" and config.precision == "auto":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return autocast_dtype(config.precision)


def _verified_precision(model, sample: dict, dtype, device, rank: int) -> torch.dtype | None:
    """`dtype` if a forward pass under it runs and agrees with fp32; otherwise None (fp32)."""
    if dtype is None:
        return None
    inputs = {k: v.to(device) for k, v in sample.items() if k != "labels"}
    model.eval()
    try:
        with torch.no_grad():
            reference = model(**inputs).logits.float()
            with torch.autocast(device.type, dtype=dtype):
                low = model(**inputs).logits.float()
        ok = bool(torch.isfinite(low).all()) and float((low - reference).abs().max()) < 0.1
    except RuntimeError as exc:
        _log(rank, f"{dtype} autocast failed on this hardware ({exc}); training in fp32")
        return None
    finally:
        model.train()
    if not ok:
        _log(rank, f"{dtype} autocast disagrees with fp32 on this hardware; training in fp32")
        return None
    return dtype


def _loss(logits: torch.Tensor, labels: torch.Tensor, multi_label: bool) -> torch.Tensor:
    logits = logits.float()
    if multi_label:
        return torch.nn.functional.binary_cross_entropy_with_logits(logits, labels)
    return torch.nn.functional.cross_entropy(logits, labels)


def _metrics(logits: torch.Tensor, labels: torch.Tensor, multi_label: bool) -> dict[str, float]:
    """Validation loss, macro-F1 over every label of the model (one the validation split
    neither holds nor gets predicted scores 0) and (subset) accuracy."""
    loss = float(_loss(logits, labels, multi_label))
    if multi_label:
        predicted = (logits > 0).numpy().astype(int)
        truth = labels.numpy().astype(int)
        accuracy = float((predicted == truth).all(1).mean())
    else:
        predicted = logits.argmax(1).numpy()
        truth = labels.numpy()
        accuracy = float((predicted == truth).mean())
    f1 = macro_f1(truth, predicted, logits.shape[1], averaged="all")
    return {"val_loss": loss, "val_macro_f1": f1, "val_accuracy": accuracy}


@torch.no_grad()
def _evaluate(model, data: Encoded, dtype, device, multi_label: bool, rank: int, world: int):
    """Validation metrics; each worker scores a share of the batches, all get the result."""
    model.eval()
    mine = eval_batches(data.lengths, _EVAL_BATCH)[rank::world]
    index: list[int] = []
    parts: list[torch.Tensor] = []
    for batch_index in mine:
        batch = data.batch(batch_index)
        with torch.autocast(device.type, dtype=dtype or torch.bfloat16, enabled=dtype is not None):
            logits = model(
                input_ids=batch["input_ids"].to(device),
                attention_mask=batch["attention_mask"].to(device),
            ).logits
        index.extend(batch_index)
        parts.append(logits.float().cpu())
    local = (index, torch.cat(parts) if parts else None)
    gathered = [local]
    if world > 1:
        gathered = [None] * world
        dist.all_gather_object(gathered, local)
    all_index = [i for part in gathered for i in part[0]]
    all_logits = torch.cat([part[1] for part in gathered if part[1] is not None])
    logits = torch.empty_like(all_logits)
    logits[torch.tensor(all_index)] = all_logits
    model.train()
    return _metrics(logits, data.targets, multi_label)


def _better(metric: str, value: float, best: float | None) -> bool:
    if best is None:
        return True
    return value > best if metric == "macro_f1" else value < best


def _load_model(job: Job, config: FinetuneConfig):
    labels = job.labels
    # The classification head's initial weights come from the seed, so every run of the
    # same configuration (and every worker) starts from the same model.
    torch.manual_seed(config.seed)
    try:
        return AutoModelForSequenceClassification.from_pretrained(
            job.base_model_dir,
            num_labels=len(labels),
            id2label=dict(enumerate(labels)),
            label2id={label: i for i, label in enumerate(labels)},
            problem_type="multi_label_classification"
            if job.multi_label
            else "single_label_classification",
            local_files_only=True,
            use_safetensors=None if config.allow_pickle_weights else True,
            trust_remote_code=False,
            dtype=torch.float32,
        )
    except (OSError, ValueError, RuntimeError) as exc:
        reason = str(exc).splitlines()[0]
        raise KfpNlpError(f"cannot load the base model {job.base_model_dir} ({reason})") from exc


def _param_groups(model, weight_decay: float) -> list[dict]:
    decay, no_decay = [], []
    for name, param in model.named_parameters():
        if not param.requires_grad:
            continue
        (no_decay if param.ndim < 2 or "LayerNorm" in name else decay).append(param)
    return [
        {"params": decay, "weight_decay": weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]


def _clone_state(model) -> dict[str, torch.Tensor]:
    return {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}


def _cpu_budget() -> int:
    """CPUs this process may use: its affinity, capped by a cgroup v2 CPU limit (a pod's limit).

    More compute threads than that only fight over the quota; torch would otherwise start one
    per core of the whole node.
    """
    cpus = len(os.sched_getaffinity(0))
    with contextlib.suppress(OSError, ValueError):
        quota, period = Path("/sys/fs/cgroup/cpu.max").read_text().split()
        if quota != "max":
            cpus = min(cpus, max(1, int(quota) // int(period)))
    return cpus


def _format_eta(seconds: float) -> str:
    seconds = max(0, int(seconds))
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


class _Trainer:
    """One worker's training run (holds the model, optimizer, data and progress)."""

    def __init__(self, job: Job):
        self.job = job
        self.config = FinetuneConfig(**job.config)
        self.world = int(os.environ.get("WORLD_SIZE", "1"))
        self.rank = int(os.environ.get("RANK", "0"))
        local_rank = int(os.environ.get("LOCAL_RANK", "0"))
        if torch.cuda.is_available():
            self.device = torch.device("cuda", local_rank)
            torch.cuda.set_device(self.device)
        else:
            self.device = torch.device("cpu")
        if self.world > 1:
            dist.init_process_group("nccl" if self.device.type == "cuda" else "gloo")
            # torchrun sets OMP_NUM_THREADS=1; share this node's CPUs between its workers.
            local_world = int(os.environ.get("LOCAL_WORLD_SIZE", str(self.world)))
            torch.set_num_threads(max(1, _cpu_budget() // local_world))
        else:
            torch.set_num_threads(min(torch.get_num_threads(), _cpu_budget()))
        uri = self.config.checkpoint_uri
        self.store = CheckpointStore(uri) if uri else None

    def setup(self) -> None:
        config, job = self.config, self.job
        self.tokenizer = AutoTokenizer.from_pretrained(job.base_model_dir, local_files_only=True)
        train = read_split(Path(job.train_path), "train")
        validation = read_split(Path(job.validation_path), "validation")
        if config.max_train_samples:
            train.texts = train.texts[: config.max_train_samples]
            train.labels = train.labels[: config.max_train_samples]
        self.train = encode(
            train.texts, targets(train, job.labels), self.tokenizer, config.max_length
        )
        self.validation = encode(
            validation.texts, targets(validation, job.labels), self.tokenizer, config.max_length
        )
        model = _load_model(job, config).to(self.device)
        model.train()
        self.raw_model = model
        self.model = torch.nn.parallel.DistributedDataParallel(model) if self.world > 1 else model
        self.batches_per_epoch = len(self._epoch_batches(0))
        self.steps_per_epoch = math.ceil(
            self.batches_per_epoch / config.gradient_accumulation_steps
        )
        self.total_steps = config.max_steps or config.epochs * self.steps_per_epoch
        # The fused kernel updates all parameters in one pass (CPU and CUDA): several times
        # faster than the per-tensor loop for a model with ~100 small tensors.
        self.optimizer = torch.optim.AdamW(
            _param_groups(model, config.weight_decay), lr=config.learning_rate, fused=True
        )
        self.scheduler = get_linear_schedule_with_warmup(
            self.optimizer, int(config.warmup_ratio * self.total_steps), self.total_steps
        )
        sample = self.train.batch(list(range(min(8, len(self.train)))))
        self.dtype = _verified_precision(
            model, sample, _precision(config, self.device), self.device, self.rank
        )
        self.scaler = torch.amp.GradScaler(self.device.type, enabled=self.dtype == torch.float16)
        self.progress = Progress(history=[])
        self.best_weights: dict[str, torch.Tensor] | None = None

    def _epoch_batches(self, epoch: int) -> list[list[int]]:
        batches = epoch_batches(self.train.lengths, self.config.batch_size, self.config.seed, epoch)
        # Every worker needs at least one example of each batch (DDP steps together).
        return [b for b in batches if len(b) >= self.world]

    def resume(self) -> None:
        if self.store is None:
            return
        if self.rank == 0:
            self.store.clean_incomplete()
        marker = self.store.latest_marker()
        if marker is None:
            return
        state = self.store.load(marker)
        self.raw_model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.scaler.load_state_dict(state["scaler"])
        self.progress = Progress(**state["progress"])
        self.best_weights = state["best_weights"]
        if self.best_weights is None and self.progress.best_metric is not None:
            self.best_weights = _clone_state(self.raw_model)
        _log(
            self.rank,
            f"resumed from checkpoint at step {self.progress.step} "
            f"(epoch {self.progress.epoch + 1}, batch {self.progress.batch_pos})",
        )

    def save_checkpoint(self) -> None:
        if self.store is None or self.rank != 0:
            return
        p = self.progress
        state = {
            "model": self.raw_model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "scaler": self.scaler.state_dict(),
            "progress": asdict(p),
            # The current weights double as the best ones when the best is this step.
            "best_weights": None if p.best_step == p.step else self.best_weights,
        }
        started = time.perf_counter()
        self.store.save(state, {"step": p.step, "fingerprint": self.job.fingerprint})
        seconds = time.perf_counter() - started
        _log(self.rank, f"checkpoint at step {p.step} saved in {seconds:.1f}s")

    def _sync_flag(self, flag: bool) -> bool:
        if self.world == 1:
            return flag
        tensor = torch.tensor([int(flag)], device=self.device)
        dist.all_reduce(tensor, op=dist.ReduceOp.MAX)
        return bool(tensor.item())

    def _train_step(self, group: list[list[int]]) -> None:
        config, p = self.config, self.progress
        torch.manual_seed(config.seed * 7919 + p.step * 131 + self.rank)
        for i, global_batch in enumerate(group):
            batch = self.train.batch(global_batch[self.rank :: self.world])
            sync = i == len(group) - 1 or self.world == 1
            context = contextlib.nullcontext() if sync else self.model.no_sync()
            with context:
                with torch.autocast(
                    self.device.type,
                    dtype=self.dtype or torch.bfloat16,
                    enabled=self.dtype is not None,
                ):
                    logits = self.model(
                        input_ids=batch["input_ids"].to(self.device),
                        attention_mask=batch["attention_mask"].to(self.device),
                    ).logits
                loss = _loss(logits, batch["labels"].to(self.device), self.job.multi_label)
                self.scaler.scale(loss / len(group)).backward()
            p.loss_sum += float(loss.detach())
            p.loss_count += 1
            p.train_samples += len(global_batch)
            p.train_tokens += int(batch["attention_mask"].sum()) * self.world
        self.scaler.unscale_(self.optimizer)
        torch.nn.utils.clip_grad_norm_(self.model.parameters(), 1.0)
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.scheduler.step()
        self.optimizer.zero_grad(set_to_none=True)
        p.step += 1

    def _evaluate_now(self, epoch_fraction: float) -> None:
        config, p = self.config, self.progress
        # The plain module, not the DDP wrapper: workers score different numbers of batches,
        # and DDP's forward would broadcast buffers collectively on each call.
        metrics = _evaluate(
            self.raw_model,
            self.validation,
            self.dtype,
            self.device,
            self.job.multi_label,
            self.rank,
            self.world,
        )
        train_loss = p.loss_sum / max(1, p.loss_count)
        p.loss_sum, p.loss_count = 0.0, 0
        entry = {"step": p.step, "epoch": round(epoch_fraction, 3), "train_loss": train_loss}
        entry.update(metrics)
        p.history.append(entry)
        key = "val_macro_f1" if config.early_stopping_metric == "macro_f1" else "val_loss"
        value = metrics[key]
        if _better(config.early_stopping_metric, value, p.best_metric):
            p.best_metric, p.best_step, p.bad_evals = value, p.step, 0
            if self.rank == 0:
                self.best_weights = _clone_state(self.raw_model)
        else:
            p.bad_evals += 1
        _log(
            self.rank,
            f"eval step {p.step} epoch {epoch_fraction:.2f}: train_loss {train_loss:.4f} "
            f"val_loss {metrics['val_loss']:.4f} val_macro_f1 {metrics['val_macro_f1']:.4f} "
            f"val_accuracy {metrics['val_accuracy']:.4f} (best {p.best_metric:.4f} at step "
            f"{p.best_step})",
        )
        if config.early_stopping_patience and p.bad_evals >= config.early_stopping_patience:
            p.stopped_early = True
            _log(self.rank, f"early stopping: no improvement in {p.bad_evals} evaluations")

    def run(self) -> None:
        config, p = self.config, self.progress
        accum = config.gradient_accumulation_steps
        window_seconds, window_samples = 0.0, 0
        last_log_step = p.step
        while not p.done:
            batches = self._epoch_batches(p.epoch)
            while p.batch_pos < len(batches) and not p.done:
                group = batches[p.batch_pos : p.batch_pos + accum]
                started = time.perf_counter()
                self._train_step(group)
                elapsed = time.perf_counter() - started
                p.train_seconds += elapsed
                window_seconds += elapsed
                p.batch_pos += len(group)
                window_samples += sum(len(b) for b in group)
                epoch_end = p.batch_pos >= len(batches)
                last = p.step >= self.total_steps
                if p.step % config.log_steps == 0 or last:
                    self._log_progress(window_samples, window_seconds, p.step - last_log_step)
                    window_seconds, window_samples, last_log_step = 0.0, 0, p.step
                due = (config.eval_steps and p.step % config.eval_steps == 0) or (
                    not config.eval_steps and epoch_end
                )
                if due or last:
                    self._evaluate_now(p.epoch + p.batch_pos / len(batches))
                p.done = last or p.stopped_early
                if epoch_end and not p.done:
                    p.epoch, p.batch_pos = p.epoch + 1, 0
                if p.step % config.checkpoint_steps == 0 or p.done:
                    self.save_checkpoint()
                if self._sync_flag(_Stop.requested):
                    self._exit_on_sigterm()

    def _log_progress(self, samples: int, seconds: float, steps: int) -> None:
        """Step, loss, learning rate, samples/s over training time, and the ETA."""
        p = self.progress
        rate = samples / seconds if seconds > 0 else 0.0
        step_seconds = seconds / max(1, steps)
        lr = self.scheduler.get_last_lr()[0]
        loss = p.loss_sum / max(1, p.loss_count)
        _log(
            self.rank,
            f"step {p.step}/{self.total_steps} epoch {p.epoch + 1} loss {loss:.4f} lr {lr:.2e} "
            f"{rate:.1f} samples/s ETA {_format_eta(step_seconds * (self.total_steps - p.step))}",
        )

    def _exit_on_sigterm(self) -> None:
        if self.store is not None:
            self.save_checkpoint()
            _log(self.rank, f"SIGTERM: saved step {self.progress.step}; run again to resume")
        else:
            _log(self.rank, "SIGTERM: no checkpoint location set, so this progress is lost")
        if self.world > 1:
            dist.barrier()
            dist.destroy_process_group()
        raise SystemExit(SIGTERM_EXIT)

    def finish(self) -> None:
        """Rank 0 saves the best weights as the model and writes the run's result."""
        p = self.progress
        if self.rank == 0:
            if p.best_step != p.step and self.best_weights is not None:
                self.raw_model.load_state_dict(self.best_weights)
            out = Path(self.job.output_dir)
            self.raw_model.save_pretrained(out, safe_serialization=True)
            self.tokenizer.save_pretrained(out)
            result = {
                "history": p.history,
                "best_step": p.best_step,
                "best_metric": p.best_metric,
                "steps": p.step,
                "stopped_early": p.stopped_early,
                "precision": str(self.dtype).replace("torch.", "") if self.dtype else "float32",
                "train_seconds": p.train_seconds,
                "train_samples": p.train_samples,
                "train_tokens": p.train_tokens,
                "workers": self.world,
                "device": self.device.type,
            }
            Path(self.job.result_path).write_text(json.dumps(result))
        if self.world > 1:
            dist.barrier()
            dist.destroy_process_group()


def train_worker(job: Job) -> None:
    """Run one worker of the training job described by `job` (rank from the environment)."""
    with contextlib.suppress(ValueError):  # signal handlers can only be set in the main thread
        signal.signal(signal.SIGTERM, _Stop.handler)
    trainer = _Trainer(job)
    trainer.setup()
    trainer.resume()
    _log(
        trainer.rank,
        f"training {len(trainer.train)} examples, {trainer.total_steps} steps, "
        f"{trainer.world} worker(s) on {trainer.device.type}, precision "
        f"{trainer.dtype or torch.float32}".replace("torch.", ""),
    )
    trainer.run()
    trainer.finish()
