"""syntax does not parse."""


def handler(event, context)
    return event
