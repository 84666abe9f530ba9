"""asv benchmarks of jitmlp: one module per concern (epoch, predict, update,
norm, compile, scaling).  Every ``setup`` warms the kernels up, so that
compilation and cache loading stay out of every figure but the compile ones."""
