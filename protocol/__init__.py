"""The bottom floor: the records that cross process boundaries, with their codecs, no I/O.

    protocol.events     what crosses Kafka (chat.commands, chat.events), tagged JSON records
    protocol.refusals   every refusal the API answers: HTTP status, close code, machine code
    protocol.records    what the store keeps, as its callers see it (ThreadRecord)
    protocol.ops        process announcements (heartbeats) and operator commands
    protocol.turns      an assistant's turn (started, delta, finished) and the `stop` command

Every other package may import this one; it imports nothing of Parley.
"""
