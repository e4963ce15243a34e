# Code quality (report Table 5): Radon over src/defmo/ (minus quality.exclude), the report's two rows
# quoted, any quality.compare checkout measured the same way; the worst functions and the files by MI;
# metrics JSON for `dvc metrics diff`. Phase target: `quality`.
from pathlib import Path

QUALITY_SOURCES = sorted(str(p) for p in Path("src/defmo").rglob("*.py"))


rule quality_radon:
    input:
        sources=QUALITY_SOURCES,
        values=values("quality_radon"),
    output:
        csv="results/quality/tables/table5.csv",
        md=report(
            "results/quality/tables/table5.md",
            caption="../report/table5.rst",
            category="Tables",
        ),
        tex="results/quality/tables/table5.tex",
        functions=report(
            "results/quality/tables/functions.md",
            caption="../report/quality_functions.rst",
            category="Code quality",
        ),
        files=report(
            "results/quality/tables/files.md",
            caption="../report/quality_files.rst",
            category="Code quality",
        ),
        metrics="results/quality/metrics/quality.json",
    log:
        "results/quality/logs/quality_radon.log",
    benchmark:
        "results/quality/timing/quality_radon.tsv"
    conda:
        ENV
    threads: 1
    params:
        cli=CLI,
        reads=reads("quality_radon"),
    shell:
        "{params.cli} quality --root src/defmo --table {output.md} --functions {output.functions}"
        " --files {output.files} --metrics {output.metrics} --log {log}"


rule quality:
    input:
        "results/config/quality.yaml",
        rules.quality_radon.output,
