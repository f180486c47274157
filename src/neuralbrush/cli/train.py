"""``neuralbrush train DATASET``: StyleGAN2-ADA or DCGAN training (the loop is gan.train).

The options are generated from :class:`neuralbrush.gan.presets.TrainOptions`.
"""

from __future__ import annotations


import typer

from ..core.options import cli_from
from ..gan.presets import TrainOptions


@cli_from(TrainOptions)
def train_cmd(*, opts: TrainOptions, explicit: set[str]) -> None:
    """Train a StyleGAN2-ADA (or DCGAN) generator on a dataset; runs/NNNNN-<data>-<cfg>/ holds the results.

    Under torchrun --nproc_per_node N the same command trains with N processes (DDP).
    """
    from ..core.errors import UsageError
    from ..gan.train import train

    values = opts.to_dict()  # checked (command line over --config over defaults) before anything is read
    typed = explicit  # on the command line itself (a continued run may change only some of them)
    if values["resume"]:
        from ..gan.train import run_to_continue

        run_dir = run_to_continue(values["resume"], values["outdir"])  # latest or a GAN run folder
        if run_dir is not None:  # continue in place: the command line may change only run length/device
            from ..core.training import cli_overrides
            from ..gan.train import CONTINUE_OVERRIDES, resume

            print(resume(run_dir, **cli_overrides(typed, values, run_dir, CONTINUE_OVERRIDES)))
            return
    if not values["data"]:
        raise UsageError("give a DATASET folder or zip (or --config FILE, or --resume latest / RUN_DIR)")
    if opts.kimg is not None and opts.minutes is not None and {"kimg", "minutes"} <= typed:
        raise UsageError("give either --kimg or --minutes, not both")
    from ..core.outputs import claim_output

    claim_output(values["outdir"], "folder", what="--outdir")  # refused before the data or the networks load
    print(train(opts))


def register(app: typer.Typer) -> None:
    app.command("train")(train_cmd)
