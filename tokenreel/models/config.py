"""JSON round trip shared by the model configs (stored in the safetensors metadata and checkpoints)."""
from dataclasses import asdict


class JsonConfig:
    """For dataclasses whose fields are scalars or tuples (tuples travel as JSON lists)."""

    def to_dict(self):
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}

    @classmethod
    def from_dict(cls, d):
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in d.items()})
