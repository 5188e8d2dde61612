"""Runs the Python package's tests with pytest; exit 77 (skipped) without pytest."""
import sys

try:
    import pytest
except ImportError:
    print("SKIP: pytest is not installed (Debian: python3-pytest)")
    sys.exit(77)
sys.exit(pytest.main(["-q", "-p", "no:cacheprovider", sys.argv[1]]))
