"""Pandas pipelines (DataFrame in, DataFrame out), seaborn plots and the HTML report."""
