"""The self-validating study: convergence stopping, grid bracketing, seeds until decided, a budget (policy/run.py)."""
