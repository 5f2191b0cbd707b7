"""Value ranges as type hints: `Annotated` types that `fivestep.config.checks` judges
(with pydantic) before anything runs, for the signatures the project owns.

`def __init__(self, hidden1: PositiveInt = 8)` makes `model.net.hidden1=0` one clear
error line naming the key, instead of a shape error deep inside torch.
"""

from typing import Annotated

from pydantic import Field

PositiveInt = Annotated[int, Field(gt=0)]
NonNegativeInt = Annotated[int, Field(ge=0)]
PositiveFloat = Annotated[float, Field(gt=0, allow_inf_nan=False)]
NonNegativeFloat = Annotated[float, Field(ge=0, allow_inf_nan=False)]
# a share of the rows held out, or a dropout probability: 0 allowed, 1 not
Fraction = Annotated[float, Field(ge=0, lt=1)]
ClassCount = Annotated[int, Field(ge=2)]
