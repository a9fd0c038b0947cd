"""Side-by-side benchmarks: a baseline and our code in the same run, printing the ratio."""
