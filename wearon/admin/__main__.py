"""`python -m wearon.admin`."""

from wearon.admin.cli import main

if __name__ == "__main__":
    main()
