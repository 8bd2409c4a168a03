"""6. Export: ``gen export --zip`` of a history of photo-sized images.

The images are 512x512 pictures full of fine detail, so that each WebP weighs
what a real generation does (a few hundred KB) and the whole export is larger
than the memory limit: an export that held its images in memory would show.
The export runs as its own process; its peak resident memory is that
process's own ru_maxrss.
"""

from __future__ import annotations

import io
import random
import shutil
import zipfile
from concurrent.futures import ThreadPoolExecutor

from PIL import Image, ImageDraw

from benchmarks._cli import cli_setup
from benchmarks._context import Bench
from benchmarks._processes import run_gen
from benchmarks._results import Row, Section, at_most
from genvault import Client, Settings

__all__ = ["run"]

SIDE = 512


def _picture(base: Image.Image, i: int) -> bytes:
    """Picture number ``i``: the detailed base with a square of its own."""
    rng = random.Random(i)  # noqa: S311 (seeded data, not secrets)
    image = base.copy()
    draw = ImageDraw.Draw(image)
    x, y = rng.randrange(SIDE - 96), rng.randrange(SIDE - 96)
    draw.rectangle((x, y, x + 96, y + 96), fill=(i % 256, (i // 256) % 256, 128))
    buf = io.BytesIO()
    image.save(buf, "PNG", compress_level=1)
    return buf.getvalue()


def run(bench: Bench) -> Section:
    section = Section("export", "6. Export")
    n = bench.options.export_images
    env, cwd = cli_setup(bench)
    profile = ["--profile", "export"]
    done = run_gen([*profile, "login", "--local", "bench-export"], env, cwd=cwd)
    if done.returncode != 0:
        raise RuntimeError(f"gen login failed: {done.stderr[-500:]}")
    with Client(Settings.from_env(env, profile="export")) as client:
        session = client.session()
        assert session is not None
        have = len(list(client.generations.iter_all(page_size=500)))
        if have < n:
            bench.say(f"export: making {n - have} images of {SIDE}x{SIDE}")
            with bench.owner() as conn:
                conn.execute("select public.grant_credits(%s, %s)", (session.user_id, n - have))
            noise = random.Random(5).randbytes(SIDE * SIDE * 3)  # noqa: S311 (seeded data, not secrets)
            base = Image.frombytes("RGB", (SIDE, SIDE), noise)
            with ThreadPoolExecutor(max_workers=2) as pool:
                list(
                    pool.map(
                        lambda k: client.save(f"export picture {k}", _picture(base, k)),
                        range(have, n),
                    )
                )
        gens = list(client.generations.iter_all(page_size=500))[:n]
        stored = sum(g.image_bytes or 0 for g in gens)

    target = cwd / "export" / "history.zip"
    shutil.rmtree(target.parent, ignore_errors=True)
    target.parent.mkdir(parents=True)
    bench.say(f"export: gen export --zip of {len(gens)} images")
    result = run_gen([*profile, "export", str(target), "--zip"], env, cwd=cwd)
    if result.returncode != 0:
        raise RuntimeError(f"gen export failed: {result.stderr[-500:]}")
    with zipfile.ZipFile(target) as archive:
        names = archive.namelist()
        in_zip = sum(i.file_size for i in archive.infolist() if i.filename != "manifest.json")
    section.facts["zip_entries"] = len(names)
    section.facts["images"] = len(gens)
    section.facts["peak_rss_mb"] = result.peak_rss_mb
    mb = in_zip / 1e6
    section.add(
        Row(
            f"Peak memory of gen export --zip ({len(gens):,} images, {mb:,.0f} MB)",
            value=f"{result.peak_rss_mb:.0f} MB",
            target=at_most(result.peak_rss_mb, 150, "≤ 150 MB"),
            headline=True,
        )
    )
    section.add(
        Row(
            "Export throughput (whole command, start to finish)",
            value=f"{mb / result.seconds:.0f} MB/s ({result.seconds:.1f} s)",
            headline=True,
        )
    )
    section.notes.append(
        f"{len(names):,} entries in the zip (the images and manifest.json);"
        f" {stored / 1e6:,.0f} MB of images as recorded in the database."
    )
    return section
