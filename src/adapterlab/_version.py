"""The package's version, in a leaf module: the library reads it from here (never from the
package root, whose import pulls in the public API), and `adapterlab.__version__` re-exports it."""

__version__ = "0.1.0"
