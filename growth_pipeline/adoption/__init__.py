"""Feature adoption: for each catalog feature, how many eligible teams use it, per tier and in total."""
