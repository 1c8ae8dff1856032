"""Analysis: generalization scores, correlation engine, informativeness, figures and the HTML report."""
