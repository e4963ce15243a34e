# Training phase: one model per approach in train.approaches (report section 4, Table 2), resumable from
# results/resume/<approach>/ (not an output), and the loss-curve figure. Phase target: `train`.
import re

TRAIN_SHARED = {
    k: v for k, v in CFG["train"].items() if k not in ("approach", "approaches")
}


rule train_approach:
    input:
        data="data/synthetic/train",
        val="data/synthetic/val",
    output:
        ckpt="results/checkpoints/{approach}/final.pt",
        curve="results/plots/train_{approach}.csv",
        metrics="results/metrics/val_{approach}.json",
    log:
        "results/logs/train/train_{approach}.log",
    benchmark:
        "results/benchmarks/rules/train/train_{approach}.tsv"
    wildcard_constraints:
        approach="|".join(re.escape(a) for a in CFG["train"]["approach"]),
    conda:
        ENV
    threads: THREADS
    resources:
        gpu=1,
    params:
        cli=CLI,
        train=TRAIN_SHARED,
        approach=lambda wildcards: CFG["train"]["approach"][wildcards.approach],
        model=CFG["model"],
        data=CFG["data"],
        seed=CFG["seed"],
        device=CFG["device"],
        resume="results/resume/{approach}",
    shell:
        "{params.cli} train --approach '{wildcards.approach}' --data {input.data} --val {input.val}"
        " --out {output.ckpt} --curve {output.curve} --metrics {output.metrics}"
        " --resume-dir {params.resume} --log {log}"


rule figure_curves:
    input:
        curve_inputs,
    output:
        report(
            "results/figures/training_curves{probe}.png",
            caption=f"{FIGURE_CAPTIONS}/training_curves.rst",
            category="Figures",
        ),
    log:
        "results/logs/train/figure_curves{probe}.log",
    benchmark:
        "results/benchmarks/rules/train/figure_curves{probe}.tsv"
    wildcard_constraints:
        probe="|_probe",
    conda:
        ENV
    threads: 1
    params:
        cli=CLI,
        approaches=APPROACHES,
    shell:
        "{params.cli} figures curves --inputs {input} --output {output} --log {log}"


rule train:
    input:
        expand("results/checkpoints/{approach}/final.pt", approach=APPROACHES),
        expand("results/metrics/val_{approach}.json", approach=APPROACHES),
        "results/figures/training_curves.png",


# Not part of `all` (nor of dvc.yaml): the metric probe, train.approach.probe in params.yaml, trained on the
# validation metric itself, and the curves figure with it beside the trained approaches.
# `snakemake --cores all probe` (about 6 minutes at the cpu scale).
rule probe:
    input:
        "results/metrics/val_probe.json",
        "results/figures/training_curves_probe.png",
