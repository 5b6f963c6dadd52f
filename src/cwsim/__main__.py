from cwsim.cli import main

main()
