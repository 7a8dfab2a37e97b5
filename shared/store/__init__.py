"""Storage plumbing for services that own MongoDB collections: clients and store calls
(`mongo`), the transactional outbox (`outbox`), creating once per command (`creation`),
versioned aggregates and the record of the commands they applied (`aggregate`, `documents`,
`tracking`), and the unit of work that saves changed aggregates with their events
(`unit_of_work`)."""
