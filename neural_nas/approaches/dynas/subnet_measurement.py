"""Measuring sub-networks of one Dynamic NAS search: what must be ready first, then one sub-network at a time.

`prepare` readies the data set (checked first: a bad path fails before the slower super-network is built) and the
weights, once. Its errors are the search's, never one sub-network's. `measure` then measures one sub-network: by the
super-network itself when it declares ``measures_itself``, else by the measurer it gives for its task
(`SuperNetwork.measurer`: image classification unless it says otherwise). Only the code of
the super-network and of the sub-network it extracts is wrapped in `measuring`: a failure there is that
sub-network's (recorded and skipped under ``on_error: skip``); a bug anywhere else stops the search.

Racing (``nas.dynas.racing``): `measure` given the measured front races the sub-network's validation against it
(`neural_nas.measurements.racing`), when whatever measures declares the metric it can race (``raced_metric``) and the
search measures that metric; the result is then the metrics, or `Stopped`.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from neural_nas.approaches.dynas.settings import Settings
from neural_nas.errors import MeasurementError, measuring
from neural_nas.measurements.metrics import metric_registry
from neural_nas.measurements.racing import Front, Race, Stopped
from neural_nas.results.study import finite_metrics

logger = logging.getLogger("neural_nas")


class SubnetMeasurement:
    """``measure(subnet) -> {metric: value}`` for the searched metrics (plus the super-network's exact ones)."""

    def __init__(self, settings: Settings, dynas_conf: Any) -> None:
        self.settings = settings
        self.supernet = settings.supernet
        self.conf = dynas_conf  # the nas.dynas section: data set, weights, device and measurement settings
        self._measurer: Any = None
        self._ready = False
        self._said_no_race = False

    @property
    def device(self) -> str:
        if self.conf.device:
            return self.conf.device
        import torch

        return "cuda" if torch.cuda.is_available() else "cpu"

    def prepare(self) -> None:
        """Everything measuring needs, once, before the first sub-network."""
        if self._ready:
            return
        if not self.supernet.measures_itself:
            self._task_measurer()
        exact = set(self.supernet.exact_metric_names)
        if any(m not in exact for m in self.settings.metric_names):
            # Trained weights only when a measured metric depends on them: MACs, params and latency of a randomly
            # initialised super-network are those of the trained one, so such a search runs offline.
            weighted = any(m.depends_on_weights for m in self.settings.metrics)
            if self.conf.pretrained and not weighted and not self.conf.supernet_ckpt_path:
                logger.info("no searched metric depends on trained weights: %s runs without them", self.supernet.name)
            self.supernet.load(
                pretrained=self.conf.pretrained and weighted, ckpt_path=self.conf.supernet_ckpt_path, device=self.device
            )
        setup = self.latency_setup()
        if setup is not None:
            shown = {k: v for k, v in setup.items() if k not in ("device", "torch_threads")}
            logger.info(
                "latency is measured on %s with %d torch threads: %s",
                setup["device"],
                setup["torch_threads"],
                ", ".join(f"{k} {v}" for k, v in shown.items()),
            )
        _ = self.raced_metric  # says now, once, when nas.dynas.racing has no effect
        self._ready = True  # only now: a set-up that failed is tried (and fails the search) again, never skipped

    def latency_setup(self) -> dict[str, Any] | None:
        """What the latencies this search measures depend on (None if the library does not measure latency)."""
        if "latency" not in self.settings.metric_names or self.supernet.measures_itself:
            return None
        import torch

        d = self.conf
        # Only what the timing reads: Transformer-LT times one sentence, whatever nas.dynas.batch_size says.
        batch = {"batch_size": d.batch_size} if "batch_size" in self.supernet.measurement_settings else {}
        return {
            "device": self.device,
            "torch_threads": torch.get_num_threads(),
            **batch,
            **self._task_measurer().latency_input,
            "warmup": d.latency_warmup,
            "steps": d.latency_steps,
        }

    @property
    def raced_metric(self) -> str | None:
        """The searched metric whose validation is raced (None: racing is off, or nothing here can be raced)."""
        if not self.settings.racing:
            return None
        measures = self.supernet if self.supernet.measures_itself else self._task_measurer()
        raced = getattr(measures, "raced_metric", None)
        if raced in self.settings.metric_names:
            return raced
        if not self._said_no_race:
            self._said_no_race = True
            why = (
                f"{self.supernet.name}'s measurement cannot race"
                if raced is None
                else f"the search does not measure {raced}, the metric {self.supernet.name} races"
            )
            logger.warning("nas.dynas.racing has no effect: %s; every sub-network is measured in full", why)
        return None

    def measure(self, subnet: Mapping[str, Any], front: Front | None = None) -> dict[str, float] | Stopped:
        """Measure one sub-network (an encoded dict); a MeasurementError names it if that fails. Given the measured
        ``front``, its validation races against it (when the search races): the result may be `Stopped`."""
        self.prepare()
        names = self.settings.metric_names
        race = Race(front, self.settings.seed) if front is not None and self.raced_metric else None
        raced = {} if race is None else {"race": race}
        if self.supernet.measures_itself:
            with measuring(subnet):
                result = self.supernet.measure(subnet, names, **raced)
        else:
            result = self._task_measurer()(subnet, **raced)
        if isinstance(result, Stopped):
            finite_metrics(subnet, result.metrics)
            logger.debug("stopped after %d of %d %s units: %s", result.samples, result.of, result.raced, dict(subnet))
            return result
        if not isinstance(result, Mapping):
            raise MeasurementError(subnet, f"the measurement returned {type(result).__name__}, not a dict of metrics")
        missing = [m for m in names if m not in result]
        if missing:
            raise MeasurementError(subnet, f"the measurement returned {sorted(result)}, without {missing}")
        values = finite_metrics(subnet, result)
        for name, value in values.items():  # as a NaN is, a value no measurement of the metric can give is a failure
            metric = metric_registry.get(name) if name in metric_registry else None
            if metric is not None and not metric.accepts(value):
                raise MeasurementError(subnet, f"metric {name!r} is {value:g}, not {metric.valid_text} ({metric.unit})")
        return values

    def _task_measurer(self) -> Any:
        if self._measurer is None:
            from neural_nas.measurements.context import MeasureContext

            ctx = MeasureContext(tuple(self.settings.metric_names), self.conf, self.device, self.settings.seed)
            self._measurer = self.supernet.measurer(ctx)
        return self._measurer
