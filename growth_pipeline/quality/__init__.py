"""Data quality: asset checks, freshness policies and the pure rules they apply."""
