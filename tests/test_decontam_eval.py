"""tools/decontam_eval.py's ``--beam`` comparison runs on the current pipeline shell.

The eval's numbers in docs/decontaminate.md include "the stage run through the pipeline gives
the same texts as the core"; this runs that comparison on three small synthetic documents and
the bundled benchmark sample, so an API change that breaks the tool fails here.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

PROJECT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT / "tools"))

import decontam_eval  # noqa: E402
from stages.decontaminate import Config, build_index  # noqa: E402

FILLER = ("The harbour town kept its old lighthouse, and every summer the council painted it "
          "white again while visitors walked along the pier to watch the fishing boats. ") * 4


def _question() -> str:
    path = PROJECT / "configs" / "benchmarks" / "gsm8k_test_sample.jsonl"
    return json.loads(path.read_text(encoding="utf-8").splitlines()[0])["question"]


@pytest.mark.parametrize("max_matches", [None, 1])
def test_pipeline_run_matches_the_core(max_matches: int | None) -> None:
    config = Config(max_matches=max_matches)
    texts = [FILLER + _question() + " " + FILLER,   # cut (max_matches 1: left alone)
             FILLER,                                 # clean
             _question()]                            # nothing left: dropped (idem)
    core = decontam_eval.run_core(texts, build_index(config, 1234), config)
    kept, report = decontam_eval.beam_texts(texts, config, 1234)
    assert kept == {f"d{i}": r["outcome"].text for i, r in enumerate(core)}
    if max_matches is None:
        assert kept["d1"] == FILLER and kept["d2"] is None and kept["d0"] != texts[0]
        assert report["benchmarks"]["gsm8k_sample"]["docs_touched"] == 2
    else:  # the question is in 2 documents > max_matches: a common phrase, left alone
        assert kept == {f"d{i}": text for i, text in enumerate(texts)}
        assert report["ignored_common_ngrams"] > 0
