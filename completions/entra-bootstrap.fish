_entra_bootstrap_completion() {
    local IFS=$'
'
    COMPREPLY=( $( env COMP_WORDS="${COMP_WORDS[*]}" \
                   COMP_CWORD=$COMP_CWORD \
                   _ENTRA_BOOTSTRAP_COMPLETE=complete_bash $1 ) )
    return 0
}

complete -o default -F _entra_bootstrap_completion entra-bootstrap
