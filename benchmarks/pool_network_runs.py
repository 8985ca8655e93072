"""Pool the paired rounds of several ``bench_network.py`` runs into one median per configuration.

One run of 30 rounds is good to about ±0.03 on a shared machine: even the file
logger moves between 0.92 and 0.98 from run to run. Each round pairs a
configuration with a run of "none" next to it, so the per-pair ratios of several
runs can be pooled; their median is good to about ±0.01 over a hundred pairs.

Save each run's whole output (``bench_network.py ... > run1.txt 2>&1``), then::

    python benchmarks/pool_network_runs.py run1.txt run2.txt ...
"""

from __future__ import annotations

import ast
import re
import statistics
import sys

ROUND = re.compile(r"round (\d+) \[(.*?)\]: (\{.*\})$")
TARGET = 0.93


def pairs_of(paths: list[str]) -> dict[str, list[tuple[float, float]]]:
    """Per configuration: (requests/s ratio, worker CPU ratio) of every pair, against its "none"."""
    pairs: dict[str, list[tuple[float, float]]] = {}
    for path in paths:
        with open(path, encoding="utf-8") as lines:
            for line in lines:
                match = ROUND.match(line.strip())
                if match is None:
                    continue
                measured = ast.literal_eval(match.group(3))  # kind -> (req/s, p99, cpu µs/req, ...)
                (kind,) = (name for name in measured if name != "none")
                mine, none = measured[kind], measured["none"]
                pairs.setdefault(kind, []).append((mine[0] / none[0], none[2] / mine[2]))
    return pairs


def main(paths: list[str]) -> None:
    if not paths:
        sys.exit(__doc__)
    for kind, values in sorted(pairs_of(paths).items()):
        ratios = sorted(rate for rate, _ in values)
        low, _, high = statistics.quantiles(ratios, n=4) if len(ratios) > 1 else (ratios[0],) * 3
        print(
            f"{kind:14s} n={len(ratios):3d}  median {statistics.median(ratios):.3f}  quartiles {low:.3f}-{high:.3f}"
            f"  worker CPU {statistics.median(cpu for _, cpu in values):.3f}"
            f"  pairs >= {TARGET}: {sum(r >= TARGET for r in ratios) / len(ratios):.0%}"
        )


if __name__ == "__main__":
    main(sys.argv[1:])
