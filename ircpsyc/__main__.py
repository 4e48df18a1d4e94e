from ircpsyc.cli import main

main()
