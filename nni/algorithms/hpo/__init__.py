"""Built-in hyperparameter-optimisation algorithms, one module each, under NNI's names."""
