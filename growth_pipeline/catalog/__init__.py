"""The catalog of tracked features and metrics (catalog.yaml) and its validation."""

from growth_pipeline.catalog.model import Catalog, CatalogError, Feature, Metric, Signal, load_catalog

__all__ = ["Catalog", "CatalogError", "Feature", "Metric", "Signal", "load_catalog"]
