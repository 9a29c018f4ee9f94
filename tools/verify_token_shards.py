"""Check a finished run's token shards against its kept documents (docs/tokenize.md, "Verify").

    python tools/verify_token_shards.py OUT [--no-reencode] [--megatron-core DIR]

For every format the run wrote (``summary.json: reports.tokenize.summary.token_ids``), every
document of ``OUT/tokens/`` is read back and checked: its id is a kept document, its length is
the kept row's ``token_count``, its EOS is where the format puts it, and (unless
``--no-reencode``) its ids equal the run's tokenizer encoding the kept text again. Kept documents
with tokens that are missing from the shards are errors too.

``--megatron-core DIR`` also reads the Megatron files with Megatron-LM's own ``IndexedDataset``:
DIR is an unpacked ``megatron-core`` wheel (``pip download --no-deps megatron-core`` and unzip
it); ``torch`` is replaced by a stub, because the reading path (``_IndexReader``,
``_MMapBinReader``) is numpy only. With megatron-core installed for real, pass ``--megatron-core
installed``.
"""
from __future__ import annotations

import argparse
import collections
import importlib
import importlib.util
import json
import sys
import types
from pathlib import Path
from typing import Any

PROJECT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT))

from pipeline.outputs import read_rows  # noqa: E402
from stages import token_shards, tokenizers  # noqa: E402


def _stub_module(name: str) -> types.ModuleType:
    class Stub(types.ModuleType):
        def __getattr__(self, attr: str) -> Any:
            if attr.startswith("__"):
                raise AttributeError(attr)
            return type(attr, (), {}) if attr[:1].isupper() else Stub(f"{self.__name__}.{attr}")

    return Stub(name)


def megatron_indexed_dataset(where: str) -> Any:
    """Megatron-LM's IndexedDataset class: installed, or from an unpacked wheel with torch stubbed."""
    if where == "installed":
        return importlib.import_module("megatron.core.datasets.indexed_dataset").IndexedDataset
    root = Path(where)
    torch = _stub_module("torch")
    distributed = types.ModuleType("torch.distributed")
    distributed.is_initialized = lambda: False  # type: ignore[attr-defined]
    torch.distributed = distributed  # type: ignore[attr-defined]
    sys.modules.update({"torch": torch, "torch.distributed": distributed})
    for package in ("megatron", "megatron.core", "megatron.core.datasets"):
        module = types.ModuleType(package)
        module.__path__ = [str(root / package.replace(".", "/"))]  # skip the heavy __init__s
        sys.modules[package] = module
    utils = types.ModuleType("megatron.core.utils")  # the real one needs torch.distributed
    utils.log_single_rank = lambda logger, level, *a, rank=0, **k: logger.log(level, *a, **k)  # type: ignore[attr-defined]
    sys.modules["megatron.core.utils"] = utils
    for name in ("megatron.core.msc_utils", "megatron.core.datasets.object_storage_utils",
                 "megatron.core.datasets.indexed_dataset"):
        spec = importlib.util.spec_from_file_location(name, root / (name.replace(".", "/") + ".py"))
        module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
        sys.modules[name] = module
        spec.loader.exec_module(module)  # type: ignore[union-attr]
    return sys.modules["megatron.core.datasets.indexed_dataset"].IndexedDataset


def run_tokenizer(out: Path, model: dict[str, Any]) -> tokenizers.Tokenizer:
    path = out / model["artefact"] if model.get("trained_in_run") else Path(model["file"])
    source = tokenizers.read_source(str(path), model["kind"], model.get("eos_token"))
    return tokenizers.load(source)


def verify(out: Path, reencode: bool = True, megatron_core: str | None = None) -> dict[str, Any]:
    """Per format: documents and tokens read back; raises AssertionError on the first mismatch."""
    report = json.loads((out / "summary.json").read_text())["reports"]["tokenize"]["summary"]
    settings = token_shards.ShardSettings.from_report(report["token_ids"])
    kept: dict[str, list[dict]] = collections.defaultdict(list)
    for row in read_rows(str(out), "kept"):
        if row["token_count"]:
            kept[row["id"]].append(row)
    tokenizer = run_tokenizer(out, report["model"]) if reencode else None
    result: dict[str, Any] = {}
    for fmt in settings.formats:
        seen: collections.Counter = collections.Counter()
        tokens = 0
        for doc_id, ids in token_shards.read_tokens(out / "tokens", settings, fmt):
            rows = kept.get(doc_id)
            assert rows, f"{fmt}: document {doc_id} is not a kept document with tokens"
            assert len(ids) in {r["token_count"] for r in rows}, f"{fmt}: {doc_id} length differs"
            if tokenizer is not None:
                assert any(ids.tolist() == tokenizer.encode([r["text"]])[0] for r in rows), (
                    f"{fmt}: {doc_id} ids differ from encoding the kept text")
            seen[doc_id] += 1
            tokens += len(ids)
        missing = {d for d, rows in kept.items() if seen[d] != len(rows)}
        assert not missing, f"{fmt}: {len(missing)} kept documents not in the shards, e.g. {min(missing)}"
        result[fmt] = {"docs": sum(seen.values()), "tokens": tokens}
    if megatron_core and "megatron" in settings.formats:
        dataset_class = megatron_indexed_dataset(megatron_core)
        docs = tokens = 0
        for idx in sorted((out / "tokens").glob("part-*.idx")):
            prefix = str(idx)[: -len(".idx")]
            dataset = dataset_class(prefix)
            ours = [sequence.tolist() for sequence in token_shards.read_megatron(prefix)]
            assert len(dataset) == len(ours), f"{prefix}: sequence counts differ"
            for i, sequence in enumerate(ours):  # checked against the project's reader above
                assert dataset[i].tolist() == sequence, f"{prefix}: sequence {i} differs"
            docs += len(ours)
            tokens += sum(map(len, ours)) - (len(ours) if settings.megatron_eos else 0)
            del dataset
        result["megatron_lm_reader"] = {"docs": docs, "tokens": tokens,
                                        "dtype": settings.megatron_dtype.name}
        assert docs == result["megatron"]["docs"] and tokens == result["megatron"]["tokens"]
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog=__doc__.split("\n", 1)[1])
    parser.add_argument("output", type=Path)
    parser.add_argument("--no-reencode", action="store_true")
    parser.add_argument("--megatron-core", help="unpacked megatron-core wheel, or 'installed'")
    args = parser.parse_args(argv)
    result = verify(args.output, not args.no_reencode, args.megatron_core)
    for fmt, stats in result.items():
        if fmt == "megatron_lm_reader":
            print(f"Megatron-LM IndexedDataset: {stats['docs']:,} sequences ({stats['dtype']}), "
                  "each equal to the project's reading of the same files")
            continue
        print(f"{fmt}: {stats['docs']:,} documents, {stats['tokens']:,} tokens (without EOS) read "
              "back; every one matches its kept row" + ("" if args.no_reencode else
                                                         " and the tokenizer's ids for its text"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
