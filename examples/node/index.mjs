// Serves one S3 object to the caller through a Lambda function URL.
//
// Deployed by ../template.yaml as two handlers of one module, so the two can
// be measured side by side:
// - `handler`, wrapped in awslambda.streamifyResponse, behind a function URL
//   with InvokeMode RESPONSE_STREAM: bytes reach the client as S3 delivers
//   them;
// - `bufferedHandler`, its buffered twin behind InvokeMode BUFFERED: a plain
//   async handler that reads the object whole and returns it as a function
//   URL response. Lambda caps that response at 6 MB (the JSON the handler
//   returns, a base64 body included): past it the runtime's post of the
//   response is refused with 413, the runtime logs "LAMBDA_RUNTIME Failed to
//   post handler success response. Http response code: 413." and the caller
//   gets 502.
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

// The object a request asks for, or the status and message refusing it.
function objectOf(event) {
  // Function URL events (payload format 2.0) have lowercase header names.
  const headers = event.headers ?? {};
  if (!secretMatches(headers[SECRET_HEADER])) {
    return { refusal: [403, { message: "Forbidden" }] };
  }
  const query = event.queryStringParameters ?? {};
  const bucket = query.bucket ?? process.env.BUCKET_NAME;
  const key = query.key ?? process.env.OBJECT_KEY;
  if (!bucket || !key) {
    return { refusal: [400, { message: "bucket and key are required" }] };
  }
  return { bucket, key };
}

function objectHeaders(object) {
  return {
    "content-type": object.ContentType ?? "application/octet-stream",
    ...(object.ETag ? { etag: object.ETag } : {}),
  };
}

export const handler = awslambda.streamifyResponse(
  async (event, responseStream, _context) => {
    const { bucket, key, refusal } = objectOf(event);
    if (refusal) {
      respondJson(responseStream, ...refusal);
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
      headers: objectHeaders(object),
    });
    // pipeline ends the response when S3's body ends and destroys it (cutting
    // the stream) if S3 fails midway.
    await pipeline(object.Body, body);
  },
);

// Content types whose bytes may go out as a plain string body (when they are
// valid UTF-8); anything else is base64 with isBase64Encoded, byte-exact.
const TEXT_TYPE = /^\s*(text\/|application\/(json|xml|javascript)\b|[^;]*\+(json|xml)\b)/i;
const utf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

function bodyOf(bytes, contentType) {
  if (TEXT_TYPE.test(contentType)) {
    try {
      return { body: utf8.decode(bytes), isBase64Encoded: false };
    } catch {
      // not UTF-8 after all: base64 below
    }
  }
  const buffer = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return { body: buffer.toString("base64"), isBase64Encoded: true };
}

function jsonResponse(statusCode, body) {
  return {
    statusCode,
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
    isBase64Encoded: false,
  };
}

// The buffered twin: the same request, the object read whole and returned at once.
export const bufferedHandler = async (event, _context) => {
  const { bucket, key, refusal } = objectOf(event);
  if (refusal) return jsonResponse(...refusal);

  let object;
  let bytes;
  try {
    object = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
    bytes = await object.Body.transformToByteArray();
  } catch (err) {
    // Nothing is sent before the handler returns: any failure is a status code.
    return jsonResponse(statusFor(err), { message: err?.name ?? "Error" });
  }
  const headers = objectHeaders(object);
  return { statusCode: 200, headers, ...bodyOf(bytes, headers["content-type"]) };
};
