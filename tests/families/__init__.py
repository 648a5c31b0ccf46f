"""Test-only families, registered for CLI subprocesses with EVOFLOW_FAMILIES=tests.families.<m>."""
