"""The explicit training loop (Accelerate), metrics, checkpoint selection, TAPT and run folders."""
