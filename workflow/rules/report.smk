# Table 2 from the params actually used, and results/report.md assembling tables 2-5, the training
# validation metrics and every figure, each with provenance and a reading computed from the numbers.
# Phase target: `report` (the Snakefile's `rule all` takes rules.report.output).
from glob import glob

# The report's values (paper scale, with the same user overrides) next to the run's scale: a change to either
# reruns Table 2 and the report; the tables and report jobs read it from its own resolved file.
TABLE2_PAPER = (
    resolve_with(RAW, OVERRIDES, "paper").to_dict() if "paper" in RAW["scales"] else CFG
)
TABLE2_PAPER_READ = {k: TABLE2_PAPER[k] for k in ("train", "data", "model")}
PAPER_ARG = Untracked(f"--paper-config {write_resolved(TABLE2_PAPER, RESOLVED_DIR)}")
REPORT_FIGURES = [
    "results/figures/samples_synthetic.png",
    "results/figures/training_curves.png",
    *expand("results/figures/benchmark_{dataset}.png", dataset=DATASETS),
    "results/figures/memory.png",
    "results/figures/deblur_real.png",
]
# Evaluation records: the main background window, then each eval.background_variants window (not for a
# quoted method, which has no variants).
REPORT_EVALS = expand(EVAL_RECORD, dataset=DATASETS, method=EVAL_METHODS) + expand(
    EVAL_VARIANT, dataset=DATASETS, method=EVAL_COMPUTED, window=EVAL_WINDOWS
)
# Performance notes are committed by the bench-* verbs, not built here: include those present.
REPORT_NOTES = sorted(glob("results/benchmarks/*.md"))


rule tables:
    output:
        csv="results/tables/table2.csv",
        md=report(
            "results/tables/table2.md",
            caption="../report/table2.rst",
            category="Tables",
        ),
        tex="results/tables/table2.tex",
    log:
        "results/logs/report/tables.log",
    benchmark:
        "results/benchmarks/rules/report/tables.tsv"
    conda:
        ENV
    threads: 1
    params:
        cli=CLI,
        train=CFG["train"],
        data=CFG["data"],
        model=CFG["model"],
        paper=TABLE2_PAPER_READ,
        paper_arg=PAPER_ARG,
        scale=SCALE,
    shell:
        "{params.cli} tables --table2 {output.md} {params.paper_arg} --log {log}"


rule report:
    input:
        table2=rules.tables.output.md,
        table3="results/tables/table3.md",
        table4="results/tables/table4.md",
        table5="results/tables/table5.md",
        quality="results/metrics/quality.json",
        details=[
            "results/tables/quality_functions.md",
            "results/tables/quality_files.md",
        ],
        memory="results/metrics/memory.json",
        evals=REPORT_EVALS,
        vals=expand("results/metrics/val_{approach}.json", approach=APPROACHES),
        figures=REPORT_FIGURES,
        notes=REPORT_NOTES,
    output:
        report(
            "results/report.md",
            caption="../report/report.rst",
            category="Report",
        ),
    log:
        "results/logs/report/report.log",
    benchmark:
        "results/benchmarks/rules/report/report.tsv"
    conda:
        ENV
    threads: 1
    params:
        cli=CLI,
        scale=SCALE,
        device=CFG["device"],
        data=CFG["data"],
        eval=CFG["eval"],
        train=CFG["train"],
        paper=TABLE2_PAPER_READ,
        paper_arg=PAPER_ARG,
    shell:
        "{params.cli} report {params.paper_arg} --table2 {input.table2} --table3 {input.table3} --table4 {input.table4}"
        " --table5 {input.table5} --quality-json {input.quality} --quality-details {input.details}"
        " --memory-json {input.memory} --eval-metrics {input.evals} --val-metrics {input.vals}"
        " --figures {input.figures} --benchmarks {input.notes} --output {output} --log {log}"
