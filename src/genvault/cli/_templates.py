"""Prompt templates: saved prompts with {placeholders} for `gen create --template`."""

from typing import Annotated, Any

import typer
from rich.text import Text

from genvault import NotFound
from genvault.cli._context import JsonOpt, state
from genvault.cli._organise import quoted
from genvault.cli._render import one_line, plain_table

__all__ = ["template_app"]

template_app = typer.Typer(
    help="Saved prompts with {placeholders}, for `gen create --template NAME --set NAME=VALUE`.",
    no_args_is_help=True,
)


@template_app.command("save")
def template_save(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="The template's name (saving again replaces it).")],
    prompt: Annotated[
        str, typer.Argument(help='The prompt, with {placeholders}: "a {animal} in {style}".')
    ],
    model: Annotated[
        str | None,
        typer.Option(
            "--model",
            "-m",
            metavar="OWNER/NAME",
            help="The model to use with it (default: the one configured when creating).",
            show_default=False,
        ),
    ] = None,
    aspect_ratio: Annotated[
        str | None,
        typer.Option(
            "--aspect-ratio",
            "-a",
            metavar="W:H",
            help="The aspect ratio to use with it.",
            show_default=False,
        ),
    ] = None,
    seed: Annotated[
        int | None,
        typer.Option("--seed", help="The seed to use with it.", show_default=False),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Save a prompt with {placeholders} as a template (replacing one of the same name)."""
    params: dict[str, Any] = {}
    if aspect_ratio is not None:
        params["aspect_ratio"] = aspect_ratio
    if seed is not None:
        params["seed"] = seed
    st = state(ctx)
    client = st.ready_client()
    text = client.check_prompt(prompt)
    saved = client.templates.save(name, text, model=model, params=params)
    if as_json:
        st.output.json(saved.to_dict())
        return
    needs = ", ".join(saved.placeholders) or "nothing"
    st.output.out.print(Text(f"saved the template {saved.name} (needs: {needs})"))
    sets = " ".join(f"--set {p}=..." for p in saved.placeholders)
    st.output.hint(f"use it with: gen create --template {quoted(saved.name)} {sets}".rstrip())


@template_app.command("list")
def template_list(ctx: typer.Context, as_json: JsonOpt = False) -> None:
    """Your templates by name, with the placeholders each needs."""
    st = state(ctx)
    found = st.ready_client().templates.list()
    if as_json:
        st.output.json([t.to_dict() for t in found])
        return
    if not found:
        st.output.hint('no templates yet; save one with: gen template save fox "a fox in {style}"')
        return
    table = plain_table("name", "needs", "prompt", "settings")
    table.columns[2].overflow = "ellipsis"
    table.columns[2].no_wrap = True
    table.columns[2].ratio = 1
    for item in found:
        settings = [item.model] if item.model else []
        settings += [f"{k}={v}" for k, v in sorted(item.params.items())]
        table.add_row(
            Text(item.name),
            ", ".join(item.placeholders) or "-",
            Text(one_line(item.prompt)),
            Text(" ".join(settings) or "-"),
        )
    st.output.out.print(table)


@template_app.command("delete")
def template_delete(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="The template's name.")],
    as_json: JsonOpt = False,
) -> None:
    """Delete a template."""
    st = state(ctx)
    if not st.ready_client().templates.delete(name):
        raise NotFound(
            f"no template named {name.strip()!r}",
            hint="list your templates with `gen template list`",
        )
    if as_json:
        st.output.json({"name": name.strip(), "deleted": True})
        return
    st.output.out.print(Text(f"deleted the template {name.strip()}"))
