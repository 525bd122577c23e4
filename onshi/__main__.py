from onshi.cli import main

main()
