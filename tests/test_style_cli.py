"""``neuralbrush style``: single photos with snapshots, bursts, resolved options, user errors."""

from __future__ import annotations

import json

from PIL import Image

from neuralbrush.cli.main import run
from neuralbrush.core.media import read_gif
from neuralbrush.datasets.samples import bloom, skimage_photo

FAST = ["--vgg", "random", "--size", "48", "--iterations", "4", "--initial-iterations", "4", "--final-iterations", "4"]


def _inputs(tmp_path):
    content = tmp_path / "cat.png"
    skimage_photo("chelsea").resize((72, 48)).save(content)
    style = tmp_path / "style.png"
    bloom(48, seed=4).save(style)
    return content, style


def test_style_writes_image_options_snapshots_and_animation(tmp_path):
    content, style = _inputs(tmp_path)
    out = tmp_path / "out.png"
    rc = run(["style", str(content), "--style", str(style), "--style", str(content), "--style-weights", "100,45",
              "-o", str(out), "--save-every", "2", "--min-scale", "32", *FAST])
    assert rc == 0
    assert Image.open(out).size == (48, 32)
    opts = json.loads((tmp_path / "out.json").read_text())
    assert opts["style_weights"] == [100.0, 45.0] and opts["vgg"] == "random" and opts["step_size"] == 0.02
    assert opts["content_layers"] == ["relu4_2"] and len(opts["styles"]) == 2 and opts["final_iterations"] == 4
    # two scales (34 and 48 px long side) of 4 steps each, a snapshot every 2 steps
    snaps = sorted((tmp_path / "out-snapshots").glob("step-*.png"))
    assert [p.name for p in snaps] == [f"step-{i:06d}.png" for i in (2, 4, 6, 8)]
    gif = read_gif(tmp_path / "out-progress.gif")
    assert len(gif) == 4 and gif[0].size == (48, 32)
    assert gif[0].tobytes() != gif[-1].tobytes()


def test_burst_stylises_a_folder_and_animates(tmp_path):
    folder = tmp_path / "shots"
    folder.mkdir()
    for i in range(3):
        bloom(48, seed=10 + i).save(folder / f"shot{i}.png")
    style = tmp_path / "style.png"
    skimage_photo("coffee").resize((48, 32)).save(style)
    out = tmp_path / "styled"
    rc = run(["style", str(folder), "--style", str(style), "-o", str(out), "--animate", str(tmp_path / "burst.gif"),
              *FAST])
    assert rc == 0
    assert sorted(p.name for p in out.glob("*.png")) == ["shot0.png", "shot1.png", "shot2.png"]
    assert json.loads((out / "style-options.json").read_text())["contents"][0].endswith("shot0.png")
    assert len(read_gif(tmp_path / "burst.gif")) == 3
    # a glob works too
    rc = run(["style", str(folder / "shot[01].png"), "--style", str(style), "-o", str(tmp_path / "g"), *FAST])
    assert rc == 0 and len(list((tmp_path / "g").glob("*.png"))) == 2


def test_user_errors_are_one_line(tmp_path, capsys):
    content, style = _inputs(tmp_path)
    o = ["-o", str(tmp_path / "never.png")]
    assert run(["style", str(content), "--style", str(tmp_path / "missing.jpg"), *o, *FAST]) == 2
    assert "missing.jpg" in capsys.readouterr().err
    assert run(["style", str(content), "--style", str(style), "--style-weights", "1,2", *o, *FAST]) == 2
    assert "style weights" in capsys.readouterr().err
    assert run(["style", str(content), "--style", str(style), "--preserve-color", "sepia", *o, *FAST]) == 2
    assert "--preserve-color" in capsys.readouterr().err
    # no --vgg: the weights store is empty in tests, so the store's error names the file and where to put it
    assert run(["style", str(content), "--style", str(style), "-o", str(tmp_path / "x.png")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "vgg19" in err and "Traceback" not in err
    assert not (tmp_path / "never.png").exists() and not (tmp_path / "never.json").exists()


def test_bad_options_are_refused_before_any_work(tmp_path, capsys, monkeypatch):
    import neuralbrush.style.transfer as transfer

    def never(*a, **k):
        raise AssertionError("the VGG extractor was built for options that were going to be refused")

    monkeypatch.setattr(transfer, "VGGFeatures", never)
    content, style = _inputs(tmp_path)
    o = ["-o", str(tmp_path / "never.png"), "--vgg", "random"]
    # Choices and bounds are refused by the parser now (declared in StyleOptions): the line names the option.
    for bad, says in ((["--optimizer", "sgd"], "'--optimizer'"), (["--size", "8"], "'--size'"),
                      (["--init", str(tmp_path / "nofile.png")], "--init must be"),
                      (["--style-layers", "relu9_1"], "unknown VGG-19 layer")):
        assert run(["style", str(content), "--style", str(style), *o, *bad]) == 2
        err = capsys.readouterr().err
        assert says in err and err.count("\n") == 1, err
    assert run(["style-video", str(content), "--style", str(style), "--optimizer", "sgd", "--vgg", "random",
                "-o", str(tmp_path / "v.mp4")]) == 2
    assert "'--optimizer'" in capsys.readouterr().err
    assert not list(tmp_path.glob("never*")) and not (tmp_path / "v.mp4").exists()


def test_a_weights_file_that_runs_code_is_refused_before_any_photo(tmp_path, capsys):
    import os

    import torch

    marker = tmp_path / "ran"

    class Evil:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    evil = tmp_path / "vgg19-evil.pth"
    torch.save({"features.0.weight": torch.zeros(64, 3, 3, 3), "x": Evil()}, evil, _use_new_zipfile_serialization=False)
    content, style = _inputs(tmp_path)
    assert run(["style", str(content), "--style", str(style), "--vgg", str(evil), "-o", str(tmp_path / "o.png")]) == 2
    err = capsys.readouterr().err
    assert "refusing to load" in err and "nothing in it was run" in err
    assert not marker.exists() and not (tmp_path / "o.png").exists()
