from services.traces.bootstrap import main

main()
