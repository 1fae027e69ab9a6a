"""Sentence splitting: which splitter the text front end should use.

Scores three splitters on the hand-written cases of `tests/data/sentence_cases.json`
(abbreviations, decimals, initials, quotes, ellipses, tags and pauses, and 11 languages
including Chinese, Japanese, Hindi and Arabic terminators) and times each on a 4,096-character
text (the longest a request may send), side by side in one run:

- `regex`: the cut after `.!?…` followed by whitespace that the service used before;
- `pysbd` (rule-based, 22 languages; the others fall back to English rules);
- `sentencex` (Wikimedia's segmenter, what `text/sentences.py` uses).

Run: .venv/bin/python benchmarks/sentence_splitting.py [--json results.json]
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pysbd
import sentencex

ROOT = Path(__file__).resolve().parent.parent
CASES = json.loads((ROOT / "tests" / "data" / "sentence_cases.json").read_text())
OLD_REGEX = re.compile(r"(?<=[.!?…])[\"')\]]*\s+")
PYSBD_LANGUAGES = {"en", "hi", "mr", "zh", "es", "am", "ar", "hy", "bg", "ur", "ru", "pl", "fa", "nl", "da", "fr", "my", "el", "it", "ja", "de", "kk", "sk"}
LONG_TEXT = (" ".join(case["text"] for case in CASES if case["language"] == "en") * 10)[:4096]


def by_regex(language: str, text: str) -> list[str]:
    return [sentence.strip() for sentence in OLD_REGEX.split(text) if sentence.strip()]


def by_pysbd(language: str, text: str) -> list[str]:
    segmenter = pysbd.Segmenter(language=language if language in PYSBD_LANGUAGES else "en", clean=False)
    return [sentence.strip() for sentence in segmenter.segment(text) if sentence.strip()]


def by_sentencex(language: str, text: str) -> list[str]:
    return [sentence.strip() for sentence in sentencex.segment(language, text) if sentence.strip()]


def score(split: Callable[[str, str], list[str]]) -> dict[str, object]:
    missed = [case["text"] for case in CASES if split(case["language"], case["text"]) != case["sentences"]]
    started = time.perf_counter()
    for _ in range(5):
        split("en", LONG_TEXT)
    return {"right": len(CASES) - len(missed), "cases": len(CASES), "ms_per_4096_chars": round((time.perf_counter() - started) / 5 * 1000, 2), "missed": missed}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    results = {name: score(split) for name, split in (("regex", by_regex), ("pysbd", by_pysbd), ("sentencex", by_sentencex))}
    for name, result in results.items():
        sys.stdout.write(f"{name:10} {result['right']:>2}/{result['cases']} right  {result['ms_per_4096_chars']:>8} ms per 4,096 characters\n")
        for text in result["missed"]:
            sys.stdout.write(f"{'':12}missed: {text}\n")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
