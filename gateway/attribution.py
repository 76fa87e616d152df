"""Attribution's vocabulary: the models and the defaults of an attribution query.

The one home: the engine (`gateway.engine.attribution`, which computes the models), the
analytics service (which bounds the values), the GraphQL input type and every REST surface
(and a dashboard view's attribution settings) import these. A domain module: it imports
nothing from the gateway, so every layer may import it. What each model does is in the
engine's module docstring.
"""

from __future__ import annotations

from enum import Enum

__all__ = [
    "DEFAULT_CONVERSION_EVENT",
    "DEFAULT_DIMENSION",
    "DEFAULT_HALF_LIFE_DAYS",
    "DEFAULT_MODEL",
    "DEFAULT_WINDOW_DAYS",
    "MODELS",
    "AttributionModel",
]


class AttributionModel(Enum):
    FIRST_CLICK = "first_click"
    LAST_CLICK = "last_click"
    ANY_CLICK = "any_click"
    LINEAR = "linear"
    POSITION_BASED = "position_based"
    TIME_DECAY = "time_decay"


MODELS: tuple[str, ...] = tuple(m.value for m in AttributionModel)

DEFAULT_DIMENSION = "utm_source"
DEFAULT_MODEL = AttributionModel.FIRST_CLICK.value
DEFAULT_WINDOW_DAYS = 30  # look-back from a conversion to its touches
DEFAULT_CONVERSION_EVENT = "purchase"
DEFAULT_HALF_LIFE_DAYS = 7.0  # time_decay: a touch's credit halves per this many days
