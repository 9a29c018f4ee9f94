"""Pure token-budget math: scaling laws, repetition, compute, memory (REFERENCE.md §5).

Every function here is plain arithmetic over floats so tests pin it to the published numbers
(Chinchilla Table 3, Muennighoff's D'/U and the datablations examples, Narayanan et al.'s worked
training times, the Llama 3 405B run) and re-derive it from the definitions.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Iterable

DAY_SECONDS = 86400.0

# ---------------------------------------------------------------- sizes ("7B", "1.4T", 300e9)
_SUFFIX = {"": 1.0, "K": 1e3, "M": 1e6, "B": 1e9, "G": 1e9, "T": 1e12, "P": 1e15}
_SIZE_RE = re.compile(r"^\s*([+-]?[0-9]+(?:\.[0-9]*)?(?:[eE][+-]?[0-9]+)?)\s*([kKmMbBgGtTpP]?)\s*$")


def parse_size(text: str | int | float) -> float:
    """'1.4T' -> 1.4e12, '125M' -> 1.25e8, '300e9' / 7000 -> as is. Raises ValueError on junk.

    Negative numbers and unknown suffixes (``7X``) are rejected so a typo never becomes a plan.
    """
    if isinstance(text, bool):
        raise ValueError(f"not a size: {text!r}")
    if isinstance(text, (int, float)):
        value = float(text)
    else:
        match = _SIZE_RE.match(str(text))
        if not match:
            raise ValueError(f"cannot parse size {text!r}: expected a number with an optional "
                             f"suffix K, M, B, T (e.g. 125M, 7B, 1.4T, 300000000)")
        value = float(match.group(1)) * _SUFFIX[match.group(2).upper()]
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f"size must be a positive number, got {text!r}")
    return value


def format_count(value: float | None, digits: int = 3) -> str:
    """1.43e12 -> '1.43T' (for tokens and parameters)."""
    if value is None:
        return "n/a"
    for suffix, scale in (("T", 1e12), ("B", 1e9), ("M", 1e6), ("K", 1e3)):
        if abs(value) >= scale:
            return f"{value / scale:.{digits}g}{suffix}"
    return f"{value:.{digits}g}"


# ---------------------------------------------------------------- Chinchilla (Hoffmann et al. 2022)
GOPHER_FLOPS = 5.76e23  # Table 3, the 67B row: one "Gopher unit" of training compute
CHINCHILLA_TABLE3 = (  # params, FLOPs, tokens (Hoffmann et al. 2022, Table 3, Approach 1)
    (400e6, 1.92e19, 8.0e9),
    (1e9, 1.21e20, 20.2e9),
    (10e9, 1.23e22, 205.1e9),
    (67e9, 5.76e23, 1.5e12),
    (175e9, 3.85e24, 3.7e12),
    (280e9, 9.90e24, 5.9e12),
    (520e9, 3.43e25, 11.0e12),
    (1e12, 1.27e26, 21.2e12),
    (10e12, 1.30e28, 216.2e12),
)
# Approach 1's power law N_opt = G * C^a with D_opt = C / (6 N_opt). The paper prints a = 0.50
# (rounded); these are the unrounded values implied by Table 3, from a least-squares fit of
# log N on log C over its rows except the 67B one (see fit_table3(); the test re-derives them).
# The 67B (Gopher) row is the compute-first row: its FLOPs are Gopher's budget and its "1.5T"
# tokens contradict C = 6ND by 4.7 % (5.76e23 / (6 * 67e9) = 1.43T), while every other row
# satisfies C = 6ND to 0.3 %; so it is checked in the C -> N direction instead.
CHINCHILLA_A = 0.4980916
CHINCHILLA_G = 0.09934867


def fit_table3() -> tuple[float, float]:
    """Least-squares fit of log N = log G + a log C over Table 3 (minus the 67B row) -> (a, G)."""
    rows = [row for row in CHINCHILLA_TABLE3 if row[0] != 67e9]
    xs = [math.log(c) for _, c, _ in rows]
    ys = [math.log(n) for n, _, _ in rows]
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    a = sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sum((x - mx) ** 2 for x in xs)
    return a, math.exp(my - a * mx)


def chinchilla_params(flops: float) -> float:
    """Compute-optimal model size for a FLOP budget: N_opt = G * C^a."""
    return CHINCHILLA_G * flops ** CHINCHILLA_A


def chinchilla_compute(params: float) -> float:
    """Compute-optimal training FLOPs for a model of ``params`` (inverse of N_opt = G C^a)."""
    return (params / CHINCHILLA_G) ** (1.0 / CHINCHILLA_A)


def chinchilla_tokens(params: float) -> float:
    """Compute-optimal training tokens D_opt = C_opt / (6 N) (Approach 1, Table 3)."""
    return chinchilla_compute(params) / (6.0 * params)


def chinchilla_params_for_tokens(tokens: float) -> float:
    """The model whose Approach-1 compute-optimal token count is ``tokens`` (inverse of
    chinchilla_tokens): D = (N/G)^(1/a) / (6N)  =>  N = (6 D G^(1/a))^(a / (1 - a))."""
    a, g = CHINCHILLA_A, CHINCHILLA_G
    return (6.0 * tokens * g ** (1.0 / a)) ** (a / (1.0 - a))


TOKENS_PER_PARAM_RULE = 20.0  # the common reading of Table 3 (70B params x 20 = 1.4T tokens)


@dataclass(frozen=True)
class ParametricFit:
    """L(N, D) = E + A/N^alpha + B/D^beta with C = 6ND; its compute-optimal frontier is
    N = G (C/6)^a, D = (C/6)^b / G, a = beta/(alpha+beta), b = alpha/(alpha+beta),
    G = (alpha A / (beta B))^(1/(alpha+beta)) (Hoffmann et al. 2022, eq. 4)."""

    key: str
    label: str
    source: str
    E: float
    A: float
    B: float
    alpha: float
    beta: float

    @property
    def G(self) -> float:  # noqa: N802 - the paper's symbol
        return (self.alpha * self.A / (self.beta * self.B)) ** (1.0 / (self.alpha + self.beta))

    @property
    def a(self) -> float:
        return self.beta / (self.alpha + self.beta)

    def loss(self, params: float, tokens: float) -> float:
        return self.E + self.A / params ** self.alpha + self.B / tokens ** self.beta

    def params_for_compute(self, flops: float) -> float:
        return self.G * (flops / 6.0) ** self.a

    def tokens_for_params(self, params: float) -> float:
        half = (params / self.G) ** (1.0 / self.a)  # C/6 on the frontier
        return half / params

    def params_for_tokens(self, tokens: float) -> float:
        half = (tokens * self.G) ** (1.0 / (1.0 - self.a))  # D = (C/6)^b / G
        return half / tokens


@dataclass(frozen=True)
class Approach1Fit:
    """Hoffmann et al.'s Approach 1 as a power law fitted to Table 3 (see CHINCHILLA_A/G)."""

    key: str = "approach1"
    label: str = "Chinchilla Approach 1"
    source: str = ("Hoffmann et al. 2022 (arXiv 2203.15556), Approach 1: N_opt = G C^a fitted "
                   "to Table 3 (a = 0.49809, G = 0.099349), D = C / (6N)")

    def params_for_compute(self, flops: float) -> float:
        return chinchilla_params(flops)

    def tokens_for_params(self, params: float) -> float:
        return chinchilla_tokens(params)

    def params_for_tokens(self, tokens: float) -> float:
        return chinchilla_params_for_tokens(tokens)


APPROACH1 = Approach1Fit()
# Approach 3 with the parameters printed in the paper (rounded; Besiroglu et al. show the TeX
# source's unrounded values differ: alpha 0.3392, beta 0.2849, E 1.6934).
APPROACH3 = ParametricFit(
    key="approach3", label="Chinchilla Approach 3 (as printed)",
    source="Hoffmann et al. 2022, eq. 10: E=1.69, A=406.4, B=410.7, alpha=0.34, beta=0.28",
    E=1.69, A=406.4, B=410.7, alpha=0.34, beta=0.28)
EPOCH_AI = ParametricFit(
    key="epoch_ai", label="Epoch AI refit of Approach 3",
    source="Besiroglu et al. 2024 (arXiv 2404.10102): E=1.8172, A=482.01, B=2085.43, "
           "alpha=0.3478, beta=0.3658 (fitted to Hoffmann's Figure 4 data; agrees with "
           "Approach 1: ~20 tokens/param)",
    E=1.8172, A=482.01, B=2085.43, alpha=0.3478, beta=0.3658)
FITS: dict[str, Approach1Fit | ParametricFit] = {
    APPROACH1.key: APPROACH1, APPROACH3.key: APPROACH3, EPOCH_AI.key: EPOCH_AI}


# ---------------------------------------------------------------- Kaplan et al. 2020
def kaplan_min_tokens(params: float) -> float:
    """Tokens needed to avoid overfitting: D >~ 5e3 * N^0.74 (Kaplan et al. 2020, eq. 4.4),
    N = non-embedding parameters (see non_embedding_params)."""
    return 5e3 * params ** 0.74


# Published (total parameters, d_model) pairs; d_model for other sizes is interpolated in
# log-log between neighbours (and extrapolated along d ∝ N^(1/3), constant aspect ratio).
D_MODEL_TABLE = (
    (125e6, 768, "GPT-3 Small (Brown et al. 2020, Table 2.1)"),
    (350e6, 1024, "GPT-3 Medium"),
    (760e6, 1536, "GPT-3 Large"),
    (1.3e9, 2048, "GPT-3 XL"),
    (2.7e9, 2560, "GPT-3 2.7B"),
    (6.7e9, 4096, "GPT-3 6.7B"),
    (13e9, 5140, "GPT-3 13B"),
    (70e9, 8192, "Chinchilla (Hoffmann et al. 2022, Table 4)"),
    (175e9, 12288, "GPT-3 175B"),
    (280e9, 16384, "Gopher (Rae et al. 2021, Table 1)"),
)
DEFAULT_VOCAB = 32000  # Llama / Llama 2 tokenizer; used only when no tokenizer ran and none given


def d_model_for_params(params: float) -> tuple[float, bool]:
    """(d_model, extrapolated) for a model of ``params`` total parameters, from D_MODEL_TABLE."""
    table = D_MODEL_TABLE
    if params <= table[0][0]:
        return table[0][1] * (params / table[0][0]) ** (1 / 3), params < table[0][0]
    if params >= table[-1][0]:
        return table[-1][1] * (params / table[-1][0]) ** (1 / 3), params > table[-1][0]
    for (n0, d0, _), (n1, d1, _) in zip(table, table[1:]):
        if n0 <= params <= n1:
            t = math.log(params / n0) / math.log(n1 / n0)
            return math.exp(math.log(d0) + t * math.log(d1 / d0)), False
    raise AssertionError("unreachable")


def non_embedding_params(params: float, vocab: int) -> tuple[float | None, float, bool]:
    """(non-embedding N, d_model, extrapolated): N - vocab x d_model (one tied embedding
    matrix, as in the GPT-2/3 models Kaplan et al. trained; untied input/output matrices would
    remove 2 x vocab x d_model). None when the embeddings alone would exceed ``params``."""
    d_model, extrapolated = d_model_for_params(params)
    rest = params - vocab * d_model
    return (rest if rest > 0 else None), d_model, extrapolated


# ---------------------------------------------------------------- Muennighoff et al. 2023
R_STAR_D = 15.387756  # repeated-data decay constant (huggingface/datablations fit)
R_STAR_N = 5.309743   # excess-parameter decay constant (same fit)
MUENNIGHOFF_LOSS = {"A": math.exp(6.255414), "B": math.exp(7.3049974), "E": math.exp(0.6254804),
                    "alpha": 0.3526596, "beta": 0.3526596}
DATA_CONSTRAINED_SOURCE = ("Muennighoff et al. 2023 (arXiv 2305.16264), huggingface/datablations "
                           "fit: decay constants 15.387756 (data) and 5.309743 (parameters), "
                           "alpha = beta = 0.3526596")


def effective_data(unique: float, epochs: float) -> float:
    """D' = U + U R*_D (1 - exp(-R_D / R*_D)), R_D = epochs - 1 repeats (epochs <= 1: no repeat)."""
    repeats = max(epochs - 1.0, 0.0)
    return unique + unique * R_STAR_D * (1.0 - math.exp(-repeats / R_STAR_D))


def muennighoff_loss(params: float, tokens: float) -> float:
    """The data-constrained law's loss at N parameters and D effective tokens."""
    c = MUENNIGHOFF_LOSS
    return c["E"] + c["A"] / params ** c["alpha"] + c["B"] / tokens ** c["beta"]


def _dc_g() -> float:
    c = MUENNIGHOFF_LOSS
    return ((c["alpha"] * c["A"]) / (c["beta"] * c["B"])) ** (1.0 / (c["alpha"] + c["beta"]))


def dc_unique_params(unique: float) -> float:
    """U_N: the compute-optimal parameter count for U unique tokens under the law's own fit
    (datablations' D_to_N: (U G)^(beta/alpha) G)."""
    c = MUENNIGHOFF_LOSS
    g = _dc_g()
    return (unique * g) ** (c["beta"] / c["alpha"]) * g


def effective_params(params: float, unique: float) -> float:
    """N' = U_N + U_N R*_N (1 - exp(-R_N / R*_N)), U_N = min(N, D_to_N(U)), R_N = N / U_N - 1."""
    u_n = min(params, dc_unique_params(unique))
    repeats = max(params / u_n - 1.0, 0.0)
    return u_n + u_n * R_STAR_N * (1.0 - math.exp(-repeats / R_STAR_N))


def data_constrained_loss(params: float, tokens: float, unique: float) -> float:
    """L(N, D, U) of Muennighoff et al. (datablations' ``scaling_law``): D tokens drawn from
    U unique ones (U is capped at D: a run cannot see more unique tokens than it trains on)."""
    unique = min(unique, tokens)
    d_eff = effective_data(unique, tokens / unique)
    return muennighoff_loss(effective_params(params, unique), d_eff)


def repetition_penalty(params: float, needed: float, unique: float) -> dict[str, float]:
    """Predicted loss training on ``needed`` tokens drawn from ``unique`` (repeated) vs all
    unique, under the data-constrained law (effective data and effective parameters)."""
    epochs = needed / unique
    seen = min(unique, needed)
    d_eff = effective_data(seen, needed / seen)
    loss_unique = data_constrained_loss(params, needed, needed)
    loss_repeat = data_constrained_loss(params, needed, unique)
    return {"epochs": epochs, "effective_tokens": d_eff, "effective_fraction": d_eff / needed,
            "effective_params": effective_params(params, seen),
            "loss_unique": loss_unique, "loss_repeated": loss_repeat,
            "loss_penalty": loss_repeat - loss_unique,
            "loss_penalty_pct": 100.0 * (loss_repeat - loss_unique) / loss_unique}


def _golden_min(fn, lo: float, hi: float, iterations: int = 100) -> float:
    """Argmin of a unimodal function on [lo, hi] (golden-section search; deterministic)."""
    ratio = (math.sqrt(5.0) - 1.0) / 2.0
    a, b = lo, hi
    c, d = b - ratio * (b - a), a + ratio * (b - a)
    fc, fd = fn(c), fn(d)
    for _ in range(iterations):
        if fc <= fd:
            b, d, fd = d, c, fc
            c = b - ratio * (b - a)
            fc = fn(c)
        else:
            a, c, fc = c, d, fd
            d = a + ratio * (b - a)
            fd = fn(d)
    return (a + b) / 2.0


def data_constrained_optimum(flops: float, unique: float | None) -> dict[str, float]:
    """Compute-optimal (N, D) for a budget of ``flops`` = 6ND model FLOPs when only ``unique``
    tokens exist (None: unlimited), minimising the data-constrained loss over log N: a grid over
    six decades around the unconstrained optimum, then golden-section search around the best
    grid point (datablations itself uses a grid search)."""
    def loss_at(log_n: float) -> float:
        n = math.exp(log_n)
        d = flops / (6.0 * n)
        return data_constrained_loss(n, d, d if unique is None else unique)

    g = _dc_g()
    centre = math.log(g * math.sqrt(flops / 6.0))  # alpha = beta: N = G (C/6)^(1/2)
    grid = [centre - 6.9 + 13.8 * i / 240 for i in range(241)]
    values = [loss_at(x) for x in grid]
    best = min(range(len(grid)), key=lambda i: (values[i], i))
    lo, hi = grid[max(best - 1, 0)], grid[min(best + 1, len(grid) - 1)]
    log_n = _golden_min(loss_at, lo, hi)
    params = math.exp(log_n)
    tokens = flops / (6.0 * params)
    return {"params": params, "tokens": tokens, "loss": loss_at(log_n),
            "epochs": tokens / unique if unique else None}


VERDICTS = (  # (max epochs, verdict, source)
    (1.0, "fine: enough unique data",
     "epochs ≤ 1: every token is seen once (Hoffmann et al. 2022 train on unique data)"),
    (4.0, "repeat ≤ 4 epochs: negligible loss",
     "Muennighoff et al. 2023: 'up to 4 epochs of repeated data yields negligible changes to "
     "loss compared to unique data'"),
    (16.0, "4-16 epochs: diminishing returns",
     "Muennighoff et al. 2023: repeated tokens decay with the constant 15.4; D'/U = 10.6 at 16 "
     "epochs"),
    (math.inf, "> 16 epochs: get more data",
     "Muennighoff et al. 2023: D'/U → 16.4 at most; at 40 epochs 15.2 (repeats add ≈ nothing)"),
)
EPOCH_BANDS = (1.0, 4.0, 16.0)  # Muennighoff's bands: unique, negligible, diminishing


def verdict(epochs: float) -> tuple[str, str]:
    """(verdict, source) for a number of epochs."""
    for limit, text, source in VERDICTS:
        if epochs <= limit:
            return text, source
    raise AssertionError("unreachable")


# ---------------------------------------------------------------- ranges the fits were measured on
@dataclass(frozen=True)
class FitRange:
    law: str
    params: tuple[float, float] | None
    tokens: tuple[float, float] | None
    epochs: float | None
    what: str


FIT_RANGES = {
    "chinchilla": FitRange("Chinchilla (Hoffmann et al. 2022; also Epoch AI's refit of the same data)",
                           (70e6, 16e9), (5e9, 500e9), None,
                           "over 400 models of 70M to 16B parameters on 5B to 500B tokens"),
    "kaplan": FitRange("Kaplan et al. 2020 overfitting bound", (768, 1.5e9), (22e6, 23e9), None,
                       "768 to 1.5B non-embedding parameters, 22M to 23B tokens"),
    "data_constrained": FitRange("Muennighoff et al. 2023 data-constrained law", (10e6, 9e9),
                                 (0.0, 900e9), 1500.0,
                                 "400 runs of 10M to 9B parameters, up to 900B training tokens "
                                 "and up to 1,500 epochs"),
}


def range_warnings(law: str, params: Iterable[float] = (), tokens: Iterable[float] = (),
                   epochs: Iterable[float] = ()) -> list[str]:
    """One sentence for ``law`` naming every input outside the range it was measured on, and
    what that range is (empty when everything is inside)."""
    spec = FIT_RANGES[law]
    parts: list[str] = []

    def check(values: Iterable[float], bounds: tuple[float, float] | None, what: str) -> None:
        if bounds is None:
            return
        outside = sorted({v for v in values if v is not None and not bounds[0] <= v <= bounds[1]})
        if outside:
            shown = ", ".join(format_count(v) for v in outside[:6])
            parts.append(f"{what} {shown}")

    check(params, spec.params, "parameters")
    check(tokens, spec.tokens, "training tokens")
    if spec.epochs is not None:
        big = sorted({e for e in epochs if e is not None and e > spec.epochs})
        if big:
            parts.append(f"{format_epochs(big[-1])} epochs")
    if not parts:
        return []
    return [f"{spec.law} was measured on {spec.what}; outside that: {'; '.join(parts)}. "
            f"Figures there are extrapolations."]


def format_decimal(value: float, digits: int = 3) -> str:
    """A number with ``digits`` significant digits and never an exponent: 0.0000015, 2.02,
    14.3, 19,200, 143,000,000,000 (magnitudes below 1e-9 print as 0)."""
    if value == 0 or not math.isfinite(value) or abs(value) < 1e-9:
        return "0" if math.isfinite(value) else "n/a"
    magnitude = math.floor(math.log10(abs(value)))
    if magnitude >= digits - 1:
        return f"{float(f'{value:.{digits}g}'):,.0f}"
    places = digits - 1 - magnitude
    text = f"{value:.{places}f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def format_epochs(epochs: float | None) -> str:
    """Epochs without scientific notation: 0.25, 2.02, 14.3, 19,200, 143,000,000,000."""
    if epochs is None:
        return "n/a"
    return format_decimal(epochs)


# ---------------------------------------------------------------- compute and time
@dataclass(frozen=True)
class Gpu:
    peak_flops: float   # dense (no 2:4 sparsity) bf16, V100 fp16
    memory_bytes: float
    source: str


GPUS = {
    "a100": Gpu(312e12, 80e9, "NVIDIA A100 datasheet: 312 TFLOP/s BF16 dense (624 with sparsity), "
                              "80 GB"),
    "h100": Gpu(989e12, 80e9, "NVIDIA H100 SXM datasheet: 989 TFLOP/s BF16 dense (1,979 with "
                              "sparsity), 80 GB"),
    "h200": Gpu(989e12, 141e9, "NVIDIA H200 SXM datasheet: 989 TFLOP/s BF16 dense, 141 GB"),
    "b200": Gpu(2.25e15, 180e9, "NVIDIA HGX B200 (1,000 W): 4.5 PFLOP/s BF16 with 2:4 sparsity, "
                                "2.25 dense; 1,440 GB per 8 GPUs = 180 GB each"),
    "mi300x": Gpu(1307.4e12, 192e9, "AMD Instinct MI300X data sheet: 1,307.4 TFLOP/s BF16 dense "
                                    "(2,614.9 with sparsity), 192 GB HBM3"),
    "a10": Gpu(125e12, 24e9, "NVIDIA A10 datasheet: 125 TFLOP/s BF16 dense, 24 GB"),
    "a10g": Gpu(70e12, 24e9, "AWS A10G: ≈ 70 TFLOP/s BF16 dense (REFERENCE.md §5), 24 GB"),
    "v100": Gpu(125e12, 32e9, "NVIDIA V100 SXM2: 125 TFLOP/s FP16 tensor (no bf16), 32 GB"),
}
GPU_PEAK_FLOPS = {name: gpu.peak_flops for name, gpu in GPUS.items()}
GPU_MEMORY_BYTES = {name: gpu.memory_bytes for name, gpu in GPUS.items()}


def train_flops(params: float, tokens: float, recompute: bool = False) -> float:
    """6ND (forward + backward), 8ND with activation recomputation (an extra forward)."""
    return (8.0 if recompute else 6.0) * params * tokens


def flops_per_param_token(kind: str, recompute: bool) -> float:
    """The k in time = k N D / (GPUs x peak x utilisation) for a stated utilisation.

    MFU is defined on the model's 6ND FLOPs whatever the implementation does (PaLM, Chowdhery
    et al. 2022, App. B: MFU excludes rematerialisation); HFU counts the FLOPs the hardware
    executes, 8ND when activations are recomputed (Narayanan et al. 2021) and 6ND otherwise."""
    if kind == "mfu":
        return 6.0
    if kind == "hfu":
        return 8.0 if recompute else 6.0
    raise ValueError(f"utilisation kind must be 'mfu' or 'hfu', got {kind!r}")


def train_seconds(params: float, tokens: float, gpus: int, peak_flops: float,
                  utilisation: float, kind: str = "mfu", recompute: bool = False) -> float:
    """time = k N D / (GPUs x peak x utilisation), k from flops_per_param_token(kind, recompute)."""
    if gpus <= 0 or peak_flops <= 0 or not 0 < utilisation <= 1:
        raise ValueError("gpus, peak FLOP/s must be positive and 0 < utilisation <= 1")
    k = flops_per_param_token(kind, recompute)
    return k * params * tokens / (gpus * peak_flops * utilisation)


def model_flops_for_time(seconds: float, gpus: int, peak_flops: float, utilisation: float,
                         kind: str = "mfu", recompute: bool = False) -> float:
    """The 6ND model FLOPs a cluster delivers in ``seconds`` (inverse of train_seconds)."""
    k = flops_per_param_token(kind, recompute)
    return gpus * peak_flops * utilisation * seconds * 6.0 / k


def gopher_units(flops: float) -> float:
    return flops / GOPHER_FLOPS


@dataclass(frozen=True)
class Memory:
    """Training-state memory (weights, grads, Adam moments); activations are extra."""

    bytes_16: float
    bytes_18: float
    bytes_20: float


def train_memory(params: float) -> Memory:
    """16 B/param (ZeRO paper: 2+2+4+4+4), 18-20 with fp32 gradient copies."""
    return Memory(16.0 * params, 18.0 * params, 20.0 * params)
