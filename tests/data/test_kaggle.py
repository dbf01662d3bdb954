"""Tests for the pconv.data.kaggle subpackage: client (credentials), archive (safe extraction, install) and
download (the public `download`), with the real `kaggle` client, offline, against tests/fake_kaggle.py on 127.0.0.1.

One file for the three modules: they are tested together through `download`, against one fake server.
Every test runs with a temporary HOME, data folder and Kaggle config folder and with
all KAGGLE_* variables cleared, so the user's real credentials are never read.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import stat
import subprocess
import sys
import time
import traceback
import zipfile
from pathlib import Path
from types import SimpleNamespace

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # fake_kaggle
from fake_kaggle import KEY, RULES_MESSAGE, TOKEN, USERNAME, FakeKaggle, make_zip  # noqa: E402

from pconv.data.kaggle import archive as _archive  # noqa: E402
from pconv.data.kaggle import client as _kaggle_client  # noqa: E402
from pconv.data.kaggle import download as kaggle_download  # the module: its TIMEOUT, MAX_RETRIES
from pconv.data.kaggle.client import KaggleCredentialsError, KaggleError  # noqa: E402
from pconv.data.kaggle.download import (
    DATASETS,
    MARKER,
    KaggleArchiveError,
    KaggleAuthError,  # noqa: E402
    KaggleDiskFullError,
    KaggleNetworkError,
    KaggleNotFoundError,
    KaggleRulesError,
    credentials_status,
    download,
)

CELEBA = DATASETS["celeba"]
CARVANA = DATASETS["carvana"]


@pytest.fixture
def clean_env(tmp_path, monkeypatch):
    """No credentials anywhere, private temporary folders for everything."""
    for name in list(os.environ):
        if name.startswith(("KAGGLE_", "PCONV_")) or name.lower() in ("http_proxy", "https_proxy", "no_proxy"):
            monkeypatch.delenv(name)
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    monkeypatch.setenv("KAGGLE_CONFIG_DIR", str(home / ".kaggle"))
    monkeypatch.setenv("PCONV_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("PCONV_KAGGLE_INPUT", str(tmp_path / "no-kaggle-input"))
    return tmp_path


@pytest.fixture
def fake(clean_env, monkeypatch):
    """A running fake Kaggle with CelebA-like nested zips and the Carvana files, and credentials in the env."""
    with FakeKaggle() as server:
        inner = make_zip({"img_align_celeba/000001.jpg": b"jpeg-1", "img_align_celeba/000002.jpg": b"jpeg-2"})
        server.datasets[CELEBA] = make_zip({"img_align_celeba.zip": inner, "list_eval_partition.csv": b"a,0\n"})
        server.competitions[CARVANA] = {
            "train.zip": make_zip({"train/car_01.jpg": b"car"}),
            "train_masks.zip": make_zip({"train_masks/car_01_mask.gif": b"mask"}),
            "test.zip": make_zip({"test/big.jpg": b"not needed"}),
        }
        server.rules_accepted.add(CARVANA)
        for name, value in server.env().items():
            monkeypatch.setenv(name, value)
        yield server


def files_under(root: Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()}


def test_dataset_download_extracts_nested_zips_and_second_call_asks_nothing(fake, clean_env, monkeypatch):
    root = download("celeba")
    assert root == clean_env / "data" / "celeba"
    assert files_under(root) == {
        MARKER,
        "list_eval_partition.csv",
        "img_align_celeba/000001.jpg",
        "img_align_celeba/000002.jpg",
    }
    assert (root / "img_align_celeba" / "000002.jpg").read_bytes() == b"jpeg-2"
    assert fake.api_calls() == ["/api/v1/datasets.DatasetApiService/DownloadDataset"]
    assert [p.name for p in root.parent.iterdir()] == ["celeba"]  # no temporary folder left behind

    n = len(fake.requests)
    monkeypatch.delenv("KAGGLE_KEY")  # complete: not even credentials are needed
    assert download("celeba") == root
    assert download(CELEBA, dest=root) == root
    assert len(fake.requests) == n


def test_force_redownload_replaces_only_a_complete_folder(fake):
    root = download("celeba")
    fake.datasets[CELEBA] = make_zip({"new.txt": b"v2"})
    assert download("celeba", force=True) == root
    assert files_under(root) == {MARKER, "new.txt"}

    del fake.datasets[CELEBA]  # a failing re-download keeps the previous data
    with pytest.raises(KaggleNotFoundError):
        download("celeba", force=True)
    assert files_under(root) == {MARKER, "new.txt"}
    assert [p.name for p in root.parent.iterdir()] == ["celeba"]


def test_competition_downloads_only_train_and_masks(fake):
    root = download("carvana")
    assert files_under(root) == {MARKER, "train/car_01.jpg", "train_masks/car_01_mask.gif"}
    blobs = [path for _, path in fake.requests if path.startswith("/blobs/")]
    assert sorted(blobs) == [f"/blobs/competitions/{CARVANA}/{name}" for name in ("train.zip", "train_masks.zip")]


def test_whole_competition_into_explicit_dest(fake, tmp_path):
    fake.competitions["tiny-comp"] = {"train.csv": b"id\n1\n", "images.zip": make_zip({"images/1.png": b"png"})}
    fake.rules_accepted.add("tiny-comp")
    root = download("tiny-comp", tmp_path / "mine", competition=True)
    assert root == tmp_path / "mine"
    assert files_under(root) == {MARKER, "train.csv", "images/1.png"}
    with pytest.raises(ValueError, match="competition"):
        download("tiny-comp")  # no owner: needs competition=True


def test_access_token_authenticates_with_bearer(fake, monkeypatch):
    monkeypatch.delenv("KAGGLE_USERNAME")
    monkeypatch.delenv("KAGGLE_KEY")
    monkeypatch.setenv("KAGGLE_API_TOKEN", TOKEN)
    assert (download("celeba") / MARKER).is_file()
    assert f"Bearer {TOKEN}" in fake.auth_headers


def test_access_token_file_is_found(clean_env):
    token_file = Path(os.environ["HOME"]) / ".kaggle" / "access_token"
    token_file.parent.mkdir()
    token_file.write_text(TOKEN + "\n")
    status = credentials_status()
    assert str(token_file) in status and TOKEN not in status


def test_oauth_login_is_found_and_used(fake, monkeypatch):
    monkeypatch.delenv("KAGGLE_USERNAME")
    monkeypatch.delenv("KAGGLE_KEY")
    saved = Path(os.environ["HOME"]) / ".kaggle" / "credentials.json"  # as `kaggle auth login` writes it
    saved.parent.mkdir()
    refresh = "refresh-0123-SECRET"
    saved.write_text(
        json.dumps(
            {
                "refresh_token": refresh,
                "access_token": TOKEN,
                "access_token_expiration": "2999-01-01T00:00:00+00:00",
                "username": USERNAME,
            }
        )
    )
    status = credentials_status()
    assert "kaggle auth login" in status and refresh not in status and TOKEN not in status
    assert (download("celeba") / MARKER).is_file()
    assert f"Bearer {TOKEN}" in fake.auth_headers


def test_rejected_token_alone_is_an_auth_error(fake, monkeypatch, capsys):
    monkeypatch.delenv("KAGGLE_USERNAME")
    monkeypatch.delenv("KAGGLE_KEY")
    monkeypatch.setenv("KAGGLE_API_TOKEN", "revoked-" + TOKEN)
    with pytest.raises(KaggleAuthError, match="KAGGLE_API_TOKEN") as info:
        download("celeba")  # the client checks the token, finds nothing else and would print help and exit
    assert "settings/api" in str(info.value) and TOKEN not in str(info.value)
    assert fake.api_calls() == ["/api/v1/security.OAuthService/IntrospectToken"]
    assert "Authentication required" not in capsys.readouterr().out


@pytest.mark.parametrize("where", ["KAGGLE_CONFIG_DIR", "~/.kaggle", "XDG_CONFIG_HOME"])
def test_kaggle_json_is_looked_up_where_the_client_looks(clean_env, monkeypatch, where):
    home = Path(os.environ["HOME"])
    folder = {
        "KAGGLE_CONFIG_DIR": clean_env / "elsewhere",
        "~/.kaggle": home / ".kaggle",
        "XDG_CONFIG_HOME": home / ".config" / "kaggle",
    }[where]
    if where != "KAGGLE_CONFIG_DIR":
        monkeypatch.delenv("KAGGLE_CONFIG_DIR")
    else:
        monkeypatch.setenv("KAGGLE_CONFIG_DIR", str(folder))
    folder.mkdir(parents=True)
    (folder / "kaggle.json").write_text(json.dumps({"username": USERNAME, "key": KEY}))
    (folder / "kaggle.json").chmod(0o600)
    assert str(folder / "kaggle.json") in credentials_status()
    # The client decides its folder once, when imported: a fresh interpreter gives its answer.
    probe = "import importlib; api = importlib.import_module('kaggle.api.kaggle_api_extended').KaggleApi"
    probe += "; print('CONFIG=' + api.config)"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=300).stdout
    assert f"CONFIG={folder / 'kaggle.json'}" in out.splitlines()


def test_unreadable_kaggle_json(clean_env, monkeypatch):
    config = Path(os.environ["KAGGLE_CONFIG_DIR"]) / "kaggle.json"
    config.parent.mkdir()
    config.write_text("{}")
    config.chmod(0o600)

    def denied(self, *args, **kwargs):  # chmod 000 does not stop root, who runs CI
        raise PermissionError(13, "Permission denied", str(self))

    monkeypatch.setattr(Path, "read_text", denied)
    with pytest.raises(KaggleCredentialsError, match="cannot be read"):
        download("celeba")


def test_wrong_key_is_401(fake, monkeypatch):
    monkeypatch.setenv("KAGGLE_KEY", "wrong-key-1234")
    with pytest.raises(KaggleAuthError, match="HTTP 401") as info:
        download("celeba")
    assert "kaggle.com/settings/api" in str(info.value) and "wrong-key-1234" not in str(info.value)
    assert not (Path(os.environ["PCONV_DATA_DIR"]) / "celeba").exists()


def test_unaccepted_rules_is_403_with_rules_page(fake):
    fake.rules_accepted.clear()
    with pytest.raises(KaggleRulesError) as info:
        download("carvana")
    assert f"https://www.kaggle.com/competitions/{CARVANA}/rules" in str(info.value)
    assert isinstance(info.value, KaggleAuthError) and RULES_MESSAGE not in str(info.value)


def test_unknown_dataset_is_404(fake):
    with pytest.raises(KaggleNotFoundError, match="nobody/nothing"):
        download("nobody/nothing")


def test_missing_credentials_names_all_three_ways_and_makes_no_request(fake, monkeypatch, capsys):
    monkeypatch.delenv("KAGGLE_USERNAME")
    monkeypatch.delenv("KAGGLE_KEY")
    with pytest.raises(KaggleCredentialsError) as info:
        download("celeba")
    message = str(info.value)
    for needle in (
        "kaggle.json",
        "kaggle.json.example",
        "chmod 600",
        "KAGGLE_USERNAME",
        "KAGGLE_KEY",
        "KAGGLE_API_TOKEN",
        "KAGGLE_CONFIG_DIR",
        "/kaggle/input",
    ):
        assert needle in message
    assert fake.requests == [] and capsys.readouterr().out == ""
    assert "missing" in credentials_status()


def test_half_credentials_say_what_is_missing(clean_env, monkeypatch):
    monkeypatch.setenv("KAGGLE_USERNAME", USERNAME)
    with pytest.raises(KaggleCredentialsError, match="KAGGLE_KEY"):
        download("celeba")


def test_kaggle_json_world_readable_warns_and_works(fake, monkeypatch):
    monkeypatch.delenv("KAGGLE_USERNAME")
    monkeypatch.delenv("KAGGLE_KEY")
    config = Path(os.environ["KAGGLE_CONFIG_DIR"]) / "kaggle.json"
    config.parent.mkdir()
    config.write_text(f'{{"username": "{USERNAME}", "key": "{KEY}"}}')
    config.chmod(0o644)
    with pytest.warns(UserWarning, match="chmod 600"):
        assert (download("celeba") / MARKER).is_file()
    config.chmod(0o600)
    status = credentials_status()
    assert str(config) in status and USERNAME in status and KEY not in status and "Warning" not in status


def test_malformed_kaggle_json(clean_env):
    config = Path(os.environ["KAGGLE_CONFIG_DIR"]) / "kaggle.json"
    config.parent.mkdir()
    config.write_text("{not json")
    config.chmod(0o600)
    with pytest.raises(KaggleCredentialsError, match="not valid JSON"):
        download("celeba")


def test_corrupt_zip_leaves_nothing(fake, clean_env):
    fake.datasets[CELEBA] = b"PK\x03\x04 this is not really a zip file" * 10
    with pytest.raises(KaggleArchiveError, match="not a valid zip"):
        download("celeba")
    assert list((clean_env / "data").iterdir()) == []


@pytest.mark.parametrize("flip", ["stored", "deflated"])
def test_corrupt_member_data_is_an_archive_error(tmp_path, flip):
    payload = bytes(range(256)) * 64
    archive = tmp_path / "a.zip"
    method = zipfile.ZIP_STORED if flip == "stored" else zipfile.ZIP_DEFLATED
    with zipfile.ZipFile(archive, "w", method) as zf:
        zf.writestr("data.bin", payload)
    raw = bytearray(archive.read_bytes())
    raw[60:90] = bytes(30)  # damage the member's data, keep the directory intact
    archive.write_bytes(bytes(raw))
    with pytest.raises(_archive.ArchiveError, match="force=True"):
        _archive.safe_extract(archive, tmp_path / "out", progress=False)


@pytest.mark.parametrize(
    "entries, links",
    [
        ({"ok.txt": b"fine", "../escaped.txt": b"evil"}, None),
        ({"/tmp/absolute-pconv-test.txt": b"evil"}, None),
        ({"sub/..\\..\\escaped.txt": b"evil"}, None),
        ({"ok.txt": b"fine"}, {"link": "/etc/passwd"}),
    ],
)
def test_zip_slip_is_rejected(fake, clean_env, entries, links):
    fake.datasets[CELEBA] = make_zip(entries, links)
    with pytest.raises(KaggleArchiveError, match="unsafe entry"):
        download("celeba")
    assert list((clean_env / "data").iterdir()) == []
    assert not (clean_env / "escaped.txt").exists() and not Path("/tmp/absolute-pconv-test.txt").exists()


def test_nested_zip_slip_is_rejected_too(fake, clean_env):
    fake.datasets[CELEBA] = make_zip({"inner.zip": make_zip({"../../../escaped.txt": b"evil"})})
    with pytest.raises(KaggleArchiveError):
        download("celeba")
    assert not any(p.name == "escaped.txt" for p in clean_env.rglob("*"))


def test_full_disk_is_reported(fake, clean_env, monkeypatch):
    monkeypatch.setattr(_archive.shutil, "disk_usage", lambda path: SimpleNamespace(total=100, used=90, free=10))
    with pytest.raises(KaggleDiskFullError, match="PCONV_DATA_DIR"):
        download("celeba")
    assert list((clean_env / "data").iterdir()) == []


def test_unreachable_network_fails_fast(fake, monkeypatch):
    with socket.socket() as s:  # a port that was free a moment ago: nothing listens there
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    for name in ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy"):
        monkeypatch.setenv(name, f"http://127.0.0.1:{port}")
    start = time.monotonic()
    with pytest.raises(KaggleNetworkError, match="internet connection"):
        download("celeba")
    assert time.monotonic() - start < 10


def test_silent_server_times_out(fake, monkeypatch):
    monkeypatch.setattr(kaggle_download, "TIMEOUT", (0.5, 0.5))
    with socket.socket() as silent:  # accepts connections (backlog) but never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        for name in ("HTTP_PROXY", "http_proxy"):
            monkeypatch.setenv(name, f"http://127.0.0.1:{silent.getsockname()[1]}")
        start = time.monotonic()
        with pytest.raises(KaggleNetworkError):
            download("celeba")
        assert time.monotonic() - start < 10


def test_broken_transfer_is_retried_a_bounded_number_of_times(fake, clean_env, monkeypatch):
    client = _kaggle_client.load_client()  # `import kaggle` would authenticate; and `kaggle.api` is an instance
    monkeypatch.setattr(client.time, "sleep", lambda seconds: None)  # skip the client's backoff
    fake.truncate_blobs = True
    with pytest.raises(KaggleNetworkError, match="retry"):
        download("celeba")
    blobs = [path for _, path in fake.requests if path.startswith("/blobs/")]
    assert len(blobs) == 1 + kaggle_download.MAX_RETRIES
    assert list((clean_env / "data").iterdir()) == []


def test_kaggle_notebook_input_is_used_without_download(fake, clean_env, monkeypatch):
    monkeypatch.delenv("KAGGLE_KEY")
    attached = clean_env / "kaggle-input"
    (attached / "celeba-dataset" / "img_align_celeba").mkdir(parents=True)
    (attached / CARVANA).mkdir()
    (attached / CARVANA / "train.zip").write_bytes(make_zip({"train/a.jpg": b"a"}))
    (attached / CARVANA / "train_masks.zip").write_bytes(make_zip({"train_masks/a_mask.gif": b"m"}))
    monkeypatch.setenv("PCONV_KAGGLE_INPUT", str(attached))
    assert download("celeba") == attached / "celeba-dataset"
    root = download("carvana")  # the attached zips are extracted to a writable folder
    assert files_under(root) == {MARKER, "train/a.jpg", "train_masks/a_mask.gif"}
    assert fake.requests == [] and "Kaggle notebook" in credentials_status()


def test_unmarked_existing_folder_is_not_overwritten(fake, clean_env):
    mine = clean_env / "data" / "celeba"
    mine.mkdir(parents=True)
    (mine / "my-photo.jpg").write_bytes(b"precious")
    with pytest.raises(KaggleError, match="force=True"):
        download("celeba")
    assert (mine / "my-photo.jpg").read_bytes() == b"precious" and fake.requests == []


@pytest.mark.parametrize("bad", ["no-owner-dataset", "a/b/c", "../x", "owner/../../etc"])
def test_malformed_slugs(clean_env, bad):
    with pytest.raises(ValueError, match="name_or_slug"):
        download(bad)


def test_key_and_token_never_appear_in_output(fake, monkeypatch, capsys, caplog):
    caplog.set_level(logging.DEBUG)
    monkeypatch.setenv("VERBOSE", "1")  # the client would print request headers in verbose mode
    texts = [str(download("celeba")), credentials_status()]
    fake.rules_accepted.clear()
    for name, env in [
        ("carvana", {}),
        ("someone/missing", {}),
        ("celeba", {"KAGGLE_KEY": KEY + "-stale"}),
        ("celeba", {"KAGGLE_API_TOKEN": "not-the-" + TOKEN}),
    ]:
        for var, value in env.items():
            monkeypatch.setenv(var, value)
        with pytest.raises(KaggleError) as info:
            download(name, force=True)
        texts += [str(info.value), repr(info.value), "".join(traceback.format_exception(info.value))]
    texts += [credentials_status(), caplog.text, *capsys.readouterr()]
    blob = "\n".join(texts)
    assert "Dataset URL" in blob and "HTTP 401" in blob  # the client's output and the errors were captured
    for secret in (KEY, TOKEN, "-stale"):
        assert secret not in blob


def test_check_members_allows_plain_names(tmp_path):
    archive = tmp_path / "a.zip"
    archive.write_bytes(make_zip({"dir/": b"", "dir/x.txt": b"x", "y..z.txt": b"y"}))
    out = _archive.safe_extract(archive, tmp_path / "out", progress=False)
    assert sorted(p.name for p in out) == ["x.txt", "y..z.txt"]
    assert stat.S_ISREG((tmp_path / "out" / "dir" / "x.txt").stat().st_mode)


def test_leftovers_of_a_killed_download_are_cleaned_and_previous_data_restored(fake, clean_env):
    root = download("celeba")
    parent = root.parent
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    stale = parent / ".celeba.partial-dead"  # a download killed mid-way: its process is gone
    (stale / "half").mkdir(parents=True)
    (stale / ".pconv-owner").write_text(dead.stdout.strip())
    running = parent / ".celeba.partial-live"  # another process still downloading: left alone
    running.mkdir()
    (running / ".pconv-owner").write_text(str(os.getpid()))
    swapped = parent / ".celeba.old-x"  # killed between moving the old folder aside and moving the new one in
    root.rename(parent / "moved")
    swapped.mkdir()
    (parent / "moved").rename(swapped / "celeba")

    assert download("celeba") == root  # the previous data is back, complete: nothing downloaded
    assert files_under(root) == {
        MARKER,
        "list_eval_partition.csv",
        "img_align_celeba/000001.jpg",
        "img_align_celeba/000002.jpg",
    }
    assert sorted(p.name for p in parent.iterdir()) == [".celeba.partial-live", "celeba"]


# ---------------------------------------------------------------- nothing lost (issue 23)


@pytest.mark.parametrize("field", ["key", "username"])
@pytest.mark.parametrize("value", [987654321, 98.7654, ["s3cr3t"], None, {"s3cr3t": 1}, True, "", "   "])
def test_kaggle_json_fields_of_the_wrong_type_are_one_clear_error(clean_env, capsys, field, value):
    config = Path(os.environ["KAGGLE_CONFIG_DIR"]) / "kaggle.json"
    config.parent.mkdir()
    config.write_text(json.dumps({"username": USERNAME, "key": KEY, field: value}))
    config.chmod(0o600)
    with pytest.raises(KaggleCredentialsError, match=f"{config}: the field '{field}' is") as info:
        download("celeba")
    out = capsys.readouterr()
    status = credentials_status()  # reads the same file: the same message, no traceback
    for shown in (str(info.value), out.out, out.err, status):
        assert not any(secret in shown for secret in (KEY, "987654321", "98.7654", "s3cr3t"))
    assert "must be a non-empty text" in status


def test_a_full_or_read_only_disk_is_a_write_failure_and_keeps_the_old_data(fake, clean_env, monkeypatch):
    import errno

    from pconv.utils import WriteFailedError

    first = download("celeba")
    before = files_under(first)
    for code, kind in ((errno.ENOSPC, KaggleDiskFullError), (errno.EACCES, kaggle_download.KaggleWriteError)):

        def no_room(*args, code=code, **kwargs):
            raise OSError(code, os.strerror(code))

        monkeypatch.setattr(_archive, "extract_nested", no_room)
        with pytest.raises(kind) as info:
            download("celeba", force=True)
        assert isinstance(info.value, WriteFailedError) and "PCONV_DATA_DIR" in str(info.value)
        assert files_under(first) == before  # the previous download is intact
        assert sorted(p.name for p in first.parent.iterdir()) == [first.name]  # nothing half-written beside it


def test_force_is_named_as_the_flag_too(fake, clean_env):
    dest = clean_env / "data" / "celeba"
    dest.mkdir(parents=True)
    (dest / "half.jpg").write_bytes(b"x")
    with pytest.raises(KaggleError, match=r"force=True \(--force\)"):
        download("celeba")


@pytest.mark.parametrize("given", ["rel", "./rel", "a/../rel", "~/rel"])
def test_dest_is_resolved_once(fake, clean_env, monkeypatch, given):
    monkeypatch.chdir(clean_env)
    (clean_env / "a").mkdir()
    path = download("celeba", given)
    base = clean_env / "home" if given.startswith("~") else clean_env
    assert path.is_absolute() and path.resolve() == base / "rel" and (path / MARKER).is_file()
