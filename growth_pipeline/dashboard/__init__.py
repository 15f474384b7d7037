"""The product metrics dashboard: charts for the Dagster UI and a self-contained HTML report."""
