"""The ``course`` command: ``course doctor``, ``build [--check]``, ``grade``, ``serve MODEL``."""
from __future__ import annotations

import sys

USAGE = """usage: course COMMAND [options]

commands:
  doctor           what this environment has: versions, device, profile, network
  build [--check] [--repo OWNER/NAME]
                   build lessons/ from solutions/ (--check: fail if out of date; --repo: point
                   the Colab badges and set-up cells at a fork)
  grade            grade submitted notebooks (see `course grade --help`)
  serve MODEL      serve a model behind an OpenAI-compatible API (see `course serve --help`)
"""


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(USAGE)
        return 0
    command, rest = argv[0], argv[1:]
    if command == "doctor":
        from .config import doctor
        doctor()
        return 0
    if command == "build":
        from .build import main as build_main
        return build_main(rest)
    if command == "grade":
        try:
            from .grading import main as grade_main
        except ImportError:
            print("course grade is not available in this version.", file=sys.stderr)
            return 2
        return grade_main(rest)
    if command == "serve":
        return serve_main(rest)
    print(f"course: unknown command {command!r}\n\n{USAGE}", file=sys.stderr)
    return 2


def serve_main(argv=None) -> int:
    """``course serve MODEL``: serve a model behind the course's API on 127.0.0.1 until Ctrl-C."""
    import argparse
    parser = argparse.ArgumentParser(
        prog="course serve", description="Serve a causal LM behind an OpenAI-compatible API "
        "on 127.0.0.1 until Ctrl-C.")
    parser.add_argument("model", help="a course teacher name, a saved model folder, or a Hub "
                        "name (online)")
    parser.add_argument("--port", type=int, default=0, help="port (default: a free one)")
    parser.add_argument("--model-name", default=None, help="the name clients pass as `model`")
    parser.add_argument("--key", default=None, help="the API key (default: a random one)")
    parser.add_argument("--rpm", type=int, default=None, help="requests per minute per key")
    parser.add_argument("--tpm", type=int, default=None, help="tokens per minute per key")
    parser.add_argument("--price", type=float, default=0.002, help="dollars per 1K tokens")
    parser.add_argument("--account", action="append", default=[], metavar="NAME",
                        help="open an account NAME with its own key (repeat for several); "
                        "each gets the --rpm/--tpm limits")
    parser.add_argument("--log", default=None, help="SQLite request log (default: in the cache)")
    parser.add_argument("--watermark-key", type=int, default=None,
                        help="watermark every completion with this secret key (lesson 10)")
    parser.add_argument("--watermark-gamma", type=float, default=0.25, help="green share")
    parser.add_argument("--watermark-delta", type=float, default=2.0, help="green bias")
    parser.add_argument("--defence", default=None, metavar="PARTS",
                        help="output defences, comma-separated: round=D (decimals of the "
                        "logprobs), noise=S (Gaussian noise on them), top1 (no logprobs), "
                        "min-temperature=T (lesson 11)")
    args = parser.parse_args(argv)
    from .api import KeyPolicy, TeacherAPI
    from .api.server import load_model
    try:
        model, tokenizer = load_model(args.model)
    except Exception as error:  # a clear message, not a traceback
        print(f"course serve: could not load {args.model!r}: {error}", file=sys.stderr)
        return 2
    watermark = None
    if args.watermark_key is not None:
        from .watermark import Watermark
        try:
            watermark = Watermark(model.config.vocab_size, key=args.watermark_key,
                                  gamma=args.watermark_gamma, delta=args.watermark_delta)
        except ValueError as error:
            print(f"course serve: {error}", file=sys.stderr)
            return 2
    defence = None
    if args.defence is not None:
        from .defences import Defence
        try:
            defence = Defence.from_text(args.defence)
        except ValueError as error:
            print(f"course serve: --defence: {error}", file=sys.stderr)
            return 2
    keys = None
    if args.key:
        keys = {args.key: KeyPolicy("default", rpm=args.rpm, tpm=args.tpm)}
    try:
        api = TeacherAPI(model, tokenizer, model_name=args.model_name or args.model, keys=keys,
                         rpm=args.rpm, tpm=args.tpm, price_per_1k=args.price,
                         log_path=args.log, port=args.port, quiet=False, watermark=watermark,
                         defence=defence)
        for name in args.account:
            api.add_account(name, rpm=args.rpm, tpm=args.tpm)
        api.start()
    except ValueError as error:
        print(f"course serve: {error}", file=sys.stderr)
        return 2
    except OSError as error:
        print(f"course serve: cannot listen on port {args.port}: {error}", file=sys.stderr)
        return 2
    print(f"API key: {api.api_key}", flush=True)
    if args.account:
        print("Accounts (name: key):")
        for key, policy in api.keys.items():
            if policy.name in args.account:
                print(f"  {policy.name}: {key}")
    print("Press Ctrl-C to stop.", flush=True)
    api.serve_forever()
    print("Stopped.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
