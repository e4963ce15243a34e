# Config phase: what each phase reads of this run's resolved configuration, one file per phase
# (results/config/<phase>.yaml, defmo.phases.READS). DVC takes each stage's params from its file, so a change
# to one value reruns the stages that read it; Snakemake tracks the same values as each rule's params.
# Phase target: `config`.
from defmo.phases import PHASES


rule config:
    input:
        "params.yaml",
    output:
        expand("results/config/{phase}.yaml", phase=PHASES),
    log:
        "results/config/logs/config.log",
    benchmark:
        "results/config/timing/config.tsv"
    conda:
        ENV
    threads: 1
    params:
        cli=CLI,
        cfg=CFG,
        paper=PAPER,
        paper_arg=PAPER_ARG,
    shell:
        "{params.cli} config {params.paper_arg} --out results/config --log {log}"
