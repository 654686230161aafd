"""Benchmarks: page data loads at bench scale, as ratios against the naive approach."""
