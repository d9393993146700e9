"""The provider driven in process through Flask's test client: no live server, no port."""
