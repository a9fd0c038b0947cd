"""monitor_classifier: drift and label-free performance estimates for a served classifier."""
