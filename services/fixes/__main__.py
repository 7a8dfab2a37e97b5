from services.fixes.bootstrap import main

main()
