"""Every error a `python -m pconv` user can cause is one line on stderr and exit status 2 (issue 23).

`USER_CASES` enumerates the user-caused cases of the issue that can be set up in a
second: bad flags, missing or odd paths, an existing mask set, a full or read-only disk
(simulated: tests run as root, where chmod stops nothing), the VGG weights offline, a
checkpoint with a malformed config. `pconv.cli.parser.main` is the single place that maps them;
a real bug keeps its traceback (the last tests).
"""

from __future__ import annotations

import errno
import socket
from pathlib import Path

import pytest
import torch
from PIL import Image

from pconv.cli import main

CPU = ["--device", "cpu", "--num-workers", "0"]


def tiny_checkpoint(path: Path, **config) -> Path:
    """A pconv inpainting checkpoint of a 3-layer, 8-channel PConvUNet for 32 px images."""
    from pconv.nn import PConvUNet
    from pconv.train import model_info, save_checkpoint

    model = PConvUNet(layers=3, base_channels=8)
    cfg = {"model": model_info(model), "task": "inpainting", "size": 32, **config}
    return save_checkpoint({"step": 3, "model": model.state_dict(), "config": cfg}, path)


def raiser(exc: BaseException):
    def fail(*args, **kwargs):
        raise exc

    return fail


def full(path: str = "x") -> OSError:
    return OSError(errno.ENOSPC, "No space left on device", path)


def read_only(path: str = "x") -> OSError:
    return OSError(errno.EROFS, "Read-only file system", path)


# --- setups: each gets (tmp_path, monkeypatch) and prepares what its case needs -------------


def photos(t, mp, n=4):
    import numpy as np

    (t / "imgs").mkdir()
    for i in range(n):
        Image.fromarray(np.full((40, 48, 3), 40 * i, np.uint8)).save(t / "imgs" / f"p{i}.png")


def a_run_without_checkpoints(t, mp):
    (t / "empty").mkdir()


def dangling(t, mp):
    (t / "dangling").symlink_to(t / "gone")


def offline_vgg(t, mp):
    from pconv.nn import vgg

    mp.setenv("TORCH_HOME", str(t / "torch_home"))
    mp.setattr(vgg, "_download_error", None)
    mp.setattr(socket, "create_connection", raiser(OSError("network disabled by the test")))
    mp.setattr(socket, "getaddrinfo", raiser(OSError("network disabled by the test")))


def a_file(t, mp):
    (t / "notes.txt").write_text("mine")


def a_mask_set(t, mp):
    assert main(["masks", "--out", str(t / "m"), "--size", "32", "--per-bin", "1"]) == 0


def masks_write_fails(exc):
    def setup(t, mp):
        mp.setattr(Image.Image, "save", raiser(exc))  # every mask PNG written

    return setup


def shared_masks_fail(exc):
    def setup(t, mp):
        import pconv.cli.commands

        tiny_checkpoint(t / "c.pt")
        mp.setattr(pconv.cli.commands, "fixed_test_masks", raiser(exc))

    return setup


def convert_fails(exc):
    def setup(t, mp):
        import pconv.cli.pretrained

        tiny_checkpoint(t / "c.pt")
        mp.setattr(pconv.cli.pretrained, "save_checkpoint", raiser(exc))

    return setup


def odd_config(**config):
    def setup(t, mp):
        tiny_checkpoint(t / "c.pt")
        tiny_checkpoint(t / "odd.pt", **config)

    return setup


def unreadable_data(t, mp):
    import pconv.cli.commands

    tiny_checkpoint(t / "c.pt")
    mp.setattr(pconv.cli.commands, "_image_folder", raiser(PermissionError(13, "Permission denied", str(t / "imgs"))))


def nothing(t, mp):
    pass


TORCH_FULL = RuntimeError("[enforce fail at inline_container.cc:603] . unexpected pos 64 vs 0")

# (name, argv with T for tmp_path, setup, what the line must say). Train cases run under PCONV_SMOKE=1.
USER_CASES = [
    ("train: --data missing", ["train", "--data", "T/nowhere"], nothing, "T/nowhere"),
    ("train: --data is a file", ["train", "--data", "T/notes.txt"], a_file, "T/notes.txt"),
    ("train: --out empty", ["train", "--out", ""], nothing, "empty path"),
    ("train: --out a file", ["train", "--out", "T/notes.txt"], a_file, "is a file"),
    ("train: --out dangling link", ["train", "--out", "T/dangling"], dangling, "symbolic link to T/gone"),
    ("train: --resume, empty --out", ["train", "--out", "T/empty", "--resume"], a_run_without_checkpoints, "resume"),
    ("train: --resume, missing --out", ["train", "--out", "T/new", "--resume"], nothing, "does not exist"),
    ("train: --resume without --out", ["train", "--resume"], nothing, "--resume needs --out"),
    ("train: --seed overflow", ["train", "--seed", "99999999999999999999"], nothing, "--seed"),
    ("train: --seed 2**64", ["train", "--seed", str(2**64)], nothing, "--seed"),
    ("train: --batch-size > samples", ["train", "--batch-size", "100000"], nothing, "--batch-size 100000"),
    ("train: --batch-size > folder", ["train", "--data", "T/imgs", "--batch-size", "8"], photos, "gives 3 images"),
    ("train: --size 8192", ["train", "--size", "8192"], nothing, "--size"),
    ("train: --warmup-steps > --steps", ["train", "--warmup-steps", "100", "--steps", "5"], nothing, "--warmup-steps"),
    ("train: --vgg imagenet offline", ["train", "--vgg", "imagenet"], offline_vgg, "--vgg imagenet"),
    ("evaluate: missing checkpoint", ["evaluate", "--checkpoint", "T/no.pt"], nothing, "T/no.pt"),
    ("evaluate: --checkpoint empty", ["evaluate", "--checkpoint", ""], nothing, "empty path"),
    ("evaluate: no manifest", ["evaluate", "--checkpoint", "T/c.pt", "--masks", "T"], odd_config(), "manifest"),
    ("evaluate: config of a wrong type", ["evaluate", "--checkpoint", "T/odd.pt"], odd_config(size="big"), "odd.pt"),
    ("evaluate: masks read-only", ["evaluate", "--checkpoint", "T/c.pt"], shared_masks_fail(read_only()), "read-only"),
    ("evaluate: masks disk full", ["evaluate", "--checkpoint", "T/c.pt"], shared_masks_fail(full()), "full"),
    ("evaluate: unreadable --data", ["evaluate", "--checkpoint", "T/c.pt", "--data", "T/imgs"], unreadable_data,
     "T/imgs: Permission denied"),
    ("masks: existing set", ["masks", "--out", "T/m", "--size", "32", "--per-bin", "1"], a_mask_set, "--force"),
    ("masks: --out read-only", ["masks", "--out", "T/m"], masks_write_fails(read_only()), "read-only"),
    ("masks: --out disk full", ["masks", "--out", "T/m"], masks_write_fails(full()), "full"),
    ("masks: --out under a file", ["masks", "--out", "T/notes.txt/m"], a_file, "T/notes.txt is a file"),
    ("convert: OUT under a file", ["pretrained", "convert", "T/c.pt", "T/notes.txt/o.pt"], a_file, "T/notes.txt is a"),
    ("download: --dest under a file", ["download", "celeba", "--dest", "T/notes.txt/d"], a_file, "T/notes.txt is a"),
    ("masks: --size 60000", ["masks", "--out", "T/m", "--size", "60000"], nothing, "--size"),
    ("masks: --size 1", ["masks", "--out", "T/m", "--size", "1"], nothing, "size"),
    ("download: --dest empty", ["download", "celeba", "--dest", ""], nothing, "empty path"),
    ("convert: read-only folder", ["pretrained", "convert", "T/c.pt", "T/o"], convert_fails(read_only()), "read-only"),
    ("convert: disk full (torch.save)", ["pretrained", "convert", "T/c.pt", "T/o"], convert_fails(TORCH_FULL), "full"),
    ("convert: missing folder/", ["pretrained", "convert", "T/c.pt", "T/new/"], odd_config(), "does not exist"),
    ("convert: OUT exists", ["pretrained", "convert", "T/c.pt", "T/notes.txt"], a_file, "exists"),
]  # fmt: skip


@pytest.mark.parametrize("argv, setup, needle", [c[1:] for c in USER_CASES], ids=[c[0] for c in USER_CASES])
def test_every_user_caused_error_is_one_line_and_exit_2(tmp_path, monkeypatch, capsys, argv, setup, needle):
    monkeypatch.setenv("PCONV_SMOKE", "1")
    monkeypatch.chdir(tmp_path)
    setup(tmp_path, monkeypatch)
    capsys.readouterr()
    argv = [a.replace("T", str(tmp_path), 1) if a.startswith("T") else a for a in argv]
    extra = CPU if argv[0] == "train" else ["--device", "cpu"] if argv[0] == "evaluate" else []
    assert main(argv + extra) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"pconv {argv[0]}: error: ") or err.startswith("python -m pconv: error: "), err
    want = needle.replace("T", str(tmp_path)) if needle.startswith("T") or " T/" in needle else needle
    assert want in err, err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    assert "=True" not in err  # flags as typed (--resume, --force), not the API's resume=True


def test_write_failures_name_the_file_and_leave_nothing(tmp_path, monkeypatch, capsys):
    """A full disk while `masks` writes: the set's folder named, and no half-written set left behind."""
    real = Image.Image.save
    calls = []

    def fill_up(self, fp, *args, **kwargs):
        calls.append(fp)
        if len(calls) == 3:
            raise full(str(fp))
        return real(self, fp, *args, **kwargs)

    monkeypatch.setattr(Image.Image, "save", fill_up)
    assert main(["masks", "--out", str(tmp_path / "m"), "--size", "32", "--per-bin", "2"]) == 2
    err = capsys.readouterr().err
    assert str(tmp_path / "m") in err and "full" in err and err.count("\n") == 1
    assert not (tmp_path / "m" / "manifest.json").exists() and not any(tmp_path.rglob("*.png"))


def test_user_error_messages_speak_in_flags():
    from pconv.cli.errors import one_line
    from pconv.train import ConfigError, RunExistsError

    e = RunExistsError("runs/a holds a run\n  ; pass resume=True (--resume) to continue it")
    assert one_line(e) == "runs/a holds a run ; pass --resume to continue it"
    assert one_line(ValueError("Pass force=True to replace it")) == "Pass --force to replace it"
    assert one_line(FileExistsError("pass overwrite=True (--force) to replace it")) == "pass --force to replace it"
    line = one_line(ConfigError("batch_size", "an int >= 1", 0))
    assert line == "argument --batch-size: expected an int >= 1, got 0 (see --help)"
    assert one_line(PermissionError(13, "Permission denied", "/d/x.png")).startswith("/d/x.png: Permission denied; ")


@pytest.mark.parametrize(
    "bug",
    [ZeroDivisionError("a bug"), KeyError("a bug"), FileNotFoundError(2, "No such file", "/x"), RuntimeError("a bug")],
    ids=["ZeroDivisionError", "KeyError", "OSError ENOENT", "RuntimeError"],
)
def test_an_unexpected_exception_keeps_its_traceback(tmp_path, monkeypatch, capsys, bug):
    import pconv.cli.commands

    monkeypatch.setattr(pconv.cli.commands, "load_test_masks", raiser(bug))  # after the set was written
    with pytest.raises(type(bug)) as info:
        main(["masks", "--out", str(tmp_path / "m"), "--size", "32", "--per-bin", "1"])
    assert info.value is bug and info.traceback  # raised as is, with its traceback
    assert "error:" not in capsys.readouterr().err


def test_num_workers_above_the_cpus_is_capped_not_refused(tmp_path, monkeypatch):
    """BAD 11: --num-workers 100000 is taken as the CPU count (the note is `TrainConfig`'s)."""
    from pconv.cli import commands
    from pconv.train import config

    seen = []
    monkeypatch.setattr(config, "cpu_count", lambda: 1)
    monkeypatch.setattr(commands, "_train_data", raiser(SystemExit(7)))  # stop once the config is built
    monkeypatch.setattr(config.TrainConfig, "__post_init__", _spy(config.TrainConfig.__post_init__, seen))
    with pytest.raises(SystemExit):
        main(["train", "--out", str(tmp_path / "r"), "--num-workers", "100000", "--device", "cpu"])
    assert seen[-1].num_workers == 1


def _spy(post_init, seen):
    def spy(self):
        post_init(self)
        seen.append(self)

    return spy


def test_evaluate_caps_num_images_at_what_the_data_holds(tmp_path, monkeypatch, capsys):
    from pconv.cli.commands import SAMPLE_CROPS_PER_PHOTO
    from pconv.data import sample_names

    tiny_checkpoint(tmp_path / "c.pt")
    photos(tmp_path, monkeypatch, n=3)
    base = ["evaluate", "--checkpoint", str(tmp_path / "c.pt"), "--methods", "mean_fill", "--per-bin", "1"]
    assert main([*base, "--data", str(tmp_path / "imgs"), "--num-images", "100000", "--device", "cpu"]) == 0
    captured = capsys.readouterr()
    assert ", 3 images," in captured.out and "--num-images 100000 is more than" in captured.err
    most = SAMPLE_CROPS_PER_PHOTO * len(sample_names("val"))
    import pconv.cli.commands

    lengths = []
    real = pconv.cli.commands._eval_images

    def spy(args, size):
        lengths.append(len(real(args, size)))
        raise SystemExit(0)  # the cap is what matters here, not scoring 64 crops

    monkeypatch.setattr(pconv.cli.commands, "_eval_images", spy)
    with pytest.raises(SystemExit):
        main([*base, "--num-images", "100000", "--device", "cpu"])
    assert lengths == [most] and f"({most}); using {most}" in capsys.readouterr().err


def test_a_malformed_checkpoint_config_is_refused_by_evaluate(tmp_path, capsys):
    """BAD 6 (evaluate side): a config of the wrong type used to give a traceback."""
    torch.save({"step": 1, "model": {}, "config": ["not", "a", "dict"]}, tmp_path / "list.pt")
    assert main(["evaluate", "--checkpoint", str(tmp_path / "list.pt"), "--device", "cpu"]) == 2
    err = capsys.readouterr().err
    assert "list.pt" in err and "config" in err and err.count("\n") == 1
