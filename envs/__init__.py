"""Env presets: one JSON file per env name, `{algo: {preset: {key: value}}}`.

Installed as the package `evoflow.envs`; `evoflow run ALGO --env NAME --preset P` reads
`NAME.json[ALGO][P]`.
"""
