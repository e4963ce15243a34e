# Data phase: the synthetic training/validation shards (report 4.1), the embedded benchmark sequences in the
# FMO benchmark layout (only for datasets that evaluate.datasets leaves "embedded"), and the samples figure.
# Phase target: `data`.
EMBEDDED_DATASETS = [
    d for d, root in CFG["evaluate"]["datasets"].items() if root == "embedded"
]


rule render:
    input:
        values=values("render"),
    output:
        directory("data/synthetic/{split}"),
    log:
        "results/data/logs/render_{split}.log",
    benchmark:
        "results/data/timing/render_{split}.tsv"
    wildcard_constraints:
        split="train|val",
    conda:
        ENV
    threads: CFG["data"]["workers"]
    params:
        cli=CLI,
        reads=reads("render"),
    shell:
        "{params.cli} data --split {wildcards.split} --out {output} --log {log}"


rule render_benchmark:
    input:
        values=values("render_benchmark"),
    output:
        directory("data/benchmark/{dataset}"),
    log:
        "results/data/logs/render_benchmark_{dataset}.log",
    benchmark:
        "results/data/timing/render_benchmark_{dataset}.tsv"
    wildcard_constraints:
        dataset="falling_objects|tbd3d|tbd",
    conda:
        ENV
    threads: 1
    params:
        cli=CLI,
        reads=reads("render_benchmark"),
    shell:
        "{params.cli} data --benchmark {wildcards.dataset} --out {output} --log {log}"


rule figure_samples:
    input:
        shards="data/synthetic/train",
        values=values("figure_samples"),
    output:
        report(
            "results/data/figures/samples_synthetic.png",
            caption=f"{FIGURE_CAPTIONS}/samples_synthetic.rst",
            category="Figures",
        ),
    log:
        "results/data/logs/figure_samples.log",
    benchmark:
        "results/data/timing/figure_samples.tsv"
    conda:
        ENV
    threads: 1
    params:
        cli=CLI,
        reads=reads("figure_samples"),
    shell:
        "{params.cli} figures samples --inputs {input.shards} --output {output} --log {log}"


rule data:
    input:
        "results/config/data.yaml",
        expand("data/synthetic/{split}", split=["train", "val"]),
        expand("data/benchmark/{dataset}", dataset=EMBEDDED_DATASETS),
        "results/data/figures/samples_synthetic.png",
