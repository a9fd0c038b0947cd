"""prepare_dataset: raw text table in, clean train/validation/test splits and a report out."""
