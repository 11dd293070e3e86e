"""The engine: a parallel walker, the executor with its journal, rollback, and events."""

from infradsl.engine.events import Event
from infradsl.engine.executor import DeployResult, Executor, Status
from infradsl.engine.walker import Outcome, walk

__all__ = ["DeployResult", "Event", "Executor", "Outcome", "Status", "walk"]
