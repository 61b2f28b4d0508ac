from panthera.cli import main

main()
