"""Tasks, readers into one example format, low-resource sampling, tokenization and batching."""
