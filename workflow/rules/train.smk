# Training phase: one model per approach in train.approaches (report section 4, Table 2), resumable from
# results/train/resume/<approach>/ (not an output), and the loss-curve figure. Phase target: `train`.
# The metric probe (train.approach.probe, on request) writes the same files under results/probe/.
import re


rule train_approach:
    input:
        data="data/synthetic/train",
        val="data/synthetic/val",
        values=values("train_approach-{approach}"),
    output:
        ckpt="results/{phase}/checkpoints/{approach}/final.pt",
        curve="results/{phase}/plots/{approach}.csv",
        metrics="results/{phase}/metrics/{approach}.json",
    log:
        "results/{phase}/logs/train_{approach}.log",
    benchmark:
        "results/{phase}/timing/train_{approach}.tsv"
    wildcard_constraints:
        phase="train|probe",
        approach="|".join(re.escape(a) for a in CFG["train"]["approach"]),
    conda:
        ENV
    threads: THREADS
    resources:
        gpu=1,
    params:
        cli=CLI,
        reads=reads("train_approach-{approach}"),
        resume="results/{phase}/resume/{approach}",
    shell:
        "{params.cli} train --approach '{wildcards.approach}' --data {input.data} --val {input.val}"
        " --out {output.ckpt} --curve {output.curve} --metrics {output.metrics}"
        " --resume-dir {params.resume} --log {log}"


rule figure_curves:
    input:
        curves=curve_inputs,
        values=values("figure_curves"),
    output:
        report(
            "results/{phase}/figures/training_curves.png",
            caption=f"{FIGURE_CAPTIONS}/training_curves.rst",
            category="Figures",
        ),
    log:
        "results/{phase}/logs/figure_curves.log",
    benchmark:
        "results/{phase}/timing/figure_curves.tsv"
    wildcard_constraints:
        phase="train|probe",
    conda:
        ENV
    threads: 1
    params:
        cli=CLI,
        reads=reads("figure_curves"),
    shell:
        "{params.cli} figures curves --inputs {input.curves} --output {output} --log {log}"


rule train:
    input:
        "results/config/train.yaml",
        expand("results/train/checkpoints/{approach}/final.pt", approach=APPROACHES),
        expand("results/train/metrics/{approach}.json", approach=APPROACHES),
        "results/train/figures/training_curves.png",


# Not part of `all` (nor of dvc.yaml): the metric probe, train.approach.probe in params.yaml, trained on the
# validation metric itself, and the curves figure with it beside the trained approaches.
# `snakemake --cores all probe` (about 6 minutes at the cpu scale).
rule probe:
    input:
        "results/config/train.yaml",
        "results/probe/metrics/probe.json",
        "results/probe/figures/training_curves.png",
