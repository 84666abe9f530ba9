"""The seed's complexity: the time of one training step grows as O(K^2 L).

Sweeps width K and depth L at a fixed batch; the README fits the exponents.
"""
import numpy as np

import jitmlp as jm

from .common import Stable, pin


class StepScaling(Stable):
    params = ([64, 128, 256, 512, 1024], [1, 2, 4, 8])
    param_names = ["K", "L"]
    timeout = 300

    def setup(self, K, L):
        pin()
        self.B = 64
        self.steps = 20
        self.model = jm.MLP([K] * (L + 1) + [1], dtype="float32", seed=0)
        self.trainer = jm.Trainer(self.model, jm.SGD(lr=1e-4),
                                  batch_size=self.B, epochs=1, seed=0,
                                  shuffle=False, track_grad_norms=False)
        r = np.random.default_rng(0)
        self.X = r.standard_normal((self.B * self.steps, K)).astype(np.float32)
        self.y = r.standard_normal(self.B * self.steps).astype(np.float32)
        self.trainer.fit(self.X, self.y)

    def time_epoch_of_20_steps(self, K, L):
        self.trainer.fit(self.X, self.y)
