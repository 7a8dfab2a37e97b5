from services.delivery.bootstrap import main

main()
