"""Message contracts: the only Python types that cross a service boundary."""
