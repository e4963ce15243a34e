# Shared helpers: the configuration resolved once for the run, paths, and the CLI prefix every rule uses.
# Resolution: params.yaml, then its scales.<scale> block, then the user's --configfile files and --config
# entries (Snakemake's own merge would put the scale block over them, and hands nested --config values over as
# strings: both are redone here). scale/scales overrides choose the block; every other override wins over it.
from pathlib import Path

import yaml

from defmo.config import ConfigError, resolve_with, write_resolved
from defmo.overrides import user_overrides

PARAMS = "params.yaml"
RESOLVED_DIR = "results/config/run"
try:
    RAW = yaml.safe_load(Path(PARAMS).read_text())
    OVERRIDES = user_overrides(
        workflow.config_settings.configfiles, workflow.config_settings.config
    )
    # The plain resolved dict: rule params must be builtin types for Snakemake to track them.
    CFG = resolve_with(RAW, OVERRIDES).to_dict()
except ConfigError as exc:
    raise WorkflowError(str(exc))


class Untracked:
    """A params value that formats as its text but is no rerun trigger (Snakemake records only params of
    builtin types). The resolved config file is one: its name changes with any value, so each rule lists
    the sections it reads beside it, and exactly those rerun it."""

    def __init__(self, text):
        self.text = str(text)

    def __str__(self):
        return self.text

    def __format__(self, spec):
        return format(self.text, spec)


SCALE = CFG["scale"]
# Every job reads the run's resolved config (results/config/run/<scale>-<hash>.yaml, named by its content) and
# nothing else: no job re-reads params.yaml. Rules run `python -m defmo` from the active environment.
CONFIG_FILE = write_resolved(CFG, RESOLVED_DIR)
CLI = Untracked(f"python -m defmo --config-file {CONFIG_FILE}")
# The software of every rule (`snakemake --sdm conda` builds it; the default is the active .venv).
ENV = "../../environment.yml"
# Figure captions live in the package, which prints the same text under each figure of results/report/report.md.
FIGURE_CAPTIONS = "../../src/defmo/report/captions"
THREADS = CFG["threads"]
# The report's values (paper scale, with the same user overrides): Table 2's report column, read by `config`,
# `table2` and `report` from their own resolved file.
PAPER = (
    resolve_with(RAW, OVERRIDES, "paper").to_dict() if "paper" in RAW["scales"] else CFG
)
PAPER_ARG = Untracked(f"--paper-config {write_resolved(PAPER, RESOLVED_DIR)}")
APPROACHES = CFG["train"]["approaches"]
DATASETS = list(CFG["evaluate"]["datasets"])


# Training figure inputs (train.smk).
def curve_inputs(wildcards):
    """The trained approaches' loss curves, and for the probe's figure the probe's beside them."""
    curves = expand("results/train/plots/{approach}.csv", approach=APPROACHES)
    return curves + (
        ["results/probe/plots/probe.csv"] if wildcards.phase == "probe" else []
    )


# Evaluation inputs (used by evaluate.smk; functions live here, rules there).
import os

from defmo.evaluate.loaders import PUBLISHED
from defmo.evaluate.outputs import is_quoted, variant_path

EVAL = CFG["evaluate"]
EVAL_METHODS = EVAL["methods"]
# A quoted method (the paper's numbers) has no data, no model, no window variants and no figure row.
EVAL_QUOTED = [m for m in EVAL_METHODS if is_quoted(m, CFG)]
EVAL_COMPUTED = [m for m in EVAL_METHODS if m not in EVAL_QUOTED]
EVAL_TRAINED = [m for m in EVAL_COMPUTED if m in APPROACHES]
EVAL_WINDOWS = EVAL["background_variants"]
# An evaluation record of the main background window, and of window {window} (evaluate.background_variants).
EVAL_RECORD = "results/evaluate/metrics/{dataset}/{method}.json"
EVAL_VARIANT = variant_path(EVAL_RECORD, "{window}")
DEBLUR_MODEL = "proposed" if "proposed" in APPROACHES else APPROACHES[-1]
EXAMPLES = EVAL["real_examples"]


def eval_data(wildcards):
    root = EVAL["datasets"][wildcards.dataset]
    if root == "embedded":
        return f"data/benchmark/{wildcards.dataset}"
    if not os.path.isdir(root):
        raise WorkflowError(
            f"evaluate.datasets.{wildcards.dataset} = '{root}' is not a folder: {PUBLISHED}; download it there or set "
            f"the key to 'embedded'"
        )
    return root


def eval_checkpoint(wildcards):
    if wildcards.method in EVAL_TRAINED:
        return [f"results/train/checkpoints/{wildcards.method}/final.pt"]
    return []


def eval_checkpoint_arg(wildcards, input):
    return f"--checkpoint {input.ckpt}" if input.ckpt else ""


def eval_metrics(dataset):
    main = expand(EVAL_RECORD, dataset=dataset, method=EVAL_METHODS)
    variants = expand(
        EVAL_VARIANT,
        dataset=dataset,
        method=EVAL_COMPUTED,
        window=EVAL_WINDOWS,
    )
    return main + variants
