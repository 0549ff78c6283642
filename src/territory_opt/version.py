"""The installed version of territory-opt (its own module: everything may import it, it imports
nothing of the package)."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("territory-opt")
except PackageNotFoundError:  # running from a source tree without installing
    __version__ = "0+unknown"
