"""The HTTP and WebSocket front door: Runware's wire protocol over the task layer."""
