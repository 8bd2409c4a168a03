"""One generation at a time: `gen show`, `gen open` and `gen download`."""

import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.text import Text

from genvault import GenvaultError
from genvault.cli._context import JsonOpt, state
from genvault.cli._history import IdArg
from genvault.cli._render import human_bytes, inline_image, inline_protocol, local_time, short_id
from genvault.cli._viewer import open_in_viewer

__all__ = ["app"]

app = typer.Typer()


@app.command()
def show(ctx: typer.Context, generation_id: IdArg, as_json: JsonOpt = False) -> None:
    """Everything about one generation, and the image itself where the terminal can show it."""
    st = state(ctx)
    out = st.output
    repo = st.ready_client().generations
    gen = repo.get(repo.full_id(generation_id))
    url = repo.image_url(gen)
    if as_json:
        out.json({**gen.to_dict(), "url": url})
        return
    settings = " ".join(f"{k}={v}" for k, v in sorted(gen.params.items()))
    # Plain lines rather than a table, so that long paths and URLs are never
    # folded or cut: they stay whole to copy.
    for name, value in (
        ("id", gen.id),
        ("prompt", gen.prompt),
        ("model", gen.model),
        ("settings", settings or "-"),
        ("created", local_time(gen.created_at)),
        ("updated", local_time(gen.updated_at)),
        ("size", human_bytes(gen.image_bytes)),
        ("sha256", gen.image_sha256 or "-"),
        ("image", gen.image_url),
        ("thumbnail", gen.thumbnail_url or "-"),
        ("url", url),
    ):
        out.out.print(Text.assemble((f"{name:<10}", "bold"), "  ", value))
    # A real terminal only (not FORCE_COLOR into a pipe): the escape codes carry the picture.
    protocol = inline_protocol() if sys.stdout.isatty() else None
    if protocol is not None and gen.is_stored:
        try:
            png = _as_png(repo.read_image(gen, thumbnail=True))
        except GenvaultError as exc:
            opener = f"gen open {short_id(gen.id)}"
            out.hint(f"no preview ({exc.message}); open it with: {opener}")
            return
        out.out.file.flush()
        sys.stdout.write(inline_image(png, protocol))
        sys.stdout.flush()
    else:
        out.hint(f"open it with: gen open {short_id(gen.id)}")


def _as_png(webp: bytes) -> bytes:
    import io

    from PIL import Image

    with Image.open(io.BytesIO(webp)) as image:
        buffer = io.BytesIO()
        image.save(buffer, "PNG")
    return buffer.getvalue()


@app.command("open")
def open_(ctx: typer.Context, generation_id: IdArg) -> None:
    """Open the full-size image in the default viewer or browser."""
    st = state(ctx)
    repo = st.ready_client().generations
    gen = repo.get(repo.full_id(generation_id))
    url = repo.image_url(gen)
    open_in_viewer(url)
    st.output.out.print(Text(f"opened {url}"))


@app.command()
def download(
    ctx: typer.Context,
    generation_ids: Annotated[
        list[str],
        typer.Argument(metavar="ID...", help="Generation ids (or 8+ character prefixes)."),
    ],
    output_dir: Annotated[
        Path,
        typer.Option(
            "--output",
            "-o",
            metavar="DIR",
            help="Folder to save the images in (created if missing).",
            file_okay=False,
        ),
    ] = Path("."),
    as_json: JsonOpt = False,
) -> None:
    """Save full-size images to a folder, as <id>.webp."""
    st = state(ctx)
    out = st.output
    repo = st.ready_client().generations
    output_dir.mkdir(parents=True, exist_ok=True)
    saved = []
    for value in generation_ids:
        path = repo.download(repo.full_id(value), output_dir)
        size = path.stat().st_size
        saved.append({"id": path.stem, "path": str(path), "bytes": size})
        if not as_json:
            out.out.print(Text(f"saved {path} ({human_bytes(size)})"))
    if as_json:
        out.json(saved)
