# Shared helpers: the configuration resolved once for the run, paths, and the CLI prefix every rule uses.
# Resolution: params.yaml, then its scales.<scale> block, then the user's --configfile files and --config
# entries (Snakemake's own merge would put the scale block over them, and hands nested --config values over as
# strings: both are redone here). scale/scales overrides choose the block; every other override wins over it.
from pathlib import Path

import yaml

from defmo.config import ConfigError, resolve_with, write_resolved
from defmo.overrides import user_overrides
from defmo.phases import sync_reads

PARAMS = "params.yaml"
RESOLVED_DIR = "results/config/run"
try:
    RAW = yaml.safe_load(Path(PARAMS).read_text())
    OVERRIDES = user_overrides(
        workflow.config_settings.configfiles, workflow.config_settings.config
    )
    # The plain resolved dict (the workflow reads it to build the graph).
    CFG = resolve_with(RAW, OVERRIDES).to_dict()
except ConfigError as exc:
    raise WorkflowError(str(exc))


class Untracked:
    """A params value that formats as its text but is no rerun trigger (Snakemake records only params of
    builtin types). The resolved config file is one: its name changes with any value, so each rule takes
    the values it reads as an input file instead (values() below), and exactly those rerun it.
    """

    def __init__(self, text):
        self.text = str(text)

    def __str__(self):
        return self.text

    def __format__(self, spec):
        return format(self.text, spec)


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
# What each rule reads of the values, defmo.phases.RULE_READS, goes to one file per rule, results/config/run/reads/
# <rule>.yaml, that the rule takes as an input, values(rule). Its content is compared with the phase's record
# results/config/<phase>.yaml (the values the phase's results were made with, committed with them; written by
# the `config` phase, which every phase target and `all` take). While the two differ, the file is dated now, so
# the rule reruns, with or without Snakemake's metadata of an earlier run (a fresh clone has none). When they
# are equal, a file that held other values (a fresh clone, another branch, a dry run with an override) is dated
# older than any result, so the order in which a checkout wrote the committed files reruns nothing; an
# unchanged file keeps its time (a record rewritten by an earlier run still reruns the rules whose values
# changed). Rules also take the same values as params: Snakemake's own check, where it has metadata.
READS_DIR = "results/config/run/reads"
READS = sync_reads(CFG, PAPER, READS_DIR)


def values(reader):
    """The file of what ``reader`` (a rule, ``train_approach-{approach}``) reads of this run's values."""
    return f"{READS_DIR}/{reader}.yaml"


def reads(reader):
    """The values ``reader`` reads, as a params entry; ``{approach}`` is taken from the job's wildcards."""
    if "{approach}" in reader:
        return lambda wildcards: READS[reader.format(approach=wildcards.approach)]
    return READS[reader]


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
from defmo.evaluate.outputs import approach_of, fitted_methods, is_quoted, variant_path

EVAL = CFG["evaluate"]
# A trained approach is scored twice when the model fits at inference: its network alone ({approach}) and
# with the fit ({approach}+fit).
EVAL_TRAINED = [m for m in EVAL["methods"] if m in APPROACHES]
EVAL_METHODS = EVAL["methods"] + fitted_methods(EVAL_TRAINED, CFG)
# A quoted method (the paper's numbers) has no data, no model, no window variants and no figure row.
EVAL_QUOTED = [m for m in EVAL_METHODS if is_quoted(m, CFG)]
EVAL_COMPUTED = [m for m in EVAL_METHODS if m not in EVAL_QUOTED]
EVAL_WINDOWS = EVAL["background_variants"]
# An evaluation record of the main background window, and of window {window} (evaluate.background_variants).
EVAL_RECORD = "results/evaluate/metrics/{dataset}/{method}.json"
EVAL_VARIANT = variant_path(EVAL_RECORD, "{window}")
DEBLUR_MODEL = "proposed" if "proposed" in APPROACHES else APPROACHES[-1]
EXAMPLES = EVAL["real_examples"]
REAL_CLIPS = {clip["name"]: clip for clip in EVAL["real_clips"]}
# deblur on the real clips (deblur_footage): the variants scored in the real-footage table
# (previous: deblur before the real-footage design, over the running median; previous_local: the same fit over
# the frame's own background, the table's check that the background alone does not make the fit's score)
PREVIOUS_FIT = (
    "--no-videos --set evaluate.footage.tv=0 --set evaluate.footage.prior=0"
    " --set evaluate.footage.path=network --set evaluate.footage.shape=free"
)
FOOTAGE_VARIANTS = {
    "fit": "",
    "network": "--network-only --no-videos",
    "previous": f"{PREVIOUS_FIT} --set evaluate.footage.margin=null",
    "previous_local": PREVIOUS_FIT,
}
FIGURE_VARIANTS = ["fit", "network", "previous"]  # the rows of each clip's figure


def footage_flags(wildcards):
    """The variant's flags and the clip's own detector settings (evaluate.real_clips)."""
    own = REAL_CLIPS[wildcards.clip]
    track = f" --min-track {own['min_track']}" if "min_track" in own else ""
    return FOOTAGE_VARIANTS[wildcards.variant] + track


def dataset_root(dataset):
    """The root of benchmark dataset ``dataset``: the embedded copy under data/benchmark/, or the real one."""
    root = EVAL["datasets"][dataset]
    if root == "embedded":
        return f"data/benchmark/{dataset}"
    if not os.path.isdir(root):
        raise WorkflowError(
            f"evaluate.datasets.{dataset} = '{root}' is not a folder: {PUBLISHED}; download it there or set "
            f"the key to 'embedded'"
        )
    return root


def eval_data(wildcards):
    return dataset_root(wildcards.dataset)


def eval_checkpoint(wildcards):
    if approach_of(wildcards.method) in EVAL_TRAINED:
        return [f"results/train/checkpoints/{approach_of(wildcards.method)}/final.pt"]
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
