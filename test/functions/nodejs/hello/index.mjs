// hello answers with the event and every field of Lambda's context object, and logs a line.
console.log('hello at init');

export const handler = async (event, context) => {
  console.log('hello from', context.functionName);
  return {
    event,
    awsRequestId: context.awsRequestId,
    functionName: context.functionName,
    functionVersion: context.functionVersion,
    invokedFunctionArn: context.invokedFunctionArn,
    memoryLimitInMB: context.memoryLimitInMB,
    logGroupName: context.logGroupName,
    logStreamName: context.logStreamName,
    remainingTimeInMillis: context.getRemainingTimeInMillis(),
    executionEnv: process.env.AWS_EXECUTION_ENV,
  };
};
