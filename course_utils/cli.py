"""The ``course`` command: ``course doctor``, ``course build [--check]``, ``course grade``."""
from __future__ import annotations

import sys

USAGE = """usage: course COMMAND [options]

commands:
  doctor           what this environment has: versions, device, profile, network
  build [--check]  build lessons/ from solutions/ (--check: fail if out of date)
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
        from .api_server import main as serve_main
        return serve_main(rest)
    print(f"course: unknown command {command!r}\n\n{USAGE}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
