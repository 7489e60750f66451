// The reference for bench_runtime.py: Node.js alone writing ?MiB (argv[3]) as one
// chunked HTTP request to 127.0.0.1:argv[2], 1 MiB writes, waiting for 'drain',
// as aws-lambda-ric streams a response, with no emulator in between.
import http from "node:http";

const port = Number(process.argv[2]);
let left = Number(process.argv[3] ?? 1024);
const block = Buffer.alloc(1024 * 1024, 120);
const req = http.request({
  host: "127.0.0.1",
  port,
  method: "POST",
  path: "/",
  headers: { "Transfer-Encoding": "chunked" },
});
req.on("error", () => {});
function go() {
  while (left > 0) {
    left--;
    if (!req.write(block)) {
      req.once("drain", go);
      return;
    }
  }
  req.end();
}
go();
