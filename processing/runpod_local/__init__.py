"""A local server that speaks RunPod's serverless v2 job API and runs our own worker handler
(with the local backend), for tests and for running the whole production path on one machine.
See server.py for the routes and the misbehaviour it can be told to show."""

from processing.runpod_local.server import Behaviour, LocalRunPod

__all__ = ["Behaviour", "LocalRunPod"]
