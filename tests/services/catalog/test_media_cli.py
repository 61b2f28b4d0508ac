"""`panthera media gc` and `panthera serve media-worker` from the command line."""

from __future__ import annotations

from pathlib import Path

from panthera.testing.processes import panthera


def test_media_gc_lists_orphans_on_a_dry_run_then_removes_them(tmp_path: Path) -> None:
    data = tmp_path / "data"
    digest = "cd" + "1" * 62
    orphan = data / "media" / "cd" / digest / "original.png"
    orphan.parent.mkdir(parents=True)
    orphan.write_bytes(b"left by a crash between the write and the commit")
    args = ("media", "gc", "--data-dir", str(data), "--min-age", "0")

    dry = panthera(*args, "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert f"cd/{digest}/original.png" in dry.stdout
    assert "would remove 1 orphaned objects" in dry.stderr
    assert orphan.exists()

    swept = panthera(*args)
    assert swept.returncode == 0, swept.stderr
    assert "removed 1 orphaned objects" in swept.stderr
    assert not orphan.exists()


def test_the_media_worker_process_needs_the_queue(tmp_path: Path) -> None:
    alone = panthera(
        "serve", "media-worker", "--data-dir", str(tmp_path), env={"PANTHERA_NATS_URL": ""}
    )
    assert alone.returncode == 2
    assert "PANTHERA_NATS_URL" in alone.stderr
