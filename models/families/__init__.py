"""The code of each Chatterbox model family, one module each (`original`, `multilingual`,
`turbo`), all shaped by `base.ModelFamily`. The table that lists them, with what the API
and the configuration need to know without PyTorch, is `contract/families.py`: its rows name
these modules, which are imported only when a runner loads its model."""

from __future__ import annotations

import importlib
from functools import cache

from contract.families import FAMILIES, ModelName
from models.families.base import ModelFamily


@cache
def family_class(name: ModelName) -> type[ModelFamily]:
    """The class holding family `name`'s code (its module's `FAMILY`)."""
    family: type[ModelFamily] = importlib.import_module(FAMILIES[name].module).FAMILY
    return family
