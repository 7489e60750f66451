// Buffered (non-streaming) handlers for the emulator's tests, one per ?case=.
export const handler = async (event, context) => {
  const q = event.queryStringParameters ?? event;
  const which = q.case ?? "doc";
  if (which === "doc") {
    return {
      statusCode: 202,
      headers: { "content-type": "text/plain", "x-from": "buffered" },
      cookies: ["c=3", "d=4"],
      body: "returned body",
    };
  }
  if (which === "big") return "x".repeat(7 * 1024 * 1024);
  if (which === "env") {
    const names = [
      "AWS_LAMBDA_RUNTIME_API", "_HANDLER", "LAMBDA_TASK_ROOT", "AWS_LAMBDA_FUNCTION_NAME",
      "AWS_LAMBDA_FUNCTION_VERSION", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "AWS_REGION",
      "AWS_DEFAULT_REGION", "AWS_LAMBDA_LOG_GROUP_NAME", "AWS_LAMBDA_LOG_STREAM_NAME", "TZ",
      "GREETING", "FROM_FILE", "AWS_ACCESS_KEY_ID", "HOME",
    ];
    return {
      env: Object.fromEntries(names.map((n) => [n, process.env[n] ?? null])),
      memory: context.memoryLimitInMB,
      arn: context.invokedFunctionArn,
      remaining: context.getRemainingTimeInMillis(),
      requestId: context.awsRequestId,
      clientContext: context.clientContext ?? null,
    };
  }
  throw new Error(`unknown case ${which}`);
};
