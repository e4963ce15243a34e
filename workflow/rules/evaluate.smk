# Benchmark evaluation (report 5.1, Table 3; spec/benchmark.md): one `evaluate` job per (dataset, method) on
# the embedded synthetic sequences or the real dataset roots named in eval.datasets, then Table 3, one
# figure per dataset (report figures 4-6), and the `deblur` demo on the real examples. Phase target: `evaluate`.
rule evaluate_method:
    input:
        data=eval_data,
        ckpt=eval_checkpoint,
    output:
        json="results/metrics/eval/{dataset}/{method}.json",
        csv="results/plots/eval/{dataset}/{method}.csv",
        sample="results/plots/eval/{dataset}/{method}_sample.npz",
        variants=expand(
            variant_path("results/{kind}/eval/{{dataset}}/{{method}}.{ext}", "{w}"),
            zip,
            kind=["metrics", "plots"] * len(EVAL_WINDOWS),
            w=[w for w in EVAL_WINDOWS for _ in (0, 1)],
            ext=["json", "csv"] * len(EVAL_WINDOWS),
        ),
    log:
        "results/logs/evaluate/{dataset}/{method}.log",
    benchmark:
        "results/benchmarks/rules/evaluate/{dataset}/{method}.tsv"
    wildcard_constraints:
        dataset="|".join(DATASETS),
        method="|".join(EVAL_COMPUTED) or "^$",
    conda:
        ENV
    threads: THREADS
    resources:
        gpu=lambda wildcards: (
            1 if wildcards.method in EVAL_TRAINED + ["original"] else 0
        ),
    params:
        cli=CLI,
        cfg=EVAL,
        device=CFG["device"],
        checkpoint=eval_checkpoint_arg,
    shell:
        "{params.cli} evaluate --dataset {wildcards.dataset} --data {input.data} --method {wildcards.method}"
        " {params.checkpoint} --output {output.json} --csv {output.csv} --sample {output.sample}"
        " --log {log}"


rule evaluate_quoted:
    output:
        "results/metrics/eval/{dataset}/{method}.json",
    log:
        "results/logs/evaluate/{dataset}/{method}.log",
    benchmark:
        "results/benchmarks/rules/evaluate/{dataset}/{method}.tsv"
    wildcard_constraints:
        dataset="|".join(DATASETS),
        method="|".join(EVAL_QUOTED) or "^$",
    conda:
        ENV
    threads: 1
    params:
        cli=CLI,
        cfg=EVAL,
    shell:
        "{params.cli} evaluate --dataset {wildcards.dataset} --method {wildcards.method} --output {output} --log {log}"


rule table3:
    input:
        [eval_metrics(d) for d in DATASETS],
    output:
        csv="results/tables/table3.csv",
        md=report(
            "results/tables/table3.md",
            caption="../report/table3.rst",
            category="Tables",
        ),
        tex="results/tables/table3.tex",
    log:
        "results/logs/evaluate/table3.log",
    benchmark:
        "results/benchmarks/rules/evaluate/table3.tsv"
    conda:
        ENV
    threads: 1
    params:
        cli=CLI,
        cfg=EVAL,
    shell:
        "{params.cli} evaluate --aggregate --inputs {input} --table results/tables/table3 --log {log}"


rule figure_benchmark:
    input:
        expand("results/plots/eval/{{dataset}}/{m}_sample.npz", m=EVAL_COMPUTED),
    output:
        report(
            "results/figures/benchmark_{dataset}.png",
            caption=f"{FIGURE_CAPTIONS}/benchmark.rst",
            category="Figures",
            subcategory="{dataset}",
        ),
    log:
        "results/logs/evaluate/figure_benchmark_{dataset}.log",
    benchmark:
        "results/benchmarks/rules/evaluate/figure_benchmark_{dataset}.tsv"
    wildcard_constraints:
        dataset="|".join(DATASETS),
    conda:
        ENV
    threads: 1
    params:
        cli=CLI,
        cfg=EVAL,
    shell:
        "{params.cli} figures benchmark --inputs {input} --output {output} --log {log}"


rule deblur_real:
    input:
        ckpt=f"results/checkpoints/{DEBLUR_MODEL}/final.pt",
        image=f"{EXAMPLES}/im.png",
        background=f"{EXAMPLES}/bgr.png",
        video=f"{EXAMPLES}/falling_pen.avi",
    output:
        figure=report(
            "results/figures/deblur_real.png",
            caption=f"{FIGURE_CAPTIONS}/deblur_real.rst",
            category="Figures",
        ),
        folder=directory("results/deblur"),
    log:
        "results/logs/evaluate/deblur_real.log",
    benchmark:
        "results/benchmarks/rules/evaluate/deblur_real.tsv"
    conda:
        ENV
    threads: THREADS
    resources:
        gpu=1,
    params:
        cli=CLI,
        cfg=EVAL,
        device=CFG["device"],
    shell:
        "{params.cli} deblur --checkpoint {input.ckpt} --image {input.image} --background {input.background}"
        " --video {input.video} --output-dir {output.folder} --figure {output.figure} --log {log}"


rule evaluate:
    input:
        rules.table3.output,
        expand("results/figures/benchmark_{d}.png", d=DATASETS),
        rules.deblur_real.output.figure,
