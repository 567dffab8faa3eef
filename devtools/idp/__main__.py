"""Run the development IdP: ``python -m devtools.idp --port 8001 --portal-url http://127.0.0.1:8000``."""

from __future__ import annotations

import argparse
import os
import sys


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8001)
    parser.add_argument("--portal-url", action="append", default=None)
    parser.add_argument(
        "--client-id", default=os.environ.get("OIDC_CLIENT_ID", "operations-portal")
    )
    parser.add_argument(
        "--client-secret", default=os.environ.get("OIDC_CLIENT_SECRET", "development-client-secret")
    )
    args = parser.parse_args()
    os.environ["DJANGO_SETTINGS_MODULE"] = "devtools.idp.settings"
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0, interactive=False)
    portals = args.portal_url or ["http://127.0.0.1:8000", "http://localhost:8000"]
    call_command(
        "seed_devidp",
        f"--client-id={args.client_id}",
        f"--client-secret={args.client_secret}",
        *[f"--portal-url={url}" for url in portals],
    )
    print(f"development IdP: http://{args.host}:{args.port}/  (issuer)", flush=True)
    sys.argv = ["idp", "runserver", f"{args.host}:{args.port}", "--noreload", "--nothreading"]
    call_command("runserver", f"{args.host}:{args.port}", use_reloader=False, use_threading=True)


if __name__ == "__main__":
    main()
