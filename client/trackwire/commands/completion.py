"""`trackwire completion bash|zsh|tcsh`: the shell completion script, made by shtab from
the command's own parser (so it always knows every command and option)."""

from __future__ import annotations

from trackwire.commands.output import command

SHELLS = ("bash", "zsh", "tcsh")


def register(subparsers):
    p = command(
        subparsers,
        "completion",
        "print the shell completion script for bash, zsh or tcsh",
        'eval "$(trackwire completion bash)"    # or add it to ~/.bashrc',
        _completion,
        description="Print the shell completion script for bash, zsh or tcsh. Load it in "
        'the shell\'s startup file: bash: eval "$(trackwire completion bash)" in '
        '~/.bashrc; zsh: trackwire completion zsh > "${fpath[1]}/_trackwire".',
        client=False,
    )
    p.add_argument("shell", choices=SHELLS)
    return p


def _completion(args):
    import shtab

    print(shtab.complete(args.root_parser, shell=args.shell))
