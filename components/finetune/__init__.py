"""Fine-tuning: turn Dataset artifacts and a pretrained transformer into a text classifier."""
