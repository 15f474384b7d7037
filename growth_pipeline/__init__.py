"""growth_pipeline: daily platform-usage snapshots, feature adoption and week-on-week growth, in Dagster."""
