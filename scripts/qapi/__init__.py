# The QAPI code generator: see scripts/qapi-gen.py.
