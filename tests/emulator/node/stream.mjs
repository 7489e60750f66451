// Streaming handlers for the emulator's tests, one per ?case=.
import { existsSync } from "node:fs";

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

export const handler = awslambda.streamifyResponse(async (event, responseStream, context) => {
  const q = event.queryStringParameters ?? event;
  const which = q.case ?? "meta";
  console.log(`case ${which}`);
  if (which === "meta") {
    const s = awslambda.HttpResponseStream.from(responseStream, {
      statusCode: 201,
      headers: { "content-type": "text/plain", "x-custom": "yes" },
      cookies: ["a=1; Path=/", "b=2; HttpOnly"],
    });
    s.write("hello ");
    await sleep(20);
    s.end("world");
    return;
  }
  if (which === "plain") {
    responseStream.setContentType("text/csv");
    responseStream.end("a,b\n1,2\n");
    return;
  }
  if (which === "big") {
    const n = Number(q.mb ?? 7);
    const block = Buffer.alloc(1024 * 1024, 120);
    for (let i = 0; i < n; i++) {
      if (!responseStream.write(block)) await new Promise((r) => responseStream.once("drain", r));
    }
    responseStream.end();
    return;
  }
  if (which === "throw") throw new TypeError("before the first write");
  if (which === "midway") {
    responseStream.write("x".repeat(1000));
    await sleep(50);
    throw new RangeError("in the middle");
  }
  if (which === "reject") {
    Promise.reject(new Error("nobody waits for me"));
    await sleep(5000);
    responseStream.end("never");
    return;
  }
  if (which === "exit") {
    responseStream.write("partial");
    await sleep(20);
    process.exit(3);
  }
  if (which === "endless") {
    responseStream.write("tick");
    await sleep(60_000);
    return;
  }
  if (which === "slow") {
    for (let i = 0; i < 10; i++) {
      responseStream.write(Buffer.alloc(64 * 1024, 97));
      await sleep(50);
    }
    responseStream.end();
    console.log(`slow finished ${context.awsRequestId}`);
    return;
  }
  if (which === "flood") {
    const block = Buffer.alloc(1024 * 1024, 102);
    for (let i = 1; i <= 64; i++) {
      if (!responseStream.write(block)) await new Promise((r) => responseStream.once("drain", r));
      console.log(`flood wrote ${i} MiB`);
    }
    responseStream.end();
    return;
  }
  if (which === "pattern") {
    // Blocks of varied sizes whose bytes differ block to block: a byte out of
    // place anywhere on the way shows (see pattern() in test_node_runtime.py).
    const sizes = [1, 1000, 65536, 1048576, 333333, 7];
    const base = Buffer.from(Array.from({ length: 251 * 4200 }, (_, j) => j % 251));
    let left = Number(q.bytes ?? 1048576);
    for (let k = 0; left > 0; k++) {
      const n = Math.min(left, sizes[k % sizes.length]);
      const block = base.subarray(k % 251, (k % 251) + n);
      if (!responseStream.write(block)) await new Promise((r) => responseStream.once("drain", r));
      left -= n;
    }
    responseStream.end();
    return;
  }
  if (which === "hold") {
    responseStream.write("held ");
    while (!existsSync(q.file)) await sleep(20);
    responseStream.end("released");
    return;
  }
  responseStream.end(`unknown case ${which}`);
});
