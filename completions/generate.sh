#!/bin/sh
# Regenerate the shell completion scripts from the CLI (run from the repository root, or `make completions`).
# tests/test_cli_completion.py fails when they are out of date.
set -e
PROG="${ENTRA_BOOTSTRAP:-.venv/bin/entra-bootstrap}"
"$PROG" completion bash > completions/entra-bootstrap.bash
"$PROG" completion zsh > completions/entra-bootstrap.zsh
"$PROG" completion fish > completions/entra-bootstrap.fish
"$PROG" completion powershell > completions/entra-bootstrap.ps1
