from aviary.cli import main

main()
