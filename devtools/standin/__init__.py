"""A stand-in for the Go accounts and payments services (development, demo and tests only).

It speaks ``shared/contracts/events.md`` (publishing CloudEvents JSON over
plain AMQP, as a Go producer does) and ``shared/contracts/go-apis.md`` (the
refund, freeze and unfreeze APIs). It never imports Django or the portal.
"""
