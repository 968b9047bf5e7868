"""The command-line edge: reads files and arguments, calls the pure cores, prints."""
