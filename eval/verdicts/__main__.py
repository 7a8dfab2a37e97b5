"""Agreement of the automated verdict with the labelled pairs: `python -m eval.verdicts [--misses]`."""

import argparse
import json
import time
from collections import Counter, defaultdict
from pathlib import Path

from services.shadow_runner.domain.scoring import automated_score, verdict
from services.shadow_runner.settings import RunnerSettings

HERE = Path(__file__).parent
LABELS = ("improved", "unchanged", "regressed")
SPLITS = {"dev": "developed against", "test": "held out while the scorer was written"}


def load(split: str) -> list[dict]:
    return [json.loads(line) for line in (HERE / f"{split}.jsonl").read_text().splitlines() if line.strip()]


def judged(pairs: list[dict], margin: float, with_question: bool) -> list[tuple[dict, str, str]]:
    results = []
    for pair in pairs:
        question = pair["question"] if with_question else None
        score = automated_score(pair["original"], pair["fixed"], pair["expected"], None, question=question)
        results.append((pair, verdict(score.original, score.fixed, margin), score.explanation))
    return results


def report(title: str, results: list[tuple[dict, str, str]], misses: bool) -> float:
    per_class: dict[str, Counter] = defaultdict(Counter)
    confusion: Counter = Counter()
    for pair, called, _ in results:
        per_class[pair["class"]][called == pair["label"]] += 1
        confusion[pair["label"], called] += 1
    agreed = sum(c[True] for c in per_class.values())
    print(f"\n== {title}: {agreed}/{len(results)} agree ({agreed / len(results):.1%})")
    width = max(map(len, per_class))
    for name in sorted(per_class):
        counts = per_class[name]
        total = counts[True] + counts[False]
        print(f"  {name:<{width}}  {counts[True]:>3}/{total:<3} {counts[True] / total:6.1%}")
    print(f"  confusion (label x verdict){'':<{max(0, width - 25)}}" + "".join(f"{v:>11}" for v in LABELS))
    for label in LABELS:
        print(f"  {label:<{max(width, 27)}}" + "".join(f"{confusion[label, v]:>11}" for v in LABELS))
    if misses:
        for pair, called, explanation in results:
            if called != pair["label"]:
                print(f"  MISS {pair['id']} [{pair['class']}] label {pair['label']}, verdict {called}\n"
                      f"       expected: {pair['expected']}\n       original: {pair['original']}\n"
                      f"       fixed:    {pair['fixed']}\n       {explanation}")
    return agreed / len(results)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--margin", type=float, default=RunnerSettings.model_fields["score_margin"].default)
    parser.add_argument("--misses", action="store_true", help="print each pair the verdict gets wrong")
    parser.add_argument("--split", choices=tuple(SPLITS), help="only this part of the set")
    parser.add_argument("--without-question", action="store_true",
                        help="score as if the customer's question were unknown")
    args = parser.parse_args()
    splits = [args.split] if args.split else list(SPLITS)
    started = time.perf_counter()
    results = {split: judged(load(split), args.margin, not args.without_question) for split in splits}
    elapsed = time.perf_counter() - started
    pairs = sum(len(r) for r in results.values())
    print(f"Automated verdicts against {pairs} labelled pairs, margin {args.margin} "
          f"({elapsed * 1000 / pairs:.2f} ms a pair)")
    for split in splits:
        report(f"{split} ({SPLITS[split]})", results[split], args.misses)
    if len(splits) > 1:
        report("whole set", [r for split in splits for r in results[split]], False)


if __name__ == "__main__":
    main()
