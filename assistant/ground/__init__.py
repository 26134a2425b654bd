"""Plain data structures the spine and every capability package build on; a package of the spine (it imports no
capability package, nor anything of the service's)."""
