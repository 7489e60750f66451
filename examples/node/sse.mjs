// Streams an LLM-like answer as Server-Sent Events through a function URL
// (InvokeMode RESPONSE_STREAM). There is no model: the "tokens" are words
// drawn from a fixed list by a seeded generator, sent at a set rate, so the
// stream is the same on every run and `lstream get --events sse` (or bench)
// can measure time to first event, gaps and events per second against it.
//
// Query parameters (all optional):
//   tokens    number of tokens (default 100, at most 100000)
//   rate      tokens per second (default 50)
//   first_ms  "thinking" time before the first token (default 300); a
//             `: thinking` comment goes out at once, so the status, the
//             headers and a first byte arrive early: TTFB is not TTFE
//   seed      generator seed (default 1)
//
// Each token is one event, `data: {"index": i, "token": "word "}`, in the
// shape of the chat-completion streams clients parse; the answer ends with
// `data: [DONE]`. Events are due at fixed instants from the first one, so the
// rate does not drift with the time each write takes.

const WORDS = [
  "the", "stream", "arrives", "one", "token", "at", "a", "time", "while", "the",
  "function", "keeps", "writing", "to", "its", "response", "and", "the", "client",
  "sees", "each", "event", "as", "soon", "as", "its", "last", "byte", "lands",
];

function numberParam(query, name, fallback, max) {
  const raw = query[name];
  if (raw === undefined || raw === "") return fallback;
  const value = Number(raw);
  if (!Number.isFinite(value) || value < 0 || value > max) {
    throw new RangeError(`invalid ${name} ${JSON.stringify(raw)}: expected 0..${max}`);
  }
  return value;
}

// mulberry32: a small seeded generator, the same words for the same seed.
function generator(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)));

export const handler = awslambda.streamifyResponse(
  async (event, responseStream, _context) => {
    const query = event.queryStringParameters ?? {};
    let tokens, rate, firstMs, seed;
    try {
      tokens = Math.floor(numberParam(query, "tokens", 100, 100000));
      rate = numberParam(query, "rate", 50, 100000);
      firstMs = numberParam(query, "first_ms", 300, 900000);
      seed = Math.floor(numberParam(query, "seed", 1, 2 ** 31));
    } catch (err) {
      const bad = awslambda.HttpResponseStream.from(responseStream, {
        statusCode: 400,
        headers: { "content-type": "application/json" },
      });
      bad.write(JSON.stringify({ message: err.message }));
      bad.end();
      return;
    }
    const stream = awslambda.HttpResponseStream.from(responseStream, {
      statusCode: 200,
      headers: { "content-type": "text/event-stream", "cache-control": "no-cache" },
    });
    stream.write(": thinking\n\n"); // a first byte that is not an event
    await sleep(firstMs);
    const random = generator(seed);
    const interval = rate > 0 ? 1000 / rate : 0;
    const start = Date.now();
    for (let i = 0; i < tokens; i++) {
      await sleep(start + i * interval - Date.now());
      const token = WORDS[Math.floor(random() * WORDS.length)] + " ";
      stream.write(`data: ${JSON.stringify({ index: i, token })}\n\n`);
    }
    stream.write("data: [DONE]\n\n");
    stream.end();
  },
);
