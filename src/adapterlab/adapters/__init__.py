"""The method itself: Houlsby bottleneck adapters for Hugging Face encoders, usable on its own."""
