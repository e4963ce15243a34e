# Config phase: each phase's record of the values it reads of this run's resolved configuration, one file per
# phase (results/config/<phase>.yaml, defmo.phases.READS), committed with the results made with them. DVC takes
# each stage's params from its record, so a change to one value reruns the stages that read it. A record is
# rewritten when the run's values differ from it (its reads file, config-<phase>, is then dated now; common.smk);
# every phase target and `all` take the records, so a run that changes a phase's values rewrites its record.
# Phase target: `config`.
from defmo.phases import PHASES


rule config_phase:
    input:
        values("config-{phase}"),
    output:
        "results/config/{phase}.yaml",
    log:
        "results/config/logs/config_{phase}.log",
    benchmark:
        "results/config/timing/config_{phase}.tsv"
    wildcard_constraints:
        phase="|".join(PHASES),
    conda:
        ENV
    threads: 1
    params:
        cli=CLI,
        paper_arg=PAPER_ARG,
        reads=lambda wildcards: READS[f"config-{wildcards.phase}"],
    shell:
        "{params.cli} config {params.paper_arg} --phase {wildcards.phase} --out results/config --log {log}"


rule config:
    input:
        expand("results/config/{phase}.yaml", phase=PHASES),
