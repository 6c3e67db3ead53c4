// The Next.js API's side of the task queue, for the tests: builds a GenerationTaskPayload the way
// the app's API route does (a typed object, JSON.stringify, new Date().toISOString()) and LPUSHes
// it with ioredis, the app's Redis client.
//
//   node push-task.mjs <redis-url> <variant> '<json: {channel, owner_id, session_id, image_urls, prompt}>'
//
// variant: "with-version", "without-version" (the app's model defaults it to 1, so it may be left
// out) or "extra-field" (a field a later app deploy adds). Prints the JSON it pushed.
import { randomUUID } from "node:crypto";
import Redis from "ioredis";

/** The list the app pushes onto. */
const TASKS_KEY = "wearon:tasks:generation";
const VARIANTS = ["with-version", "without-version", "extra-field"];

/**
 * The app's payload type, as its TypeScript declares it.
 * @typedef {object} GenerationTaskPayload
 * @property {string} task_id
 * @property {"b2b" | "b2c"} channel
 * @property {string | undefined} store_id   b2b only
 * @property {string | undefined} user_id    b2c only
 * @property {string} session_id
 * @property {string[]} image_urls
 * @property {string} prompt
 * @property {string} request_id
 * @property {number} [version]              defaults to 1
 * @property {string} created_at             ISO 8601, from new Date().toISOString()
 */

/** @returns {GenerationTaskPayload & Record<string, unknown>} */
function buildPayload(variant, { channel, owner_id, session_id, image_urls, prompt }) {
  /** @type {GenerationTaskPayload & Record<string, unknown>} */
  const payload = {
    task_id: randomUUID(),
    channel,
    // undefined, as a TypeScript optional field: JSON.stringify leaves the key out
    store_id: channel === "b2b" ? owner_id : undefined,
    user_id: channel === "b2c" ? owner_id : undefined,
    session_id,
    image_urls,
    prompt,
    request_id: randomUUID(),
    version: 1,
    created_at: new Date().toISOString(),
  };
  if (variant === "without-version") delete payload.version;
  if (variant === "extra-field") payload.priority = "normal";
  return payload;
}

async function main([redisUrl, variant, fields]) {
  if (!redisUrl || !VARIANTS.includes(variant) || !fields) {
    throw new Error(`usage: push-task.mjs <redis-url> <${VARIANTS.join("|")}> '<json>'`);
  }
  const body = JSON.stringify(buildPayload(variant, JSON.parse(fields)));
  // Fail fast instead of retrying forever: a test is waiting.
  const redis = new Redis(redisUrl, { maxRetriesPerRequest: 1, retryStrategy: () => null });
  try {
    await redis.lpush(TASKS_KEY, body);
  } finally {
    redis.disconnect();
  }
  process.stdout.write(body + "\n");
}

main(process.argv.slice(2)).catch((error) => {
  process.stderr.write(`push-task: ${error.message}\n`);
  process.exit(1);
});
