"""Tiny task for the benchmark (a module, so every executor finds it)."""


def ident(x):
    return x
