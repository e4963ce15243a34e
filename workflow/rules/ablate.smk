# Memory ablation (report Table 4): one job per (approach, technique) cell, each a fresh process that
# measures peak memory (NVML / nvidia-smi on CUDA, peak RSS on CPU) and step time; then Table 4, its plot
# CSV and metrics, and the grouped bar chart. Phase target: `ablate`.
import re
import shutil

ABLATE = CFG["ablate"]
# The cells hold the GPU alone on CUDA: NVML reads the whole device, so two cells at once would add up.
ABLATE_ON_CUDA = CFG["device"] == "cuda" or (
    CFG["device"] == "auto" and shutil.which("nvidia-smi") is not None
)
ABLATE_GPU = 1 if ABLATE_ON_CUDA else 0
ABLATE_CELLS = expand(
    "results/ablate/cells/{approach}__{technique}.json",
    approach=ABLATE["approaches"],
    technique=ABLATE["techniques"],
)


rule ablate_cell:
    input:
        values=values("ablate_cell"),
    output:
        "results/ablate/cells/{approach}__{technique}.json",
    log:
        "results/ablate/logs/{approach}__{technique}.log",
    benchmark:
        "results/ablate/timing/{approach}__{technique}.tsv"
    wildcard_constraints:
        approach="|".join(re.escape(a) for a in ABLATE["approaches"]),
        technique="|".join(re.escape(t) for t in ABLATE["techniques"]),
    conda:
        ENV
    threads: THREADS
    resources:
        gpu=ABLATE_GPU,
    params:
        cli=CLI,
        reads=reads("ablate_cell"),
    shell:
        "{params.cli} ablate --cell {wildcards.approach}:{wildcards.technique} --out {output} --log {log}"


rule table4:
    input:
        cells=ABLATE_CELLS,
        values=values("table4"),
    output:
        table="results/ablate/tables/table4.csv",
        md=report(
            "results/ablate/tables/table4.md",
            caption="../report/table4.rst",
            category="Tables",
        ),
        tex="results/ablate/tables/table4.tex",
        plot="results/ablate/plots/memory.csv",
        metrics="results/ablate/metrics/memory.json",
    log:
        "results/ablate/logs/table4.log",
    benchmark:
        "results/ablate/timing/table4.tsv"
    conda:
        ENV
    threads: 1
    params:
        cli=CLI,
        reads=reads("table4"),
    shell:
        "{params.cli} ablate --table --inputs {input.cells} --table-out {output.table}"
        " --plot-csv {output.plot} --metrics {output.metrics} --log {log}"


rule figure_memory:
    input:
        plot=rules.table4.output.plot,
        values=values("figure_memory"),
    output:
        report(
            "results/ablate/figures/memory.png",
            caption=f"{FIGURE_CAPTIONS}/memory.rst",
            category="Figures",
        ),
    log:
        "results/ablate/logs/figure_memory.log",
    benchmark:
        "results/ablate/timing/figure_memory.tsv"
    conda:
        ENV
    threads: 1
    params:
        cli=CLI,
        reads=reads("figure_memory"),
    shell:
        "{params.cli} figures memory --inputs {input.plot} --output {output} --log {log}"


rule ablate:
    input:
        "results/config/ablate.yaml",
        rules.table4.output,
        rules.figure_memory.output,
