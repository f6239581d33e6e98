"""Binary neural networks: quantizers, switchable-precision layers, model zoo,
data sets built from sklearn's digits, training and evaluation. Imports torch."""
