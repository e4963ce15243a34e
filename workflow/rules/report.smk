# Table 2 from the params actually used, and results/report/report.md assembling tables 2-5, the training
# validation metrics and every figure, each with provenance and a reading computed from the numbers.
# Phase target: `report` (the Snakefile's `rule all` takes its inputs).
from glob import glob

REPORT_FIGURES = [
    "results/data/figures/samples_synthetic.png",
    "results/train/figures/training_curves.png",
    *expand("results/evaluate/figures/benchmark_{dataset}.png", dataset=DATASETS),
    "results/ablate/figures/memory.png",
    "results/evaluate/figures/deblur_real.png",
]
# Each real clip's sub-frames with the fit, with the network alone and with the previous fit (the
# real-footage section).
REPORT_FOOTAGE_FIGURES = expand(
    "results/evaluate/figures/footage_{clip}.png", clip=REAL_CLIPS
)
# Evaluation records: the main background window, then each evaluate.background_variants window (not for a
# quoted method, which has no variants).
REPORT_EVALS = expand(EVAL_RECORD, dataset=DATASETS, method=EVAL_METHODS) + expand(
    EVAL_VARIANT, dataset=DATASETS, method=EVAL_COMPUTED, window=EVAL_WINDOWS
)
# Performance notes are committed by the throughput-* verbs, not built here: include those present.
REPORT_NOTES = sorted(glob("results/throughput/*.md"))
# The seed study's verdicts, table and figure, where committed. Read, not taken as inputs: the study is outside
# `all`, and as inputs they would pull its 12 trainings into every run; rerun `report` after `seeds`.
SEED_FILES = [
    "results/seeds/tables/seeds_verdicts.md",
    "results/seeds/tables/seeds.md",
    "results/seeds/figures/seeds.png",
]
REPORT_SEEDS = Untracked(" ".join(p for p in SEED_FILES if os.path.isfile(p)))
# Other seeds' training runs (workflow/scripts/seed_spread.sh, outside the pipeline), read where committed.
REPORT_SPREAD = Untracked(" ".join(sorted(glob("results/spread/*.json"))))


rule table2:
    input:
        values=values("table2"),
    output:
        csv="results/report/tables/table2.csv",
        md=report(
            "results/report/tables/table2.md",
            caption="../report/table2.rst",
            category="Tables",
        ),
        tex="results/report/tables/table2.tex",
    log:
        "results/report/logs/table2.log",
    benchmark:
        "results/report/timing/table2.tsv"
    conda:
        ENV
    threads: 1
    params:
        cli=CLI,
        reads=reads("table2"),
        paper_arg=PAPER_ARG,
    shell:
        "{params.cli} table2 --table2 {output.md} {params.paper_arg} --log {log}"


rule report_md:
    input:
        table2=rules.table2.output.md,
        table3="results/evaluate/tables/table3.md",
        table4="results/ablate/tables/table4.md",
        table5="results/quality/tables/table5.md",
        quality="results/quality/metrics/quality.json",
        details=[
            "results/quality/tables/functions.md",
            "results/quality/tables/files.md",
        ],
        memory="results/ablate/metrics/memory.json",
        evals=REPORT_EVALS,
        vals=expand("results/train/metrics/{approach}.json", approach=APPROACHES),
        figures=REPORT_FIGURES,
        notes=REPORT_NOTES,
        footage="results/evaluate/tables/footage.md",
        footage_figures=REPORT_FOOTAGE_FIGURES,
        values=values("report_md"),
    output:
        md=report(
            "results/report/report.md",
            caption="../report/report.rst",
            category="Report",
        ),
        summary="results/report/summary.md",
        metrics="results/report/metrics.json",
    log:
        "results/report/logs/report.log",
    benchmark:
        "results/report/timing/report.tsv"
    conda:
        ENV
    threads: 1
    params:
        cli=CLI,
        reads=reads("report_md"),
        paper_arg=PAPER_ARG,
        seeds=REPORT_SEEDS,
        seeds_summary="results/seeds/metrics/summary.json",
        spread=REPORT_SPREAD,
    shell:
        "{params.cli} report {params.paper_arg} --seeds {params.seeds} --spread {params.spread} --table2 {input.table2} --table3 {input.table3} --table4 {input.table4}"
        " --table5 {input.table5} --quality-json {input.quality} --quality-details {input.details}"
        " --memory-json {input.memory} --eval-metrics {input.evals} --val-metrics {input.vals}"
        " --figures {input.figures} --benchmarks {input.notes} --footage {input.footage}"
        " --footage-figures {input.footage_figures} --output {output.md} --summary {output.summary}"
        " --metrics {output.metrics} --seeds-summary {params.seeds_summary} --log {log}"


rule report:
    input:
        "results/config/report.yaml",
        rules.report_md.output,
