"""`gen ui`: the gallery in a browser, served on this machine only.

The page acts as the user signed in on the current profile, so it listens on
the loopback address alone and answers only requests that name it there.
"""

from typing import Annotated

import typer

from genvault.cli._context import state

__all__ = ["ui"]

LOOPBACK = ("127.0.0.1", "localhost")


def ui(
    ctx: typer.Context,
    host: Annotated[
        str,
        typer.Option(help="Address to listen on: 127.0.0.1 or localhost (this machine only)."),
    ] = "127.0.0.1",
    port: Annotated[
        int, typer.Option(min=0, max=65535, help="Port to listen on; 0 picks a free one.")
    ] = 0,
    open_browser: Annotated[
        bool, typer.Option("--open/--no-open", help="Open the page in the default browser.")
    ] = True,
) -> None:
    """Open the gallery in a browser: generate images and browse your history."""
    if host not in LOOPBACK:
        raise typer.BadParameter("the gallery listens on this machine only", param_hint="--host")
    st = state(ctx)
    output = st.output

    import socket
    import webbrowser

    import uvicorn

    from genvault.web import create_app

    client = st.client()  # of the profile chosen with --profile; closed when the run ends
    if client.session() is None:
        output.error("sign in first with `gen login`")
        raise typer.Exit(1)
    client = st.ready_client()
    client.credits.balance()  # fails here, not in the browser, if the session is stale

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(("127.0.0.1", port))
    except OSError as exc:
        sock.close()
        output.error(f"cannot listen on port {port}: {exc.strerror or exc}")
        raise typer.Exit(1) from exc
    sock.listen(128)  # accept now: the browser may knock before the server runs
    url = f"http://{host}:{sock.getsockname()[1]}/"
    config = uvicorn.Config(
        create_app(client), log_level="warning", server_header=False, access_log=False
    )
    output.out.print(url)
    output.hint("press Ctrl+C to stop")
    if open_browser:
        webbrowser.open(url)
    uvicorn.Server(config).run(sockets=[sock])
