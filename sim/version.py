"""The installed natsim version (a leaf module, so that any layer can record it)."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("natsim")
except PackageNotFoundError:  # running from a source tree that was not installed
    __version__ = "0+unknown"
