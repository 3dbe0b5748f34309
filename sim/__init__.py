"""cocotb testbenches and their runner; installed as ``ristretto.sim``."""
