from timoneiro.cli.main import main

main()
