"""The labelled failing traces, and how well clustering finds their failure modes."""
