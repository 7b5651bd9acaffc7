#compdef entra-bootstrap

_entra_bootstrap_completion() {
  eval $(env _TYPER_COMPLETE_ARGS="${words[1,$CURRENT]}" _ENTRA_BOOTSTRAP_COMPLETE=complete_zsh entra-bootstrap)
}

compdef _entra_bootstrap_completion entra-bootstrap
