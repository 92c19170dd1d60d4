from scaling.cli import main  # the `scaling` command lives in scaling/cli/; this is its shim
if __name__ == "__main__":
    raise SystemExit(main())
