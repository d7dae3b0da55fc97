"""`adapterlab compare`: adapters vs LoRA vs fine-tuning on your own data, decided, in one command (compare/run.py)."""
