"""HTML/JSON reports: dataset analytics (report.dataset); evaluation comparisons live with evaluate."""
