// The Node.js function bench_runtime.py measures: ?size= bytes in 1 MiB writes
// (waiting for 'drain' as a well-behaved stream does), or ?size=1024 for TTFB.
const block = Buffer.alloc(1024 * 1024, 120);

export const handler = awslambda.streamifyResponse(async (event, responseStream) => {
  let left = Number(event.queryStringParameters?.size ?? 1024);
  while (left > 0) {
    const n = Math.min(left, block.length);
    if (!responseStream.write(n === block.length ? block : block.subarray(0, n))) {
      await new Promise((resolve) => responseStream.once("drain", resolve));
    }
    left -= n;
  }
  responseStream.end();
});
