from entra_bootstrap.cli import main

main()
