"""Studies: specs (YAML grids), a resumable sweep executor (local workers or Ray), and reports."""
