"""One module per `talking-head` subcommand; each defines `register(subparsers)`. Discovered by backend.cli."""
