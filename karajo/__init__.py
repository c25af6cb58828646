"""karajo: cron managed over HTTP.

Jobs run shell commands (or async Python callables) on an interval, on a
calendar schedule, or when a signed webhook asks; HTTP jobs send a signed
request on a timer.  Every run is logged to its own file.
"""

__version__ = "0.10.0"
