"""Test support: ``data`` makes small raw datasets in real layouts; ``reference`` holds
plain-numpy twins of every public op (obviously correct, slow)."""
