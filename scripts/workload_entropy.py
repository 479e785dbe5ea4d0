#!/usr/bin/env python3
"""A lower bound on the bytes per span any store needs for the reference workload's large text.

`loadgen.py` writes prompts and completions as independent draws from a Zipf-weighted
vocabulary, so no compressor can do better than the entropy of one draw per word. This prints
that entropy, the best possible compression ratio on the words, the large text per span of a
sample of generated traces (the keys and the 256-byte rule of `bench_store.py no-text`) and the
bytes per span the text alone needs at that bound.

    e2e/.venv/bin/python scripts/workload_entropy.py [--loadgen ../shared/bench/loadgen.py] [--spans 20000]
"""

from __future__ import annotations

import argparse
import math
import random
import time

from bench_store import is_large, load_loadgen


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--loadgen", default="../shared/bench/loadgen.py")
    parser.add_argument("--spans", type=int, default=20000)
    args = parser.parse_args()
    lg = load_loadgen(args.loadgen)

    text = lg.TextGen(random.Random(1))
    total = text.cum[-1]
    weights = [(text.cum[i] - (text.cum[i - 1] if i else 0.0)) / total for i in range(len(text.words))]
    bits_per_word = -sum(p * math.log2(p) for p in weights)
    chars_per_word = sum(p * (len(word) + 1) for p, word in zip(weights, text.words))  # with its space
    print(f"vocabulary: {len(text.words)} words, {bits_per_word:.2f} bits a word, {chars_per_word:.2f} characters a word "
          f"with its space: at best {8 * chars_per_word / bits_per_word:.2f}x on the words")

    generator = lg.TraceGen(seed=3, now_ns=time.time_ns())
    spans = characters = 0
    while spans < args.spans:
        for span in generator.trace():
            spans += 1
            characters += sum(len(value) for key, value in span.attrs if isinstance(value, str) and is_large(key, value))
    per_span = characters / spans
    print(f"{spans} spans: {per_span:.0f} characters of large text a span, "
          f"at least {per_span / chars_per_word * bits_per_word / 8:.0f} bytes a span at the entropy bound")


if __name__ == "__main__":
    main()
