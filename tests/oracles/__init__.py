"""Reference implementations tests (and benchmarks) check the fast code against: slow, plain, the specification."""
