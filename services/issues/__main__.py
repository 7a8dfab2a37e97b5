from services.issues.bootstrap import main

main()
