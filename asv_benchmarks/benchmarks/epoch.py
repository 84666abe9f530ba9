"""One training epoch (the whole-epoch kernel) for the configurations of the
speed issue, in both dtypes."""
from .common import CONFIGS, Stable, build, cpu_rate, pin


class Epoch(Stable):
    params = (list(CONFIGS), ["float32", "float64"])
    param_names = ["config", "dtype"]
    timeout = 300

    def setup(self, config, dtype):
        pin()
        self.model, self.trainer, self.X, self.y = build(config, dtype)
        self.trainer.fit(self.X, self.y)  # compile / load cache, warm BLAS

    def time_epoch(self, config, dtype):
        self.trainer.fit(self.X, self.y)

    def peakmem_epoch(self, config, dtype):
        self.trainer.fit(self.X, self.y)

    def track_samples_per_second(self, config, dtype):
        # CPU time, as the timings (History's figure is wall time)
        return cpu_rate(lambda: self.trainer.fit(self.X, self.y),
                        self.X.shape[0])
    track_samples_per_second.unit = "samples/s"


class Step(Stable):
    """Trainer.step: one optimizer step on one batch (Python call included)."""
    params = (["tiny", "tabular", "mnist"], ["float32"])
    param_names = ["config", "dtype"]

    def setup(self, config, dtype):
        pin()
        self.model, self.trainer, X, y = build(config, dtype)
        b = CONFIGS[config][3]
        self.Xb, self.yb = X[:max(b, 2)], y[:max(b, 2)]
        self.trainer.step(self.Xb, self.yb)

    def time_step(self, config, dtype):
        self.trainer.step(self.Xb, self.yb)
