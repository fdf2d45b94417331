"""hello answers with the event and every field of Lambda's context object, and logs."""
import logging
import os

logger = logging.getLogger()
logger.setLevel(logging.INFO)


def handler(event, context):
    print("hello from", context.function_name)
    logger.info("logged for %s", context.aws_request_id)
    return {
        "event": event,
        "aws_request_id": context.aws_request_id,
        "function_name": context.function_name,
        "function_version": context.function_version,
        "invoked_function_arn": context.invoked_function_arn,
        "memory_limit_in_mb": context.memory_limit_in_mb,
        "log_group_name": context.log_group_name,
        "log_stream_name": context.log_stream_name,
        "remaining_time_in_millis": context.get_remaining_time_in_millis(),
        "execution_env": os.environ["AWS_EXECUTION_ENV"],
    }
