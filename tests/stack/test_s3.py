"""--s3 DIR: moto's real S3 server, one bucket per subfolder, one object per file."""

from __future__ import annotations

from pathlib import Path

import pytest

from lstream_cli._exitcodes import UsageError
from lstream_cli.stack.s3 import ACCESS_KEY, bucket_folders, local_s3


def test_folders_become_buckets_and_files_objects(tmp_path: Path) -> None:
    tmp_path = tmp_path / "s3"
    (tmp_path / "alpha" / "deep" / "er").mkdir(parents=True)
    (tmp_path / "alpha" / "1000").write_bytes(b"a" * 1000)
    (tmp_path / "alpha" / "deep" / "er" / "x.bin").write_bytes(bytes(range(256)))
    (tmp_path / "beta.example").mkdir()
    (tmp_path / ".hidden").mkdir()
    buckets = bucket_folders(tmp_path)
    assert [name for name, _ in buckets] == ["alpha", "beta.example"]
    with local_s3() as s3:
        assert s3.url.startswith("http://127.0.0.1:")
        assert s3.load(buckets) == 2
        assert s3.keys("alpha") == ["1000", "deep/er/x.bin"]
        assert s3.keys("beta.example") == []
        got = s3.client.get_object(Bucket="alpha", Key="deep/er/x.bin")["Body"].read()
        assert got == bytes(range(256))
        assert s3.environment() == {"AWS_ENDPOINT_URL_S3": s3.url}
        assert s3.credentials()[0] == ACCESS_KEY
        with pytest.raises(UsageError, match="already running"), local_s3():
            pass
    with local_s3() as again:  # stopped, so a second one may start
        assert again.url != ""


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda root: (root / "loose.bin").write_bytes(b"x"), "loose.bin is a file at the top"),
        (lambda root: (root / "Upper_Case").mkdir(), "'Upper_Case' is not a valid S3 bucket name"),
    ],
)
def test_bad_folders_are_usage_errors(tmp_path: Path, make: object, message: str) -> None:
    root = tmp_path / "s3"
    root.mkdir()
    make(root)  # type: ignore[operator]
    with pytest.raises(UsageError, match=message):
        bucket_folders(root)


def test_not_a_folder(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="is not a folder"):
        bucket_folders(tmp_path / "missing")


def test_a_proxy_in_the_environment_is_not_used_for_the_local_s3(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "ALL_PROXY"):
        monkeypatch.setenv(name, "http://127.0.0.1:1")  # nothing listens there
    monkeypatch.delenv("NO_PROXY", raising=False)
    (tmp_path / "s3" / "gamma").mkdir(parents=True)
    (tmp_path / "s3" / "gamma" / "k").write_bytes(b"v")
    with local_s3() as s3:
        assert s3.load(bucket_folders(tmp_path / "s3")) == 1
        assert s3.client.get_object(Bucket="gamma", Key="k")["Body"].read() == b"v"
