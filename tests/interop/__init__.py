"""The interop suite: real, independent relying-party implementations (RP libraries, a web-server
module) against a live provider, each driven only as its own documentation says."""
