"""Seed-chain genomes (Such et al. 2017, "Deep Neuroevolution", §3): an individual is the seed of
its initialization and one (seed, σ) per mutation since; its parameters are rebuilt as

    θ_0 = init(key(init_seed)),   θ_i = θ_{i-1} + σ_i · normal(key(seed_i), (D,))   (float32)

Uber's code draws from a shared 1 GB noise table; a counter-based PRNG makes the table
unnecessary: `normal(key(seed), (D,))` is the table's slice. The search never rebuilds a chain:
children come from cached parents with one draw (`children`, the same arithmetic as `mutate`), and
a chain is rebuilt only to decode a saved genome, which must then reproduce its checksum.

Encoding (`encode` / `decode`), little-endian:

    magic b"EVOGENOM" | format u16 | flags u16 (bit 0: jax_threefry_partitionable)
    | PRNG impl: u8 length + ASCII | network-spec hash (16 bytes, md5 of its canonical JSON)
    | parameter checksum (32 bytes, sha256 of θ's float32 bytes) | D u64 | init_seed u32
    | G u32 | G x (seed u32, σ float32)

so a genome is 8 bytes per mutation past a header of about 90 bytes, whatever D. Random streams
are not stable across JAX's PRNG settings (DESIGN.md, determinism contract): `rebuild` refuses a
genome recorded under another PRNG implementation or flag, or for another network, and a rebuild
that misses the checksum, each with a one-line error naming both sides.
"""

from __future__ import annotations

import functools
import hashlib
import json
import struct
from dataclasses import dataclass
from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np

from evoflow.errors import RunStateError

MAGIC = b"EVOGENOM"
FORMAT_VERSION = 1
_FIXED = struct.Struct("<8sHH")
_TAIL = struct.Struct("<16s32sQII")
_MUTATION = struct.Struct("<If")
SEED_MAX = 2**32 - 1


class GenomeError(RunStateError):
    """A genome file that cannot be decoded or rebuilt: one line naming what differs."""


@dataclass(frozen=True)
class Chain:
    """The lineage of one individual: its init seed, then (seed, σ) per mutation (uint32,
    float32 values held as Python ints and floats)."""

    init_seed: int
    seeds: tuple[int, ...] = ()
    sigmas: tuple[float, ...] = ()

    def __post_init__(self):
        if len(self.seeds) != len(self.sigmas):
            raise ValueError(f"chain: {len(self.seeds)} seeds but {len(self.sigmas)} sigmas")
        for s in (self.init_seed, *self.seeds):
            if not 0 <= int(s) <= SEED_MAX:
                raise ValueError(f"chain: seed {s} is not a uint32")
        # held as applied: ints, and σ rounded to float32 (what the genome stores)
        object.__setattr__(self, "init_seed", int(self.init_seed))
        object.__setattr__(self, "seeds", tuple(int(s) for s in self.seeds))
        object.__setattr__(self, "sigmas", tuple(float(np.float32(s)) for s in self.sigmas))

    @property
    def generations(self) -> int:
        return len(self.seeds)

    def child(self, seed: int, sigma: float) -> "Chain":
        """This chain plus one mutation."""
        return Chain(self.init_seed, (*self.seeds, seed), (*self.sigmas, sigma))


def spec_hash(spec: dict) -> bytes:
    """16 bytes naming a network: md5 of its canonical JSON (sizes, activations, init)."""
    return hashlib.md5(json.dumps(spec, sort_keys=True, separators=(",", ":")).encode()).digest()


def checksum(theta) -> bytes:
    """sha256 of the parameters as little-endian float32 bytes."""
    return hashlib.sha256(np.ascontiguousarray(np.asarray(theta), "<f4").tobytes()).digest()


def noise(seed, dim: int) -> jax.Array:
    """The mutation direction of a seed: normal(key(seed), (dim,)), float32."""
    return jax.random.normal(jax.random.key(seed), (dim,), jnp.float32)


def _mutate(theta, seed, sigma):
    return theta + sigma * noise(seed, theta.shape[-1])


mutate = jax.jit(_mutate)  # θ + σ·ε(seed): one step of a chain


@jax.jit
def children(parents, parent_index, seeds, sigmas):
    """Children (N, D) of cached parents (T, D): parents[parent_index] + σ · ε(seed), each row
    the same arithmetic as `mutate`, so a child's chain rebuilds it bitwise."""
    return jax.vmap(_mutate)(parents[parent_index], seeds, sigmas)


@functools.lru_cache(maxsize=8)
def _host_children_fn(init: Callable):
    def build(parents, parent, seed, sigma):
        fresh = jax.vmap(lambda s: init(jax.random.key(s), 1, jnp.float32)[0])(seed)
        base = parents[jnp.maximum(parent, 0)]
        mutated = jax.vmap(_mutate)(base, seed, sigma)
        rows = jnp.where((sigma == 0)[:, None], base, mutated)  # an elite: the parent itself
        return jnp.where((parent < 0)[:, None], fresh, rows)

    return jax.jit(build)


def host_children(task, payload: dict, broadcast: dict) -> np.ndarray:
    """The host loop's decoder (a Strategy's `host_decoder`): parameters (P, D) of a chunk of
    payloads {"parent" (P,) int32: a row of broadcast["parents"] (T, D), or -1 for a fresh
    initialization from `seed`; "seed" (P,) uint32; "sigma" (P,) float32, 0 for an unmutated
    copy}, with the arithmetic of `children` and `materialize`. Runs in the worker that
    evaluates the chunk, which receives the parents once per generation."""
    fn = _host_children_fn(task.sample_genotypes)
    out = fn(jnp.asarray(broadcast["parents"], jnp.float32),
             jnp.asarray(payload["parent"], jnp.int32), jnp.asarray(payload["seed"], jnp.uint32),
             jnp.asarray(payload["sigma"], jnp.float32))
    return np.asarray(out)


def materialize(chain: Chain, init: Callable, dim: int) -> jax.Array:
    """θ of a chain: `init(key)` (a (dim,) float32 vector), then each mutation in order."""
    theta = jnp.asarray(init(jax.random.key(chain.init_seed)), jnp.float32)
    if theta.shape != (dim,):
        raise ValueError(f"init returned shape {theta.shape}, expected ({dim},)")
    for seed, sigma in zip(chain.seeds, chain.sigmas):
        theta = mutate(theta, jnp.uint32(seed), jnp.float32(sigma))
    return theta


def _prng_now() -> tuple[str, bool]:
    return str(jax.config.jax_default_prng_impl), bool(jax.config.jax_threefry_partitionable)


@dataclass(frozen=True)
class Genome:
    """A decoded genome: its chain and what it was recorded with."""

    chain: Chain
    dim: int
    spec_hash: bytes
    checksum: bytes
    prng_impl: str
    threefry_partitionable: bool
    version: int = FORMAT_VERSION


def encode(chain: Chain, theta, spec: dict) -> bytes:
    """The genome of `chain`, whose parameters are `theta` (their checksum is stored), for the
    network `spec`, under the current PRNG setting."""
    impl, partitionable = _prng_now()
    name = impl.encode("ascii")
    theta = np.asarray(theta)
    out = [_FIXED.pack(MAGIC, FORMAT_VERSION, int(partitionable)), bytes([len(name)]), name,
           _TAIL.pack(spec_hash(spec), checksum(theta), theta.shape[-1], chain.init_seed,
                      chain.generations)]
    out += [_MUTATION.pack(s, sg) for s, sg in zip(chain.seeds, chain.sigmas)]
    return b"".join(out)


def decode(data: bytes, source: str = "genome") -> Genome:
    """The genome in `data`; anything malformed is a GenomeError naming `source`."""
    if len(data) < _FIXED.size + 1 or data[:len(MAGIC)] != MAGIC:
        raise GenomeError(f"{source}: not an evoflow genome (no {MAGIC.decode()} header)")
    _, version, flags = _FIXED.unpack_from(data)
    if version != FORMAT_VERSION:
        raise GenomeError(f"{source}: genome format {version}; this evoflow reads format "
                          f"{FORMAT_VERSION}")
    pos = _FIXED.size
    n = data[pos]
    pos += 1
    if len(data) < pos + n + _TAIL.size:
        raise GenomeError(f"{source}: truncated header ({len(data)} bytes)")
    try:
        impl = data[pos:pos + n].decode("ascii")
    except UnicodeDecodeError:
        raise GenomeError(f"{source}: PRNG name is not ASCII") from None
    pos += n
    spec, check, dim, init_seed, g = _TAIL.unpack_from(data, pos)
    pos += _TAIL.size
    if len(data) != pos + g * _MUTATION.size:
        raise GenomeError(f"{source}: {len(data)} bytes, but its header says {g} mutations "
                          f"({pos + g * _MUTATION.size} bytes)")
    muts = [_MUTATION.unpack_from(data, pos + i * _MUTATION.size) for i in range(g)]
    if any(not np.isfinite(sg) for _, sg in muts):
        raise GenomeError(f"{source}: a mutation power is not finite")
    chain = Chain(init_seed, tuple(s for s, _ in muts), tuple(float(sg) for _, sg in muts))
    return Genome(chain, dim, spec, check, impl, bool(flags & 1), version)


def rebuild(data: bytes, init: Callable, spec: dict, source: str = "genome") -> tuple[Genome,
                                                                                       jax.Array]:
    """(genome, θ): decoded, checked against the current PRNG setting and `spec`, rebuilt, and
    its checksum verified. Every mismatch is refused, naming both sides."""
    g = decode(data, source)
    impl, partitionable = _prng_now()
    if (g.prng_impl, g.threefry_partitionable) != (impl, partitionable):
        raise GenomeError(
            f"{source}: recorded under PRNG impl={g.prng_impl} threefry_partitionable="
            f"{g.threefry_partitionable}, now impl={impl} threefry_partitionable={partitionable}"
            f"; its noise would differ: rebuild it under the recorded setting")
    if g.spec_hash != spec_hash(spec):
        raise GenomeError(f"{source}: made for another network (spec hash "
                          f"{g.spec_hash.hex()}, this one {spec_hash(spec).hex()})")
    theta = materialize(g.chain, init, g.dim)
    got = checksum(theta)
    if got != g.checksum:
        raise GenomeError(f"{source}: rebuilt parameters fail the checksum (recorded "
                          f"{g.checksum.hex()[:16]}..., rebuilt {got.hex()[:16]}...): refused")
    return g, theta


def size_ratio(generations: int, dim: int, impl: str = "threefry2x32") -> float:
    """bytes(float32 parameters) / bytes(genome) for a chain of `generations` mutations."""
    header = _FIXED.size + 1 + len(impl) + _TAIL.size
    return 4 * dim / (header + _MUTATION.size * generations)


__all__ = ["Chain", "Genome", "GenomeError", "children", "checksum", "decode", "encode",
           "materialize", "mutate", "noise", "rebuild", "size_ratio", "spec_hash"]
