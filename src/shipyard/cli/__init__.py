"""The command line: parses, calls the library, renders. Nothing here decides anything."""
