# Seed study (outside `all`; `snakemake --cores all seeds`, or `dvc repro seeds/dvc.yaml`): each approach of
# seeds.approaches trained from seeds.count seeds (params.yaml's seed, seed + 1, ...) on its schedule cut at
# seeds.steps, each run scored per validation sample and benchmark frame (the network alone and with its fit), then
# the table of mean, std and the paired t-interval over seeds against the first approach (DeFMO), the verdicts and
# the figure. Phase target: `seeds`.
import re

from defmo.settings import Seeds

SEEDS = CFG["seeds"]
SEED_VALUES = Seeds.from_dict(SEEDS, "seeds").values(CFG["seed"])
SEED_RUNS = dict(approach=SEEDS["approaches"], seed=SEED_VALUES)


rule seed_train:
    input:
        data="data/synthetic/train",
        val="data/synthetic/val",
        values=values("seed_train-{approach}"),
    output:
        ckpt="results/seeds/checkpoints/{approach}/seed{seed}/final.pt",
        curve="results/seeds/curves/{approach}/seed{seed}.csv",
        metrics="results/seeds/train/{approach}/seed{seed}.json",
    log:
        "results/seeds/logs/train_{approach}_seed{seed}.log",
    benchmark:
        "results/seeds/timing/train_{approach}_seed{seed}.tsv"
    wildcard_constraints:
        approach="|".join(re.escape(a) for a in CFG["train"]["approach"]),
        seed=r"\d+",
    conda:
        ENV
    threads: THREADS
    resources:
        gpu=1,
    params:
        cli=CLI,
        reads=reads("seed_train-{approach}"),
        resume="results/seeds/resume/{approach}/seed{seed}",
        steps=Untracked(f"--max-steps {SEEDS['steps']}" if SEEDS["steps"] else ""),
    shell:
        "{params.cli} train --approach '{wildcards.approach}' --seed {wildcards.seed} {params.steps}"
        " --data {input.data} --val {input.val} --out {output.ckpt} --curve {output.curve}"
        " --metrics {output.metrics} --resume-dir {params.resume} --log {log}"


rule seed_evaluate:
    input:
        ckpt=rules.seed_train.output.ckpt,
        trained=rules.seed_train.output.metrics,
        val="data/synthetic/val",
        data=lambda wildcards: [dataset_root(d) for d in DATASETS],
        values=values("seed_evaluate"),
    output:
        json="results/seeds/metrics/{approach}/seed{seed}.json",
        frames="results/seeds/frames/{approach}/seed{seed}.csv",
    log:
        "results/seeds/logs/evaluate_{approach}_seed{seed}.log",
    benchmark:
        "results/seeds/timing/evaluate_{approach}_seed{seed}.tsv"
    wildcard_constraints:
        approach="|".join(re.escape(a) for a in CFG["train"]["approach"]),
        seed=r"\d+",
    conda:
        ENV
    threads: THREADS
    resources:
        gpu=1,
    params:
        cli=CLI,
        reads=reads("seed_evaluate"),
        datasets=lambda wildcards: Untracked(
            " ".join(f"--dataset {d}={dataset_root(d)}" for d in DATASETS)
        ),
    shell:
        "{params.cli} seeds --approach '{wildcards.approach}' --seed {wildcards.seed} --checkpoint {input.ckpt}"
        " --train-metrics {input.trained} --val {input.val} {params.datasets} --output {output.json}"
        " --frames {output.frames} --log {log}"


rule seeds_table:
    input:
        runs=expand("results/seeds/metrics/{approach}/seed{seed}.json", **SEED_RUNS),
        frames=expand("results/seeds/frames/{approach}/seed{seed}.csv", **SEED_RUNS),
        values=values("seeds_table"),
    output:
        csv="results/seeds/tables/seeds.csv",
        md="results/seeds/tables/seeds.md",
        tex="results/seeds/tables/seeds.tex",
        verdicts="results/seeds/tables/seeds_verdicts.md",
        summary="results/seeds/metrics/summary.json",
        figure="results/seeds/figures/seeds.png",
    log:
        "results/seeds/logs/seeds_table.log",
    benchmark:
        "results/seeds/timing/seeds_table.tsv"
    conda:
        ENV
    threads: 1
    params:
        cli=CLI,
        reads=reads("seeds_table"),
    shell:
        "{params.cli} seeds --summarize --runs {input.runs} --frames {input.frames} --table results/seeds/tables/seeds"
        " --summary {output.summary} --figure {output.figure} --log {log}"


# The study's own copy of its record, written once its results are complete: its rules compare their values with
# this copy (defmo.phases.STUDIES), so a default run, which rewrites results/config/seeds.yaml, reruns none of them.
rule seeds_record:
    input:
        rules.seeds_table.output,
        values=values("seeds_record"),
    output:
        "results/seeds/config/seeds.yaml",
    log:
        "results/seeds/logs/seeds_record.log",
    benchmark:
        "results/seeds/timing/seeds_record.tsv"
    conda:
        ENV
    threads: 1
    params:
        cli=CLI,
        reads=reads("seeds_record"),
    shell:
        "{params.cli} config --phase seeds --out results/seeds/config --log {log}"


rule seeds:
    input:
        "results/config/seeds.yaml",
        rules.seeds_record.output,
