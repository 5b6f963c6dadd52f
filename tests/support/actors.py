"""Who the tests act as: every change and run records an actor."""

from meterbridge.services.actors import Actor

ACTOR = Actor.user("tests")
