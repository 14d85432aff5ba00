"""Dynamic NAS: multi-objective search over a weight-sharing super-network, predictors in the loop.

One job per module, in the order data flows through a search:

- `settings`: the config, validated once and frozen;
- `measurement`: data set and weights made ready, then one sub-network measured at a time;
- `predictors`: metric predictors fitted on the measurements so far;
- `executor`: a batch measured here or across torch.distributed ranks (typed messages);
- `driver`: the `SearchState` a tactic (`evolution.tactics`) runs on, over the search's `Study` and results store;
- `agent`: `DyNAS`, the public face that wires them together.
"""

from neural_nas.approaches.dynas.agent import DyNAS

__all__ = ["DyNAS"]
