"""Persona fit: how well a lead's firmographics match the personas both teams agreed."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from pipeline.errors import ConfigError
from pipeline.io import read_yaml


class SizeRange(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    min: int | None = Field(None, ge=0)
    max: int | None = Field(None, ge=0)

    @model_validator(mode="after")
    def _ordered(self) -> SizeRange:
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"min {self.min} is above max {self.max}")
        return self


class Persona(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    name: str
    description: str = ""
    company_size: SizeRange = SizeRange()
    industries: tuple[str, ...] = ()
    job_roles: tuple[str, ...] = ()
    countries: tuple[str, ...] = ()
    avg_deal_value_eur: float = Field(gt=0)


class Personas(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    personas: tuple[Persona, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique_names(self) -> Personas:
        names = [p.name for p in self.personas]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"duplicate persona names: {dupes}")
        return self

    def by_name(self) -> dict[str, Persona]:
        return {p.name: p for p in self.personas}


def load_personas(path: Path) -> Personas:
    from pipeline.params import format_validation_error

    try:
        return Personas.model_validate(read_yaml(path))
    except ValidationError as exc:
        raise ConfigError(format_validation_error(str(path), exc)) from exc
