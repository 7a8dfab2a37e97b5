"""What the services share: message contracts, messaging plumbing, logging and settings."""
