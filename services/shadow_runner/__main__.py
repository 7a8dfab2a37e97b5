from services.shadow_runner.bootstrap import main

main()
