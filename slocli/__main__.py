from slocli.cli.app import main

main()
