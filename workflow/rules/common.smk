# Shared helpers: the resolved config (params.yaml + scale), paths, and the CLI prefix every rule uses.
import sys

from defmo.config import ConfigError, resolve

try:
    CFG = resolve(config, config.get("scale"))
except ConfigError as exc:
    raise WorkflowError(str(exc))

SCALE = CFG["scale"]
# The interpreter running Snakemake is the one with the package installed (.venv).
CLI = f"{sys.executable} -m defmo --params params.yaml --scale {SCALE}"
THREADS = CFG["threads"]
APPROACHES = CFG["train"]["approaches"]
DATASETS = list(CFG["eval"]["datasets"])
