from trackwire_server.cli import main

main()
