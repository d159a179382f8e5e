from energy_core.cli import main

main()
