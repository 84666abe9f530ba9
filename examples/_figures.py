"""Where the examples save their figures (shared by every example).

By default a new temporary folder, so that running an example never
overwrites the committed figures; ``--outdir DIR`` chooses the folder;
``--update-figures`` rewrites ``examples/figures/`` on purpose.
"""
import os
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))


def add_figure_args(parser):
    """The --outdir / --update-figures options of every example."""
    parser.add_argument("--outdir", default=None,
                        help="folder for the figure (default: a new "
                             "temporary folder; the committed figures stay "
                             "as they are)")
    parser.add_argument("--update-figures", action="store_true",
                        help="overwrite the committed figure in "
                             "examples/figures/")


def figure_dir(args):
    """examples/figures/ only with --update-figures; else --outdir or a new
    temporary folder."""
    if args.update_figures:
        return os.path.join(HERE, "figures")
    if args.outdir:
        os.makedirs(args.outdir, exist_ok=True)
        return args.outdir
    return tempfile.mkdtemp(prefix="jitmlp-example-")
