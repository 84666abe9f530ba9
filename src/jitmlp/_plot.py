"""History.plot: the curves of a fit in one matplotlib figure.

Imported only by :meth:`jitmlp.History.plot`; matplotlib is the ``plot``
extra (``pip install "jitmlp[plot]"``).
"""
import numpy as np

X_LABELS = {"epoch": "epoch", "step": "optimizer steps",
            "samples": "samples seen"}


def _require_matplotlib():
    try:
        import matplotlib  # noqa: F401
    except ImportError as exc:
        raise ImportError('History.plot needs matplotlib: pip install '
                          '"jitmlp[plot]"') from exc


def _epoch_ends(h, x):
    """x coordinate of the end of every recorded epoch."""
    n = len(h)
    if x == "epoch":
        return np.arange(1, n + 1, dtype=float)
    if x == "step":
        return np.cumsum(h.steps).astype(float)
    # samples: each epoch trained samples_per_second * seconds rows
    return np.cumsum(np.rint(np.asarray(h.samples_per_second) *
                             np.asarray(h.seconds)))


def _step_positions(h, x, ends):
    """x coordinate of every optimizer step (for the per-step lr)."""
    starts = np.concatenate([[0.0], ends[:-1]])
    out = []
    for e, lrs in enumerate(h.lr_steps):
        k = len(lrs)
        if x == "epoch":
            out.append(e + np.arange(1, k + 1) / max(k, 1))
        else:
            out.append(starts[e] + (ends[e] - starts[e]) *
                       np.arange(1, k + 1) / max(k, 1))
    return np.concatenate(out) if out else np.zeros(0)


def _auto_log(ax, values, logy):
    v = np.asarray([a for a in values if np.isfinite(a)], float)
    if logy == "auto":
        logy = v.size > 0 and v.min() > 0 and v.max() / v.min() > 20
    if logy:
        ax.set_yscale("log")


def plot_history(h, *, fig=None, ax=None, title=None, label=None,
                 x="epoch", logy="auto", **line_kw):
    """Plot a :class:`jitmlp.History` (see :meth:`jitmlp.History.plot`)."""
    _require_matplotlib()
    if x not in X_LABELS:
        raise ValueError(f"x must be one of {sorted(X_LABELS)}; got {x!r}")
    panels = ["loss"]
    if h.val_accuracy:
        panels.append("accuracy")
    if h.lr:
        panels.append("lr")
    if h.grad_norms:
        panels.append("grad_norms")
    if ax is not None:
        axes = list(np.atleast_1d(ax).ravel())
        panels = panels[:len(axes)]
        fig = axes[0].figure
    else:
        if fig is None:
            import matplotlib.pyplot as plt
            ncols = min(len(panels), 2)
            nrows = -(-len(panels) // ncols)
            fig = plt.figure(figsize=(5.2 * ncols, 3.6 * nrows),
                             layout="constrained")
        ncols = min(len(panels), 2)
        nrows = -(-len(panels) // ncols)
        grid = fig.subplots(nrows, ncols, squeeze=False).ravel()
        for extra in grid[len(panels):]:
            extra.set_visible(False)
        axes = list(grid[:len(panels)])
    ends = _epoch_ends(h, x)
    pre = f"{label}: " if label else ""
    color = line_kw.pop("color", None)
    n = len(h)
    for a, panel in zip(axes, panels):
        if panel == "loss":
            line, = a.plot(ends, h.loss, label=label or "training loss",
                           color=color, **line_kw)
            color = line.get_color()
            if h.val_loss:
                k = len(h.val_loss)
                a.plot(ends[:k], h.val_loss, color=color, linestyle="--",
                       label=f"{pre}validation loss" if label else
                       "validation loss")
            _auto_log(a, list(h.loss) + list(h.val_loss), logy)
            a.set_ylabel("loss (mean over the epoch)")
            _mark_events(a, h, ends, pre, color, values=h.loss,
                         x_is_epoch=x == "epoch")
        elif panel == "accuracy":
            k = len(h.val_accuracy)
            a.plot(ends[:k], h.val_accuracy, color=color,
                   label=label or "validation accuracy", **line_kw)
            a.set_ylabel("validation accuracy")
            _mark_events(a, h, ends, pre, color, values=h.val_accuracy,
                         x_is_epoch=x == "epoch")
        elif panel == "lr":
            if h.lr_steps and sum(len(s) for s in h.lr_steps):
                a.plot(_step_positions(h, x, ends),
                       np.concatenate(h.lr_steps), color=color,
                       label=f"{pre}learning rate, per step")
            else:
                a.plot(ends, h.lr, color=color,
                       label=f"{pre}learning rate, epoch's first step")
            a.set_ylabel("learning rate")
            _mark_events(a, h, ends, pre, color, values=None,
                         x_is_epoch=x == "epoch")
        else:
            G = np.asarray(h.grad_norms)
            k = G.shape[0]
            names = [f"layer {i + 1}" for i in range(G.shape[1] - 1)] + \
                ["output layer"]
            styles = ["-", "--", ":", "-."]
            for i in range(G.shape[1]):
                a.plot(ends[:k], G[:, i], linestyle=styles[i % 4],
                       label=pre + names[i])
            _auto_log(a, G.ravel(), "auto")
            a.set_ylabel("mean ||dW^(l)|| over the epoch")
            _mark_events(a, h, ends, pre, "0.3", values=None,
                         x_is_epoch=x == "epoch")
        a.set_xlabel(X_LABELS[x])
        if ax is None and n and x == "epoch" and n <= 12:
            a.set_xticks(np.arange(1, n + 1))
        if a.get_legend_handles_labels()[0]:
            a.legend(fontsize=8)
    if title:
        fig.suptitle(title)
    return fig


def _mark_events(a, h, ends, pre, color, values, x_is_epoch=True):
    """Divergence, interruption and early stopping, each marked and
    labelled (a point marker on the curve when ``values`` is given, else a
    vertical line)."""
    import matplotlib.transforms as mtransforms
    n = len(h)
    top = mtransforms.blended_transform_factory(a.transData, a.transAxes)
    if h.diverged:
        e = getattr(h, "diverged_epoch", None)
        text = (f"{pre}diverged" if e is None else
                f"{pre}diverged in epoch {e + 1}")
        # at the top edge, above the diverging epoch when it was recorded
        # (it made steps before the refused one), else after the last one:
        # the mean loss of a diverging epoch can be astronomically large
        if n and e in h.epoch:
            xpos = ends[h.epoch.index(e)]
        elif n:
            xpos = ends[-1] + (1 if x_is_epoch else 0)
        else:
            xpos = 1.0 if x_is_epoch else 0.0
        a.plot([xpos], [0.96], "x", color=color if pre else "red", ms=11,
               mew=2.5, transform=top, clip_on=False, label=text, zorder=5)
    if h.interrupted and n:
        a.axvline(ends[-1], color="orange", linestyle=":", lw=1.5,
                  label=f"{pre}interrupted (Ctrl-C) in epoch "
                        f"{h.epoch[-1] + 1}")
    if h.stopped_early and n:
        if h.best_epoch is not None and h.best_epoch in h.epoch:
            i = h.epoch.index(h.best_epoch)
            a.axvline(ends[i], color=color or "green", linestyle="--",
                      lw=1, alpha=0.8,
                      label=f"{pre}best epoch {h.best_epoch + 1}")
        a.plot([ends[-1]], [0.96], "v", color=color or "green", ms=8,
               transform=top, clip_on=False,
               label=f"{pre}stopped early after epoch {h.epoch[-1] + 1}")
