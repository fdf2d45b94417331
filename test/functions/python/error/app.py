"""error raises an exception of its own class."""


class OrderNotFound(Exception):
    pass


def handler(event, context):
    raise OrderNotFound("no order %s" % event["order"])
