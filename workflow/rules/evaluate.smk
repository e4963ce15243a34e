# Benchmark evaluation (report 5.1, Table 3; spec/benchmark.md): one `evaluate` job per (dataset, method) on
# the embedded synthetic sequences or the real dataset roots named in evaluate.datasets, then Table 3, one
# figure per dataset (report figures 4-6), and the `deblur` demo on the real examples. Phase target: `evaluate`.
rule evaluate_method:
    input:
        data=eval_data,
        ckpt=eval_checkpoint,
        values=values("evaluate_method"),
    output:
        json="results/evaluate/metrics/{dataset}/{method}.json",
        csv="results/evaluate/plots/{dataset}/{method}.csv",
        sample="results/evaluate/plots/{dataset}/{method}_sample.npz",
        variants=expand(
            variant_path(
                "results/evaluate/{kind}/{{dataset}}/{{method}}.{ext}", "{w}"
            ),
            zip,
            kind=["metrics", "plots"] * len(EVAL_WINDOWS),
            w=[w for w in EVAL_WINDOWS for _ in (0, 1)],
            ext=["json", "csv"] * len(EVAL_WINDOWS),
        ),
    log:
        "results/evaluate/logs/{dataset}/{method}.log",
    benchmark:
        "results/evaluate/timing/{dataset}/{method}.tsv"
    wildcard_constraints:
        dataset="|".join(DATASETS),
        method="|".join(re.escape(m) for m in EVAL_COMPUTED) or "^$",
    conda:
        ENV
    threads: THREADS
    resources:
        gpu=lambda wildcards: (
            1 if approach_of(wildcards.method) in EVAL_TRAINED + ["original"] else 0
        ),
    params:
        cli=CLI,
        reads=reads("evaluate_method"),
        checkpoint=eval_checkpoint_arg,
    shell:
        "{params.cli} evaluate --dataset {wildcards.dataset} --data {input.data} --method {wildcards.method}"
        " {params.checkpoint} --output {output.json} --csv {output.csv} --sample {output.sample}"
        " --log {log}"


rule evaluate_quoted:
    input:
        values=values("evaluate_quoted"),
    output:
        "results/evaluate/metrics/{dataset}/{method}.json",
    log:
        "results/evaluate/logs/{dataset}/{method}.log",
    benchmark:
        "results/evaluate/timing/{dataset}/{method}.tsv"
    wildcard_constraints:
        dataset="|".join(DATASETS),
        method="|".join(EVAL_QUOTED) or "^$",
    conda:
        ENV
    threads: 1
    params:
        cli=CLI,
        reads=reads("evaluate_quoted"),
    shell:
        "{params.cli} evaluate --dataset {wildcards.dataset} --method {wildcards.method} --output {output} --log {log}"


rule table3:
    input:
        metrics=[eval_metrics(d) for d in DATASETS],
        values=values("table3"),
    output:
        csv="results/evaluate/tables/table3.csv",
        md=report(
            "results/evaluate/tables/table3.md",
            caption="../report/table3.rst",
            category="Tables",
        ),
        tex="results/evaluate/tables/table3.tex",
        variants=multiext(
            "results/evaluate/tables/table3_variants", ".csv", ".md", ".tex"
        ),
        quoted=(
            multiext("results/evaluate/tables/table3_quoted", ".csv", ".md", ".tex")
            if EVAL_QUOTED
            else []
        ),
    log:
        "results/evaluate/logs/table3.log",
    benchmark:
        "results/evaluate/timing/table3.tsv"
    conda:
        ENV
    threads: 1
    params:
        cli=CLI,
        reads=reads("table3"),
    shell:
        "{params.cli} evaluate --aggregate --inputs {input.metrics} --table results/evaluate/tables/table3 --log {log}"


rule figure_benchmark:
    input:
        samples=expand(
            "results/evaluate/plots/{{dataset}}/{m}_sample.npz", m=EVAL_COMPUTED
        ),
        values=values("figure_benchmark"),
    output:
        report(
            "results/evaluate/figures/benchmark_{dataset}.png",
            caption=f"{FIGURE_CAPTIONS}/benchmark.rst",
            category="Figures",
            subcategory="{dataset}",
        ),
    log:
        "results/evaluate/logs/figure_benchmark_{dataset}.log",
    benchmark:
        "results/evaluate/timing/figure_benchmark_{dataset}.tsv"
    wildcard_constraints:
        dataset="|".join(DATASETS),
    conda:
        ENV
    threads: 1
    params:
        cli=CLI,
        reads=reads("figure_benchmark"),
    shell:
        "{params.cli} figures benchmark --inputs {input.samples} --output {output} --log {log}"


rule deblur_real:
    input:
        ckpt=f"results/train/checkpoints/{DEBLUR_MODEL}/final.pt",
        image=f"{EXAMPLES}/im.png",
        background=f"{EXAMPLES}/bgr.png",
        video=f"{EXAMPLES}/falling_pen.avi",
        values=values("deblur_real"),
    output:
        figure=report(
            "results/evaluate/figures/deblur_real.png",
            caption=f"{FIGURE_CAPTIONS}/deblur_real.rst",
            category="Figures",
        ),
        folder=directory("results/evaluate/deblur"),
    log:
        "results/evaluate/logs/deblur_real.log",
    benchmark:
        "results/evaluate/timing/deblur_real.tsv"
    conda:
        ENV
    threads: THREADS
    resources:
        gpu=1,
    params:
        cli=CLI,
        reads=reads("deblur_real"),
    shell:
        "{params.cli} deblur --checkpoint {input.ckpt} --image {input.image} --background {input.background}"
        " --video {input.video} --min-track 2 --output-dir {output.folder} --figure {output.figure} --log {log}"


rule deblur_footage:
    input:
        ckpt=f"results/train/checkpoints/{DEBLUR_MODEL}/final.pt",
        video=f"{EXAMPLES}/{{clip}}.avi",
        values=values("deblur_footage"),
    output:
        metrics="results/evaluate/footage/{clip}_{variant}.json",
        panel="results/evaluate/panels/footage_{clip}_{variant}.png",
        media=directory("results/evaluate/media/{clip}_{variant}"),
    log:
        "results/evaluate/logs/footage_{clip}_{variant}.log",
    benchmark:
        "results/evaluate/timing/footage_{clip}_{variant}.tsv"
    wildcard_constraints:
        variant="|".join(FOOTAGE_VARIANTS),
    conda:
        ENV
    threads: THREADS
    resources:
        gpu=1,
    params:
        cli=CLI,
        reads=reads("deblur_footage"),
        flags=footage_flags,
    shell:
        "{params.cli} deblur --checkpoint {input.ckpt} --video {input.video} {params.flags} --no-frame-files"
        " --output-dir {output.media} --figure {output.panel} --metrics {output.metrics} --log {log}"


# One figure per clip: its variants' panels (the same frames) one above the other.
rule footage_figure:
    input:
        panels=expand(
            "results/evaluate/panels/footage_{{clip}}_{variant}.png",
            variant=FIGURE_VARIANTS,
        ),
        values=values("footage_figure"),
    output:
        "results/evaluate/figures/footage_{clip}.png",
    log:
        "results/evaluate/logs/footage_figure_{clip}.log",
    benchmark:
        "results/evaluate/timing/footage_figure_{clip}.tsv"
    wildcard_constraints:
        clip="|".join(REAL_CLIPS),
    conda:
        ENV
    params:
        cli=CLI,
        reads=reads("footage_figure"),
    shell:
        "{params.cli} footage --panels {input.panels} --figure {output} --log {log}"


rule footage_table:
    input:
        metrics=expand(
            "results/evaluate/footage/{clip}_{variant}.json",
            clip=REAL_CLIPS,
            variant=FOOTAGE_VARIANTS,
        ),
        values=values("footage_table"),
    output:
        multiext("results/evaluate/tables/footage", ".csv", ".md", ".tex"),
    log:
        "results/evaluate/logs/footage_table.log",
    benchmark:
        "results/evaluate/timing/footage_table.tsv"
    conda:
        ENV
    params:
        cli=CLI,
        reads=reads("footage_table"),
    shell:
        "{params.cli} footage --inputs {input.metrics} --table results/evaluate/tables/footage --log {log}"


rule evaluate:
    input:
        "results/config/evaluate.yaml",
        rules.table3.output,
        expand("results/evaluate/figures/benchmark_{d}.png", d=DATASETS),
        rules.deblur_real.output.figure,
        rules.footage_table.output,
        expand("results/evaluate/figures/footage_{clip}.png", clip=REAL_CLIPS),
