"""Tests of the whole system: live servers on loopback (the provider in a thread, the relying parties, a
real SMTP server, Redis), the idp console script, subprocesses, clusters of instances and the browser."""
