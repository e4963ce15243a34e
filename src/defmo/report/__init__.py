"""Tables (CSV, Markdown, LaTeX), figures, the Radon quality report and results/report/report.md."""
