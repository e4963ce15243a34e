"""The fresh subprocess that measures one cell: ``python -m defmo.ablate.worker --cfg C --cell A:T --out O``.

``--cfg`` is the resolved config as JSON (written by :mod:`defmo.ablate.runner`); the cell record goes to
``--out`` as JSON. Launched only by the runner, which turns a crash, a kill or a timeout of this process into
a failed cell.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys

from defmo.utils.io import write_json


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m defmo.ablate.worker")
    parser.add_argument("--cfg", required=True, help="resolved config, JSON")
    parser.add_argument("--cell", required=True, help="APPROACH:TECHNIQUE")
    parser.add_argument("--out", required=True, help="cell record, JSON")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # the parent's resolved, validated config (runner.run_cell), typed again
    from defmo.config import build

    with open(args.cfg) as fh:
        cfg = build(json.load(fh))
    # torch is imported only now, after the arguments are known to be readable
    from defmo.ablate.cell import measure_cell
    from defmo.utils.runtime import configure_threads, resolve_device, seed_everything

    approach, technique = args.cell.split(":", 1)
    configure_threads(cfg)
    seed_everything(cfg.seed)
    record = measure_cell(cfg, approach, technique, resolve_device(cfg))
    write_json(args.out, record)
    return 0


if __name__ == "__main__":
    sys.exit(main())
