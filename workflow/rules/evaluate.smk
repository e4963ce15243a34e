# Benchmark evaluation (report 5.1, Table 3; spec/benchmark.md): one `evaluate` job per (dataset, method) on
# the embedded synthetic sequences or the real dataset roots named in eval.datasets, then Table 3, one
# figure per dataset (report figures 4-6), and the `deblur` demo on the real examples. Phase target: `evaluate`.
import os

from defmo.evaluation.loaders import PUBLISHED

EVAL = CFG["eval"]
EVAL_METHODS = EVAL["methods"]
# "original" without published weights is the paper's numbers, quoted: no data, no model, no figure row.
EVAL_QUOTED = (
    ["original"]
    if "original" in EVAL_METHODS and EVAL["original_weights"] is None
    else []
)
EVAL_COMPUTED = [m for m in EVAL_METHODS if m not in EVAL_QUOTED]
EVAL_TRAINED = [m for m in EVAL_COMPUTED if m in APPROACHES]
EVAL_WINDOWS = EVAL["background_variants"]
DEBLUR_MODEL = "proposed" if "proposed" in APPROACHES else APPROACHES[-1]
EXAMPLES = EVAL["real_examples"]


def eval_data(wildcards):
    root = EVAL["datasets"][wildcards.dataset]
    if root == "embedded":
        return f"data/benchmark/{wildcards.dataset}"
    if not os.path.isdir(root):
        raise WorkflowError(
            f"eval.datasets.{wildcards.dataset} = '{root}' is not a folder: {PUBLISHED}; download it there or set "
            f"the key to 'embedded'"
        )
    return root


def eval_checkpoint(wildcards):
    if wildcards.method in EVAL_TRAINED:
        return [f"results/checkpoints/{wildcards.method}/final.pt"]
    return []


def eval_checkpoint_arg(wildcards, input):
    return f"--checkpoint {input.ckpt}" if input.ckpt else ""


def eval_metrics(dataset):
    main = expand("results/metrics/eval/{d}/{m}.json", d=dataset, m=EVAL_METHODS)
    variants = expand(
        "results/metrics/eval/{d}/{m}_w{w}.json",
        d=dataset,
        m=EVAL_COMPUTED,
        w=EVAL_WINDOWS,
    )
    return main + variants


rule evaluate_method:
    input:
        data=eval_data,
        ckpt=eval_checkpoint,
    output:
        json="results/metrics/eval/{dataset}/{method}.json",
        csv="results/plots/eval/{dataset}/{method}.csv",
        sample="results/plots/eval/{dataset}/{method}_sample.npz",
        variants=expand(
            "results/{kind}/eval/{{dataset}}/{{method}}_w{w}.{ext}",
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
    threads: THREADS
    resources:
        gpu=lambda wildcards: (
            1 if wildcards.method in EVAL_TRAINED + ["original"] else 0
        ),
    params:
        cfg=EVAL,
        device=CFG["device"],
        checkpoint=eval_checkpoint_arg,
    shell:
        "{CLI} evaluate --dataset {wildcards.dataset} --data {input.data} --method {wildcards.method}"
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
    threads: 1
    params:
        cfg=EVAL,
    shell:
        "{CLI} evaluate --dataset {wildcards.dataset} --method {wildcards.method} --output {output} --log {log}"


rule table3:
    input:
        [eval_metrics(d) for d in DATASETS],
    output:
        csv="results/tables/table3.csv",
        md="results/tables/table3.md",
        tex="results/tables/table3.tex",
    log:
        "results/logs/evaluate/table3.log",
    benchmark:
        "results/benchmarks/rules/evaluate/table3.tsv"
    threads: 1
    params:
        cfg=EVAL,
    shell:
        "{CLI} evaluate --aggregate --inputs {input} --table results/tables/table3 --log {log}"


rule figure_benchmark:
    input:
        expand("results/plots/eval/{{dataset}}/{m}_sample.npz", m=EVAL_COMPUTED),
    output:
        "results/figures/benchmark_{dataset}.png",
    log:
        "results/logs/evaluate/figure_benchmark_{dataset}.log",
    benchmark:
        "results/benchmarks/rules/evaluate/figure_benchmark_{dataset}.tsv"
    wildcard_constraints:
        dataset="|".join(DATASETS),
    threads: 1
    params:
        cfg=EVAL,
    shell:
        "{CLI} figures benchmark --inputs {input} --output {output} --log {log}"


rule deblur_real:
    input:
        ckpt=f"results/checkpoints/{DEBLUR_MODEL}/final.pt",
        image=f"{EXAMPLES}/im.png",
        background=f"{EXAMPLES}/bgr.png",
        video=f"{EXAMPLES}/falling_pen.avi",
    output:
        figure="results/figures/deblur_real.png",
        folder=directory("results/deblur"),
    log:
        "results/logs/evaluate/deblur_real.log",
    benchmark:
        "results/benchmarks/rules/evaluate/deblur_real.tsv"
    threads: THREADS
    resources:
        gpu=1,
    params:
        cfg=EVAL,
        device=CFG["device"],
    shell:
        "{CLI} deblur --checkpoint {input.ckpt} --image {input.image} --background {input.background}"
        " --video {input.video} --output-dir {output.folder} --figure {output.figure} --log {log}"


rule evaluate:
    input:
        rules.table3.output,
        expand("results/figures/benchmark_{d}.png", d=DATASETS),
        rules.deblur_real.output.figure,
