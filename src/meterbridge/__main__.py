from meterbridge.cli import entry

entry()
