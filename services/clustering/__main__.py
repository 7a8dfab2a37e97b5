from services.clustering.bootstrap import main

main()
