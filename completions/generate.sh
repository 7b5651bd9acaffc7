#!/bin/sh
# Regenerate the shell completion scripts from the Typer app (run from the repository root).
# tests/test_cli_completion.py fails when they are out of date.
set -e
for shell in bash zsh fish; do
    "${ENTRA_BOOTSTRAP:-.venv/bin/entra-bootstrap}" --show-completion "$shell" > "completions/entra-bootstrap.$shell"
done
