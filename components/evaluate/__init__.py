"""evaluate_classifier: metrics, slices, an HTML report and a champion gate for a classifier."""
