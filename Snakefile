# DeFMO with learned losses: every table of the report from one command.
#   snakemake --cores all                      (embedded default, scale from params.yaml)
#   snakemake --cores all --config scale=paper (report Table 2 on CUDA)
#   snakemake --cores all --configfile my-overrides.yaml (nested keys merged into params.yaml's sections)
# Rules live in workflow/rules/, one file per phase (config, data, train, evaluate, ablate, quality, report,
# seeds: the seed study, outside `all`, `snakemake --cores all seeds`);
# each phase's target rule has its name and writes under results/<phase>/ (datasets under data/); rules call
# the package CLI (python -m defmo <verb>).
from snakemake.utils import min_version

min_version("9.0")


configfile: "params.yaml"


report: "workflow/report/workflow.rst"


# common.smk resolves params.yaml + scale + --configfile/--config once (CFG) and writes it for the jobs;
# defmo.config validates it there against the package's schema (src/defmo/schemas/), the one place that does.
include: "workflow/rules/common.smk"
include: "workflow/rules/config.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/evaluate.smk"
include: "workflow/rules/ablate.smk"
include: "workflow/rules/quality.smk"
include: "workflow/rules/report.smk"
include: "workflow/rules/seeds.smk"


rule all:
    default_target: True
    input:
        rules.config.input,
        rules.report.input,
