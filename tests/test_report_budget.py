"""The budget numbers recomputed from their definitions, without the code's own helpers.

Each expected value below is written out from the formula its label names (REFERENCE.md §5,
the datablations README, PaLM's MFU definition, Narayanan et al.'s HFU with recomputation), so
a mistake in pipeline/report/formulas.py cannot also be in the expectation. Several model sizes,
MFU and HFU (with and without recomputation), and the inverse questions.
"""
from __future__ import annotations

import math

import pytest

from pipeline.report.budget import budget_section, build_report, planning_section, plan_report
from pipeline.report.config import ReportConfig
from tests.report_fixtures import fixed_summary

DAY = 86400.0
# Approach 1 as fitted to Chinchilla Table 3 (the test in test_report.py re-derives these).
A1_A, A1_G = 0.4980916, 0.09934867
# Muennighoff et al. 2023, datablations README "Parametric Fit".
DC = dict(a=6.255414, b=7.3049974, e=0.6254804, alpha=0.3526596, beta=0.3526596,
          rd_star=15.387756, rn_star=5.309743)
H100 = 989e12


def d_opt(n: float) -> float:
    """Approach 1: C = (N / G)^(1/a) on the frontier, D = C / (6 N)."""
    return (n / A1_G) ** (1 / A1_A) / (6 * n)


def dc_loss(n: float, d: float, u: float) -> float:
    """datablations' scaling_law(N, D, U), transcribed."""
    A, B, E = math.exp(DC["a"]), math.exp(DC["b"]), math.exp(DC["e"])
    al, be = DC["alpha"], DC["beta"]
    g = ((al * A) / (be * B)) ** (1 / (al + be))
    u = min(u, d)
    rd = max(d / u - 1, 0)
    un = min(n, (u * g) ** (be / al) * g)
    rn = max(n / un - 1, 0)
    n_eff = un + un * DC["rn_star"] * (1 - math.exp(-rn / DC["rn_star"]))
    d_eff = u + u * DC["rd_star"] * (1 - math.exp(-rd / DC["rd_star"]))
    return E + A / n_eff ** al + B / d_eff ** be


def effective(u: float, epochs: float) -> float:
    return u + u * DC["rd_star"] * (1 - math.exp(-max(epochs - 1, 0) / DC["rd_star"]))


MODELS = [("125M", 125e6), ("1B", 1e9), ("7B", 7e9), ("70B", 70e9), ("405B", 405e9)]


@pytest.fixture(scope="module")
def section() -> dict:
    config = ReportConfig(models=[m for m, _ in MODELS], gpus=512, gpu="h100", mfu=0.45,
                          mfu_range=(0.3, 0.5))
    return budget_section(300e9, config, vocab=50_000, vocab_source="test")


@pytest.mark.parametrize("name,params", MODELS)
def test_epochs_effective_data_and_loss_penalty(section, name, params):
    row = next(r for r in section["models"] if r["model"] == name)
    u = 300e9
    d = d_opt(params)
    assert row["optimal_tokens"] == pytest.approx(d, rel=1e-5)
    assert row["epochs"] == pytest.approx(d / u, rel=1e-3)
    assert row["effective_tokens"] == pytest.approx(effective(u, d / u) if d > u else d, rel=1e-5)
    unique_loss, repeated_loss = dc_loss(params, d, d), dc_loss(params, d, u)
    assert row["loss_unique"] == pytest.approx(unique_loss, rel=1e-4)
    assert row["loss_repeated"] == pytest.approx(repeated_loss, rel=1e-4)
    assert row["loss_penalty_pct"] == pytest.approx(
        100 * (repeated_loss - unique_loss) / unique_loss, rel=1e-3, abs=1e-9)
    assert row["tokens_20x"] == pytest.approx(20 * params)


@pytest.mark.parametrize("name,params", MODELS)
def test_mfu_time_uses_6nd(section, name, params):
    row = next(r for r in section["models"] if r["model"] == name)
    d = d_opt(params)
    assert row["flops_6nd"] == pytest.approx(6 * params * d, rel=1e-5)
    assert row["days"] == pytest.approx(6 * params * d / (512 * H100 * 0.45) / DAY, rel=1e-3)
    assert row["days_range"][0] == pytest.approx(6 * params * d / (512 * H100 * 0.5) / DAY, rel=1e-3)
    assert row["days_range"][1] == pytest.approx(6 * params * d / (512 * H100 * 0.3) / DAY, rel=1e-3)
    assert row["gpu_hours"] == pytest.approx(6 * params * d / (H100 * 0.45) / 3600, rel=1e-3)
    assert row["memory_gb"]["16"] == pytest.approx(16 * params / 1e9, rel=1e-3)
    assert row["min_gpus_for_states"] == math.ceil(16 * params / 80e9)
    assert section["hardware"]["time_formula"].startswith("time = 6·N·D")


@pytest.mark.parametrize("kind,recompute,k", [("hfu", True, 8), ("hfu", False, 6), ("mfu", True, 6),
                                              ("mfu", False, 6)])
def test_utilisation_kinds(kind, recompute, k):
    """Llama 3 405B on 15.6T tokens, 16,384 H100 at 40 %: 6ND/MFU gives ~67.7 days; the same
    number read as HFU with recomputation means 8ND, a third longer (issue 20's example)."""
    util = {kind: 0.4} if kind == "hfu" else {"mfu": 0.4}
    config = ReportConfig(models=["405B"], train_tokens="15.6T", gpus=16384, recompute=recompute,
                          **util)
    row = budget_section(15.6e12, config, vocab=128_256)["models"][0]
    expected = k * 405e9 * 15.6e12 / (16384 * H100 * 0.4) / DAY
    assert row["days"] == pytest.approx(expected, rel=1e-3)
    if k == 6:
        assert 67.6 < row["days"] < 67.8
    else:
        assert 90.1 < row["days"] < 90.4


def test_kaplan_uses_non_embedding_parameters(section):
    # 125M and 70B are table rows: d_model 768 (GPT-3 Small) and 8,192 (Chinchilla).
    for name, params, d_model in (("125M", 125e6, 768), ("70B", 70e9, 8192)):
        row = next(r for r in section["models"] if r["model"] == name)["kaplan"]
        n_ne = params - 50_000 * d_model
        assert row["d_model"] == pytest.approx(d_model)
        assert row["non_embedding_params"] == pytest.approx(n_ne, rel=1e-6)
        assert row["min_tokens"] == pytest.approx(5e3 * n_ne ** 0.74, rel=1e-5)
        assert row["min_tokens_total_params"] == pytest.approx(5e3 * params ** 0.74, rel=1e-5)
        assert row["unique_meets"] == (300e9 >= 5e3 * n_ne ** 0.74)
    # at 125M with a 50k vocabulary the embeddings are 31 % of the parameters: the bound drops
    small = next(r for r in section["models"] if r["model"] == "125M")["kaplan"]
    assert small["min_tokens"] < 0.8 * small["min_tokens_total_params"]


@pytest.mark.parametrize("unique", [2e9, 50e9, 1e12])
def test_inverse_epoch_bands(unique):
    planning = planning_section(unique, ReportConfig(models=["1B", "7B"]), "test")
    for band in planning["epoch_bands"]:
        e = band["max_epochs"]
        n = band["params"]
        assert band["train_tokens"] == pytest.approx(e * unique)
        # the largest compute-optimal model: its D_opt is exactly E x U ...
        assert d_opt(n) == pytest.approx(e * unique, rel=1e-4)
        # ... and anything 1 % larger would need more than E x U tokens
        assert d_opt(n * 1.01) > e * unique
        assert band["effective_tokens"] == pytest.approx(effective(unique, e), rel=1e-5)
    sizes = [b["params"] for b in planning["epoch_bands"]]
    assert sizes == sorted(sizes)


def test_inverse_unique_needed():
    planning = planning_section(100e9, ReportConfig(models=["1B", "7B", "70B", "405B"]), "test")
    by_model = {r["model"]: r for r in planning["unique_needed"]}
    for name, params in (("1B", 1e9), ("7B", 7e9), ("70B", 70e9), ("405B", 405e9)):
        d = d_opt(params)
        row = by_model[name]
        for e in (1, 4, 16):
            assert row["unique_needed"][f"{e}"] == pytest.approx(d / e, rel=1e-5)
        expected = next((e for e in (1, 4, 16) if d / e <= 100e9), None)
        assert row["band_met"] == expected
    assert by_model["1B"]["band_met"] == 1 and by_model["70B"]["band_met"] == 16
    assert by_model["405B"]["band_met"] is None


def test_inverse_compute_budget_matches_datablations():
    """datablations README: for the budget of 8.67B params x 178B tokens with 25B unique tokens,
    the optimum is ~6.8B params on ~227B tokens (9.1 epochs)."""
    flops = 6 * 8.67e9 * 178e9
    cb = planning_section(25e9, ReportConfig(flops=flops), "test")["compute_budget"]
    dc = cb["data_constrained"]
    assert dc["params"] == pytest.approx(6.8e9, rel=0.01)
    assert dc["tokens"] == pytest.approx(227e9, rel=0.01)
    assert dc["epochs"] == pytest.approx(9.1, rel=0.01)
    assert 6 * dc["params"] * dc["tokens"] == pytest.approx(flops, rel=1e-4)
    assert dc["loss"] == pytest.approx(dc_loss(dc["params"], dc["tokens"], 25e9), rel=1e-5)
    # no allocation on a fine independent grid does better
    best = min(dc_loss(n, flops / (6 * n), 25e9)
               for n in (10 ** (8 + i / 400) for i in range(1601)))
    assert dc["loss"] <= best * (1 + 1e-6)  # report.json keeps 6 significant digits
    # the unconstrained fit allocation, penalised by repetition, is worse
    fit = cb["unlimited_data"]
    assert fit["loss_with_repetition"] == pytest.approx(
        dc_loss(fit["params"], fit["tokens"], 25e9), rel=1e-5)
    assert fit["loss_with_repetition"] > dc["loss"]


@pytest.mark.parametrize("kind,recompute,factor", [("mfu", True, 1.0), ("hfu", True, 6 / 8),
                                                    ("hfu", False, 1.0)])
def test_compute_budget_from_gpu_days(kind, recompute, factor):
    util = {"hfu": 0.5} if kind == "hfu" else {"mfu": 0.5}
    config = ReportConfig(days=30, gpus=1024, gpu="b200", recompute=recompute, **util)
    cb = planning_section(1e12, config, "test")["compute_budget"]
    expected = 1024 * 2.25e15 * 0.5 * 30 * DAY * factor
    assert cb["flops"] == pytest.approx(expected, rel=1e-5)
    assert cb["days"] == pytest.approx(30, rel=1e-4)


def test_language_mix_budget():
    config = ReportConfig(models=["7B"], mix={"en": 0.5, "zh": 0.4, "code": 0.1})
    report = build_report(fixed_summary(), config, {"kept": None, "tokens": None})
    (model,) = report["mix"]["models"]
    d = d_opt(7e9)
    langs = {lg["lang"]: lg for lg in model["languages"]}
    assert langs["en"]["tokens"] == pytest.approx(0.5 * d, rel=1e-5)
    assert langs["en"]["epochs"] == pytest.approx(0.5 * d / 6e9, rel=1e-3)
    assert langs["zh"]["epochs"] == pytest.approx(0.4 * d / 4e9, rel=1e-3)
    assert langs["zh"]["effective_tokens"] == pytest.approx(effective(4e9, 0.4 * d / 4e9), rel=1e-5)
    assert langs["code"]["epochs"] is None and "no tokens" in langs["code"]["verdict"]
    # the small language repeats more than the large one
    assert langs["zh"]["epochs"] > langs["en"]["epochs"]


def test_plan_report_sources_say_what_was_given():
    config = ReportConfig(models=["7B"])
    plan = plan_report(300e9, None, config)
    assert "not given" in plan["budget"]["unique_source"]
    plan = plan_report(300e9, 120e9, config)
    assert plan["budget"]["dataset_tokens"] == 300e9 and plan["budget"]["unique_tokens"] == 120e9
    assert plan["budget"]["models"][0]["epochs"] == pytest.approx(d_opt(7e9) / 120e9, rel=1e-3)
    with pytest.raises(ValueError, match="exceeds"):
        plan_report(100e9, 120e9, config)
