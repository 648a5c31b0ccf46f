"""Deep neuroevolution (Such et al. 2017), issue 20: so far its seed-chain genomes (`genome.py`).
The family's declaration (`ga`, `random_search`, `ga_ns`, `es`) lands with its algorithms; until
then nothing registers it, so `evoflow list` does not show it."""
