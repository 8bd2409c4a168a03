"""gen create: generate images from a prompt, a saved template, or an earlier generation.

The command parses, asks the library for a checked recipe (:meth:`Client.recipe`
fills it from the template or the earlier generation and refuses bad input
before anything is spent), then makes the images one at a time and reports.
"""

import re
import time
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape
from rich.text import Text

from genvault import ASPECT_RATIOS, GenvaultError, InsufficientCredits
from genvault.cli._context import JsonOpt, state
from genvault.cli._render import Output, plural
from genvault.cli._viewer import open_in_viewer

if TYPE_CHECKING:
    from genvault import Client, Generation, Recipe

__all__ = ["app"]

app = typer.Typer()


def _complete_aspect_ratio(incomplete: str) -> list[str]:
    return [r for r in ASPECT_RATIOS if r.startswith(incomplete)]


class _Progress:
    """Reports a generation's phases: on the spinner, as plain lines, or not at all."""

    def __init__(self, output: Output, *, prefix: str, quiet: bool) -> None:
        self.output = output
        self.prefix = prefix
        self.quiet = quiet
        self.spinner: Any = None
        self.reserved = False

    def __call__(self, phase: str, detail: str) -> None:
        if phase == "queued":
            self.reserved = True
        line = f"{self.prefix}{phase}: {detail}"
        if self.spinner is not None:
            self.spinner.update(escape(line))
        elif not self.quiet:
            self.output.err.print(Text(line))


@app.command()
def create(
    ctx: typer.Context,
    prompt: Annotated[
        str | None,
        typer.Argument(
            help="What to draw. May be left out with --from or --template.", show_default=False
        ),
    ] = None,
    model: Annotated[
        str | None,
        typer.Option(
            "--model",
            "-m",
            metavar="OWNER/NAME",
            help="The image model (default: the configured one; offline without a Replicate "
            "token).",
            show_default=False,
        ),
    ] = None,
    aspect_ratio: Annotated[
        str | None,
        typer.Option(
            "--aspect-ratio",
            "-a",
            metavar="W:H",
            help=f"One of {', '.join(ASPECT_RATIOS)} (default 1:1).",
            autocompletion=_complete_aspect_ratio,
            show_default=False,
        ),
    ] = None,
    seed: Annotated[
        int | None,
        typer.Option(
            "--seed",
            help="A seed, to make the image repeatable. With --num, each image uses the next seed.",
            show_default=False,
        ),
    ] = None,
    num: Annotated[
        int,
        typer.Option(
            "--num", "-n", min=1, max=20, help="How many images to make (one credit each)."
        ),
    ] = 1,
    source: Annotated[
        str | None,
        typer.Option(
            "--from",
            metavar="ID",
            help="Repeat a generation: its prompt, model, aspect ratio and seed, unless given.",
            show_default=False,
        ),
    ] = None,
    template: Annotated[
        str | None,
        typer.Option(
            "--template",
            "-t",
            metavar="NAME",
            help="Take the prompt (and model and settings, unless given) from a saved template.",
            show_default=False,
        ),
    ] = None,
    sets: Annotated[
        list[str] | None,
        typer.Option(
            "--set",
            metavar="NAME=VALUE",
            help="Fill the template's {NAME} with VALUE; once for each placeholder.",
            show_default=False,
        ),
    ] = None,
    open_after: Annotated[
        bool, typer.Option("--open", help="Open each image in the default viewer when done.")
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Generate an image from a prompt and save it to your history (one credit).

    With --template NAME the prompt comes from a saved template (`gen template
    save`), each {placeholder} filled with a --set NAME=VALUE.
    """
    values = _template_values(sets or [])
    _check_usage(prompt, source, template, values)
    st = state(ctx)
    out = st.output
    client = st.ready_client()
    credits = client.credits
    recipe = client.recipe(
        prompt,
        model=model,
        aspect_ratio=aspect_ratio,
        seed=seed,
        template=template,
        values=values,
        source=source,
        count=num,
    )
    before = credits.balance()
    if before < num:
        needed = "an image needs 1" if num == 1 else f"{num} images need {num}"
        raise InsufficientCredits(
            f"you have {plural(before, 'credit')}; {needed}",
            hint="ask an operator for credits (`gen admin grant`)",
        )
    if not as_json:
        out.note(
            f"generating {plural(num, 'image')} with {escape(recipe.model.name)} · "
            f"{recipe.aspect_ratio} · {plural(before, 'credit')}"
        )
    made = _make_all(client, recipe, num, out, open_after=open_after, quiet=as_json)
    after = credits.balance()
    if as_json:
        out.json({"generations": made, "credits_before": before, "credits_after": after})
    else:
        out.out.print(f"credits: {before} → {after}")


def _check_usage(
    prompt: str | None, source: str | None, template: str | None, values: dict[str, str]
) -> None:
    """Usage errors (exit code 2) for options that do not go together."""
    if template is not None and prompt is not None:
        raise typer.BadParameter("give a prompt or --template, not both", param_hint="PROMPT")
    if template is not None and source is not None:
        raise typer.BadParameter("give --from or --template, not both", param_hint="--template")
    if values and template is None:
        raise typer.BadParameter("--set fills a template; add --template NAME", param_hint="--set")
    if prompt is None and source is None and template is None:
        raise typer.BadParameter(
            "give a prompt, or --from ID to repeat a generation, or --template NAME",
            param_hint="PROMPT",
        )


def _make_all(
    client: "Client", recipe: "Recipe", num: int, out: Output, *, open_after: bool, quiet: bool
) -> list[dict[str, Any]]:
    """Make ``num`` images, reporting each; on Ctrl-C say what was kept and exit 130."""
    made: list[dict[str, Any]] = []
    progress = _Progress(out, prefix="", quiet=quiet)
    try:
        for index in range(num):
            progress.prefix = f"[{index + 1}/{num}] " if num > 1 else ""
            gen, url, elapsed = _make_one(client, recipe, index, progress)
            made.append({**gen.to_dict(), "url": url, "elapsed_seconds": round(elapsed, 3)})
            if not quiet:
                out.out.print(Text.assemble("created ", (gen.id, "bold"), f" in {elapsed:.1f}s"))
                out.out.print(Text(f"  stored at {url}"))
            if open_after:
                _open(out, url)
    except KeyboardInterrupt:
        out.note("cancelled; the credit was refunded" if progress.reserved else "cancelled")
        if made:
            out.note(f"{plural(len(made), 'image')} of {num} had been made and saved before that")
        raise typer.Exit(130) from None
    return made


def _make_one(
    client: "Client", recipe: "Recipe", index: int, progress: _Progress
) -> "tuple[Generation, str, float]":
    """Image ``index`` of the batch, its URL, and how many seconds it took."""
    progress.reserved = False
    started = time.monotonic()
    with progress.output.status(f"{progress.prefix}starting…") as spinner:
        progress.spinner = spinner
        gen = client.make(recipe, index=index, on_status=progress)
    progress.spinner = None
    progress.reserved = False  # spent now: an interrupt from here on refunds nothing
    elapsed = time.monotonic() - started
    return gen, client.generations.image_url(gen), elapsed


def _open(out: Output, url: str) -> None:
    try:
        open_in_viewer(url)
    except GenvaultError as exc:
        out.hint(f"not opened: {exc.message}; {exc.hint}")


_PLACEHOLDER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def _template_values(sets: list[str]) -> dict[str, str]:
    """NAME=VALUE pairs from --set; a usage error when one is malformed or repeated."""
    values: dict[str, str] = {}
    for item in sets:
        name, equals, value = item.partition("=")
        name = name.strip()
        if not equals or not _PLACEHOLDER.match(name):
            raise typer.BadParameter(
                f"{item!r} is not NAME=VALUE (NAME: letters, digits and _), e.g. --set animal=fox",
                param_hint="--set",
            )
        if name in values:
            raise typer.BadParameter(f"{name} is set twice", param_hint="--set")
        values[name] = value
    return values
