// Streams one S3 object to the caller through a Lambda function URL.
//
// Deployed by ../template.yaml twice: behind a function URL with
// InvokeMode RESPONSE_STREAM (bytes reach the client as S3 delivers them)
// and with InvokeMode BUFFERED (the same handler, the whole body collected
// first and capped at 6 MB), so the two can be measured side by side.
//
// Requests that come through the API Gateway carry a static secret header
// (ORIGIN_SECRET_HEADER / ORIGIN_SECRET_VALUE); when both are configured a
// request without the right value gets 403. Errors before the first byte
// become a status code and a small JSON body; an error after it cuts the
// stream, which is all HTTP can say once the status has been sent.

import { GetObjectCommand, S3Client } from "@aws-sdk/client-s3";
import { timingSafeEqual } from "node:crypto";
import { pipeline } from "node:stream/promises";

const s3 = new S3Client({});
const SECRET_HEADER = (process.env.ORIGIN_SECRET_HEADER ?? "").toLowerCase();
const SECRET_VALUE = process.env.ORIGIN_SECRET_VALUE ?? "";

function secretMatches(given) {
  if (!SECRET_HEADER || !SECRET_VALUE) return true; // no check configured
  if (typeof given !== "string") return false;
  const a = Buffer.from(given);
  const b = Buffer.from(SECRET_VALUE);
  return a.length === b.length && timingSafeEqual(a, b);
}

function respondJson(responseStream, statusCode, body) {
  const stream = awslambda.HttpResponseStream.from(responseStream, {
    statusCode,
    headers: { "content-type": "application/json" },
  });
  stream.write(JSON.stringify(body));
  stream.end();
}

function statusFor(err) {
  const status = err?.$metadata?.httpStatusCode;
  if (err?.name === "NoSuchKey" || status === 404) return 404;
  if (err?.name === "AccessDenied" || status === 403) return 403;
  return 502;
}

export const handler = awslambda.streamifyResponse(
  async (event, responseStream, _context) => {
    // Function URL events (payload format 2.0) have lowercase header names.
    const headers = event.headers ?? {};
    if (!secretMatches(headers[SECRET_HEADER])) {
      respondJson(responseStream, 403, { message: "Forbidden" });
      return;
    }

    const query = event.queryStringParameters ?? {};
    const bucket = query.bucket ?? process.env.BUCKET_NAME;
    const key = query.key ?? process.env.OBJECT_KEY;
    if (!bucket || !key) {
      respondJson(responseStream, 400, { message: "bucket and key are required" });
      return;
    }

    let object;
    try {
      object = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
    } catch (err) {
      // Nothing written yet: the failure can still be a status code.
      respondJson(responseStream, statusFor(err), { message: err?.name ?? "Error" });
      return;
    }

    const body = awslambda.HttpResponseStream.from(responseStream, {
      statusCode: 200,
      headers: {
        "content-type": object.ContentType ?? "application/octet-stream",
        ...(object.ETag ? { etag: object.ETag } : {}),
      },
    });
    // pipeline ends the response when S3's body ends and destroys it (cutting
    // the stream) if S3 fails midway.
    await pipeline(object.Body, body);
  },
);
