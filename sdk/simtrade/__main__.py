from simtrade.cli import main

main()
