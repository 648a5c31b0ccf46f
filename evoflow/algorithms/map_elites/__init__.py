"""MAP-Elites family: the archive (`archive`), variation operators (`variation`) and, on top of
them, the algorithms (ME, PGA-ME, DCG-ME, DCRL-ME). Modules are imported by path; this package
re-exports nothing so that its parts can be built independently."""
