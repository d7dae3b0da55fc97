"""Study reports: tables (Markdown, LaTeX, CSV) with significance tests, figures, one HTML file."""
