"""Dynamic NAS: multi-objective search over a weight-sharing super-network, predictors in the loop.

One job per module, in the order data flows through a search (the run itself is `neural_nas.nas.run`):

- `settings`: the config, validated once and frozen;
- `subnet_measurement`: data set and weights made ready, then one sub-network measured at a time;
- `fitting`: metric predictors fitted on the measurements so far;
- `driver`: the `SearchState` a tactic (`evolution.tactics`) runs on, over the run;
- `agent`: `DyNAS`, the public face: the hooks the run calls.
"""

from neural_nas.approaches.dynas.agent import DyNAS

__all__ = ["DyNAS"]
