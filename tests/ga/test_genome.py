"""Seed-chain genomes (issue 20 item 2): children from cached parents equal their rebuilt chains
bitwise, a golden genome pins the encoding and the PRNG stream, and a genome that cannot be
rebuilt faithfully is refused with one line."""

from __future__ import annotations

import hashlib

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from evoflow.algorithms.ga import genome as gn

SPEC = {"net": "mlp", "sizes": [4, 3], "init": "normal*0.1"}
ATARI_CNN_PARAMS = 4_052_658  # Uber's Atari network (SAME padding), issue 20 item 4


def init(key, dim=10):
    return 0.1 * jax.random.normal(key, (dim,), jnp.float32)


@pytest.fixture
def partitionable():
    """Run under an explicit PRNG flag (the engine sets it from the run's config)."""
    before = jax.config.jax_threefry_partitionable

    def set_(value: bool):
        jax.config.update("jax_threefry_partitionable", value)
    set_(False)
    yield set_
    set_(before)


def test_children_of_cached_parents_rebuild_bitwise_from_their_chains(partitionable):
    """50 generations, D = 1e5: every generation's children come from the cached parents with
    one draw; the chains of the last generation rebuild the same parameters bit for bit."""
    dim, t, n = 100_000, 3, 5
    rng = np.random.default_rng(0)
    full = lambda key: init(key, dim)  # noqa: E731
    chains = [gn.Chain(int(s)) for s in rng.integers(0, 2**32, t)]
    parents = jnp.stack([gn.materialize(c, full, dim) for c in chains])
    for _ in range(50):
        idx = rng.integers(0, t, n)
        seeds = rng.integers(0, 2**32, n, dtype=np.uint32)
        sigmas = rng.uniform(0.001, 0.05, n).astype(np.float32)
        kids = gn.children(parents, jnp.asarray(idx), jnp.asarray(seeds), jnp.asarray(sigmas))
        kid_chains = [chains[i].child(s, sg) for i, s, sg in zip(idx, seeds, sigmas)]
        keep = rng.choice(n, t, replace=False)  # truncation: any T of the children
        parents, chains = kids[keep], [kid_chains[i] for i in keep]
    assert all(c.generations == 50 for c in chains)
    for c, theta in zip(chains[:2], parents[:2]):
        np.testing.assert_array_equal(np.asarray(gn.materialize(c, full, dim)),
                                      np.asarray(theta))
        g, rebuilt = gn.rebuild(gn.encode(c, theta, SPEC), full, SPEC)
        assert g.chain == c and gn.checksum(rebuilt) == gn.checksum(theta)


GOLDEN = gn.Chain(7, (1, 4_000_000_000, 12345), (0.02, 0.005, 0.5))
# sha256 of the golden genome under threefry2x32, jax_threefry_partitionable=False: it pins the
# format and, through the parameter checksum, the PRNG stream that rebuilds it.
GOLDEN_SHA256 = "3480bc94a4fee70fcf877c6e5e93f7f7de4f6b1c6a04da554cc8652ffd527f46"


def test_the_golden_genome_is_pinned(partitionable):
    theta = gn.materialize(GOLDEN, init, 10)
    data = gn.encode(GOLDEN, theta, SPEC)
    assert hashlib.sha256(data).hexdigest() == GOLDEN_SHA256
    assert len(data) == 8 + 2 + 2 + 1 + len("threefry2x32") + 16 + 32 + 8 + 4 + 4 + 3 * 8
    g = gn.decode(data)
    assert g.chain == GOLDEN and g.dim == 10 and g.prng_impl == "threefry2x32"
    assert not g.threefry_partitionable and g.spec_hash == gn.spec_hash(SPEC)


def _corrupt(data: bytes, at: int) -> bytes:
    return data[:at] + bytes([data[at] ^ 0xFF]) + data[at + 1:]


def test_a_genome_that_cannot_be_rebuilt_faithfully_is_refused(partitionable):
    theta = gn.materialize(GOLDEN, init, 10)
    data = gn.encode(GOLDEN, theta, SPEC)
    head = 8 + 2 + 2 + 1 + len("threefry2x32")
    cases = [
        (b"NOTAGENOME" + data[10:], "not an evoflow genome"),
        (data[:-3], "mutations"),
        (data[:20], "truncated"),
        (_corrupt(data, head + 16), "fail the checksum"),  # a checksum byte
        (_corrupt(data, len(data) - 8), "fail the checksum"),  # a mutation's seed
        (data[:8] + (2).to_bytes(2, "little") + data[10:], "format 2"),
    ]
    for bad, needle in cases:
        with pytest.raises(gn.GenomeError, match=needle) as e:
            gn.rebuild(bad, init, SPEC, source="best.genome")
        assert str(e.value).startswith("best.genome: ") and "\n" not in str(e.value)
    with pytest.raises(gn.GenomeError, match="another network"):
        gn.rebuild(data, init, {**SPEC, "sizes": [4, 4]})
    partitionable(True)  # another PRNG flag: refused, naming both settings
    with pytest.raises(gn.GenomeError, match="threefry_partitionable=False, now "
                                             "impl=threefry2x32 threefry_partitionable=True"):
        gn.rebuild(data, init, SPEC)


def test_genomes_are_ten_thousand_times_smaller_than_the_atari_network():
    assert gn.size_ratio(150, ATARI_CNN_PARAMS) >= 10_000
    assert gn.size_ratio(1000, ATARI_CNN_PARAMS) < 10_000
    chain = gn.Chain(1, tuple(range(150)), (0.002,) * 150)
    data = gn.encode(chain, np.zeros(ATARI_CNN_PARAMS, np.float32), SPEC)
    assert 4 * ATARI_CNN_PARAMS / len(data) == pytest.approx(gn.size_ratio(150,
                                                                           ATARI_CNN_PARAMS))


def test_a_chain_checks_its_seeds():
    with pytest.raises(ValueError, match="uint32"):
        gn.Chain(2**32)
    with pytest.raises(ValueError, match="sigmas"):
        gn.Chain(1, (2,), ())
    assert gn.Chain(1).child(5, 0.1).sigmas == (float(np.float32(0.1)),)
