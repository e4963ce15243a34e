"""Phase report: Table 2, results/report/report.md with its readings, and the numbers quoted from the report and DeFMO."""
